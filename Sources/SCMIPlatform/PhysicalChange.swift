// A change of a host resource's physical state, reported to serve's trace
// (docs/serve.md §4, "Arbitration between agents"). One shape for every
// protocol: which protocol and resource, what changed, which agent and why.
// Only ids and numbers, so that reporting one never allocates; the words come
// from the protocol's unit (ResourceVocabulary) and SCMIPlatform.describe(_:)
// adds the resource's name.

/// Why the physical state changed.
public enum ChangeCause: Hashable, Sendable, CustomStringConvertible {
    /// The agent's own SET command (CLOCK_CONFIG_SET, CLOCK_RATE_SET,
    /// VOLTAGE_CONFIG_SET, VOLTAGE_LEVEL_SET).
    case request
    /// The agent went away (AgentSession.end()); its requests were withdrawn.
    case disconnect
    /// BASE_RESET_AGENT_CONFIGURATION from trusted agent `by` withdrew the agent's requests.
    case agentReset(by: UInt32)
    /// The host reported it on its own (the firmware's notification of a
    /// change another of its agents made): only passed on to guests.
    case firmware

    public var description: String {
        switch self {
        case .request: "request"
        case .disconnect: "disconnect"
        case .agentReset(let by): "reset by agent " + String(by)
        case .firmware: "firmware"
        }
    }
}

public struct PhysicalChange: Hashable, Sendable, CustomStringConvertible {
    /// What changed.
    public enum What: Hashable, Sendable {
        /// Switched on (a clock enabled, a voltage domain on) or off.
        case switched(on: Bool)
        /// The resource's value (a rate in Hz, a level in µV, …) went from → to.
        case value(from: Int64, to: Int64)
    }

    public var protocolID: ProtocolID
    /// The resource's id in its protocol.
    public var resource: UInt32
    public var what: What
    /// The agent whose request or withdrawal caused the change.
    public var agent: UInt32
    public var cause: ChangeCause

    public init(_ protocolID: ProtocolID, resource: UInt32, _ what: What, agent: UInt32, cause: ChangeCause) {
        self.protocolID = protocolID
        self.resource = resource
        self.what = what
        self.agent = agent
        self.cause = cause
    }

    /// "clock 3 enabled (agent 1, request)".
    public var description: String { describe(name: nil) }

    /// In the words of the protocol's unit, with the resource's name when known:
    /// `clock 3 "usb-core" rate 24000000 Hz -> 48000000 Hz (agent 1, request)`.
    func describe(name: String?) -> String {
        let words = SCMIPlatform.vocabulary(of: protocolID)
        let resource = (words?.noun ?? protocolID.name) + " " + String(self.resource) + (name.map { " \"" + $0 + "\"" } ?? "")
        let change: String
        switch what {
        case .switched(let on):
            change = on ? words?.onWord ?? "on" : words?.offWord ?? "off"
        case .value(let from, let to):
            let unit = words.map { " " + $0.unit } ?? ""
            change = (words?.quantity ?? "value") + " " + String(from) + unit + " -> " + String(to) + unit
        }
        return resource + " " + change + " (agent " + String(agent) + ", " + cause.description + ")"
    }
}

/// How a protocol's resources are named in traces, `status` and its JSON;
/// given by the protocol's unit.
public struct ResourceVocabulary: Hashable, Sendable {
    /// A resource in a trace line: "clock", "voltage domain".
    public var noun: String
    /// The title of `status`'s table: "clocks", "voltage domains".
    public var plural: String
    /// The snapshot's JSON keys: the table ("clocks"), the physical on/off
    /// ("enabled"), the value ("rate_hz"); the same keys name a request's. snake_case:
    /// `status --format json` is a stable interface (docs/serve.md §1.1).
    public var tableKey: String
    public var switchKey: String
    public var valueKey: String
    /// A switch change in a trace line: "enabled" / "disabled", "on" / "off".
    public var onWord: String
    public var offWord: String
    /// A value change in a trace line: "rate", "Hz".
    public var quantity: String
    public var unit: String

    public init(noun: String, plural: String, tableKey: String, switchKey: String, valueKey: String,
                onWord: String, offWord: String, quantity: String, unit: String) {
        self.noun = noun
        self.plural = plural
        self.tableKey = tableKey
        self.switchKey = switchKey
        self.valueKey = valueKey
        self.onWord = onWord
        self.offWord = offWord
        self.quantity = quantity
        self.unit = unit
    }
}

// MARK: - In the host's words (docs/host.md)

extension PhysicalChange {
    /// ACTION and VALUE of the change as docs/host.md names them: a hook's
    /// arguments, and a host failure's line in `status`.
    public var hostAction: (action: String, value: String) {
        switch (protocolID, what) {
        case (.clock, .switched(let on)), (.sensor, .switched(let on)): (on ? "enable" : "disable", "")
        case (.reset, .switched(let on)): (on ? "assert" : "deassert", "")
        case (.clock, .value(_, let to)): ("rate", String(to))
        case (_, .switched(let on)): (on ? "on" : "off", "")
        case (_, .value(_, let to)): ("level", String(to))
        }
    }
}

extension ProtocolID {
    /// The kind of resource as docs/host.md names it (SCMI_KIND): `clock`,
    /// `voltage`, `power-domain`, `perf-domain`, `reset`, `sensor`.
    public var hostKind: String {
        switch self {
        case .clock: "clock"
        case .voltage: "voltage"
        case .powerDomain: "power-domain"
        case .performance: "perf-domain"
        case .reset: "reset"
        case .sensor: "sensor"
        default: name
        }
    }
}
