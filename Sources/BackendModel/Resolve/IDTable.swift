import DeviceTree

/// A key an `IDTable` can find by a cheap hash of its own: a node position and a few cells
/// are mixed in a handful of multiplications, where `Hashable` would run SipHash (a seeded
/// hasher set up and finished for every lookup), which on a tree of 100,000 devices was a
/// large part of `check`.
protocol TableKey: Equatable {
    /// The key's words mixed with `seed`, well spread over all 64 bits.
    func tableHash(seed: UInt64) -> UInt64
}

/// Mixing for `TableKey.tableHash`: `combine` folds one word in, `finish` spreads the bits
/// (the 64-bit finaliser of MurmurHash3). The seed is random per process, so a blob cannot
/// be made to put every key in one probe chain and turn lookups quadratic.
enum TableHash {
    static let seed = UInt64.random(in: .min ... .max)

    static func combine(_ state: UInt64, _ word: UInt64) -> UInt64 {
        ((state ^ word) &* 0x9E37_79B9_7F4A_7C15).rotatedLeft(by: 27)
    }

    static func finish(_ state: UInt64) -> UInt64 {
        var value = state
        value ^= value >> 33
        value &*= 0xFF51_AFD7_ED55_8CCD
        value ^= value >> 33
        value &*= 0xC4CE_B9FE_1A85_EC53
        value ^= value >> 33
        return value
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(by count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}

extension DeviceTreeNode: TableKey {
    /// The position alone, as `DeviceTreeNode.hash(into:)`: a table holds nodes of one tree.
    func tableHash(seed: UInt64) -> UInt64 { TableHash.finish(TableHash.combine(seed, UInt64(index))) }
}

extension UInt32: TableKey {
    func tableHash(seed: UInt64) -> UInt64 { TableHash.finish(TableHash.combine(seed, UInt64(self))) }
}

/// One protocol's id assignment: explicit (ids fixed by table children) or
/// derived (the next id for each new resource, in the order they are met).
///
/// The keys are kept by id in `keys`; finding a key's id goes through `slots`, an
/// open-addressing table (linear probing, at most half full) whose words hold a key's id + 1
/// in the low half (0: an empty slot) and the top 32 bits of its hash in the high half: a
/// lookup compares keys only when those bits match, and growing never reads a key.
struct IDTable<Key: TableKey> {
    let isExplicit: Bool
    private(set) var keys: [Key?]
    private var slots: [UInt64] = []
    private var indexed = 0

    /// A derived table, empty.
    init() {
        isExplicit = false
        keys = []
    }

    /// An explicit table of `count` ids; fill it with `assign`.
    init(explicitCount count: Int) {
        isExplicit = true
        keys = Array(repeating: nil, count: count)
    }

    var count: Int { keys.count }

    /// True when no key has an id yet.
    var isEmpty: Bool { indexed == 0 }

    /// Explicit tables: binds `id` to `key` (the first binding of a key wins).
    mutating func assign(_ key: Key, to id: UInt32) {
        guard Int(id) < keys.count else { return }
        keys[Int(id)] = key
        let hash = Self.hash(key)
        if existingID(for: key, hash: hash) == nil { index(hash, id) }
    }

    /// The id of `key`; a derived table gives a new resource the next id.
    /// nil: an explicit table without this resource.
    mutating func id(for key: Key) -> UInt32? {
        let hash = Self.hash(key)
        if let id = existingID(for: key, hash: hash) { return id }
        guard !isExplicit else { return nil }
        let id = UInt32(keys.count)
        keys.append(key)
        index(hash, id)
        return id
    }

    /// The id `key` was given, if any; never gives a new one.
    func existingID(for key: Key) -> UInt32? { existingID(for: key, hash: Self.hash(key)) }

    /// The top 32 bits of the key's hash: where its probe starts, and its tag in the slots.
    private static func hash(_ key: Key) -> UInt32 { UInt32(truncatingIfNeeded: key.tableHash(seed: TableHash.seed) >> 32) }

    private func existingID(for key: Key, hash: UInt32) -> UInt32? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var slot = Int(hash) & mask
        while slots[slot] != 0 {
            let word = slots[slot]
            if UInt32(truncatingIfNeeded: word >> 32) == hash {
                let id = Int(UInt32(truncatingIfNeeded: word) - 1)
                if keys[id] == key { return UInt32(id) }
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// Records that the key with `hash` (not yet indexed) has `id`, growing the slots to keep
    /// them at most half full.
    private mutating func index(_ hash: UInt32, _ id: UInt32) {
        if (indexed + 1) * 2 > slots.count { grow() }
        place(UInt64(hash) << 32 | UInt64(id + 1))
        indexed += 1
    }

    private mutating func place(_ word: UInt64) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: word >> 32) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = word
    }

    /// Doubles the slots (16 at first) and places every word again.
    private mutating func grow() {
        let old = slots
        slots = Array(repeating: 0, count: max(16, old.count * 2))
        for word in old where word != 0 { place(word) }
    }
}

/// Positions by device id. Device ids are usually dense from 0, so an id below `directLimit`
/// is an index into an array: no hashing, and neighbouring ids are neighbours in memory (a
/// hashed table scatters them, and on 100,000 devices each lookup became a cache miss). A
/// larger id goes to an `IDTable`. The limit is a multiple of the number of ids expected, so
/// memory stays linear in it whatever the ids are.
struct DeviceIDMap {
    private let directLimit: Int
    /// Position + 1 by id, 0 for none; allocated at the first id below the limit.
    private var direct: [Int32] = []
    private var sparse = IDTable<UInt32>()
    /// Position by the id's number in `sparse`, -1 for none.
    private var sparsePositions: [Int32] = []

    init(expectedCount: Int) { directLimit = 4 * expectedCount + 64 }

    subscript(id: UInt32) -> Int? {
        get {
            if Int(id) < directLimit { return Int(id) < direct.count && direct[Int(id)] != 0 ? Int(direct[Int(id)]) - 1 : nil }
            guard let slot = sparse.existingID(for: id), sparsePositions[Int(slot)] >= 0 else { return nil }
            return Int(sparsePositions[Int(slot)])
        }
        set {
            if Int(id) < directLimit {
                if direct.isEmpty { direct = Array(repeating: 0, count: directLimit) }
                direct[Int(id)] = newValue.map { Int32($0 + 1) } ?? 0
                return
            }
            let slot = Int(sparse.id(for: id)!)  // a derived table always gives one
            if slot == sparsePositions.count { sparsePositions.append(-1) }
            sparsePositions[slot] = newValue.map { Int32($0) } ?? -1
        }
    }
}

/// A value for some nodes of one tree, for values that are large or need destroying (rates,
/// names) and are kept for few of the nodes (clock providers, regulators). A `NodeMap` keeps a
/// slot of the value's size for every node of the tree, which is allocated, initialised and
/// destroyed slot by slot; here each node has a 4-byte number (0: no value, else the position
/// + 1 in `values`), zeroed at once, and only the values given take room.
struct SparseNodeMap<Value> {
    private var positions: [UInt32] = []
    private var values: [Value] = []

    init() {}

    subscript(node: DeviceTreeNode) -> Value? {
        get {
            guard node.index < positions.count, positions[node.index] != 0 else { return nil }
            return values[Int(positions[node.index]) - 1]
        }
        set {
            if positions.isEmpty {
                guard newValue != nil else { return }
                positions = Array(repeating: 0, count: node.tree.nodeCount)
            }
            let position = positions[node.index]
            switch (newValue, position) {
            case (let value?, 0):
                values.append(value)
                positions[node.index] = UInt32(values.count)
            case (let value?, _):
                values[Int(position) - 1] = value
            case (nil, 0):
                break
            case (nil, _):
                // Rare (no caller forgets a value today): the slot is left behind, unreachable.
                positions[node.index] = 0
            }
        }
    }
}
