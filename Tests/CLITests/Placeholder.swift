// CLITests: tests of its module sit here.
