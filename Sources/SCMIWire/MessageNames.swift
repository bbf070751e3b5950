// Names of protocols and messages as the spec spells them, for `serve --trace`
// and the client's errors, read from ProtocolID and the message enums.
// StaticString so that naming a message never allocates.

public enum MessageNames {
    /// "BASE", "CLOCK", …; "UNKNOWN_PROTOCOL" for ids the spec does not name here.
    public static func protocolName(_ protocolID: UInt8) -> StaticString {
        ProtocolID(protocolID).specName
    }

    /// The command's name, e.g. "CLOCK_RATE_GET"; "UNKNOWN_MESSAGE" for ids the
    /// protocol does not define.
    public static func messageName(protocolID: UInt8, messageID: UInt8) -> StaticString {
        if let common = CommonMessage(rawValue: messageID) { return common.name }
        switch ProtocolID(protocolID) {
        case .base: return name(BaseMessage.self, messageID)
        case .powerDomain: return name(PowerDomainMessage.self, messageID)
        case .performance: return name(PerformanceMessage.self, messageID)
        case .clock: return name(ClockMessage.self, messageID)
        case .sensor: return name(SensorMessage.self, messageID)
        case .reset: return name(ResetMessage.self, messageID)
        case .voltage: return name(VoltageMessage.self, messageID)
        default: return "UNKNOWN_MESSAGE"
        }
    }

    /// The name of message `id` of `Message`'s protocol.
    public static func name<Message: SCMIMessage>(_: Message.Type, _ id: UInt8) -> StaticString {
        Message(rawValue: id)?.name ?? "UNKNOWN_MESSAGE"
    }
}
