import SCMIWire

// Base protocol 0x10 from the agent's side (docs/protocol.md §6).

/// What a guest learns about the platform at boot.
public struct BaseInfo: Sendable, Equatable {
    public var version: UInt32
    /// Protocols this agent may use, Base excluded (PROTOCOL_ATTRIBUTES bits 7:0).
    public var protocolCount: Int
    /// Agents the platform declares (bits 15:8).
    public var agentCount: Int
    public var vendor: String
    public var subVendor: String
    public var implementationVersion: UInt32
    /// BASE_DISCOVER_LIST_PROTOCOLS, every page.
    public var protocols: [UInt8]
}

/// BASE_DISCOVER_AGENT's answer.
public struct AgentIdentity: Sendable, Equatable {
    public var id: UInt32
    public var name: String

    public init(id: UInt32, name: String) {
        self.id = id
        self.name = name
    }
}

extension SCMIClient {
    /// Version, attributes, vendor, sub-vendor, implementation version and the
    /// protocol list, in the order Linux asks for them.
    public func baseInfo() throws -> BaseInfo {
        let version = try protocolVersion(ProtocolID.base.rawValue)
        let (protocolCount, agentCount) = try baseAttributes()
        return BaseInfo(
            version: version, protocolCount: protocolCount, agentCount: agentCount,
            vendor: try vendor(), subVendor: try subVendor(),
            implementationVersion: try implementationVersion(),
            protocols: try listProtocols(expected: protocolCount))
    }

    public func baseAttributes() throws -> (protocols: Int, agents: Int) {
        let attributes = try call(BaseMessage.protocolAttributes).word(0)
        return (Int(attributes & 0xFF), Int((attributes >> 8) & 0xFF))
    }

    public func vendor() throws -> String {
        try call(BaseMessage.discoverVendor).name(at: 0, width: NameField.short.width)
    }

    public func subVendor() throws -> String {
        try call(BaseMessage.discoverSubVendor).name(at: 0, width: NameField.short.width)
    }

    public func implementationVersion() throws -> UInt32 {
        try call(BaseMessage.discoverImplementationVersion).word(0)
    }

    /// Every protocol id the platform lists for this agent, following the
    /// pages (skip = ids read so far) until `expected` ids (default: the
    /// count PROTOCOL_ATTRIBUTES gives) or an empty page.
    public func listProtocols(expected: Int? = nil, responseCapacity: Int = SCMILimits.maxResponse) throws -> [UInt8] {
        let total = try expected ?? baseAttributes().protocols
        var protocols: [UInt8] = []
        while protocols.count < total {
            let values = try call(BaseMessage.discoverListProtocols, parameters: [UInt32(protocols.count)], responseCapacity: responseCapacity)
            let returned = Int(try values.word(0))
            if returned == 0 { break }
            guard protocols.count + returned <= total else {
                throw values.malformed("lists " + String(protocols.count + returned) + " protocols, attributes said " + String(total))
            }
            try values.require(4 + (returned + 3) / 4 * 4)
            protocols += values.bytes[4 ..< 4 + returned]
        }
        return protocols
    }

    /// 0: the platform; 0xFFFFFFFF: this agent; else a declared agent.
    public func discoverAgent(_ id: UInt32 = 0xFFFF_FFFF) throws -> AgentIdentity {
        let values = try call(BaseMessage.discoverAgent, parameters: [id])
        return AgentIdentity(id: try values.word(0), name: try values.name(at: 4, width: NameField.short.width))
    }

    /// BASE_SET_DEVICE_PERMISSIONS (trusted agents only).
    public func setDevicePermissions(agent: UInt32, device: UInt32, allow: Bool) throws {
        _ = try call(BaseMessage.setDevicePermissions, parameters: [agent, device, allow ? 1 : 0])
    }

    /// BASE_SET_PROTOCOL_PERMISSIONS (trusted agents only).
    public func setProtocolPermissions(agent: UInt32, device: UInt32, protocolID: UInt8, allow: Bool) throws {
        _ = try call(BaseMessage.setProtocolPermissions, parameters: [agent, device, UInt32(protocolID), allow ? 1 : 0])
    }

    /// BASE_RESET_AGENT_CONFIGURATION (trusted agents only): withdraws the
    /// agent's requests, and restores its devicetree permissions when asked.
    public func resetAgentConfiguration(agent: UInt32, resetPermissions: Bool) throws {
        _ = try call(BaseMessage.resetAgentConfiguration, parameters: [agent, resetPermissions ? 1 : 0])
    }
}
