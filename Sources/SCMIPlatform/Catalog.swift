import ResourceTables

// What never changes while serving and no protocol owns: the vendor's names,
// the devices, each agent's view. Built once from PlatformTables so that
// answering a message only reads it. Each protocol unit builds its own slice
// (its resources, their names and descriptions, which devices hold them:
// UnitResources.swift).

/// Bit for protocol `id` in a protocol mask (bit 0 = 0x10, … bit 7 = 0x17).
/// Only the standard range 0x10...0x2F has bits; vendor ids never appear in tables.
func protocolBit(_ id: UInt8) -> UInt32 {
    id >= 0x10 && id < 0x30 ? 1 << UInt32(id - 0x10) : 0
}

struct AgentInfo: Sendable {
    let id: UInt32
    let name: String
    /// 16-byte wire name.
    let shortName: [UInt8]
    let trusted: Bool
    /// Protocols this agent sees and may use, Base excluded (protocolBit).
    let protocolMask: UInt32
    /// The same protocols as ids, ascending, for BASE_DISCOVER_LIST_PROTOCOLS.
    let protocolList: [UInt8]
    /// The devicetree's permissions: the indices of the devices it lists for this agent, each
    /// with the whole `protocolMask` (sparse: a dense mask per device would cost 4 bytes per
    /// agent and device, 25 MB for 64 agents and 100,000 devices).
    let initialDevices: [Int32]
}

struct DeviceInfo: Sendable {
    let id: UInt32
    let name: String
}

struct Catalog: Sendable {
    let vendorName: [UInt8]
    let subVendorName: [UInt8]
    let implementationVersion: UInt32
    /// Protocols enabled in the tables, Base excluded.
    let enabledProtocols: UInt32
    let agents: [AgentInfo]
    let devices: [DeviceInfo]
    /// SCMI device id → index into `devices` (the first, should ids repeat).
    let deviceIndexByID: [UInt32: Int]

    init(tables: PlatformTables) {
        vendorName = NameField.short.encode(tables.vendor)
        subVendorName = NameField.short.encode(tables.subVendor)
        implementationVersion = tables.implementationVersion

        var enabled: UInt32 = 0
        for id in tables.protocols where id != .base { enabled |= protocolBit(id.rawValue) }
        enabledProtocols = enabled

        devices = tables.devices.map { DeviceInfo(id: $0.id, name: $0.name) }

        // Index of the first device with each id (tables from BackendModel have unique ids):
        // one hash lookup per agent grant, so start-up stays linear in devices × grants.
        var deviceIndexByID = [UInt32: Int](minimumCapacity: tables.devices.count)
        for (index, device) in tables.devices.enumerated() where deviceIndexByID[device.id] == nil {
            deviceIndexByID[device.id] = index
        }
        self.deviceIndexByID = deviceIndexByID

        agents = tables.agents.map { agent in
            var mask: UInt32 = 0
            for id in agent.protocols where id != .base { mask |= protocolBit(id.rawValue) }
            mask &= enabled
            let list = (0x11 ... 0x2F).map { UInt8($0) }.filter { mask & protocolBit($0) != 0 }
            return AgentInfo(
                id: agent.id, name: agent.name, shortName: NameField.short.encode(agent.name),
                trusted: agent.trusted, protocolMask: mask, protocolList: list,
                initialDevices: agent.devices.compactMap { deviceIndexByID[$0].map(Int32.init) })
        }
    }

    /// Index of the agent with SCMI id `id`.
    func agentIndex(id: UInt32) -> Int? {
        for index in agents.indices where agents[index].id == id { return index }
        return nil
    }

    func deviceIndex(id: UInt32) -> Int? { deviceIndexByID[id] }
}
