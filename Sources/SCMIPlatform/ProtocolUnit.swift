// A protocol as the engine serves it, in the manner of Linux's struct
// scmi_protocol (drivers/firmware/arm_scmi/): its id, its version, and one
// table that names each message (by SCMIWire's enum case, which also gives the
// trace name), its handler and its payload size. Dispatch (NOT_FOUND for an
// id the table does not name, PROTOCOL_ERROR for a wrong size), the
// PROTOCOL_MESSAGE_ATTRIBUTES implemented set and the withdrawal of an
// agent's requests are all derived from the units in SCMIPlatform.unitList.
//
// Handlers are non-capturing closures ({ $0.rateGet($1, &$2) }), stored once in
// static tables: calling one allocates nothing and boxes nothing. The tables
// the hot path reads (each unit's messages, the units, the index by protocol
// id) are allocated once and never freed, so that reading them takes no
// reference count (an Array's buffer would be retained and released per
// message, which the Engine benchmark shows).

/// Answers one message: the session, the parameters, the reply being built.
typealias MessageHandler = @Sendable (AgentSession, Payload, inout Reply) -> SCMIStatus

/// Answers a *_NOTIFY command: the session, the event's position among its
/// unit's events, the parameters.
typealias SubscribeHandler = @Sendable (AgentSession, Int, Payload) -> SCMIStatus

/// The parameter bytes a message must carry; any other count is PROTOCOL_ERROR.
enum PayloadSize: Sendable {
    case exactly(Int)
    /// Two accepted forms (CLOCK_CONFIG_SET's v1/v2 and v3).
    case either(Int, Int)
    /// Not checked (messages answered NOT_SUPPORTED whatever they carry).
    case any

    func accepts(_ count: Int) -> Bool {
        switch self {
        case .exactly(let size): count == size
        case .either(let one, let other): count == one || count == other
        case .any: true
        }
    }
}

/// One row of a protocol's message table.
struct MessageEntry: Sendable {
    enum Kind: UInt8, Sendable {
        /// Not in the table: NOT_FOUND (only in the built table's gaps).
        case undefined
        /// Defined but not offered: NOT_SUPPORTED, and
        /// PROTOCOL_MESSAGE_ATTRIBUTES says NOT_FOUND for it.
        case notSupported
        case handled
        /// A *_NOTIFY command (derived from the unit's events): with P2A it
        /// subscribes to event `event` of the unit, else NOT_SUPPORTED and
        /// PROTOCOL_MESSAGE_ATTRIBUTES says NOT_FOUND.
        case subscribe
        /// A command that only makes sense with P2A (SENSOR_TRIP_POINT_CONFIG):
        /// handled when the session's transport delivers notifications, else
        /// as `.subscribe` without P2A.
        case handledWithP2A
    }

    let messageID: UInt8
    let kind: Kind
    let size: PayloadSize
    /// Called only for `.handled`.
    let handler: MessageHandler
    /// For `.subscribe`: the position of its event among the unit's events.
    var event: Int = 0

    /// A message this platform implements.
    static func handle<Message: SCMIMessage>(_ message: Message, size: PayloadSize, _ handler: @escaping MessageHandler) -> MessageEntry {
        MessageEntry(messageID: message.rawValue, kind: .handled, size: size, handler: handler)
    }

    /// A message handled only with P2A (NOT_SUPPORTED without it, and
    /// NOT_FOUND in PROTOCOL_MESSAGE_ATTRIBUTES).
    static func handleWithP2A<Message: SCMIMessage>(_ message: Message, size: PayloadSize, _ handler: @escaping MessageHandler) -> MessageEntry {
        MessageEntry(messageID: message.rawValue, kind: .handledWithP2A, size: size, handler: handler)
    }

    /// A message the spec defines that this platform answers NOT_SUPPORTED
    /// (notifications without an eventq, clock parents, …).
    static func notSupported<Message: SCMIMessage>(_ message: Message) -> MessageEntry {
        MessageEntry(messageID: message.rawValue, kind: .notSupported, size: .any, handler: unreachable)
    }

    /// A gap in the built table.
    static let undefined = MessageEntry(messageID: 0, kind: .undefined, size: .any, handler: unreachable)

    static let unreachable: MessageHandler = { _, _, _ in .notSupported }
}

struct ProtocolUnit: @unchecked Sendable {
    let id: ProtocolID
    let version: UInt32
    /// PROTOCOL_ATTRIBUTES (no parameters).
    let attributes: MessageHandler
    /// Indexed by message id; `.undefined` for an id the protocol does not
    /// define or this platform does not know (NOT_FOUND). Ids 0–2 are answered
    /// by dispatch.
    /// Immutable and never freed (units live as long as the process).
    let messages: UnsafeBufferPointer<MessageEntry>
    /// PROTOCOL_MESSAGE_ATTRIBUTES' set: bit n for message n with a handler,
    /// and the three common messages.
    let implemented: UInt32
    /// The *_NOTIFY commands (and `.handledWithP2A` ones), implemented only with P2A: added to
    /// `implemented` when the session's transport delivers notifications.
    let implementedWithP2A: UInt32
    /// For a protocol with resources: its catalog slice, state, withdrawal,
    /// snapshot rows and names (UnitResources.swift).
    let resources: ResourceHooks?
    /// What it can notify (Notifications.swift); each event's *_NOTIFY
    /// command joins the message table, handled by `subscribe`.
    let events: [NotificationEvent]
    /// Answers the *_NOTIFY commands of `events`.
    let subscribe: SubscribeHandler?

    init(_ id: ProtocolID, version: UInt32, attributes: @escaping MessageHandler,
         messages: [MessageEntry], resources: ResourceHooks? = nil,
         events: [NotificationEvent] = [], subscribe: SubscribeHandler? = nil) {
        self.id = id
        self.version = version
        self.attributes = attributes
        self.resources = resources
        self.events = events
        self.subscribe = subscribe
        precondition(events.isEmpty || subscribe != nil, "protocol \(id.rawValue) has events but no subscribe handler")
        let subscriptions = events.enumerated().map { position, event in
            MessageEntry(messageID: event.notifyMessageID, kind: .subscribe, size: .exactly(8), handler: MessageEntry.unreachable, event: position)
        }
        let all = messages + subscriptions
        var table = [MessageEntry](repeating: .undefined, count: Int(all.map(\.messageID).max() ?? 2) + 1)
        var implemented: UInt32 = 0x7
        var implementedWithP2A: UInt32 = 0
        for entry in all {
            precondition(entry.messageID > 2 && table[Int(entry.messageID)].kind == .undefined, "message table of protocol \(id.rawValue)")
            table[Int(entry.messageID)] = entry
            guard entry.messageID < 32 else { continue }
            if entry.kind == .handled { implemented |= 1 << UInt32(entry.messageID) }
            if entry.kind == .subscribe || entry.kind == .handledWithP2A { implementedWithP2A |= 1 << UInt32(entry.messageID) }
        }
        self.messages = UnsafeBufferPointer(immortalCopyOf: table)
        self.implemented = implemented
        self.implementedWithP2A = implementedWithP2A
    }

    /// Answers one message of protocol `unit` for `session`. Reads the unit
    /// through its pointer, field by field: copying a whole unit per message
    /// (its closures) would show in the Engine benchmark.
    static func dispatch(_ unit: UnsafePointer<ProtocolUnit>, _ session: AgentSession, _ messageID: UInt8,
                         _ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        switch messageID {
        case CommonMessage.protocolVersion.rawValue:
            guard payload.count == 0 else { return .protocolError }
            reply.append(unit.pointee.version)
            return .success
        case CommonMessage.protocolAttributes.rawValue:
            guard payload.count == 0 else { return .protocolError }
            return unit.pointee.attributes(session, payload, &reply)
        case CommonMessage.protocolMessageAttributes.rawValue:
            // SUCCESS with attributes 0 for a message this platform implements,
            // NOT_FOUND for any other (docs/protocol.md §4; what SCP-firmware
            // and scmi-tests expect).
            guard payload.count == 4 else { return .protocolError }
            let asked = payload.word(0)
            let implemented = unit.pointee.implemented | (session.deliversNotifications ? unit.pointee.implementedWithP2A : 0)
            guard asked < 32, implemented & (1 << asked) != 0 else { return .notFound }
            reply.append(UInt32(0))
            return .success
        default:
            let messages = unit.pointee.messages
            let index = Int(messageID)
            guard index < messages.count else { return .notFound }
            let entry = messages.baseAddress.unsafelyUnwrapped + index
            switch entry.pointee.kind {
            case .undefined: return .notFound
            case .notSupported: return .notSupported
            case .handled: break
            case .handledWithP2A:
                guard session.deliversNotifications else { return .notSupported }
            case .subscribe:
                // Without P2A whatever it carries (docs/protocol.md §15).
                guard session.deliversNotifications else { return .notSupported }
                guard entry.pointee.size.accepts(payload.count) else { return .protocolError }
                return unit.pointee.subscribe.unsafelyUnwrapped(session, entry.pointee.event, payload)
            }
            guard entry.pointee.size.accepts(payload.count) else { return .protocolError }
            return entry.pointee.handler(session, payload, &reply)
        }
    }
}

extension SCMIPlatform {
    /// Every protocol the engine answers, by id: the list of units. A new
    /// protocol is a file with its unit and one line here (and, if it enables through the
    /// binding, its id in BackendModel's list); a protocol with resources also
    /// builds them from PlatformTables (UnitResources.swift).
    static let unitList: [ProtocolUnit] = [
        BaseProtocol.unit,
        PowerDomainProtocol.unit,
        PerformanceProtocol.unit,
        ClockProtocol.unit,
        SensorProtocol.unit,
        ResetProtocol.unit,
        VoltageProtocol.unit,
    ]

    /// `unitList`, as the hot path reads it (AgentSession keeps the pointer).
    nonisolated(unsafe) static let units = UnsafeBufferPointer(immortalCopyOf: unitList)

    /// Index into `units` per protocol id (0x00–0xFF), -1 for none.
    nonisolated(unsafe) static let unitIndex: UnsafeBufferPointer<Int8> = {
        var index = [Int8](repeating: -1, count: 256)
        for (position, unit) in unitList.enumerated() { index[Int(unit.id.rawValue)] = Int8(position) }
        return UnsafeBufferPointer(immortalCopyOf: index)
    }()
}

extension UnsafeBufferPointer {
    /// A copy of `elements` in memory that is never freed: for tables built
    /// once per process and read on every message.
    init(immortalCopyOf elements: [Element]) {
        let storage = UnsafeMutableBufferPointer<Element>.allocate(capacity: Swift.max(elements.count, 1))
        _ = storage.initialize(from: elements)
        self.init(start: storage.baseAddress, count: elements.count)
    }
}
