import ResourceTables

// Performance domain management 0x13, version 3.0 (docs/protocol.md §9): what
// Linux 6.12's scmi-cpufreq and scmi_perf_domain send. One domain per table
// entry; its levels are the OPP table's frequencies in kHz, ascending, so
// Linux's level ↔ Hz factor is 1000 (sustained_freq_khz = sustained_perf_level).

enum PerformanceProtocol: ResourceModel {
    static let id = ProtocolID.performance
    static let version: UInt32 = 0x30000

    /// Every command of version 3.0, the two notify commands with P2A only;
    /// not fast channels (excluded on virtio).
    static let unit = ProtocolUnit(
        id, version: version,
        // +0 bits 15:0 domains, bit 17 power costs in µW; then the statistics
        // region's address low, high and length: 0, none.
        attributes: { session, _, reply in
            session.resourceCountWithoutSharedMemory(PerformanceProtocol.self, flags: PerformanceProtocol.attributePowerInMicrowatts, &reply)
        },
        messages: [
            .handle(PerformanceMessage.domainAttributes, size: .exactly(4)) { $0.performanceDomainAttributes($1, &$2) },
            .handle(PerformanceMessage.describeLevels, size: .exactly(8)) { $0.describe(PerformanceProtocol.self, $1, &$2) },
            .handle(PerformanceMessage.limitsSet, size: .exactly(12)) { session, payload, _ in session.limitsSet(payload) },
            .handle(PerformanceMessage.limitsGet, size: .exactly(4)) { $0.limitsGet($1, &$2) },
            .handle(PerformanceMessage.levelSet, size: .exactly(8)) { session, payload, _ in session.performanceLevelSet(payload) },
            .handle(PerformanceMessage.levelGet, size: .exactly(4)) { $0.performanceLevelGet($1, &$2) },
            .notSupported(PerformanceMessage.describeFastchannel),
            .handle(PerformanceMessage.domainNameGet, size: .exactly(4)) { $0.nameGet(PerformanceProtocol.self, $1, &$2) },
        ],
        resources: ResourceHooks(PerformanceProtocol.self),
        events: events,
        subscribe: { session, event, payload in session.subscribe(PerformanceProtocol.self, event: event, payload) })

    /// PERFORMANCE_LIMITS_CHANGED {agent, domain_id, range_max, range_min} to
    /// the agent whose own limits changed, if it subscribed (sent by
    /// limitsSet); PERFORMANCE_LEVEL_CHANGED {agent that caused it, domain_id,
    /// level} to every subscriber when the physical level changes (the
    /// leaving agent's on a withdrawal).
    static let events = [
        NotificationEvent(PerformanceNotification.limitsChanged, subscribedBy: PerformanceMessage.notifyLimits, to: .causingAgent),
        NotificationEvent(PerformanceNotification.levelChanged, subscribedBy: PerformanceMessage.notifyLevel, to: .everyone) { change, message in
            guard case .value(_, let level) = change.what else { return false }
            message.append(change.agent)
            message.append(change.resource)
            message.append(UInt32(truncatingIfNeeded: level))
            return true
        },
    ]
    static let limitsChangedEvent = 0

    /// PROTOCOL_ATTRIBUTES bit 17: power costs are in microwatts.
    static let attributePowerInMicrowatts: UInt32 = 1 << 17

    /// PERFORMANCE_DOMAIN_ATTRIBUTES bits.
    static let attributeCanSetLimits: UInt32 = 1 << 31
    static let attributeCanSetLevel: UInt32 = 1 << 30
    /// Limit-change and level-change notifications (with P2A).
    static let attributeLimitsNotifications: UInt32 = 1 << 29
    static let attributeLevelNotifications: UInt32 = 1 << 28
    static let attributeExtendedName: UInt32 = 1 << 26

    // MARK: The unit's resources

    /// One PERFORMANCE_DESCRIBE_LEVELS entry (v1–v3, 12 bytes).
    struct Level: ReplyValue, Sendable {
        /// The OPP's frequency in kHz.
        let level: UInt32
        /// `opp-microwatt`, or 0.
        let powerCost: UInt32
        /// `clock-latency-ns` in µs, rounded up (bits 15:0).
        let latency: UInt32

        static var byteCount: Int { 12 }
        func write(to reply: inout Reply) {
            reply.append(level)
            reply.append(powerCost)
            reply.append(latency)
        }
    }

    /// One performance domain as the catalog holds it.
    struct Resource: DescribedResource, NamedResource {
        let name: String
        let names: ResourceNames
        /// Ascending, one entry per level, never empty for a resolved table.
        let described: DescribedValues<Level>
        /// PERFORMANCE_DOMAIN_ATTRIBUTES' sustained kHz and level: the firmware's
        /// for levels it numbers, else the highest level twice (levels are kHz).
        let sustained: (kilohertz: UInt32, level: UInt32)
        let devices: [Int]

        var levels: UnsafeBufferPointer<Level> {
            if case .discrete(let list) = described { return list }
            return UnsafeBufferPointer(start: nil, count: 0)
        }
    }

    typealias State = PerformanceState

    static let vocabulary = ResourceVocabulary(
        noun: "performance domain", plural: "performance domains", tableKey: "performance_domains", switchKey: "on",
        valueKey: "level_khz", onWord: "on", offWord: "off", quantity: "level", unit: "kHz")

    static func catalog(_ tables: PlatformTables, holders: [[Int]]) -> [Resource] {
        tables.performanceDomains.enumerated().map { index, entry in
            let served = entry.firmwareLevels.map(levels) ?? levels(entry.levels)
            let highest = served.last?.level ?? 0
            let sustained = entry.firmwareLevels.map { ($0.sustainedFrequencyKilohertz, $0.sustainedLevel) } ?? (highest, highest)
            return Resource(name: entry.name, names: ResourceNames(entry.name),
                            described: .discrete(UnsafeBufferPointer(immortalCopyOf: served)), sustained: sustained, devices: holders[index])
        }
    }

    /// A firmware's levels as it numbers them, latency cut to 16 bits.
    static func levels(_ numbered: FirmwarePerformanceLevels) -> [Level] {
        numbered.levels.map { Level(level: $0.level, powerCost: $0.powerCostMicrowatts, latency: min($0.latencyMicroseconds, 0xFFFF)) }
    }

    /// The OPPs as levels: kHz ascending, one entry per level (the first OPP
    /// of a kHz value wins), latency rounded up to whole µs and cut to 16 bits.
    static func levels(_ opps: [PerformanceLevel]) -> [Level] {
        var result: [Level] = []
        for opp in opps.sorted(by: { $0.hz < $1.hz }) {
            let kilohertz = UInt32(clamping: opp.hz / 1000)
            guard kilohertz > 0, result.last?.level != kilohertz else { continue }
            let nanoseconds = UInt64(opp.latencyNanoseconds ?? 0)
            let latency = UInt32(min((nanoseconds + 999) / 1000, 0xFFFF))
            result.append(Level(level: kilohertz, powerCost: opp.microwatts ?? 0, latency: latency))
        }
        return result
    }

    static func initialState(_ domains: UnsafeBufferPointer<Resource>, agentCount: Int) -> State {
        PerformanceState(ranges: domains.map { ($0.levels.first?.level ?? 0, $0.levels.last?.level ?? 0) }, agentCount: agentCount)
    }

    static func release(_ domain: Resource) { domain.described.release() }
}

/// Every agent's level request (highest wins; the lowest level with none)
/// and its own limits (initially the whole range), per domain.
struct PerformanceState: UnitState, Sendable {
    var level: HighestRequestArbiter<UInt32>
    /// Per domain: the lowest and highest level.
    let ranges: [(lowest: UInt32, highest: UInt32)]
    /// [domain × agentCount + agent]: the agent's {min, max}.
    private(set) var limits: [(min: UInt32, max: UInt32)]

    init(ranges: [(lowest: UInt32, highest: UInt32)], agentCount: Int) {
        self.ranges = ranges
        level = HighestRequestArbiter(initial: ranges.map(\.lowest), agentCount: agentCount)
        limits = ranges.flatMap { range in Array(repeating: (min: range.lowest, max: range.highest), count: agentCount) }
    }

    func limits(domain: Int, agent: Int) -> (min: UInt32, max: UInt32) {
        limits[domain * level.agentCount + agent]
    }

    /// Sets the agent's limits; setting the earlier ones again is the undo.
    mutating func setLimits(_ new: (min: UInt32, max: UInt32), domain: Int, agent: Int) {
        limits[domain * level.agentCount + agent] = new
    }

    /// The level is the domain's only shared quantity (0; HostState.swift).
    mutating func attach(_ owner: Attachment) { level.attach(owner, channel: 0) }

    mutating func detach(report: (_ resource: Int, PhysicalChange.What) -> Void) {
        level.detach { domain, change in report(domain, .value(from: Int64(change.from), to: Int64(change.to))) }
    }

    /// The level request goes, and the limits return to the whole range.
    mutating func withdraw(agent: Int, covers: (_ resource: Int) -> Bool, report: (_ resource: Int, PhysicalChange.What) -> Void) {
        for domain in ranges.indices where covers(domain) {
            limits[domain * level.agentCount + agent] = (ranges[domain].lowest, ranges[domain].highest)
            if let change = level.withdraw(resource: domain, agent: agent) {
                report(domain, .value(from: Int64(change.from), to: Int64(change.to)))
            }
        }
    }

    /// The domains where the agent asked for a level or narrowed its limits.
    func holdings(agent: Int, _ body: (_ resource: Int) -> Void) {
        for domain in ranges.indices {
            let own = limits(domain: domain, agent: agent)
            if level.requested(resource: domain, agent: agent) != nil || own.min != ranges[domain].lowest || own.max != ranges[domain].highest {
                body(domain)
            }
        }
    }

    /// The physical level; an agent appears when it requested a level or
    /// narrowed its limits.
    func snapshot(resource: Int, agents: [AgentInfo]) -> (on: Bool?, value: Int64?, requests: [ResourceRequest]) {
        var requests: [ResourceRequest] = []
        let whole = ranges[resource]
        for agent in agents.indices {
            let requested = level.requested(resource: resource, agent: agent)
            let own = limits(domain: resource, agent: agent)
            let narrowed = own.min != whole.lowest || own.max != whole.highest
            guard requested != nil || narrowed else { continue }
            var row = ResourceRequest(agentID: agents[agent].id, agentName: agents[agent].name, on: nil, value: requested.map { Int64($0) })
            if narrowed { row.limits = ResourceRequest.Limits(min: Int64(own.min), max: Int64(own.max)) }
            requests.append(row)
        }
        return (nil, Int64(level.value[resource]), requests)
    }
}

extension AgentSession {
    fileprivate func performanceDomainIndex(_ id: UInt32) -> Int? { resourceIndex(PerformanceProtocol.self, id) }

    fileprivate var performanceDomains: UnsafeBufferPointer<PerformanceProtocol.Resource> { resources(PerformanceProtocol.self) }

    /// +4 attributes, +8 rate_limit 0, +12 sustained_freq_khz, +16
    /// sustained_perf_level (both the highest level, unless the levels are a
    /// firmware's own), +20 name[16].
    fileprivate func performanceDomainAttributes(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = performanceDomainIndex(payload.word(0)) else { return .notFound }
        let domain = performanceDomains.baseAddress.unsafelyUnwrapped + index
        var attributes = PerformanceProtocol.attributeCanSetLimits | PerformanceProtocol.attributeCanSetLevel
        if domain.pointee.names.isExtended { attributes |= PerformanceProtocol.attributeExtendedName }
        if deliversNotifications {
            attributes |= PerformanceProtocol.attributeLimitsNotifications | PerformanceProtocol.attributeLevelNotifications
        }
        reply.append(attributes)
        reply.append(UInt32(0))
        reply.append(domain.pointee.sustained.kilohertz)
        reply.append(domain.pointee.sustained.level)
        reply.appendName(domain.pointee.names, .short)
        return .success
    }

    /// +0 domain_id, +4 level: a described level inside this agent's limits
    /// (else OUT_OF_RANGE); the highest request among agents is the physical level.
    fileprivate func performanceLevelSet(_ payload: Payload) -> SCMIStatus {
        guard let index = performanceDomainIndex(payload.word(0)) else { return .notFound }
        let requested = payload.word(1)
        let domain = performanceDomains.baseAddress.unsafelyUnwrapped + index
        var previous: UInt32? = nil
        return change(PerformanceProtocol.self, index) { state, shared in
            guard mayUse(shared, PerformanceProtocol.id, holders: domain.pointee.devices) else { return (.denied, nil) }
            let own = state.limits(domain: index, agent: agent)
            guard requested >= own.min, requested <= own.max, domain.pointee.levels.contains(where: { $0.level == requested }) else {
                return (.outOfRange, nil)
            }
            previous = state.level.requested(resource: index, agent: agent)
            return (.success, state.level.request(requested, resource: index, agent: agent).map(PerformanceState.what))
        } undo: { state in
            state.level.restore(previous, resource: index, agent: agent)
        }
    }

    /// The physical level: the arbitrated one, or the hardware's (physicalValue).
    fileprivate func performanceLevelGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = performanceDomainIndex(payload.word(0)) else { return .notFound }
        return physicalValue(PerformanceProtocol.self, index, holders: performanceDomains[index].devices, &reply) { $0.append($1) }
    }

    /// +0 domain_id, +4 range_max, +8 range_min: min ≤ max (else
    /// INVALID_PARAMETERS), both inside the described range (else
    /// OUT_OF_RANGE). The agent's level request is moved inside: above max to
    /// the highest level ≤ max, below min to the lowest level ≥ min, and
    /// withdrawn when no level lies inside (docs/serve-choices.md). When the
    /// limits differ from the agent's previous ones, PERFORMANCE_LIMITS_CHANGED
    /// goes to the agent (if subscribed), before the level change it may cause.
    fileprivate func limitsSet(_ payload: Payload) -> SCMIStatus {
        guard let index = performanceDomainIndex(payload.word(0)) else { return .notFound }
        let maximum = payload.word(1), minimum = payload.word(2)
        let domain = performanceDomains.baseAddress.unsafelyUnwrapped + index
        var limitsChanged = false
        var previous: (limits: (min: UInt32, max: UInt32), level: UInt32?) = ((0, 0), nil)
        return change(PerformanceProtocol.self, index) { state, shared in
            guard mayUse(shared, PerformanceProtocol.id, holders: domain.pointee.devices) else { return (.denied, nil) }
            guard minimum <= maximum else { return (.invalidParameters, nil) }
            let range = state.ranges[index]
            guard minimum >= range.lowest, maximum <= range.highest else { return (.outOfRange, nil) }
            let before = state.limits(domain: index, agent: agent)
            limitsChanged = before.min != minimum || before.max != maximum
            previous = (before, state.level.requested(resource: index, agent: agent))
            state.setLimits((minimum, maximum), domain: index, agent: agent)
            guard let current = previous.level, current < minimum || current > maximum else {
                return (.success, nil)
            }
            let levels = domain.pointee.levels
            let moved = current > maximum ? levels.last(where: { $0.level <= maximum })?.level : levels.first(where: { $0.level >= minimum })?.level
            let change: (from: UInt32, to: UInt32)?
            if let moved, moved >= minimum, moved <= maximum {
                change = state.level.request(moved, resource: index, agent: agent)
            } else {
                change = state.level.withdraw(resource: index, agent: agent)
            }
            return (.success, change.map(PerformanceState.what))
        } undo: { state in
            state.setLimits(previous.limits, domain: index, agent: agent)
            state.level.restore(previous.level, resource: index, agent: agent)
        } accepted: {
            guard limitsChanged else { return }
            platform.notify(event: eventIndex(PerformanceProtocol.self, PerformanceProtocol.limitsChangedEvent),
                            resource: index, causing: agent) { message in
                message.append(info.id)
                message.append(UInt32(index))
                message.append(maximum)
                message.append(minimum)
            }
        }
    }

    /// This agent's own limits: +4 range_max, +8 range_min.
    fileprivate func limitsGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = performanceDomainIndex(payload.word(0)) else { return .notFound }
        let holders = performanceDomains[index].devices
        let limits: (min: UInt32, max: UInt32)? = platform.state.withLock { locked in
            mayUse(locked, PerformanceProtocol.id, holders: holders)
                ? state(PerformanceProtocol.self, &locked).pointee.limits(domain: index, agent: agent) : nil
        }
        guard let limits else { return .denied }
        reply.append(limits.max)
        reply.append(limits.min)
        return .success
    }
}

extension PerformanceState {
    static func what(_ change: (from: UInt32, to: UInt32)) -> PhysicalChange.What {
        .value(from: Int64(change.from), to: Int64(change.to))
    }
}
