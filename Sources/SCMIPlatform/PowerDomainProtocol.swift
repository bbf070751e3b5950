import ResourceTables

// Power domain management 0x11, version 3.0 (docs/protocol.md §7): what
// Linux 6.12's scmi_pm_domain sends. One domain per entry of the resolved
// table (docs/binding.md §5.3). Each agent votes ON or OFF; the domain is on
// while any agent wants it on (docs/serve.md §4), and POWER_STATE_GET answers
// the asking agent's own vote, because Linux reads back every state it sets
// and fails the transition when they differ.

enum PowerDomainProtocol: ResourceModel {
    static let id = ProtocolID.powerDomain
    static let version: UInt32 = 0x30000

    /// Every command of version 3.0; POWER_STATE_NOTIFY with P2A only,
    /// POWER_STATE_CHANGE_REQUESTED_NOTIFY never.
    static let unit = ProtocolUnit(
        id, version: version,
        // +0 bits 15:0 domains; then the statistics region's address low,
        // high and length: 0, none (no shared memory over virtio).
        attributes: { session, _, reply in
            let status = session.resourceCount(PowerDomainProtocol.self, &reply)
            for _ in 0 ..< 3 { reply.append(UInt32(0)) }
            return status
        },
        messages: [
            .handle(PowerDomainMessage.domainAttributes, size: .exactly(4)) { $0.powerDomainAttributes($1, &$2) },
            .handle(PowerDomainMessage.stateSet, size: .exactly(12)) { session, payload, _ in session.powerStateSet(payload) },
            .handle(PowerDomainMessage.stateGet, size: .exactly(4)) { $0.powerStateGet($1, &$2) },
            // Not implemented even with P2A (docs/serve.md §7).
            .notSupported(PowerDomainMessage.stateChangeRequestedNotify),
            .handle(PowerDomainMessage.domainNameGet, size: .exactly(4)) { $0.nameGet(PowerDomainProtocol.self, $1, &$2) },
        ],
        resources: ResourceHooks(PowerDomainProtocol.self),
        events: events,
        subscribe: { session, event, payload in session.subscribe(PowerDomainProtocol.self, event: event, payload) })

    /// POWER_STATE_CHANGED {agent that caused it (the leaving agent for a
    /// withdrawal on disconnect), domain_id, new physical state as generic ON
    /// or OFF} to every subscriber, the causing agent included, whenever a
    /// domain's physical state changes. POWER_STATE_NOTIFY subscribes; without
    /// P2A it answers NOT_SUPPORTED (docs/protocol.md §15).
    static let events = [
        NotificationEvent(PowerDomainNotification.stateChanged, subscribedBy: PowerDomainMessage.stateNotify, to: .everyone) { change, message in
            guard case .switched(let on) = change.what else { return false }
            message.append(change.agent)
            message.append(change.resource)
            message.append(on ? stateOn : stateOff)
            return true
        },
    ]

    // MARK: The unit's resources

    /// One power domain as the catalog holds it: a name and its holders.
    typealias Resource = ProviderDomain

    /// On while any agent wants it on; off when nobody has asked.
    typealias State = SwitchArbiter

    static let vocabulary = ResourceVocabulary(
        noun: "power domain", plural: "power domains", tableKey: "power_domains", switchKey: "on",
        valueKey: "state", onWord: "on", offWord: "off", quantity: "state", unit: "")

    static func catalog(_ tables: PlatformTables, holders: [[Int]]) -> [Resource] {
        ProviderDomain.catalog(tables.powerDomains, holders: holders)
    }

    /// Every domain starts off (docs/serve.md §7).
    static func initialState(_ domains: UnsafeBufferPointer<Resource>, agentCount: Int) -> State {
        SwitchArbiter(allOff: domains.count, agentCount: agentCount)
    }

    /// POWER_DOMAIN_ATTRIBUTES bits.
    /// State-change notifications (with P2A).
    static let attributeStateChangeNotifications: UInt32 = 1 << 31
    static let attributeSynchronousSet: UInt32 = 1 << 29
    static let attributeExtendedName: UInt32 = 1 << 27

    /// POWER_STATE_SET flags: bit 0 asynchronous, the rest reserved.
    static let flagAsync: UInt32 = 1 << 0

    /// The generic power states Linux sends (scmi_protocol.h): ON keeps the
    /// context (state type 0, id 0), OFF loses it (state type 1, id 0).
    static let stateOn: UInt32 = 0x0000_0000
    static let stateOff: UInt32 = 0x4000_0000
}

/// A domain of a table resolved from providers' specifiers (power domains,
/// reset domains, docs/binding.md §5.3 and §5.6): only a name and the devices
/// that hold it; its state is a switch.
struct ProviderDomain: NamedResource {
    let name: String
    let names: ResourceNames
    let devices: [Int]
    /// The host domain or line: its provider's path and specifier cells.
    let hostKey: String

    static func catalog(_ entries: [ProviderResourceEntry], holders: [[Int]]) -> [ProviderDomain] {
        entries.enumerated().map { index, entry in
            ProviderDomain(name: entry.name, names: ResourceNames(entry.name), devices: holders[index],
                           hostKey: providerKey(entry.providerPath, entry.specifier))
        }
    }
}

/// A resource that is only switched on and off, "on while anyone wants it
/// on": power domains, and reset domains (asserted while anyone holds them).
extension SwitchArbiter: UnitState {
    /// The switch is the resource's only shared quantity (0).
    mutating func attach(_ owner: Attachment) { attach(owner, channel: 0) }

    /// `count` resources, all off (deasserted) while nobody has asked.
    init(allOff count: Int, agentCount: Int) {
        self.init(initial: Array(repeating: false, count: count), agentCount: agentCount)
    }

    mutating func withdraw(agent: Int, covers: (_ resource: Int) -> Bool, report: (_ resource: Int, PhysicalChange.What) -> Void) {
        for resource in 0 ..< resourceCount where covers(resource) {
            if let on = withdraw(resource: resource, agent: agent) { report(resource, .switched(on: on)) }
        }
    }

    func holdings(agent: Int, _ body: (_ resource: Int) -> Void) {
        for resource in 0 ..< resourceCount where request(resource: resource, agent: agent) != .none { body(resource) }
    }

    func snapshot(resource: Int, agents: [AgentInfo]) -> (on: Bool?, value: Int64?, requests: [ResourceRequest]) {
        let requests = agents.indices.compactMap { agent in
            requested(resource: resource, agent: agent).map {
                ResourceRequest(agentID: agents[agent].id, agentName: agents[agent].name, on: $0, value: nil)
            }
        }
        return (isOn[resource], nil, requests)
    }
}

extension AgentSession {
    fileprivate func powerDomainIndex(_ id: UInt32) -> Int? { resourceIndex(PowerDomainProtocol.self, id) }

    fileprivate var powerDomains: UnsafeBufferPointer<PowerDomainProtocol.Resource> { resources(PowerDomainProtocol.self) }

    /// +4 attributes, +8 name[16]. Bit 29: POWER_STATE_SET is synchronous;
    /// bit 27: POWER_DOMAIN_NAME_GET has a longer name. Bit 30 (asynchronous
    /// set) never; bit 31 (state-change notifications) belongs to a connection
    /// with P2A, which sends POWER_STATE_CHANGED (docs/serve.md §7).
    fileprivate func powerDomainAttributes(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = powerDomainIndex(payload.word(0)) else { return .notFound }
        let names = powerDomains[index].names
        var attributes = PowerDomainProtocol.attributeSynchronousSet
        if names.isExtended { attributes |= PowerDomainProtocol.attributeExtendedName }
        if deliversNotifications { attributes |= PowerDomainProtocol.attributeStateChangeNotifications }
        reply.append(attributes)
        reply.appendName(names, .short)
        return .success
    }

    /// +0 flags, +4 domain_id, +8 power_state: generic ON or OFF only. The
    /// agent's vote is arbitrated with the others' (on while anyone wants it
    /// on); a change of the domain's physical state goes through the host
    /// seam and is reported (with P2A: POWER_STATE_CHANGED to every
    /// subscribed agent, the causing one included).
    fileprivate func powerStateSet(_ payload: Payload) -> SCMIStatus {
        guard let index = powerDomainIndex(payload.word(1)) else { return .notFound }
        let flags = payload.word(0)
        let powerState = payload.word(2)
        let holders = powerDomains[index].devices
        var previous = SwitchRequest.none
        return change(PowerDomainProtocol.self, index) { state, shared in
            guard mayUse(shared, PowerDomainProtocol.id, holders: holders) else { return (.denied, nil) }
            guard flags & ~PowerDomainProtocol.flagAsync == 0 else { return (.invalidParameters, nil) }
            // An asynchronous set ends in a delayed response on the eventq,
            // which a connection without P2A lacks, and ATTRIBUTES bit 30 never
            // offers it: NOT_SUPPORTED (docs/protocol.md §15).
            guard flags & PowerDomainProtocol.flagAsync == 0 else { return (.notSupported, nil) }
            let request: SwitchRequest
            switch powerState {
            case PowerDomainProtocol.stateOn: request = .on
            case PowerDomainProtocol.stateOff: request = .off
            default: return (.invalidParameters, nil)
            }
            previous = state.request(resource: index, agent: agent)
            return (.success, state.request(request, resource: index, agent: agent).map { .switched(on: $0) })
        } undo: { state in
            _ = state.request(previous, resource: index, agent: agent)
        }
    }

    /// +4 power_state: this agent's own vote, OFF until it asks for ON.
    fileprivate func powerStateGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = powerDomainIndex(payload.word(0)) else { return .notFound }
        let holders = powerDomains[index].devices
        let on: Bool? = platform.state.withLock { locked in
            mayUse(locked, PowerDomainProtocol.id, holders: holders)
                ? state(PowerDomainProtocol.self, &locked).pointee.request(resource: index, agent: agent) == .on : nil
        }
        guard let on else { return .denied }
        reply.append(on ? PowerDomainProtocol.stateOn : PowerDomainProtocol.stateOff)
        return .success
    }
}
