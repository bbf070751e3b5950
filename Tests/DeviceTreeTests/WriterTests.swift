import DeviceTree
import Foundation
import Testing

/// The sequential writer: what it writes reads back identically, through our reader and through
/// dtc (an independent parser), and misuse is an error.
@Suite struct WriterTests {
    @Test func roundTripThroughReader() throws {
        let writer = try FlattenedDeviceTreeWriter(reservations: [(address: 0x8000_0000, size: 0x1000)])
        try writer.beginNode("")
        try writer.property("model", string: "acme")
        try writer.beginNode("clk@1")
        try writer.property("#clock-cells", u32: 1)
        try writer.property("phandle", u32: 5)
        try writer.property("clock-output-names", strings: ["x", "y"])
        try writer.property("wide", u64Array: [0x1_0000_0000])
        try writer.property("flag")
        try writer.endNode()
        try writer.endNode()
        let tree = try FlattenedDeviceTree(bytes: try writer.finish())
        let clock = try #require(tree.node(atPath: "/clk@1"))
        #expect(tree.root.property("model")?.string == "acme")
        #expect(clock.property("#clock-cells")?.u32 == 1)
        #expect(clock.phandle == 5)
        #expect(tree.node(withPhandle: 5) == clock)
        #expect(clock.property("clock-output-names")?.stringList == ["x", "y"])
        #expect(clock.property("wide")?.u64Array == [0x1_0000_0000])
        #expect(clock.property("flag")?.isEmpty == true)
    }

    // The buffer starts small; thousands of nodes force many fdt_resize calls.
    @Test func growsPastInitialCapacity() throws {
        let writer = try FlattenedDeviceTreeWriter(initialCapacity: 256)
        try writer.beginNode("")
        for index in 0..<20_000 {
            try writer.beginNode("n@\(String(index, radix: 16))")
            try writer.property("reg", u32: UInt32(index))
            try writer.endNode()
        }
        try writer.endNode()
        let tree = try FlattenedDeviceTree(bytes: try writer.finish())
        #expect(tree.nodeCount == 20_001)
        #expect(tree.root.children.count == 20_000)
        #expect(tree.node(atPath: "/n@4e1f")?.property("reg")?.u32 == 19_999)
    }

    // dtc decompiles what we wrote: the blob is valid for tools other than libfdt too.
    @Test func dtcReadsWhatWeWrite() throws {
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        try writer.beginNode("node@2")
        try writer.property("value", u32Array: [1, 2, 3])
        try writer.endNode()
        try writer.endNode()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("w-\(getpid()).dtb").path
        try Data(try writer.finish()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dtc = Process()
        dtc.executableURL = URL(fileURLWithPath: dtcPath)
        dtc.arguments = ["-q", "-I", "dtb", "-O", "dts", path]
        let output = Pipe()
        dtc.standardOutput = output
        try dtc.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        dtc.waitUntilExit()
        #expect(dtc.terminationStatus == 0)
        #expect(text.contains("node@2 {"))
        #expect(text.contains("value = <0x01 0x02 0x03>;"))
    }

    // A node with both phandle properties (dtc refuses to write mismatching ones): `phandle`
    // wins, as in Linux.
    @Test func phandleWinsOverLinuxPhandle() throws {
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        try writer.beginNode("both")
        try writer.property("linux,phandle", u32: 0x42)
        try writer.property("phandle", u32: 0x41)
        try writer.endNode()
        try writer.beginNode("invalid")
        try writer.property("phandle", u32: 0xffff_ffff)
        try writer.endNode()
        try writer.beginNode("malformed")
        try writer.property("phandle", bytes: [0, 0, 7])
        try writer.endNode()
        try writer.endNode()
        let tree = try FlattenedDeviceTree(bytes: try writer.finish())
        #expect(tree.node(atPath: "/both")?.phandle == 0x41)
        #expect(tree.node(withPhandle: 0x42) == nil)
        #expect(tree.node(atPath: "/invalid")?.phandle == nil)
        #expect(tree.node(atPath: "/malformed")?.phandle == nil)
    }

    // Two nodes claiming one phandle: lookups give the first, and the duplicate is reported.
    @Test func duplicatePhandlesAreReported() throws {
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        for name in ["a", "b", "c"] {
            try writer.beginNode(name)
            try writer.property("phandle", u32: name == "c" ? 2 : 1)
            try writer.endNode()
        }
        try writer.endNode()
        let tree = try FlattenedDeviceTree(bytes: try writer.finish())
        #expect(tree.node(withPhandle: 1)?.path == "/a")
        #expect(tree.duplicatePhandles.mapValues { $0.map(\.path) } == [1: ["/a", "/b"]])
    }

    @Test func misuseThrows() throws {
        let writer = try FlattenedDeviceTreeWriter()
        #expect(throws: BlobError.self) { try writer.endNode() }
        #expect(throws: BlobError.self) { try writer.property("x", u32: 1) }
        try writer.beginNode("")
        #expect(throws: BlobError.self) { try writer.beginNode("a\u{0}b") }
        #expect(throws: BlobError.self) { _ = try writer.finish() }
        try writer.endNode()
        _ = try writer.finish()
        #expect(throws: BlobError.self) { _ = try writer.finish() }
    }
}
