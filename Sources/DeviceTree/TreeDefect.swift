import CLibFDT

/// Something in a blob that libfdt reads but dtc refuses to write: a property name repeated
/// within a node, a node name repeated among siblings, a name with a character dtc rejects.
///
/// Lookups see only the first of repeated names (`property(_:)`, `child(named:)`,
/// `node(atPath:)`), so the others are silently ignored by every reader; a checker has to report
/// them. Phandles claimed by several nodes are the fourth such defect (`duplicatePhandles`).
public struct TreeDefect: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// `property` appears again in `node`; `property(_:)` returns the first one.
        case duplicateProperty
        /// `node` has the same full name (unit address included) as an earlier sibling, `first`.
        case duplicateNode(first: DeviceTreeNode)
        /// `node`'s name is empty, has a character outside `[A-Za-z0-9,._+-]` or a second '@'.
        case nodeNameCharacters
        /// `property`'s name is empty or has a character outside `[A-Za-z0-9,._+?#*-]`.
        case propertyNameCharacters
    }

    public var kind: Kind
    public var node: DeviceTreeNode
    /// The property concerned (property defects), as its bytes decode.
    public var property: String?
    /// What is wrong, in words, naming the offending character by position (name defects),
    /// so that a message never has to print the raw byte.
    public var problem: String
}

extension FlattenedDeviceTree {
    /// Every defect found while indexing, in tree order of the node concerned (a node's own
    /// name first, then its properties in blob order). Empty for anything dtc wrote.
    public var defects: [TreeDefect] {
        let structure = storage.base + Int(Header(storage).structOffset)
        func nameBytes(_ node: Int32) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: structure + Int(nodes[Int(node)].offset) + 4, count: Int(nodes[Int(node)].nameLength))
        }
        func propertyNameBytes(_ position: Int32) -> UnsafeRawBufferPointer {
            // The name's offset is in the tag, two cells before the value.
            let nameOffset = storage.bigEndianUInt32(at: Int(properties[Int(position)].valueOffset) - 4)
            var length: Int32 = 0
            guard let name = fdt_get_string(storage.base, Int32(nameOffset), &length), length >= 0 else {
                return UnsafeRawBufferPointer(start: nil, count: 0)
            }
            return UnsafeRawBufferPointer(start: name, count: Int(length))
        }
        let records = defectRecords.sorted { ($0.node, $0.other) < ($1.node, $1.other) }
        return records.map { record in
            let node = DeviceTreeNode(tree: self, index: record.node)
            let propertyName = record.other >= 0 && record.kind != .duplicateNode
                ? propertyNames[Int(properties[Int(record.other)].nameID)] : nil
            switch record.kind {
            case .duplicateProperty:
                return TreeDefect(kind: .duplicateProperty, node: node, property: propertyName, problem: "the property is repeated")
            case .duplicateNode:
                let first = DeviceTreeNode(tree: self, index: record.other)
                return TreeDefect(kind: .duplicateNode(first: first), node: node, property: nil, problem: "an earlier sibling has the same name")
            case .nodeNameCharacters:
                let problem = IndexBuilder.nodeNameProblem(nameBytes(record.node)) ?? "the node name is malformed"
                return TreeDefect(kind: .nodeNameCharacters, node: node, property: nil, problem: problem)
            case .propertyNameCharacters:
                let problem = IndexBuilder.propertyNameProblem(propertyNameBytes(record.other)) ?? "the property name is malformed"
                return TreeDefect(kind: .propertyNameCharacters, node: node, property: propertyName, problem: problem)
            }
        }
    }
}
