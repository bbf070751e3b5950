import ResourceTables
import SCMIPlatform
import Testing

/// Base protocol 0x10: what a Linux guest reads at boot, and the trusted
/// agent's permission commands.
@Suite struct BaseProtocolTests {
    let platform = SCMIPlatform(tables: Board.tables)

    @Test func versionIsTwoZero() {
        let response = session(platform, Board.ivi).send(P.base, 0x0)
        #expect(response.status == .success)
        #expect(response.valueBytes == 4)
        #expect(response.word(0) == 0x20000)
    }

    // Bits 7:0 the protocols this agent may use, 15:8 the declared agents.
    @Test func attributesCountThisAgentsProtocolsAndAllAgents() {
        let ivi = session(platform, Board.ivi).send(P.base, 0x1)
        #expect(ivi.word(0) == 2 | 3 << 8)
        let cluster = session(platform, Board.cluster).send(P.base, 0x1)
        #expect(cluster.word(0) == 3 | 3 << 8)
    }

    @Test func messageAttributes() {
        let ivi = session(platform, Board.ivi)
        for id: UInt32 in [0, 1, 2, 3, 4, 5, 6, 7, 9, 0xA, 0xB] {
            let response = ivi.send(P.base, 0x2, [id])
            #expect(response.status == .success, "message \(id)")
            #expect(response.word(0) == 0)
        }
        #expect(ivi.send(P.base, 0x2, [0x8]).status == .notFound)  // NOTIFY_ERRORS not implemented
        #expect(ivi.send(P.base, 0x2, [0xC]).status == .notFound)
        #expect(ivi.send(P.base, 0x2, [0xFFFF_FFFF]).status == .notFound)
        #expect(ivi.send(P.base, 0x2).status == .protocolError)
    }

    @Test func vendorSubVendorAndImplementationVersionComeFromTheTables() {
        let ivi = session(platform, Board.ivi)
        let vendor = ivi.send(P.base, 0x3)
        #expect(vendor.valueBytes == 16 && vendor.name(at: 0, width: 16) == "ACME")
        #expect(vendor.bytes[8 + 4 ..< 8 + 16].allSatisfy { $0 == 0 })
        let subVendor = ivi.send(P.base, 0x4)
        #expect(subVendor.valueBytes == 16 && subVendor.name(at: 0, width: 16) == "board-x")
        let implementation = ivi.send(P.base, 0x5)
        #expect(implementation.valueBytes == 4 && implementation.word(0) == 0x10203)
    }

    @Test func vendorLongerThanFifteenBytesIsCutWithItsNul() {
        var tables = Board.tables
        tables.vendor = "ABCDEFGHIJKLMNOPQRS"
        let response = session(SCMIPlatform(tables: tables), Board.ivi).send(P.base, 0x3)
        #expect(response.name(at: 0, width: 16) == "ABCDEFGHIJKLMNO")
        #expect(response.bytes[8 + 15] == 0)
    }

    @Test func listProtocolsPacksIdsFourToAWord() {
        let cluster = session(platform, Board.cluster).send(P.base, 0x6, [0])
        #expect(cluster.status == .success)
        #expect(cluster.word(0) == 3)
        #expect(cluster.word(1) == 0x14 | 0x16 << 8 | 0x17 << 16)
        // Linux insists on exactly 4 + 4·ceil(n/4) bytes after the status.
        #expect(cluster.valueBytes == 4 + 4)

        let ivi = session(platform, Board.ivi).send(P.base, 0x6, [0])
        #expect(ivi.word(0) == 2 && ivi.word(1) == 0x14 | 0x17 << 8)
        #expect(ivi.valueBytes == 4 + 4)
    }

    @Test func listProtocolsSkipsAndPages() {
        let cluster = session(platform, Board.cluster)
        let skipped = cluster.send(P.base, 0x6, [2])
        #expect(skipped.word(0) == 1 && skipped.word(1) == 0x17)
        let all = cluster.send(P.base, 0x6, [3])
        #expect(all.status == .success && all.word(0) == 0 && all.valueBytes == 4)
        #expect(cluster.send(P.base, 0x6, [4]).status == .invalidParameters)
    }

    @Test func listProtocolsSizedToTheResponseSpace() {
        // Six protocols, room for one word of ids: four now, three on the next call.
        var tables = Board.tables
        let six: [ProtocolID] = [.powerDomain, .performance, .clock, .sensor, .reset, .voltage]
        tables.protocols = six
        tables.agents[0].protocols = six
        let ivi = session(SCMIPlatform(tables: tables), Board.ivi)
        let first = ivi.send(P.base, 0x6, [0], capacity: 8 + 4 + 4)
        #expect(first.status == .success && first.word(0) == 4)
        #expect(first.word(1) == 0x11 | 0x13 << 8 | 0x14 << 16 | 0x15 << 24)
        let second = ivi.send(P.base, 0x6, [4], capacity: 8 + 4 + 4)
        #expect(second.word(0) == 2 && second.word(1) == 0x16 | 0x17 << 8)
        // No room for a single id while some remain.
        #expect(ivi.send(P.base, 0x6, [0], capacity: 8 + 4).status == .commsError)
    }

    @Test func discoverAgent() {
        let ivi = session(platform, Board.ivi)
        let platformAgent = ivi.send(P.base, 0x7, [0])
        #expect(platformAgent.word(0) == 0 && platformAgent.name(at: 4, width: 16) == "platform")
        #expect(platformAgent.valueBytes == 20)
        let me = ivi.send(P.base, 0x7, [0xFFFF_FFFF])
        #expect(me.word(0) == 1 && me.name(at: 4, width: 16) == "vm-ivi")
        let other = ivi.send(P.base, 0x7, [3])
        #expect(other.word(0) == 3 && other.name(at: 4, width: 16) == "vm-admin")
        #expect(ivi.send(P.base, 0x7, [4]).status == .notFound)
        #expect(ivi.send(P.base, 0x7, [0xFFFF_FFFE]).status == .notFound)
    }

    @Test func notifyErrorsIsNotSupported() {
        #expect(session(platform, Board.ivi).send(P.base, 0x8, [1]).status == .notSupported)
    }

    @Test func permissionCommandsAreForTrustedAgentsOnly() {
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.base, 0x9, [2, 3, 1]).status == .denied)
        #expect(ivi.send(P.base, 0xA, [2, 3, 0x14, 1]).status == .denied)
        #expect(ivi.send(P.base, 0xB, [2, 0]).status == .denied)
        // And nothing changed: vm-cluster still cannot touch the DSP clock.
        #expect(session(platform, Board.cluster).send(P.clock, 0x6, [2]).status == .denied)
    }

    @Test func permissionCommandsCheckTheirArguments() {
        let admin = session(platform, Board.admin)
        #expect(admin.send(P.base, 0x9, [9, 1, 1]).status == .notFound)  // agent
        #expect(admin.send(P.base, 0x9, [0, 1, 1]).status == .notFound)  // the platform is no agent
        #expect(admin.send(P.base, 0x9, [1, 7, 1]).status == .notFound)  // device
        #expect(admin.send(P.base, 0x9, [1, 1, 2]).status == .invalidParameters)
        #expect(admin.send(P.base, 0x9, [1, 1]).status == .protocolError)
        #expect(admin.send(P.base, 0xA, [1, 1, 0x10, 1]).status == .denied)  // Base cannot be given
        #expect(admin.send(P.base, 0xA, [1, 1, 0x16, 1]).status == .notFound)  // vm-ivi has no reset protocol
        #expect(admin.send(P.base, 0xA, [1, 1, 0x114, 1]).status == .invalidParameters)
        #expect(admin.send(P.base, 0xA, [1, 1, 0x14, 3]).status == .invalidParameters)
        #expect(admin.send(P.base, 0xA, [1, 9, 0x14, 1]).status == .notFound)
        #expect(admin.send(P.base, 0xB, [9, 0]).status == .notFound)
        #expect(admin.send(P.base, 0xB, [1, 2]).status == .invalidParameters)
    }
}
