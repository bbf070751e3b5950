import Synchronization

// One owner of the host's physical state for every model that serves it
// (docs/serve-choices.md, "One owner of host state across SIGHUP"). serve
// builds a new SCMIPlatform on each good SIGHUP for new connections while
// older connections keep theirs; all of them are attached to the one
// HostState the serve runtime keeps, so a host resource served by several
// models is arbitrated once:
//
// - Each model's arbiters still hold their own agents' requests and settle
//   them to the model's own request (the highest, or on while any is on; none
//   when none of its agents asks). That request is the model's contribution
//   to a SharedQuantity the owner keeps per host resource and quantity (a
//   clock's enable, its rate), which combines the contributions with the
//   same rule. Both rules are associative, so this equals one arbiter over
//   every agent of every model; a model with no request contributes nothing.
// - A host resource is named by its unit's host key (a clock's provider path
//   and cells, a regulator's path), not by its SCMI id, which a reload may
//   change; the n-th repeat of a key in one model is its own resource.
// - One lock (`lock`) guards the requests of every attached model, their
//   permissions and the shared quantities. Host actions are ordered per host
//   resource (HostTurns.swift): each has a ResourceTurn the owner keeps with
//   its entry, so a request of any model waits while an action of any model
//   is in flight on the same resource, and only then.

/// A host resource as the owner names it: its protocol, the key its unit
/// gives it and, for a key repeated within one model, which repeat.
public struct HostResourceKey: Hashable, Sendable, CustomStringConvertible {
    // In this order, and the occurrence an Int32, a key takes 24 bytes rather than 32:
    // the owner keeps one per host resource in its table and one per resource per model.
    public var key: String
    public var occurrence: Int32
    public var protocolID: ProtocolID

    public var description: String {
        protocolID.name + " " + key + (occurrence > 0 ? " #" + String(occurrence + 1) : "")
    }
}

/// The physical state of the host's resources and the requests on them, for
/// every SCMIPlatform attached to it (one per model a reload made).
public final class HostState: Sendable {
    /// Applies every decided change, whichever model decided it.
    let host: any HostInterface
    /// Guards every attached platform's state (SharedState, unit states),
    /// the registry of host resources, their turns and `book`. In memory of
    /// its own, freed in deinit, so that a platform reaches it through a plain
    /// pointer (no reference count per message).
    nonisolated(unsafe) let lock: UnsafeMutablePointer<Mutex<Registry>>
    /// Who waits for a turn and the asynchronous host actions not yet done
    /// (HostTurns.swift); only under `lock`.
    nonisolated(unsafe) let book: UnsafeMutablePointer<TurnBook>
    /// Wakes whoever waits for a turn; shared with the host-action thread,
    /// which must outlive this owner by a moment.
    let signal = TurnSignal()

    public init(host: any HostInterface = InMemoryHost()) {
        self.host = host
        lock = .allocate(capacity: 1)
        lock.initialize(to: Mutex(Registry()))
        book = .allocate(capacity: 1)
        book.initialize(to: TurnBook())
    }

    deinit {
        stopWorker()
        book.deinitialize(count: 1)
        book.deallocate()
        lock.deinitialize(count: 1)
        lock.deallocate()
    }

    /// The host resources some attached model holds, in no particular order.
    public var resources: [HostResourceKey] {
        lock.pointee.withLock { Array($0.entries.keys) }
    }
}

/// One arbitrated quantity of one host resource (a clock's enable, its rate),
/// shared by every model serving the resource: each model's own request and
/// the physical value they combine to. Lives in memory the owner allocates
/// when the first model attaches and frees when the last one goes; only
/// touched with HostState.lock held.
struct SharedQuantity<Value: Comparable & Sendable> {
    /// With no request from any model: the value of the model that brought
    /// the resource into the owner (a later model's other initial value does
    /// not move the host).
    let initial: Value
    /// The physical value: the highest contribution, else `initial`.
    private(set) var value: Value
    /// Per attached model (its HostState serial): its own request, nil for
    /// none. The first model's is inline (serve has one model, two only
    /// while connections made before a reload last); the others' in unsafe
    /// memory, resized only when a model joins or leaves, so that settling a
    /// message touches no reference count.
    private var first: (model: Int, request: Value?)? = nil
    private var others = UnsafeMutableBufferPointer<(model: Int, request: Value?)>(start: nil, count: 0)

    init(initial: Value) {
        self.initial = initial
        value = initial
    }

    mutating func join(model: Int) {
        guard first != nil else {
            first = (model, nil)
            return
        }
        replaceOthers(Array(others) + [(model, nil)])
    }

    /// Removes `model`'s contribution and settles.
    mutating func leave(model: Int) -> (from: Value, to: Value)? {
        var kept = Array(others)
        if let held = first, held.model != model { kept.insert(held, at: 0) }
        kept.removeAll { $0.model == model }
        first = kept.first
        replaceOthers(Array(kept.dropFirst()))
        return settle()
    }

    private mutating func replaceOthers(_ contributions: [(model: Int, request: Value?)]) {
        others.deinitialize().deallocate()
        others = contributions.isEmpty ? UnsafeMutableBufferPointer(start: nil, count: 0) : .allocate(capacity: contributions.count)
        _ = others.initialize(from: contributions)
    }

    /// How many models hold it.
    var contributorCount: Int { (first == nil ? 0 : 1) + others.count }

    /// Frees the contributions (the owner frees the quantity after this).
    mutating func release() {
        first = nil
        replaceOthers([])
    }

    /// Sets `model`'s contribution and settles: the change of the physical
    /// value, if any.
    @inline(__always)
    mutating func contribute(_ request: Value?, model: Int) -> (from: Value, to: Value)? {
        if first?.model == model {
            first = (model, request)
        } else {
            for index in others.indices where others[index].model == model {
                others[index].request = request
                break
            }
        }
        return settle()
    }

    @inline(__always)
    private mutating func settle() -> (from: Value, to: Value)? {
        var highest = first?.request
        for index in others.indices {
            guard let request = others[index].request else { continue }
            if let current = highest { highest = max(current, request) } else { highest = request }
        }
        let derived = highest ?? initial
        let old = value
        guard derived != old else { return nil }
        value = derived
        return (old, derived)
    }
}

/// A SharedQuantity as the registry frees it, whatever its value type.
protocol QuantityCell {
    static func free(_ cell: UnsafeMutableRawPointer)
}

extension SharedQuantity: QuantityCell {
    static func free(_ cell: UnsafeMutableRawPointer) {
        let typed = cell.assumingMemoryBound(to: Self.self)
        typed.pointee.release()
        typed.deinitialize(count: 1)
        typed.deallocate()
    }
}

/// The owner's bookkeeping, only under HostState.lock (which is what makes
/// the unchecked Sendable true: the pointers in it are reached nowhere else).
struct Registry: @unchecked Sendable {
    /// What the owner keeps per host resource.
    struct Entry {
        /// How many attached models hold it (a model holds a key once: a
        /// repeat within one model is its own key). Which ones, `status`
        /// finds from the models' keys (PlatformSnapshot.swift): a list here
        /// would cost an array per host resource for what only status reads.
        var holderCount = 0
        /// Per quantity (the unit's channel number): a SharedQuantity and its
        /// type, which frees it.
        var quantities: [(cell: UnsafeMutableRawPointer, type: any QuantityCell.Type)?] = []
        /// Whose turn it is to act on the resource (HostTurns.swift); freed
        /// with the entry.
        var turn: UnsafeMutablePointer<ResourceTurn>? = nil
    }

    /// An attached model: where its units' state is, its agents, and each
    /// unit's keys (per unit position, per resource).
    struct Model {
        let storage: UnsafeBufferPointer<UnitStorage>
        let agents: [AgentInfo]
        let keys: [[HostResourceKey]]
    }

    var entries: [HostResourceKey: Entry] = [:]
    var models: [Int: Model] = [:]
    var nextModel = 0
}

/// What a unit's state is given to share its quantities with the owner
/// (UnitState.attach and .detach); valid while HostState.lock is held.
struct Attachment {
    /// The model's serial in the owner.
    let model: Int
    /// Per resource of the unit: its host key.
    let keys: [HostResourceKey]
    let registry: UnsafeMutablePointer<Registry>

    /// Quantity `channel` of resource `resource`, created with `initial` when
    /// no model has it yet; the model joins it (contributing nothing).
    func join<Value>(channel: Int, resource: Int, initial: Value) -> UnsafeMutablePointer<SharedQuantity<Value>> {
        let key = keys[resource]
        let cell: UnsafeMutablePointer<SharedQuantity<Value>>
        // Changed in place in the dictionary (a copy of the entry would make
        // each append copy the array).
        let missing = channel + 1 - registry.pointee.entries[key].unsafelyUnwrapped.quantities.count
        if missing > 0 { registry.pointee.entries[key]!.quantities.append(contentsOf: repeatElement(nil, count: missing)) }
        if let existing = registry.pointee.entries[key].unsafelyUnwrapped.quantities[channel] {
            // The same unit's channel always has the same value type.
            precondition(ObjectIdentifier(existing.type) == ObjectIdentifier(SharedQuantity<Value>.self),
                         "\(key): quantity \(channel) changed type")
            cell = existing.cell.assumingMemoryBound(to: SharedQuantity<Value>.self)
        } else {
            cell = .allocate(capacity: 1)
            cell.initialize(to: SharedQuantity(initial: initial))
            registry.pointee.entries[key]!.quantities[channel] = (UnsafeMutableRawPointer(cell), SharedQuantity<Value>.self)
        }
        cell.pointee.join(model: model)
        return cell
    }
}

extension HostState {
    /// Attaches a model's units (at the platform's start): every resource
    /// joins its host resource, which is created when no model has it yet.
    /// Nothing physical changes: a new model has no request yet.
    func attach(storage: UnsafeBufferPointer<UnitStorage>, agents: [AgentInfo]) -> Int {
        lock.pointee.withLock { registry in
            let model = registry.nextModel
            registry.nextModel += 1
            var keys: [[HostResourceKey]] = []
            for (position, unit) in SCMIPlatform.unitList.enumerated() {
                guard let hooks = unit.resources else { keys.append([]); continue }
                var seen: [String: Int32] = [:]
                let unitKeys = hooks.keys(storage[position]).enumerated().map { resource, key in
                    let occurrence = seen[key, default: 0]
                    seen[key] = occurrence + 1
                    let hostKey = HostResourceKey(key: key, occurrence: occurrence, protocolID: unit.id)
                    registry.entries[hostKey, default: Registry.Entry()].holderCount += 1
                    if registry.entries[hostKey].unsafelyUnwrapped.turn == nil {
                        let turn = UnsafeMutablePointer<ResourceTurn>.allocate(capacity: 1)
                        turn.initialize(to: ResourceTurn())
                        registry.entries[hostKey]!.turn = turn
                    }
                    (storage[position].turns.unsafelyUnwrapped + resource).initialize(to: registry.entries[hostKey].unsafelyUnwrapped.turn.unsafelyUnwrapped)
                    return hostKey
                }
                keys.append(unitKeys)
                withUnsafeMutablePointer(to: &registry) { pointer in
                    hooks.attach(storage[position], Attachment(model: model, keys: unitKeys, registry: pointer))
                }
            }
            registry.models[model] = Registry.Model(storage: storage, agents: agents, keys: keys)
            return model
        }
    }

    /// Detaches a model (its platform is going): its contributions leave
    /// every quantity, and a host resource no other model holds leaves the
    /// owner. Returns the changes of physical state that causes (only when
    /// the model still had requests: its sessions did not end), per unit.
    func detach(model: Int) -> [(unit: Int, resource: Int, what: PhysicalChange.What)] {
        lock.pointee.withLock { registry in
            guard let record = registry.models.removeValue(forKey: model) else { return [] }
            var changes: [(unit: Int, resource: Int, what: PhysicalChange.What)] = []
            for (position, unit) in SCMIPlatform.unitList.enumerated() {
                guard let hooks = unit.resources else { continue }
                withUnsafeMutablePointer(to: &registry) { pointer in
                    hooks.detach(record.storage[position], Attachment(model: model, keys: record.keys[position], registry: pointer)) {
                        changes.append((position, $0, $1))
                    }
                }
                for key in record.keys[position] {
                    guard var entry = registry.entries[key] else { continue }
                    entry.holderCount -= 1
                    if entry.holderCount == 0 {
                        for case let quantity? in entry.quantities { quantity.type.free(quantity.cell) }
                        entry.turn?.deinitialize(count: 1).deallocate()
                        registry.entries[key] = nil
                    } else {
                        registry.entries[key] = entry
                    }
                }
            }
            return changes
        }
    }
}

/// A platform's view of the owner's lock: `withLock` holds HostState.lock and
/// hands out this platform's SharedState, the proof the rest of the engine
/// asks for before it reaches a unit's state (AgentSession.state(_:_:)).
struct StateLock: @unchecked Sendable {
    /// HostState.lock; the platform keeps its owner alive.
    let lock: UnsafeMutablePointer<Mutex<Registry>>
    /// HostState.book, under the same lock.
    let book: UnsafeMutablePointer<TurnBook>
    /// This platform's permissions; allocated with the platform, only under the lock.
    let shared: UnsafeMutablePointer<SharedState>

    @inline(__always)
    func withLock<Result>(_ body: (inout SharedState) -> Result) -> Result {
        lock.pointee.withLock { _ in body(&shared.pointee) }
    }

    /// With the registry too (snapshot: other models' requests).
    func withRegistry<Result>(_ body: (inout SharedState, Registry) -> Result) -> Result {
        var result: Result? = nil
        lock.pointee.withLock { registry in result = body(&shared.pointee, registry) }
        return result.unsafelyUnwrapped
    }
}
