import ResourceTables
import SCMIPlatform
import Testing

/// Reset domain protocol 0x16 version 3.0, as reset-scmi uses it
/// (docs/serve.md §7), on Board.powerAndReset: domain 0 shared by vm-ivi and
/// vm-cluster, domain 1 vm-ivi's alone.
@Suite struct ResetProtocolTests {
    let platform: SCMIPlatform
    let log: ChangeLog
    init() { (platform, log) = makeBoard(Board.powerAndReset) }
    var ivi: AgentSession { session(platform, Board.ivi) }
    var cluster: AgentSession { session(platform, Board.cluster) }

    static let deassert: UInt32 = 0
    static let pulse: UInt32 = 1 << 0
    static let assert: UInt32 = 1 << 1
    static let async: UInt32 = 1 << 2

    func reset(_ session: AgentSession, _ domain: UInt32, _ flags: UInt32, state: UInt32 = 0) -> SCMIStatus {
        session.send(P.reset, 0x4, [domain, flags, state]).status
    }

    func asserted(_ domain: Int) -> Bool? { platform.snapshot().resources(of: .reset)[domain].on }

    static func change(_ domain: UInt32, asserted: Bool, by agent: UInt32, _ cause: ChangeCause = .request) -> PhysicalChange {
        PhysicalChange(.reset, resource: domain, .switched(on: asserted), agent: agent, cause: cause)
    }

    @Test func versionAttributesAndMessages() {
        #expect(ivi.send(P.reset, 0x0).word(0) == 0x30000)
        let attributes = ivi.send(P.reset, 0x1)
        #expect(attributes.valueBytes == 4 && attributes.word(0) == 2)
        for implemented: UInt32 in [0x0, 0x1, 0x2, 0x3, 0x4, 0x6] {
            #expect(ivi.send(P.reset, 0x2, [implemented]).status == .success, "message \(implemented)")
        }
        // No eventq without P2A: RESET_NOTIFY is not implemented.
        for absent: UInt32 in [0x5, 0x7, 0x10] {
            #expect(ivi.send(P.reset, 0x2, [absent]).status == .notFound, "message \(absent)")
        }
        #expect(ivi.send(P.reset, 0x5, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.reset, 0x7, [0]).status == .notFound)
    }

    @Test func domainAttributesAndNames() {
        let short = ivi.send(P.reset, 0x3, [0])
        #expect(short.valueBytes == 4 + 4 + 16)
        #expect(short.word(0) == 0)
        #expect(short.word(1) == 0xFFFF_FFFF)  // latency unknown
        #expect(short.name(at: 8, width: 16) == "gpu-rst")
        let long = ivi.send(P.reset, 0x3, [1])
        #expect(long.word(0) == 1 << 29)
        #expect(long.name(at: 8, width: 16) == "usb-controller-")
        let name = ivi.send(P.reset, 0x6, [1])
        #expect(name.valueBytes == 4 + 64 && name.name(at: 4, width: 64) == "usb-controller-reset")
        // Discovery answers for every domain, also one the agent may not use.
        #expect(cluster.send(P.reset, 0x3, [1]).status == .success)
    }

    @Test func badDomainIsNotFound() {
        for id: UInt32 in [2, 0xFFFF, 0xFFFF_FFFF] {
            #expect(ivi.send(P.reset, 0x3, [id]).status == .notFound)
            #expect(reset(ivi, id, Self.assert) == .notFound)
            #expect(ivi.send(P.reset, 0x6, [id]).status == .notFound)
        }
    }

    @Test func wrongPayloadSizeIsProtocolError() {
        let sizes: [(message: UInt8, right: Int)] = [(0x0, 0), (0x1, 0), (0x2, 1), (0x3, 1), (0x4, 3), (0x6, 1)]
        for (message, right) in sizes {
            for words in [right - 1, right + 1] where words >= 0 {
                #expect(ivi.send(P.reset, message, Array(repeating: 0, count: words)).status == .protocolError,
                        "message \(message) with \(words) words")
            }
        }
        let header = MessageHeader(protocolID: P.reset, messageID: 0x4, token: 1).rawValue
        #expect(ivi.send(raw: littleEndianBytes([header, 0, Self.assert]) + [0, 0]).status == .protocolError)
        #expect(log.all.isEmpty)
    }

    @Test func flagsAndResetStatesAreChecked() {
        // Reserved flag bits.
        for flags: UInt32 in [1 << 3, 1 << 31, 0xFFFF_FFF8 | Self.assert] {
            #expect(reset(ivi, 0, flags) == .invalidParameters, "flags \(flags)")
        }
        // Autonomous and explicit assert together contradict each other.
        #expect(reset(ivi, 0, Self.pulse | Self.assert) == .invalidParameters)
        #expect(reset(ivi, 0, Self.pulse | Self.assert | Self.async) == .invalidParameters)
        // Asynchronous needs RESET_COMPLETE on the eventq: not without P2A.
        #expect(reset(ivi, 0, Self.pulse | Self.async) == .notSupported)
        #expect(reset(ivi, 0, Self.assert | Self.async) == .notSupported)
        #expect(reset(ivi, 0, Self.async) == .notSupported)
        // Architectural cold reset (0) only; an implementation-defined one is not supported.
        #expect(reset(ivi, 0, Self.assert, state: 1) == .invalidParameters)
        #expect(reset(ivi, 0, Self.pulse, state: 0x7FFF_FFFF) == .invalidParameters)
        #expect(reset(ivi, 0, Self.assert, state: 0x8000_0000) == .notSupported)
        #expect(reset(ivi, 0, Self.deassert, state: 0x8000_0005) == .notSupported)
        #expect(log.all.isEmpty)
        #expect(asserted(0) == false)
        #expect(platform.snapshot().resources(of: .reset)[0].requests.isEmpty)
    }

    @Test func domainTheAgentMayNotUseIsDenied() {
        #expect(reset(cluster, 1, Self.assert) == .denied)
        #expect(reset(cluster, 1, Self.pulse) == .denied)
        #expect(reset(cluster, 1, Self.deassert) == .denied)
        // Denied before the flags are looked at.
        #expect(reset(cluster, 1, 0xFF) == .denied)
        #expect(log.all.isEmpty)
    }

    /// Asserted while any agent holds it asserted.
    @Test func assertedWhileAnyAgentHoldsIt() {
        let ivi = ivi, cluster = cluster
        #expect(reset(ivi, 0, Self.assert) == .success)
        #expect(asserted(0) == true)
        #expect(reset(cluster, 0, Self.assert) == .success)
        #expect(reset(ivi, 0, Self.deassert) == .success)
        #expect(asserted(0) == true)
        #expect(reset(cluster, 0, Self.deassert) == .success)
        #expect(asserted(0) == false)
        #expect(log.all == [Self.change(0, asserted: true, by: Board.ivi), Self.change(0, asserted: false, by: Board.cluster)])
    }

    @Test func pulseAssertsAndDeasserts() {
        #expect(reset(ivi, 0, Self.pulse) == .success)
        #expect(log.all == [Self.change(0, asserted: true, by: Board.ivi), Self.change(0, asserted: false, by: Board.ivi)])
        #expect(asserted(0) == false)
        let requests = platform.snapshot().resources(of: .reset)[0].requests
        #expect(requests.map(\.agentID) == [Board.ivi] && requests.map(\.on) == [false])
    }

    @Test func pulseLeavesADomainAnotherAgentHolds() {
        let ivi = ivi
        #expect(reset(cluster, 0, Self.assert) == .success)
        log.clear()
        #expect(reset(ivi, 0, Self.pulse) == .success)
        #expect(log.all.isEmpty)
        #expect(asserted(0) == true)
    }

    @Test func pulseByTheOnlyHolderReleasesIt() {
        let ivi = ivi
        #expect(reset(ivi, 0, Self.assert) == .success)
        log.clear()
        #expect(reset(ivi, 0, Self.pulse) == .success)
        #expect(log.all == [Self.change(0, asserted: false, by: Board.ivi)])
    }

    @Test func disconnectReleasesAssertions() {
        let ivi = ivi, cluster = cluster
        #expect(reset(ivi, 0, Self.assert) == .success)
        #expect(reset(ivi, 1, Self.assert) == .success)
        #expect(reset(cluster, 0, Self.assert) == .success)
        log.clear()
        ivi.end()
        #expect(log.all == [Self.change(1, asserted: false, by: Board.ivi, .disconnect)])
        #expect(asserted(0) == true && asserted(1) == false)
        cluster.end()
        #expect(asserted(0) == false)
        #expect(log.all.last == Self.change(0, asserted: false, by: Board.cluster, .disconnect))
    }

    @Test func hostRefusingTheDeassertOfAPulseKeepsTheDomainHeld() {
        let host = RefusingHost(.reset, resource: 0)
        host.refusing.withLock { $0 = false }
        let log = ChangeLog()
        let platform = SCMIPlatform(tables: Board.powerAndReset, host: host) { log.record($0) }
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.reset, 0x4, [0, Self.assert, 0]).status == .success)
        host.refusing.withLock { $0 = true }
        // Deasserting is refused: vm-ivi still holds the domain.
        #expect(ivi.send(P.reset, 0x4, [0, Self.pulse, 0]).status == .hardwareError)
        let row = platform.snapshot().resources(of: .reset)[0]
        #expect(row.on == true && row.requests.map(\.on) == [true])
        #expect(log.all == [Self.change(0, asserted: true, by: Board.ivi)])
    }

    @Test func hostRefusingTheAssertOfAPulseChangesNothing() {
        let host = RefusingHost(.reset, resource: 0)
        let platform = SCMIPlatform(tables: Board.powerAndReset, host: host)
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.reset, 0x4, [0, Self.pulse, 0]).status == .hardwareError)
        #expect(host.applied == [Self.change(0, asserted: true, by: Board.ivi)])
        let row = platform.snapshot().resources(of: .reset)[0]
        #expect(row.on == false && row.requests.isEmpty)
    }
}
