import Foundation

// The platform's state as plain Codable values, for `scmi-dt status`: the
// physical state of every resource, each agent's requests (those of agents
// of other models attached to the same HostState included), each agent's
// permissions. Taken under the state lock, so it is one consistent moment.
// Each protocol unit with resources gives its rows (ResourceHooks.snapshot)
// and the words that name them (ResourceVocabulary); in JSON each protocol is
// a table under its own key, with its own keys for on/off and the value:
//   "clocks": [{"id", "name", "enabled", "rate_hz", "requests": [{"agent_id", "agent_name", "enabled", "rate_hz"}]}]

public struct PlatformSnapshot: Codable, Hashable, Sendable {
    /// One table per protocol unit with resources, in unit order.
    public var tables: [ResourceTable]
    public var agents: [AgentSnapshot]

    public init(tables: [ResourceTable], agents: [AgentSnapshot]) {
        self.tables = tables
        self.agents = agents
    }

    /// The rows of protocol `id` (empty when it has no table).
    public func resources(of id: ProtocolID) -> [ResourceSnapshot] {
        tables.first { $0.protocolID == id.rawValue }?.resources ?? []
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for table in tables {
            guard let words = SCMIPlatform.vocabulary(of: ProtocolID(table.protocolID)) else { continue }
            var rows = container.nestedUnkeyedContainer(forKey: Key(words.tableKey))
            for row in table.resources { try row.encode(to: rows.superEncoder(), words) }
        }
        try container.encode(agents, forKey: Key("agents"))
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        agents = try container.decode([AgentSnapshot].self, forKey: Key("agents"))
        tables = []
        for unit in SCMIPlatform.unitList {
            guard let words = unit.resources?.vocabulary, container.contains(Key(words.tableKey)) else { continue }
            var rows = try container.nestedUnkeyedContainer(forKey: Key(words.tableKey))
            var resources: [ResourceSnapshot] = []
            while !rows.isAtEnd { resources.append(try ResourceSnapshot(from: rows.superDecoder(), words)) }
            tables.append(ResourceTable(protocolID: unit.id.rawValue, resources: resources))
        }
    }
}

/// One protocol's resources.
public struct ResourceTable: Hashable, Sendable {
    public var protocolID: UInt8
    public var resources: [ResourceSnapshot]

    /// The words its unit names them with.
    public var vocabulary: ResourceVocabulary? { SCMIPlatform.vocabulary(of: ProtocolID(protocolID)) }
}

/// One resource: its physical state and the agents holding a request on it.
public struct ResourceSnapshot: Hashable, Sendable {
    public var id: UInt32
    public var name: String
    /// On or off (a clock enabled, a voltage domain on); nil when the protocol has no switch.
    public var on: Bool?
    /// The physical value (a rate in Hz, a level in µV); nil when the protocol has none.
    public var value: Int64?
    /// Agents holding a request, in agent order.
    public var requests: [ResourceRequest]
    /// Where its physical changes go, `upstream`, `hook` or `model` (docs/serve.md, "Host
    /// bindings"); nil when whoever took the snapshot does not say (the engine does not know).
    public var host: String?

    fileprivate func encode(to encoder: any Encoder, _ words: ResourceVocabulary) throws {
        var container = encoder.container(keyedBy: FieldKey.self)
        try container.encode(id, forKey: .init("id"))
        try container.encode(name, forKey: .init("name"))
        try container.encodeIfPresent(on, forKey: .init(words.switchKey))
        try container.encodeIfPresent(value, forKey: .init(words.valueKey))
        try container.encodeIfPresent(host, forKey: .init("host"))
        var requestRows = container.nestedUnkeyedContainer(forKey: .init("requests"))
        for request in requests {
            var row = requestRows.nestedContainer(keyedBy: FieldKey.self)
            try row.encode(request.agentID, forKey: .init("agent_id"))
            try row.encode(request.agentName, forKey: .init("agent_name"))
            try row.encodeIfPresent(request.on, forKey: .init(words.switchKey))
            try row.encodeIfPresent(request.value, forKey: .init(words.valueKey))
            try row.encodeIfPresent(request.limits?.min, forKey: .init("limit_min"))
            try row.encodeIfPresent(request.limits?.max, forKey: .init("limit_max"))
        }
    }

    fileprivate init(from decoder: any Decoder, _ words: ResourceVocabulary) throws {
        let container = try decoder.container(keyedBy: FieldKey.self)
        id = try container.decode(UInt32.self, forKey: .init("id"))
        name = try container.decode(String.self, forKey: .init("name"))
        on = try container.decodeIfPresent(Bool.self, forKey: .init(words.switchKey))
        value = try container.decodeIfPresent(Int64.self, forKey: .init(words.valueKey))
        host = try container.decodeIfPresent(String.self, forKey: .init("host"))
        var requestRows = try container.nestedUnkeyedContainer(forKey: .init("requests"))
        requests = []
        while !requestRows.isAtEnd {
            let row = try requestRows.nestedContainer(keyedBy: FieldKey.self)
            var request = ResourceRequest(
                agentID: try row.decode(UInt32.self, forKey: .init("agent_id")),
                agentName: try row.decode(String.self, forKey: .init("agent_name")),
                on: try row.decodeIfPresent(Bool.self, forKey: .init(words.switchKey)),
                value: try row.decodeIfPresent(Int64.self, forKey: .init(words.valueKey)))
            if let min = try row.decodeIfPresent(Int64.self, forKey: .init("limit_min")),
               let max = try row.decodeIfPresent(Int64.self, forKey: .init("limit_max")) {
                request.limits = ResourceRequest.Limits(min: min, max: max)
            }
            requests.append(request)
        }
    }

    public init(id: UInt32, name: String, on: Bool?, value: Int64?, requests: [ResourceRequest]) {
        self.id = id
        self.name = name
        self.on = on
        self.value = value
        self.requests = requests
    }
}

public struct ResourceRequest: Hashable, Sendable {
    public var agentID: UInt32
    public var agentName: String
    /// nil: the agent has not asked for on or off.
    public var on: Bool?
    /// nil: the agent has not asked for a value.
    public var value: Int64?
    /// The agent's own bounds on its value requests (a performance domain's
    /// limits); nil when the agent has not narrowed them. JSON: "limit_min", "limit_max".
    public var limits: Limits?

    public struct Limits: Hashable, Sendable {
        public var min: Int64
        public var max: Int64
        public init(min: Int64, max: Int64) {
            self.min = min
            self.max = max
        }
    }

    public init(agentID: UInt32, agentName: String, on: Bool?, value: Int64?) {
        self.agentID = agentID
        self.agentName = agentName
        self.on = on
        self.value = value
    }
}

private struct FieldKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

public struct AgentSnapshot: Codable, Hashable, Sendable {
    public var id: UInt32
    public var name: String
    public var trusted: Bool
    /// Protocols the agent sees in BASE_DISCOVER_LIST_PROTOCOLS (Base excluded).
    public var protocols: [UInt8]
    /// Devices the agent may currently use, with the protocols allowed on each.
    public var permissions: [DevicePermission]
}

public struct DevicePermission: Codable, Hashable, Sendable {
    public var deviceID: UInt32
    public var deviceName: String
    public var protocols: [UInt8]
}

extension SCMIPlatform {
    /// Physical state of every resource, each agent's requests and permissions.
    public func snapshot() -> PlatformSnapshot {
        let agents = catalog.agents
        let (tables, permissions) = state.withRegistry { state, registry in
            let tables = Self.unitList.indices.compactMap { position -> ResourceTable? in
                guard let hooks = Self.unitList[position].resources else { return nil }
                var rows = hooks.snapshot(storage[position], agents)
                if registry.models.count > 1 { addOtherModelsRequests(&rows, position, hooks, registry) }
                return ResourceTable(protocolID: Self.unitList[position].id.rawValue, resources: rows)
            }
            return (tables, state.permissions)
        }

        func protocols(_ mask: UInt32) -> [UInt8] {
            (0x11 ..< 0x30).map { UInt8($0) }.filter { mask & protocolBit($0) != 0 }
        }

        let agentSnapshots = agents.indices.map { agent in
            var granted: [DevicePermission] = []
            for device in catalog.devices.indices {
                let mask = permissions.mask(agent: agent, device: device)
                if mask != 0 {
                    granted.append(DevicePermission(
                        deviceID: catalog.devices[device].id, deviceName: catalog.devices[device].name,
                        protocols: protocols(mask)))
                }
            }
            return AgentSnapshot(
                id: agents[agent].id, name: agents[agent].name, trusted: agents[agent].trusted,
                protocols: agents[agent].protocolList, permissions: granted)
        }

        return PlatformSnapshot(tables: tables, agents: agentSnapshots)
    }

    /// The requests that agents of the other models attached to the owner
    /// (connections made before a reload, or after it) hold on the same host
    /// resources, merged into this platform's rows in agent id order: the
    /// physical state is one, so `status` shows everyone who holds it.
    private func addOtherModelsRequests(_ rows: inout [ResourceSnapshot], _ position: Int, _ hooks: ResourceHooks, _ registry: Registry) {
        guard let keys = registry.models[model]?.keys[position] else { return }
        // The rows of the host resources another model holds too, by key: the other
        // models' keys name their resources (the owner keeps only how many hold each).
        var shared: [HostResourceKey: Int] = [:]
        for row in rows.indices where (registry.entries[keys[row]]?.holderCount ?? 0) > 1 { shared[keys[row]] = row }
        guard !shared.isEmpty else { return }
        for other in registry.models.keys.sorted() where other != model {
            let record = registry.models[other].unsafelyUnwrapped
            for (resource, key) in record.keys[position].enumerated() {
                guard let row = shared[key] else { continue }
                rows[row].requests += hooks.requests(record.storage[position], resource, record.agents)
            }
        }
        for row in shared.values { rows[row].requests.sort { $0.agentID < $1.agentID } }
    }
}

// MARK: - JSON keys
// `scmi-dt status --format json` is the stable interface for scripts: snake_case keys,
// as in `tables --format json`, spelled out (here, in ResourceSnapshot's encoder and in
// each unit's ResourceVocabulary) so that renaming a property cannot change them. A key
// whose value is absent (an agent that never asked for a rate) is left out.

extension AgentSnapshot {
    enum CodingKeys: String, CodingKey {
        case id, name, trusted, protocols, permissions
    }
}

extension DevicePermission {
    enum CodingKeys: String, CodingKey {
        case protocols
        case deviceID = "device_id"
        case deviceName = "device_name"
    }
}
