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
public enum LevelDescription: Sendable, Equatable {
    case discrete([Int32])
    case range(min: Int32, max: Int32, step: Int32)
}

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

    public func describeLevels(_ id: UInt32, responseCapacity: Int = SCMILimits.maxResponse) throws -> LevelDescription {
        var levels: [Int32] = []
        var total: Int? = nil
        while true {
            let values = try call(VoltageMessage.describeLevels, parameters: [id, UInt32(levels.count)], responseCapacity: responseCapacity)
            let page = DescribePage(word: try values.word(0))
            let returned = page.returned, remaining = page.remaining
            if page.isTriplet {
                guard levels.isEmpty, returned == 3, remaining == 0 else {
                    throw values.malformed("a segment must be exactly one {low, high, step} triplet with 0 remaining")
                }
                return .range(min: try values.int32(1), max: try values.int32(2), step: try values.int32(3))
            }
            let expected = total ?? returned + remaining
            total = expected
            guard returned > 0, levels.count + returned + remaining == expected else {
                throw values.malformed("level pages disagree: " + String(levels.count) + " read, " + String(returned)
                    + " returned, " + String(remaining) + " remaining, " + String(expected) + " in all")
            }
            for index in 0 ..< returned { levels.append(try values.int32(1 + index)) }
            if remaining == 0 { return .discrete(levels) }
        }
    }

    /// The physical level in µV.
    public func levelGet(_ id: UInt32) throws -> Int32 {
        try call(VoltageMessage.levelGet, parameters: [id]).int32(0)
    }

    /// Asks for `microvolts`, synchronously.
    public func levelSet(_ id: UInt32, microvolts: Int32) throws {
        _ = try call(VoltageMessage.levelSet, parameters: [id, 0, UInt32(bitPattern: microvolts)])
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
