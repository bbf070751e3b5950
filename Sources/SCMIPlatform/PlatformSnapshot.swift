// The platform's state as plain Codable values, for `scmi-dt status`: the
// physical state of every resource, each agent's requests, each agent's
// permissions. Taken under the state lock, so it is one consistent moment.

public struct PlatformSnapshot: Codable, Hashable, Sendable {
    public var clocks: [ClockSnapshot]
    public var voltageDomains: [VoltageDomainSnapshot]
    public var agents: [AgentSnapshot]
}

public struct ClockSnapshot: Codable, Hashable, Sendable {
    public var id: UInt32
    public var name: String
    public var enabled: Bool
    public var rateHz: UInt64
    /// Agents holding a request, by agent id.
    public var requests: [ClockRequest]
}

public struct ClockRequest: Codable, Hashable, Sendable {
    public var agentID: UInt32
    public var agentName: String
    /// nil: the agent has not asked for on or off.
    public var enabled: Bool?
    /// nil: the agent has not asked for a rate.
    public var rateHz: UInt64?
}

public struct VoltageDomainSnapshot: Codable, Hashable, Sendable {
    public var id: UInt32
    public var name: String
    public var on: Bool
    public var levelMicrovolts: Int32
    public var requests: [VoltageRequest]
}

public struct VoltageRequest: Codable, Hashable, Sendable {
    public var agentID: UInt32
    public var agentName: String
    public var on: Bool?
    public var levelMicrovolts: Int32?
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
        let state = self.state.withLock { $0 }
        let agents = catalog.agents
        let agentCount = agents.count

        let clocks = catalog.clocks.indices.map { clock in
            var requests: [ClockRequest] = []
            for agent in 0 ..< agentCount {
                let enabled = state.clockEnable.requested(resource: clock, agent: agent)
                let rate = state.clockRate.requested(resource: clock, agent: agent)
                if enabled != nil || rate != nil {
                    requests.append(ClockRequest(agentID: agents[agent].id, agentName: agents[agent].name, enabled: enabled, rateHz: rate))
                }
            }
            return ClockSnapshot(
                id: UInt32(clock), name: catalog.clocks[clock].name, enabled: state.clockEnable.isOn[clock],
                rateHz: state.clockRate.value[clock], requests: requests)
        }

        let domains = catalog.voltageDomains.indices.map { domain in
            var requests: [VoltageRequest] = []
            for agent in 0 ..< agentCount {
                let on = state.voltageEnable.requested(resource: domain, agent: agent)
                let level = state.voltageLevel.requested(resource: domain, agent: agent)
                if on != nil || level != nil {
                    requests.append(VoltageRequest(agentID: agents[agent].id, agentName: agents[agent].name, on: on, levelMicrovolts: level))
                }
            }
            return VoltageDomainSnapshot(
                id: UInt32(domain), name: catalog.voltageDomains[domain].name, on: state.voltageEnable.isOn[domain],
                levelMicrovolts: state.voltageLevel.value[domain], requests: requests)
        }

        func protocols(_ mask: UInt32) -> [UInt8] {
            (0x11 ..< 0x30).map { UInt8($0) }.filter { mask & protocolBit($0) != 0 }
        }

        let agentSnapshots = agents.indices.map { agent in
            var permissions: [DevicePermission] = []
            for device in catalog.devices.indices {
                let mask = state.permissions(agent: agent, device: device)
                if mask != 0 {
                    permissions.append(DevicePermission(
                        deviceID: catalog.devices[device].id, deviceName: catalog.devices[device].name,
                        protocols: protocols(mask)))
                }
            }
            return AgentSnapshot(
                id: agents[agent].id, name: agents[agent].name, trusted: agents[agent].trusted,
                protocols: agents[agent].protocolList, permissions: permissions)
        }

        return PlatformSnapshot(clocks: clocks, voltageDomains: domains, agents: agentSnapshots)
    }
}

// MARK: - JSON keys
// `scmi-dt status --format json` is the stable interface for scripts: snake_case keys,
// as in `tables --format json`, spelled out here so that renaming a property cannot
// change them. A key whose value is absent (an agent that never asked for a rate) is left out.

extension PlatformSnapshot {
    enum CodingKeys: String, CodingKey {
        case clocks, agents
        case voltageDomains = "voltage_domains"
    }
}

extension ClockSnapshot {
    enum CodingKeys: String, CodingKey {
        case id, name, enabled, requests
        case rateHz = "rate_hz"
    }
}

extension ClockRequest {
    enum CodingKeys: String, CodingKey {
        case enabled
        case agentID = "agent_id"
        case agentName = "agent_name"
        case rateHz = "rate_hz"
    }
}

extension VoltageDomainSnapshot {
    enum CodingKeys: String, CodingKey {
        case id, name, on, requests
        case levelMicrovolts = "level_microvolts"
    }
}

extension VoltageRequest {
    enum CodingKeys: String, CodingKey {
        case on
        case agentID = "agent_id"
        case agentName = "agent_name"
        case levelMicrovolts = "level_microvolts"
    }
}

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
