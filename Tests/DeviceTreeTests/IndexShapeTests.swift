import CLibFDT
import DeviceTree
import Testing

/// The index keeps no child or sibling links: they are derived from positions in tree order
/// (a node's first child follows it, its next sibling follows its subtree). These tests hold
/// children, siblings, parents, depths and each node's properties against libfdt's own walk of
/// the same blob, on random shapes and on blobs that fill the node and property tables to the
/// bounds they are reserved for.
@Suite struct IndexShapeTests {
    /// The structure block's size, from the header (`size_dt_struct`).
    func structureSize(_ bytes: [UInt8]) -> Int {
        bytes[36..<40].reduce(0) { $0 << 8 | Int($1) }
    }

    /// Every node's children (as `children` and as a `firstChild`/`nextSibling` walk), parent,
    /// depth and property names are libfdt's.
    func expectSameShapeAsLibfdt(_ bytes: [UInt8], _ comment: Comment? = nil) throws {
        let tree = try FlattenedDeviceTree(bytes: bytes)
        var visited = 0
        try bytes.withUnsafeBytes { raw in
            let blob = raw.baseAddress!
            func libfdtChildren(_ offset: Int32) -> [Int32] {
                var result: [Int32] = []
                var child = fdt_first_subnode(blob, offset)
                while child >= 0 {
                    result.append(child)
                    child = fdt_next_subnode(blob, child)
                }
                return result
            }
            func libfdtPropertyNames(_ offset: Int32) -> [String] {
                var names: [String] = []
                var property = fdt_first_property_offset(blob, offset)
                while property >= 0 {
                    var length: Int32 = 0
                    var name: UnsafePointer<CChar>? = nil
                    _ = fdt_getprop_by_offset(blob, property, &name, &length)
                    names.append(String(cString: name!))
                    property = fdt_next_property_offset(blob, property)
                }
                return names
            }
            var pending = [tree.root]
            while let node = pending.popLast() {
                visited += 1
                let children = node.children
                #expect(children.map(\.offset) == libfdtChildren(node.offset), "\(node.path) children; \(comment?.rawValue ?? "")")
                var walked: [DeviceTreeNode] = []
                var child = node.firstChild
                while let current = child {
                    walked.append(current)
                    child = current.nextSibling
                }
                #expect(walked == children, "\(node.path) sibling walk; \(comment?.rawValue ?? "")")
                #expect(node.properties.map(\.name) == libfdtPropertyNames(node.offset), "\(node.path) properties; \(comment?.rawValue ?? "")")
                for child in children {
                    #expect(child.parent == node && child.depth == node.depth + 1, "\(child.path); \(comment?.rawValue ?? "")")
                }
                pending.append(contentsOf: children)
                _ = try #require(visited <= tree.nodeCount, "more nodes reached than the tree has")
            }
        }
        #expect(visited == tree.nodeCount, comment)
    }

    @Test func randomShapesIndexAsLibfdtWalksThem() throws {
        let seed = try TestSeed(default: 0x1de5_5eed)
        var random = seed.generator
        for _ in 0..<20 {
            var counter = 0
            // A node's properties (0 to 3, some empty), then 0 to 4 children while the tree is small.
            func node(depth: Int) -> String {
                var body = ""
                for index in 0..<Int.random(in: 0...3, using: &random) {
                    body += Bool.random(using: &random) ? "p\(index);" : "p\(index) = <\(index)>;"
                }
                let children = depth < 8 && counter < 400 ? Int.random(in: 0...4, using: &random) : 0
                for index in 0..<children {
                    counter += 1
                    body += "n\(index) {\(node(depth: depth + 1))};"
                }
                return body
            }
            let source = "/dts-v1/;\n/ {\(node(depth: 0))};\n"
            try expectSameShapeAsLibfdt(try compileDTS(source), seed.comment)
        }
    }

    @Test func aBlockOfBareNodesFillsTheNodeTable() throws {
        // Names of up to 3 characters pad to 4 bytes: each child is the smallest node there is.
        let names = (0..<1296).map { "n\(String($0, radix: 36))" }
        let bytes = try compileDTS("/dts-v1/;\n/ {\n" + names.map { "\($0) {};" }.joined(separator: "\n") + "\n};\n")
        let tree = try FlattenedDeviceTree(bytes: bytes)
        #expect(tree.nodeCount == 1297)
        #expect(tree.nodeCount * 12 + 16 >= structureSize(bytes), "not a block of 12-byte nodes")
        #expect(tree.root.children.map(\.name) == names)
        try expectSameShapeAsLibfdt(bytes)
    }

    @Test func aBlockOfEmptyPropertiesFillsThePropertyTable() throws {
        let names = (0..<3000).map { "p\($0)" }
        let bytes = try compileDTS(
            "/dts-v1/;\n/ {\n" + names.map { "\($0);" }.joined(separator: "\n") + "\nlast { q; };\n};\n")
        let tree = try FlattenedDeviceTree(bytes: bytes)
        #expect(tree.root.properties.map(\.name) == names)
        #expect(tree.root.properties.allSatisfy { $0.bytes.isEmpty })
        #expect(3001 * 12 + 40 >= structureSize(bytes), "not a block of 12-byte properties")
        #expect(tree.root.child(named: "last")?.properties.map(\.name) == ["q"])
        try expectSameShapeAsLibfdt(bytes)
    }
}
