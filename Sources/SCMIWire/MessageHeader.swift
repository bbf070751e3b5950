// The 32-bit header that starts every SCMI message (DEN0056 §4.1.1,
// docs/protocol.md §1): id | type<<8 | protocol<<10 | token<<18, bits 31:28 reserved.

/// An SCMI message header, kept as the raw word so that the response can echo
/// the request's header bit for bit.
public struct MessageHeader: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(protocolID: UInt8, messageID: UInt8, type: MessageType = .command, token: UInt16 = 0) {
        rawValue = UInt32(messageID)
            | UInt32(type.rawValue) << 8
            | UInt32(protocolID) << 10
            | (UInt32(token) & MessageHeader.tokenMask) << 18
    }

    /// The header of `message`, whose protocol the message type names.
    public init<Message: SCMIMessage>(_ message: Message, type: MessageType = .command, token: UInt16 = 0) {
        self.init(protocolID: Message.protocolID.rawValue, messageID: message.rawValue, type: type, token: token)
    }

    /// Tokens are 10 bits wide.
    public static let tokenMask: UInt32 = 0x3FF
    public static let reservedMask: UInt32 = 0xF000_0000

    public var messageID: UInt8 { UInt8(truncatingIfNeeded: rawValue) }
    public var type: MessageType { MessageType(rawValue: UInt8(truncatingIfNeeded: (rawValue >> 8) & 0x3)) ?? .reserved }
    public var protocolID: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 10) }
    public var token: UInt16 { UInt16(truncatingIfNeeded: (rawValue >> 18) & MessageHeader.tokenMask) }
    /// Bits 31:28, which a well-behaved agent leaves 0.
    public var reservedBits: UInt32 { rawValue & MessageHeader.reservedMask }

    /// A command a platform may answer: type 0 and no reserved bit set.
    public var isWellFormedCommand: Bool { type == .command && reservedBits == 0 }

    public var description: String {
        "0x" + String(rawValue, radix: 16) + " (protocol 0x" + String(protocolID, radix: 16)
            + ", message 0x" + String(messageID, radix: 16) + ", token " + String(token) + ")"
    }
}

/// Bits 9:8 of the header.
public enum MessageType: UInt8, Sendable {
    case command = 0
    case reserved = 1
    case delayedResponse = 2
    case notification = 3
}

/// Transport limits of virtio-scmi (docs/protocol.md §18): at most 128 payload
/// bytes either way (VIRTIO_SCMI_MAX_MSG_SIZE), so a request is at most
/// header + 128 bytes and a response at most header + status + 128
/// (VIRTIO_SCMI_MAX_PDU_SIZE, 136).
public enum SCMILimits {
    public static let maxPayload = 128
    public static let maxRequest = 4 + maxPayload
    public static let maxResponse = 8 + maxPayload
    /// Header and status: the smallest response that says anything.
    public static let minResponse = 8
}
