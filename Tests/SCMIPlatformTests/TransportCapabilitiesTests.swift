import ResourceTables
import SCMIPlatform
import Testing

// The session is told what its transport carries (TransportCapabilities);
// by default virtio-scmi without P2A, as before.

@Suite struct TransportCapabilitiesTests {
    @Test func defaultIsVirtioWithoutP2A() {
        let (platform, _) = makeBoard()
        let transport = session(platform, Board.ivi).transport
        #expect(transport == .virtioWithoutP2A)
        #expect(transport.maxPayload == 128)
        #expect(!transport.deliversNotifications)
        #expect(!transport.deliversDelayedResponses)
    }

    @Test func smallerPayloadShortensDescribePages() throws {
        let (platform, _) = makeBoard()
        let small = TransportCapabilities(maxPayload: 32, deliversNotifications: false, deliversDelayedResponses: false)
        let agent = try #require(platform.makeSession(agentID: Board.ivi, transport: small))
        // dsp-many (clock 2, 40 rates) belongs to DSP, which vm-ivi cannot use,
        // but DESCRIBE_RATES needs no permission.
        let response = agent.send(P.clock, 0x4, [2, 0])
        #expect(response.status == .success)
        let page = DescribePage(word: response.word(0))
        #expect(page.returned == 3)  // (32 - 4) / 8
        #expect(page.remaining == 37)
        #expect(response.length == 8 + 4 + 3 * 8)
        // The whole 128 bytes on the default transport: 15 rates.
        let full = session(platform, Board.ivi).send(P.clock, 0x4, [2, 0])
        #expect(DescribePage(word: full.word(0)).returned == 15)
    }

    @Test func requestLongerThanTheTransportCarriesIsProtocolError() throws {
        let (platform, _) = makeBoard()
        let small = TransportCapabilities(maxPayload: 32, deliversNotifications: false, deliversDelayedResponses: false)
        let agent = try #require(platform.makeSession(agentID: Board.ivi, transport: small))
        // CLOCK_RATE_NOTIFY answers NOT_SUPPORTED whatever it carries, so only
        // the transport's limit can make it PROTOCOL_ERROR.
        let forty = [UInt32](repeating: 0, count: 10)
        #expect(session(platform, Board.ivi).send(P.clock, 0x9, forty).status == .notSupported)
        #expect(agent.send(P.clock, 0x9, forty).status == .protocolError)
        #expect(agent.send(P.clock, 0x9, [UInt32](repeating: 0, count: 8)).status == .notSupported)
    }
}
