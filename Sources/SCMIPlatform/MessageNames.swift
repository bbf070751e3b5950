// Names of protocols and messages as the spec spells them, for `serve --trace`
// and the client's errors. StaticString so that naming a message never allocates.

public enum MessageNames {
    /// "BASE", "CLOCK", …; "UNKNOWN_PROTOCOL" for ids the spec does not name here.
    public static func protocolName(_ protocolID: UInt8) -> StaticString {
        switch protocolID {
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

    /// The command's name, e.g. "CLOCK_RATE_GET"; "UNKNOWN_MESSAGE" for ids the
    /// protocol does not define.
    public static func messageName(protocolID: UInt8, messageID: UInt8) -> StaticString {
        switch messageID {
        case 0x0: return "PROTOCOL_VERSION"
        case 0x1: return "PROTOCOL_ATTRIBUTES"
        case 0x2: return "PROTOCOL_MESSAGE_ATTRIBUTES"
        default: break
        }
        switch protocolID {
        case 0x10: return base(messageID)
        case 0x11: return powerDomain(messageID)
        case 0x13: return performance(messageID)
        case 0x14: return clock(messageID)
        case 0x15: return sensor(messageID)
        case 0x16: return reset(messageID)
        case 0x17: return voltage(messageID)
        default: return "UNKNOWN_MESSAGE"
        }
    }

    private static func base(_ id: UInt8) -> StaticString {
        switch id {
        case 0x3: "BASE_DISCOVER_VENDOR"
        case 0x4: "BASE_DISCOVER_SUB_VENDOR"
        case 0x5: "BASE_DISCOVER_IMPLEMENTATION_VERSION"
        case 0x6: "BASE_DISCOVER_LIST_PROTOCOLS"
        case 0x7: "BASE_DISCOVER_AGENT"
        case 0x8: "BASE_NOTIFY_ERRORS"
        case 0x9: "BASE_SET_DEVICE_PERMISSIONS"
        case 0xA: "BASE_SET_PROTOCOL_PERMISSIONS"
        case 0xB: "BASE_RESET_AGENT_CONFIGURATION"
        default: "UNKNOWN_MESSAGE"
        }
    }

    private static func powerDomain(_ id: UInt8) -> StaticString {
        switch id {
        case 0x3: "POWER_DOMAIN_ATTRIBUTES"
        case 0x4: "POWER_STATE_SET"
        case 0x5: "POWER_STATE_GET"
        case 0x6: "POWER_STATE_NOTIFY"
        case 0x7: "POWER_STATE_CHANGE_REQUESTED_NOTIFY"
        case 0x8: "POWER_DOMAIN_NAME_GET"
        default: "UNKNOWN_MESSAGE"
        }
    }

    private static func performance(_ id: UInt8) -> StaticString {
        switch id {
        case 0x3: "PERFORMANCE_DOMAIN_ATTRIBUTES"
        case 0x4: "PERFORMANCE_DESCRIBE_LEVELS"
        case 0x5: "PERFORMANCE_LIMITS_SET"
        case 0x6: "PERFORMANCE_LIMITS_GET"
        case 0x7: "PERFORMANCE_LEVEL_SET"
        case 0x8: "PERFORMANCE_LEVEL_GET"
        case 0x9: "PERFORMANCE_NOTIFY_LIMITS"
        case 0xA: "PERFORMANCE_NOTIFY_LEVEL"
        case 0xB: "PERFORMANCE_DESCRIBE_FASTCHANNEL"
        case 0xC: "PERFORMANCE_DOMAIN_NAME_GET"
        default: "UNKNOWN_MESSAGE"
        }
    }

    private static func clock(_ id: UInt8) -> StaticString {
        switch id {
        case 0x3: "CLOCK_ATTRIBUTES"
        case 0x4: "CLOCK_DESCRIBE_RATES"
        case 0x5: "CLOCK_RATE_SET"
        case 0x6: "CLOCK_RATE_GET"
        case 0x7: "CLOCK_CONFIG_SET"
        case 0x8: "CLOCK_NAME_GET"
        case 0x9: "CLOCK_RATE_NOTIFY"
        case 0xA: "CLOCK_RATE_CHANGE_REQUESTED_NOTIFY"
        case 0xB: "CLOCK_CONFIG_GET"
        case 0xC: "CLOCK_POSSIBLE_PARENTS_GET"
        case 0xD: "CLOCK_PARENT_SET"
        case 0xE: "CLOCK_PARENT_GET"
        case 0xF: "CLOCK_GET_PERMISSIONS"
        default: "UNKNOWN_MESSAGE"
        }
    }

    private static func sensor(_ id: UInt8) -> StaticString {
        switch id {
        case 0x3: "SENSOR_DESCRIPTION_GET"
        case 0x4: "SENSOR_TRIP_POINT_NOTIFY"
        case 0x5: "SENSOR_TRIP_POINT_CONFIG"
        case 0x6: "SENSOR_READING_GET"
        case 0x7: "SENSOR_AXIS_DESCRIPTION_GET"
        case 0x8: "SENSOR_LIST_UPDATE_INTERVALS"
        case 0x9: "SENSOR_CONFIG_GET"
        case 0xA: "SENSOR_CONFIG_SET"
        case 0xB: "SENSOR_CONTINUOUS_UPDATE_NOTIFY"
        case 0xC: "SENSOR_NAME_GET"
        case 0xD: "SENSOR_AXIS_NAME_GET"
        default: "UNKNOWN_MESSAGE"
        }
    }

    private static func reset(_ id: UInt8) -> StaticString {
        switch id {
        case 0x3: "RESET_DOMAIN_ATTRIBUTES"
        case 0x4: "RESET"
        case 0x5: "RESET_NOTIFY"
        case 0x6: "RESET_DOMAIN_NAME_GET"
        default: "UNKNOWN_MESSAGE"
        }
    }

    private static func voltage(_ id: UInt8) -> StaticString {
        switch id {
        case 0x3: "VOLTAGE_DOMAIN_ATTRIBUTES"
        case 0x4: "VOLTAGE_DESCRIBE_LEVELS"
        case 0x5: "VOLTAGE_CONFIG_SET"
        case 0x6: "VOLTAGE_CONFIG_GET"
        case 0x7: "VOLTAGE_LEVEL_SET"
        case 0x8: "VOLTAGE_LEVEL_GET"
        case 0x9: "VOLTAGE_DOMAIN_NAME_GET"
        default: "UNKNOWN_MESSAGE"
        }
    }
}
