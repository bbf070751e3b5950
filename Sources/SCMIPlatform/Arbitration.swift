// The two arbitration rules between agents (docs/serve.md §4, "Arbitration
// between agents"), as reusable value types: "on while anyone wants it on"
// (SwitchArbiter) and "highest request wins" (HighestRequestArbiter). Each
// owns every agent's request for every resource of one kind and the physical
// state derived from them, in flat arrays sized at start and indexed
// [resource × agentCount + agent], so that no message ever grows them. They
// live inside SCMIPlatform's Mutex (SharedState); every method runs with the
// lock held. Recording or withdrawing a request settles the resource and
// returns the change of physical state, if any, for the protocol to report.

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
        requests[resource * agentCount + agent] = request
        return settle(resource: resource)
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

    init(initial: [Value], agentCount: Int, placeholder: Value) {
        self.agentCount = agentCount
        self.initial = initial
        requests = Array(repeating: placeholder, count: initial.count * agentCount)
        hasRequest = Array(repeating: false, count: initial.count * agentCount)
        floor = Array(repeating: nil, count: initial.count)
        value = initial
    }

    /// The value `resource` would settle at if `agent` asked for `request`
    /// (nothing is recorded): to refuse a request before it breaks a rule.
    func settled(ifRequested request: Value, resource: Int, agent: Int) -> Value {
        derived(resource: resource, replacing: resource * agentCount + agent, with: request)
    }

    /// Sets (nil: clears) `resource`'s floor and settles; the change when the
    /// physical value changed.
    mutating func setFloor(_ newFloor: Value?, resource: Int) -> (from: Value, to: Value)? {
        guard floor[resource] != newFloor else { return nil }
        floor[resource] = newFloor
        return settle(resource: resource)
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
        requests[slot] = request
        hasRequest[slot] = true
        return settle(resource: resource)
    }

    /// Withdraws `agent`'s request, if it holds one, and settles.
    mutating func withdraw(resource: Int, agent: Int) -> (from: Value, to: Value)? {
        let slot = resource * agentCount + agent
        guard hasRequest[slot] else { return nil }
        hasRequest[slot] = false
        return settle(resource: resource)
    }

    /// The highest request (with `slot`'s replaced by `replacement`, when given),
    /// else the initial value; raised to the floor.
    private func derived(resource: Int, replacing slot: Int? = nil, with replacement: Value? = nil) -> Value {
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
        if let lowest = floor[resource], settled < lowest { return lowest }
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
