import DeviceTree
import Testing

/// A tree nested 100,000 deep: the index keeps no path per node (that was quadratic: 10,000
/// deep took 416 MB), paths are built on demand, lookups go one component at a time, and
/// nothing recurses (a test thread's stack is small; overflowing it kills the test process).
@Suite struct DeepTreeTests {
    static let depth = 100_000

    /// `/level/level/…` `depth` deep, the innermost node with a phandle and a property.
    static func chain(depth: Int) throws -> [UInt8] {
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        for _ in 0..<depth { try writer.beginNode("level") }
        try writer.property("phandle", u32: 1)
        try writer.property("bottom", string: "here")
        for _ in 0..<depth { try writer.endNode() }
        try writer.beginNode("beside")
        try writer.endNode()
        try writer.endNode()
        return try writer.finish()
    }

    @Test func pathsLookupsAndAncestryAtDepth() throws {
        let tree = try FlattenedDeviceTree(bytes: try Self.chain(depth: Self.depth))
        #expect(tree.nodeCount == Self.depth + 2)
        let bottom = try #require(tree.node(withPhandle: 1))
        let path = "/" + Array(repeating: "level", count: Self.depth).joined(separator: "/")
        #expect(bottom.path == path)
        #expect(bottom.depth == Self.depth)
        #expect(tree.node(atPath: path) == bottom)
        #expect(tree.node(atPath: path + "/")?.property("bottom")?.string == "here")
        #expect(tree.node(atPath: path + "/level") == nil)
        #expect(bottom.isDescendant(of: tree.root))
        let top = try #require(tree.node(atPath: "/level"))
        #expect(bottom.isDescendant(of: top))
        #expect(!top.isDescendant(of: bottom))
        let beside = try #require(tree.root.child(named: "beside"))
        #expect(!beside.isDescendant(of: top))
        #expect(beside.path == "/beside")
        #expect(tree.defects.isEmpty)
    }

    // The writer copies a tree with a loop too: the copy of the deep chain is byte for byte
    // what was written (same writer, same order of names in the strings block).
    @Test func copyingADeepTreeGivesTheSameBlob() throws {
        let bytes = try Self.chain(depth: Self.depth)
        let tree = try FlattenedDeviceTree(bytes: bytes)
        let writer = try FlattenedDeviceTreeWriter(initialCapacity: bytes.count)
        try writer.copy(tree.root)
        #expect(try writer.finish() == bytes)
    }
}

/// What dtc refuses to write but libfdt reads: recorded while indexing, in one pass.
@Suite struct TreeDefectTests {
    @Test func repeatedAndMisspelledNames() throws {
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        try writer.beginNode("a@1")
        try writer.property("p", u32: 1)
        try writer.property("q", u32: 2)
        try writer.property("p", u32: 3)
        try writer.property("bad name", u32: 4)
        try writer.endNode()
        try writer.beginNode("a@2")
        try writer.property("p", u32: 5)  // the same name in another node is fine
        try writer.endNode()
        try writer.beginNode("a@1")
        try writer.endNode()
        try writer.beginNode("x@1@2")
        try writer.endNode()
        try writer.beginNode("")
        try writer.endNode()
        try writer.endNode()
        let tree = try FlattenedDeviceTree(bytes: try writer.finish())
        let found = tree.defects.map { defect -> String in
            let what: String
            switch defect.kind {
            case .duplicateProperty: what = "duplicate property"
            case .duplicateNode(let first): what = "duplicate of #\(first.index)"
            case .nodeNameCharacters: what = "node name"
            case .propertyNameCharacters: what = "property name"
            }
            return "#\(defect.node.index) \(defect.property ?? "-"): \(what): \(defect.problem)"
        }
        #expect(found == [
            "#1 p: duplicate property: the property is repeated",
            "#1 bad name: property name: the property name has byte 0x20 at position 3; property names use only A-Z a-z 0-9 , . _ + ? # * -",
            "#3 -: duplicate of #1: an earlier sibling has the same name",
            "#4 -: node name: the node name has a second '@' at position 3",
            "#5 -: node name: the node name is empty",
        ])
        // Lookups see the first of repeated names.
        #expect(tree.node(atPath: "/a@1")?.index == 1)
        #expect(tree.node(atPath: "/a@1")?.property("p")?.u32 == 1)
    }

    /// A node name with each ASCII character and a few others: exactly those with a character
    /// outside dtc's set (A-Z a-z 0-9 , . _ + - and one @) are misspelled.
    @Test func nodeNameCharactersAreDtcs() throws {
        let accepted = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-@")
        let characters = (1..<128).map { Character(Unicode.Scalar(UInt8($0))) } + ["é", "\u{80}", "\u{FF}", "€"]
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        for character in characters {
            try writer.beginNode("n\(character)0")
            try writer.endNode()
        }
        try writer.beginNode("n@1@2")
        try writer.endNode()
        try writer.endNode()
        let tree = try FlattenedDeviceTree(bytes: try writer.finish())
        let misspelled = tree.defects.filter { $0.kind == .nodeNameCharacters }.map { Int($0.node.index) - 1 }
        let expected = characters.indices.filter { !accepted.contains(characters[$0]) } + [characters.count]
        #expect(misspelled == expected)
    }

    /// Siblings whose names differ in one byte, at every position of names 1 to 20 bytes long
    /// (the child table hashes names a word at a time, the last word overlapping): each is
    /// found by its path, the same names under another parent are not repeats, and a second
    /// sibling of each name is a duplicate of the first.
    @Test func siblingsDifferingInOneByteAreDistinctAndRepeatsAreDuplicates() throws {
        var names: [String] = []
        for length in 1...20 {
            for position in 0..<length {
                names.append(String(repeating: "n", count: position) + "x" + String(repeating: "n", count: length - position - 1))
            }
            names.append(String(repeating: "n", count: length))
        }
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        for parent in ["p", "q"] {
            try writer.beginNode(parent)
            for name in names + names {
                try writer.beginNode(name)
                try writer.endNode()
            }
            try writer.endNode()
        }
        try writer.endNode()
        let tree = try FlattenedDeviceTree(bytes: try writer.finish())
        for parent in ["p", "q"] {
            let children = try #require(tree.node(atPath: "/" + parent)).children
            for (position, name) in names.enumerated() {
                #expect(tree.node(atPath: "/\(parent)/\(name)") == children[position])
                #expect(children[position].child(named: name) == nil)
            }
        }
        let duplicates = tree.defects.compactMap { defect -> String? in
            guard case .duplicateNode(let first) = defect.kind else { return nil }
            return first.path == defect.node.path ? defect.node.path : nil
        }
        #expect(duplicates == ["p", "q"].flatMap { parent in names.map { "/\(parent)/\($0)" } })
        #expect(tree.defects.count == duplicates.count)
    }

    /// A node is found by a compatible string in any of its `compatible` properties, as the
    /// index of every compatible did, and a malformed list (no final NUL) lists nothing.
    @Test func compatibleIsSearchedInEveryRepeatedProperty() throws {
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        try writer.beginNode("a")
        try writer.property("compatible", bytes: Array("acme,one\0".utf8))
        try writer.property("compatible", bytes: Array("acme,two\0acme,three\0".utf8))
        try writer.endNode()
        try writer.beginNode("b")
        try writer.property("compatible", bytes: Array("acme,two".utf8))
        try writer.endNode()
        try writer.endNode()
        let tree = try FlattenedDeviceTree(bytes: try writer.finish())
        #expect(tree.nodes(withCompatible: "acme,one").map(\.path) == ["/a"])
        #expect(tree.nodes(withCompatible: "acme,three").map(\.path) == ["/a"])
        #expect(tree.nodes(withCompatible: "acme,two").map(\.path) == ["/a"])
        #expect(tree.nodes(withCompatible: "acme").isEmpty)
    }

    // Names are compared as bytes: two names that are not UTF-8 decode alike (U+FFFD) but
    // are different names, so they are misspelled, not duplicates.
    @Test func namesAreComparedAsBytes() throws {
        var bytes = try compileDTS("/dts-v1/;\n/ { ax { px = <1>; py = <2>; }; ay { }; };")
        func replace(_ from: String, _ to: [UInt8]) {
            let pattern = Array(from.utf8) + [0]
            let at = (0...(bytes.count - pattern.count)).first { Array(bytes[$0..<($0 + pattern.count)]) == pattern }!
            bytes.replaceSubrange(at..<(at + to.count), with: to)
        }
        replace("ax", [0x61, 0xff])
        replace("ay", [0x61, 0xfe])
        replace("px", [0x70, 0xff])
        replace("py", [0x70, 0xfe])
        let tree = try FlattenedDeviceTree(bytes: bytes)
        let kinds = tree.defects.map(\.kind)
        #expect(kinds == [.nodeNameCharacters, .propertyNameCharacters, .propertyNameCharacters, .nodeNameCharacters], "\(tree.defects)")
        #expect(tree.root.children.count == 2)
        #expect(tree.node(atPath: "/a\u{FFFD}") == nil)  // no node has U+FFFD's bytes
    }
}
