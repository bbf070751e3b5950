// SCMI status codes (DEN0056 §4.1.4, docs/protocol.md §2). The first word of
// every response payload; a failed status is the whole payload.

/// An SCMI status word. A struct rather than an enum so that any value a
/// platform sends (vendor codes ≤ -128 included) can be carried by the client.
public struct SCMIStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible, Error {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let success = SCMIStatus(rawValue: 0)
    public static let notSupported = SCMIStatus(rawValue: -1)
    public static let invalidParameters = SCMIStatus(rawValue: -2)
    public static let denied = SCMIStatus(rawValue: -3)
    public static let notFound = SCMIStatus(rawValue: -4)
    public static let outOfRange = SCMIStatus(rawValue: -5)
    public static let busy = SCMIStatus(rawValue: -6)
    public static let commsError = SCMIStatus(rawValue: -7)
    public static let genericError = SCMIStatus(rawValue: -8)
    public static let hardwareError = SCMIStatus(rawValue: -9)
    public static let protocolError = SCMIStatus(rawValue: -10)
    public static let inUse = SCMIStatus(rawValue: -11)

    public var isSuccess: Bool { rawValue == 0 }

    /// The spec's name, e.g. "NOT_FOUND"; literals only, so asking never allocates.
    public var name: String {
        switch rawValue {
        case 0: "SUCCESS"
        case -1: "NOT_SUPPORTED"
        case -2: "INVALID_PARAMETERS"
        case -3: "DENIED"
        case -4: "NOT_FOUND"
        case -5: "OUT_OF_RANGE"
        case -6: "BUSY"
        case -7: "COMMS_ERROR"
        case -8: "GENERIC_ERROR"
        case -9: "HARDWARE_ERROR"
        case -10: "PROTOCOL_ERROR"
        case -11: "IN_USE"
        case -12: "PARTIAL"
        case ...(-128): "VENDOR_SPECIFIC"
        default: "UNKNOWN_STATUS"
        }
    }

    public var description: String { name + " (" + String(rawValue) + ")" }
}
