import ResourceTables
// Header, status, limits, ids and names are SCMIWire's; re-exported so that
// code that imports the engine sees them as before they moved.
@_exported import SCMIWire
import Synchronization

// The embedded SCMI platform: one per served blob, shared by every agent's
// session. Immutable facts live in `catalog` and in each unit's catalog slice
// (read without a lock); requests and permissions are guarded by one lock,
// its owner's (HostState), which every state-reading or state-changing
// message takes once. The physical state is the owner's, shared with the
// other platforms attached to it (serve's models before and after a reload).
// Each protocol unit's slice and state are in `storage`, at the unit's
// position in unitList (UnitResources.swift).

/// The SCMI platform ("server") behind serve. It knows nothing of sockets or rings:
/// an AgentSession turns one request buffer into one response buffer.
public final class SCMIPlatform: Sendable {
    // No PlatformTables is kept: their entries spell host node paths through the
    // indexed devicetree, which a running serve would otherwise carry for good.
    let catalog: Catalog
    /// This platform's permissions and units' state, under its owner's lock.
    let state: StateLock
    /// Per unit (SCMIPlatform.unitList order): its catalog slice and state.
    /// Allocated here, freed in deinit; its state only under `state`'s lock.
    nonisolated(unsafe) let storage: UnsafeBufferPointer<UnitStorage>
    let onPhysicalChange: (@Sendable (PhysicalChange) -> Void)?
    /// Told, in words, when the host fails the platform (a sensor's file
    /// cannot be read, and when it reads again): one line per cause.
    let onHostFault: (@Sendable (String) -> Void)?
    /// The physical state of the host's resources, shared with every other
    /// platform attached to the same owner (HostState.swift).
    public let owner: HostState
    /// This platform's serial in its owner.
    let model: Int
    /// The owner's host, kept here so that a SET reaches it without going
    /// through the owner.
    let host: any HostInterface
    /// Per agent (catalog order): where its platform → agent messages go.
    let sinks: [SinkSlot]
    /// Subscriptions held by every agent together: 0 spares every change the
    /// look for subscribers (Notifications.swift).
    let subscriptionCount = Atomic<Int>(0)
    /// Reads watched sensors and answers asynchronous readings, on a thread
    /// of its own started when first needed (SensorPoller.swift).
    let sensorPoller: SensorPoller

    /// A platform that is the only model of its host: `host` applies every
    /// change of a resource's physical state.
    /// `onPhysicalChange` is called once per change the host applied, in the
    /// order the changes of each resource happen (changes of different
    /// resources may be reported from different threads at once). It is
    /// called with the resource's turn held (not with the state lock), so it
    /// must not change this platform's state (a session's handle()); logging a
    /// line is what it is for.
    /// `onHostFault` gets a line for each host failure that starts (serve logs it).
    public convenience init(tables: PlatformTables, host: any HostInterface = InMemoryHost(),
                            onPhysicalChange: (@Sendable (PhysicalChange) -> Void)? = nil,
                            onHostFault: (@Sendable (String) -> Void)? = nil) {
        self.init(tables: tables, owner: HostState(host: host), onPhysicalChange: onPhysicalChange, onHostFault: onHostFault)
    }

    /// A platform whose resources' physical state is `owner`'s: shared with
    /// every other platform attached to it (serve's models before and after a
    /// reload), applied by its host. `onPhysicalChange` and `onHostFault` as
    /// above, for this platform's agents and resources.
    public init(tables: PlatformTables, owner: HostState, onPhysicalChange: (@Sendable (PhysicalChange) -> Void)? = nil,
                onHostFault: (@Sendable (String) -> Void)? = nil) {
        self.owner = owner
        self.onHostFault = onHostFault
        let catalog = Catalog(tables: tables)
        self.catalog = catalog
        host = owner.host
        let agentCount = catalog.agents.count
        let storage = UnsafeMutableBufferPointer<UnitStorage>.allocate(capacity: Self.unitList.count)
        var eventResourceCounts: [Int] = []
        for (position, unit) in Self.unitList.enumerated() {
            var made = unit.resources?.make(tables, agentCount) ?? .none
            made.hardwareReads = Self.hardwareReads(owner.host, unit.id, count: made.count)
            (storage.baseAddress! + position).initialize(to: made)
            eventResourceCounts += unit.events.map { _ in storage[position].count }
        }
        self.storage = UnsafeBufferPointer(storage)
        let shared = UnsafeMutablePointer<SharedState>.allocate(capacity: 1)
        shared.initialize(to: SharedState(
            catalog: catalog, subscriptions: Subscriptions(resourceCounts: eventResourceCounts, agentCount: agentCount)))
        self.state = StateLock(lock: owner.lock, book: owner.book, shared: shared)
        sinks = catalog.agents.map { _ in SinkSlot() }
        sensorPoller = SensorPoller(sensorCount: storage[Int(Self.unitIndex[Int(ProtocolID.sensor.rawValue)])].count, agentCount: agentCount)
        self.onPhysicalChange = onPhysicalChange
        model = owner.attach(storage: self.storage, agents: catalog.agents)
    }

    deinit {
        sensorPoller.stop()
        // Sessions withdraw their requests when they end, so leaving the
        // owner changes nothing physical; a platform dropped with requests
        // still held gives them up here, and the host is told. No turn is
        // taken for that (this may run on the host-action thread, which
        // other turns wait for): only an embedder that drops sessions without
        // end() gets here with requests, and then its changes are not ordered
        // with other models' actions on the same resources.
        for change in owner.detach(model: model) {
            let reported = PhysicalChange(Self.unitList[change.unit].id, resource: UInt32(change.resource), change.what,
                                          agent: 0, cause: .disconnect)
            _ = host.apply(reported)
            report(reported)
        }
        for (position, unit) in Self.unitList.enumerated() {
            unit.resources?.free(storage[position])
            storage[position].hardwareReads?.deallocate()
        }
        UnsafeMutableBufferPointer(mutating: storage).deallocate()
        state.shared.deinitialize(count: 1)
        state.shared.deallocate()
    }

    /// Per resource of protocol `id`: whether `host` reads its value
    /// (HostInterface.readsHardware); nil when it reads none, so that a unit
    /// of model resources pays one nil test per read.
    private static func hardwareReads(_ host: any HostInterface, _ id: ProtocolID, count: Int) -> UnsafeMutablePointer<Bool>? {
        let flags = (0 ..< count).map { host.readsHardware(id, UInt32($0)) }
        guard flags.contains(true) else { return nil }
        let pointer = UnsafeMutablePointer<Bool>.allocate(capacity: count)
        pointer.initialize(from: flags, count: count)
        return pointer
    }

    /// The SCMI id of the agent called `name`, nil when none is declared.
    public func agentID(named name: String) -> UInt32? {
        catalog.agents.first { $0.name == name }?.id
    }

    /// One session per connection; nil when the agent id is not declared.
    /// serve keeps one connection per agent at a time and ends a session
    /// (withdrawing its requests) before the agent's next one starts.
    /// `transport` is what the connection's transport can carry; by default
    /// virtio-scmi without VIRTIO_SCMI_F_P2A_CHANNELS.
    public func makeSession(agentID: UInt32, transport: TransportCapabilities = .virtioWithoutP2A) -> AgentSession? {
        guard let index = catalog.agentIndex(id: agentID) else { return nil }
        return AgentSession(platform: self, agent: index, transport: transport)
    }

    /// `change` with the resource's name, for serve's trace:
    /// `clock 3 "usb-core" rate 24000000 Hz -> 48000000 Hz (agent 1, request)`.
    public func describe(_ change: PhysicalChange) -> String {
        let position = Int(Self.unitIndex[Int(change.protocolID.rawValue)])
        let name = position < 0 ? nil : Self.unitList[position].resources?.name(storage[position], change.resource)
        return change.describe(name: name)
    }

    /// The words protocol `id`'s unit names its resources with; nil for a
    /// protocol without resources.
    static func vocabulary(of id: ProtocolID) -> ResourceVocabulary? {
        let position = Int(unitIndex[Int(id.rawValue)])
        return position < 0 ? nil : unitList[position].resources?.vocabulary
    }

    func report(_ change: PhysicalChange) {
        onPhysicalChange?(change)
    }

    func reportHostFault(_ line: String) {
        onHostFault?(line)
    }
}

/// What handle() did with one request.
public struct MessageOutcome: Hashable, Sendable {
    /// Bytes written into the response space; 0 ⇒ the chain goes back with len 0.
    public var responseLength: Int
    /// nil when the request had fewer than 4 bytes.
    public var header: MessageHeader?
    /// nil when nothing was written.
    public var status: SCMIStatus?

    public init(responseLength: Int, header: MessageHeader?, status: SCMIStatus?) {
        self.responseLength = responseLength
        self.header = header
        self.status = status
    }
}

/// What a session's transport can do, told to the engine by whoever owns the
/// transport (VirtioSCMI, ServeRuntime) instead of the engine assuming it.
public struct TransportCapabilities: Hashable, Sendable {
    /// Largest payload (after the header; after the status in a response)
    /// the transport carries: requests longer than 4 + this are
    /// PROTOCOL_ERROR, replies are cut to 8 + this (paginated replies return
    /// fewer entries).
    public var maxPayload: Int
    /// Whether platform → agent notifications can be delivered (an eventq).
    public var deliversNotifications: Bool
    /// Whether delayed responses to asynchronous commands can be delivered.
    public var deliversDelayedResponses: Bool
    // Without notifications the *_NOTIFY commands answer NOT_SUPPORTED (and
    // are NOT_FOUND in PROTOCOL_MESSAGE_ATTRIBUTES); without delayed
    // responses every asynchronous flag does (docs/protocol.md §15).

    public init(maxPayload: Int, deliversNotifications: Bool, deliversDelayedResponses: Bool) {
        self.maxPayload = max(0, maxPayload)
        self.deliversNotifications = deliversNotifications
        self.deliversDelayedResponses = deliversDelayedResponses
    }

    /// virtio-scmi without VIRTIO_SCMI_F_P2A_CHANNELS: 128-byte payloads
    /// (VIRTIO_SCMI_MAX_PDU_SIZE), no eventq, so neither notifications nor
    /// delayed responses (the *_NOTIFY commands and asynchronous flags answer
    /// NOT_SUPPORTED, docs/protocol.md §15).
    public static let virtioWithoutP2A = TransportCapabilities(
        maxPayload: SCMILimits.maxPayload, deliversNotifications: false, deliversDelayedResponses: false)

    /// virtio-scmi with VIRTIO_SCMI_F_P2A_CHANNELS negotiated: the eventq
    /// carries notifications and delayed responses.
    public static let virtioWithP2A = TransportCapabilities(
        maxPayload: SCMILimits.maxPayload, deliversNotifications: true, deliversDelayedResponses: true)
}
