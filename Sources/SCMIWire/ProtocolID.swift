// SCMI protocol identifiers (DEN0056 §4.1.1, docs/protocol.md §3): the one
// definition the tables, the engine and the client share.

/// An SCMI protocol identifier. A struct rather than an enum so that any id a
/// header carries (vendor ids 0x80–0xFF included) can be held and named.
public struct ProtocolID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    public static let base = ProtocolID(0x10)
    public static let powerDomain = ProtocolID(0x11)
    public static let system = ProtocolID(0x12)
    public static let performance = ProtocolID(0x13)
    public static let clock = ProtocolID(0x14)
    public static let sensor = ProtocolID(0x15)
    public static let reset = ProtocolID(0x16)
    public static let voltage = ProtocolID(0x17)
    public static let powerCapping = ProtocolID(0x18)
    public static let pinControl = ProtocolID(0x19)

    /// The system power management protocol under its older name.
    public static let systemPower = system

    public static func < (a: ProtocolID, b: ProtocolID) -> Bool { a.rawValue < b.rawValue }

    /// "clock", "voltage", … as used in tables, logs and the client.
    public var name: String {
        switch self {
        case .base: "base"
        case .powerDomain: "power-domain"
        case .system: "system-power"
        case .performance: "performance"
        case .clock: "clock"
        case .sensor: "sensor"
        case .reset: "reset"
        case .voltage: "voltage"
        case .powerCapping: "powercap"
        case .pinControl: "pinctrl"
        default: "protocol-0x" + String(rawValue, radix: 16)
        }
    }

    /// The spec's name, "BASE", "CLOCK", …; "UNKNOWN_PROTOCOL" for ids the spec
    /// does not name. A literal, so asking never allocates.
    public var specName: StaticString {
        switch rawValue {
        case 0x10: "BASE"
        case 0x11: "POWER_DOMAIN"
        case 0x12: "SYSTEM_POWER"
        case 0x13: "PERFORMANCE"
        case 0x14: "CLOCK"
        case 0x15: "SENSOR"
        case 0x16: "RESET_DOMAIN"
        case 0x17: "VOLTAGE"
        case 0x18: "POWERCAP"
        case 0x19: "PINCTRL"
        default: "UNKNOWN_PROTOCOL"
        }
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
