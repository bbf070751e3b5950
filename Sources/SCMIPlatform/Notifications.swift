import Synchronization

// Platform → agent messages (docs/serve.md, "Notifications and delayed
// responses"), in the manner of Linux's notify.c turned around: each agent
// subscribes per (protocol, event, resource) with the protocol's *_NOTIFY
// command; a unit declares its events in its table (NotificationEvent: the
// notification id, the command that subscribes, who gets it and, for events
// that follow a change of physical state, how the change becomes a payload).
// The engine finds the subscribers under the state lock and posts each
// message into the agent's sink after releasing it. A sink is whatever the
// transport delivers with (VirtioSCMI's SCMIOutbox, into the eventq): the
// engine never sees a ring. Building and posting a message allocates nothing.

/// What kind of platform → agent message a sink is given.
public enum PlatformMessageKind: Sendable {
    /// Type 3: may be dropped when the agent does not take its messages.
    case notification
    /// Type 2: never dropped (at most `SCMIPlatform.maxPendingAsync` wait per agent).
    case delayedResponse
}

/// Where one agent's platform → agent messages go (a transport's queue).
/// Called from any thread, never with the platform's state lock held.
public protocol PlatformMessageSink: AnyObject, Sendable {
    /// Queues `message` (header + payload), copying it. False when it was not taken.
    @discardableResult
    func post(_ message: UnsafeRawBufferPointer, kind: PlatformMessageKind) -> Bool
    /// Delayed responses posted and not yet delivered: the agent's pending
    /// asynchronous commands.
    var delayedResponsesWaiting: Int { get }
    /// Messages delivered, waiting and dropped so far, for `status`.
    var deliveryCounters: DeliveryCounters { get }
}

/// A sink's counters.
public struct DeliveryCounters: Hashable, Sendable {
    public var sent: UInt64
    public var waiting: Int
    public var dropped: UInt64

    public init(sent: UInt64, waiting: Int, dropped: UInt64) {
        self.sent = sent
        self.waiting = waiting
        self.dropped = dropped
    }
}

/// One platform → agent message being built: header and up to 11 payload
/// words, inline (a value on the stack, never on the heap).
struct PlatformMessage {
    private var words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    private(set) var count = 1

    init(header: MessageHeader) { words.0 = header.rawValue.littleEndian }

    mutating func append(_ value: UInt32) {
        precondition(count < 12, "platform message longer than 11 words")
        withUnsafeMutableBytes(of: &words) { $0.storeBytes(of: value.littleEndian, toByteOffset: count * 4, as: UInt32.self) }
        count += 1
    }

    mutating func append(_ value: Int32) { append(UInt32(bitPattern: value)) }

    mutating func append(_ value: UInt64) {
        append(UInt32(truncatingIfNeeded: value))
        append(UInt32(truncatingIfNeeded: value >> 32))
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: words) { body(UnsafeRawBufferPointer(rebasing: $0[0..<count * 4])) }
    }
}

/// One event a unit can notify, declared in its table. The command that
/// subscribes to it (`subscribedBy`, payload {resource id, notify_enable}) is
/// derived from it: NOT_SUPPORTED without P2A, else NOT_FOUND for an unknown
/// resource, DENIED for one the agent may not use, INVALID_PARAMETERS for bits
/// other than bit 0 of notify_enable.
struct NotificationEvent: Sendable {
    enum Recipients: Sendable {
        /// Every subscribed agent, the one that caused it included.
        case everyone
        /// Subscribed agents other than the one that caused it.
        case others
        /// Only the agent that caused it, if subscribed (its own limits changed).
        case causingAgent

        /// Whether subscribed agent `agent` gets an event `causing` caused.
        @inline(__always) func include(_ agent: Int, causing: Int?) -> Bool {
            switch self {
            case .everyone: true
            case .others: agent != causing
            case .causingAgent: agent == causing
            }
        }
    }

    let protocolID: ProtocolID
    let notificationID: UInt8
    let name: StaticString
    let notifyMessageID: UInt8
    let recipients: Recipients
    /// For an event that follows a change of physical state: appends the
    /// payload for `change` and returns true, or returns false when `change`
    /// is not this event's. Nil: the unit's handlers send it (SCMIPlatform.notify).
    let payload: (@Sendable (PhysicalChange, inout PlatformMessage) -> Bool)?

    init<Notification: SCMINotification, Message: SCMIMessage>(
        _ notification: Notification, subscribedBy message: Message, to recipients: Recipients,
        payload: (@Sendable (PhysicalChange, inout PlatformMessage) -> Bool)? = nil
    ) {
        protocolID = Notification.protocolID
        notificationID = notification.rawValue
        name = notification.name
        notifyMessageID = message.rawValue
        self.recipients = recipients
        self.payload = payload
    }
}

/// An agent's subscription, for `status`.
public struct SubscriptionSnapshot: Hashable, Sendable, Codable {
    public var protocolID: UInt8
    /// "CLOCK_RATE_CHANGED".
    public var event: String
    public var resource: UInt32
}

/// Per agent: whether its transport delivers platform → agent messages, what
/// it subscribed to and its sink's counters, for `status`.
public struct EventDeliverySnapshot: Hashable, Sendable {
    public var agentID: UInt32
    public var p2aNegotiated: Bool
    public var subscriptions: [SubscriptionSnapshot]
    public var notificationsSent: UInt64
    public var waiting: Int
    public var dropped: UInt64
    public var asyncPending: Int
}

/// One agent's sink, swapped when its connection starts or ends; posting
/// holds only this slot's lock, never the platform's state lock.
final class SinkSlot: Sendable {
    let sink = Mutex<(any PlatformMessageSink)?>(nil)
}

/// Every event of every unit, in unitList order, and who subscribed to what:
/// one bit per (event, agent, resource), sized at start.
struct Subscriptions: Sendable {
    /// Per event (SCMIPlatform.events order): where its bits start in `words`.
    let offsets: [Int]
    /// Per event: its unit's resource count.
    let resourceCounts: [Int]
    private var words: [UInt64]
    /// Per agent: how many flags it has set.
    var perAgent: [Int]

    init(resourceCounts: [Int], agentCount: Int) {
        var offsets: [Int] = []
        var total = 0
        for count in resourceCounts {
            offsets.append(total)
            total += count * agentCount
        }
        self.offsets = offsets
        self.resourceCounts = resourceCounts
        words = Array(repeating: 0, count: (total + 63) / 64)
        perAgent = Array(repeating: 0, count: agentCount)
    }

    @inline(__always) private func index(event: Int, agent: Int, resource: Int) -> Int {
        offsets[event] + agent * resourceCounts[event] + resource
    }

    /// Whether `agent` subscribed to `event` about `resource`.
    @inline(__always) func isSet(event: Int, agent: Int, resource: Int) -> Bool {
        let position = index(event: event, agent: agent, resource: resource)
        return words[position >> 6] & (1 << UInt64(position & 63)) != 0
    }

    mutating func set(event: Int, agent: Int, resource: Int, _ on: Bool) {
        guard isSet(event: event, agent: agent, resource: resource) != on else { return }
        let position = index(event: event, agent: agent, resource: resource)
        words[position >> 6] ^= 1 << UInt64(position & 63)
        perAgent[agent] += on ? 1 : -1
    }

    mutating func clear(agent: Int) {
        guard perAgent[agent] > 0 else { return }
        for event in offsets.indices {
            for resource in 0..<resourceCounts[event] { set(event: event, agent: agent, resource: resource, false) }
        }
    }
}

extension SCMIPlatform {
    /// Asynchronous commands one agent may have pending: PROTOCOL_ATTRIBUTES
    /// reports it with P2A; one more is BUSY.
    public static let maxPendingAsync = 16

    /// Every unit's events, in unitList order.
    static let events: [NotificationEvent] = unitList.flatMap(\.events)

    /// Position in `events` of each unit's first event (unitList order).
    static let firstEvent: [Int] = {
        var first: [Int] = []
        var total = 0
        for unit in unitList {
            first.append(total)
            total += unit.events.count
        }
        return first
    }()

    /// Sends a notification of event `event` (its position in `events`)
    /// about `resource` to each subscriber, as `recipients` says, `causing`
    /// being the agent index that caused it. `build` appends the payload.
    /// Call without the state lock, with the resource's turn held (so that
    /// notifications about a resource leave in the order of its changes).
    func notify(event: Int, resource: Int, causing: Int?, _ build: (inout PlatformMessage) -> Void) {
        guard subscriptionCount.load(ordering: .relaxed) > 0 else { return }
        let description = Self.events[event]
        var message = PlatformMessage(header: MessageHeader(
            protocolID: description.protocolID.rawValue, messageID: description.notificationID, type: .notification))
        build(&message)
        post(message, event: event, resource: resource, causing: causing)
    }

    /// The notifications that follow `change` (already applied and reported).
    func notify(_ change: PhysicalChange) {
        guard subscriptionCount.load(ordering: .relaxed) > 0 else { return }
        let position = Int(Self.unitIndex[Int(change.protocolID.rawValue)])
        guard position >= 0 else { return }
        let first = Self.firstEvent[position]
        let causing = catalog.agentIndex(id: change.agent)
        for offset in 0..<Self.unitList[position].events.count {
            let event = Self.events[first + offset]
            guard let payload = event.payload else { continue }
            var message = PlatformMessage(header: MessageHeader(
                protocolID: event.protocolID.rawValue, messageID: event.notificationID, type: .notification))
            guard payload(change, &message) else { continue }
            post(message, event: first + offset, resource: Int(change.resource), causing: causing)
        }
    }

    /// A change of a resource's physical state that the host reports on its
    /// own (the firmware's notification, docs/host.md "Upstream"), with this
    /// platform's ids: the notifications that follow it go to the subscribed
    /// agents as for the engine's own changes, agent_id being `change.agent`
    /// (0, the platform, for a change no guest made). No turn is taken: the
    /// change is not the engine's, so nothing orders it among the resource's
    /// own changes. The engine's state does not move: it holds what the
    /// agents asked for; reads of such a resource report the hardware
    /// (HostInterface.readsHardware).
    public func passOn(_ change: PhysicalChange) {
        notify(change)
    }

    /// Finds the subscribers under the state lock, 64 agents at a time as
    /// bits on the stack (changes of different resources notify from
    /// different threads at once, so nothing shared is used), then posts
    /// without it.
    private func post(_ message: PlatformMessage, event: Int, resource: Int, causing: Int?) {
        let who = Self.events[event].recipients
        let agentCount = catalog.agents.count
        var first = 0
        while first < agentCount {
            let last = min(first + 64, agentCount)
            let recipients = state.withLock { locked -> UInt64 in
                let subscriptions = locked.subscriptions
                guard resource < subscriptions.resourceCounts[event] else { return 0 }
                var bits: UInt64 = 0
                for agent in first..<last where who.include(agent, causing: causing) {
                    if subscriptions.isSet(event: event, agent: agent, resource: resource) { bits |= 1 << UInt64(agent - first) }
                }
                return bits
            }
            var rest = recipients
            while rest != 0 {
                let agent = first + rest.trailingZeroBitCount
                rest &= rest - 1
                message.withBytes { bytes in
                    sinks[agent].sink.withLock { sink in _ = sink?.post(bytes, kind: .notification) }
                }
            }
            first = last
        }
    }

    /// Per agent: its transport's delivery, subscriptions and counters.
    public func eventDelivery() -> [EventDeliverySnapshot] {
        let subscribed = state.withLock { locked in
            (0..<locked.agentCount).map { agent -> [SubscriptionSnapshot] in
                var rows: [SubscriptionSnapshot] = []
                guard locked.subscriptions.perAgent[agent] > 0 else { return rows }
                for (position, event) in Self.events.enumerated() {
                    for resource in 0..<locked.subscriptions.resourceCounts[position]
                    where locked.subscriptions.isSet(event: position, agent: agent, resource: resource) {
                        rows.append(SubscriptionSnapshot(protocolID: event.protocolID.rawValue, event: "\(event.name)", resource: UInt32(resource)))
                    }
                }
                return rows
            }
        }
        return catalog.agents.indices.map { agent in
            let sink = sinks[agent].sink.withLock { $0 }
            let counters = sink?.deliveryCounters ?? DeliveryCounters(sent: 0, waiting: 0, dropped: 0)
            return EventDeliverySnapshot(
                agentID: catalog.agents[agent].id, p2aNegotiated: sink != nil, subscriptions: subscribed[agent],
                notificationsSent: counters.sent, waiting: counters.waiting, dropped: counters.dropped,
                asyncPending: sink?.delayedResponsesWaiting ?? 0)
        }
    }
}

extension AgentSession {
    /// Whether this session's transport delivers notifications (P2A).
    var deliversNotifications: Bool { transport.deliversNotifications }

    /// Whether asynchronous commands may be accepted (P2A).
    var deliversDelayedResponses: Bool { transport.deliversDelayedResponses }

    /// The transport this connection negotiated, and the sink its platform →
    /// agent messages go to (nil when it delivers none). Call before the
    /// session handles messages with it, on the thread that drives it; a
    /// transport without notifications drops the agent's subscriptions.
    public func useTransport(_ transport: TransportCapabilities, sink: (any PlatformMessageSink)?) {
        self.transport = transport
        let delivers = transport.deliversNotifications || transport.deliversDelayedResponses
        platform.sensorPoller.cancel(agent: agent)
        platform.sinks[agent].sink.withLock { $0 = delivers ? sink : nil }
        if !transport.deliversNotifications { platform.clearSubscriptions(agent: agent) }
    }

    /// *_NOTIFY: +0 resource id, +4 notify_enable (bit 0). `local` is the
    /// position of the subscribed event among `Model`'s unit's events.
    func subscribe<Model: ResourceModel>(_ model: Model.Type, event local: Int, _ payload: Payload) -> SCMIStatus {
        let event = eventIndex(model, local)
        guard let index = resourceIndex(model, payload.word(0)) else { return .notFound }
        let enable = payload.word(1)
        let holders = resources(model)[index].devices
        return platform.state.withLock { locked in
            guard mayUse(locked, Model.id, holders: holders) else { return .denied }
            guard enable & ~UInt32(1) == 0 else { return .invalidParameters }
            let before = locked.subscriptions.perAgent[agent]
            locked.subscriptions.set(event: event, agent: agent, resource: index, enable & 1 != 0)
            platform.subscriptionCount.add(locked.subscriptions.perAgent[agent] - before, ordering: .relaxed)
            return .success
        }
    }

    /// The position in SCMIPlatform.events of `Model`'s unit's event `local`.
    func eventIndex<Model: ResourceModel>(_: Model.Type, _ local: Int) -> Int {
        SCMIPlatform.firstEvent[Int(unitIndex[Int(Model.id.rawValue)])] + local
    }

    /// BUSY when this agent already has maxPendingAsync asynchronous commands
    /// pending: delayed responses waiting in its sink, sensor readings
    /// the poller has yet to answer, and commands the host-action thread has
    /// yet to carry out (lock held).
    func asyncSlotFree(_ locked: borrowing SharedState) -> Bool {
        platform.sensorPoller.pendingAsync(platform, agent: agent) + locked.hostJobs[agent] < SCMIPlatform.maxPendingAsync
    }

    /// `job` carried out (on the host-action thread): posts its delayed
    /// response (same protocol, message id and token, type 2) with `status`
    /// and, on success, what `build` appends (lock held: it may read the
    /// state) — none when `status` is nil (waived) or this session ended —
    /// and stops counting it as pending, in one hold of the state lock, so
    /// that the BUSY bound sees it either pending or waiting in the sink.
    func complete(_ job: HostJob, _ status: SCMIStatus?, _ build: (inout SharedState, inout PlatformMessage) -> Void = { _, _ in }) {
        platform.state.withLock { locked in
            locked.hostJobs[agent] -= 1
            guard let status else { return }
            platform.sendDelayedResponse(to: agent, command: job.command, unlessEnded: self, status) { message in build(&locked, &message) }
        }
    }
}

extension SCMIPlatform {
    /// Posts the delayed response to `command` of `agent` (same protocol,
    /// message id and token, type 2): `status`, then, on success, what
    /// `build` appends. From the sensor poller, or the host-action thread
    /// (the state lock held); not once `session` (given) ended, checked under
    /// the sink's lock, which end() takes after setting `ended`, so a later
    /// connection of the agent never gets it.
    func sendDelayedResponse(to agent: Int, command: MessageHeader, unlessEnded session: AgentSession? = nil,
                             _ status: SCMIStatus, _ build: (inout PlatformMessage) -> Void) {
        var message = PlatformMessage(header: MessageHeader(
            protocolID: command.protocolID, messageID: command.messageID, type: .delayedResponse, token: command.token))
        message.append(status.rawValue)
        if status.isSuccess { build(&message) }
        message.withBytes { bytes in
            sinks[agent].sink.withLock { sink in
                if session?.ended.load(ordering: .acquiring) == true { return }
                _ = sink?.post(bytes, kind: .delayedResponse)
            }
        }
    }

    /// Posts notification `event` (its position in `events`) with the payload
    /// `build` appends to `agent` alone (the sensor poller's messages: it
    /// chose the recipients under the lock).
    func notify(agent: Int, event: Int, _ build: (inout PlatformMessage) -> Void) {
        let description = Self.events[event]
        var message = PlatformMessage(header: MessageHeader(
            protocolID: description.protocolID.rawValue, messageID: description.notificationID, type: .notification))
        build(&message)
        message.withBytes { bytes in
            sinks[agent].sink.withLock { sink in _ = sink?.post(bytes, kind: .notification) }
        }
    }

    /// Whether `agent` subscribed to event `event` of resource `resource` (lock held).
    func isSubscribed(_ locked: borrowing SharedState, agent: Int, event: Int, resource: Int) -> Bool {
        locked.subscriptions.isSet(event: event, agent: agent, resource: resource)
    }
}

/// A unit state with a "highest request wins" value: what an asynchronous
/// value SET's delayed response reads back.
protocol ValueArbitrated {
    associatedtype Value: BinaryInteger & Sendable
    var valueArbiter: HighestRequestArbiter<Value> { get }
}

extension SwitchedValueState: ValueArbitrated {
    var valueArbiter: HighestRequestArbiter<Value> { value }
}

extension PerformanceState: ValueArbitrated {
    var valueArbiter: HighestRequestArbiter<UInt32> { level }
}

extension AgentSession {
    /// Answers CLOCK_RATE_GET, PERFORMANCE_LEVEL_GET or VOLTAGE_LEVEL_GET of
    /// resource `index` of `Model`: its physical value, as `append` writes it,
    /// the arbitrated one, or the hardware's when the host reads it
    /// (HostInterface.readsHardware; then the host's status when it fails).
    /// DENIED when this agent may not use it.
    @inline(__always)
    func physicalValue<Model: ResourceModel>(
        _ model: Model.Type, _ index: Int, holders: [Int], _ reply: inout Reply, _ append: (inout Reply, Model.State.Value) -> Void
    ) -> SCMIStatus where Model.State: ValueArbitrated {
        let unit = platform.storage.baseAddress.unsafelyUnwrapped + Int(unitIndex[Int(Model.id.rawValue)])
        let arbitrated = platform.state.withLock { locked in
            mayUse(locked, Model.id, holders: holders) ? state(model, &locked).pointee.valueArbiter.value[index] : nil
        }
        guard let arbitrated else { return .denied }
        guard let hardware = unit.pointee.hardwareReads, hardware[index] else {
            append(&reply, arbitrated)
            return .success
        }
        switch platform.host.readValue(Model.id, UInt32(index)) {
        case .success(let value):
            // Values travel as Int64 (rates are u64 on the wire, levels i32/u32): the bits round-trip.
            append(&reply, Model.State.Value(truncatingIfNeeded: value))
            return .success
        case .failure(let status):
            return status
        }
    }

    /// Completes an asynchronous SET of a switched-and-set resource
    /// (CLOCK_RATE_SET_COMPLETE, VOLTAGE_LEVEL_SET_COMPLETE) that ended with
    /// `status` (nil: its delayed response waived): on SUCCESS {resource id,
    /// its physical value as `append` writes it}, else the status alone (the
    /// host's, the request rolled back). From the host-action thread, the
    /// resource's turn held.
    func completeValueSet<Model: ResourceModel>(
        _ job: HostJob, _ model: Model.Type, _ index: Int, _ status: SCMIStatus?,
        _ append: (inout PlatformMessage, Model.State.Value) -> Void
    ) where Model.State: ValueArbitrated {
        complete(job, status) { locked, message in
            message.append(UInt32(index))
            append(&message, state(model, &locked).pointee.valueArbiter.value[index])
        }
    }
}

extension SCMIPlatform {
    /// Drops every subscription of `agent` (its connection ended or lost P2A).
    func clearSubscriptions(agent: Int) {
        state.withLock { locked in
            let before = locked.subscriptions.perAgent[agent]
            locked.subscriptions.clear(agent: agent)
            subscriptionCount.subtract(before, ordering: .relaxed)
        }
    }
}
