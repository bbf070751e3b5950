@testable import BackendModel
import DeviceTree
import Testing

/// `NodeMap` and `NodeSet` answer as a dictionary and a set of the same nodes would, through
/// any sequence of writes, and copies stay apart (they share one table until one writes).
@Suite struct NodeMapTests {
    /// A tree of 1 + 4,000 nodes: the slot table spans several pages.
    static let tree: FlattenedDeviceTree = {
        let nodes = (0..<4000).map { "node@\($0) { reg = <\($0)>; };" }.joined(separator: "\n")
        let source = "/dts-v1/;\n/ { #address-cells = <1>; #size-cells = <0>;\n\(nodes)\n};\n"
        return try! FlattenedDeviceTree(bytes: compileDTS(source))
    }()

    @Test func aMapAnswersAsADictionaryThroughRandomWrites() throws {
        let seed = try TestSeed(default: 0x40de_3a9)
        var random = seed.generator
        let tree = Self.tree
        var map = NodeMap<Int>()
        var model: [Int: Int] = [:]
        for step in 0..<20_000 {
            // Mostly a few hundred nodes, so that values are replaced, removed and given again.
            let index = Int.random(in: 0..<(step % 7 == 0 ? tree.nodeCount : 300), using: &random)
            let node = tree.node(at: index)
            if Int.random(in: 0..<3, using: &random) == 0 {
                map[node] = nil
                model[index] = nil
            } else {
                map[node] = step
                model[index] = step
            }
        }
        let mismatched = (0..<tree.nodeCount).filter { map[tree.node(at: $0)] != model[$0] }
        #expect(mismatched.isEmpty, "nodes \(mismatched.prefix(10)); \(seed)")
        #expect(!model.isEmpty && model.count < tree.nodeCount, seed.comment)
    }

    @Test func aCopyOfAMapKeepsItsValuesWhenTheOriginalChanges() {
        let tree = Self.tree
        var original = NodeMap<String>()
        original[tree.node(at: 5)] = "five"
        original[tree.node(at: 3000)] = "three thousand"
        var copy = original
        copy[tree.node(at: 5)] = nil
        copy[tree.node(at: 7)] = "seven"
        original[tree.node(at: 3000)] = "changed"
        #expect(original[tree.node(at: 5)] == "five" && original[tree.node(at: 7)] == nil)
        #expect(original[tree.node(at: 3000)] == "changed")
        #expect(copy[tree.node(at: 5)] == nil && copy[tree.node(at: 7)] == "seven")
        #expect(copy[tree.node(at: 3000)] == "three thousand")
        #expect(NodeMap<Int>()[tree.root] == nil)
    }

    @Test func aSetAnswersAsASetAndCopiesStayApart() throws {
        let seed = try TestSeed(default: 0x5e7)
        var random = seed.generator
        let tree = Self.tree
        var set = NodeSet()
        var model = Set<Int>()
        for _ in 0..<5_000 {
            let index = Int.random(in: 0..<tree.nodeCount, using: &random)
            #expect(set.insert(tree.node(at: index)) == model.insert(index).inserted, seed.comment)
        }
        #expect((0..<tree.nodeCount).allSatisfy { set.contains(tree.node(at: $0)) == model.contains($0) }, seed.comment)
        let before = set
        let outside = try #require((0..<tree.nodeCount).first { !model.contains($0) })
        set.insert(tree.node(at: outside))
        #expect(set.contains(tree.node(at: outside)) && !before.contains(tree.node(at: outside)))
        #expect(!NodeSet().contains(tree.root))
    }
}
