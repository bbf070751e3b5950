import ResourceTables

// Power domain management 0x11, version 3.0 (docs/protocol.md §7): the unit's
// skeleton. It answers with the shape Linux 6.12's scmi_pm_domain probes
// (version, attributes, the message table) but serves no domain yet: its
// catalog slice is empty, so every per-domain command is NOT_FOUND. Serving
// the blob's domains (tables.powerDomains) is issue 9.

enum PowerDomainProtocol: ResourceModel {
    static let id = ProtocolID.powerDomain
    static let version: UInt32 = 0x30000

    /// Every command of version 3.0 but the notifications.
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
            .handle(PowerDomainMessage.domainAttributes, size: .exactly(4)) { session, payload, _ in session.powerDomain(payload) },
            .handle(PowerDomainMessage.stateSet, size: .exactly(12)) { session, payload, _ in session.powerDomain(payload, word: 1) },
            .handle(PowerDomainMessage.stateGet, size: .exactly(4)) { session, payload, _ in session.powerDomain(payload) },
            // Notifications travel on the eventq, which is not offered
            // (docs/protocol.md §15).
            .notSupported(PowerDomainMessage.stateNotify),
            .notSupported(PowerDomainMessage.stateChangeRequestedNotify),
            .handle(PowerDomainMessage.domainNameGet, size: .exactly(4)) { $0.nameGet(PowerDomainProtocol.self, $1, &$2) },
        ],
        resources: ResourceHooks(PowerDomainProtocol.self))

    struct Resource: NamedResource {
        let name: String
        let names: ResourceNames
        let devices: [Int]
    }

    /// On while any agent wants it on.
    typealias State = SwitchArbiter

    static let vocabulary = ResourceVocabulary(
        noun: "power domain", plural: "power domains", tableKey: "power_domains", switchKey: "on",
        valueKey: "state", onWord: "on", offWord: "off", quantity: "state", unit: "")

    /// The skeleton serves no domain (issue 9 builds them from tables.powerDomains).
    static func catalog(_ tables: PlatformTables, holders: [[Int]]) -> [Resource] { [] }

    static func initialState(_ domains: UnsafeBufferPointer<Resource>, agentCount: Int) -> State {
        SwitchArbiter(initial: domains.map { _ in false }, agentCount: agentCount)
    }
}

/// A resource that is only switched on and off, "on while anyone wants it on".
extension SwitchArbiter: UnitState {
    /// The switch is the resource's only shared quantity (0).
    mutating func attach(_ owner: Attachment) { attach(owner, channel: 0) }

    mutating func withdraw(agent: Int, report: (_ resource: Int, PhysicalChange.What) -> Void) {
        for resource in 0 ..< resourceCount {
            if let on = withdraw(resource: resource, agent: agent) { report(resource, .switched(on: on)) }
        }
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
    /// The domain in word `word` of the payload: none exists yet, so always
    /// NOT_FOUND. (The NOT_SUPPORTED after it cannot be reached while the
    /// catalog slice is empty; issue 9 answers there.)
    fileprivate func powerDomain(_ payload: Payload, word: Int = 0) -> SCMIStatus {
        guard resourceIndex(PowerDomainProtocol.self, payload.word(word)) != nil else { return .notFound }
        return .notSupported
    }
}
