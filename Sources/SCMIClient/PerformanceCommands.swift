import SCMIWire

// Performance domain protocol 0x13 from the agent's side (docs/protocol.md §9),
// as scmi-cpufreq uses it (version 3 layouts).

public struct PerformanceDomainAttributes: Sendable, Equatable {
    /// The short name (15 bytes at most).
    public var name: String
    /// Bit 26: PERFORMANCE_DOMAIN_NAME_GET has a longer name.
    public var hasExtendedName: Bool
    /// Bits 31 and 30: the agent may set limits, and levels.
    public var canSetLimits: Bool
    public var canSetLevel: Bool
    public var sustainedFrequencyKilohertz: UInt32
    public var sustainedLevel: UInt32
    public var rawAttributes: UInt32
}

/// One PERFORMANCE_DESCRIBE_LEVELS entry (v1–v3).
public struct PerformanceLevelEntry: DescribedValue {
    public var level: UInt32
    /// In the unit PROTOCOL_ATTRIBUTES names (bit 17: µW, bit 16: mW).
    public var powerCost: UInt32
    /// Bits 15:0 of the latency word.
    public var latencyMicroseconds: UInt32

    public static var wordCount: Int { 3 }
    public static func read(_ values: ReturnValues, word index: Int) throws -> PerformanceLevelEntry {
        PerformanceLevelEntry(level: try values.word(index), powerCost: try values.word(index + 1),
                              latencyMicroseconds: try values.word(index + 2) & 0xFFFF)
    }

    /// "800000 (cost 8000, 150 us)".
    public var description: String {
        String(level) + " (cost " + String(powerCost) + ", " + String(latencyMicroseconds) + " us)"
    }
}

extension SCMIClient {
    public func performanceDomainCount() throws -> Int {
        Int(try call(PerformanceMessage.protocolAttributes).word(0) & 0xFFFF)
    }

    public func performanceDomainAttributes(_ id: UInt32) throws -> PerformanceDomainAttributes {
        let values = try call(PerformanceMessage.domainAttributes, parameters: [id])
        let attributes = try values.word(0)
        return PerformanceDomainAttributes(
            name: try values.name(at: 16, width: NameField.short.width), hasExtendedName: attributes & (1 << 26) != 0,
            canSetLimits: attributes & (1 << 31) != 0, canSetLevel: attributes & (1 << 30) != 0,
            sustainedFrequencyKilohertz: try values.word(2), sustainedLevel: try values.word(3), rawAttributes: attributes)
    }

    public func performanceDomainName(_ id: UInt32) throws -> String {
        try call(PerformanceMessage.domainNameGet, parameters: [id]).name(at: 4, width: NameField.extended.width)
    }

    /// Every level, following the pages (a range is not a valid answer).
    public func describePerformanceLevels(_ id: UInt32, responseCapacity: Int = SCMILimits.maxResponse) throws -> [PerformanceLevelEntry] {
        let described: ValueDescription<PerformanceLevelEntry> = try describe(PerformanceMessage.describeLevels, id, responseCapacity: responseCapacity)
        guard case .discrete(let levels) = described else {
            throw SCMIClientError.malformed(protocolID: PerformanceMessage.protocolID.rawValue, messageID: PerformanceMessage.describeLevels.rawValue,
                                            reason: "levels are a list, never a triplet")
        }
        return levels
    }

    /// The physical level.
    public func performanceLevelGet(_ id: UInt32) throws -> UInt32 {
        try call(PerformanceMessage.levelGet, parameters: [id]).word(0)
    }

    public func performanceLevelSet(_ id: UInt32, level: UInt32) throws {
        _ = try call(PerformanceMessage.levelSet, parameters: [id, level])
    }

    /// This agent's own limits.
    public func performanceLimitsGet(_ id: UInt32) throws -> (min: UInt32, max: UInt32) {
        let values = try call(PerformanceMessage.limitsGet, parameters: [id])
        return (try values.word(1), try values.word(0))
    }

    public func performanceLimitsSet(_ id: UInt32, min: UInt32, max: UInt32) throws {
        _ = try call(PerformanceMessage.limitsSet, parameters: [id, max, min])
    }
}
