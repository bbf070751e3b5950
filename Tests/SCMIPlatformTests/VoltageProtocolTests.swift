import ResourceTables
import SCMIPlatform
import Testing

/// Voltage protocol 0x17 version 2.0, as scmi-regulator uses it.
@Suite struct VoltageProtocolTests {
    let platform = SCMIPlatform(tables: Board.tables)
    var ivi: AgentSession { session(platform, Board.ivi) }
    /// vm-admin after granting itself the DSP (voltage domains 1 and 2).
    var admin: AgentSession {
        let admin = session(platform, Board.admin)
        _ = admin.send(P.base, 0x9, [Board.admin, 3, 1])
        return admin
    }

    @Test func versionAttributesAndMessages() {
        #expect(ivi.send(P.voltage, 0x0).word(0) == 0x20000)
        #expect(ivi.send(P.voltage, 0x1).word(0) == 3)
        for id: UInt32 in 0 ... 9 { #expect(ivi.send(P.voltage, 0x2, [id]).status == .success) }
        #expect(ivi.send(P.voltage, 0x2, [0xA]).status == .notFound)
    }

    @Test func domainAttributes() {
        let short = ivi.send(P.voltage, 0x3, [0])
        #expect(short.valueBytes == 4 + 16)
        #expect(short.word(0) == 0)
        #expect(short.name(at: 4, width: 16) == "vdd-usb")
        let long = ivi.send(P.voltage, 0x3, [1])
        #expect(long.word(0) == 1 << 30)
        #expect(long.name(at: 4, width: 16) == "vdd-fixed-3v3-a")
        let name = ivi.send(P.voltage, 0x9, [1])
        #expect(name.valueBytes == 4 + 64 && name.name(at: 4, width: 64) == "vdd-fixed-3v3-always-on")
        #expect(ivi.send(P.voltage, 0x3, [3]).status == .notFound)
        #expect(ivi.send(P.voltage, 0x9, [3]).status == .notFound)
    }

    @Test func describeLevels() {
        let range = ivi.send(P.voltage, 0x4, [0, 0])
        #expect(range.word(0) == 3 | 1 << 12)
        #expect(range.word(1) == 800_000 && range.word(2) == 1_200_000 && range.word(3) == 50_000)
        #expect(range.valueBytes == 16)
        #expect(ivi.send(P.voltage, 0x4, [0, 1]).status == .outOfRange)

        let list = ivi.send(P.voltage, 0x4, [2, 0])
        #expect(list.word(0) == 3)
        #expect(list.word(1) == 1_800_000 && list.word(2) == 2_500_000 && list.word(3) == 3_300_000)
        let tail = ivi.send(P.voltage, 0x4, [2, 1], capacity: 8 + 4 + 4)
        #expect(tail.word(0) == 1 | 1 << 16 && tail.word(1) == 2_500_000)
        #expect(ivi.send(P.voltage, 0x4, [2, 3]).status == .outOfRange)
        #expect(ivi.send(P.voltage, 0x4, [2, 0], capacity: 8 + 4).status == .commsError)
    }

    @Test func longLevelListIsPaged() {
        var tables = Board.tables
        let levels = (0 ..< 40).map { Int32(700_000 + 12_500 * $0) }
        tables.voltageDomains[2].levels = .discrete(levels)
        let ivi = session(SCMIPlatform(tables: tables), Board.ivi)
        let first = ivi.send(P.voltage, 0x4, [2, 0])
        #expect(first.word(0) & 0xFFF == 31)  // (128 - 4) / 4
        #expect(first.word(0) >> 16 == 9)
        #expect(first.valueBytes == 128)
        let second = ivi.send(P.voltage, 0x4, [2, 31])
        #expect(second.word(0) == 9)
        #expect(Int32(bitPattern: second.word(9)) == levels[39])
    }

    func level(_ session: AgentSession, _ domain: UInt32) -> Int32? {
        let response = session.send(P.voltage, 0x8, [domain])
        guard response.status == .success else { return nil }
        #expect(response.valueBytes == 4)
        return Int32(bitPattern: response.word(0))
    }

    @Test func levelSetInARange() {
        let ivi = ivi
        #expect(level(ivi, 0) == 800_000)
        #expect(ivi.send(P.voltage, 0x7, [0, 0, 900_000]).status == .success)
        #expect(level(ivi, 0) == 900_000)
        #expect(ivi.send(P.voltage, 0x7, [0, 0, 910_000]).status == .invalidParameters)  // off the 50 mV grid
        #expect(ivi.send(P.voltage, 0x7, [0, 0, 1_250_000]).status == .outOfRange)
        #expect(ivi.send(P.voltage, 0x7, [0, 0, 750_000]).status == .outOfRange)
        #expect(ivi.send(P.voltage, 0x7, [0, 0, UInt32(bitPattern: -5)]).status == .outOfRange)
        #expect(level(ivi, 0) == 900_000)
    }

    @Test func levelSetInAList() {
        let admin = admin
        #expect(admin.send(P.voltage, 0x7, [2, 0, 2_500_000]).status == .success)
        #expect(level(admin, 2) == 2_500_000)
        #expect(admin.send(P.voltage, 0x7, [2, 0, 2_000_000]).status == .invalidParameters)
        #expect(admin.send(P.voltage, 0x7, [2, 0, 3_400_000]).status == .outOfRange)
    }

    @Test func levelSetFlags() {
        let ivi = ivi
        #expect(ivi.send(P.voltage, 0x7, [0, 1, 900_000]).status == .notSupported)  // async
        #expect(ivi.send(P.voltage, 0x7, [0, 2, 900_000]).status == .invalidParameters)
        #expect(ivi.send(P.voltage, 0x7, [5, 0, 900_000]).status == .notFound)
        #expect(level(ivi, 0) == 800_000)
    }

    func config(_ session: AgentSession, _ domain: UInt32) -> UInt32? {
        let response = session.send(P.voltage, 0x6, [domain])
        return response.status == .success ? response.word(0) : nil
    }

    @Test func configSetAndGetAreTheAgentsOwn() {
        let ivi = ivi
        #expect(config(ivi, 0) == 0)
        #expect(ivi.send(P.voltage, 0x5, [0, 7]).status == .success)
        #expect(config(ivi, 0) == 7)
        #expect(ivi.send(P.voltage, 0x5, [0, 0]).status == .success)
        #expect(config(ivi, 0) == 0)
        for bad: UInt32 in [1, 6, 8, 0xF, 0x17] {
            #expect(ivi.send(P.voltage, 0x5, [0, bad]).status == .invalidParameters)
        }
        #expect(ivi.send(P.voltage, 0x5, [0]).status == .protocolError)
    }

    // An always-on regulator reports on physically, yet no agent has asked.
    @Test func initialStateIsNoRequest() {
        let admin = admin
        #expect(config(admin, 1) == 0)
        #expect(platform.snapshot().resources(of: .voltage)[1].on == true)
        #expect(platform.snapshot().resources(of: .voltage)[0].on == false)
    }

    @Test func stateCommandsAreDeniedWithoutTheDevice() {
        let ivi = ivi
        #expect(ivi.send(P.voltage, 0x8, [1]).status == .denied)
        #expect(ivi.send(P.voltage, 0x7, [1, 0, 3_300_000]).status == .denied)
        #expect(ivi.send(P.voltage, 0x5, [1, 7]).status == .denied)
        #expect(ivi.send(P.voltage, 0x6, [1]).status == .denied)
        #expect(ivi.send(P.voltage, 0x3, [1]).status == .success)
        #expect(ivi.send(P.voltage, 0x4, [1, 0]).status == .success)
    }
}
