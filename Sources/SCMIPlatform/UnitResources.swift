import ResourceTables

// What a protocol unit with resources owns on one platform (docs/architecture.md,
// "Protocol units"): its slice of the catalog, built by the unit from the
// tables and read without the lock, and its state (requests, arbiters, the
// physical state), changed only under the platform's lock. Both live in
// memory the platform allocates once and frees when it goes, reached by the
// unit's position in SCMIPlatform.unitList and typed by the unit itself: a
// message reads them through a plain pointer, with no reference counting,
// no existential and no allocation.
//
// Withdrawal, the snapshot rows of `status` and the names in change reports
// are the unit's too; SCMIPlatform only walks the units in order.

/// The resources one protocol serves: a ProtocolUnit whose `resources` hooks
/// are made from one of these (ResourceHooks(ClockProtocol.self)).
protocol ResourceModel: SendableMetatype {
    /// One resource as the catalog describes it (immutable).
    associatedtype Resource: CatalogResource & Sendable
    /// Every resource's requests and physical state (under the lock).
    associatedtype State: UnitState & Sendable

    static var id: ProtocolID { get }
    /// How the resources are named in traces, `status` and its JSON.
    static var vocabulary: ResourceVocabulary { get }
    /// The unit's slice of the catalog. `holders[i]`: indices of the devices
    /// that hold resource id `i` of this protocol.
    static func catalog(_ tables: PlatformTables, holders: [[Int]]) -> [Resource]
    /// The state with nobody having asked for anything.
    static func initialState(_ resources: UnsafeBufferPointer<Resource>, agentCount: Int) -> State
    /// Frees what a resource holds outside Swift's reference counting (a
    /// list in unsafe memory); called once, when the platform goes.
    static func release(_ resource: Resource)
}

extension ResourceModel {
    static func release(_ resource: Resource) {}
}

/// What every resource in a catalog slice has.
protocol CatalogResource {
    var name: String { get }
    /// Indices (into Catalog.devices) of the devices that hold it.
    var devices: [Int] { get }
    /// What the host resource is, stable across reloads (HostState.swift):
    /// models that give two resources of a protocol the same key share one
    /// physical state. The provider's path and cells where the tables have
    /// them; by default the name.
    var hostKey: String { get }
}

extension CatalogResource {
    var hostKey: String { name }
}

/// The host key of a resource named by a provider and specifier cells:
/// "/soc/clock-controller@10000000 2".
func providerKey(_ path: String, _ cells: [UInt32]) -> String {
    ([path] + cells.map { String($0) }).joined(separator: " ")
}

/// A unit's mutable state: every agent's requests on every resource and the
/// physical state derived from them. The lock is held for every call.
protocol UnitState {
    /// Withdraws every request `agent` holds on the resources `covers`
    /// accepts, resource by resource, calling `report` with each change of
    /// physical state. The withdrawal holds the turns of those resources
    /// (HostTurns.swift); a request made on another since it took them stays.
    mutating func withdraw(agent: Int, covers: (_ resource: Int) -> Bool, report: (_ resource: Int, PhysicalChange.What) -> Void)
    /// Calls `body` with every resource a withdrawal of `agent` could change
    /// physically: those it holds a request on, and for a rule over several
    /// resources (coupled rails) the others the rule moves with them; a
    /// resource may be named more than once.
    func holdings(agent: Int, _ body: (_ resource: Int) -> Void)
    /// Resource `resource`'s physical state and the requests that hold it.
    func snapshot(resource: Int, agents: [AgentInfo]) -> (on: Bool?, value: Int64?, requests: [ResourceRequest])
    /// Joins the owner's shared quantities, one per arbitrated quantity
    /// (numbered by the unit, the same for every model), at the platform's start.
    mutating func attach(_ owner: Attachment)
    /// Leaves them when the platform goes, calling `report` with each change
    /// of physical state that causes (only when requests were still held).
    mutating func detach(report: (_ resource: Int, PhysicalChange.What) -> Void)
}

/// The typed hooks of a ProtocolUnit that has resources, made from its model
/// once per process (the closures capture nothing but the model's type).
struct ResourceHooks: Sendable {
    let vocabulary: ResourceVocabulary
    /// Builds the unit's catalog slice and initial state for one platform.
    let make: @Sendable (PlatformTables, _ agentCount: Int) -> UnitStorage
    /// Frees what `make` allocated.
    let free: @Sendable (UnitStorage) -> Void
    /// See UnitState.withdraw and .holdings; the lock is held.
    let withdraw: @Sendable (UnitStorage, _ agent: Int, _ covers: (_ resource: Int) -> Bool,
                             _ report: (_ resource: Int, PhysicalChange.What) -> Void) -> Void
    let holdings: @Sendable (UnitStorage, _ agent: Int, _ body: (_ resource: Int) -> Void) -> Void
    /// Every resource as a `status` row; the lock is held.
    let snapshot: @Sendable (UnitStorage, [AgentInfo]) -> [ResourceSnapshot]
    /// Resource `id`'s name, nil for an id the catalog does not have.
    let name: @Sendable (UnitStorage, UInt32) -> String?
    /// Every resource's host key (CatalogResource.hostKey).
    let keys: @Sendable (UnitStorage) -> [String]
    /// See UnitState.attach and .detach; the owner's lock is held.
    let attach: @Sendable (UnitStorage, Attachment) -> Void
    let detach: @Sendable (UnitStorage, Attachment, _ report: (_ resource: Int, PhysicalChange.What) -> Void) -> Void
    /// The requests on resource `resource`, as its snapshot row lists them; the lock is held.
    let requests: @Sendable (UnitStorage, _ resource: Int, [AgentInfo]) -> [ResourceRequest]

    init<Model: ResourceModel>(_ model: Model.Type) {
        vocabulary = Model.vocabulary
        make = { tables, agentCount in
            let resources = UnsafeBufferPointer(immortalCopyOf: Model.catalog(tables, holders: tables.holders(of: Model.id)))
            let state = UnsafeMutablePointer<Model.State>.allocate(capacity: 1)
            state.initialize(to: Model.initialState(resources, agentCount: agentCount))
            return UnitStorage(resources: UnsafeRawPointer(resources.baseAddress), count: resources.count, state: UnsafeMutableRawPointer(state),
                               turns: .allocate(capacity: Swift.max(resources.count, 1)))
        }
        free = { storage in
            let resources = storage.resources(Model.self)
            for resource in resources { Model.release(resource) }
            UnsafeMutableBufferPointer(mutating: resources).deinitialize().deallocate()
            let state = storage.state.unsafelyUnwrapped.assumingMemoryBound(to: Model.State.self)
            state.deinitialize(count: 1)
            state.deallocate()
            // The turns are the owner's (freed with its entries); these are only pointers to them.
            storage.turns?.deallocate()
        }
        withdraw = { storage, agent, covers, report in
            storage.state.unsafelyUnwrapped.assumingMemoryBound(to: Model.State.self).pointee.withdraw(agent: agent, covers: covers, report: report)
        }
        holdings = { storage, agent, body in
            storage.state.unsafelyUnwrapped.assumingMemoryBound(to: Model.State.self).pointee.holdings(agent: agent, body)
        }
        snapshot = { storage, agents in
            let resources = storage.resources(Model.self)
            let state = storage.state.unsafelyUnwrapped.assumingMemoryBound(to: Model.State.self)
            return resources.indices.map { index in
                let row = state.pointee.snapshot(resource: index, agents: agents)
                return ResourceSnapshot(id: UInt32(index), name: resources[index].name, on: row.on, value: row.value, requests: row.requests)
            }
        }
        name = { storage, id in
            let resources = storage.resources(Model.self)
            return id < UInt32(resources.count) ? resources[Int(id)].name : nil
        }
        keys = { storage in storage.resources(Model.self).map(\.hostKey) }
        attach = { storage, owner in
            storage.state.unsafelyUnwrapped.assumingMemoryBound(to: Model.State.self).pointee.attach(owner)
        }
        detach = { storage, _, report in
            storage.state.unsafelyUnwrapped.assumingMemoryBound(to: Model.State.self).pointee.detach(report: report)
        }
        requests = { storage, resource, agents in
            storage.state.unsafelyUnwrapped.assumingMemoryBound(to: Model.State.self).pointee.snapshot(resource: resource, agents: agents).requests
        }
    }
}

/// One unit's catalog slice and state on one platform, untyped; the unit's
/// model types them (resources(_:), SharedState.state(_:at:)).
struct UnitStorage: @unchecked Sendable {
    /// `count` × Model.Resource, immutable.
    let resources: UnsafeRawPointer?
    let count: Int
    /// One Model.State, only under the lock; nil for a unit without resources.
    let state: UnsafeMutableRawPointer?
    /// Per resource: its host resource's turn (HostTurns.swift), set when the
    /// platform attaches to its owner; the turns are read only under the lock.
    let turns: UnsafeMutablePointer<UnsafeMutablePointer<ResourceTurn>>?
    /// Per resource: whether its value is read from the host
    /// (HostInterface.readsHardware); nil when no resource's is. Set by the
    /// platform once its host was asked, freed with it; read without the lock.
    var hardwareReads: UnsafeMutablePointer<Bool>? = nil

    /// Whether resource `index`'s value is read from the host.
    @inline(__always)
    func readsHardware(_ index: Int) -> Bool {
        guard let hardwareReads else { return false }
        return hardwareReads[index]
    }

    /// A unit without resources.
    static let none = UnitStorage(resources: nil, count: 0, state: nil, turns: nil)

    @inline(__always)
    func resources<Model: ResourceModel>(_: Model.Type) -> UnsafeBufferPointer<Model.Resource> {
        UnsafeBufferPointer(start: resources?.assumingMemoryBound(to: Model.Resource.self), count: count)
    }
}

extension PlatformTables {
    /// Device indices holding each id of `protocolID`'s table, ignoring
    /// references past the table (hand-built tables may have them).
    func holders(of protocolID: ProtocolID) -> [[Int]] {
        let count = resourceCount(of: protocolID)
        var result = Array(repeating: [Int](), count: count)
        for (index, device) in devices.enumerated() {
            for reference in device.resources where reference.protocolID == protocolID {
                let id = Int(reference.id)
                // Devices are visited in order, so a repeat can only be the last one added.
                if id < count, result[id].last != index { result[id].append(index) }
            }
        }
        return result
    }
}

extension AgentSession {
    /// The catalog slice of `Model`'s unit (read without the lock).
    @inline(__always)
    func resources<Model: ResourceModel>(_ model: Model.Type) -> UnsafeBufferPointer<Model.Resource> {
        platform.storage[Int(unitIndex[Int(Model.id.rawValue)])].resources(model)
    }

    /// The index of resource `id` of `Model`, nil past the end (NOT_FOUND).
    @inline(__always)
    func resourceIndex<Model: ResourceModel>(_ model: Model.Type, _ id: UInt32) -> Int? {
        id < UInt32(platform.storage[Int(unitIndex[Int(Model.id.rawValue)])].count) ? Int(id) : nil
    }

    /// The turn of resource `index` of `Model` (HostTurns.swift); only read
    /// or changed with the lock held.
    @inline(__always)
    func turn<Model: ResourceModel>(_ model: Model.Type, _ index: Int) -> UnsafeMutablePointer<ResourceTurn> {
        turns(model)[index]
    }

    /// Every resource's turn of `Model`, by index (one look-up for a loop over several).
    @inline(__always)
    func turns<Model: ResourceModel>(_: Model.Type) -> UnsafeMutablePointer<UnsafeMutablePointer<ResourceTurn>> {
        platform.storage[Int(unitIndex[Int(Model.id.rawValue)])].turns.unsafelyUnwrapped
    }

    /// `Model`'s unit state; `locked` is the state the platform's lock hands
    /// out, so that the unit's state is only reached with the lock held.
    @inline(__always)
    func state<Model: ResourceModel>(_: Model.Type, _ locked: inout SharedState) -> UnsafeMutablePointer<Model.State> {
        platform.storage[Int(unitIndex[Int(Model.id.rawValue)])].state.unsafelyUnwrapped.assumingMemoryBound(to: Model.State.self)
    }
}
