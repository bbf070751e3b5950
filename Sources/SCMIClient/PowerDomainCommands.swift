import SCMIWire

// Power domain protocol 0x11 from the agent's side (docs/protocol.md §7), as
// scmi_pm_domain uses it: the generic ON and OFF states, set synchronously.

public struct PowerDomainAttributes: Sendable, Equatable {
    /// The short name (15 bytes at most).
    public var name: String
    /// Bit 31: POWER_STATE_CHANGED notifications.
    public var notifiesStateChanges: Bool
    /// Bit 30: asynchronous POWER_STATE_SET.
    public var supportsAsyncSet: Bool
    /// Bit 29: synchronous POWER_STATE_SET.
    public var supportsSyncSet: Bool
    /// Bit 27: POWER_DOMAIN_NAME_GET has a longer name.
    public var hasExtendedName: Bool
    public var rawAttributes: UInt32
}

/// The generic power states (scmi_protocol.h).
public enum PowerState {
    public static let on: UInt32 = 0x0000_0000
    public static let off: UInt32 = 0x4000_0000
}

extension SCMIClient {
    public func powerDomainCount() throws -> Int {
        Int(try call(PowerDomainMessage.protocolAttributes).word(0) & 0xFFFF)
    }

    public func powerDomainAttributes(_ id: UInt32) throws -> PowerDomainAttributes {
        let values = try call(PowerDomainMessage.domainAttributes, parameters: [id])
        let attributes = try values.word(0)
        return PowerDomainAttributes(
            name: try values.name(at: 4, width: NameField.short.width),
            notifiesStateChanges: attributes & (1 << 31) != 0, supportsAsyncSet: attributes & (1 << 30) != 0,
            supportsSyncSet: attributes & (1 << 29) != 0, hasExtendedName: attributes & (1 << 27) != 0,
            rawAttributes: attributes)
    }

    /// POWER_DOMAIN_NAME_GET: the whole name (up to 63 bytes).
    public func powerDomainName(_ id: UInt32) throws -> String {
        try call(PowerDomainMessage.domainNameGet, parameters: [id]).name(at: 4, width: NameField.extended.width)
    }

    /// POWER_STATE_SET, synchronous (flags 0), with `state` as sent (PowerState.on, .off, or any word).
    public func powerStateSet(_ id: UInt32, state: UInt32) throws {
        _ = try call(PowerDomainMessage.stateSet, parameters: [0, id, state])
    }

    /// POWER_STATE_GET: the state word (this agent's own request on this platform).
    public func powerStateGet(_ id: UInt32) throws -> UInt32 {
        try call(PowerDomainMessage.stateGet, parameters: [id]).word(0)
    }
}
