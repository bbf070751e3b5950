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
        /// Never switched off: `regulator-always-on`, or a rail host devices use
        /// (docs/serve.md §4, "Host limits").
        let alwaysOn: Bool
        /// The partners its regulator is coupled with, and the spreads.
        let couplings: [VoltageCoupling]
        let devices: [Int]
        /// The host regulator: its node's path.
        let hostKey: String
    }

    /// On/off ("on while anyone wants it on", always-on rails pinned on) and
    /// level ("highest wins"), with coupled rails kept within their spreads.
    struct State: UnitState, ValueArbitrated, Sendable {
        var rails: SwitchedValueState<Int32>
        var valueArbiter: HighestRequestArbiter<Int32> { rails.value }
        let couplings: CoupledLevels
        /// The domains a coupled request moved besides its own, for the host
        /// (capacity for every domain reserved at start: no allocation per message).
        var followers: [(domain: Int, change: (from: Int32, to: Int32))]

        /// Resource by resource; coupled rails are settled together once every
        /// request is gone, so each reports one move. `covers` accepts a
        /// coupled group whole or not at all (holdings gives whole groups).
        mutating func withdraw(agent: Int, covers: (_ resource: Int) -> Bool, report: (_ resource: Int, PhysicalChange.What) -> Void) {
            var settles = false
            for resource in 0 ..< rails.enable.resourceCount where covers(resource) {
                if let on = rails.enable.withdraw(resource: resource, agent: agent) {
                    report(resource, .switched(on: on))
                }
                if couplings.isCoupled(resource) {
                    rails.value.record(nil, resource: resource, agent: agent)
                    settles = true
                } else if let change = rails.value.withdraw(resource: resource, agent: agent) {
                    report(resource, SwitchedValueState.what(change))
                }
            }
            guard settles else { return }
            for domain in couplings.coupled where covers(domain) && couplings.group[domain].first == domain {
                couplings.settle(&rails.value, domains: couplings.group[domain]) { domain, change in report(domain, SwitchedValueState.what(change)) }
            }
        }

        /// The rails the agent asked something of, each with its coupled group.
        func holdings(agent: Int, _ body: (_ resource: Int) -> Void) {
            rails.holdings(agent: agent) { resource in
                for member in couplings.group[resource] { body(member) }
            }
        }

        func snapshot(resource: Int, agents: [AgentInfo]) -> (on: Bool?, value: Int64?, requests: [ResourceRequest]) {
            rails.snapshot(resource: resource, agents: agents)
        }

        mutating func attach(_ owner: Attachment) { rails.attach(owner) }

        mutating func detach(report: (_ resource: Int, PhysicalChange.What) -> Void) { rails.detach(report: report) }
    }

    static let vocabulary = ResourceVocabulary(
        noun: "voltage domain", plural: "voltage domains", tableKey: "voltage_domains", switchKey: "on",
        valueKey: "level_microvolts", onWord: "on", offWord: "off", quantity: "level", unit: "uV")

    static func catalog(_ tables: PlatformTables, holders: [[Int]]) -> [Resource] {
        tables.voltageDomains.enumerated().map { index, entry in
            let described: DescribedValues<Int32> =
                switch entry.levels {
                case .discrete(let list): DescribedValues(normalizing: list)
                case .range(let low, let high, let step): DescribedValues(normalizing: low, high, step: step)
                }
            return Resource(name: entry.name, names: ResourceNames(entry.name), described: described,
                            initialLevel: entry.initialLevel, initiallyOn: entry.initiallyOn || entry.alwaysOn,
                            alwaysOn: entry.alwaysOn, couplings: entry.couplings, devices: holders[index],
                            hostKey: entry.regulatorPath)
        }
    }

    /// With no request, the host regulator's initial state (always-on /
    /// boot-on, docs/binding.md §5.2) and level, coupled rails settled within
    /// their spreads.
    static func initialState(_ domains: UnsafeBufferPointer<Resource>, agentCount: Int) -> State {
        let levels = domains.map { domain -> VoltageLevels in
            switch domain.described {
            case .discrete(let list): .discrete(Array(list))
            case .range(let low, let high, let step): .range(min: low, max: high, step: step)
            }
        }
        var state = State(
            rails: SwitchedValueState(
                initiallyOn: domains.map(\.initiallyOn), initialValue: domains.map(\.initialLevel), agentCount: agentCount,
                pinnedOn: domains.map(\.alwaysOn)),
            couplings: CoupledLevels(couplings: domains.map(\.couplings), levels: levels), followers: [])
        state.followers.reserveCapacity(domains.count)
        state.couplings.settle(&state.rails.value) { _, _ in }
        return state
    }

    static func release(_ domain: Resource) { domain.described.release() }

    static let attributeExtendedName: UInt32 = 1 << 30
    /// Asynchronous VOLTAGE_LEVEL_SET (with P2A).
    static let attributeAsyncLevelSet: UInt32 = 1 << 31

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

    /// +4 attributes (bit 30: the name is longer than 15 bytes; bit 31: async
    /// level set, with P2A), +8 name[16].
    fileprivate func voltageDomainAttributes(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let names = domains[index].names
        var attributes = names.isExtended ? VoltageProtocol.attributeExtendedName : 0
        if deliversDelayedResponses { attributes |= VoltageProtocol.attributeAsyncLevelSet }
        reply.append(attributes)
        reply.appendName(names, .short)
        return .success
    }

    /// +0 domain_id, +4 config: architectural 0x7 on or 0x0 off; any other
    /// mode (implementation-defined ones included: none exist) INVALID_PARAMETERS.
    fileprivate func voltageConfigSet(_ payload: Payload) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let config = payload.word(1)
        let holders = domains[index].devices
        var previous = SwitchRequest.none
        return change(VoltageProtocol.self, index) { state, shared in
            guard mayUse(shared, VoltageProtocol.id, holders: holders) else { return (.denied, nil) }
            let request: SwitchRequest
            switch config {
            case VoltageProtocol.modeOn: request = .on
            case VoltageProtocol.modeOff: request = .off
            default: return (.invalidParameters, nil)
            }
            previous = state.rails.enable.request(resource: index, agent: agent)
            return (.success, state.rails.enable.request(request, resource: index, agent: agent).map { .switched(on: $0) })
        } undo: { state in
            _ = state.rails.enable.request(previous, resource: index, agent: agent)
        }
    }

    /// This agent's own request: 0x7 when it asked for on, else 0x0.
    fileprivate func voltageConfigGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let holders = domains[index].devices
        let on: Bool? = platform.state.withLock { locked in
            mayUse(locked, VoltageProtocol.id, holders: holders)
                ? state(VoltageProtocol.self, &locked).pointee.rails.enable.request(resource: index, agent: agent) == .on : nil
        }
        guard let on else { return .denied }
        reply.append(on ? VoltageProtocol.modeOn : VoltageProtocol.modeOff)
        return .success
    }

    /// +0 domain_id, +4 flags (bit 0 async), +8 int32 level in µV; the
    /// highest request among agents wins. For a coupled rail, a request after
    /// which it would be further than the spread from a partner is OUT_OF_RANGE
    /// and is not recorded (docs/serve.md §4, "Host limits"). Asynchronous (with
    /// P2A only): SUCCESS once the checks pass (BUSY while 16 asynchronous
    /// commands are pending), then carried out by the host-action thread in its
    /// turn; VOLTAGE_LEVEL_SET_COMPLETE {domain_id, physical level}, or the
    /// status that refused it (the host's, or a coupled rail's OUT_OF_RANGE)
    /// with the request rolled back, follows on the eventq.
    fileprivate func levelSet(_ payload: Payload) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        let flags = payload.word(1)
        let level = payload.int32(2)
        let domain = domains.baseAddress.unsafelyUnwrapped + index
        guard flags & VoltageProtocol.flagAsync != 0 else { return levelSet(domain, index, flags, level, turnHeld: false) }
        let isCoupled = !domain.pointee.couplings.isEmpty
        return submit(VoltageProtocol.self, index, payload, group: { locked in
            isCoupled ? state(VoltageProtocol.self, &locked).pointee.couplings.group[index] : nil
        }) { shared in
            levelSetCheck(shared, domain, flags, level, arriving: true)
        } run: { session, job in
            session.finishLevelSet(job)
        }
    }

    /// VOLTAGE_LEVEL_SET carried out: now (synchronous), or by the host-action
    /// thread with the domain's turns held (asynchronous).
    private func levelSet(_ domain: UnsafePointer<VoltageProtocol.Resource>, _ index: Int, _ flags: UInt32, _ level: Int32,
                          turnHeld: Bool) -> SCMIStatus {
        guard domain.pointee.couplings.isEmpty else { return coupledLevelSet(domain, index, flags, level, turnHeld: turnHeld) }
        var previous: Int32? = nil
        return change(VoltageProtocol.self, index, turnHeld: turnHeld) { state, shared in
            let status = levelSetCheck(shared, domain, flags, level, arriving: !turnHeld)
            guard status.isSuccess else { return (status, nil) }
            previous = state.rails.value.requested(resource: index, agent: agent)
            return (.success, state.rails.value.request(level, resource: index, agent: agent).map(SwitchedValueState.what))
        } undo: { state in
            state.rails.value.restore(previous, resource: index, agent: agent)
        }
    }

    /// An asynchronous VOLTAGE_LEVEL_SET on the host-action thread: carried
    /// out, then VOLTAGE_LEVEL_SET_COMPLETE.
    fileprivate func finishLevelSet(_ job: HostJob) {
        let index = Int(job.parameters.0)
        let domain = domains.baseAddress.unsafelyUnwrapped + index
        let status = levelSet(domain, index, job.parameters.1, Int32(bitPattern: job.parameters.2), turnHeld: true)
        completeValueSet(job, VoltageProtocol.self, index, status) { $0.append($1) }
    }

    /// What VOLTAGE_LEVEL_SET answers before arbitration: the agent may use the
    /// domain, no reserved flag, a described level; `arriving`: also
    /// asynchronous only with P2A and fewer than 16 pending (the host-action
    /// thread checks the rest again when it carries the command out).
    private func levelSetCheck(
        _ shared: borrowing SharedState, _ domain: UnsafePointer<VoltageProtocol.Resource>, _ flags: UInt32, _ level: Int32,
        arriving: Bool
    ) -> SCMIStatus {
        guard mayUse(shared, VoltageProtocol.id, holders: domain.pointee.devices) else { return .denied }
        guard flags & ~VoltageProtocol.flagAsync == 0 else { return .invalidParameters }
        // Asynchronous ends in a delayed response on the eventq: without P2A
        // NOT_SUPPORTED (docs/protocol.md §15); BUSY while 16 wait.
        if arriving && flags & VoltageProtocol.flagAsync != 0 {
            guard deliversDelayedResponses else { return .notSupported }
            guard asyncSlotFree(shared) else { return .busy }
        }
        switch VoltageProtocol.check(level, in: domain.pointee.described) {
        case .outOfRange: return .outOfRange
        case .offGrid: return .invalidParameters
        case .valid: return .success
        }
    }

    /// VOLTAGE_LEVEL_SET on a coupled rail, through the host seam like any SET
    /// (HostInterface.swift), except that settling the coupled rails may move
    /// partners too (a rail held up by this one follows it down), so the
    /// request takes the turns of its whole coupled group at once. The rail's
    /// own move goes to the host first; when the host refuses it the request
    /// is put back and nothing else moves. The partners' moves follow, and like
    /// a withdrawal's cannot be refused.
    private func coupledLevelSet(
        _ domain: UnsafePointer<VoltageProtocol.Resource>, _ index: Int, _ flags: UInt32, _ level: Int32, turnHeld: Bool
    ) -> SCMIStatus {
        // Plain variables rather than a decision tuple passed around, and the
        // platform and the turns read once: each copy would cost a reference
        // count per message.
        let platform = self.platform
        let turns = turns(VoltageProtocol.self)
        var status = SCMIStatus.success
        var own: (from: Int32, to: Int32)? = nil
        var followers: [(domain: Int, change: (from: Int32, to: Int32))] = []
        var previous: Int32?
        var group: [Int] = []
        var tickets: [HeldTurn] = []
        platform.state.withLock { locked in
            group = state(VoltageProtocol.self, &locked).pointee.couplings.group[index]
            if turnHeld && ended.load(ordering: .acquiring) {
                status = .genericError  // see decideUnlessEnded
                return
            }
            var free = true
            for member in group where !turns[member].pointee.isFree { free = false }
            if turnHeld || free {
                (status, own, followers) = coupledDecision(&locked, domain, index, flags, level, group, arriving: !turnHeld, previous: &previous)
                if own != nil && !turnHeld {
                    for member in group { _ = turns[member].pointee.take() }
                }
            } else {
                tickets = group.map { HeldTurn(taking: turns[$0]) }
            }
        }
        if !tickets.isEmpty {
            // A change is in flight on the group: decide when it is our turn on every rail of it.
            _ = platform.state.whenReady(platform.owner) { locked -> Bool? in
                guard tickets.allSatisfy({ $0.isServed }) else { return nil }
                (status, own, followers) = coupledDecision(&locked, domain, index, flags, level, group, arriving: true, previous: &previous)
                return true
            }
        }
        guard status.isSuccess, let own else {
            if !tickets.isEmpty { passTurns(group, turns) }
            return status
        }
        let change = PhysicalChange(VoltageProtocol.id, resource: UInt32(index), SwitchedValueState.what(own), agent: info.id, cause: .request)
        let applied = platform.host.apply(change)
        if applied.isSuccess {
            platform.report(change)
            for (domain, moved) in followers {
                let follower = PhysicalChange(VoltageProtocol.id, resource: UInt32(domain), SwitchedValueState.what(moved), agent: info.id, cause: .request)
                _ = platform.host.apply(follower)
                platform.report(follower)
            }
        } else {
            platform.state.withLock { locked in
                let unit = state(VoltageProtocol.self, &locked)
                unit.pointee.rails.value.record(previous, resource: index, agent: agent)
                unit.pointee.couplings.settle(&unit.pointee.rails.value, domains: group) { _, _ in }
            }
        }
        if !turnHeld { passTurns(group, turns) }
        return applied
    }

    /// A coupled VOLTAGE_LEVEL_SET decided (lock held, the turns of `group`,
    /// the rail's coupled group, held or free): checked, recorded (the
    /// request it replaces in `previous`), the group settled. The followers are handed out as the
    /// state's own buffer (a reference, no copy); a decision of another group
    /// meanwhile writes it only after this one let go of it (copy on write).
    private func coupledDecision(
        _ locked: inout SharedState, _ domain: UnsafePointer<VoltageProtocol.Resource>, _ index: Int, _ flags: UInt32, _ level: Int32,
        _ group: [Int], arriving: Bool, previous: inout Int32?
    ) -> (status: SCMIStatus, own: (from: Int32, to: Int32)?, followers: [(domain: Int, change: (from: Int32, to: Int32))]) {
        let status = levelSetCheck(locked, domain, flags, level, arriving: arriving)
        guard status.isSuccess else { return (status, nil, []) }
        let unit = state(VoltageProtocol.self, &locked)
        let settled = unit.pointee.rails.value.settled(ifRequested: level, resource: index, agent: agent)
        guard unit.pointee.couplings.allows(settled, domain: index, unit.pointee.rails.value) else { return (.outOfRange, nil, []) }
        previous = unit.pointee.rails.value.requested(resource: index, agent: agent)
        unit.pointee.rails.value.record(level, resource: index, agent: agent)
        var own: (from: Int32, to: Int32)?
        unit.pointee.followers.removeAll(keepingCapacity: true)
        unit.pointee.couplings.settle(&unit.pointee.rails.value, domains: group) { domain, change in
            if domain == index { own = change } else { unit.pointee.followers.append((domain, change)) }
        }
        return (.success, own, unit.pointee.followers)
    }

    /// Passes on the turns (`turns`: the unit's) of the rails `domains` (taking the lock).
    private func passTurns(_ domains: [Int], _ turns: UnsafeMutablePointer<UnsafeMutablePointer<ResourceTurn>>) {
        let owner = platform.owner
        var wake = false
        platform.state.withLock { _ in
            for member in domains { wake = owner.pass(turns[member]) || wake }
        }
        if wake { owner.signal.wake() }
    }

    /// The physical level: the arbitrated one, or the hardware's (physicalValue).
    fileprivate func levelGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = domainIndex(payload.word(0)) else { return .notFound }
        return physicalValue(VoltageProtocol.self, index, holders: domains[index].devices, &reply) { $0.append($1) }
    }
}
