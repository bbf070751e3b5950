import ResourceTables

// Voltage domain management 0x17, version 2.0 (docs/protocol.md §13): what
// Linux's scmi-regulator sends.

enum VoltageProtocol: ResourceModel {
    static let id = ProtocolID.voltage
    static let version: UInt32 = 0x20000

    /// Every command of version 2.0 (0x0–0x9).
    static let unit = ProtocolUnit(
        id, version: version,
        attributes: { session, _, reply in session.resourceCount(VoltageProtocol.self, &reply) },
        messages: [
            .handle(VoltageMessage.domainAttributes, size: .exactly(4)) { $0.voltageDomainAttributes($1, &$2) },
            .handle(VoltageMessage.describeLevels, size: .exactly(8)) { $0.describe(VoltageProtocol.self, $1, &$2) },
            .handle(VoltageMessage.configSet, size: .exactly(8)) { session, payload, _ in session.voltageConfigSet(payload) },
            .handle(VoltageMessage.configGet, size: .exactly(4)) { $0.voltageConfigGet($1, &$2) },
            .handle(VoltageMessage.levelSet, size: .exactly(12)) { session, payload, _ in session.levelSet(payload) },
            .handle(VoltageMessage.levelGet, size: .exactly(4)) { $0.levelGet($1, &$2) },
            .handle(VoltageMessage.domainNameGet, size: .exactly(4)) { $0.nameGet(VoltageProtocol.self, $1, &$2) },
        ],
        resources: ResourceHooks(VoltageProtocol.self))

    // MARK: The unit's resources

    /// One voltage domain as the catalog holds it.
    struct Resource: DescribedResource, NamedResource {
        let name: String
        let names: ResourceNames
        /// The levels, as VOLTAGE_DESCRIBE_LEVELS pages them and VOLTAGE_LEVEL_SET checks.
        let described: DescribedValues<Int32>
        let initialLevel: Int32
        let initiallyOn: Bool
        let devices: [Int]
        /// The host regulator: its node's path.
        let hostKey: String
    }

    /// On/off ("on while anyone wants it on") and level ("highest wins").
    typealias State = SwitchedValueState<Int32>

    static let vocabulary = ResourceVocabulary(
        noun: "voltage domain", plural: "voltage domains", tableKey: "voltageDomains", switchKey: "on",
        valueKey: "levelMicrovolts", onWord: "on", offWord: "off", quantity: "level", unit: "uV")

    static func catalog(_ tables: PlatformTables, holders: [[Int]]) -> [Resource] {
        tables.voltageDomains.enumerated().map { index, entry in
            let described: DescribedValues<Int32> =
                switch entry.levels {
                case .discrete(let list): DescribedValues(normalizing: list)
                case .range(let low, let high, let step): DescribedValues(normalizing: low, high, step: step)
                }
            return Resource(name: entry.name, names: ResourceNames(entry.name), described: described,
                            initialLevel: entry.initialLevel, initiallyOn: entry.initiallyOn, devices: holders[index],
                            hostKey: entry.regulatorPath)
        }
    }

    /// With no request, the host regulator's initial state (always-on /
    /// boot-on, docs/binding.md §5.2) and level.
    static func initialState(_ domains: UnsafeBufferPointer<Resource>, agentCount: Int) -> State {
        State(initiallyOn: domains.map(\.initiallyOn), initialValue: domains.map(\.initialLevel), agentCount: agentCount)
    }

    static func release(_ domain: Resource) { domain.described.release() }

    static let attributeExtendedName: UInt32 = 1 << 30

    /// Architectural modes of VOLTAGE_CONFIG_SET / GET.
    static let modeOff: UInt32 = 0x0
    static let modeOn: UInt32 = 0x7

    static let flagAsync: UInt32 = 1 << 0

    enum LevelCheck { case valid, outOfRange, offGrid }

    /// Outside the description: OUT_OF_RANGE. Inside it but not a described
    /// level (between list entries, or off a range's step grid, whose valid
    /// levels are min + k·step and max): INVALID_PARAMETERS.
    static func check(_ level: Int32, in levels: DescribedValues<Int32>) -> LevelCheck {
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
    fileprivate func domainIndex(_ id: UInt32) -> Int? { resourceIndex(VoltageProtocol.self, id) }

    fileprivate var domains: UnsafeBufferPointer<VoltageProtocol.Resource> { resources(VoltageProtocol.self) }

    /// +4 attributes (bit 30: the name is longer than 15 bytes; no async), +8 name[16].
    fileprivate func voltageDomainAttributes(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let names = domains[index].names
        reply.append(names.isExtended ? VoltageProtocol.attributeExtendedName : 0)
        reply.appendName(names.short, .short)
        return .success
    }

    /// +0 domain_id, +4 config: architectural 0x7 on or 0x0 off; any other
    /// mode (implementation-defined ones included: none exist) INVALID_PARAMETERS.
    fileprivate func voltageConfigSet(_ payload: Payload) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let config = payload.word(1)
        let holders = domains[index].devices
        return change(VoltageProtocol.self) { state, shared in
            guard mayUse(shared, VoltageProtocol.id, holders: holders) else { return (.denied, index, nil) }
            let request: SwitchRequest
            switch config {
            case VoltageProtocol.modeOn: request = .on
            case VoltageProtocol.modeOff: request = .off
            default: return (.invalidParameters, index, nil)
            }
            return (.success, index, state.enable.request(request, resource: index, agent: agent).map { .switched(on: $0) })
        } undo: { state, resource in
            state.enable.undoLastRequest(resource: resource)
        }
    }

    /// This agent's own request: 0x7 when it asked for on, else 0x0.
    fileprivate func voltageConfigGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let holders = domains[index].devices
        let on: Bool? = platform.state.withLock { locked in
            mayUse(locked, VoltageProtocol.id, holders: holders)
                ? state(VoltageProtocol.self, &locked).pointee.enable.request(resource: index, agent: agent) == .on : nil
        }
        guard let on else { return .denied }
        reply.append(on ? VoltageProtocol.modeOn : VoltageProtocol.modeOff)
        return .success
    }

    /// +0 domain_id, +4 flags (bit 0 async), +8 int32 level in µV; the
    /// highest request among agents wins.
    fileprivate func levelSet(_ payload: Payload) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let flags = payload.word(1)
        let level = payload.int32(2)
        let domain = domains.baseAddress.unsafelyUnwrapped + index
        return change(VoltageProtocol.self) { state, shared in
            guard mayUse(shared, VoltageProtocol.id, holders: domain.pointee.devices) else { return (.denied, index, nil) }
            guard flags & ~VoltageProtocol.flagAsync == 0 else { return (.invalidParameters, index, nil) }
            // Asynchronous ends in a delayed response on the eventq, which is
            // not offered (docs/protocol.md §15): NOT_SUPPORTED.
            guard flags & VoltageProtocol.flagAsync == 0 else { return (.notSupported, index, nil) }
            switch VoltageProtocol.check(level, in: domain.pointee.described) {
            case .outOfRange: return (.outOfRange, index, nil)
            case .offGrid: return (.invalidParameters, index, nil)
            case .valid: break
            }
            return (.success, index, state.value.request(level, resource: index, agent: agent).map(VoltageProtocol.State.what))
        } undo: { state, resource in
            state.value.undoLastRequest(resource: resource)
        }
    }

    /// The physical (arbitrated) level.
    fileprivate func levelGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let holders = domains[index].devices
        let level: Int32? = platform.state.withLock { locked in
            mayUse(locked, VoltageProtocol.id, holders: holders) ? state(VoltageProtocol.self, &locked).pointee.value.value[index] : nil
        }
        guard let level else { return .denied }
        reply.append(level)
        return .success
    }
}
