// DeviceTreeTests: tests of its module sit here.
