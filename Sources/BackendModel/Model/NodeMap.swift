import DeviceTree

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value per node of one tree, found by the node's position in tree order: a lookup is an
/// array index instead of hashing a `DeviceTreeNode` (its position and its tree) and counting
/// references to the tree, which on a tree of 100,000 devices was a large part of `check`.
///
/// Each node has a 4-byte slot in a table made on the first write (nothing for a map that
/// stays empty); the values given are kept apart, in the order given. The table comes zeroed
/// from `calloc` (`ZeroFilledTable`), so its pages are faulted in only where nodes with values
/// lie: a map of the devices of a 100,000-device tree touches the devices' stretch of the
/// table, where a table of `Value?` made with `Array(repeating: nil, ...)` wrote a slot of the
/// value's size for every node of the tree (up to 24 bytes for 160,000 nodes) before the
/// first value went in. Every node given must be of that tree.
struct NodeMap<Value> {
    /// Per node: 0, never given a value; n > 0, its value is `values[n - 1]`; n < 0, its value
    /// was removed and `values[-n - 1]` is its place when it gets one again (so that setting
    /// and removing a node's value over and over does not grow `values`).
    private var slots: ZeroFilledTable<Int32>? = nil
    private var values: [Value] = []

    init() {}

    subscript(node: DeviceTreeNode) -> Value? {
        get {
            guard let slots, node.index < slots.count else { return nil }
            let slot = slots[node.index]
            return slot > 0 ? values[Int(slot) - 1] : nil
        }
        set {
            if slots == nil {
                guard newValue != nil else { return }
                slots = ZeroFilledTable(count: node.tree.nodeCount)
            } else if !isKnownUniquelyReferenced(&slots) {
                slots = ZeroFilledTable(copying: slots!)
            }
            let table = slots!
            let slot = table[node.index]
            if let newValue {
                if slot == 0 {
                    values.append(newValue)
                    table[node.index] = Int32(values.count)
                } else {
                    values[Int(slot.magnitude) - 1] = newValue
                    table[node.index] = Int32(slot.magnitude)
                }
            } else if slot > 0 {
                // The value stays in `values` (maps hold small values) until the node gets another.
                table[node.index] = -slot
            }
        }
    }
}

/// A set of nodes of one tree, as one byte per node in a table made on the first insertion
/// and faulted in only where members lie (see `NodeMap`).
struct NodeSet {
    private var members: ZeroFilledTable<UInt8>? = nil

    init() {}

    func contains(_ node: DeviceTreeNode) -> Bool {
        guard let members, node.index < members.count else { return false }
        return members[node.index] != 0
    }

    /// Adds `node`; true when it was not there yet (as `Set.insert(_:).inserted`).
    @discardableResult
    mutating func insert(_ node: DeviceTreeNode) -> Bool {
        if members == nil {
            members = ZeroFilledTable(count: node.tree.nodeCount)
        } else if !isKnownUniquelyReferenced(&members) {
            members = ZeroFilledTable(copying: members!)
        }
        let table = members!
        guard table[node.index] == 0 else { return false }
        table[node.index] = 1
        return true
    }
}

/// `count` integers, all zero at first, in memory from `calloc`. A large table is a fresh
/// mapping that the kernel fills with zeros a page at a time on first touch, and `calloc`
/// does not write it; `Array(repeating: 0, count:)` writes every byte and so faults in every
/// page at once, however few entries are ever used.
///
/// A reference type so that the memory can be freed; the maps holding one copy it before
/// writing when it is shared (`isKnownUniquelyReferenced`), which keeps them values. That is
/// also why `@unchecked Sendable` holds: a table that more than one map can see is never
/// written again.
final class ZeroFilledTable<Element: FixedWidthInteger>: @unchecked Sendable {
    let count: Int
    private let base: UnsafeMutablePointer<Element>

    init(count: Int) {
        guard let memory = calloc(max(count, 1), MemoryLayout<Element>.stride) else {
            fatalError("out of memory for a table of \(count) entries")
        }
        self.count = count
        base = memory.bindMemory(to: Element.self, capacity: max(count, 1))
    }

    convenience init(copying other: ZeroFilledTable) {
        self.init(count: other.count)
        base.update(from: other.base, count: count)
    }

    deinit { free(base) }

    subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "table index out of range")
            return base[index]
        }
        set {
            precondition(index >= 0 && index < count, "table index out of range")
            base[index] = newValue
        }
    }
}
