import SCMIWire

// Reset domain protocol 0x16 from the agent's side (docs/protocol.md §12), as
// reset-scmi uses it: assert (held), deassert, and an autonomous reset (a
// pulse), always the architectural cold reset; asynchronously on request
// (RESET_COMPLETE then arrives on the eventq).

public struct ResetDomainAttributes: Sendable, Equatable {
    /// The short name (15 bytes at most).
    public var name: String
    /// Bit 31: asynchronous reset (a delayed RESET_COMPLETE).
    public var supportsAsyncReset: Bool
    /// Bit 30: RESET_ISSUED notifications.
    public var notifiesResets: Bool
    /// Bit 29: RESET_DOMAIN_NAME_GET has a longer name.
    public var hasExtendedName: Bool
    public var rawAttributes: UInt32
    /// Microseconds; 0xFFFFFFFF is unknown.
    public var latencyMicroseconds: UInt32
}

/// What RESET asks for: its flags word.
public enum ResetAction: Sendable {
    /// Flags 0.
    case deassert
    /// Bit 1, explicit assert: held until deasserted.
    case assert
    /// Bit 0, autonomous reset: asserted and deasserted.
    case pulse

    var flags: UInt32 {
        switch self {
        case .deassert: 0
        case .assert: 1 << 1
        case .pulse: 1 << 0
        }
    }
}

extension SCMIClient {
    public func resetDomainCount() throws -> Int {
        Int(try call(ResetMessage.protocolAttributes).word(0) & 0xFFFF)
    }

    public func resetDomainAttributes(_ id: UInt32) throws -> ResetDomainAttributes {
        let values = try call(ResetMessage.domainAttributes, parameters: [id])
        let attributes = try values.word(0)
        return ResetDomainAttributes(
            name: try values.name(at: 8, width: NameField.short.width),
            supportsAsyncReset: attributes & (1 << 31) != 0, notifiesResets: attributes & (1 << 30) != 0,
            hasExtendedName: attributes & (1 << 29) != 0, rawAttributes: attributes,
            latencyMicroseconds: try values.word(1))
    }

    /// RESET_DOMAIN_NAME_GET: the whole name (up to 63 bytes).
    public func resetDomainName(_ id: UInt32) throws -> String {
        try call(ResetMessage.domainNameGet, parameters: [id]).name(at: 4, width: NameField.extended.width)
    }

    /// RESET of domain `id`: `action`, architectural cold reset (reset_state
    /// 0); `asynchronous` sets flag bit 2 (the platform then sends
    /// RESET_COMPLETE on the eventq).
    public func reset(_ id: UInt32, _ action: ResetAction, asynchronous: Bool = false) throws {
        _ = try call(ResetMessage.reset, parameters: [id, action.flags | (asynchronous ? 1 << 2 : 0), 0])
    }
}
