// SCMIPlatformTests: tests of its module sit here.
