import ResourceTables

// Reset domain management 0x16, version 3.0 (docs/protocol.md §12): what
// Linux 6.12's reset-scmi sends. One domain per entry of the resolved table
// (docs/binding.md §5.6). A domain is asserted while any agent holds it
// asserted; an autonomous reset (a pulse) asserts and deasserts it unless
// another agent holds it (docs/serve.md §4). Assertions an agent holds are
// released when it goes away (the unit's withdrawal).

enum ResetProtocol: ResourceModel {
    static let id = ProtocolID.reset
    static let version: UInt32 = 0x30000

    /// Every command of version 3.0; RESET_NOTIFY and asynchronous RESET with P2A only.
    static let unit = ProtocolUnit(
        id, version: version,
        // +0 bits 15:0 reset domains.
        attributes: { session, _, reply in session.resourceCount(ResetProtocol.self, &reply) },
        messages: [
            .handle(ResetMessage.domainAttributes, size: .exactly(4)) { $0.resetDomainAttributes($1, &$2) },
            .handle(ResetMessage.reset, size: .exactly(12)) { session, payload, _ in session.reset(payload) },
            .handle(ResetMessage.domainNameGet, size: .exactly(4)) { $0.nameGet(ResetProtocol.self, $1, &$2) },
        ],
        resources: ResourceHooks(ResetProtocol.self),
        events: events,
        subscribe: { session, event, payload in session.subscribe(ResetProtocol.self, event: event, payload) })

    /// RESET_ISSUED {agent that reset, domain_id, reset_state} to the other
    /// subscribed agents when an agent asserts or pulses a domain (sent by
    /// reset; a deassert, or a withdrawal on disconnect, issues no reset).
    static let events = [
        NotificationEvent(ResetNotification.issued, subscribedBy: ResetMessage.notify, to: .others),
    ]
    static let issuedEvent = 0

    // MARK: The unit's resources

    /// One reset domain as the catalog holds it: a name and its holders.
    typealias Resource = ProviderDomain

    /// Asserted ("on") while any agent holds it asserted; deasserted when
    /// nobody has asked.
    typealias State = SwitchArbiter

    static let vocabulary = ResourceVocabulary(
        noun: "reset domain", plural: "reset domains", tableKey: "reset_domains", switchKey: "asserted",
        valueKey: "state", onWord: "asserted", offWord: "deasserted", quantity: "state", unit: "")

    static func catalog(_ tables: PlatformTables, holders: [[Int]]) -> [Resource] {
        ProviderDomain.catalog(tables.resetDomains, holders: holders)
    }

    /// Every domain starts deasserted: the binding gives no initial state.
    static func initialState(_ domains: UnsafeBufferPointer<Resource>, agentCount: Int) -> State {
        SwitchArbiter(allOff: domains.count, agentCount: agentCount)
    }

    /// Asynchronous RESET and RESET_ISSUED notifications (with P2A).
    static let attributeAsyncReset: UInt32 = 1 << 31
    static let attributeResetNotifications: UInt32 = 1 << 30
    static let attributeExtendedName: UInt32 = 1 << 29
    /// RESET_DOMAIN_ATTRIBUTES latency: unknown.
    static let latencyUnknown: UInt32 = 0xFFFF_FFFF

    /// RESET flags; 0 is "deassert".
    static let flagAutonomous: UInt32 = 1 << 0
    static let flagExplicitAssert: UInt32 = 1 << 1
    static let flagAsync: UInt32 = 1 << 2

    /// reset_state bit 31: an implementation-defined reset (none exist).
    static let stateImplementationDefined: UInt32 = 1 << 31
    /// The one architectural reset: cold reset.
    static let stateColdReset: UInt32 = 0

    /// What one RESET command asks for.
    enum Action { case assert, deassert, pulse }

    /// The action the flags and reset_state ask for and whether it is
    /// asynchronous, or the status that refuses them: a reserved bit, or
    /// autonomous together with explicit assert, INVALID_PARAMETERS; the
    /// asynchronous flag NOT_SUPPORTED unless `asyncOffered` (its RESET_COMPLETE
    /// needs the eventq, docs/protocol.md §15); an implementation-defined reset
    /// NOT_SUPPORTED, another architectural one INVALID_PARAMETERS.
    static func action(flags: UInt32, resetState: UInt32, asyncOffered: Bool) -> Result<(Action, isAsync: Bool), SCMIStatus> {
        guard flags & ~(flagAutonomous | flagExplicitAssert | flagAsync) == 0 else { return .failure(.invalidParameters) }
        let autonomous = flags & flagAutonomous != 0, assert = flags & flagExplicitAssert != 0
        guard !(autonomous && assert) else { return .failure(.invalidParameters) }
        let isAsync = flags & flagAsync != 0
        guard !isAsync || asyncOffered else { return .failure(.notSupported) }
        guard resetState & stateImplementationDefined == 0 else { return .failure(.notSupported) }
        guard resetState == stateColdReset else { return .failure(.invalidParameters) }
        return .success((autonomous ? .pulse : assert ? .assert : .deassert, isAsync))
    }
}

extension AgentSession {
    fileprivate func resetDomainIndex(_ id: UInt32) -> Int? { resourceIndex(ResetProtocol.self, id) }

    fileprivate var resetDomains: UnsafeBufferPointer<ResetProtocol.Resource> { resources(ResetProtocol.self) }

    /// +4 attributes, +8 latency, +12 name[16]. Bit 29: RESET_DOMAIN_NAME_GET
    /// has a longer name. Bits 31 (asynchronous reset) and 30 (RESET_ISSUED
    /// notifications) belong to a connection with P2A (docs/serve.md §7).
    fileprivate func resetDomainAttributes(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = resetDomainIndex(payload.word(0)) else { return .notFound }
        let names = resetDomains[index].names
        var attributes = names.isExtended ? ResetProtocol.attributeExtendedName : 0
        if deliversDelayedResponses { attributes |= ResetProtocol.attributeAsyncReset }
        if deliversNotifications { attributes |= ResetProtocol.attributeResetNotifications }
        reply.append(attributes)
        reply.append(ResetProtocol.latencyUnknown)
        reply.appendName(names, .short)
        return .success
    }

    /// +0 domain_id, +4 flags, +8 reset_state. Assert holds the domain,
    /// deassert lets go of it, a pulse is an assert then a deassert, each
    /// through the host seam. An assert or a pulse that stands sends
    /// RESET_ISSUED to the other subscribed agents. Asynchronous (bit 2, with
    /// P2A only): once the command is accepted (domain usable, flags valid,
    /// fewer than 16 asynchronous commands pending, else BUSY) the answer is
    /// SUCCESS at once; the host-action thread carries it out in the domain's
    /// turn and RESET_COMPLETE {domain_id} follows on the eventq, carrying the
    /// host's status instead when it refuses the reset.
    fileprivate func reset(_ payload: Payload) -> SCMIStatus {
        guard let index = resetDomainIndex(payload.word(0)) else { return .notFound }
        let asked = ResetProtocol.action(flags: payload.word(1), resetState: payload.word(2), asyncOffered: deliversDelayedResponses)
        let holders = resetDomains[index].devices
        guard case .success(let request) = asked, request.isAsync else { return reset(index, asked, payload.word(2), turnHeld: false) }
        return submit(ResetProtocol.self, index, payload) { shared in
            guard mayUse(shared, ResetProtocol.id, holders: holders) else { return .denied }
            return asyncSlotFree(shared) ? .success : .busy
        } run: { session, job in
            session.finishReset(job)
        }
    }

    /// RESET carried out: now (synchronous), or by the host-action thread with
    /// the domain's turn held (asynchronous; a pulse holds it for both halves).
    private func reset(_ index: Int, _ asked: Result<(ResetProtocol.Action, isAsync: Bool), SCMIStatus>, _ resetState: UInt32,
                       turnHeld: Bool) -> SCMIStatus {
        let holders = resetDomains[index].devices
        var action = ResetProtocol.Action.deassert
        if case .success(let request) = asked { action = request.0 }
        var status = vote(action == .deassert ? .off : .on, index, issuing: action == .deassert ? nil : resetState, turnHeld: turnHeld) { shared in
            guard mayUse(shared, ResetProtocol.id, holders: holders) else { return .denied }
            if case .failure(let refused) = asked { return refused }
            return .success
        }
        // The second half of a pulse: let go again. The domain is deasserted
        // unless another agent holds it; when the host refuses, this agent
        // keeps holding it and gets the host's status.
        if status.isSuccess, action == .pulse {
            status = vote(.off, index, issuing: nil, turnHeld: turnHeld) { _ in .success }
        }
        return status
    }

    /// An asynchronous RESET on the host-action thread: carried out, then
    /// RESET_COMPLETE with its outcome.
    fileprivate func finishReset(_ job: HostJob) {
        let index = Int(job.parameters.0)
        let asked = ResetProtocol.action(flags: job.parameters.1, resetState: job.parameters.2, asyncOffered: true)
        let status = reset(index, asked, job.parameters.2, turnHeld: true)
        complete(job, status) { _, message in message.append(UInt32(index)) }
    }

    /// Records this agent's assert (`.on`) or deassert (`.off`) of domain
    /// `index` once `check` (under the lock) says SUCCESS; when it stands and
    /// `issuing` gives a reset_state, RESET_ISSUED goes to the other subscribers.
    private func vote(_ request: SwitchRequest, _ index: Int, issuing resetState: UInt32?, turnHeld: Bool,
                      check: (inout SharedState) -> SCMIStatus) -> SCMIStatus {
        var previous = SwitchRequest.none
        return change(ResetProtocol.self, index, turnHeld: turnHeld) { state, shared in
            let status = check(&shared)
            guard status.isSuccess else { return (status, nil) }
            previous = state.request(resource: index, agent: agent)
            return (.success, state.request(request, resource: index, agent: agent).map { .switched(on: $0) })
        } undo: { state in
            _ = state.request(previous, resource: index, agent: agent)
        } accepted: {
            guard let resetState else { return }
            platform.notify(event: eventIndex(ResetProtocol.self, ResetProtocol.issuedEvent), resource: index, causing: agent) { message in
                message.append(info.id)
                message.append(UInt32(index))
                message.append(resetState)
            }
        }
    }
}
