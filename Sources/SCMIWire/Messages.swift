// Message ids per protocol with the spec's names (DEN0056; the tables of
// docs/protocol.md). Each enum holds the three commands every protocol has
// (0x0-0x2) and the protocol's own; `name` is the spec's spelling, a literal,
// so naming a message never allocates.

/// A message of one protocol: its id is the raw value, its protocol the type's.
public protocol SCMIMessage: RawRepresentable, Hashable, Sendable, CaseIterable where RawValue == UInt8 {
    static var protocolID: ProtocolID { get }
    /// The spec's name, e.g. "CLOCK_RATE_GET".
    var name: StaticString { get }
}

/// The commands every protocol has (docs/protocol.md §4), for code that
/// speaks to a protocol it has no enum for.
public enum CommonMessage: UInt8, Sendable, CaseIterable {
    case protocolVersion = 0x0
    case protocolAttributes = 0x1
    case protocolMessageAttributes = 0x2

    public var name: StaticString {
        switch self {
        case .protocolVersion: "PROTOCOL_VERSION"
        case .protocolAttributes: "PROTOCOL_ATTRIBUTES"
        case .protocolMessageAttributes: "PROTOCOL_MESSAGE_ATTRIBUTES"
        }
    }
}


/// Base protocol 0x10 (docs/protocol.md §6).
public enum BaseMessage: UInt8, SCMIMessage {
    case protocolVersion = 0x0
    case protocolAttributes = 0x1
    case protocolMessageAttributes = 0x2
    case discoverVendor = 0x3
    case discoverSubVendor = 0x4
    case discoverImplementationVersion = 0x5
    case discoverListProtocols = 0x6
    case discoverAgent = 0x7
    case notifyErrors = 0x8
    case setDevicePermissions = 0x9
    case setProtocolPermissions = 0xA
    case resetAgentConfiguration = 0xB

    public static let protocolID = ProtocolID.base

    public var name: StaticString {
        switch self {
        case .protocolVersion: "PROTOCOL_VERSION"
        case .protocolAttributes: "PROTOCOL_ATTRIBUTES"
        case .protocolMessageAttributes: "PROTOCOL_MESSAGE_ATTRIBUTES"
        case .discoverVendor: "BASE_DISCOVER_VENDOR"
        case .discoverSubVendor: "BASE_DISCOVER_SUB_VENDOR"
        case .discoverImplementationVersion: "BASE_DISCOVER_IMPLEMENTATION_VERSION"
        case .discoverListProtocols: "BASE_DISCOVER_LIST_PROTOCOLS"
        case .discoverAgent: "BASE_DISCOVER_AGENT"
        case .notifyErrors: "BASE_NOTIFY_ERRORS"
        case .setDevicePermissions: "BASE_SET_DEVICE_PERMISSIONS"
        case .setProtocolPermissions: "BASE_SET_PROTOCOL_PERMISSIONS"
        case .resetAgentConfiguration: "BASE_RESET_AGENT_CONFIGURATION"
        }
    }
}

/// Power domain management 0x11 (docs/protocol.md §7).
public enum PowerDomainMessage: UInt8, SCMIMessage {
    case protocolVersion = 0x0
    case protocolAttributes = 0x1
    case protocolMessageAttributes = 0x2
    case domainAttributes = 0x3
    case stateSet = 0x4
    case stateGet = 0x5
    case stateNotify = 0x6
    case stateChangeRequestedNotify = 0x7
    case domainNameGet = 0x8

    public static let protocolID = ProtocolID.powerDomain

    public var name: StaticString {
        switch self {
        case .protocolVersion: "PROTOCOL_VERSION"
        case .protocolAttributes: "PROTOCOL_ATTRIBUTES"
        case .protocolMessageAttributes: "PROTOCOL_MESSAGE_ATTRIBUTES"
        case .domainAttributes: "POWER_DOMAIN_ATTRIBUTES"
        case .stateSet: "POWER_STATE_SET"
        case .stateGet: "POWER_STATE_GET"
        case .stateNotify: "POWER_STATE_NOTIFY"
        case .stateChangeRequestedNotify: "POWER_STATE_CHANGE_REQUESTED_NOTIFY"
        case .domainNameGet: "POWER_DOMAIN_NAME_GET"
        }
    }
}

/// Performance domain management 0x13 (docs/protocol.md §9).
public enum PerformanceMessage: UInt8, SCMIMessage {
    case protocolVersion = 0x0
    case protocolAttributes = 0x1
    case protocolMessageAttributes = 0x2
    case domainAttributes = 0x3
    case describeLevels = 0x4
    case limitsSet = 0x5
    case limitsGet = 0x6
    case levelSet = 0x7
    case levelGet = 0x8
    case notifyLimits = 0x9
    case notifyLevel = 0xA
    case describeFastchannel = 0xB
    case domainNameGet = 0xC

    public static let protocolID = ProtocolID.performance

    public var name: StaticString {
        switch self {
        case .protocolVersion: "PROTOCOL_VERSION"
        case .protocolAttributes: "PROTOCOL_ATTRIBUTES"
        case .protocolMessageAttributes: "PROTOCOL_MESSAGE_ATTRIBUTES"
        case .domainAttributes: "PERFORMANCE_DOMAIN_ATTRIBUTES"
        case .describeLevels: "PERFORMANCE_DESCRIBE_LEVELS"
        case .limitsSet: "PERFORMANCE_LIMITS_SET"
        case .limitsGet: "PERFORMANCE_LIMITS_GET"
        case .levelSet: "PERFORMANCE_LEVEL_SET"
        case .levelGet: "PERFORMANCE_LEVEL_GET"
        case .notifyLimits: "PERFORMANCE_NOTIFY_LIMITS"
        case .notifyLevel: "PERFORMANCE_NOTIFY_LEVEL"
        case .describeFastchannel: "PERFORMANCE_DESCRIBE_FASTCHANNEL"
        case .domainNameGet: "PERFORMANCE_DOMAIN_NAME_GET"
        }
    }
}

/// Clock management 0x14 (docs/protocol.md §10).
public enum ClockMessage: UInt8, SCMIMessage {
    case protocolVersion = 0x0
    case protocolAttributes = 0x1
    case protocolMessageAttributes = 0x2
    case attributes = 0x3
    case describeRates = 0x4
    case rateSet = 0x5
    case rateGet = 0x6
    case configSet = 0x7
    case nameGet = 0x8
    case rateNotify = 0x9
    case rateChangeRequestedNotify = 0xA
    case configGet = 0xB
    case possibleParentsGet = 0xC
    case parentSet = 0xD
    case parentGet = 0xE
    case getPermissions = 0xF

    public static let protocolID = ProtocolID.clock

    public var name: StaticString {
        switch self {
        case .protocolVersion: "PROTOCOL_VERSION"
        case .protocolAttributes: "PROTOCOL_ATTRIBUTES"
        case .protocolMessageAttributes: "PROTOCOL_MESSAGE_ATTRIBUTES"
        case .attributes: "CLOCK_ATTRIBUTES"
        case .describeRates: "CLOCK_DESCRIBE_RATES"
        case .rateSet: "CLOCK_RATE_SET"
        case .rateGet: "CLOCK_RATE_GET"
        case .configSet: "CLOCK_CONFIG_SET"
        case .nameGet: "CLOCK_NAME_GET"
        case .rateNotify: "CLOCK_RATE_NOTIFY"
        case .rateChangeRequestedNotify: "CLOCK_RATE_CHANGE_REQUESTED_NOTIFY"
        case .configGet: "CLOCK_CONFIG_GET"
        case .possibleParentsGet: "CLOCK_POSSIBLE_PARENTS_GET"
        case .parentSet: "CLOCK_PARENT_SET"
        case .parentGet: "CLOCK_PARENT_GET"
        case .getPermissions: "CLOCK_GET_PERMISSIONS"
        }
    }
}

/// Sensor management 0x15 (docs/protocol.md §11).
public enum SensorMessage: UInt8, SCMIMessage {
    case protocolVersion = 0x0
    case protocolAttributes = 0x1
    case protocolMessageAttributes = 0x2
    case descriptionGet = 0x3
    case tripPointNotify = 0x4
    case tripPointConfig = 0x5
    case readingGet = 0x6
    case axisDescriptionGet = 0x7
    case listUpdateIntervals = 0x8
    case configGet = 0x9
    case configSet = 0xA
    case continuousUpdateNotify = 0xB
    case nameGet = 0xC
    case axisNameGet = 0xD

    public static let protocolID = ProtocolID.sensor

    public var name: StaticString {
        switch self {
        case .protocolVersion: "PROTOCOL_VERSION"
        case .protocolAttributes: "PROTOCOL_ATTRIBUTES"
        case .protocolMessageAttributes: "PROTOCOL_MESSAGE_ATTRIBUTES"
        case .descriptionGet: "SENSOR_DESCRIPTION_GET"
        case .tripPointNotify: "SENSOR_TRIP_POINT_NOTIFY"
        case .tripPointConfig: "SENSOR_TRIP_POINT_CONFIG"
        case .readingGet: "SENSOR_READING_GET"
        case .axisDescriptionGet: "SENSOR_AXIS_DESCRIPTION_GET"
        case .listUpdateIntervals: "SENSOR_LIST_UPDATE_INTERVALS"
        case .configGet: "SENSOR_CONFIG_GET"
        case .configSet: "SENSOR_CONFIG_SET"
        case .continuousUpdateNotify: "SENSOR_CONTINUOUS_UPDATE_NOTIFY"
        case .nameGet: "SENSOR_NAME_GET"
        case .axisNameGet: "SENSOR_AXIS_NAME_GET"
        }
    }
}

/// Reset domain management 0x16 (docs/protocol.md §12).
public enum ResetMessage: UInt8, SCMIMessage {
    case protocolVersion = 0x0
    case protocolAttributes = 0x1
    case protocolMessageAttributes = 0x2
    case domainAttributes = 0x3
    case reset = 0x4
    case notify = 0x5
    case domainNameGet = 0x6

    public static let protocolID = ProtocolID.reset

    public var name: StaticString {
        switch self {
        case .protocolVersion: "PROTOCOL_VERSION"
        case .protocolAttributes: "PROTOCOL_ATTRIBUTES"
        case .protocolMessageAttributes: "PROTOCOL_MESSAGE_ATTRIBUTES"
        case .domainAttributes: "RESET_DOMAIN_ATTRIBUTES"
        case .reset: "RESET"
        case .notify: "RESET_NOTIFY"
        case .domainNameGet: "RESET_DOMAIN_NAME_GET"
        }
    }
}

/// Voltage domain management 0x17 (docs/protocol.md §13).
public enum VoltageMessage: UInt8, SCMIMessage {
    case protocolVersion = 0x0
    case protocolAttributes = 0x1
    case protocolMessageAttributes = 0x2
    case domainAttributes = 0x3
    case describeLevels = 0x4
    case configSet = 0x5
    case configGet = 0x6
    case levelSet = 0x7
    case levelGet = 0x8
    case domainNameGet = 0x9

    public static let protocolID = ProtocolID.voltage

    public var name: StaticString {
        switch self {
        case .protocolVersion: "PROTOCOL_VERSION"
        case .protocolAttributes: "PROTOCOL_ATTRIBUTES"
        case .protocolMessageAttributes: "PROTOCOL_MESSAGE_ATTRIBUTES"
        case .domainAttributes: "VOLTAGE_DOMAIN_ATTRIBUTES"
        case .describeLevels: "VOLTAGE_DESCRIBE_LEVELS"
        case .configSet: "VOLTAGE_CONFIG_SET"
        case .configGet: "VOLTAGE_CONFIG_GET"
        case .levelSet: "VOLTAGE_LEVEL_SET"
        case .levelGet: "VOLTAGE_LEVEL_GET"
        case .domainNameGet: "VOLTAGE_DOMAIN_NAME_GET"
        }
    }
}
