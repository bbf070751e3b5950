import SCMIWire

// Voltage domain protocol 0x17 from the agent's side (docs/protocol.md §13),
// as scmi-regulator uses it.

public struct VoltageDomainAttributes: Sendable, Equatable {
    public var name: String
    /// Bit 30: VOLTAGE_DOMAIN_NAME_GET has a longer name.
    public var hasExtendedName: Bool
    /// Bit 31: asynchronous VOLTAGE_LEVEL_SET.
    public var supportsAsyncLevelSet: Bool
    public var rawAttributes: UInt32
}

/// VOLTAGE_DESCRIBE_LEVELS, all pages, in signed microvolts.
public typealias LevelDescription = ValueDescription<Int32>

extension SCMIClient {
    public func voltageDomainCount() throws -> Int {
        Int(try call(VoltageMessage.protocolAttributes).word(0) & 0xFFFF)
    }

    public func voltageDomainAttributes(_ id: UInt32) throws -> VoltageDomainAttributes {
        let values = try call(VoltageMessage.domainAttributes, parameters: [id])
        let attributes = try values.word(0)
        return VoltageDomainAttributes(
            name: try values.name(at: 4, width: NameField.short.width), hasExtendedName: attributes & (1 << 30) != 0,
            supportsAsyncLevelSet: attributes & (1 << 31) != 0, rawAttributes: attributes)
    }

    public func voltageDomainName(_ id: UInt32) throws -> String {
        try call(VoltageMessage.domainNameGet, parameters: [id]).name(at: 4, width: NameField.extended.width)
    }

    /// Every level, following the pages of a discrete list.
    public func describeLevels(_ id: UInt32, responseCapacity: Int = SCMILimits.maxResponse) throws -> LevelDescription {
        try describe(VoltageMessage.describeLevels, id, responseCapacity: responseCapacity)
    }

    /// The physical level in µV.
    public func levelGet(_ id: UInt32) throws -> Int32 {
        try call(VoltageMessage.levelGet, parameters: [id]).int32(0)
    }

    /// Asks for `microvolts`; `asynchronous` sets flag bit 0 (the platform
    /// then sends VOLTAGE_LEVEL_SET_COMPLETE on the eventq).
    public func levelSet(_ id: UInt32, microvolts: Int32, asynchronous: Bool = false) throws {
        _ = try call(VoltageMessage.levelSet, parameters: [id, asynchronous ? 1 : 0, UInt32(bitPattern: microvolts)])
    }

    /// VOLTAGE_CONFIG_SET with the architectural ON mode (0x7).
    public func voltageOn(_ id: UInt32) throws {
        _ = try call(VoltageMessage.configSet, parameters: [id, 0x7])
    }

    /// VOLTAGE_CONFIG_SET with the architectural OFF mode (0x0).
    public func voltageOff(_ id: UInt32) throws {
        _ = try call(VoltageMessage.configSet, parameters: [id, 0x0])
    }

    /// The config word (0x7 on, 0x0 off); Linux counts any of bits 2:0 as on.
    public func voltageConfigGet(_ id: UInt32) throws -> UInt32 {
        try call(VoltageMessage.configGet, parameters: [id]).word(0)
    }
}
