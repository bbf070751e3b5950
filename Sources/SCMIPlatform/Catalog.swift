import ResourceTables

// What never changes while serving: names padded to their wire widths, rate
// and level descriptions, which devices hold which resource, each agent's view.
// Built once from PlatformTables so that answering a message only reads it.

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
    /// The devicetree's permissions: per device index, a protocol mask.
    let initialPermissions: [UInt32]
}

struct DeviceInfo: Sendable {
    let id: UInt32
    let name: String
}

struct ClockInfo: Sendable {
    let name: String
    let shortName: [UInt8]
    let longName: [UInt8]
    /// The name does not fit the 15 bytes of CLOCK_ATTRIBUTES.
    let hasExtendedName: Bool
    let rates: ClockRates
    let initialRate: UInt64
    /// Indices (into Catalog.devices) of the devices that have this clock.
    let devices: [Int]
}

struct VoltageInfo: Sendable {
    let name: String
    let shortName: [UInt8]
    let longName: [UInt8]
    let hasExtendedName: Bool
    let levels: VoltageLevels
    let initialLevel: Int32
    let initiallyOn: Bool
    /// `regulator-always-on`: never switched off (docs/serve.md §4, "Host limits").
    let alwaysOn: Bool
    let devices: [Int]
}

struct Catalog: Sendable {
    let vendorName: [UInt8]
    let subVendorName: [UInt8]
    let implementationVersion: UInt32
    /// Protocols enabled in the tables, Base excluded.
    let enabledProtocols: UInt32
    let agents: [AgentInfo]
    let devices: [DeviceInfo]
    let clocks: [ClockInfo]
    let voltageDomains: [VoltageInfo]
    /// Coupled voltage domains and their spreads.
    let voltageCouplings: CoupledLevels
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

        /// Device indices holding each id of `protocolID`'s table, ignoring
        /// references past the table (hand-built tables may have them).
        func holders(of protocolID: ProtocolID, count: Int) -> [[Int]] {
            var result = Array(repeating: [Int](), count: count)
            for (index, device) in tables.devices.enumerated() {
                for reference in device.resources where reference.protocolID == protocolID {
                    let id = Int(reference.id)
                    // Devices are visited in order, so a repeat can only be the last one added.
                    if id < count, result[id].last != index { result[id].append(index) }
                }
            }
            return result
        }

        let clockHolders = holders(of: .clock, count: tables.clocks.count)
        clocks = tables.clocks.enumerated().map { index, entry in
            ClockInfo(
                name: entry.name,
                shortName: NameField.short.encode(entry.name),
                longName: NameField.extended.encode(entry.name),
                hasExtendedName: !NameField.short.fits(entry.name),
                rates: Catalog.normalized(entry.rates),
                initialRate: entry.initialRate,
                devices: clockHolders[index])
        }

        let voltageHolders = holders(of: .voltage, count: tables.voltageDomains.count)
        voltageDomains = tables.voltageDomains.enumerated().map { index, entry in
            VoltageInfo(
                name: entry.name,
                shortName: NameField.short.encode(entry.name),
                longName: NameField.extended.encode(entry.name),
                hasExtendedName: !NameField.short.fits(entry.name),
                levels: Catalog.normalized(entry.levels),
                initialLevel: entry.initialLevel,
                initiallyOn: entry.initiallyOn,
                alwaysOn: entry.alwaysOn,
                devices: voltageHolders[index])
        }
        voltageCouplings = CoupledLevels(tables.voltageDomains, levels: voltageDomains.map(\.levels))

        let deviceCount = tables.devices.count
        agents = tables.agents.map { agent in
            var mask: UInt32 = 0
            for id in agent.protocols where id != .base { mask |= protocolBit(id.rawValue) }
            mask &= enabled
            let list = (0x11 ... 0x2F).map { UInt8($0) }.filter { mask & protocolBit($0) != 0 }
            var permissions = Array(repeating: UInt32(0), count: deviceCount)
            for id in agent.devices {
                if let index = deviceIndexByID[id] { permissions[index] = mask }
            }
            return AgentInfo(
                id: agent.id, name: agent.name, shortName: NameField.short.encode(agent.name),
                trusted: agent.trusted, protocolMask: mask, protocolList: list,
                initialPermissions: permissions)
        }
    }

    /// Index of the agent with SCMI id `id`.
    func agentIndex(id: UInt32) -> Int? {
        for index in agents.indices where agents[index].id == id { return index }
        return nil
    }

    func deviceIndex(id: UInt32) -> Int? { deviceIndexByID[id] }

    /// Descriptions the engine can serve whatever a hand-built table holds:
    /// lists sorted without duplicates, ranges with min ≤ max and step ≥ 1.
    static func normalized(_ rates: ClockRates) -> ClockRates {
        switch rates {
        case .discrete(let list): .discrete(Array(Set(list)).sorted())
        case .range(let low, let high, let step): .range(min: Swift.min(low, high), max: Swift.max(low, high), step: Swift.max(step, 1))
        }
    }

    static func normalized(_ levels: VoltageLevels) -> VoltageLevels {
        switch levels {
        case .discrete(let list): .discrete(Array(Set(list)).sorted())
        case .range(let low, let high, let step): .range(min: Swift.min(low, high), max: Swift.max(low, high), step: Swift.max(step, 1))
        }
    }
}
