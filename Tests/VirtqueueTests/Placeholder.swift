// VirtqueueTests: tests of its module sit here.
