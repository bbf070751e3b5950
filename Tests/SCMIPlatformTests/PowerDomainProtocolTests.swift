import ResourceTables
import SCMIPlatform
import Testing

/// Power domain protocol 0x11 version 3.0, as scmi_pm_domain uses it
/// (docs/serve.md §7), on Board.powerAndReset: domain 0 shared by vm-ivi and
/// vm-cluster, domain 1 vm-ivi's alone.
@Suite struct PowerDomainProtocolTests {
    let platform: SCMIPlatform
    let log: ChangeLog
    init() { (platform, log) = makeBoard(Board.powerAndReset) }
    var ivi: AgentSession { session(platform, Board.ivi) }
    var cluster: AgentSession { session(platform, Board.cluster) }

    static let on: UInt32 = 0x0
    static let off: UInt32 = 0x4000_0000

    func stateGet(_ session: AgentSession, _ domain: UInt32) -> UInt32? {
        let response = session.send(P.power, 0x5, [domain])
        guard response.status == .success else { return nil }
        #expect(response.valueBytes == 4)
        return response.word(0)
    }

    func set(_ session: AgentSession, _ domain: UInt32, _ state: UInt32, flags: UInt32 = 0) -> SCMIStatus {
        session.send(P.power, 0x4, [flags, domain, state]).status
    }

    @Test func versionAttributesAndMessages() {
        #expect(ivi.send(P.power, 0x0).word(0) == 0x30000)
        let attributes = ivi.send(P.power, 0x1)
        #expect(attributes.valueBytes == 16)
        #expect(attributes.word(0) == 2 && attributes.word(1) == 0 && attributes.word(2) == 0 && attributes.word(3) == 0)
        for implemented: UInt32 in [0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x8] {
            #expect(ivi.send(P.power, 0x2, [implemented]).status == .success, "message \(implemented)")
        }
        // No eventq without P2A: the notify commands are not implemented.
        for absent: UInt32 in [0x6, 0x7, 0x9, 0x10] {
            #expect(ivi.send(P.power, 0x2, [absent]).status == .notFound, "message \(absent)")
        }
        #expect(ivi.send(P.power, 0x6, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.power, 0x7, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.power, 0x9, [0]).status == .notFound)
    }

    @Test func domainAttributesAndNames() {
        let short = ivi.send(P.power, 0x3, [0])
        #expect(short.valueBytes == 4 + 16)
        #expect(short.word(0) == 1 << 29)  // synchronous set only
        #expect(short.name(at: 4, width: 16) == "gpu-pd")
        let long = ivi.send(P.power, 0x3, [1])
        #expect(long.word(0) == 1 << 29 | 1 << 27)
        #expect(long.name(at: 4, width: 16) == "usb-power-domai")
        let name = ivi.send(P.power, 0x8, [1])
        #expect(name.valueBytes == 4 + 64 && name.word(0) == 0 && name.name(at: 4, width: 64) == "usb-power-domain-long")
        // Discovery answers for every domain, also one the agent may not use.
        #expect(cluster.send(P.power, 0x3, [1]).status == .success)
        #expect(cluster.send(P.power, 0x8, [1]).name(at: 4, width: 64) == "usb-power-domain-long")
    }

    @Test func badDomainIsNotFound() {
        for id: UInt32 in [2, 0xFFFF, 0xFFFF_FFFF] {
            #expect(ivi.send(P.power, 0x3, [id]).status == .notFound)
            #expect(set(ivi, id, Self.on) == .notFound)
            #expect(ivi.send(P.power, 0x5, [id]).status == .notFound)
            #expect(ivi.send(P.power, 0x8, [id]).status == .notFound)
        }
    }

    @Test func wrongPayloadSizeIsProtocolError() {
        let sizes: [(message: UInt8, right: Int)] = [(0x0, 0), (0x1, 0), (0x2, 1), (0x3, 1), (0x4, 3), (0x5, 1), (0x8, 1)]
        for (message, right) in sizes {
            for words in [right - 1, right + 1] where words >= 0 {
                #expect(ivi.send(P.power, message, Array(repeating: 0, count: words)).status == .protocolError,
                        "message \(message) with \(words) words")
            }
        }
        // A byte too many (not a whole word) is wrong too.
        let header = MessageHeader(protocolID: P.power, messageID: 0x5, token: 1).rawValue
        #expect(ivi.send(raw: littleEndianBytes([header, 0]) + [0]).status == .protocolError)
    }

    @Test func flagsAndStatesAreChecked() {
        #expect(set(ivi, 0, Self.on, flags: 1 << 1) == .invalidParameters)
        #expect(set(ivi, 0, Self.on, flags: 0x8000_0000) == .invalidParameters)
        // Asynchronous needs a delayed response on the eventq: not without P2A.
        #expect(set(ivi, 0, Self.on, flags: 1) == .notSupported)
        for state: UInt32 in [0x1, 0x4000_0001, 0x0FFF_FFFF, 0x8000_0000, 0x1000_0000, 0x2000_0000, 0xC000_0000] {
            #expect(set(ivi, 0, state) == .invalidParameters, "power state \(state)")
        }
        // None of these recorded anything.
        #expect(stateGet(ivi, 0) == Self.off)
        #expect(log.all.isEmpty)
    }

    @Test func domainTheAgentMayNotUseIsDenied() {
        // Domain 1 is the USB's: vm-cluster holds no device with it.
        #expect(set(cluster, 1, Self.on) == .denied)
        #expect(cluster.send(P.power, 0x5, [1]).status == .denied)
        // Denied before the flags are looked at.
        #expect(set(cluster, 1, 0x1234) == .denied)
        // vm-admin holds no device at all until it grants itself one.
        let admin = session(platform, Board.admin)
        #expect(set(admin, 0, Self.on) == .denied)
        #expect(admin.send(P.base, 0x9, [Board.admin, 2, 1]).status == .success)
        #expect(set(admin, 0, Self.on) == .success)
        #expect(log.all == [PhysicalChange(.powerDomain, resource: 0, .switched(on: true), agent: Board.admin, cause: .request)])
    }

    @Test func protocolNotEnabledForTheAgentIsNotSupported() {
        var tables = Board.powerAndReset
        tables.agents[1].protocols = [.clock, .voltage]
        let cluster = session(SCMIPlatform(tables: tables), Board.cluster)
        #expect(cluster.send(P.power, 0x0).status == .notSupported)
        #expect(cluster.send(P.power, 0x4, [0, 0, Self.on]).status == .notSupported)
    }

    /// On while any agent wants it on; GET answers each agent's own vote.
    @Test func onWhileAnyAgentWantsItOn() {
        let ivi = ivi, cluster = cluster
        #expect(stateGet(ivi, 0) == Self.off)
        #expect(platform.snapshot().resources(of: .powerDomain)[0].on == false)

        #expect(set(ivi, 0, Self.on) == .success)
        #expect(stateGet(ivi, 0) == Self.on)
        #expect(stateGet(cluster, 0) == Self.off)
        #expect(set(cluster, 0, Self.on) == .success)
        #expect(set(ivi, 0, Self.off) == .success)
        #expect(stateGet(ivi, 0) == Self.off)
        #expect(stateGet(cluster, 0) == Self.on)
        #expect(platform.snapshot().resources(of: .powerDomain)[0].on == true)
        #expect(set(cluster, 0, Self.off) == .success)
        #expect(platform.snapshot().resources(of: .powerDomain)[0].on == false)

        #expect(log.all == [
            PhysicalChange(.powerDomain, resource: 0, .switched(on: true), agent: Board.ivi, cause: .request),
            PhysicalChange(.powerDomain, resource: 0, .switched(on: false), agent: Board.cluster, cause: .request),
        ])
        let requests = platform.snapshot().resources(of: .powerDomain)[0].requests
        #expect(requests.map(\.agentID) == [Board.ivi, Board.cluster] && requests.map(\.on) == [false, false])
    }

    @Test func disconnectWithdrawsTheVote() {
        let ivi = ivi, cluster = cluster
        #expect(set(ivi, 0, Self.on) == .success)
        #expect(set(ivi, 1, Self.on) == .success)
        #expect(set(cluster, 0, Self.on) == .success)
        log.clear()
        ivi.end()
        // Domain 1 was vm-ivi's alone: off; domain 0 stays on for vm-cluster.
        #expect(log.all == [PhysicalChange(.powerDomain, resource: 1, .switched(on: false), agent: Board.ivi, cause: .disconnect)])
        let rows = platform.snapshot().resources(of: .powerDomain)
        #expect(rows[0].on == true && rows[0].requests.map(\.agentID) == [Board.cluster])
        #expect(rows[1].on == false && rows[1].requests.isEmpty)
        // The next connection of vm-ivi starts with no vote.
        #expect(stateGet(session(platform, Board.ivi), 1) == Self.off)
    }

    @Test func hostRefusingPowerOnKeepsTheVoteOff() {
        let host = RefusingHost(.powerDomain, resource: 0)
        let log = ChangeLog()
        let platform = SCMIPlatform(tables: Board.powerAndReset, host: host) { log.record($0) }
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.power, 0x4, [0, 0, Self.on]).status == .hardwareError)
        #expect(stateGet(ivi, 0) == Self.off)
        #expect(platform.snapshot().resources(of: .powerDomain)[0].on == false)
        #expect(log.all.isEmpty)
    }
}
