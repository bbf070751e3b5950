import ResourceTables
import SCMIPlatform
import Foundation
import Synchronization

// A board built by hand: three devices sharing clocks and regulators, three
// agents (two guests, one trusted admin), and helpers to send raw messages.

enum Board {
    /// 40 discrete rates, 1 MHz … 40 MHz.
    static let fortyRates: [UInt64] = (1 ... 40).map { UInt64($0) * 1_000_000 }

    static let clocks: [ClockEntry] = [
        ClockEntry(id: 0, name: "usb-core", providerPath: "/soc/cru", specifier: [12],
                   rates: .discrete([24_000_000, 48_000_000, 96_000_000]), initialRate: 24_000_000),
        ClockEntry(id: 1, name: "gpu-core-clock-of-the-board", providerPath: "/soc/cru", specifier: [13],
                   rates: .range(min: 100_000_000, max: 800_000_000, step: 100_000_000), initialRate: 200_000_000),
        ClockEntry(id: 2, name: "dsp-many", providerPath: "/soc/cru", specifier: [14],
                   rates: .discrete(fortyRates), initialRate: 1_000_000),
        ClockEntry(id: 3, name: "big-range", providerPath: "/soc/pll", specifier: [],
                   rates: .range(min: 1, max: 10_000_000_000, step: 7), initialRate: 1),
    ]

    static let voltageDomains: [VoltageDomainEntry] = [
        VoltageDomainEntry(id: 0, name: "vdd-usb", regulatorPath: "/regulators/usb",
                           levels: .range(min: 800_000, max: 1_200_000, step: 50_000), initialLevel: 800_000, initiallyOn: false),
        VoltageDomainEntry(id: 1, name: "vdd-fixed-3v3-always-on", regulatorPath: "/regulators/fixed",
                           levels: .discrete([3_300_000]), initialLevel: 3_300_000, initiallyOn: true),
        VoltageDomainEntry(id: 2, name: "vdd-io", regulatorPath: "/regulators/io",
                           levels: .discrete([1_800_000, 2_500_000, 3_300_000]), initialLevel: 1_800_000, initiallyOn: false),
    ]

    static let devices: [DeviceEntry] = [
        DeviceEntry(id: 1, name: "USB", path: "/firmware/scmi-vio-backend/devices/device@1",
                    resources: [ResourceReference(.clock, 0), ResourceReference(.voltage, 0)]),
        DeviceEntry(id: 2, name: "GPU", path: "/firmware/scmi-vio-backend/devices/device@2",
                    resources: [ResourceReference(.clock, 1), ResourceReference(.clock, 0), ResourceReference(.voltage, 0)]),
        DeviceEntry(id: 3, name: "DSP", path: "/firmware/scmi-vio-backend/devices/device@3",
                    resources: [ResourceReference(.clock, 2), ResourceReference(.clock, 3),
                                ResourceReference(.voltage, 1), ResourceReference(.voltage, 2)]),
    ]

    /// vm-ivi: USB and GPU; vm-cluster: GPU, and reset too; vm-admin: trusted, nothing at start.
    static let agents: [AgentEntry] = [
        AgentEntry(id: 1, name: "vm-ivi", devices: [1, 2], protocols: [.clock, .voltage], trusted: false),
        AgentEntry(id: 2, name: "vm-cluster", devices: [2], protocols: [.clock, .reset, .voltage], trusted: false),
        AgentEntry(id: 3, name: "vm-admin", devices: [], protocols: [.clock, .reset, .voltage], trusted: true),
    ]

    static let tables = PlatformTables(
        vendor: "ACME", subVendor: "board-x", implementationVersion: 0x10203,
        protocols: [.clock, .reset, .voltage], clocks: clocks, voltageDomains: voltageDomains,
        devices: devices, agents: agents)

    static let ivi: UInt32 = 1
    static let cluster: UInt32 = 2
    static let admin: UInt32 = 3
}

/// A decoded response.
struct Response {
    var length: Int
    var header: UInt32
    var status: SCMIStatus
    /// Every byte written (header and status included).
    var bytes: [UInt8]
    var outcome: MessageOutcome

    /// Return value word `index` (0 = the word after the status).
    func word(_ index: Int) -> UInt32 {
        let offset = 8 + 4 * index
        guard offset + 4 <= bytes.count else { return 0xDEAD_BEEF }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    /// Number of return-value bytes after the status.
    var valueBytes: Int { length - 8 }

    /// A NUL-terminated name field starting at return-value byte `offset`.
    func name(at offset: Int, width: Int) -> String {
        let field = bytes[(8 + offset) ..< min(8 + offset + width, bytes.count)]
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    func uint64(_ lowWord: Int) -> UInt64 { UInt64(word(lowWord)) | UInt64(word(lowWord + 1)) << 32 }
}

func littleEndianBytes(_ words: [UInt32]) -> [UInt8] {
    words.flatMap { word in (0 ..< 4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
}

extension AgentSession {
    /// Sends raw request bytes with `capacity` writable bytes.
    func send(raw request: [UInt8], capacity: Int = 136) -> Response {
        var space = [UInt8](repeating: 0xAA, count: capacity)
        let outcome = request.withUnsafeBytes { requestBytes in
            space.withUnsafeMutableBytes { handle(request: requestBytes, response: $0) }
        }
        let written = Array(space.prefix(outcome.responseLength))
        var response = Response(length: outcome.responseLength, header: 0, status: SCMIStatus(rawValue: 1), bytes: written, outcome: outcome)
        if written.count >= 8 {
            response.header = UInt32(written[0]) | UInt32(written[1]) << 8 | UInt32(written[2]) << 16 | UInt32(written[3]) << 24
            response.status = SCMIStatus(rawValue: Int32(bitPattern: response.word(-1)))
        }
        return response
    }

    /// Sends a command of `protocolID` with parameter words.
    func send(_ protocolID: UInt8, _ messageID: UInt8, _ parameters: [UInt32] = [], token: UInt16 = 0x155, capacity: Int = 136) -> Response {
        let header = MessageHeader(protocolID: protocolID, messageID: messageID, token: token)
        return send(raw: littleEndianBytes([header.rawValue] + parameters), capacity: capacity)
    }
}

/// Collects physical changes in order.
final class ChangeLog: Sendable {
    private let changes = Mutex<[PhysicalChange]>([])
    var all: [PhysicalChange] { changes.withLock { $0 } }
    func record(_ change: PhysicalChange) { changes.withLock { $0.append(change) } }
    func clear() { changes.withLock { $0.removeAll() } }
}

/// A platform on Board.tables whose changes land in a ChangeLog.
func makeBoard(_ tables: PlatformTables = Board.tables) -> (SCMIPlatform, ChangeLog) {
    let log = ChangeLog()
    let platform = SCMIPlatform(tables: tables) { log.record($0) }
    return (platform, log)
}

func session(_ platform: SCMIPlatform, _ agentID: UInt32) -> AgentSession {
    guard let session = platform.makeSession(agentID: agentID) else {
        fatalError("agent \(agentID) is not declared on the test board")
    }
    return session
}

enum P {
    static let base: UInt8 = 0x10
    static let power: UInt8 = 0x11
    static let perf: UInt8 = 0x13
    static let clock: UInt8 = 0x14
    static let sensor: UInt8 = 0x15
    static let reset: UInt8 = 0x16
    static let voltage: UInt8 = 0x17
}

/// The changes the tests expect, by name (the engine has one generic PhysicalChange).
extension PhysicalChange {
    static func clockEnabled(clock: UInt32, agent: UInt32, cause: ChangeCause) -> Self { Self(.clock, resource: clock, .switched(on: true), agent: agent, cause: cause) }
    static func clockDisabled(clock: UInt32, agent: UInt32, cause: ChangeCause) -> Self { Self(.clock, resource: clock, .switched(on: false), agent: agent, cause: cause) }
    static func clockRate(clock: UInt32, from: UInt64, to: UInt64, agent: UInt32, cause: ChangeCause) -> Self {
        Self(.clock, resource: clock, .value(from: Int64(from), to: Int64(to)), agent: agent, cause: cause)
    }
    static func voltageOn(domain: UInt32, agent: UInt32, cause: ChangeCause) -> Self { Self(.voltage, resource: domain, .switched(on: true), agent: agent, cause: cause) }
    static func voltageOff(domain: UInt32, agent: UInt32, cause: ChangeCause) -> Self { Self(.voltage, resource: domain, .switched(on: false), agent: agent, cause: cause) }
    static func voltageLevel(domain: UInt32, from: Int32, to: Int32, agent: UInt32, cause: ChangeCause) -> Self {
        Self(.voltage, resource: domain, .value(from: Int64(from), to: Int64(to)), agent: agent, cause: cause)
    }
}

/// A condition threads wait on and others signal: explicit synchronisation
/// for tests where the engine works on another thread (the host-action
/// thread, a request waiting for its turn). The bound on a wait is only there
/// so that a broken engine fails the test instead of hanging it; no test
/// asserts on how long anything took.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()

    /// Waits until `holds` is true (checked under the gate's lock after each
    /// change); false if it still is not after 20 s.
    @discardableResult
    func wait(until holds: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: 20)
        condition.lock()
        defer { condition.unlock() }
        while !holds() {
            if !condition.wait(until: deadline) { return holds() }
        }
        return true
    }

    /// Runs `body` under the gate's lock, then wakes the waiters to look again.
    func change(_ body: () -> Void) {
        condition.lock()
        body()
        condition.broadcast()
        condition.unlock()
    }
}
