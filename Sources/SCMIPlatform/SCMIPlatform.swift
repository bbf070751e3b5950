import ResourceTables
// Header, status, limits, ids and names are SCMIWire's; re-exported so that
// code that imports the engine sees them as before they moved.
@_exported import SCMIWire
import Synchronization

// The embedded SCMI platform: one per served blob, shared by every agent's
// session. Immutable facts live in `catalog` (read without a lock); requests,
// permissions and physical state live in one Mutex, which every state-reading
// or state-changing message takes once.

/// The SCMI platform ("server") behind serve. It knows nothing of sockets or rings:
/// an AgentSession turns one request buffer into one response buffer.
public final class SCMIPlatform: Sendable {
    public let tables: PlatformTables
    let catalog: Catalog
    let state: Mutex<SharedState>
    let onPhysicalChange: (@Sendable (PhysicalChange) -> Void)?

    /// `onPhysicalChange` is called once per change of a resource's physical
    /// state, in the order the changes happen. It is called with the state
    /// lock held, so it must not call back into this platform (snapshot(),
    /// a session's handle()); logging a line is what it is for.
    public init(tables: PlatformTables, onPhysicalChange: (@Sendable (PhysicalChange) -> Void)? = nil) {
        self.tables = tables
        self.catalog = Catalog(tables: tables)
        self.state = Mutex(SharedState(catalog: catalog))
        self.onPhysicalChange = onPhysicalChange
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
        switch change {
        case .clockEnabled(let id, _, _), .clockDisabled(let id, _, _), .clockRate(let id, _, _, _, _):
            let name = Int(id) < catalog.clocks.count ? catalog.clocks[Int(id)].name : nil
            return change.describe(clockName: name, domainName: nil)
        case .voltageOn(let id, _, _), .voltageOff(let id, _, _), .voltageLevel(let id, _, _, _, _):
            let name = Int(id) < catalog.voltageDomains.count ? catalog.voltageDomains[Int(id)].name : nil
            return change.describe(clockName: nil, domainName: name)
        }
    }

    func report(_ change: PhysicalChange) {
        onPhysicalChange?(change)
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
    // The engine sends neither notifications nor delayed responses yet, so
    // the *_NOTIFY commands and asynchronous flags answer NOT_SUPPORTED
    // whatever these say; they are what a protocol that sends them will check.

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
}
