// Notification ids per protocol with the spec's names (DEN0056; the table of
// docs/serve.md, "Notifications and delayed responses"). A notification is a
// platform → agent message of type 3 whose message id is one of these; the
// agent subscribes with the protocol's *_NOTIFY command.

/// A notification of one protocol: its id is the raw value, its protocol the type's.
public protocol SCMINotification: RawRepresentable, Hashable, Sendable, CaseIterable where RawValue == UInt8 {
    static var protocolID: ProtocolID { get }
    /// The spec's name, e.g. "CLOCK_RATE_CHANGED".
    var name: StaticString { get }
}

/// Power domain 0x11.
public enum PowerDomainNotification: UInt8, SCMINotification {
    case stateChanged = 0x0
    public static let protocolID = ProtocolID.powerDomain
    public var name: StaticString { "POWER_STATE_CHANGED" }
}

/// Performance 0x13.
public enum PerformanceNotification: UInt8, SCMINotification {
    case limitsChanged = 0x0
    case levelChanged = 0x1
    public static let protocolID = ProtocolID.performance
    public var name: StaticString {
        switch self {
        case .limitsChanged: "PERFORMANCE_LIMITS_CHANGED"
        case .levelChanged: "PERFORMANCE_LEVEL_CHANGED"
        }
    }
}

/// Clock 0x14.
public enum ClockNotification: UInt8, SCMINotification {
    case rateChanged = 0x0
    case rateChangeRequested = 0x1
    public static let protocolID = ProtocolID.clock
    public var name: StaticString {
        switch self {
        case .rateChanged: "CLOCK_RATE_CHANGED"
        case .rateChangeRequested: "CLOCK_RATE_CHANGE_REQUESTED"
        }
    }
}

/// Sensor 0x15.
public enum SensorNotification: UInt8, SCMINotification {
    case tripPointEvent = 0x0
    case update = 0x1
    public static let protocolID = ProtocolID.sensor
    public var name: StaticString {
        switch self {
        case .tripPointEvent: "SENSOR_TRIP_POINT_EVENT"
        case .update: "SENSOR_UPDATE"
        }
    }
}

/// Reset 0x16.
public enum ResetNotification: UInt8, SCMINotification {
    case issued = 0x0
    public static let protocolID = ProtocolID.reset
    public var name: StaticString { "RESET_ISSUED" }
}

extension MessageNames {
    /// The notification's name, e.g. "CLOCK_RATE_CHANGED"; "UNKNOWN_NOTIFICATION"
    /// for ids the protocol does not define.
    public static func notificationName(protocolID: UInt8, notificationID: UInt8) -> StaticString {
        switch ProtocolID(protocolID) {
        case .powerDomain: return name(PowerDomainNotification.self, notificationID)
        case .performance: return name(PerformanceNotification.self, notificationID)
        case .clock: return name(ClockNotification.self, notificationID)
        case .sensor: return name(SensorNotification.self, notificationID)
        case .reset: return name(ResetNotification.self, notificationID)
        default: return "UNKNOWN_NOTIFICATION"
        }
    }

    static func name<Notification: SCMINotification>(_: Notification.Type, _ id: UInt8) -> StaticString {
        Notification(rawValue: id)?.name ?? "UNKNOWN_NOTIFICATION"
    }
}
