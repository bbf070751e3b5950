import SCMIWire

/// Why a call failed. Each case names the command, so that `scmi-dt call`
/// can print it as is.
public enum SCMIClientError: Error, Equatable, CustomStringConvertible {
    /// The platform answered with a failed status.
    case status(SCMIStatus, protocolID: UInt8, messageID: UInt8)
    /// The response header is not the request header (wrong token, protocol or
    /// message), or the response is too short to have one.
    case headerMismatch(sent: MessageHeader, received: MessageHeader?)
    /// Fewer return-value bytes than the command defines.
    case shortResponse(protocolID: UInt8, messageID: UInt8, expected: Int, received: Int)
    /// A reply that breaks the protocol in another way (a list that never ends,
    /// a range that is not one triplet …).
    case malformed(protocolID: UInt8, messageID: UInt8, reason: String)

    public var status: SCMIStatus? {
        if case .status(let status, _, _) = self { return status }
        return nil
    }

    public var description: String {
        switch self {
        case .status(let status, let protocolID, let messageID):
            return Self.command(protocolID, messageID) + ": " + status.description
        case .headerMismatch(let sent, let received):
            let got = received.map { $0.description } ?? "no header (response shorter than 8 bytes)"
            return "response header " + got + " does not match request header " + sent.description
        case .shortResponse(let protocolID, let messageID, let expected, let received):
            return Self.command(protocolID, messageID) + ": response has " + String(received)
                + " bytes of return values, expected " + String(expected)
        case .malformed(let protocolID, let messageID, let reason):
            return Self.command(protocolID, messageID) + ": " + reason
        }
    }

    static func command(_ protocolID: UInt8, _ messageID: UInt8) -> String {
        MessageNames.messageName(protocolID: protocolID, messageID: messageID).description
            + " (protocol 0x" + String(protocolID, radix: 16) + ", message 0x" + String(messageID, radix: 16) + ")"
    }
}
