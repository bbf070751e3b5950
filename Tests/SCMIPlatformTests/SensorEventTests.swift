import Foundation
import ResourceTables
import SCMIPlatform
import Synchronization
import Testing

/// Sensor trip points, continuous updates and asynchronous readings with
/// P2A: the poller thread reads real host files the test rewrites, and what
/// it sends lands in each agent's RecordingSink. Waits are bounded and
/// generous; nothing asserts how long anything took.
@Suite final class SensorEventTests {
    /// Sensors 0 (constant 45 500) and 1 (the host file `file`) polled every 20 ms.
    let board: SensorProtocolTests
    var platform: SCMIPlatform { board.platform }
    var file: String { board.boardFile }

    init() throws { board = try SensorProtocolTests(interval: 20) }

    func p2aSession(_ agentID: UInt32) -> (AgentSession, RecordingSink) {
        let agent = session(platform, agentID)
        let sink = RecordingSink()
        agent.useTransport(.virtioWithP2A, sink: sink)
        return (agent, sink)
    }

    static let tripEvent = MessageHeader(protocolID: P.sensor, messageID: 0x0, type: .notification).rawValue
    static let update = MessageHeader(protocolID: P.sensor, messageID: 0x1, type: .notification).rawValue

    static func readingComplete(token: UInt16) -> UInt32 {
        MessageHeader(protocolID: P.sensor, messageID: 0x6, type: .delayedResponse, token: token).rawValue
    }

    /// Polls `condition` every 10 ms, at most 10 s; whether it came true.
    func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0 ..< 1000 {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Takes messages from `sink` until one satisfies `match` (at most 10 s);
    /// returns every message taken, the matching one last, or nil.
    func waitFor(_ sink: RecordingSink, _ match: ([UInt32]) -> Bool) -> [[UInt32]]? {
        var seen: [[UInt32]] = []
        for _ in 0 ..< 1000 {
            for message in sink.take() {
                seen.append(message)
                if match(message) { return seen }
            }
            usleep(10_000)
        }
        return nil
    }

    @Test func p2aOffersTripPointsUpdatesAndAsynchronousReadings() {
        let (ivi, _) = p2aSession(Board.ivi)
        #expect(ivi.send(P.sensor, 0x1).word(0) == 3 | 16 << 16)
        for id: UInt32 in [4, 5, 0xB] { #expect(ivi.send(P.sensor, 0x2, [id]).status == .success, "message \(id)") }
        let page = ivi.send(P.sensor, 0x3, [0])
        // attributes_low: 30 continuous updates and 4 trip points for all;
        // 31 (async) for the files; 29 for the long name.
        #expect(page.word(2) == 1 << 30 | 4)
        #expect(page.word(9) == 1 << 31 | 1 << 30 | 4)
        #expect(page.word(16) == 1 << 31 | 1 << 30 | 1 << 29 | 4)
        let plain = session(platform, Board.ivi)
        #expect(plain.send(P.sensor, 0x3, [0]).word(9) == 0)
        #expect(plain.send(P.sensor, 0x5, [1, 1, 0, 0]).status == .notSupported)
        #expect(plain.send(P.sensor, 0x2, [5]).status == .notFound)
    }

    @Test func tripPointConfigChecksItsParameters() {
        let (ivi, _) = p2aSession(Board.ivi)
        #expect(ivi.send(P.sensor, 0x5, [1, 3 << 4 | 3, 30_000, 0]).status == .success)
        #expect(ivi.send(P.sensor, 0x5, [1, 4 << 4 | 1, 30_000, 0]).status == .invalidParameters)  // trip id past the last
        #expect(ivi.send(P.sensor, 0x5, [1, 1 << 2 | 1, 30_000, 0]).status == .invalidParameters)  // reserved bits 3:2
        #expect(ivi.send(P.sensor, 0x5, [1, 1 << 12 | 1, 30_000, 0]).status == .invalidParameters)
        #expect(ivi.send(P.sensor, 0x5, [3, 1, 0, 0]).status == .notFound)
        #expect(ivi.send(P.sensor, 0x5, [2, 1, 0, 0]).status == .denied)  // the DSP's sensor
        #expect(ivi.send(P.sensor, 0x5, [1, 1, 0]).status == .protocolError)
        #expect(ivi.send(P.sensor, 0x4, [1, 2]).status == .invalidParameters)
        #expect(ivi.send(P.sensor, 0x4, [2, 1]).status == .denied)
        #expect(ivi.send(P.sensor, 0xB, [3, 1]).status == .notFound)
    }

    /// vm-ivi arms trip 0 upwards at 30 °C and trip 1 downwards at 10 °C;
    /// the test moves the host file across both. Each crossing is reported
    /// once, with its direction; trip 0 says nothing on the way down.
    @Test func tripPointsFollowTheHostFile() throws {
        board.write("20000\n", to: file)
        let (ivi, sink) = p2aSession(Board.ivi)
        #expect(ivi.send(P.sensor, 0x4, [1, 1]).status == .success)
        #expect(ivi.send(P.sensor, 0x5, [1, 0 << 4 | 1, 30_000, 0]).status == .success)
        #expect(ivi.send(P.sensor, 0x5, [1, 1 << 4 | 2, 10_000, 0]).status == .success)
        // The updates show when the poller has read 20 °C: the baseline.
        #expect(ivi.send(P.sensor, 0xB, [1, 1]).status == .success)
        #expect(waitFor(sink) { $0 == [Self.update, 0, 1, 20_000, 0, 0, 0] } != nil)

        board.write("35000\n", to: file)
        let up = try #require(waitFor(sink) { $0.first == Self.tripEvent })
        #expect(up.last == [Self.tripEvent, 0, 1, 0 | 1 << 16])
        board.write("5000\n", to: file)
        let down = try #require(waitFor(sink) { $0.first == Self.tripEvent })
        #expect(down.last == [Self.tripEvent, 0, 1, 1])
        // Back up past 10 °C and 30 °C: only trip 0 (upwards) speaks.
        board.write("31000\n", to: file)
        let again = try #require(waitFor(sink) { $0.first == Self.tripEvent })
        #expect(again.last == [Self.tripEvent, 0, 1, 0 | 1 << 16])
        #expect(again.filter { $0.first == Self.tripEvent }.count == 1)
    }

    /// Without SENSOR_TRIP_POINT_NOTIFY an armed trip point sends nothing;
    /// another agent's trip point is not this agent's business.
    @Test func tripEventsNeedTheSubscriptionOfTheirOwnAgent() throws {
        board.write("20000\n", to: file)
        let (ivi, sink) = p2aSession(Board.ivi)
        #expect(ivi.send(P.sensor, 0x5, [1, 3, 30_000, 0]).status == .success)
        #expect(ivi.send(P.sensor, 0xB, [1, 1]).status == .success)
        #expect(waitFor(sink) { $0 == [Self.update, 0, 1, 20_000, 0, 0, 0] } != nil)
        board.write("40000\n", to: file)
        let seen = try #require(waitFor(sink) { $0 == [Self.update, 0, 1, 40_000, 0, 0, 0] })
        #expect(seen.allSatisfy { $0.first == Self.update })
    }

    /// SENSOR_UPDATE every interval while subscribed and enabled: disabling
    /// the constant sensor (CONFIG_SET bit 0 = 0) stops its updates while
    /// the file sensor's keep coming; unsubscribing stops them too.
    @Test func updatesStopWhenDisabled() throws {
        board.write("1500\n", to: file)
        let (ivi, sink) = p2aSession(Board.ivi)
        #expect(ivi.send(P.sensor, 0xB, [0, 1]).status == .success)
        #expect(ivi.send(P.sensor, 0xB, [1, 1]).status == .success)
        #expect(waitFor(sink) { $0 == [Self.update, 0, 0, 45_500, 0, 0, 0] } != nil)
        #expect(ivi.send(P.sensor, 0xA, [0, 0]).status == .success)
        _ = sink.take()
        // Three updates of sensor 1 after the disable, and of sensor 0 at most
        // the one of a poll under way when it was disabled, before them.
        var afterDisable: [[UInt32]] = []
        for _ in 0 ..< 3 { afterDisable += try #require(waitFor(sink) { $0 == [Self.update, 0, 1, 1500, 0, 0, 0] }) }
        #expect(Self.onlySensorOne(afterDisable))
        // Enabled again: sensor 0 speaks again.
        #expect(ivi.send(P.sensor, 0xA, [0, 1]).status == .success)
        #expect(waitFor(sink) { $0 == [Self.update, 0, 0, 45_500, 0, 0, 0] } != nil)
        // Unsubscribed from sensor 0: again only sensor 1.
        #expect(ivi.send(P.sensor, 0xB, [0, 0]).status == .success)
        _ = sink.take()
        var afterUnsubscribe: [[UInt32]] = []
        for _ in 0 ..< 3 { afterUnsubscribe += try #require(waitFor(sink) { $0[2] == 1 }) }
        #expect(Self.onlySensorOne(afterUnsubscribe))
    }

    /// Updates of sensor 1 only, but for at most one of sensor 0 first.
    static func onlySensorOne(_ updates: [[UInt32]]) -> Bool {
        let rest = updates.drop { $0[2] == 0 }
        return updates.count - rest.count <= 1 && rest.allSatisfy { $0 == [update, 0, 1, 1500, 0, 0, 0] }
    }

    /// A polled file that disappears sends no update (and no trip event) and
    /// is logged once; when it reads again the updates resume, and a value
    /// past an armed trip point compares with the last good reading.
    @Test func polledFileThatFailsSendsNothingUntilItReadsAgain() throws {
        board.write("20000\n", to: file)
        let (ivi, sink) = p2aSession(Board.ivi)
        #expect(ivi.send(P.sensor, 0x4, [1, 1]).status == .success)
        #expect(ivi.send(P.sensor, 0x5, [1, 1, 30_000, 0]).status == .success)
        #expect(ivi.send(P.sensor, 0xB, [1, 1]).status == .success)
        #expect(waitFor(sink) { $0 == [Self.update, 0, 1, 20_000, 0, 0, 0] } != nil)
        try FileManager.default.removeItem(atPath: file)
        #expect(eventually { board.faults.all.contains { $0.contains("cannot open") } })
        // Polls run one after another: what the last good one sent is in the sink by now.
        _ = sink.take()
        #expect(board.faults.all.count == 1)
        board.write("35000\n", to: file)
        let resumed = try #require(waitFor(sink) { $0.first == Self.tripEvent })
        #expect(resumed.last == [Self.tripEvent, 0, 1, 1 << 16])
        #expect(resumed.allSatisfy { $0.first == Self.tripEvent || $0 == [Self.update, 0, 1, 35_000, 0, 0, 0] })
        #expect(board.faults.all.count == 2 && board.faults.all[1].contains("reads again"))
    }

    /// An asynchronous reading: SUCCESS with no value at once, then
    /// SENSOR_READING_COMPLETE {sensor_id, reading} with the command's token;
    /// a file that is gone, empty or holds text gives HARDWARE_ERROR in the
    /// delayed response, and one log line per cause.
    @Test func asynchronousReadings() throws {
        let (ivi, sink) = p2aSession(Board.ivi)
        board.write("1234\n", to: file)
        let accepted = ivi.send(P.sensor, 0x6, [1, 1], token: 0x42)
        #expect(accepted.status == .success && accepted.valueBytes == 0)
        let done = try #require(waitFor(sink) { $0.first == Self.readingComplete(token: 0x42) })
        #expect(done.last == [Self.readingComplete(token: 0x42), 0, 1, 1234, 0, 0, 0])
        #expect(ivi.send(P.sensor, 0x6, [0, 1], token: 0x43).status == .success)
        #expect(waitFor(sink) { $0 == [Self.readingComplete(token: 0x43), 0, 0, 45_500, 0, 0, 0] } != nil)

        let hardwareError = UInt32(bitPattern: SCMIStatus.hardwareError.rawValue)
        for (token, contents) in [(UInt16(0x50), nil), (0x51, ""), (0x52, "hot\n")] as [(UInt16, String?)] {
            try? FileManager.default.removeItem(atPath: file)
            if let contents { board.write(contents, to: file) }
            #expect(ivi.send(P.sensor, 0x6, [1, 1], token: token).status == .success)
            #expect(waitFor(sink) { $0 == [Self.readingComplete(token: token), hardwareError] } != nil, "token \(token)")
        }
        #expect(board.faults.all.count == 3)
        #expect(board.faults.all[0].contains("cannot open"))
        #expect(board.faults.all[1].contains("is empty"))
        #expect(board.faults.all[2].contains("does not hold a decimal integer"))
    }

    /// 16 asynchronous commands pending (readings not yet taken from the
    /// sink) make the 17th BUSY, a reading or a clock rate; taking them frees the slots.
    @Test func busyPastSixteenPending() {
        board.write("7\n", to: file)
        let (ivi, sink) = p2aSession(Board.ivi)
        for token in 0 ..< 16 { #expect(ivi.send(P.sensor, 0x6, [1, 1], token: UInt16(token)).status == .success) }
        #expect(ivi.send(P.sensor, 0x6, [1, 1], token: 16).status == .busy)
        #expect(ivi.send(P.clock, 0x5, [1, 0, 48_000_000, 0]).status == .busy)
        var answered = 0
        for _ in 0 ..< 1000 where answered < 16 {
            answered += sink.take().count
            usleep(10_000)
        }
        #expect(answered == 16)
        #expect(ivi.send(P.sensor, 0x6, [1, 1], token: 17).status == .success)
    }

    /// A connection that ends while its reading is being read (a FIFO: the
    /// test's open for writing returns once the poller opened it) never gets
    /// it, nor does the agent's next connection: its own reading is the only
    /// delayed response it sees.
    @Test func disconnectDropsPendingReadings() throws {
        #expect(mkfifo(file, 0o600) == 0)
        let (ivi, oldSink) = p2aSession(Board.ivi)
        #expect(ivi.send(P.sensor, 0x6, [1, 1], token: 0x60).status == .success)
        let writer = open(file, O_WRONLY)
        #expect(writer >= 0)
        ivi.end()
        let (next, sink) = p2aSession(Board.ivi)
        _ = "99\n".withCString { Glibc.write(writer, $0, 3) }
        close(writer)
        #expect(next.send(P.sensor, 0x6, [0, 1], token: 0x61).status == .success)
        let seen = try #require(waitFor(sink) { $0.first == Self.readingComplete(token: 0x61) })
        #expect(seen == [[Self.readingComplete(token: 0x61), 0, 0, 45_500, 0, 0, 0]])
        #expect(oldSink.take().isEmpty && sink.take().isEmpty)
    }

    /// Without P2A the asynchronous flag is NOT_SUPPORTED; a disabled sensor
    /// still answers a synchronous reading (docs/serve-choices.md).
    @Test func disabledSensorStillReads() {
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.sensor, 0x6, [1, 1]).status == .notSupported)
        #expect(ivi.send(P.sensor, 0xA, [0, 0]).status == .success)
        #expect(ivi.send(P.sensor, 0x6, [0, 0]).uint64(0) == 45_500)
    }
}
