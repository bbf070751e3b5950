// SCMIClientTests: tests of its module sit here.
