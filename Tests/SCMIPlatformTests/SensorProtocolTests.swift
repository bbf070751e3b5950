import Foundation
import ResourceTables
import SCMIPlatform
import Synchronization
import Testing

/// Sensor protocol 0x15 version 3.0, as scmi-hwmon uses it, with host files
/// that are real files (and FIFOs) in a directory of the test's own.
@Suite final class SensorProtocolTests {
    let directory: String
    let platform: SCMIPlatform
    let faults = FaultLog()
    var ivi: AgentSession { session(platform, Board.ivi) }
    var cluster: AgentSession { session(platform, Board.cluster) }

    /// The file sensor 1 reads.
    var boardFile: String { directory + "/board-temp" }

    /// Sensor 0: constant 45.5 °C; 1: a host file, milli-°C (both polled
    /// every `interval` ms); 2: a long-named voltage file sensor polled every
    /// 250 ms, held by the DSP (nobody's at start).
    convenience init() throws { try self.init(interval: SensorEntry.defaultIntervalMilliseconds) }

    init(interval: UInt32) throws {
        directory = NSTemporaryDirectory() + "scmi-sensor-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var tables = Board.tables
        tables.sensors = [
            SensorEntry(id: 0, name: "soc-temp", type: .temperature, unitExponent: -3, source: .constant(45_500),
                        intervalMilliseconds: interval),
            SensorEntry(id: 1, name: "board-temp", type: .temperature, unitExponent: -3, source: .path(directory + "/board-temp"),
                        intervalMilliseconds: interval),
            SensorEntry(id: 2, name: "dsp-core-voltage-sensor", type: .voltage, unitExponent: -6,
                        source: .path(directory + "/dsp-volt"), intervalMilliseconds: 250),
        ]
        tables.devices[0].resources += [ResourceReference(.sensor, 0), ResourceReference(.sensor, 1)]
        tables.devices[2].resources.append(ResourceReference(.sensor, 2))
        tables.protocols = [.clock, .sensor, .reset, .voltage]
        for index in tables.agents.indices { tables.agents[index].protocols.insert(.sensor, at: 1) }
        let faults = self.faults
        platform = SCMIPlatform(tables: tables, onHostFault: { faults.record($0) })
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func write(_ text: String, to path: String) {
        #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
    }

    /// The 64-bit value of a v3 reading, checking the layout around it.
    func reading(_ response: Response) -> Int64? {
        guard response.status == .success, response.valueBytes == 16, response.word(2) == 0, response.word(3) == 0 else { return nil }
        return Int64(bitPattern: response.uint64(0))
    }

    @Test func versionAttributesAndMessages() {
        let ivi = ivi
        #expect(ivi.send(P.sensor, 0x0).word(0) == 0x30000)
        let attributes = ivi.send(P.sensor, 0x1)
        #expect(attributes.valueBytes == 16)
        #expect(attributes.word(0) == 3)  // no pending async readings without P2A
        for id: UInt32 in [0, 1, 2, 3, 6, 8, 9, 0xA, 0xC] { #expect(ivi.send(P.sensor, 0x2, [id]).status == .success, "message \(id)") }
        // Without P2A: no trip points, no notifications; no axes at all.
        for id: UInt32 in [4, 5, 7, 0xB, 0xD, 0xE] { #expect(ivi.send(P.sensor, 0x2, [id]).status == .notFound, "message \(id)") }
        #expect(ivi.send(P.sensor, 0x4, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.sensor, 0x5, [0, 0x11, 50_000, 0]).status == .notSupported)
        #expect(ivi.send(P.sensor, 0x5, [0, 0xFF1, 50_000, 0]).status == .notSupported)  // trip id past the last: no trip points yet
        #expect(ivi.send(P.sensor, 0xB, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.sensor, 0x7, [0, 0]).status == .notSupported)
    }

    @Test func descriptorsArePaged() {
        let ivi = ivi
        let all = ivi.send(P.sensor, 0x3, [0])
        #expect(all.word(0) == 3)
        #expect(all.valueBytes == 4 + 3 * 28)
        // {id, attributes_low, attributes_high (exponent 15:11, type 7:0), name[16]}
        #expect(all.word(1) == 0 && all.word(2) == 0 && all.word(3) == (0x1D << 11 | 2))
        #expect(all.name(at: 16, width: 16) == "soc-temp")
        #expect(all.word(8) == 1 && all.name(at: 44, width: 16) == "board-temp")
        #expect(all.word(15) == 2 && all.word(16) == 1 << 29 && all.word(17) == (0x1A << 11 | 5))
        #expect(all.name(at: 72, width: 16) == "dsp-core-voltag")
        #expect(ivi.send(P.sensor, 0xC, [2]).name(at: 4, width: 64) == "dsp-core-voltage-sensor")
        let tail = ivi.send(P.sensor, 0x3, [2])
        #expect(tail.word(0) == 1 && tail.word(1) == 2)
        let short = ivi.send(P.sensor, 0x3, [0], capacity: 8 + 4 + 2 * 28)
        #expect(short.word(0) == 2 | 1 << 16)
        #expect(ivi.send(P.sensor, 0x3, [3]).status == .invalidParameters)
        #expect(ivi.send(P.sensor, 0xC, [3]).status == .notFound)
    }

    @Test func manyDescriptorsFourPerReply() {
        var tables = Board.tables
        tables.sensors = (0 ..< 9).map { SensorEntry(id: UInt32($0), name: "s\($0)", type: .power, unitExponent: 0, source: .constant(Int64($0))) }
        tables.protocols = [.clock, .sensor]
        tables.agents[0].protocols = [.clock, .sensor]
        let ivi = session(SCMIPlatform(tables: tables), Board.ivi)
        #expect(ivi.send(P.sensor, 0x3, [0]).word(0) == 4 | 5 << 16)
        #expect(ivi.send(P.sensor, 0x3, [4]).word(0) == 4 | 1 << 16)
        #expect(ivi.send(P.sensor, 0x3, [8]).word(0) == 1)
    }

    @Test func constantReading() {
        #expect(reading(ivi.send(P.sensor, 0x6, [0, 0])) == 45_500)
    }

    @Test func fileIsReadAfreshEachTime() {
        let ivi = ivi
        write("41250\n", to: boardFile)
        #expect(reading(ivi.send(P.sensor, 0x6, [1, 0])) == 41_250)
        write("  -7 \n", to: boardFile)
        #expect(reading(ivi.send(P.sensor, 0x6, [1, 0])) == -7)
        write("+9223372036854775807", to: boardFile)
        #expect(reading(ivi.send(P.sensor, 0x6, [1, 0])) == Int64.max)
        #expect(faults.all.isEmpty)
    }

    /// Missing, empty, text, too big a number, a directory: HARDWARE_ERROR,
    /// one log line when the cause starts, one when the file reads again.
    @Test func unreadableFilesAreHardwareErrors() {
        let ivi = ivi
        #expect(ivi.send(P.sensor, 0x6, [1, 0]).status == .hardwareError)
        #expect(ivi.send(P.sensor, 0x6, [1, 0]).status == .hardwareError)
        write("", to: boardFile)
        #expect(ivi.send(P.sensor, 0x6, [1, 0]).status == .hardwareError)
        write("hot\n", to: boardFile)
        #expect(ivi.send(P.sensor, 0x6, [1, 0]).status == .hardwareError)
        write("12 34", to: boardFile)
        #expect(ivi.send(P.sensor, 0x6, [1, 0]).status == .hardwareError)
        write("99999999999999999999", to: boardFile)
        #expect(ivi.send(P.sensor, 0x6, [1, 0]).status == .hardwareError)
        write(String(repeating: "1", count: 80), to: boardFile)
        #expect(ivi.send(P.sensor, 0x6, [1, 0]).status == .hardwareError)
        write("20000", to: boardFile)
        #expect(reading(ivi.send(P.sensor, 0x6, [1, 0])) == 20_000)
        try? FileManager.default.removeItem(atPath: boardFile)  // the file disappears
        #expect(ivi.send(P.sensor, 0x6, [1, 0]).status == .hardwareError)
        let lines = faults.all
        #expect(lines.count == 6, "\(lines)")
        #expect(lines[0].contains("sensor 1 \"board-temp\": \(boardFile) cannot open: No such file or directory"))
        #expect(lines[1].contains("is empty"))
        #expect(lines[2].contains("does not hold a decimal integer"))
        #expect(lines[3].contains("more than 63 bytes"))
        #expect(lines[4].contains("reads again"))
        #expect(lines[5].contains("cannot open"))
        #expect(lines.allSatisfy { $0.hasPrefix("sensor 1 ") })
    }

    /// A FIFO nobody writes: HARDWARE_ERROR after the bounded wait, not a hang.
    @Test func blockingFileTimesOut() {
        #expect(mkfifo(boardFile, 0o600) == 0)
        #expect(ivi.send(P.sensor, 0x6, [1, 0]).status == .hardwareError)
        #expect(faults.all.first?.contains("no answer within 1000 ms") == true)
    }

    /// While one agent's reading waits on a slow file, another agent is
    /// served: the file is read with the platform's lock released. The slow
    /// reading then gets the value written after the other agent's command.
    @Test func slowFileBlocksOnlyItsReader() throws {
        #expect(mkfifo(boardFile, 0o600) == 0)
        let ivi = ivi, cluster = cluster
        let result = Mutex<Response?>(nil)
        let reader = Thread { result.withLock { $0 = ivi.send(P.sensor, 0x6, [1, 0]) } }
        reader.start()
        // Opening for writing returns once the reader has opened the FIFO:
        // its permission check (the lock) is behind it.
        let writer = open(boardFile, O_WRONLY)
        #expect(writer >= 0)
        #expect(cluster.send(P.clock, 0x5, [0, 1, 200_000_000, 0]).status == .success)
        _ = "1234\n".withCString { Glibc.write(writer, $0, 5) }
        close(writer)
        while result.withLock({ $0 }) == nil { usleep(1000) }
        #expect(reading(result.withLock { $0! }) == 1234)
    }

    @Test func readingFlagsAndPermissions() {
        let ivi = ivi
        #expect(ivi.send(P.sensor, 0x6, [0, 1]).status == .notSupported)  // async without P2A
        #expect(ivi.send(P.sensor, 0x6, [0, 2]).status == .invalidParameters)
        #expect(ivi.send(P.sensor, 0x6, [2, 0]).status == .denied)
        #expect(ivi.send(P.sensor, 0x6, [3, 0]).status == .notFound)
        #expect(cluster.send(P.sensor, 0x6, [0, 0]).status == .denied)
        #expect(ivi.send(P.sensor, 0x9, [2]).status == .denied)
        #expect(ivi.send(P.sensor, 0xA, [2, 1]).status == .denied)
        // Discovery answers for every sensor.
        #expect(ivi.send(P.sensor, 0x8, [2, 0]).status == .success)
    }

    @Test func updateIntervals() {
        let ivi = ivi
        let second = ivi.send(P.sensor, 0x8, [0, 0])
        #expect(second.word(0) == 1 && second.valueBytes == 8)
        #expect(second.word(1) == 1 << 5)  // 1 s: 1 × 10^0
        let quarter = ivi.send(P.sensor, 0x8, [2, 0])
        #expect(quarter.word(1) == (25 << 5 | 0x1E))  // 250 ms: 25 × 10^-2
        #expect(ivi.send(P.sensor, 0x8, [0, 1]).status == .outOfRange)
        #expect(ivi.send(P.sensor, 0x8, [3, 0]).status == .notFound)
    }

    @Test func configIsPerAgent() {
        let ivi = ivi, admin = session(platform, Board.admin)
        _ = admin.send(P.base, 0x9, [Board.admin, 1, 1])  // vm-admin takes the USB device too
        #expect(ivi.send(P.sensor, 0x9, [0]).word(0) == (1 << 16 | 1))
        #expect(ivi.send(P.sensor, 0xA, [0, 0]).status == .success)  // disable, interval kept
        #expect(ivi.send(P.sensor, 0x9, [0]).word(0) == 1 << 16)
        #expect(admin.send(P.sensor, 0x9, [0]).word(0) == (1 << 16 | 1))
        // The same interval spelt another way is accepted; another one is not.
        #expect(ivi.send(P.sensor, 0xA, [0, 10 << 16 | 0x1F << 11 | 1]).status == .success)
        #expect(ivi.send(P.sensor, 0x9, [0]).word(0) == (1 << 16 | 1))
        #expect(ivi.send(P.sensor, 0xA, [0, 2 << 16 | 1]).status == .outOfRange)
        #expect(ivi.send(P.sensor, 0xA, [0, 1 << 1 | 1]).status == .invalidParameters)  // timestamp
        #expect(ivi.send(P.sensor, 0xA, [0, 1 << 9 | 1]).status == .invalidParameters)  // rounding
        #expect(ivi.send(P.sensor, 0xA, [3, 1]).status == .notFound)
        _ = ivi.send(P.sensor, 0xA, [0, 0])
        let rows = platform.snapshot().resources(of: .sensor)
        #expect(rows.count == 3 && rows[0].requests.map(\.agentName) == ["vm-ivi"] && rows[0].requests[0].on == false)
        #expect(rows.map(\.value) == [45_500, nil, nil])
        ivi.end()
        #expect(session(platform, Board.ivi).send(P.sensor, 0x9, [0]).word(0) & 1 == 1)
    }

    @Test(arguments: [(UInt8(0x3), 4), (0x6, 8), (0x8, 8), (0x9, 4), (0xA, 8), (0xC, 4)])
    func wrongPayloadSizeIsProtocolError(messageID: UInt8, size: Int) {
        let ivi = ivi
        for wrong in [0, size - 4, size + 4] where wrong >= 0 && wrong != size {
            let words = [UInt32](repeating: 0, count: wrong / 4)
            #expect(ivi.send(P.sensor, messageID, words).status == .protocolError, "message \(messageID) with \(wrong) bytes")
        }
        #expect(ivi.send(P.sensor, 0x1, [0]).status == .protocolError)
    }
}

/// The host-fault lines a platform logged, in order.
final class FaultLog: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func record(_ line: String) { lines.withLock { $0.append(line) } }
}
