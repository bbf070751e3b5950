// VhostUserTests: tests of its module sit here.
