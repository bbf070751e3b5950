import DeviceTree
import Testing

/// dtc still writes blob versions 2, 3 and 16, whose layout differs from 17 (full-path node
/// names before 16, 8-byte aligned values of 8+ bytes before 16, no strings/struct sizes in
/// the header before 3/17). Old bootloaders produce them; they must read the same as v17.
@Suite struct BlobVersionTests {
    static let source = """
        /dts-v1/;
        / {
            a@1 {
                p = "x";
                wide = /bits/ 64 <0x1122334455667788 2>;
                b { r = <1>; odd = [01 02 03]; wide2 = /bits/ 64 <3>; };
            };
            c: c { #clock-cells = <0>; };
            d { clocks = <&c>; };
        };
        """

    /// (path, property name, bytes) for every property, and the node paths, in tree order.
    func flatten(_ tree: FlattenedDeviceTree) -> [String] {
        var lines: [String] = []
        tree.forEachNode { node in
            lines.append(node.path)
            for property in node.properties { lines.append("\(node.path):\(property.name)=\(property.bytes)") }
        }
        return lines
    }

    @Test(arguments: ["2", "3", "16"]) func olderVersionsReadLikeSeventeen(version: String) throws {
        let modern = try FlattenedDeviceTree(bytes: try compileDTS(Self.source, dtcArguments: ["-V", "17"]))
        let old = try FlattenedDeviceTree(bytes: try compileDTS(Self.source, dtcArguments: ["-V", version]))
        // Before v16 dtc also writes a `name` property (the leaf name) into every node, as Open
        // Firmware did; apart from those the trees are identical.
        #expect(flatten(old).filter { !$0.contains(":name=") } == flatten(modern))
        if version != "16" { #expect(old.node(atPath: "/a@1")?.property("name")?.string == "a") }
        #expect(old.node(atPath: "/a@1")?.property("wide")?.u64Array == [0x1122_3344_5566_7788, 2])
        let d = try #require(old.node(atPath: "/d"))
        #expect(try d.specifiers(of: "clocks", cellsName: "#clock-cells")?.get().first?.provider.path == "/c")
    }
}
