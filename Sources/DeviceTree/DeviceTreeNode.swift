/// A node of a `FlattenedDeviceTree`: a cheap handle (the tree and the node's position in tree
/// order). Everything is read from the tree's index; copying a node copies two words.
/// Two nodes are equal when they are the same node of the same tree.
public struct DeviceTreeNode: Hashable, Sendable {
    public let tree: FlattenedDeviceTree
    /// Position in tree order (root is 0); also libfdt's order of structure offsets.
    public let index: Int

    init(tree: FlattenedDeviceTree, index: Int32) {
        self.tree = tree
        self.index = Int(index)
    }

    public static func == (lhs: DeviceTreeNode, rhs: DeviceTreeNode) -> Bool {
        lhs.index == rhs.index && lhs.tree === rhs.tree
    }

    /// The position alone: nodes of different trees that share it collide, which costs a
    /// comparison, whereas hashing the tree's identity too costs every lookup a second word.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(index)
    }

    /// Full name with unit address, `device@1`; `""` for the root.
    public var name: String { tree.nodes[index].name }

    /// The name without its unit address: `device`.
    public var baseName: String {
        let name = self.name
        guard let at = name.utf8.firstIndex(of: UInt8(ascii: "@")) else { return name }
        return String(name[..<at])
    }

    /// The unit address as written after `@` (`"1"`, `"fe200000"`), nil without one.
    /// (Searched as UTF-8: '@' is one byte, and a Character search would walk graphemes.)
    public var unitAddress: String? {
        let name = self.name
        guard let at = name.utf8.firstIndex(of: UInt8(ascii: "@")) else { return nil }
        return String(name[name.utf8.index(after: at)...])
    }

    /// Absolute path, `/firmware/scmi-vio-backend/devices/device@1`; `/` for the root.
    /// Built on each call by walking up the parents (the index keeps no paths: one per node
    /// would cost memory quadratic in the depth), so it costs the depth: keep it, do not
    /// recompute it in a loop over a deep tree.
    public var path: String {
        let nodes = tree.nodes
        guard index > 0 else { return "/" }
        var chain: [Int32] = []
        chain.reserveCapacity(Int(nodes[index].depth))
        var length = 0
        var node = Int32(index)
        while node > 0 {
            chain.append(node)
            length += Int(nodes[Int(node)].nameLength) + 1
            node = nodes[Int(node)].parent
        }
        var path = ""
        path.reserveCapacity(length)
        for node in chain.reversed() {
            path += "/"
            path += nodes[Int(node)].name
        }
        return path
    }

    /// libfdt's structure-block offset of this node (for calling libfdt directly).
    public var offset: Int32 { tree.nodes[index].offset }

    public var parent: DeviceTreeNode? {
        let parent = tree.nodes[index].parent
        return parent < 0 ? nil : DeviceTreeNode(tree: tree, index: parent)
    }

    /// Direct children in blob order.
    public var children: [DeviceTreeNode] {
        var result = [DeviceTreeNode]()
        result.reserveCapacity(Int(tree.nodes[index].childCount))
        var child = tree.nodes[index].firstChild
        while child >= 0 {
            result.append(DeviceTreeNode(tree: tree, index: child))
            child = tree.nodes[Int(child)].nextSibling
        }
        return result
    }

    /// The direct child with this exact name (`"devices"`, `"device@1"`), the first if several.
    /// One hash lookup, however many children there are.
    public func child(named name: String) -> DeviceTreeNode? {
        tree.child(of: Int32(index), named: Array(name.utf8)).map { DeviceTreeNode(tree: tree, index: $0) }
    }

    /// Number of ancestors: 0 for the root.
    public var depth: Int { Int(tree.nodes[index].depth) }

    /// All properties in blob order, each made when read: walking them allocates nothing.
    public var properties: PropertyList {
        let first = Int(tree.nodes[index].firstProperty)
        return PropertyList(tree: tree, positions: first..<(first + Int(tree.nodes[index].propertyCount)))
    }

    /// The property with this name; the first one if a corrupt blob repeats it.
    public func property(_ name: String) -> DeviceTreeProperty? {
        propertyRecord(named: name).map(makeProperty)
    }

    public func hasProperty(_ name: String) -> Bool { propertyRecord(named: name) != nil }

    /// A node has a handful of properties, so comparing names beats hashing `name` into the
    /// tree's name table; names are compared as UTF-8 bytes (`FlattenedDeviceTree.propertyPosition`).
    private func propertyRecord(named name: String) -> PropertyRecord? {
        let first = Int(tree.nodes[index].firstProperty)
        return tree.propertyPosition(named: name, in: first..<(first + Int(tree.nodes[index].propertyCount)))
            .map { tree.properties[$0] }
    }

    private func makeProperty(_ record: PropertyRecord) -> DeviceTreeProperty { tree.makeProperty(record) }

    /// The node's phandle from `phandle` (or else `linux,phandle`); nil when absent, not one
    /// cell, 0 or 0xffffffff.
    public var phandle: UInt32? {
        let phandle = tree.nodes[index].phandle
        return phandle == 0 ? nil : phandle
    }

    /// True when `status` is absent, `"okay"` or `"ok"`. Any other value (including a malformed
    /// one) disables the node, as Linux's `of_device_is_available` does.
    public var isEnabled: Bool {
        guard let status = property("status") else { return true }
        return status.isString("okay") || status.isString("ok")
    }

    /// The `compatible` strings, most specific first; `[]` when absent or malformed.
    public var compatible: [String] { property("compatible")?.stringList ?? [] }

    /// True when `compatible` is one of the node's `compatible` strings, compared in the blob
    /// without building the list (see `DeviceTreeProperty.stringListContains`).
    public func isCompatible(with compatible: String) -> Bool {
        property("compatible")?.stringListContains(compatible) ?? false
    }

    /// True when `other` is a proper ancestor of this node. A subtree is a contiguous range in
    /// tree order, so this is two comparisons, not a walk up a possibly very deep chain.
    public func isDescendant(of other: DeviceTreeNode) -> Bool {
        guard other.tree === tree else { return false }
        return other.index < index && index < Int(tree.nodes[other.index].subtreeEnd)
    }
}

extension DeviceTreeNode: Comparable {
    /// Tree order (depth-first, as in the blob). Nodes of different trees compare by tree identity.
    public static func < (lhs: DeviceTreeNode, rhs: DeviceTreeNode) -> Bool {
        if lhs.tree !== rhs.tree { return ObjectIdentifier(lhs.tree) < ObjectIdentifier(rhs.tree) }
        return lhs.index < rhs.index
    }
}

extension DeviceTreeNode: CustomStringConvertible {
    public var description: String { path }
}

/// A node's properties in blob order (`DeviceTreeNode.properties`): a range of the tree's
/// property index, each property made when read, so that a loop over a node's properties
/// allocates no array.
public struct PropertyList: RandomAccessCollection, Sendable {
    let tree: FlattenedDeviceTree
    let positions: Range<Int>

    public var startIndex: Int { 0 }
    public var endIndex: Int { positions.count }

    public subscript(position: Int) -> DeviceTreeProperty {
        precondition(position >= 0 && position < positions.count, "property index out of range")
        return tree.makeProperty(tree.properties[positions.lowerBound + position])
    }
}

extension FlattenedDeviceTree {
    func makeProperty(_ record: PropertyRecord) -> DeviceTreeProperty {
        DeviceTreeProperty(
            name: propertyNames[Int(record.nameID)], storage: storage,
            start: Int(record.valueOffset), count: Int(record.length), nameID: record.nameID)
    }
}
