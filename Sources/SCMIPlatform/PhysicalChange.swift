// A change of a host resource's physical state, reported to serve's trace
// (docs/serve.md §4, "Arbitration between agents"). Only ids and numbers, so that
// reporting one never allocates; SCMIPlatform.describe(_:) adds the names.

/// Why the physical state changed.
public enum ChangeCause: Hashable, Sendable, CustomStringConvertible {
    /// The agent's own SET command (CLOCK_CONFIG_SET, CLOCK_RATE_SET,
    /// VOLTAGE_CONFIG_SET, VOLTAGE_LEVEL_SET).
    case request
    /// The agent went away (AgentSession.end()); its requests were withdrawn.
    case disconnect
    /// BASE_RESET_AGENT_CONFIGURATION from trusted agent `by` withdrew the agent's requests.
    case agentReset(by: UInt32)

    public var description: String {
        switch self {
        case .request: "request"
        case .disconnect: "disconnect"
        case .agentReset(let by): "reset by agent " + String(by)
        }
    }
}

public enum PhysicalChange: Hashable, Sendable, CustomStringConvertible {
    case clockEnabled(clock: UInt32, agent: UInt32, cause: ChangeCause)
    case clockDisabled(clock: UInt32, agent: UInt32, cause: ChangeCause)
    case clockRate(clock: UInt32, from: UInt64, to: UInt64, agent: UInt32, cause: ChangeCause)
    case voltageOn(domain: UInt32, agent: UInt32, cause: ChangeCause)
    case voltageOff(domain: UInt32, agent: UInt32, cause: ChangeCause)
    case voltageLevel(domain: UInt32, from: Int32, to: Int32, agent: UInt32, cause: ChangeCause)

    /// The agent whose request or withdrawal caused the change.
    public var agent: UInt32 {
        switch self {
        case .clockEnabled(_, let agent, _), .clockDisabled(_, let agent, _),
             .clockRate(_, _, _, let agent, _), .voltageOn(_, let agent, _),
             .voltageOff(_, let agent, _), .voltageLevel(_, _, _, let agent, _):
            agent
        }
    }

    public var cause: ChangeCause {
        switch self {
        case .clockEnabled(_, _, let cause), .clockDisabled(_, _, let cause),
             .clockRate(_, _, _, _, let cause), .voltageOn(_, _, let cause),
             .voltageOff(_, _, let cause), .voltageLevel(_, _, _, _, let cause):
            cause
        }
    }

    /// "clock 3 enabled (agent 1, request)".
    public var description: String { describe(clockName: nil, domainName: nil) }

    func describe(clockName: String?, domainName: String?) -> String {
        func clock(_ id: UInt32) -> String { "clock " + String(id) + (clockName.map { " \"" + $0 + "\"" } ?? "") }
        func domain(_ id: UInt32) -> String { "voltage domain " + String(id) + (domainName.map { " \"" + $0 + "\"" } ?? "") }
        let why = " (agent " + String(agent) + ", " + cause.description + ")"
        switch self {
        case .clockEnabled(let id, _, _): return clock(id) + " enabled" + why
        case .clockDisabled(let id, _, _): return clock(id) + " disabled" + why
        case .clockRate(let id, let from, let to, _, _):
            return clock(id) + " rate " + String(from) + " Hz -> " + String(to) + " Hz" + why
        case .voltageOn(let id, _, _): return domain(id) + " on" + why
        case .voltageOff(let id, _, _): return domain(id) + " off" + why
        case .voltageLevel(let id, let from, let to, _, _):
            return domain(id) + " level " + String(from) + " uV -> " + String(to) + " uV" + why
        }
    }
}
