import DeviceTree

/// A value per node of one tree, kept at the node's position in tree order: a lookup is an
/// array index instead of hashing a `DeviceTreeNode` (its position and its tree) and counting
/// references to the tree, which on a tree of 100,000 devices was a large part of `check`.
/// The array is allocated on the first write, one slot per node of the tree: memory linear
/// in the blob, nothing for a map that stays empty. Every node given must be of that tree.
struct NodeMap<Value> {
    private var values: [Value?] = []

    init() {}

    subscript(node: DeviceTreeNode) -> Value? {
        get { node.index < values.count ? values[node.index] : nil }
        set {
            if values.isEmpty {
                guard newValue != nil else { return }
                values = Array(repeating: nil, count: node.tree.nodeCount)
            }
            values[node.index] = newValue
        }
    }
}

/// A set of nodes of one tree, as one flag per node (see `NodeMap`).
struct NodeSet {
    private var members: [Bool] = []

    init() {}

    func contains(_ node: DeviceTreeNode) -> Bool { node.index < members.count && members[node.index] }

    /// Adds `node`; true when it was not there yet (as `Set.insert(_:).inserted`).
    @discardableResult
    mutating func insert(_ node: DeviceTreeNode) -> Bool {
        if members.isEmpty { members = Array(repeating: false, count: node.tree.nodeCount) }
        guard !members[node.index] else { return false }
        members[node.index] = true
        return true
    }
}
