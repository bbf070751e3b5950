import SCMIClient
import SCMIPlatform

// What serve says to the firmware at run time (docs/host.md, "Upstream"), as
// tables: one row per protocol and kind of physical change (the command that
// makes it real, with the firmware's id), one per forwarded hardware read, one
// per firmware notification passed on to guests. UpstreamHost walks the rows;
// it has no protocol of its own, so that another protocol is a row here.

/// The command that makes one kind of physical change real at the firmware.
struct ChangeCommand: Sendable {
    let protocolID: ProtocolID
    let messageID: UInt8
    /// For `.switched` changes (true) or `.value` changes (false).
    let switched: Bool
    /// The parameters for the firmware's resource `id`; `version` is the
    /// firmware's version of the protocol (a layout may depend on it).
    let parameters: @Sendable (_ id: UInt32, _ what: PhysicalChange.What, _ version: UInt32) -> [UInt32]

    static func switching<Message: SCMIMessage>(
        _ message: Message, _ parameters: @escaping @Sendable (_ id: UInt32, _ on: Bool, _ version: UInt32) -> [UInt32]
    ) -> ChangeCommand {
        ChangeCommand(protocolID: Message.protocolID, messageID: message.rawValue, switched: true) { id, what, version in
            guard case .switched(let on) = what else { return [] }
            return parameters(id, on, version)
        }
    }

    static func setting<Message: SCMIMessage>(
        _ message: Message, _ parameters: @escaping @Sendable (_ id: UInt32, _ value: Int64) -> [UInt32]
    ) -> ChangeCommand {
        ChangeCommand(protocolID: Message.protocolID, messageID: message.rawValue, switched: false) { id, what, _ in
            guard case .value(_, let value) = what else { return [] }
            return parameters(id, value)
        }
    }
}

/// A read of a resource's hardware value (what a guest's *_GET asks).
struct ReadCommand: Sendable {
    let protocolID: ProtocolID
    let messageID: UInt8
    let parameters: @Sendable (_ id: UInt32) -> [UInt32]
    /// The value from the return values (after the status).
    let decode: @Sendable (ReturnValues) throws -> Int64

    init<Message: SCMIMessage>(_ message: Message, parameters: @escaping @Sendable (UInt32) -> [UInt32],
                               decode: @escaping @Sendable (ReturnValues) throws -> Int64) {
        protocolID = Message.protocolID
        messageID = message.rawValue
        self.parameters = parameters
        self.decode = decode
    }
}

/// A firmware notification that reports a change of physical state, and the
/// command that subscribes to it.
struct NotificationRow: Sendable {
    let protocolID: ProtocolID
    let notificationID: UInt8
    let subscribeMessageID: UInt8
    /// The firmware's resource id and the change, from the payload words
    /// after agent_id; nil for a payload too short.
    let decode: @Sendable (_ words: ArraySlice<UInt32>) -> (id: UInt32, what: PhysicalChange.What)?

    init<Notification: SCMINotification, Message: SCMIMessage>(
        _ notification: Notification, subscribedBy message: Message,
        decode: @escaping @Sendable (ArraySlice<UInt32>) -> (id: UInt32, what: PhysicalChange.What)?
    ) {
        protocolID = Notification.protocolID
        notificationID = notification.rawValue
        subscribeMessageID = message.rawValue
        self.decode = decode
    }
}

enum FirmwareCommands {
    /// A 64-bit value as the two words SCMI carries it in (low, high).
    static func words(_ value: Int64) -> [UInt32] {
        [UInt32(truncatingIfNeeded: value), UInt32(truncatingIfNeeded: UInt64(bitPattern: value) >> 32)]
    }

    /// Every change the engine makes, per protocol (docs/protocol.md §7–§13).
    /// All synchronous: the guest is answered once the firmware has answered.
    static let changes: [ChangeCommand] = [
        // v1/v2: {clock_id, attributes bit 0}; v3: {clock_id, attributes 1:0 state, oem_config_val}.
        .switching(ClockMessage.configSet) { id, on, version in
            version >> 16 >= 3 ? [id, on ? 1 : 0, 0] : [id, on ? 1 : 0]
        },
        // {flags 0: synchronous, round down (the rate is one the firmware described), clock_id, rate}.
        .setting(ClockMessage.rateSet) { id, rate in [0, id] + words(rate) },
        // Architectural modes: 0x7 on, 0x0 off.
        .switching(VoltageMessage.configSet) { id, on, _ in [id, on ? 0x7 : 0x0] },
        // {domain_id, flags 0: synchronous, level µV}.
        .setting(VoltageMessage.levelSet) { id, level in [id, 0, UInt32(truncatingIfNeeded: level)] },
        // {flags 0: synchronous, domain_id, generic ON 0 / OFF 0x40000000}.
        .switching(PowerDomainMessage.stateSet) { id, on, _ in [0, id, on ? PowerState.on : PowerState.off] },
        .setting(PerformanceMessage.levelSet) { id, level in [id, UInt32(truncatingIfNeeded: level)] },
        // {domain_id, flags: bit 1 explicit assert, 0 deassert; reset_state 0: architectural cold reset}.
        .switching(ResetMessage.reset) { id, asserted, _ in [id, asserted ? 1 << 1 : 0, 0] },
        // {sensor_id, config: bit 0 enabled, interval 0: unchanged}.
        .switching(SensorMessage.configSet) { id, enabled, _ in [id, enabled ? 1 : 0] },
    ]

    /// The row for `change`, nil when none makes it real.
    static func command(for change: PhysicalChange) -> ChangeCommand? {
        let switched = if case .switched = change.what { true } else { false }
        return changes.first { $0.protocolID == change.protocolID && $0.switched == switched }
    }

    /// The reads that report hardware (docs/host.md): answered by the firmware.
    static let reads: [ReadCommand] = [
        ReadCommand(ClockMessage.rateGet, parameters: { [$0] }) { Int64(bitPattern: try $0.uint64(0)) },
        ReadCommand(VoltageMessage.levelGet, parameters: { [$0] }) { Int64(try $0.int32(0)) },
        ReadCommand(PerformanceMessage.levelGet, parameters: { [$0] }) { Int64(try $0.word(0)) },
        // {sensor_id, flags 0: synchronous} → value low, high (v3: then the timestamp).
        ReadCommand(SensorMessage.readingGet, parameters: { [$0, 0] }) { Int64(bitPattern: try $0.uint64(0)) },
    ]

    static func read(_ protocolID: ProtocolID) -> ReadCommand? {
        reads.first { $0.protocolID == protocolID }
    }

    /// The firmware's notifications of physical changes that guests may have
    /// subscribed to (the same events the engine sends for its own changes).
    /// Sensor trip points are not here: the engine's poller reads upstream
    /// sensors through the firmware and raises the guests' trip points itself.
    static let notifications: [NotificationRow] = [
        // {agent_id, clock_id, rate_low, rate_high}.
        NotificationRow(ClockNotification.rateChanged, subscribedBy: ClockMessage.rateNotify) { words in
            guard words.count >= 3 else { return nil }
            let rate = Int64(bitPattern: UInt64(words[words.startIndex + 1]) | UInt64(words[words.startIndex + 2]) << 32)
            return (words[words.startIndex], .value(from: rate, to: rate))
        },
        // {agent_id, domain_id, power_state}: bit 30 set is a state that loses context (off).
        NotificationRow(PowerDomainNotification.stateChanged, subscribedBy: PowerDomainMessage.stateNotify) { words in
            guard words.count >= 2 else { return nil }
            return (words[words.startIndex], .switched(on: words[words.startIndex + 1] & PowerState.off == 0))
        },
        // {agent_id, domain_id, level}.
        NotificationRow(PerformanceNotification.levelChanged, subscribedBy: PerformanceMessage.notifyLevel) { words in
            guard words.count >= 2 else { return nil }
            let level = Int64(words[words.startIndex + 1])
            return (words[words.startIndex], .value(from: level, to: level))
        },
    ]

    static func notification(_ protocolID: UInt8, _ id: UInt8) -> NotificationRow? {
        notifications.first { $0.protocolID.rawValue == protocolID && $0.notificationID == id }
    }
}
