// VirtioSCMITests: tests of its module sit here.
