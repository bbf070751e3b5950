#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
        lhs.index == rhs.index && lhs.tree.isSameTree(as: rhs.tree)
    }

    /// The position alone: nodes of different trees that share it collide, which costs a
    /// comparison, whereas hashing the tree's identity too costs every lookup a second word.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(index)
    }

    /// Full name with unit address, `device@1`; `""` for the root. Decoded from the blob on
    /// each call (the index keeps no strings); compare with `hasName(_:)` or
    /// `hasBaseName(_:)` to avoid making one.
    public var name: String { tree.name(of: index) }

    /// The name without its unit address: `device`.
    public var baseName: String {
        let bytes = tree.nameBytes(of: index)
        let end = bytes.firstIndex(of: UInt8(ascii: "@")) ?? bytes.count
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<end]), as: UTF8.self)
    }

    /// The unit address as written after `@` (`"1"`, `"fe200000"`), nil without one.
    /// ('@' is one byte, which no multi-byte UTF-8 sequence contains, so splitting the bytes
    /// there and decoding each part gives what splitting the decoded name would.)
    public var unitAddress: String? {
        let bytes = tree.nameBytes(of: index)
        guard let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(at + 1)...]), as: UTF8.self)
    }

    /// True when the full name is exactly `name`, compared as bytes in the blob.
    public func hasName(_ name: String) -> Bool {
        var name = name
        let bytes = tree.nameBytes(of: index)
        return name.withUTF8 { wanted in
            wanted.count == bytes.count && (wanted.isEmpty || memcmp(bytes.baseAddress!, wanted.baseAddress!, wanted.count) == 0)
        }
    }

    /// True when the name is `base` or `base@…` (`hasBaseName("device")` for `device@1`),
    /// compared as bytes in the blob without decoding the name.
    /// The base's UTF-8 is read in place and compared byte by byte (base names are a few
    /// bytes: no `memcmp` call, and no copy of the string, whose reference counting cost more
    /// than the comparison; called for every child of a large `devices` node).
    public func hasBaseName(_ base: String) -> Bool {
        let bytes = tree.nameBytes(of: index)
        let utf8 = base.utf8
        let count = utf8.count
        guard bytes.count == count || (bytes.count > count && bytes[count] == UInt8(ascii: "@")) else { return false }
        if let equal = utf8.withContiguousStorageIfAvailable({ wanted in
            for position in 0..<count where bytes[position] != wanted[position] { return false }
            return true
        }) {
            return equal
        }
        return utf8.elementsEqual(bytes.prefix(count))
    }

    /// Calls `body` with the name's bytes as they lie in the blob (no NUL, not decoded).
    public func withNameBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(tree.nameBytes(of: index))
    }

    /// Absolute path, `/firmware/scmi-vio-backend/devices/device@1`; `/` for the root.
    /// Built on each call by walking up the parents (the index keeps no paths: one per node
    /// would cost memory quadratic in the depth), so it costs the depth: keep it, do not
    /// recompute it in a loop over a deep tree.
    ///
    /// The names' bytes are joined and decoded once: '/' is one byte, which ends any
    /// incomplete UTF-8 sequence, so this is the same string as joining decoded names.
    public var path: String {
        let nodes = tree.nodes
        guard index > 0 else { return "/" }
        var length = 0
        var node = Int32(index)
        while node > 0 {
            length += Int(nodes[Int(node)].nameLength) + 1
            node = nodes[Int(node)].parent
        }
        var bytes = [UInt8](repeating: 0, count: length)
        var end = length
        node = Int32(index)
        while node > 0 {
            let name = tree.nameBytes(of: Int(node))
            end -= name.count
            for (position, byte) in name.enumerated() { bytes[end + position] = byte }
            end -= 1
            bytes[end] = UInt8(ascii: "/")
            node = nodes[Int(node)].parent
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// libfdt's structure-block offset of this node (for calling libfdt directly).
    public var offset: Int32 { tree.nodes[index].offset }

    public var parent: DeviceTreeNode? {
        let parent = tree.nodes[index].parent
        return parent < 0 ? nil : DeviceTreeNode(tree: tree, index: parent)
    }

    /// Direct children in blob order.
    public var children: [DeviceTreeNode] {
        // The children are the nodes of the subtree reached by jumping over each child's own
        // subtree: counted in one pass (the array is made at its size, a node of 100,000
        // children copies nothing while growing), made in a second.
        let end = Int(tree.nodes[index].subtreeEnd)
        var count = 0
        var child = index + 1
        while child < end {
            count += 1
            child = Int(tree.nodes[child].subtreeEnd)
        }
        var result = [DeviceTreeNode]()
        result.reserveCapacity(count)
        child = index + 1
        while child < end {
            result.append(DeviceTreeNode(tree: tree, index: Int32(child)))
            child = Int(tree.nodes[child].subtreeEnd)
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
        PropertyList(tree: tree, positions: tree.propertyPositions(of: index))
    }

    /// The property with this name; the first one if a corrupt blob repeats it.
    public func property(_ name: String) -> DeviceTreeProperty? {
        propertyRecord(named: name).map(makeProperty)
    }

    public func hasProperty(_ name: String) -> Bool { propertyRecord(named: name) != nil }

    /// A node has a handful of properties, so comparing names beats hashing `name` into the
    /// tree's name table; names are compared as UTF-8 bytes (`FlattenedDeviceTree.propertyPosition`).
    private func propertyRecord(named name: String) -> PropertyRecord? {
        tree.propertyPosition(named: name, in: tree.propertyPositions(of: index))
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
        let statusID = tree.statusNameID
        if statusID == -2 {
            guard let status = property("status") else { return true }
            return status.isString("okay") || status.isString("ok")
        }
        // The first `status` found by its name id: no name compared, no property made.
        guard statusID >= 0, let position = propertyPositions.first(where: { tree.propertyNameID(at: $0) == statusID }) else {
            return true
        }
        let value = tree.propertyValue(at: position)
        return value.elementsEqual("okay\0".utf8) || value.elementsEqual("ok\0".utf8)
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
        guard other.tree.isSameTree(as: tree) else { return false }
        return other.index < index && index < Int(tree.nodes[other.index].subtreeEnd)
    }
}

extension DeviceTreeNode: Comparable {
    /// Tree order (depth-first, as in the blob). Nodes of different trees compare by tree identity.
    public static func < (lhs: DeviceTreeNode, rhs: DeviceTreeNode) -> Bool {
        if !lhs.tree.isSameTree(as: rhs.tree) { return ObjectIdentifier(lhs.tree) < ObjectIdentifier(rhs.tree) }
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
            start: Int(record.valueOffset), count: valueLength(of: record), nameID: record.nameID)
    }
}

// MARK: - Index positions, for readers that walk many nodes (the schema validator)

extension DeviceTreeNode {
    /// This node's properties as positions in the tree's property index (`FlattenedDeviceTree`'s
    /// `propertyNameID(at:)`, `propertyValue(at:)`, `property(at:)`): a loop over them makes
    /// no `DeviceTreeProperty`, so it neither decodes names nor counts references.
    package var propertyPositions: Range<Int> { tree.propertyPositions(of: index) }

    /// True when `property` is this node's (read from its tree's index) and the first of its
    /// name in the node: the one `property(_:)` finds by that name.
    package func isFirstOfItsName(_ property: DeviceTreeProperty) -> Bool {
        guard property.nameID >= 0, property.storage.base == tree.storage.base else { return false }
        for position in propertyPositions where tree.properties[position].nameID == property.nameID {
            return Int(tree.properties[position].valueOffset) == property.start
        }
        return false
    }

    /// The first child in blob order, nil for a leaf; with `nextSibling`, a walk over the
    /// children that allocates nothing (`children` makes an array).
    package var firstChild: DeviceTreeNode? {
        let child = tree.firstChild(of: index)
        return child < 0 ? nil : DeviceTreeNode(tree: tree, index: child)
    }

    /// The next child of the same parent in blob order.
    package var nextSibling: DeviceTreeNode? {
        let sibling = tree.nextSibling(of: index)
        return sibling < 0 ? nil : DeviceTreeNode(tree: tree, index: sibling)
    }
}

extension FlattenedDeviceTree {
    /// The name id (`DeviceTreeProperty.nameID`) of the property at `position`.
    package func propertyNameID(at position: Int) -> Int32 { properties[position].nameID }

    /// The decoded name of name id `id`.
    package func propertyName(id: Int32) -> String { propertyNames[Int(id)] }

    /// The value of the property at `position`, a view into the blob (valid as long as the tree).
    package func propertyValue(at position: Int) -> UnsafeRawBufferPointer {
        let record = properties[position]
        return UnsafeRawBufferPointer(start: storage.base + Int(record.valueOffset), count: valueLength(of: record))
    }

    /// The property at `position`, as `DeviceTreeNode.properties` would give it.
    package func property(at position: Int) -> DeviceTreeProperty { makeProperty(properties[position]) }

    /// The value of the property at `position` as one cell (`DeviceTreeProperty.u32`), read
    /// without making the property.
    package func u32Value(at position: Int) -> UInt32? {
        let record = properties[position]
        return valueLength(of: record) == 4 ? storage.bigEndianUInt32(at: Int(record.valueOffset)) : nil
    }
}
