import SCMIWire

// Clock protocol 0x14 from the agent's side (docs/protocol.md §10), as
// clk-scmi uses it: CONFIG_SET / CONFIG_GET in the layout of the platform's
// major version.

public struct ClockAttributes: Sendable, Equatable {
    /// The short name (15 bytes at most).
    public var name: String
    /// Bit 0: enabled (for this agent, on this platform).
    public var enabled: Bool
    /// Bit 29: CLOCK_NAME_GET has a longer name.
    public var hasExtendedName: Bool
    public var rawAttributes: UInt32
    public var enableDelayMicroseconds: UInt32
}

/// CLOCK_DESCRIBE_RATES, all pages, in Hz.
public typealias RateDescription = ValueDescription<UInt64>

/// How CLOCK_RATE_SET rounds a rate that is not described.
public enum RateRounding: Sendable {
    case down, up, nearest

    var flags: UInt32 {
        switch self {
        case .down: 0
        case .up: 1 << 2
        case .nearest: 1 << 3
        }
    }
}

extension SCMIClient {
    public func clockCount() throws -> Int {
        Int(try call(ClockMessage.protocolAttributes).word(0) & 0xFFFF)
    }

    public func clockAttributes(_ id: UInt32) throws -> ClockAttributes {
        let values = try call(ClockMessage.attributes, parameters: [id])
        let attributes = try values.word(0)
        // enable_delay is there from version 2 on; a v1 platform may stop after the name.
        let delay = values.count >= 24 ? try values.word(5) : 0
        return ClockAttributes(
            name: try values.name(at: 4, width: NameField.short.width), enabled: attributes & 1 != 0,
            hasExtendedName: attributes & (1 << 29) != 0, rawAttributes: attributes,
            enableDelayMicroseconds: delay)
    }

    /// CLOCK_NAME_GET: the whole name (up to 63 bytes).
    public func clockName(_ id: UInt32) throws -> String {
        try call(ClockMessage.nameGet, parameters: [id]).name(at: 4, width: NameField.extended.width)
    }

    /// Every rate, following the pages of a discrete list.
    public func describeRates(_ id: UInt32, responseCapacity: Int = SCMILimits.maxResponse) throws -> RateDescription {
        try describe(ClockMessage.describeRates, id, responseCapacity: responseCapacity)
    }

    /// The physical rate in Hz.
    public func rateGet(_ id: UInt32) throws -> UInt64 {
        try call(ClockMessage.rateGet, parameters: [id]).uint64(0)
    }

    /// Asks for `rate`, rounded as `rounding` says; `asynchronous` sets flag
    /// bit 0 (the platform then sends CLOCK_RATE_SET_COMPLETE on the eventq).
    public func rateSet(_ id: UInt32, rate: UInt64, rounding: RateRounding = .down, asynchronous: Bool = false) throws {
        _ = try call(ClockMessage.rateSet, parameters: [
            rounding.flags | (asynchronous ? 1 : 0), id, UInt32(truncatingIfNeeded: rate), UInt32(truncatingIfNeeded: rate >> 32),
        ])
    }

    public func enable(clock id: UInt32) throws { try clockConfigSet(id, on: true) }
    public func disable(clock id: UInt32) throws { try clockConfigSet(id, on: false) }

    /// Version 3 and later: the 12-byte form (state in bits 1:0, no OEM type);
    /// before: the 8-byte form (bit 0).
    private func clockConfigSet(_ id: UInt32, on: Bool) throws {
        let parameters: [UInt32] = try cachedVersion(ProtocolID.clock.rawValue) >> 16 >= 3 ? [id, on ? 1 : 0, 0] : [id, on ? 1 : 0]
        _ = try call(ClockMessage.configSet, parameters: parameters)
    }

    /// Whether the clock is enabled for this agent: CLOCK_CONFIG_GET from
    /// version 3 on, CLOCK_ATTRIBUTES bit 0 before (as Linux does).
    public func clockConfigGet(_ id: UInt32) throws -> Bool {
        if try cachedVersion(ProtocolID.clock.rawValue) >> 16 >= 3 {
            return try call(ClockMessage.configGet, parameters: [id, 0]).word(1) & 1 != 0
        }
        return try clockAttributes(id).enabled
    }
}
