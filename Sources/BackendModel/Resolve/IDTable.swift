import DeviceTree

/// A key an `IDTable` can find by a cheap hash of its own: a node position and a few cells
/// are mixed in a handful of multiplications, where `Hashable` would run SipHash (a seeded
/// hasher set up and finished for every lookup), which on a tree of 100,000 devices was a
/// large part of `check`.
protocol TableKey: Equatable, Sendable {
    /// The key's words mixed with `seed`, well spread over all 64 bits.
    func tableHash(seed: UInt64) -> UInt64
    /// Where the key goes in an `IDTable`'s `DenseIndex`; nil: the hashed slots alone hold it.
    var densePlace: DensePlace? { get }
}

extension TableKey {
    var densePlace: DensePlace? { nil }
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

    /// A node is placed as a specifier without cells would be.
    var densePlace: DensePlace? { DensePlace(node: index, cells: []) }
}

extension UInt32: TableKey {
    func tableHash(seed: UInt64) -> UInt64 { TableHash.finish(TableHash.combine(seed, UInt64(self))) }
}

/// One protocol's id assignment: explicit (ids fixed by table children) or
/// derived (the next id for each new resource, in the order they are met).
///
/// The keys are kept by id in `keys`. Finding a key's id goes first through `dense`, for keys
/// that are a node or one cell of a node (`DensePlace`): the usual resource, and one that
/// devices mostly name in order, so neighbouring lookups touch neighbouring words. Other keys
/// (several cells, or a cell too large to index) go to `slots`, an open-addressing table
/// (linear probing, at most half full) whose words hold a key's id + 1 in the low half (0: an
/// empty slot) and the top 32 bits of its hash in the high half: a lookup compares keys only
/// when those bits match, and growing never reads a key. On 100,000 devices a hashed lookup
/// was two cache misses (the slot, then the stored key's cells); a dense one is usually none.
struct IDTable<Key: TableKey>: Sendable {
    let isExplicit: Bool
    private(set) var keys: [Key?]
    private var dense = DenseIndex()
    private var slots: [UInt64] = []
    /// Keys with an id (in `dense` or `slots`), and those of them in `slots`.
    private var indexed = 0
    private var hashed = 0

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

    /// Explicit tables: binds `id` (each id once: table entries have distinct ids) to `key`
    /// (the first binding of a key wins).
    mutating func assign(_ key: Key, to id: UInt32) {
        guard Int(id) < keys.count else { return }
        keys[Int(id)] = key
        if existingID(for: key) == nil { index(key, id) }
    }

    /// The id of `key`; a derived table gives a new resource the next id.
    /// nil: an explicit table without this resource.
    mutating func id(for key: Key) -> UInt32? {
        if let id = existingID(for: key) { return id }
        return newID(key)
    }

    /// The id `key` was given, if any; never gives a new one.
    func existingID(for key: Key) -> UInt32? {
        if let place = key.densePlace, let id = dense[place] { return id }
        return hashedID(for: key)
    }

    /// A derived table's next id, given to `key`, which has none yet; nil for an explicit table.
    private mutating func newID(_ key: Key) -> UInt32? {
        guard !isExplicit else { return nil }
        let id = UInt32(keys.count)
        keys.append(key)
        index(key, id)
        return id
    }

    /// The top 32 bits of the key's hash: where its probe starts, and its tag in the slots.
    private static func hash(_ key: Key) -> UInt32 { UInt32(truncatingIfNeeded: key.tableHash(seed: TableHash.seed) >> 32) }

    /// The id of `key` in the hashed slots, which hold no key at all in most tables.
    private func hashedID(for key: Key) -> UInt32? {
        guard hashed > 0 else { return nil }
        let hash = Self.hash(key)
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

    /// Records that `key` (not yet indexed) has `id`: in the dense index when it takes the key,
    /// else in the slots, grown to keep them at most half full.
    private mutating func index(_ key: Key, _ id: UInt32) {
        indexed += 1
        if let place = key.densePlace, dense.insert(place, id: id) { return }
        if (hashed + 1) * 2 > slots.count { grow() }
        place(UInt64(Self.hash(key)) << 32 | UInt64(id + 1))
        hashed += 1
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

extension IDTable where Key == SpecifierKey {
    /// `id(for:)` of the specifier's key, made only when the specifier gets a new id or is
    /// not in the dense index: making one retains its provider's tree and its cells, for
    /// every resource of every device.
    mutating func id(for specifier: ResourceSpecifier) -> UInt32? {
        if let id = existingID(provider: specifier.provider, cells: specifier.cells) { return id }
        return newID(SpecifierKey(specifier))
    }

    /// `existingID(for:)` of the key of `provider` and `cells`, made only when needed (see `id(for:)`).
    func existingID(provider: DeviceTreeNode, cells: [UInt32]) -> UInt32? {
        if let place = DensePlace(node: provider.index, cells: cells), let id = dense[place] { return id }
        return hashed > 0 ? hashedID(for: SpecifierKey(ResourceSpecifier(provider: provider, cells: cells))) : nil
    }
}

/// Where a key with no cell or one goes in a `DenseIndex`: its node's position and the cell.
struct DensePlace {
    let node: Int
    /// The one cell, or -1 for none.
    let cell: Int

    /// nil for two cells or more, which only the hashed slots hold.
    init?(node: Int, cells: [UInt32]) {
        switch cells.count {
        case 0: cell = -1
        case 1: cell = Int(cells[0])
        default: return nil
        }
        self.node = node
    }
}

/// Ids by node position and cell, for an `IDTable`'s keys of a node and no cell or one. A node
/// has either an id of its own (a regulator, a fixed clock) or a row of ids by cell (the
/// outputs of a clock controller); the other kind of key for the same node, and a cell above
/// the row's bound, are left to the caller's hashed slots. The bound is four times the row's
/// ids plus 64, so the rows take memory linear in the ids whatever the cells are.
struct DenseIndex {
    /// By node position: 0 for nothing; below `rowFlag`, the node's id + 1; with `rowFlag`,
    /// the position of the node's row in `rows`.
    private var nodes: [UInt32] = []
    private var rows: [Row] = []
    private static let rowFlag: UInt32 = 1 << 31

    private struct Row {
        /// Id + 1 by cell value, 0 for none.
        var ids: [UInt32] = []
        var count = 0
    }

    subscript(place: DensePlace) -> UInt32? {
        guard place.node < nodes.count else { return nil }
        let word = nodes[place.node]
        if place.cell < 0 { return word != 0 && word < Self.rowFlag ? word - 1 : nil }
        guard word >= Self.rowFlag else { return nil }
        let row = Int(word - Self.rowFlag)
        guard place.cell < rows[row].ids.count else { return nil }
        let id = rows[row].ids[place.cell]
        return id == 0 ? nil : id - 1
    }

    /// Records `id` at `place`, which has none; false when the place is not indexed here.
    mutating func insert(_ place: DensePlace, id: UInt32) -> Bool {
        guard id < Self.rowFlag - 1 else { return false }
        if place.node >= nodes.count { nodes.append(contentsOf: repeatElement(0, count: place.node + 1 - nodes.count)) }
        let word = nodes[place.node]
        if place.cell < 0 {
            guard word == 0 else { return false }
            nodes[place.node] = id + 1
            return true
        }
        if word == 0 {
            guard rows.count < Int(Self.rowFlag) else { return false }
            nodes[place.node] = Self.rowFlag + UInt32(rows.count)
            rows.append(Row())
        } else if word < Self.rowFlag {
            return false
        }
        let row = Int(nodes[place.node] - Self.rowFlag)
        let length = rows[row].ids.count
        if place.cell >= length {
            guard place.cell < 4 * rows[row].count + 64 else { return false }
            rows[row].ids.append(contentsOf: repeatElement(0, count: place.cell + 1 - length))
        }
        rows[row].ids[place.cell] = id + 1
        rows[row].count += 1
        return true
    }
}

/// Positions by device id. Device ids are usually dense from 0, so an id below `directLimit`
/// is an index into an array: no hashing, and neighbouring ids are neighbours in memory (a
/// hashed table scatters them, and on 100,000 devices each lookup became a cache miss). A
/// larger id goes to an `IDTable`. The limit is a multiple of the number of ids expected, so
/// memory stays linear in it whatever the ids are.
struct DeviceIDMap: Sendable {
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
