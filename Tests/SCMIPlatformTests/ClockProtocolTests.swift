import ResourceTables
import SCMIPlatform
import Testing

/// Clock protocol 0x14 version 3.0, command by command, as clk-scmi uses it.
@Suite struct ClockProtocolTests {
    let platform = SCMIPlatform(tables: Board.tables)
    var ivi: AgentSession { session(platform, Board.ivi) }

    @Test func versionAndAttributes() {
        #expect(ivi.send(P.clock, 0x0).word(0) == 0x30000)
        let attributes = ivi.send(P.clock, 0x1)
        // 4 clocks; bits 23:16 (max pending async) 0.
        #expect(attributes.word(0) == 4)
        #expect(attributes.valueBytes == 4)
    }

    @Test func messageAttributesListWhatIsImplemented() {
        for id: UInt32 in [0, 1, 2, 3, 4, 5, 6, 7, 8, 0xB] {
            #expect(ivi.send(P.clock, 0x2, [id]).status == .success, "message \(id)")
        }
        // Linux asks for 0x9 / 0xA to decide on notifications: there are none.
        for id: UInt32 in [0x9, 0xA, 0xC, 0xD, 0xE, 0xF, 0x10] {
            #expect(ivi.send(P.clock, 0x2, [id]).status == .notFound, "message \(id)")
        }
    }

    @Test func clockAttributesWithShortName() {
        let response = ivi.send(P.clock, 0x3, [0])
        #expect(response.status == .success)
        #expect(response.valueBytes == 4 + 16 + 4)
        #expect(response.word(0) == 0)  // not enabled by this agent, no extended name, no permissions command
        #expect(response.name(at: 4, width: 16) == "usb-core")
        #expect(response.word(5) == 0)  // enable_delay unknown
    }

    // Bit 29 tells Linux to ask CLOCK_NAME_GET for the rest.
    @Test func longNameIsCutAndFlagged() {
        let attributes = ivi.send(P.clock, 0x3, [1])
        #expect(attributes.word(0) == 1 << 29)
        #expect(attributes.name(at: 4, width: 16) == "gpu-core-clock-")
        let name = ivi.send(P.clock, 0x8, [1])
        #expect(name.status == .success && name.valueBytes == 4 + 64)
        #expect(name.word(0) == 0)
        #expect(name.name(at: 4, width: 64) == "gpu-core-clock-of-the-board")
    }

    @Test func nameOfSixtyThreeBytesAtMost() {
        var tables = Board.tables
        tables.clocks[0].name = String(repeating: "x", count: 70)
        let name = session(SCMIPlatform(tables: tables), Board.ivi).send(P.clock, 0x8, [0])
        #expect(name.name(at: 4, width: 64) == String(repeating: "x", count: 63))
        #expect(name.bytes[8 + 4 + 63] == 0)
    }

    @Test func attributesForEveryClockEvenWithoutPermission() {
        // vm-cluster may not use the DSP's clocks, but discovery answers for every id.
        let cluster = session(platform, Board.cluster)
        #expect(cluster.send(P.clock, 0x3, [2]).name(at: 4, width: 16) == "dsp-many")
        #expect(cluster.send(P.clock, 0x4, [2, 0]).status == .success)
        #expect(cluster.send(P.clock, 0x3, [4]).status == .notFound)
    }

    @Test func describeShortDiscreteList() {
        let response = ivi.send(P.clock, 0x4, [0, 0])
        #expect(response.status == .success)
        #expect(response.word(0) == 3)  // 3 returned, list format, 0 remaining
        #expect(response.uint64(1) == 24_000_000 && response.uint64(3) == 48_000_000 && response.uint64(5) == 96_000_000)
        #expect(response.valueBytes == 4 + 3 * 8)
        #expect(ivi.send(P.clock, 0x4, [0, 2]).word(0) == 1)
        #expect(ivi.send(P.clock, 0x4, [0, 3]).status == .outOfRange)
    }

    // 40 rates: 15 per full 136-byte reply, fewer when the guest gives less room.
    @Test func describeFortyRatesWithAFullBuffer() {
        let admin = session(platform, Board.admin)
        var collected: [UInt64] = []
        var index: UInt32 = 0
        var replies = 0
        while true {
            let response = admin.send(P.clock, 0x4, [2, index])
            #expect(response.status == .success)
            let returned = Int(response.word(0) & 0xFFF)
            let remaining = Int(response.word(0) >> 16)
            #expect(response.word(0) & (1 << 12) == 0)
            #expect(returned == min(15, 40 - Int(index)))
            #expect(remaining == 40 - Int(index) - returned)
            #expect(response.valueBytes == 4 + 8 * returned)
            for k in 0 ..< returned { collected.append(response.uint64(1 + 2 * k)) }
            replies += 1
            index += UInt32(returned)
            if remaining == 0 { break }
        }
        #expect(replies == 3)
        #expect(collected == Board.fortyRates)
    }

    @Test func describeFortyRatesWithASmallBuffer() {
        var collected: [UInt64] = []
        var index: UInt32 = 0
        // Room for the flags word and two rates (and 7 bytes that fit nothing).
        let capacity = 8 + 4 + 2 * 8 + 7
        while collected.count < 40 {
            let response = ivi.send(P.clock, 0x4, [2, index], capacity: capacity)
            #expect(response.status == .success)
            let returned = Int(response.word(0) & 0xFFF)
            #expect(returned == 2)
            #expect(Int(response.word(0) >> 16) == 40 - collected.count - 2)
            #expect(response.length == 8 + 4 + 16)
            for k in 0 ..< returned { collected.append(response.uint64(1 + 2 * k)) }
            index += UInt32(returned)
        }
        #expect(collected == Board.fortyRates)
        // Not even one rate fits.
        #expect(ivi.send(P.clock, 0x4, [2, 0], capacity: 8 + 4 + 7).status == .commsError)
        #expect(ivi.send(P.clock, 0x4, [2, 40]).status == .outOfRange)
    }

    // A range is exactly one {min, max, step} triplet with 0 remaining, or Linux fails with -EPROTO.
    @Test func describeRangeIsOneTriplet() {
        let response = ivi.send(P.clock, 0x4, [1, 0])
        #expect(response.word(0) == 3 | 1 << 12)
        #expect(response.uint64(1) == 100_000_000)
        #expect(response.uint64(3) == 800_000_000)
        #expect(response.uint64(5) == 100_000_000)
        #expect(response.valueBytes == 4 + 24)
        #expect(ivi.send(P.clock, 0x4, [1, 1]).status == .outOfRange)
        #expect(ivi.send(P.clock, 0x4, [1, 0], capacity: 8 + 4 + 23).status == .commsError)
        #expect(ivi.send(P.clock, 0x4, [9, 0]).status == .notFound)
        #expect(ivi.send(P.clock, 0x4, [1]).status == .protocolError)
    }

    @Test func describeSixtyFourBitRange() {
        let admin = session(platform, Board.admin)
        let response = admin.send(P.clock, 0x4, [3, 0])
        #expect(response.uint64(3) == 10_000_000_000)
    }

    func setRate(_ session: AgentSession, clock: UInt32, _ rate: UInt64, flags: UInt32 = 0) -> SCMIStatus {
        session.send(P.clock, 0x5, [flags, clock, UInt32(truncatingIfNeeded: rate), UInt32(truncatingIfNeeded: rate >> 32)]).status
    }

    func rate(_ session: AgentSession, clock: UInt32) -> UInt64 {
        let response = session.send(P.clock, 0x6, [clock])
        #expect(response.status == .success && response.valueBytes == 8)
        return response.uint64(0)
    }

    @Test func rateGetAnswersTheInitialRate() {
        #expect(rate(ivi, clock: 0) == 24_000_000)
        #expect(rate(ivi, clock: 1) == 200_000_000)
    }

    @Test func rateSetRoundsInADiscreteList() {
        let ivi = ivi
        #expect(setRate(ivi, clock: 0, 48_000_000) == .success)
        #expect(rate(ivi, clock: 0) == 48_000_000)
        #expect(setRate(ivi, clock: 0, 70_000_000) == .success)  // default: down
        #expect(rate(ivi, clock: 0) == 48_000_000)
        #expect(setRate(ivi, clock: 0, 50_000_000, flags: 1 << 2) == .success)  // up
        #expect(rate(ivi, clock: 0) == 96_000_000)
        #expect(setRate(ivi, clock: 0, 80_000_000, flags: 1 << 3) == .success)  // auto: nearest
        #expect(rate(ivi, clock: 0) == 96_000_000)
        #expect(setRate(ivi, clock: 0, 60_000_000, flags: 1 << 3) == .success)
        #expect(rate(ivi, clock: 0) == 48_000_000)
        // Auto wins over up when both are set.
        #expect(setRate(ivi, clock: 0, 30_000_000, flags: 1 << 3 | 1 << 2) == .success)
        #expect(rate(ivi, clock: 0) == 24_000_000)
    }

    @Test func rateSetRoundsInARange() {
        let ivi = ivi
        #expect(setRate(ivi, clock: 1, 345_000_000) == .success)
        #expect(rate(ivi, clock: 1) == 300_000_000)
        #expect(setRate(ivi, clock: 1, 345_000_000, flags: 1 << 2) == .success)
        #expect(rate(ivi, clock: 1) == 400_000_000)
        #expect(setRate(ivi, clock: 1, 345_000_000, flags: 1 << 3) == .success)
        #expect(rate(ivi, clock: 1) == 300_000_000)
        #expect(setRate(ivi, clock: 1, 800_000_000) == .success)
        #expect(rate(ivi, clock: 1) == 800_000_000)
    }

    @Test func rangeRoundingUpStopsAtMax() {
        // 1 … 10 GHz by 7: the top grid point is 9_999_999_997; above it only max itself.
        let admin = session(platform, Board.admin)
        #expect(admin.send(P.base, 0x9, [3, 3, 1]).status == .success)
        #expect(setRate(admin, clock: 3, 9_999_999_998, flags: 1 << 2) == .success)
        #expect(rate(admin, clock: 3) == 10_000_000_000)
        #expect(setRate(admin, clock: 3, 9_999_999_999) == .success)
        #expect(rate(admin, clock: 3) == 9_999_999_997)
        #expect(setRate(admin, clock: 3, 5_000_000_000, flags: 1 << 2) == .success)
        #expect(rate(admin, clock: 3) == 5_000_000_006)
        #expect(setRate(admin, clock: 3, 5_000_000_000) == .success)
        #expect(rate(admin, clock: 3) == 4_999_999_999)
    }

    @Test func rateOutsideTheDescriptionIsOutOfRange() {
        let ivi = ivi
        #expect(setRate(ivi, clock: 0, 23_999_999) == .outOfRange)
        #expect(setRate(ivi, clock: 0, 96_000_001, flags: 1 << 3) == .outOfRange)
        #expect(setRate(ivi, clock: 1, 900_000_000) == .outOfRange)
        #expect(setRate(ivi, clock: 1, 1 << 40) == .outOfRange)
        #expect(rate(ivi, clock: 0) == 24_000_000)
    }

    @Test func rateSetFlags() {
        let ivi = ivi
        #expect(setRate(ivi, clock: 0, 48_000_000, flags: 1) == .notSupported)  // async: no eventq
        #expect(setRate(ivi, clock: 0, 48_000_000, flags: 3) == .notSupported)
        #expect(setRate(ivi, clock: 0, 48_000_000, flags: 1 << 4) == .invalidParameters)
        #expect(setRate(ivi, clock: 0, 48_000_000, flags: 0x8000_0000) == .invalidParameters)
        #expect(setRate(ivi, clock: 7, 48_000_000) == .notFound)
        #expect(rate(ivi, clock: 0) == 24_000_000)
    }

    @Test func stateCommandsAreDeniedWithoutTheDevice() {
        // vm-ivi has USB and GPU; clock 2 belongs to the DSP only.
        let ivi = ivi
        #expect(ivi.send(P.clock, 0x6, [2]).status == .denied)
        #expect(setRate(ivi, clock: 2, 2_000_000) == .denied)
        #expect(ivi.send(P.clock, 0x7, [2, 1, 0]).status == .denied)
        #expect(ivi.send(P.clock, 0xB, [2, 0]).status == .denied)
        // Discovery still answers.
        #expect(ivi.send(P.clock, 0x3, [2]).status == .success)
        #expect(ivi.send(P.clock, 0x8, [2]).status == .success)
    }

    func configGet(_ session: AgentSession, clock: UInt32) -> Bool? {
        let response = session.send(P.clock, 0xB, [clock, 0])
        guard response.status == .success else { return nil }
        #expect(response.valueBytes == 12)
        #expect(response.word(0) == 0 && response.word(2) == 0)
        return response.word(1) & 1 != 0
    }

    @Test func configSetVersionThreeForm() {
        let ivi = ivi
        #expect(configGet(ivi, clock: 0) == false)
        #expect(ivi.send(P.clock, 0x7, [0, 1, 0]).status == .success)
        #expect(configGet(ivi, clock: 0) == true)
        #expect(ivi.send(P.clock, 0x3, [0]).word(0) & 1 == 1)
        #expect(ivi.send(P.clock, 0x7, [0, 3, 0]).status == .success)  // unchanged
        #expect(configGet(ivi, clock: 0) == true)
        #expect(ivi.send(P.clock, 0x7, [0, 0, 0]).status == .success)
        #expect(configGet(ivi, clock: 0) == false)
        #expect(ivi.send(P.clock, 0x3, [0]).word(0) & 1 == 0)
    }

    @Test func configSetVersionOneForm() {
        let ivi = ivi
        #expect(ivi.send(P.clock, 0x7, [1, 1]).status == .success)
        #expect(configGet(ivi, clock: 1) == true)
        #expect(ivi.send(P.clock, 0x7, [1, 0]).status == .success)
        #expect(configGet(ivi, clock: 1) == false)
        #expect(ivi.send(P.clock, 0x7, [1, 2]).status == .invalidParameters)
    }

    @Test func configSetRejectsBadAttributes() {
        let ivi = ivi
        #expect(ivi.send(P.clock, 0x7, [0, 2, 0]).status == .invalidParameters)  // reserved state
        #expect(ivi.send(P.clock, 0x7, [0, 1 << 5 | 1, 0]).status == .invalidParameters)
        #expect(ivi.send(P.clock, 0x7, [0, 1 << 24 | 1, 0]).status == .invalidParameters)
        #expect(ivi.send(P.clock, 0x7, [0, 0x80 << 16 | 1, 5]).status == .notSupported)  // OEM type
        #expect(ivi.send(P.clock, 0x7, [0]).status == .protocolError)
        #expect(ivi.send(P.clock, 0x7, [0, 1, 0, 0]).status == .protocolError)
        #expect(ivi.send(P.clock, 0x7, [8, 1, 0]).status == .notFound)
        #expect(configGet(ivi, clock: 0) == false)
    }

    @Test func configGetFlags() {
        let ivi = ivi
        #expect(ivi.send(P.clock, 0xB, [0, 1]).status == .notSupported)  // OEM type (e.g. duty cycle)
        #expect(ivi.send(P.clock, 0xB, [0, 0x100]).status == .invalidParameters)
        #expect(ivi.send(P.clock, 0xB, [0]).status == .protocolError)
        #expect(ivi.send(P.clock, 0xB, [9, 0]).status == .notFound)
    }

    @Test func optionalCommandsAreNotSupported() {
        let ivi = ivi
        #expect(ivi.send(P.clock, 0x9, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.clock, 0xA, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.clock, 0xC, [0, 0]).status == .notSupported)
        #expect(ivi.send(P.clock, 0xD, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.clock, 0xE, [0]).status == .notSupported)
        #expect(ivi.send(P.clock, 0xF, [0]).status == .notSupported)
    }
}
