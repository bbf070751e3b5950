import ResourceTables

// Voltage domain management 0x17, version 2.0 (docs/protocol.md §13): what
// Linux's scmi-regulator sends.

enum VoltageProtocol {
    static let id = ProtocolID.voltage
    static let version: UInt32 = 0x20000

    /// Every command of version 2.0 (0x0–0x9).
    static let unit = ProtocolUnit(
        id, version: version,
        attributes: { session, _, reply in
            reply.append(UInt32(min(session.platform.catalog.voltageDomains.count, 0xFFFF)))
            return .success
        },
        messages: [
            .handle(VoltageMessage.domainAttributes, size: .exactly(4)) { $0.voltageDomainAttributes($1, &$2) },
            .handle(VoltageMessage.describeLevels, size: .exactly(8)) { $0.describeLevels($1, &$2) },
            .handle(VoltageMessage.configSet, size: .exactly(8)) { session, payload, _ in session.voltageConfigSet(payload) },
            .handle(VoltageMessage.configGet, size: .exactly(4)) { $0.voltageConfigGet($1, &$2) },
            .handle(VoltageMessage.levelSet, size: .exactly(12)) { session, payload, _ in session.levelSet(payload) },
            .handle(VoltageMessage.levelGet, size: .exactly(4)) { $0.levelGet($1, &$2) },
            .handle(VoltageMessage.domainNameGet, size: .exactly(4)) { $0.voltageNameGet($1, &$2) },
        ],
        withdraw: { platform, state, agent, cause in platform.withdrawVoltageRequests(&state, agent: agent, cause: cause) })

    static let attributeExtendedName: UInt32 = 1 << 30

    /// Architectural modes of VOLTAGE_CONFIG_SET / GET.
    static let modeOff: UInt32 = 0x0
    static let modeOn: UInt32 = 0x7

    static let flagAsync: UInt32 = 1 << 0

    enum LevelCheck { case valid, outOfRange, offGrid }

    /// Outside the description: OUT_OF_RANGE. Inside it but not a described
    /// level (between list entries, or off a range's step grid, whose valid
    /// levels are min + k·step and max): INVALID_PARAMETERS.
    static func check(_ level: Int32, in levels: VoltageLevels) -> LevelCheck {
        switch levels {
        case .discrete(let list):
            guard let lowest = list.first, let highest = list.last, level >= lowest, level <= highest else { return .outOfRange }
            return list.contains(level) ? .valid : .offGrid
        case .range(let minimum, let maximum, let step):
            guard level >= minimum, level <= maximum else { return .outOfRange }
            let offset = Int64(level) - Int64(minimum)
            return offset % Int64(step) == 0 || level == maximum ? .valid : .offGrid
        }
    }
}

extension AgentSession {
    fileprivate func domainIndex(_ id: UInt32) -> Int? {
        id < UInt32(platform.catalog.voltageDomains.count) ? Int(id) : nil
    }

    /// +4 attributes (bit 30: the name is longer than 15 bytes; no async), +8 name[16].
    fileprivate func voltageDomainAttributes(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let domain = platform.catalog.voltageDomains[index]
        reply.append(domain.hasExtendedName ? VoltageProtocol.attributeExtendedName : 0)
        reply.appendName(domain.shortName, .short)
        return .success
    }

    /// A list from `level_index` on, as many levels as the response space
    /// holds (at most 31 in 128 bytes), the rest in bits 31:16; a range as
    /// exactly one {low, high, step} segment with 0 remaining. An index past
    /// the end is OUT_OF_RANGE, as for clocks.
    fileprivate func describeLevels(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let first = payload.word(1)
        switch platform.catalog.voltageDomains[index].levels {
        case .discrete(let levels): return reply.appendDescribePage(levels, from: first)
        case .range(let minimum, let maximum, let step): return reply.appendDescribeTriplet(minimum, maximum, step, from: first)
        }
    }

    /// +0 domain_id, +4 config: architectural 0x7 on or 0x0 off; any other
    /// mode (implementation-defined ones included: none exist) INVALID_PARAMETERS.
    fileprivate func voltageConfigSet(_ payload: Payload) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let config = payload.word(1)
        let holders = platform.catalog.voltageDomains[index].devices
        return platform.state.withLock { state -> SCMIStatus in
            guard mayUse(state, VoltageProtocol.id, holders: holders) else { return .denied }
            let request: SwitchRequest
            switch config {
            case VoltageProtocol.modeOn: request = .on
            case VoltageProtocol.modeOff: request = .off
            default: return .invalidParameters
            }
            if let on = state.voltageEnable.request(request, resource: index, agent: agent) {
                platform.reportVoltageEnable(index, on, agent: agent, cause: .request)
            }
            return .success
        }
    }

    /// This agent's own request: 0x7 when it asked for on, else 0x0.
    fileprivate func voltageConfigGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let holders = platform.catalog.voltageDomains[index].devices
        let on: Bool? = platform.state.withLock { state in
            mayUse(state, VoltageProtocol.id, holders: holders) ? state.voltageEnable.request(resource: index, agent: agent) == .on : nil
        }
        guard let on else { return .denied }
        reply.append(on ? VoltageProtocol.modeOn : VoltageProtocol.modeOff)
        return .success
    }

    /// +0 domain_id, +4 flags (bit 0 async), +8 int32 level in µV; the
    /// highest request among agents wins. A request after which the domain
    /// would be further than the spread from a coupled partner is OUT_OF_RANGE
    /// and is not recorded (docs/serve.md §4, "Host limits").
    fileprivate func levelSet(_ payload: Payload) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let flags = payload.word(1)
        let level = payload.int32(2)
        let domain = platform.catalog.voltageDomains[index]
        return platform.state.withLock { state -> SCMIStatus in
            guard mayUse(state, VoltageProtocol.id, holders: domain.devices) else { return .denied }
            guard flags & ~VoltageProtocol.flagAsync == 0 else { return .invalidParameters }
            // Asynchronous ends in a delayed response on the eventq, which is
            // not offered (docs/protocol.md §15): NOT_SUPPORTED.
            guard flags & VoltageProtocol.flagAsync == 0 else { return .notSupported }
            switch VoltageProtocol.check(level, in: domain.levels) {
            case .outOfRange: return .outOfRange
            case .offGrid: return .invalidParameters
            case .valid: break
            }
            let couplings = platform.catalog.voltageCouplings
            let settled = state.voltageLevel.settled(ifRequested: level, resource: index, agent: agent)
            guard couplings.allows(settled, domain: index, state.voltageLevel) else { return .outOfRange }
            guard couplings.isCoupled(index) else {
                if let change = state.voltageLevel.request(level, resource: index, agent: agent) {
                    platform.reportVoltageLevel(index, change, agent: agent, cause: .request)
                }
                return .success
            }
            // Coupled rails settle together: partners follow a rail that fell.
            state.voltageLevel.record(level, resource: index, agent: agent)
            couplings.settle(&state.voltageLevel) { domain, change in
                platform.reportVoltageLevel(domain, change, agent: agent, cause: .request)
            }
            return .success
        }
    }

    /// The physical (arbitrated) level.
    fileprivate func levelGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let holders = platform.catalog.voltageDomains[index].devices
        let level: Int32? = platform.state.withLock { state in
            mayUse(state, VoltageProtocol.id, holders: holders) ? state.voltageLevel.value[index] : nil
        }
        guard let level else { return .denied }
        reply.append(level)
        return .success
    }

    fileprivate func voltageNameGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        return reply.appendExtendedNameReply(platform.catalog.voltageDomains[index].longName)
    }
}

// MARK: - Arbitration (docs/serve.md §4)

extension SCMIPlatform {
    /// Withdraws `agent`'s on/off and level requests on every domain,
    /// reporting each change domain by domain (on/off first, then level).
    func withdrawVoltageRequests(_ state: inout SharedState, agent: Int, cause: ChangeCause) {
        for domain in catalog.voltageDomains.indices {
            if let on = state.voltageEnable.withdraw(resource: domain, agent: agent) {
                reportVoltageEnable(domain, on, agent: agent, cause: cause)
            }
            if catalog.voltageCouplings.isCoupled(domain) {
                state.voltageLevel.record(nil, resource: domain, agent: agent)
            } else if let change = state.voltageLevel.withdraw(resource: domain, agent: agent) {
                reportVoltageLevel(domain, change, agent: agent, cause: cause)
            }
        }
        // Coupled rails settle again, once every request is gone (docs/serve.md §4, "Host limits").
        catalog.voltageCouplings.settle(&state.voltageLevel) { domain, change in
            reportVoltageLevel(domain, change, agent: agent, cause: cause)
        }
    }

    func reportVoltageEnable(_ domain: Int, _ on: Bool, agent: Int, cause: ChangeCause) {
        let id = UInt32(domain), who = catalog.agents[agent].id
        report(on ? .voltageOn(domain: id, agent: who, cause: cause) : .voltageOff(domain: id, agent: who, cause: cause))
    }

    func reportVoltageLevel(_ domain: Int, _ change: (from: Int32, to: Int32), agent: Int, cause: ChangeCause) {
        report(.voltageLevel(domain: UInt32(domain), from: change.from, to: change.to, agent: catalog.agents[agent].id, cause: cause))
    }
}
