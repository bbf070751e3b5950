// The two arbitration rules between agents (docs/serve.md §4, "Arbitration
// between agents"), as reusable value types: "on while anyone wants it on"
// (SwitchArbiter) and "highest request wins" (HighestRequestArbiter; the
// switch is the same rule over off < on). Each owns every agent's request of
// one model for every resource of one kind, in a RequestTable: only the
// requests agents hold, per resource a short list (an agent asks for what its
// devices hold, so most resources have none or one, where a dense table sized
// resources × agents would cost 64 slots per resource for 64 agents). Records
// are reused, so a message grows the table only when more requests are held
// at once than ever before. The physical state is not the model's: each resource's is a
// SharedQuantity of the HostState every model a reload made is attached to
// (HostState.swift). Settling puts the model's own request (its agents'
// highest) into that quantity, which combines it with the other models'.
// They live in a protocol unit's state (UnitResources.swift), guarded by the
// owner's lock; every method runs with the lock held. Recording or
// withdrawing a request settles the resource and returns the change of
// physical state, if any, for the protocol to report.

import ResourceTables

/// One agent's request for something that is on or off; ordered so that the
/// highest request is the arbitrated one (on wins over off, off over none).
enum SwitchRequest: UInt8, Comparable, Sendable {
    case none, off, on

    static func < (left: SwitchRequest, right: SwitchRequest) -> Bool { left.rawValue < right.rawValue }
}

/// The requests one arbiter's agents hold, per resource: a list of (agent,
/// value) records chained through `next`, kept in one array. A withdrawn
/// record goes to a free list and the next request reuses it, so setting and
/// withdrawing requests allocates nothing once the table has held that many
/// at once. Memory: 4 bytes per resource and one record per held request.
struct RequestTable<Value: Sendable>: Sendable {
    private struct Record: Sendable {
        var agent: Int32
        /// The next record of the same resource (or of the free list); -1 ends it.
        var next: Int32
        var value: Value
    }

    /// Per resource: its first record, -1 for none.
    private var first: [Int32]
    private var records: [Record] = []
    /// The first reusable record, -1 for none.
    private var free: Int32 = -1

    init(resourceCount: Int) {
        first = Array(repeating: -1, count: resourceCount)
    }

    var resourceCount: Int { first.count }

    /// The position of `agent`'s record for `resource`, -1 when it holds none.
    @inline(__always)
    private func position(resource: Int, agent: Int) -> Int32 {
        var position = first[resource]
        while position >= 0 && records[Int(position)].agent != Int32(agent) { position = records[Int(position)].next }
        return position
    }

    /// `agent`'s request for `resource`, nil when it holds none.
    @inline(__always)
    subscript(resource: Int, agent: Int) -> Value? {
        let position = position(resource: resource, agent: agent)
        return position < 0 ? nil : records[Int(position)].value
    }

    /// Records (nil: withdraws) `agent`'s request for `resource`.
    mutating func set(_ value: Value?, resource: Int, agent: Int) {
        let position = position(resource: resource, agent: agent)
        if let value {
            if position >= 0 {
                records[Int(position)].value = value
            } else if free >= 0 {
                let reused = free
                free = records[Int(reused)].next
                records[Int(reused)] = Record(agent: Int32(agent), next: first[resource], value: value)
                first[resource] = reused
            } else {
                records.append(Record(agent: Int32(agent), next: first[resource], value: value))
                first[resource] = Int32(records.count - 1)
            }
        } else if position >= 0 {
            // Unlink it from the resource's list, then put it on the free list.
            if first[resource] == position {
                first[resource] = records[Int(position)].next
            } else {
                var previous = first[resource]
                while records[Int(previous)].next != position { previous = records[Int(previous)].next }
                records[Int(previous)].next = records[Int(position)].next
            }
            records[Int(position)].next = free
            free = position
        }
    }
}

extension RequestTable where Value: Comparable {
    /// The highest request on `resource`, with `agent`'s taken as
    /// `replacement` when `agent` is given (nil: as if it held none); nil
    /// when there is none.
    @inline(__always)
    func highest(resource: Int, replacing agent: Int = -1, with replacement: Value? = nil) -> Value? {
        var highest = agent >= 0 ? replacement : nil
        var position = first[resource]
        while position >= 0 {
            let record = records[Int(position)]
            position = record.next
            if record.agent == Int32(agent) { continue }
            if let current = highest { highest = max(current, record.value) } else { highest = record.value }
        }
        return highest
    }
}

/// The physical value of each resource of one arbiter, read from the
/// quantities it shares with the other models (HostState.swift); lock held.
struct PhysicalValues<Value: Comparable & Sendable> {
    fileprivate let quantities: UnsafeMutableBufferPointer<UnsafeMutablePointer<SharedQuantity<Value>>>

    @inline(__always)
    subscript(resource: Int) -> Value { quantities[resource].pointee.value }
}

/// A switch's physical state per resource (on, off), likewise.
struct PhysicalSwitches {
    fileprivate let quantities: UnsafeMutableBufferPointer<UnsafeMutablePointer<SharedQuantity<SwitchRequest>>>

    @inline(__always)
    subscript(resource: Int) -> Bool { quantities[resource].pointee.value == .on }
}

/// The shared quantities of one arbiter's resources, one per resource, joined
/// when its platform attaches to the owner and left when it detaches.
private func join<Value>(_ owner: Attachment, channel: Int, initial: [Value]) -> UnsafeMutableBufferPointer<UnsafeMutablePointer<SharedQuantity<Value>>> {
    let quantities = UnsafeMutableBufferPointer<UnsafeMutablePointer<SharedQuantity<Value>>>.allocate(capacity: initial.count)
    for resource in initial.indices {
        (quantities.baseAddress.unsafelyUnwrapped + resource).initialize(to: owner.join(channel: channel, resource: resource, initial: initial[resource]))
    }
    return quantities
}

private func leave<Value>(_ quantities: UnsafeMutableBufferPointer<UnsafeMutablePointer<SharedQuantity<Value>>>, model: Int,
                          report: (_ resource: Int, _ change: (from: Value, to: Value)) -> Void) {
    for resource in quantities.indices {
        if let change = quantities[resource].pointee.leave(model: model) { report(resource, change) }
    }
    quantities.deallocate()
}

/// On while any agent (of any model sharing the resource) has it on; off
/// when every request is off; with no request at all, the resource's
/// initial state. A resource the host needs (`pinnedOn`: a
/// regulator-always-on rail) is on whatever the requests say while a model
/// that pins it is attached (its own request is then on); the requests are
/// still recorded, so each agent reads back its own.
struct SwitchArbiter: Sendable {
    let agentCount: Int
    /// Per resource: the state with no request at all.
    let initial: [Bool]
    /// Per resource: never switched off (empty: none is).
    let pinnedOn: [Bool]
    /// Per resource: the agents' requests (never `.none`: none is no record).
    private var requests: RequestTable<SwitchRequest>
    /// Per resource: the quantity shared with every model serving it.
    nonisolated(unsafe) private var quantities = UnsafeMutableBufferPointer<UnsafeMutablePointer<SharedQuantity<SwitchRequest>>>(start: nil, count: 0)
    /// This model's serial in the owner.
    private var model = 0

    init(initial: [Bool], agentCount: Int, pinnedOn: [Bool] = []) {
        self.agentCount = agentCount
        self.initial = initial
        self.pinnedOn = pinnedOn
        requests = RequestTable(resourceCount: initial.count)
    }

    var resourceCount: Int { initial.count }

    /// Per resource: the physical state.
    var isOn: PhysicalSwitches { PhysicalSwitches(quantities: quantities) }

    /// Joins the owner's quantities as its `channel`-th (at the platform's
    /// start). A pinned resource is on from the start when this model brings
    /// it into the owner; joining one another model brought never changes it
    /// (the pin is this model's request from its next settle on).
    mutating func attach(_ owner: Attachment, channel: Int) {
        model = owner.model
        quantities = join(owner, channel: channel, initial: initial.indices.map { isPinned($0) || initial[$0] ? SwitchRequest.on : .off })
    }

    /// Leaves them (the platform is going); a change only when this model still had requests.
    mutating func detach(report: (_ resource: Int, PhysicalChange.What) -> Void) {
        leave(quantities, model: model) { resource, change in report(resource, .switched(on: change.to == .on)) }
        quantities = UnsafeMutableBufferPointer(start: nil, count: 0)
    }

    private func isPinned(_ resource: Int) -> Bool { resource < pinnedOn.count && pinnedOn[resource] }

    /// `agent`'s own request for `resource`.
    func request(resource: Int, agent: Int) -> SwitchRequest {
        requests[resource, agent] ?? .none
    }

    /// `agent`'s request as a snapshot row: nil when it has not asked.
    func requested(resource: Int, agent: Int) -> Bool? {
        switch request(resource: resource, agent: agent) {
        case .none: nil
        case .off: false
        case .on: true
        }
    }

    /// Records `agent`'s request and settles; the new physical state when it
    /// changed. Putting back what request(resource:agent:) said before is the
    /// undo (the host could not apply the change): the caller keeps that, since
    /// changes of several resources of one arbiter may be in flight at once.
    mutating func request(_ request: SwitchRequest, resource: Int, agent: Int) -> Bool? {
        requests.set(request == .none ? nil : request, resource: resource, agent: agent)
        return settle(resource: resource)
    }

    /// Withdraws `agent`'s request, if it holds one, and settles; the new
    /// physical state when it changed.
    mutating func withdraw(resource: Int, agent: Int) -> Bool? {
        guard requests[resource, agent] != nil else { return nil }
        requests.set(nil, resource: resource, agent: agent)
        return settle(resource: resource)
    }

    /// This model's request (the highest of its agents', on when pinned) goes
    /// to the shared quantity, which combines it with the other models'.
    private mutating func settle(resource: Int) -> Bool? {
        guard resource < quantities.count else { return nil }  // not attached yet
        let highest = isPinned(resource) ? SwitchRequest.on : requests.highest(resource: resource) ?? .none
        return quantities[resource].pointee.contribute(highest == .none ? nil : highest, model: model).map { $0.to == .on }
    }
}

/// The highest value any agent (of any model sharing the resource)
/// requested; with no request at all, the resource's initial value; never
/// below the resource's floor, when it has one (a coupled rail: its partner's
/// level minus the spread; each model's floors come from its own demands).
struct HighestRequestArbiter<Value: Comparable & Sendable>: Sendable {
    let agentCount: Int
    /// Per resource: the value with no request at all.
    let initial: [Value]
    /// Per resource: the agents' requests.
    private var requests: RequestTable<Value>
    /// Per resource: the lowest value it may settle at, if any.
    private var floor: [Value?]
    /// Per resource: the quantity shared with every model serving it.
    nonisolated(unsafe) private var quantities = UnsafeMutableBufferPointer<UnsafeMutablePointer<SharedQuantity<Value>>>(start: nil, count: 0)
    /// This model's serial in the owner.
    private var model = 0

    init(initial: [Value], agentCount: Int) {
        self.agentCount = agentCount
        self.initial = initial
        requests = RequestTable(resourceCount: initial.count)
        floor = Array(repeating: nil, count: initial.count)
    }

    /// Per resource: the physical value.
    var value: PhysicalValues<Value> { PhysicalValues(quantities: quantities) }

    /// Joins the owner's quantities as its `channel`-th (at the platform's
    /// start). Where this model brings the resource into the owner, a floor
    /// its coupled rails' initial levels set is its request at once (the
    /// initial state); joining one another model brought never changes it.
    mutating func attach(_ owner: Attachment, channel: Int) {
        model = owner.model
        quantities = join(owner, channel: channel, initial: initial)
        for resource in initial.indices where floor[resource] != nil && quantities[resource].pointee.contributorCount == 1 {
            _ = settle(resource: resource)
        }
    }

    /// Leaves them (the platform is going); a change only when this model still had requests.
    mutating func detach(report: (_ resource: Int, _ change: (from: Value, to: Value)) -> Void) {
        leave(quantities, model: model, report: report)
        quantities = UnsafeMutableBufferPointer(start: nil, count: 0)
    }

    /// The value `resource` would settle at if `agent` asked for `request`
    /// (nothing is recorded): to refuse a request before it breaks a rule.
    func settled(ifRequested request: Value, resource: Int, agent: Int) -> Value {
        derived(resource: resource, replacing: agent, with: request)
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
        requests[resource, agent]
    }

    /// Records `agent`'s request and settles; the change when the physical
    /// value changed. The undo is restore(_:) with what requested(resource:agent:)
    /// said before, which the caller keeps (one record per change in flight).
    mutating func request(_ request: Value, resource: Int, agent: Int) -> (from: Value, to: Value)? {
        requests.set(request, resource: resource, agent: agent)
        return settle(resource: resource)
    }

    /// Puts back `agent`'s earlier request (nil: none) and settles again: the
    /// host could not apply the change a request decided.
    mutating func restore(_ request: Value?, resource: Int, agent: Int) {
        requests.set(request, resource: resource, agent: agent)
        _ = settle(resource: resource)
    }

    /// Withdraws `agent`'s request, if it holds one, and settles; restore(_:)
    /// with the request it held puts it back.
    mutating func withdraw(resource: Int, agent: Int) -> (from: Value, to: Value)? {
        guard requests[resource, agent] != nil else { return nil }
        requests.set(nil, resource: resource, agent: agent)
        return settle(resource: resource)
    }

    /// Records (nil: withdraws) `agent`'s request without settling: a rule over
    /// several resources (CoupledLevels) settles them together afterwards, so
    /// that each reports one change, not a step through a stale floor.
    mutating func record(_ request: Value?, resource: Int, agent: Int) {
        requests.set(request, resource: resource, agent: agent)
    }

    /// The highest request (with `agent`'s replaced by `replacement`, when
    /// given), else the initial value; raised to the floor unless `floored` is false.
    private func derived(resource: Int, replacing agent: Int = -1, with replacement: Value? = nil, floored: Bool = true) -> Value {
        let settled = requests.highest(resource: resource, replacing: agent, with: replacement) ?? initial[resource]
        if floored, let lowest = floor[resource], settled < lowest { return lowest }
        return settled
    }

    /// This model's request goes to the shared quantity, which combines it
    /// with the other models': its agents' highest raised to the floor; with
    /// no request, the floor where it is above the initial value, else nothing.
    private mutating func settle(resource: Int) -> (from: Value, to: Value)? {
        guard resource < quantities.count else { return nil }  // not attached yet
        var highest = requests.highest(resource: resource)
        if let lowest = floor[resource], lowest > (highest ?? initial[resource]) { highest = lowest }
        return quantities[resource].pointee.contribute(highest, model: model)
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
        value = HighestRequestArbiter(initial: initialValue, agentCount: agentCount)
    }

    /// The switch is quantity 0 of each resource, the value quantity 1.
    mutating func attach(_ owner: Attachment) {
        enable.attach(owner, channel: 0)
        value.attach(owner, channel: 1)
    }

    mutating func detach(report: (_ resource: Int, PhysicalChange.What) -> Void) {
        enable.detach(report: report)
        value.detach { resource, change in report(resource, Self.what(change)) }
    }

    /// Resource by resource, the switch first, then the value.
    mutating func withdraw(agent: Int, covers: (_ resource: Int) -> Bool, report: (_ resource: Int, PhysicalChange.What) -> Void) {
        for resource in 0 ..< enable.resourceCount where covers(resource) {
            if let on = enable.withdraw(resource: resource, agent: agent) {
                report(resource, .switched(on: on))
            }
            if let change = value.withdraw(resource: resource, agent: agent) {
                report(resource, Self.what(change))
            }
        }
    }

    /// The resources where `agent` asked for a switch state or a value.
    func holdings(agent: Int, _ body: (_ resource: Int) -> Void) {
        for resource in 0 ..< enable.resourceCount
        where enable.request(resource: resource, agent: agent) != .none || value.requested(resource: resource, agent: agent) != nil {
            body(resource)
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
    /// Per domain: the domains a change of its level may move, itself
    /// included, ascending (its coupled group: partners, their partners, …);
    /// just itself when it has no partner.
    let group: [[Int]]

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
        var group = partners.indices.map { [$0] }
        for domain in coupled where group[domain].count == 1 {
            var members: Set<Int> = [domain]
            var next = [domain]
            while let current = next.popLast() {
                for coupling in partners[current] where members.insert(Int(coupling.partner)).inserted { next.append(Int(coupling.partner)) }
            }
            let sorted = members.sorted()
            for member in sorted { group[member] = sorted }
        }
        self.group = group
    }

    /// Whether `domain` may settle at `level`: within the spread of every partner's level.
    func allows(_ level: Int32, domain: Int, _ arbiter: HighestRequestArbiter<Int32>) -> Bool {
        for coupling in partners[domain] {
            let partnerLevel = Int64(arbiter.value[Int(coupling.partner)])
            guard abs(Int64(level) - partnerLevel) <= Int64(coupling.maxSpread) else { return false }
        }
        return true
    }

    /// Settles the coupled domains `domains` (every coupled one by default;
    /// one group, `group[d]`, when one domain's request changed) at the lowest
    /// levels that keep each pair
    /// within its spread: each starts at its demand (highest request, else its
    /// initial level) and is raised to the lowest described level within the
    /// spread below a partner's, round by round until nothing moves (levels
    /// only rise, so it ends). `report` gets each domain whose level changed.
    /// A group is closed under partners, so settling one never reads or moves
    /// another group, whose changes may be in flight meanwhile. Every domain
    /// given must be coupled.
    func settle(_ arbiter: inout HighestRequestArbiter<Int32>, domains: [Int]? = nil,
                report: (_ domain: Int, _ change: (from: Int32, to: Int32)) -> Void) {
        let domains = domains ?? coupled
        guard !domains.isEmpty, !coupled.isEmpty else { return }
        for domain in domains { arbiter.setFloor(nil, resource: domain) }
        var moved = true
        var rounds = 0
        while moved && rounds <= domains.count {
            moved = false
            rounds += 1
            for domain in domains {
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
        for domain in domains {
            if let change = arbiter.resettle(resource: domain) { report(domain, change) }
        }
    }
}
