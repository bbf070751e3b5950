import ResourceTables

// Voltage domain management 0x17, version 2.0 (docs/protocol.md §13): what
// Linux's scmi-regulator sends.

enum VoltageProtocol {
    static let id = ProtocolID.voltage
    static let version: UInt32 = 0x20000

    /// Every command of version 2.0 (0x0–0x9).
    static let implemented: UInt32 = 0x3FF

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
    func handleVoltage(_ messageID: UInt8, _ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let message = VoltageMessage(rawValue: messageID) else { return .notFound }
        switch message {
        case .protocolVersion:
            return answerVersion(VoltageProtocol.version, payload, &reply)
        case .protocolAttributes:
            guard payload.count == 0 else { return .protocolError }
            reply.append(UInt32(min(platform.catalog.voltageDomains.count, 0xFFFF)))
            return .success
        case .protocolMessageAttributes:
            return answerMessageAttributes(implemented: VoltageProtocol.implemented, payload, &reply)
        case .domainAttributes: return voltageDomainAttributes(payload, &reply)
        case .describeLevels: return describeLevels(payload, &reply)
        case .configSet: return voltageConfigSet(payload)
        case .configGet: return voltageConfigGet(payload, &reply)
        case .levelSet: return levelSet(payload)
        case .levelGet: return levelGet(payload, &reply)
        case .domainNameGet: return voltageNameGet(payload, &reply)
        }
    }

    private func domainIndex(_ id: UInt32) -> Int? {
        id < UInt32(platform.catalog.voltageDomains.count) ? Int(id) : nil
    }

    /// +4 attributes (bit 30: the name is longer than 15 bytes; no async), +8 name[16].
    private func voltageDomainAttributes(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard payload.count == 4 else { return .protocolError }
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let domain = platform.catalog.voltageDomains[index]
        reply.append(domain.hasExtendedName ? VoltageProtocol.attributeExtendedName : 0)
        reply.append(bytes: domain.shortName, width: NameField.short.width)
        return .success
    }

    /// A list from `level_index` on, as many levels as the response space
    /// holds (at most 31 in 128 bytes), the rest in bits 31:16; a range as
    /// exactly one {low, high, step} segment with 0 remaining. An index past
    /// the end is OUT_OF_RANGE, as for clocks.
    private func describeLevels(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard payload.count == 8 else { return .protocolError }
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let first = payload.word(1)
        switch platform.catalog.voltageDomains[index].levels {
        case .discrete(let levels):
            guard first < UInt32(levels.count) else { return .outOfRange }
            let start = Int(first)
            let remaining = levels.count - start
            guard reply.fits(4 + 4) else { return .commsError }
            let count = min(remaining, (reply.freeBytes - 4) / 4)
            reply.append(DescribePage(returned: count, remaining: remaining - count).word)
            for level in levels[start ..< start + count] { reply.append(level) }
        case .range(let minimum, let maximum, let step):
            guard first == 0 else { return .outOfRange }
            reply.append(DescribePage.triplet.word)
            reply.append(minimum)
            reply.append(maximum)
            reply.append(step)
        }
        return .success
    }

    /// +0 domain_id, +4 config: architectural 0x7 on or 0x0 off; any other
    /// mode (implementation-defined ones included: none exist) INVALID_PARAMETERS.
    private func voltageConfigSet(_ payload: Payload) -> SCMIStatus {
        guard payload.count == 8 else { return .protocolError }
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
            platform.requestVoltageEnable(&state, domain: index, agent: agent, request)
            return .success
        }
    }

    /// This agent's own request: 0x7 when it asked for on, else 0x0.
    private func voltageConfigGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard payload.count == 4 else { return .protocolError }
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let holders = platform.catalog.voltageDomains[index].devices
        let slot = index * platform.catalog.agents.count + agent
        let on: Bool? = platform.state.withLock { state in
            mayUse(state, VoltageProtocol.id, holders: holders) ? state.voltageEnableRequests[slot] == .on : nil
        }
        guard let on else { return .denied }
        reply.append(on ? VoltageProtocol.modeOn : VoltageProtocol.modeOff)
        return .success
    }

    /// +0 domain_id, +4 flags (bit 0 async), +8 int32 level in µV; the
    /// highest request among agents wins.
    private func levelSet(_ payload: Payload) -> SCMIStatus {
        guard payload.count == 12 else { return .protocolError }
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
            platform.requestVoltageLevel(&state, domain: index, agent: agent, level: level)
            return .success
        }
    }

    /// The physical (arbitrated) level.
    private func levelGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard payload.count == 4 else { return .protocolError }
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let holders = platform.catalog.voltageDomains[index].devices
        let level: Int32? = platform.state.withLock { state in
            mayUse(state, VoltageProtocol.id, holders: holders) ? state.voltageLevel[index] : nil
        }
        guard let level else { return .denied }
        reply.append(level)
        return .success
    }

    private func voltageNameGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard payload.count == 4 else { return .protocolError }
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        reply.append(UInt32(0))
        reply.append(bytes: platform.catalog.voltageDomains[index].longName, width: NameField.extended.width)
        return .success
    }
}
