// The two arbitration rules between agents (docs/serve.md §4, "Arbitration
// between agents"), as reusable value types: "on while anyone wants it on"
// (SwitchArbiter) and "highest request wins" (HighestRequestArbiter). Each
// owns every agent's request for every resource of one kind and the physical
// state derived from them, in flat arrays sized at start and indexed
// [resource × agentCount + agent], so that no message ever grows them. They
// live in a protocol unit's state (UnitResources.swift), guarded by
// SCMIPlatform's Mutex; every method runs with the lock held. Recording or withdrawing a request settles the resource and
// returns the change of physical state, if any, for the protocol to report.

import ResourceTables

/// One agent's request for something that is on or off.
enum SwitchRequest: UInt8, Sendable {
    case none, off, on
}

/// On while any agent has it on; off when every request is off; with no
/// request at all, the resource's initial state. A resource the host needs
/// (`pinnedOn`: a regulator-always-on rail) is on whatever the requests say;
/// the requests are still recorded, so each agent reads back its own.
struct SwitchArbiter: Sendable {
    let agentCount: Int
    /// Per resource: the state with no request at all.
    let initial: [Bool]
    /// Per resource: never switched off (empty: none is).
    let pinnedOn: [Bool]
    private var requests: [SwitchRequest]
    /// Per resource: the derived (physical) state.
    private(set) var isOn: [Bool]
    /// The slot the last request() changed and what it held, for
    /// undoLastRequest() (one at a time: SCMIPlatform.hostLock orders changes).
    private var undo: (slot: Int, request: SwitchRequest) = (0, .none)

    init(initial: [Bool], agentCount: Int, pinnedOn: [Bool] = []) {
        self.agentCount = agentCount
        self.initial = initial
        self.pinnedOn = pinnedOn
        requests = Array(repeating: .none, count: initial.count * agentCount)
        isOn = initial.indices.map { initial[$0] || (pinnedOn.indices.contains($0) && pinnedOn[$0]) }
    }

    var resourceCount: Int { initial.count }

    /// `agent`'s own request for `resource`.
    func request(resource: Int, agent: Int) -> SwitchRequest {
        requests[resource * agentCount + agent]
    }

    /// `agent`'s request as a snapshot row: nil when it has not asked.
    func requested(resource: Int, agent: Int) -> Bool? {
        switch request(resource: resource, agent: agent) {
        case .none: nil
        case .off: false
        case .on: true
        }
    }

    /// Records `agent`'s request and settles; the new physical state when it changed.
    mutating func request(_ request: SwitchRequest, resource: Int, agent: Int) -> Bool? {
        let slot = resource * agentCount + agent
        undo = (slot, requests[slot])
        requests[slot] = request
        return settle(resource: resource)
    }

    /// Puts back the request the last request() replaced and settles again
    /// (the host could not apply the change it decided).
    mutating func undoLastRequest(resource: Int) {
        requests[undo.slot] = undo.request
        _ = settle(resource: resource)
    }

    /// Withdraws `agent`'s request, if it holds one, and settles; the new
    /// physical state when it changed.
    mutating func withdraw(resource: Int, agent: Int) -> Bool? {
        let slot = resource * agentCount + agent
        guard requests[slot] != .none else { return nil }
        requests[slot] = .none
        return settle(resource: resource)
    }

    private mutating func settle(resource: Int) -> Bool? {
        var anyRequest = false
        var on = false
        let first = resource * agentCount
        for slot in first ..< first + agentCount {
            switch requests[slot] {
            case .on: on = true
            case .off: anyRequest = true
            case .none: break
            }
            if on { break }
        }
        let pinned = resource < pinnedOn.count && pinnedOn[resource]
        let derived = pinned || on ? true : anyRequest ? false : initial[resource]
        guard derived != isOn[resource] else { return nil }
        isOn[resource] = derived
        return derived
    }
}

/// The highest value any agent requested; with no request at all, the
/// resource's initial value; never below the resource's floor, when it has
/// one (a coupled rail: its partner's level minus the spread).
struct HighestRequestArbiter<Value: Comparable & Sendable>: Sendable {
    let agentCount: Int
    /// Per resource: the value with no request at all.
    let initial: [Value]
    private var requests: [Value]
    private var hasRequest: [Bool]
    /// Per resource: the lowest value it may settle at, if any.
    private var floor: [Value?]
    /// Per resource: the derived (physical) value.
    private(set) var value: [Value]
    /// The slot the last request() changed and what it held (undoLastRequest()).
    private var undo: (slot: Int, request: Value, hadRequest: Bool)

    init(initial: [Value], agentCount: Int, placeholder: Value) {
        self.agentCount = agentCount
        self.initial = initial
        requests = Array(repeating: placeholder, count: initial.count * agentCount)
        hasRequest = Array(repeating: false, count: initial.count * agentCount)
        floor = Array(repeating: nil, count: initial.count)
        value = initial
        undo = (0, placeholder, false)
    }

    /// The value `resource` would settle at if `agent` asked for `request`
    /// (nothing is recorded): to refuse a request before it breaks a rule.
    func settled(ifRequested request: Value, resource: Int, agent: Int) -> Value {
        derived(resource: resource, replacing: resource * agentCount + agent, with: request)
    }

    /// What `resource` settles at without its floor: the highest request, else the initial value.
    func demand(resource: Int) -> Value {
        derived(resource: resource, floored: false)
    }

    func floor(resource: Int) -> Value? { floor[resource] }

    /// Sets (nil: clears) `resource`'s floor without settling: a rule over
    /// several resources (CoupledLevels) sets them all, then `resettle`s each.
    mutating func setFloor(_ newFloor: Value?, resource: Int) {
        floor[resource] = newFloor
    }

    /// Settles `resource` after its floor changed; the change of physical value, if any.
    mutating func resettle(resource: Int) -> (from: Value, to: Value)? {
        settle(resource: resource)
    }

    var resourceCount: Int { initial.count }

    /// `agent`'s request for `resource` as a snapshot row: nil when it has not asked.
    func requested(resource: Int, agent: Int) -> Value? {
        let slot = resource * agentCount + agent
        return hasRequest[slot] ? requests[slot] : nil
    }

    /// Records `agent`'s request and settles; the change when the physical value changed.
    mutating func request(_ request: Value, resource: Int, agent: Int) -> (from: Value, to: Value)? {
        let slot = resource * agentCount + agent
        undo = (slot, requests[slot], hasRequest[slot])
        requests[slot] = request
        hasRequest[slot] = true
        return settle(resource: resource)
    }

    /// Puts back the request the last request() replaced and settles again.
    mutating func undoLastRequest(resource: Int) {
        requests[undo.slot] = undo.request
        hasRequest[undo.slot] = undo.hadRequest
        _ = settle(resource: resource)
    }

    /// Withdraws `agent`'s request, if it holds one, and settles; like
    /// request(), undoLastRequest() puts it back.
    mutating func withdraw(resource: Int, agent: Int) -> (from: Value, to: Value)? {
        let slot = resource * agentCount + agent
        guard hasRequest[slot] else { return nil }
        undo = (slot, requests[slot], true)
        hasRequest[slot] = false
        return settle(resource: resource)
    }

    /// Records (nil: withdraws) `agent`'s request without settling: a rule over
    /// several resources (CoupledLevels) settles them together afterwards, so
    /// that each reports one change, not a step through a stale floor.
    mutating func record(_ request: Value?, resource: Int, agent: Int) {
        let slot = resource * agentCount + agent
        if let request { requests[slot] = request }
        hasRequest[slot] = request != nil
    }

    /// The highest request (with `slot`'s replaced by `replacement`, when given),
    /// else the initial value; raised to the floor unless `floored` is false.
    private func derived(resource: Int, replacing slot: Int? = nil, with replacement: Value? = nil, floored: Bool = true) -> Value {
        var highest: Value? = nil
        let first = resource * agentCount
        for index in first ..< first + agentCount {
            let request: Value
            if index == slot, let replacement {
                request = replacement
            } else if hasRequest[index] {
                request = requests[index]
            } else {
                continue
            }
            if let current = highest { highest = max(current, request) } else { highest = request }
        }
        let settled = highest ?? initial[resource]
        if floored, let lowest = floor[resource], settled < lowest { return lowest }
        return settled
    }

    private mutating func settle(resource: Int) -> (from: Value, to: Value)? {
        let derived = derived(resource: resource)
        let old = value[resource]
        guard derived != old else { return nil }
        value[resource] = derived
        return (old, derived)
    }
}

/// The state of resources that are switched on and off and set to a value,
/// each arbitrated on its own: clocks (enable, rate), voltage domains (on,
/// level). Withdrawal and the snapshot rows are one code for all of them.
struct SwitchedValueState<Value: BinaryInteger & Sendable>: UnitState, Sendable {
    var enable: SwitchArbiter
    var value: HighestRequestArbiter<Value>

    /// `pinnedOn`: resources never switched off (always-on rails).
    init(initiallyOn: [Bool], initialValue: [Value], agentCount: Int, pinnedOn: [Bool] = []) {
        enable = SwitchArbiter(initial: initiallyOn, agentCount: agentCount, pinnedOn: pinnedOn)
        value = HighestRequestArbiter(initial: initialValue, agentCount: agentCount, placeholder: 0)
    }

    /// Resource by resource, the switch first, then the value.
    mutating func withdraw(agent: Int, report: (_ resource: Int, PhysicalChange.What) -> Void) {
        for resource in 0 ..< enable.resourceCount {
            if let on = enable.withdraw(resource: resource, agent: agent) {
                report(resource, .switched(on: on))
            }
            if let change = value.withdraw(resource: resource, agent: agent) {
                report(resource, Self.what(change))
            }
        }
    }

    func snapshot(resource: Int, agents: [AgentInfo]) -> (on: Bool?, value: Int64?, requests: [ResourceRequest]) {
        var requests: [ResourceRequest] = []
        for agent in agents.indices {
            let on = enable.requested(resource: resource, agent: agent)
            let requested = value.requested(resource: resource, agent: agent)
            if on != nil || requested != nil {
                requests.append(ResourceRequest(agentID: agents[agent].id, agentName: agents[agent].name,
                                                on: on, value: requested.map { Int64(clamping: $0) }))
            }
        }
        return (enable.isOn[resource], Int64(clamping: value.value[resource]), requests)
    }

    /// A value change as reported (values beyond Int64, which no rate or
    /// level reaches, are clamped).
    static func what(_ change: (from: Value, to: Value)) -> PhysicalChange.What {
        .value(from: Int64(clamping: change.from), to: Int64(clamping: change.to))
    }
}

/// Coupled voltage domains (docs/serve.md §4, "Host limits"): each pair stays
/// within its maximum spread. A level request whose result would leave a
/// partner's reach is refused (`allows`). After any change the coupled domains
/// are settled again at the lowest levels that meet every spread, starting
/// from what agents ask of each (`settle`): a rail is held up only as far as a
/// partner needs, and follows it down when it falls. Built once from the
/// tables; reads and changes only the level arbiter's floors.
struct CoupledLevels: Sendable {
    /// Per domain: its partners with their spreads, both directions of every
    /// `regulator-coupled-with` (the smaller spread where both name one).
    let partners: [[VoltageCoupling]]
    let levels: [VoltageLevels]
    /// Domains with at least one partner, ascending.
    let coupled: [Int]

    func isCoupled(_ domain: Int) -> Bool { !partners[domain].isEmpty }

    /// `couplings[d]`: the partners domain `d`'s regulator names; `levels[d]` its levels.
    init(couplings: [[VoltageCoupling]], levels: [VoltageLevels]) {
        self.levels = levels
        var partners = Array(repeating: [VoltageCoupling](), count: levels.count)
        func couple(_ domain: Int, _ partner: Int, _ spread: Int32) {
            if let existing = partners[domain].firstIndex(where: { Int($0.partner) == partner }) {
                partners[domain][existing].maxSpread = Swift.min(partners[domain][existing].maxSpread, spread)
            } else {
                partners[domain].append(VoltageCoupling(partner: UInt32(partner), maxSpread: spread))
            }
        }
        for (domain, named) in couplings.enumerated() where domain < levels.count {
            for coupling in named where Int(coupling.partner) < levels.count && Int(coupling.partner) != domain {
                couple(domain, Int(coupling.partner), Swift.max(coupling.maxSpread, 0))
                couple(Int(coupling.partner), domain, Swift.max(coupling.maxSpread, 0))
            }
        }
        self.partners = partners
        coupled = partners.indices.filter { !partners[$0].isEmpty }
    }

    /// Whether `domain` may settle at `level`: within the spread of every partner's level.
    func allows(_ level: Int32, domain: Int, _ arbiter: HighestRequestArbiter<Int32>) -> Bool {
        for coupling in partners[domain] {
            let partnerLevel = Int64(arbiter.value[Int(coupling.partner)])
            guard abs(Int64(level) - partnerLevel) <= Int64(coupling.maxSpread) else { return false }
        }
        return true
    }

    /// Settles every coupled domain at the lowest levels that keep each pair
    /// within its spread: each starts at its demand (highest request, else its
    /// initial level) and is raised to the lowest described level within the
    /// spread below a partner's, round by round until nothing moves (levels
    /// only rise, so it ends). `report` gets each domain whose level changed.
    func settle(_ arbiter: inout HighestRequestArbiter<Int32>, report: (_ domain: Int, _ change: (from: Int32, to: Int32)) -> Void) {
        guard !coupled.isEmpty else { return }
        for domain in coupled { arbiter.setFloor(nil, resource: domain) }
        var moved = true
        var rounds = 0
        while moved && rounds <= coupled.count {
            moved = false
            rounds += 1
            for domain in coupled {
                var wanted: Int32?
                for coupling in partners[domain] {
                    let partner = Int(coupling.partner)
                    let partnerLevel = Swift.max(arbiter.demand(resource: partner), arbiter.floor(resource: partner) ?? Int32.min)
                    guard let level = levels[domain].lowestLevel(atLeast: Int64(partnerLevel) - Int64(coupling.maxSpread)) else { continue }
                    wanted = Swift.max(wanted ?? level, level)
                }
                if let wanted, wanted > (arbiter.floor(resource: domain) ?? Int32.min) {
                    arbiter.setFloor(wanted, resource: domain)
                    moved = true
                }
            }
        }
        for domain in coupled {
            if let change = arbiter.resettle(resource: domain) { report(domain, change) }
        }
    }
}
