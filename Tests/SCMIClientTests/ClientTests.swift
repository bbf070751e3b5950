import ResourceTables
import SCMIClient
import SCMIPlatform
import Testing

/// The client against the real engine, in process: what `scmi-dt call` shows
/// a user is what the platform says.
@Suite struct ClientTests {
    let platform = SCMIPlatform(tables: Board.tables)
    var ivi: SCMIClient { client(platform, agent: 1) }

    @Test func baseInfoIsWhatTheTablesSay() throws {
        let info = try ivi.baseInfo()
        #expect(info.version == 0x20000)
        #expect(info.protocolCount == 5 && info.agentCount == 3)
        #expect(info.vendor == "ACME" && info.subVendor == "board-x")
        #expect(info.implementationVersion == 7)
        #expect(info.protocols == [0x11, 0x14, 0x15, 0x16, 0x17])
        #expect(try client(platform, agent: 2).baseInfo().protocols == [0x14])
    }

    @Test func protocolListFollowsPages() throws {
        let session = try #require(platform.makeSession(agentID: 1))
        let pages = Counter()
        let client = SCMIClient(transport: DamagingTransport(inner: InProcessTransport(session: session)) { response in
            if response[0] == 0x6 { pages.count += 1 }
            return response
        })
        // Room for one word of ids: 5 protocols take two pages.
        #expect(try client.listProtocols(expected: 5, responseCapacity: 8 + 4 + 4) == [0x11, 0x14, 0x15, 0x16, 0x17])
        #expect(pages.count == 2)
    }

    @Test func tokensCountUpAndWrapAtTenBits() throws {
        let session = try #require(platform.makeSession(agentID: 1))
        final class Box: @unchecked Sendable { var tokens: [UInt32] = [] }
        let box = Box()
        let client = SCMIClient(transport: DamagingTransport(inner: InProcessTransport(session: session)) { response in
            box.tokens.append((UInt32(response[2]) | UInt32(response[3]) << 8) >> 2)
            return response
        })
        for _ in 0 ..< 1030 { _ = try client.protocolVersion(0x10) }
        #expect(Array(box.tokens.prefix(4)) == [0, 1, 2, 3])
        #expect(Array(box.tokens[1022 ..< 1027]) == [1022, 1023, 0, 1, 2])
    }

    @Test func discoverAgents() throws {
        let ivi = ivi
        #expect(try ivi.discoverAgent() == AgentIdentity(id: 1, name: "vm-ivi"))
        #expect(try ivi.discoverAgent(0) == AgentIdentity(id: 0, name: "platform"))
        #expect(try ivi.discoverAgent(9) == AgentIdentity(id: 9, name: "vm-admin"))
        #expect(throws: SCMIClientError.status(.notFound, protocolID: 0x10, messageID: 0x7)) { try ivi.discoverAgent(5) }
    }

    @Test func clockDiscovery() throws {
        let ivi = ivi
        #expect(try ivi.clockCount() == 3)
        let usb = try ivi.clockAttributes(0)
        #expect(usb.name == "usb-core" && !usb.enabled && !usb.hasExtendedName)
        let pixel = try ivi.clockAttributes(1)
        #expect(pixel.name == "display-pixel-c" && pixel.hasExtendedName)
        #expect(try ivi.clockName(1) == "display-pixel-clock-0")
        #expect(try ivi.describeRates(0) == .discrete([24_000_000, 48_000_000, 96_000_000]))
        #expect(try ivi.describeRates(1) == .range(min: 25_000_000, max: 5_000_000_000, step: 250_000))
    }

    @Test func fortyRatesArriveWhateverThePageSize() throws {
        let ivi = ivi
        #expect(try ivi.describeRates(2) == .discrete(Board.fortyRates))
        #expect(try ivi.describeRates(2, responseCapacity: 8 + 4 + 3 * 8) == .discrete(Board.fortyRates))
    }

    @Test func clockRateAndEnable() throws {
        let ivi = ivi
        #expect(try ivi.rateGet(1) == 25_000_000)
        try ivi.rateSet(1, rate: 4_000_100_000)
        #expect(try ivi.rateGet(1) == 4_000_000_000)
        try ivi.rateSet(1, rate: 4_000_100_000, rounding: .up)
        #expect(try ivi.rateGet(1) == 4_000_250_000)
        try ivi.rateSet(1, rate: 4_000_100_000, rounding: .nearest)
        #expect(try ivi.rateGet(1) == 4_000_000_000)
        #expect(throws: SCMIClientError.status(.outOfRange, protocolID: 0x14, messageID: 0x5)) {
            try ivi.rateSet(0, rate: 100_000_000)
        }

        #expect(try ivi.clockConfigGet(0) == false)
        try ivi.enable(clock: 0)
        #expect(try ivi.clockConfigGet(0) == true)
        #expect(try ivi.clockAttributes(0).enabled)
        #expect(platform.snapshot().resources(of: .clock)[0].on == true)
        try ivi.disable(clock: 0)
        #expect(try ivi.clockConfigGet(0) == false)
        #expect(platform.snapshot().resources(of: .clock)[0].on == false)
    }

    @Test func voltage() throws {
        let ivi = ivi
        #expect(try ivi.voltageDomainCount() == 2)
        let io = try ivi.voltageDomainAttributes(1)
        #expect(io.name == "vdd-io-bank-thr" && io.hasExtendedName && !io.supportsAsyncLevelSet)
        #expect(try ivi.voltageDomainName(1) == "vdd-io-bank-three-v3")
        #expect(try ivi.describeLevels(0) == .range(min: 600_000, max: 1_000_000, step: 12_500))
        #expect(try ivi.describeLevels(1, responseCapacity: 8 + 4 + 4) == .discrete([1_800_000, 3_300_000]))
        try ivi.levelSet(0, microvolts: 612_500)
        #expect(try ivi.levelGet(0) == 612_500)
        #expect(throws: SCMIClientError.status(.invalidParameters, protocolID: 0x17, messageID: 0x7)) {
            try ivi.levelSet(0, microvolts: 612_000)
        }
        try ivi.voltageOn(0)
        #expect(try ivi.voltageConfigGet(0) == 7)
        try ivi.voltageOff(0)
        #expect(try ivi.voltageConfigGet(0) == 0)
    }

    @Test func trustedAgentChangesPermissions() throws {
        let admin = client(platform, agent: 9), rear = client(platform, agent: 2)
        #expect(throws: SCMIClientError.status(.denied, protocolID: 0x14, messageID: 0x6)) { try rear.rateGet(1) }
        try admin.setDevicePermissions(agent: 2, device: 2, allow: true)
        #expect(try rear.rateGet(1) == 25_000_000)
        try admin.setProtocolPermissions(agent: 2, device: 2, protocolID: 0x14, allow: false)
        #expect(throws: SCMIClientError.status(.denied, protocolID: 0x14, messageID: 0x6)) { try rear.rateGet(1) }
        try admin.setDevicePermissions(agent: 2, device: 2, allow: true)
        try rear.enable(clock: 1)
        try admin.resetAgentConfiguration(agent: 2, resetPermissions: true)
        #expect(platform.snapshot().resources(of: .clock)[1].on == false)
        #expect(throws: SCMIClientError.status(.denied, protocolID: 0x14, messageID: 0x6)) { try rear.rateGet(1) }
        // Not for an untrusted agent.
        #expect(throws: SCMIClientError.status(.denied, protocolID: 0x10, messageID: 0x9)) {
            try rear.setDevicePermissions(agent: 2, device: 1, allow: true)
        }
    }

    @Test func genericCommandsAndRawBytes() throws {
        let ivi = ivi
        #expect(try ivi.protocolVersion(0x14) == 0x30000)
        #expect(try ivi.protocolAttributes(0x11) == [0, 0, 0, 0])
        #expect(try ivi.messageAttributes(protocolID: 0x14, messageID: 0x6) == 0)
        #expect(throws: SCMIClientError.status(.notFound, protocolID: 0x14, messageID: 0x2)) {
            try ivi.messageAttributes(protocolID: 0x14, messageID: 0x9)
        }
        // Raw: a request of 3 bytes gets nothing back; a reserved header bit PROTOCOL_ERROR.
        #expect(try ivi.raw([1, 2, 3]).isEmpty)
        let response = try ivi.raw([0x00, 0x40, 0x00, 0x80])
        #expect(response == [0x00, 0x40, 0x00, 0x80, 0xF6, 0xFF, 0xFF, 0xFF])
    }

    @Test func statusErrorsNameTheCommand() {
        let error = SCMIClientError.status(.denied, protocolID: 0x14, messageID: 0x6)
        #expect(error.description == "CLOCK_RATE_GET (protocol 0x14, message 0x6): DENIED (-3)")
        #expect(error.status == .denied)
        #expect(throws: SCMIClientError.status(.notSupported, protocolID: 0x12, messageID: 0x0)) {
            try ivi.protocolVersion(0x12)
        }
    }

    @Test func responseWithAnotherHeaderIsRefused() throws {
        let session = try #require(platform.makeSession(agentID: 1))
        let client = SCMIClient(transport: DamagingTransport(inner: InProcessTransport(session: session)) { response in
            var changed = response
            changed[2] ^= 0x04  // another token
            return changed
        })
        #expect {
            try client.protocolVersion(0x10)
        } throws: { error in
            guard case .headerMismatch(let sent, let received)? = error as? SCMIClientError else { return false }
            return sent.token == 0 && received?.token == 1
        }
    }

    @Test func truncatedResponsesAreErrorsNotCrashes() throws {
        let session = try #require(platform.makeSession(agentID: 1))
        let client = SCMIClient(transport: DamagingTransport(inner: InProcessTransport(session: session)) { response in
            Array(response.prefix(10))
        })
        #expect(throws: SCMIClientError.shortResponse(protocolID: 0x10, messageID: 0x3, expected: 16, received: 2)) {
            try client.vendor()
        }
        let empty = SCMIClient(transport: DamagingTransport(inner: InProcessTransport(session: session)) { _ in [] })
        #expect(throws: SCMIClientError.headerMismatch(sent: MessageHeader(protocolID: 0x10, messageID: 0x0), received: nil)) {
            try empty.protocolVersion(0x10)
        }
    }

    @Test func rangeThatIsNotOneTripletIsMalformed() throws {
        let session = try #require(platform.makeSession(agentID: 1))
        // Claim one remaining rate after the triplet.
        let client = SCMIClient(transport: DamagingTransport(inner: InProcessTransport(session: session)) { response in
            var changed = response
            if response.count == 8 + 4 + 24 { changed[8 + 2] = 1 }
            return changed
        })
        #expect {
            try client.describeRates(1)
        } throws: { error in
            guard case .malformed(0x14, 0x4, _)? = error as? SCMIClientError else { return false }
            return true
        }
    }
}

/// What `call --listen` prints for the power domain and reset messages.
@Suite struct PlatformMessageTextTests {
    static func bytes(_ words: [UInt32]) -> [UInt8] {
        words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
    }

    @Test func powerStatesAreNamed() {
        let header = MessageHeader(protocolID: 0x11, messageID: 0x0, type: .notification).rawValue
        #expect(PlatformMessageText.describe(Self.bytes([header, 2, 1, 0x4000_0000])) == "notification POWER_STATE_CHANGED agent=2 domain=1 state=off")
        #expect(PlatformMessageText.describe(Self.bytes([header, 2, 1, 0])) == "notification POWER_STATE_CHANGED agent=2 domain=1 state=on")
        #expect(PlatformMessageText.describe(Self.bytes([header, 2, 1, 0x4000_0003])) == "notification POWER_STATE_CHANGED agent=2 domain=1 state=0x40000003")
    }

    @Test func resetIssuedAndResetComplete() {
        let issued = MessageHeader(protocolID: 0x16, messageID: 0x0, type: .notification).rawValue
        #expect(PlatformMessageText.describe(Self.bytes([issued, 1, 0, 0])) == "notification RESET_ISSUED agent=1 domain=0 reset_state=0")
        let complete = MessageHeader(protocolID: 0x16, messageID: 0x4, type: .delayedResponse, token: 9).rawValue
        #expect(PlatformMessageText.describe(Self.bytes([complete, 0, 3])) == "delayed response RESET token 9: SUCCESS (0) domain=3")
        #expect(PlatformMessageText.describe(Self.bytes([complete, UInt32(bitPattern: -9)])) == "delayed response RESET token 9: HARDWARE_ERROR (-9)")
    }
}
