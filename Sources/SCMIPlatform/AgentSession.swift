import Synchronization

// One agent's connection to the platform: decodes a request, routes it to the
// protocol's file, and encodes the response in the guest's writable space.

/// One session per connection. Driven by one connection thread at a time
/// (serve runs each vhost-user connection on its own thread), which is what
/// makes the unchecked Sendable true: the session's own fields never change
/// after init, and the shared state it touches is behind the platform's Mutex.
public final class AgentSession: @unchecked Sendable {
    let platform: SCMIPlatform
    /// Index of the agent in the catalog and in the shared state's rows.
    let agent: Int
    let info: AgentInfo
    /// What this session's transport can carry; changed by useTransport
    /// (Notifications.swift) when the connection negotiates, never while a
    /// message is handled. Both fields are read or written on every message
    /// by the one thread that drives the session, so the run-time
    /// exclusivity check (a call per access) buys nothing.
    @exclusivity(unchecked) public internal(set) var transport: TransportCapabilities
    /// The header of the command being handled (for its delayed response).
    @exclusivity(unchecked) private(set) var currentHeader = MessageHeader(rawValue: 0)
    /// SCMIPlatform.units and .unitIndex (immutable, never freed), kept here so that dispatch reads
    /// two fields instead of two globals.
    private let units: UnsafeBufferPointer<ProtocolUnit>
    let unitIndex: UnsafeBufferPointer<Int8>
    /// Set by end(): the host-action thread then carries out none of this
    /// session's asynchronous commands and posts none of their delayed
    /// responses (the next connection of the agent has a new session).
    let ended = Atomic<Bool>(false)

    public var agentID: UInt32 { info.id }
    public var agentName: String { info.name }

    init(platform: SCMIPlatform, agent: Int, transport: TransportCapabilities) {
        self.platform = platform
        self.agent = agent
        self.transport = transport
        self.units = SCMIPlatform.units
        self.unitIndex = SCMIPlatform.unitIndex
        self.info = platform.catalog.agents[agent]
    }

    /// Answers one command. `request`: header + parameters as the guest sent
    /// them. `response`: the writable space the guest gave; replies are sized
    /// to it (capped at 8 + transport.maxPayload bytes; 8 + 128 on virtio). Never allocates.
    ///
    /// - fewer than 4 request bytes, or fewer than 8 response bytes: nothing
    ///   is written (responseLength 0);
    /// - a request longer than 4 + transport.maxPayload bytes, a header that is not a command
    ///   (type ≠ 0) or has reserved bits set: PROTOCOL_ERROR;
    /// - a reply that does not fit: header + COMMS_ERROR.
    public func handle(request: UnsafeRawBufferPointer, response: UnsafeMutableRawBufferPointer) -> MessageOutcome {
        guard request.count >= 4 else {
            return MessageOutcome(responseLength: 0, header: nil, status: nil)
        }
        let header = MessageHeader(rawValue: UInt32(littleEndian: request.loadUnaligned(as: UInt32.self)))
        guard response.count >= SCMILimits.minResponse else {
            return MessageOutcome(responseLength: 0, header: header, status: nil)
        }
        var reply = Reply(space: response, maxPayload: transport.maxPayload)
        let status: SCMIStatus
        if request.count - 4 > transport.maxPayload || !header.isWellFormedCommand {
            status = .protocolError
        } else {
            let payload = Payload(bytes: UnsafeRawBufferPointer(rebasing: request[4...]))
            currentHeader = header
            status = dispatch(header, payload, &reply)
        }
        let (length, final) = reply.finish(header: header, status: status)
        return MessageOutcome(responseLength: length, header: header, status: final)
    }

    /// The agent went away: its pending sensor readings, subscriptions and
    /// waiting messages go (its sink is let go), then every request it holds is withdrawn and the
    /// physical state recomputed at once, the changes notified to the other
    /// agents. Its permissions stay as they are.
    public func end() {
        ended.store(true, ordering: .releasing)
        platform.sensorPoller.cancel(agent: agent)
        platform.sinks[agent].sink.withLock { $0 = nil }
        platform.clearSubscriptions(agent: agent)
        platform.withdrawRequests(agent: agent, cause: .disconnect)
    }

    /// NOT_SUPPORTED for a protocol that is not implemented or not enabled for
    /// this agent (docs/binding.md §4); Base is always there. The protocol's
    /// unit (SCMIPlatform.unitList) answers the rest.
    private func dispatch(_ header: MessageHeader, _ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        let protocolID = header.protocolID
        if protocolID != ProtocolID.base.rawValue {
            guard info.protocolMask & protocolBit(protocolID) != 0 else { return .notSupported }
        }
        let index = unitIndex[Int(protocolID)]
        guard index >= 0 else { return .notSupported }
        return ProtocolUnit.dispatch(units.baseAddress.unsafelyUnwrapped + Int(index), self, header.messageID, payload, &reply)
    }
}

// MARK: - Shared by every protocol

extension AgentSession {
    /// Whether this agent may read or change the state of a resource held by
    /// `holders` through protocol `protocolID` (docs/binding.md §4). Lock held.
    func mayUse(_ state: borrowing SharedState, _ protocolID: ProtocolID, holders: [Int]) -> Bool {
        state.mayUse(agent: agent, protocolBit: protocolBit(protocolID.rawValue), holders: holders)
    }
}
