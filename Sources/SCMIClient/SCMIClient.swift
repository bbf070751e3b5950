// The client's API speaks in wire types (MessageHeader, SCMIStatus,
// SCMILimits); re-exported so that its users need not import SCMIWire too.
@_exported import SCMIWire

// The agent side of SCMI over any transport: builds headers with fresh
// tokens, checks that the response belongs to the request, turns a failed
// status into an error, and decodes return values with bounds checks.
// Typed commands live in one file per protocol (BaseCommands,
// PowerDomainCommands, ClockCommands, ResetCommands, VoltageCommands).

public final class SCMIClient {
    private var transport: any SCMITransport
    private var nextToken: UInt16 = 0
    /// PROTOCOL_VERSION answers, asked once per protocol when a command's
    /// layout depends on them (CLOCK_CONFIG_SET / _GET).
    var versions: [UInt8: UInt32] = [:]

    public init(transport: some SCMITransport) {
        self.transport = transport
    }

    /// Sends `request` unchanged and returns the response bytes as they came
    /// (header, status, return values); no checks. For poking a platform.
    public func raw(_ request: [UInt8], responseCapacity: Int = SCMILimits.maxResponse) throws -> [UInt8] {
        try transport.exchange(request: request, responseCapacity: responseCapacity)
    }

    /// Sends one command with the next token and returns its return values
    /// (the bytes after the status). Throws when the header does not echo the
    /// request's or the status is not SUCCESS.
    public func call(
        protocolID: UInt8, messageID: UInt8, parameters: [UInt32] = [],
        responseCapacity: Int = SCMILimits.maxResponse
    ) throws -> ReturnValues {
        let header = MessageHeader(protocolID: protocolID, messageID: messageID, token: nextToken)
        nextToken = (nextToken + 1) & UInt16(MessageHeader.tokenMask)
        let request = LittleEndian.bytes(of: [header.rawValue] + parameters)
        let response = try transport.exchange(request: request, responseCapacity: responseCapacity)
        guard response.count >= 8 else {
            throw SCMIClientError.headerMismatch(sent: header, received: response.count >= 4 ? MessageHeader(rawValue: Self.word(response, 0)) : nil)
        }
        let received = MessageHeader(rawValue: Self.word(response, 0))
        guard received == header else { throw SCMIClientError.headerMismatch(sent: header, received: received) }
        let status = SCMIStatus(rawValue: Int32(bitPattern: Self.word(response, 4)))
        guard status.isSuccess else { throw SCMIClientError.status(status, protocolID: protocolID, messageID: messageID) }
        return ReturnValues(bytes: Array(response[8...]), protocolID: protocolID, messageID: messageID)
    }

    /// Sends `message` of its protocol; see call(protocolID:messageID:…).
    func call<Message: SCMIMessage>(
        _ message: Message, parameters: [UInt32] = [], responseCapacity: Int = SCMILimits.maxResponse
    ) throws -> ReturnValues {
        try call(protocolID: Message.protocolID.rawValue, messageID: message.rawValue,
                 parameters: parameters, responseCapacity: responseCapacity)
    }

    /// The word at byte `offset`; the caller has checked that it lies inside.
    static func word(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        LittleEndian.word(bytes, at: offset)!
    }

    // MARK: Commands every protocol has

    public func protocolVersion(_ protocolID: UInt8) throws -> UInt32 {
        let version = try call(protocolID: protocolID, messageID: CommonMessage.protocolVersion.rawValue).word(0)
        versions[protocolID] = version
        return version
    }

    /// The PROTOCOL_ATTRIBUTES words (their meaning is the protocol's).
    public func protocolAttributes(_ protocolID: UInt8) throws -> [UInt32] {
        let values = try call(protocolID: protocolID, messageID: CommonMessage.protocolAttributes.rawValue)
        return try (0 ..< values.count / 4).map { try values.word($0) }
    }

    /// PROTOCOL_MESSAGE_ATTRIBUTES: the attributes word; NOT_FOUND (thrown) when
    /// the platform does not implement that message.
    public func messageAttributes(protocolID: UInt8, messageID: UInt8) throws -> UInt32 {
        try call(protocolID: protocolID, messageID: CommonMessage.protocolMessageAttributes.rawValue, parameters: [UInt32(messageID)]).word(0)
    }

    /// The protocol's version, asked once.
    func cachedVersion(_ protocolID: UInt8) throws -> UInt32 {
        if let version = versions[protocolID] { return version }
        return try protocolVersion(protocolID)
    }
}

/// The return values of a successful command, read with bounds checks: a
/// short reply is an error naming the command, never a crash.
public struct ReturnValues: Sendable, Equatable {
    public let bytes: [UInt8]
    public let protocolID: UInt8
    public let messageID: UInt8

    public var count: Int { bytes.count }

    /// Word `index` (byte offset 4·index).
    public func word(_ index: Int) throws -> UInt32 {
        try require((index + 1) * 4)
        return SCMIClient.word(bytes, index * 4)
    }

    public func int32(_ index: Int) throws -> Int32 { Int32(bitPattern: try word(index)) }

    /// Low word `index`, high word `index + 1`.
    public func uint64(_ index: Int) throws -> UInt64 {
        UInt64(try word(index)) | UInt64(try word(index + 1)) << 32
    }

    /// A NUL-terminated name field of `width` bytes at byte `offset`.
    public func name(at offset: Int, width: Int) throws -> String {
        try require(offset + width)
        let field = bytes[offset ..< offset + width]
        if let kind = NameField(rawValue: width) { return kind.decode(field) }
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    func require(_ byteCount: Int) throws {
        guard byteCount <= bytes.count else {
            throw SCMIClientError.shortResponse(protocolID: protocolID, messageID: messageID, expected: byteCount, received: bytes.count)
        }
    }

    func malformed(_ reason: String) -> SCMIClientError {
        .malformed(protocolID: protocolID, messageID: messageID, reason: reason)
    }
}
