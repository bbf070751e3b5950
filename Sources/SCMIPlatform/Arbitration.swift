// The two arbitration rules between agents (docs/serve.md §4, "Arbitration
// between agents"), as reusable value types: "on while anyone wants it on"
// (SwitchArbiter) and "highest request wins" (HighestRequestArbiter; the
// switch is the same rule over off < on). Each owns every agent's request of
// one model for every resource of one kind, in flat arrays sized at start and
// indexed [resource × agentCount + agent], so that no message ever grows
// them. The physical state is not the model's: each resource's is a
// SharedQuantity of the HostState every model a reload made is attached to
// (HostState.swift). Settling puts the model's own request (its agents'
// highest) into that quantity, which combines it with the other models'.
// They live in a protocol unit's state (UnitResources.swift), guarded by the
// owner's lock; every method runs with the lock held. Recording or
// withdrawing a request settles the resource and returns the change of
// physical state, if any, for the protocol to report.

/// One agent's request for something that is on or off; ordered so that the
/// highest request is the arbitrated one (on wins over off, off over none).
enum SwitchRequest: UInt8, Comparable, Sendable {
    case none, off, on

    static func < (left: SwitchRequest, right: SwitchRequest) -> Bool { left.rawValue < right.rawValue }
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
/// initial state.
struct SwitchArbiter: Sendable {
    let agentCount: Int
    /// Per resource: the state with no request at all.
    let initial: [Bool]
    private var requests: [SwitchRequest]
    /// Per resource: the quantity shared with every model serving it.
    nonisolated(unsafe) private var quantities = UnsafeMutableBufferPointer<UnsafeMutablePointer<SharedQuantity<SwitchRequest>>>(start: nil, count: 0)
    /// This model's serial in the owner.
    private var model = 0
    /// The slot the last request() changed and what it held, for
    /// undoLastRequest() (one at a time: HostState.hostLock orders changes).
    private var undo: (slot: Int, request: SwitchRequest) = (0, .none)

    init(initial: [Bool], agentCount: Int) {
        self.agentCount = agentCount
        self.initial = initial
        requests = Array(repeating: .none, count: initial.count * agentCount)
    }

    var resourceCount: Int { initial.count }

    /// Per resource: the physical state.
    var isOn: PhysicalSwitches { PhysicalSwitches(quantities: quantities) }

    /// Joins the owner's quantities as its `channel`-th (at the platform's start).
    mutating func attach(_ owner: Attachment, channel: Int) {
        model = owner.model
        quantities = join(owner, channel: channel, initial: initial.map { $0 ? SwitchRequest.on : .off })
    }

    /// Leaves them (the platform is going); a change only when this model still had requests.
    mutating func detach(report: (_ resource: Int, PhysicalChange.What) -> Void) {
        leave(quantities, model: model) { resource, change in report(resource, .switched(on: change.to == .on)) }
        quantities = UnsafeMutableBufferPointer(start: nil, count: 0)
    }

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

    /// This model's request (the highest of its agents') goes to the shared
    /// quantity, which combines it with the other models'.
    private mutating func settle(resource: Int) -> Bool? {
        var highest = SwitchRequest.none
        let first = resource * agentCount
        for slot in first ..< first + agentCount {
            highest = max(highest, requests[slot])
            if highest == .on { break }
        }
        return quantities[resource].pointee.contribute(highest == .none ? nil : highest, model: model).map { $0.to == .on }
    }
}

/// The highest value any agent (of any model sharing the resource)
/// requested; with no request at all, the resource's initial value.
struct HighestRequestArbiter<Value: Comparable & Sendable>: Sendable {
    let agentCount: Int
    /// Per resource: the value with no request at all.
    let initial: [Value]
    private var requests: [Value]
    private var hasRequest: [Bool]
    /// Per resource: the quantity shared with every model serving it.
    nonisolated(unsafe) private var quantities = UnsafeMutableBufferPointer<UnsafeMutablePointer<SharedQuantity<Value>>>(start: nil, count: 0)
    /// This model's serial in the owner.
    private var model = 0
    /// The slot the last request() changed and what it held (undoLastRequest()).
    private var undo: (slot: Int, request: Value, hadRequest: Bool)

    init(initial: [Value], agentCount: Int, placeholder: Value) {
        self.agentCount = agentCount
        self.initial = initial
        requests = Array(repeating: placeholder, count: initial.count * agentCount)
        hasRequest = Array(repeating: false, count: initial.count * agentCount)
        undo = (0, placeholder, false)
    }

    var resourceCount: Int { initial.count }

    /// Per resource: the physical value.
    var value: PhysicalValues<Value> { PhysicalValues(quantities: quantities) }

    /// Joins the owner's quantities as its `channel`-th (at the platform's start).
    mutating func attach(_ owner: Attachment, channel: Int) {
        model = owner.model
        quantities = join(owner, channel: channel, initial: initial)
    }

    /// Leaves them (the platform is going); a change only when this model still had requests.
    mutating func detach(report: (_ resource: Int, _ change: (from: Value, to: Value)) -> Void) {
        leave(quantities, model: model, report: report)
        quantities = UnsafeMutableBufferPointer(start: nil, count: 0)
    }

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

    /// Withdraws `agent`'s request, if it holds one, and settles.
    mutating func withdraw(resource: Int, agent: Int) -> (from: Value, to: Value)? {
        let slot = resource * agentCount + agent
        guard hasRequest[slot] else { return nil }
        hasRequest[slot] = false
        return settle(resource: resource)
    }

    /// This model's request (the highest of its agents') goes to the shared
    /// quantity, which combines it with the other models'.
    private mutating func settle(resource: Int) -> (from: Value, to: Value)? {
        var highest: Value? = nil
        let first = resource * agentCount
        for slot in first ..< first + agentCount where hasRequest[slot] {
            let request = requests[slot]
            if let current = highest { highest = max(current, request) } else { highest = request }
        }
        return quantities[resource].pointee.contribute(highest, model: model)
    }
}

/// The state of resources that are switched on and off and set to a value,
/// each arbitrated on its own: clocks (enable, rate), voltage domains (on,
/// level). Withdrawal and the snapshot rows are one code for all of them.
struct SwitchedValueState<Value: BinaryInteger & Sendable>: UnitState, Sendable {
    var enable: SwitchArbiter
    var value: HighestRequestArbiter<Value>

    init(initiallyOn: [Bool], initialValue: [Value], agentCount: Int) {
        enable = SwitchArbiter(initial: initiallyOn, agentCount: agentCount)
        value = HighestRequestArbiter(initial: initialValue, agentCount: agentCount, placeholder: 0)
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
