@testable import BackendModel
import DeviceTree
import Testing

/// `IDTable` keeps keys of a node and no cell or one in a dense index and the rest in hashed
/// slots: whichever holds a key, the ids must be those of a plain dictionary that gives each
/// new key the next id (derived tables) or keeps the first binding (explicit tables).
@Suite struct IDTableTests {
    /// Twelve provider nodes of one real tree (the root and its children).
    static func providers() throws -> [DeviceTreeNode] {
        let children = (0..<11).map { "node\($0) { };" }.joined(separator: "\n")
        let tree = try FlattenedDeviceTree(bytes: try compileDTS("/dts-v1/;\n/ {\n\(children)\n};"))
        return (0..<tree.nodeCount).map { tree.node(at: $0) }
    }

    /// A specifier of a random provider: no cell, one (mostly small and near the last, as
    /// devices name clock outputs; sometimes far past any row's bound), or two.
    static func specifier(_ providers: [DeviceTreeNode], _ random: inout SplitMix, near: inout UInt32) -> ResourceSpecifier {
        let provider = providers[Int.random(in: 0..<providers.count, using: &random)]
        switch Int.random(in: 0..<10, using: &random) {
        case 0...2: return ResourceSpecifier(provider: provider, cells: [])
        case 3...6:
            near = UInt32.random(in: near...(near + 3), using: &random)
            return ResourceSpecifier(provider: provider, cells: [near % 300])
        case 7: return ResourceSpecifier(provider: provider, cells: [UInt32.random(in: 64...UInt32.max, using: &random)])
        default: return ResourceSpecifier(provider: provider, cells: [UInt32.random(in: 0..<4, using: &random), UInt32.random(in: 0..<4, using: &random)])
        }
    }

    @Test func derivedIDsAreThoseOfADictionary() throws {
        let seed = try TestSeed(default: 0x1D7A_B1E5)
        var random = seed.generator
        let providers = try Self.providers()
        var table = IDTable<SpecifierKey>()
        var expected: [SpecifierKey: UInt32] = [:]
        var near: UInt32 = 0
        for round in 0..<4000 {
            let specifier = Self.specifier(providers, &random, near: &near)
            let key = SpecifierKey(specifier)
            let want = expected[key] ?? UInt32(expected.count)
            expected[key] = want
            // Both ways in: by key, and by specifier (which makes a key only when it must).
            let got = round % 2 == 0 ? table.id(for: key) : table.id(for: specifier)
            #expect(got == want, Comment(rawValue: "\(specifier.description), \(seed)"))
        }
        #expect(table.count == expected.count, seed.comment)
        for (key, id) in expected {
            #expect(table.existingID(for: key) == id, seed.comment)
            #expect(table.existingID(provider: key.provider, cells: key.cells) == id, seed.comment)
            #expect(table.keys[Int(id)] == key, seed.comment)
        }
        // Keys never given an id are found in neither part.
        var unseen = 0
        while unseen < 500 {
            let key = SpecifierKey(Self.specifier(providers, &random, near: &near))
            guard expected[key] == nil else { continue }
            unseen += 1
            #expect(table.existingID(for: key) == nil, seed.comment)
            #expect(table.existingID(provider: key.provider, cells: key.cells) == nil, seed.comment)
        }
    }

    @Test func explicitTablesKeepTheFirstBinding() throws {
        let seed = try TestSeed(default: 0xE4B1_1C17)
        var random = seed.generator
        let providers = try Self.providers()
        let count = 600
        var table = IDTable<SpecifierKey>(explicitCount: count)
        var expected: [SpecifierKey: UInt32] = [:]
        var near: UInt32 = 0
        // Each id bound once (table children have distinct ids), in any order, some keys to
        // several ids; and some ids past the table, which bind nothing.
        for id in (0..<UInt32(count + 20)).shuffled(using: &random) {
            let key = SpecifierKey(Self.specifier(providers, &random, near: &near))
            table.assign(key, to: id)
            if id < count, expected[key] == nil { expected[key] = id }
        }
        for (key, id) in expected {
            #expect(table.existingID(for: key) == id, seed.comment)
            #expect(table.existingID(provider: key.provider, cells: key.cells) == id, seed.comment)
        }
        for _ in 0..<500 {
            let specifier = Self.specifier(providers, &random, near: &near)
            let key = SpecifierKey(specifier)
            // An explicit table never gives an id of its own.
            let bySpecifier = table.id(for: specifier)
            let byKey = table.id(for: key)
            #expect(bySpecifier == expected[key], seed.comment)
            #expect(byKey == expected[key], seed.comment)
        }
        #expect(table.count == count, seed.comment)
    }

    @Test func nodeKeysAreThoseOfADictionary() throws {
        let seed = try TestSeed(default: 0x90DE_5EED)
        var random = seed.generator
        let providers = try Self.providers()
        var table = IDTable<DeviceTreeNode>()
        var expected: [DeviceTreeNode: UInt32] = [:]
        // Nodes met in a random order, each several times.
        for _ in 0..<200 {
            let node = providers[Int.random(in: 0..<providers.count, using: &random)]
            let want = expected[node] ?? UInt32(expected.count)
            expected[node] = want
            let got = table.id(for: node)
            #expect(got == want, seed.comment)
        }
        for node in providers { #expect(table.existingID(for: node) == expected[node], seed.comment) }
    }

    /// The dense index alone: a node is either one id or a row of ids by cell, and a row
    /// takes a cell only within its bound (four times its ids plus 64).
    @Test func denseIndexTakesOnlyWhatItCanHold() {
        var index = DenseIndex()
        func insert(node: Int, _ cells: [UInt32], id: UInt32) -> Bool { index.insert(DensePlace(node: node, cells: cells)!, id: id) }
        let taken = [
            insert(node: 3, [], id: 0),
            insert(node: 3, [1], id: 1),  // node 3 has an id of its own
            insert(node: 5, [63], id: 2),
            insert(node: 5, [], id: 3),  // node 5 has a row
            insert(node: 5, [68], id: 4),  // past the bound: 4 × 1 + 64
            insert(node: 5, [67], id: 5),
        ]
        #expect(taken == [true, false, true, false, false, true])
        #expect(index[DensePlace(node: 3, cells: [])!] == 0)
        #expect(index[DensePlace(node: 3, cells: [1])!] == nil)
        #expect(index[DensePlace(node: 5, cells: [63])!] == 2)
        #expect(index[DensePlace(node: 5, cells: [67])!] == 5)
        #expect(index[DensePlace(node: 5, cells: [68])!] == nil)
        #expect(index[DensePlace(node: 5, cells: [])!] == nil)
        #expect(index[DensePlace(node: 9, cells: [])!] == nil)
        #expect(DensePlace(node: 5, cells: [1, 2]) == nil)
    }
}
