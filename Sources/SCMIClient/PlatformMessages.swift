// The agent's side of platform → agent messages: subscribing with a *_NOTIFY
// command, and decoding what arrives on the eventq (notifications and delayed
// responses, docs/protocol.md) for `call --listen`.

extension SCMIClient {
    /// A *_NOTIFY command ({resource id, notify_enable}): subscribes to (or,
    /// with `enable` false, unsubscribes from) one resource's event.
    public func subscribe<Message: SCMIMessage>(_ message: Message, resource: UInt32, enable: Bool) throws {
        _ = try call(message, parameters: [resource, enable ? 1 : 0])
    }
}

/// A platform → agent message as `call --listen` prints it.
public enum PlatformMessageText {
    /// The fields of a message's payload after the status (for delayed
    /// responses), by (protocol, id); `.wide` fields take two words (low, high).
    enum Field {
        case word(String)
        case wide(String)
        /// A power state word: `on` or `off` for the generic states, else hex.
        case powerState(String)
        /// Two words holding a signed value (a sensor reading).
        case signedWide(String)
        /// SENSOR_TRIP_POINT_EVENT's trip_point_desc: trip id in bits 7:0,
        /// bit 16 set when the value crossed upwards.
        case tripPoint
    }

    static func notificationFields(_ protocolID: UInt8, _ id: UInt8) -> [Field]? {
        switch (ProtocolID(protocolID), id) {
        case (.clock, ClockNotification.rateChanged.rawValue), (.clock, ClockNotification.rateChangeRequested.rawValue):
            [.word("agent"), .word("clock"), .wide("rate")]
        case (.powerDomain, PowerDomainNotification.stateChanged.rawValue): [.word("agent"), .word("domain"), .powerState("state")]
        case (.performance, PerformanceNotification.limitsChanged.rawValue):
            [.word("agent"), .word("domain"), .word("range_max"), .word("range_min")]
        case (.performance, PerformanceNotification.levelChanged.rawValue): [.word("agent"), .word("domain"), .word("level")]
        case (.sensor, SensorNotification.tripPointEvent.rawValue): [.word("agent"), .word("sensor"), .tripPoint]
        case (.sensor, SensorNotification.update.rawValue): [.word("agent"), .word("sensor"), .signedWide("value"), .wide("timestamp")]
        case (.reset, ResetNotification.issued.rawValue): [.word("agent"), .word("domain"), .word("reset_state")]
        default: nil
        }
    }

    static func delayedResponseFields(_ protocolID: UInt8, _ id: UInt8) -> [Field]? {
        switch (ProtocolID(protocolID), id) {
        case (.clock, ClockMessage.rateSet.rawValue): [.word("clock"), .wide("rate")]
        case (.voltage, VoltageMessage.levelSet.rawValue): [.word("domain"), .word("level")]
        case (.reset, ResetMessage.reset.rawValue): [.word("domain")]
        case (.sensor, SensorMessage.readingGet.rawValue): [.word("sensor"), .signedWide("value"), .wide("timestamp")]
        default: nil
        }
    }

    /// One line: `notification CLOCK_RATE_CHANGED agent=2 clock=0 rate=48000000`,
    /// `delayed response CLOCK_RATE_SET token 5: SUCCESS clock=0 rate=48000000`;
    /// unknown payloads as hex words.
    public static func describe(_ bytes: [UInt8]) -> String {
        guard let first = LittleEndian.word(bytes, at: 0) else { return "empty eventq buffer (the message did not fit)" }
        let header = MessageHeader(rawValue: first)
        var words: [UInt32] = []
        var offset = 4
        while let word = LittleEndian.word(bytes, at: offset) {
            words.append(word)
            offset += 4
        }
        switch header.type {
        case .notification:
            let name = MessageNames.notificationName(protocolID: header.protocolID, notificationID: header.messageID)
            return "notification \(name) " + fields(words[...], notificationFields(header.protocolID, header.messageID))
        case .delayedResponse:
            let name = MessageNames.messageName(protocolID: header.protocolID, messageID: header.messageID)
            guard let statusWord = words.first else { return "delayed response \(name) token \(header.token): no status" }
            let status = SCMIStatus(rawValue: Int32(bitPattern: statusWord))
            let rest = status.isSuccess ? " " + fields(words.dropFirst(), delayedResponseFields(header.protocolID, header.messageID)) : ""
            return "delayed response \(name) token \(header.token): \(status)" + rest
        default:
            return "unexpected message type \(header.type.rawValue): header 0x\(String(first, radix: 16))"
        }
    }

    static func fields(_ words: ArraySlice<UInt32>, _ layout: [Field]?) -> String {
        var words = words
        var parts: [String] = []
        for field in layout ?? [] {
            switch field {
            case .word(let name):
                guard let value = words.popFirst() else { break }
                parts.append("\(name)=\(value)")
            case .powerState(let name):
                guard let value = words.popFirst() else { break }
                let text = value == PowerState.on ? "on" : value == PowerState.off ? "off" : "0x" + String(value, radix: 16)
                parts.append("\(name)=\(text)")
            case .wide(let name), .signedWide(let name):
                guard words.count >= 2, let low = words.popFirst(), let high = words.popFirst() else { break }
                let value = UInt64(high) << 32 | UInt64(low)
                if case .signedWide = field { parts.append("\(name)=\(Int64(bitPattern: value))") } else { parts.append("\(name)=\(value)") }
            case .tripPoint:
                guard let value = words.popFirst() else { break }
                parts.append("trip=\(value & 0xFF) direction=\(value & 1 << 16 != 0 ? "up" : "down")")
            }
        }
        parts += words.map { "0x" + String($0, radix: 16) }
        return parts.joined(separator: " ")
    }
}
