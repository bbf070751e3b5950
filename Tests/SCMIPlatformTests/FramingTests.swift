import ResourceTables
import SCMIPlatform
import Testing

/// What every message gets regardless of protocol: the header echoed, the
/// status the spec gives for each kind of mistake, and replies sized to the
/// space the guest gave (docs/serve.md §3, "Hostile or broken guests").
@Suite struct FramingTests {
    let platform = SCMIPlatform(tables: Board.tables)

    @Test func headerPacksFieldsAsTheSpecSays() {
        let header = MessageHeader(protocolID: 0x14, messageID: 0x6, token: 0x3FF)
        #expect(header.rawValue == 0x6 | 0x14 << 10 | 0x3FF << 18)
        #expect(header.protocolID == 0x14 && header.messageID == 0x6 && header.token == 0x3FF)
        #expect(header.type == .command && header.isWellFormedCommand)
        let notification = MessageHeader(rawValue: 0x3 << 8 | 0x14 << 10)
        #expect(notification.type == .notification && !notification.isWellFormedCommand)
        #expect(!MessageHeader(rawValue: 0x1000_0000).isWellFormedCommand)
    }

    // Linux matches responses by token, compliance tests by the whole header.
    @Test func responseHeaderIsTheRequestHeaderUnchanged() {
        let ivi = session(platform, Board.ivi)
        for token: UInt16 in [0, 1, 0x2AB, 0x3FF] {
            let header = MessageHeader(protocolID: P.clock, messageID: 0x6, token: token)
            let response = ivi.send(P.clock, 0x6, [0], token: token)
            #expect(response.header == header.rawValue)
            #expect(response.outcome.header == header)
        }
        // Failed ones too.
        let failed = ivi.send(0x42, 0x0, token: 0x123)
        #expect(failed.header == MessageHeader(protocolID: 0x42, messageID: 0, token: 0x123).rawValue)
    }

    @Test func requestShorterThanAHeaderGetsNothing() {
        let ivi = session(platform, Board.ivi)
        for length in 0 ..< 4 {
            let response = ivi.send(raw: Array(repeating: 0, count: length))
            #expect(response.length == 0)
            #expect(response.outcome.header == nil && response.outcome.status == nil)
        }
    }

    @Test func responseSpaceBelowEightBytesGetsNothing() {
        let ivi = session(platform, Board.ivi)
        for capacity in 0 ..< 8 {
            let response = ivi.send(P.base, 0x0, capacity: capacity)
            #expect(response.length == 0)
            #expect(response.outcome.status == nil)
            #expect(response.outcome.header?.protocolID == P.base)
        }
    }

    // Exactly 8 bytes is enough for a status, not for a version.
    @Test func replyThatDoesNotFitIsCommsError() {
        let ivi = session(platform, Board.ivi)
        let response = ivi.send(P.base, 0x0, capacity: 8)
        #expect(response.length == 8)
        #expect(response.status == .commsError)
        let attributes = ivi.send(P.clock, 0x3, [0], capacity: 8 + 23)
        #expect(attributes.status == .commsError && attributes.length == 8)
        let fits = ivi.send(P.clock, 0x3, [0], capacity: 8 + 24)
        #expect(fits.status == .success && fits.length == 32)
    }

    @Test func oversizedRequestIsProtocolError() {
        let ivi = session(platform, Board.ivi)
        // A protocol nobody serves tells the two apart: 4 + 128 bytes reach the
        // dispatcher (NOT_SUPPORTED), one byte more does not.
        let header = MessageHeader(protocolID: 0x42, messageID: 0x0)
        let longest = ivi.send(raw: littleEndianBytes([header.rawValue] + Array(repeating: 0, count: 32)))
        #expect(longest.status == .notSupported)
        let tooLong = ivi.send(raw: littleEndianBytes([header.rawValue] + Array(repeating: 0, count: 32)) + [0])
        #expect(tooLong.status == .protocolError && tooLong.length == 8)
    }

    @Test func notACommandIsProtocolError() {
        let ivi = session(platform, Board.ivi)
        let delayed = MessageHeader(protocolID: P.base, messageID: 0, type: .delayedResponse)
        #expect(ivi.send(raw: littleEndianBytes([delayed.rawValue])).status == .protocolError)
        let reserved = MessageHeader(rawValue: MessageHeader(protocolID: P.base, messageID: 0).rawValue | 0x8000_0000)
        let response = ivi.send(raw: littleEndianBytes([reserved.rawValue]))
        #expect(response.status == .protocolError)
        #expect(response.header == reserved.rawValue)
    }

    @Test func unknownOrForbiddenProtocolIsNotSupported() {
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(0x12, 0x0).status == .notSupported)  // not implemented
        #expect(ivi.send(0x80, 0x0).status == .notSupported)  // vendor
        #expect(ivi.send(P.power, 0x0).status == .notSupported)  // not enabled in the tables
        // Reset is enabled, but not among vm-ivi's arm,scmi-protocols.
        #expect(ivi.send(P.reset, 0x0).status == .notSupported)
        #expect(session(platform, Board.cluster).send(P.reset, 0x0).status == .success)
    }

    @Test func undefinedMessageIsNotFound() {
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.base, 0xC).status == .notFound)
        #expect(ivi.send(P.clock, 0x10).status == .notFound)
        #expect(ivi.send(P.voltage, 0xA).status == .notFound)
        #expect(ivi.send(P.clock, 0xFF).status == .notFound)
    }

    @Test func wrongPayloadSizeIsProtocolError() {
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.base, 0x0, [0]).status == .protocolError)
        #expect(ivi.send(P.clock, 0x6).status == .protocolError)
        #expect(ivi.send(P.clock, 0x6, [0, 0]).status == .protocolError)
        #expect(ivi.send(P.clock, 0x5, [0, 0, 24_000_000]).status == .protocolError)
        #expect(ivi.send(P.voltage, 0x7, [0, 0]).status == .protocolError)
        // A request whose length is not a whole number of words.
        let header = MessageHeader(protocolID: P.clock, messageID: 0x6)
        #expect(ivi.send(raw: littleEndianBytes([header.rawValue, 0]) + [0]).status == .protocolError)
    }

    // virtio-scmi: when status ≠ SUCCESS the payload is exactly the status word.
    @Test func failedStatusIsTheWholePayload() {
        let ivi = session(platform, Board.ivi)
        let response = ivi.send(P.clock, 0x3, [99])
        #expect(response.status == .notFound)
        #expect(response.length == 8)
        #expect(response.outcome.status == .notFound && response.outcome.responseLength == 8)
    }

    @Test func undeclaredAgentGetsNoSession() {
        #expect(platform.makeSession(agentID: 0) == nil)
        #expect(platform.makeSession(agentID: 9) == nil)
        #expect(platform.makeSession(agentID: 2)?.agentID == 2)
    }

    @Test func statusNamesAreTheSpecs() {
        #expect(SCMIStatus.notFound.name == "NOT_FOUND")
        #expect(SCMIStatus(rawValue: -10).name == "PROTOCOL_ERROR")
        #expect(SCMIStatus(rawValue: -200).name == "VENDOR_SPECIFIC")
        #expect(MessageNames.messageName(protocolID: 0x14, messageID: 0x6).description == "CLOCK_RATE_GET")
        #expect(MessageNames.messageName(protocolID: 0x10, messageID: 0x0).description == "PROTOCOL_VERSION")
        #expect(MessageNames.protocolName(0x17).description == "VOLTAGE")
    }
}
