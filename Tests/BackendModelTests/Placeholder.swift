// BackendModelTests: tests of its module sit here.
