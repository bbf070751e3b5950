// The two arbitration rules between agents (docs/serve.md §4, "Arbitration
// between agents"), as reusable value types: "on while anyone wants it on"
// (SwitchArbiter) and "highest request wins" (HighestRequestArbiter). Each
// owns every agent's request for every resource of one kind and the physical
// state derived from them, in flat arrays sized at start and indexed
// [resource × agentCount + agent], so that no message ever grows them. They
// live in a protocol unit's state (UnitResources.swift), guarded by
// SCMIPlatform's Mutex; every method runs with the lock held. Recording or withdrawing a request settles the resource and
// returns the change of physical state, if any, for the protocol to report.

/// One agent's request for something that is on or off.
enum SwitchRequest: UInt8, Sendable {
    case none, off, on
}

/// On while any agent has it on; off when every request is off; with no
/// request at all, the resource's initial state.
struct SwitchArbiter: Sendable {
    let agentCount: Int
    /// Per resource: the state with no request at all.
    let initial: [Bool]
    private var requests: [SwitchRequest]
    /// Per resource: the derived (physical) state.
    private(set) var isOn: [Bool]
    /// The slot the last request() changed and what it held, for
    /// undoLastRequest() (one at a time: SCMIPlatform.hostLock orders changes).
    private var undo: (slot: Int, request: SwitchRequest) = (0, .none)

    init(initial: [Bool], agentCount: Int) {
        self.agentCount = agentCount
        self.initial = initial
        requests = Array(repeating: .none, count: initial.count * agentCount)
        isOn = initial
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
        let derived = on ? true : anyRequest ? false : initial[resource]
        guard derived != isOn[resource] else { return nil }
        isOn[resource] = derived
        return derived
    }
}

/// The highest value any agent requested; with no request at all, the
/// resource's initial value.
struct HighestRequestArbiter<Value: Comparable & Sendable>: Sendable {
    let agentCount: Int
    /// Per resource: the value with no request at all.
    let initial: [Value]
    private var requests: [Value]
    private var hasRequest: [Bool]
    /// Per resource: the derived (physical) value.
    private(set) var value: [Value]
    /// The slot the last request() changed and what it held (undoLastRequest()).
    private var undo: (slot: Int, request: Value, hadRequest: Bool)

    init(initial: [Value], agentCount: Int, placeholder: Value) {
        self.agentCount = agentCount
        self.initial = initial
        requests = Array(repeating: placeholder, count: initial.count * agentCount)
        hasRequest = Array(repeating: false, count: initial.count * agentCount)
        value = initial
        undo = (0, placeholder, false)
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

    private mutating func settle(resource: Int) -> (from: Value, to: Value)? {
        var highest: Value? = nil
        let first = resource * agentCount
        for slot in first ..< first + agentCount where hasRequest[slot] {
            let request = requests[slot]
            if let current = highest { highest = max(current, request) } else { highest = request }
        }
        let derived = highest ?? initial[resource]
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

    init(initiallyOn: [Bool], initialValue: [Value], agentCount: Int) {
        enable = SwitchArbiter(initial: initiallyOn, agentCount: agentCount)
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
