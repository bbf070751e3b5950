/// One protocol's id assignment: explicit (ids fixed by table children) or
/// derived (the next id for each new resource, in the order they are met).
struct IDTable<Key: Hashable> {
    let isExplicit: Bool
    private(set) var keys: [Key?]
    private var ids: [Key: UInt32] = [:]

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

    /// Explicit tables: binds `id` to `key` (the first binding of a key wins).
    mutating func assign(_ key: Key, to id: UInt32) {
        guard Int(id) < keys.count else { return }
        keys[Int(id)] = key
        if ids[key] == nil { ids[key] = id }
    }

    /// The id of `key`; a derived table gives a new resource the next id.
    /// nil: an explicit table without this resource.
    mutating func id(for key: Key) -> UInt32? {
        if let id = ids[key] { return id }
        guard !isExplicit else { return nil }
        let id = UInt32(keys.count)
        keys.append(key)
        ids[key] = id
        return id
    }
}
