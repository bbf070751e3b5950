import Foundation
import SCMIClient
import SCMIPlatform
import Testing
import VhostUser

#if canImport(Glibc)
import Glibc
#endif

/// `scmi-dt serve` as a user runs it: the built binary on the example board,
/// one socket per agent and a control socket in a temporary directory, driven
/// by the real vhost-user frontend (memfd guest memory, eventfds, split ring)
/// and the real SCMI client.
final class RunningServe {
    let directory: TemporaryDirectory
    let process = Process()
    let logPath: String
    /// Where the agents' sockets are, and the control socket.
    let socketDirectory: String
    let controlPath: String

    /// serve on `blob` (default: the example board) with `--socket-dir` the temporary directory
    /// and `--control DIR/control.sock`; or, with `socketSubdirectory`, `--socket-dir DIR/NAME`
    /// (serve makes it) and serve's default control socket there.
    init(blob: String? = nil, extraArguments: [String] = [], socketSubdirectory: String? = nil, environment: [String: String] = [:]) throws {
        directory = try TemporaryDirectory("scmi-dt-serve")
        let blobPath = try blob ?? directory.write("board.dtb", compileDTS(file: examplePath("board.dts")))
        logPath = directory.path("serve.log")
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: scmiDTBinary)
        if let socketSubdirectory {
            socketDirectory = directory.path(socketSubdirectory)
            controlPath = socketDirectory + "/control"
            process.arguments = ["serve", blobPath, "--socket-dir", socketDirectory] + extraArguments
        } else {
            socketDirectory = directory.url.path
            controlPath = directory.path("control.sock")
            process.arguments = ["serve", blobPath, "--socket-dir", socketDirectory, "--control", controlPath] + extraArguments
        }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait (bounded) until the control socket exists: serve is listening.
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: controlPath) {
            usleep(50_000)
        }
        guard FileManager.default.fileExists(atPath: controlPath) else {
            stop()
            throw ServeDidNotStart(log: log)
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func socket(_ agent: String) -> String { socketDirectory + "/" + agent + ".sock" }

    /// A connected agent: the frontend and a client over it.
    func connect(_ agent: String) throws -> Agent { try Agent(socketPath: socket(agent)) }

    /// Connects as `agent`, runs `body` and leaves (a short-lived guest).
    func asAgent<T>(_ agent: String, _ body: (SCMIClient) throws -> T) throws -> T {
        let connection = try connect(agent)
        defer { connection.leave() }
        return try body(connection.client)
    }

    /// `scmi-dt status --format json`, decoded.
    func status() throws -> [String: Any] {
        let result = try scmiDT("status", "--control", controlPath, "--format", "json")
        guard result.status == 0, let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw StatusFailed(output: result.output)
        }
        return json
    }

    func clock(_ id: Int) throws -> [String: Any] {
        let clocks = (try status()["platform"] as? [String: Any])?["clocks"] as? [[String: Any]] ?? []
        return clocks.first { $0["id"] as? Int == id } ?? [:]
    }

    func voltageDomain(_ id: Int) throws -> [String: Any] {
        let domains = (try status()["platform"] as? [String: Any])?["voltage_domains"] as? [[String: Any]] ?? []
        return domains.first { $0["id"] as? Int == id } ?? [:]
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    deinit {
        stop()
        directory.cleanup()
    }
}

struct ServeDidNotStart: Error, CustomStringConvertible {
    var log: String
    var description: String { "serve did not start:\n" + log }
}

struct StatusFailed: Error, CustomStringConvertible {
    var output: String
    var description: String { "status failed: " + output }
}


/// Little-endian words → bytes (for raw requests).
func words(_ values: UInt32...) -> [UInt8] { values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } } }

func header(_ protocolID: UInt8, _ messageID: UInt8, token: UInt32 = 7) -> UInt32 {
    UInt32(messageID) | UInt32(protocolID) << 10 | token << 18
}

@Suite("serve driven by the real vhost-user client", .serialized)
struct ServeCLITests {
    /// The Base handshake a Linux guest does, over the socket: identity from the blob.
    @Test func baseHandshake() throws {
        let serve = try RunningServe()
        let ivi = try serve.connect("vm-ivi")
        let info = try ivi.client.baseInfo()
        #expect(info.version == 0x20000)
        #expect(info.vendor == "ACME")
        #expect(info.subVendor == "vs1-evb")
        #expect(info.implementationVersion == 0x10200)
        #expect(info.agentCount == 3)
        #expect(info.protocols == [0x11, 0x13, 0x14, 0x15, 0x16, 0x17])
        #expect(try ivi.client.discoverAgent() == AgentIdentity(id: 1, name: "vm-ivi"))
        #expect(try ivi.client.discoverAgent(2) == AgentIdentity(id: 2, name: "vm-cluster"))
        #expect(try ivi.client.discoverAgent(0).name == "platform")
        #expect(statusOf { _ = try ivi.client.discoverAgent(9) } == .notFound)
        // vm-cluster's blob entry leaves out performance (0x13), which the blob does not enable either.
        let cluster = try serve.connect("vm-cluster")
        #expect(try cluster.client.baseInfo().protocols == [0x11, 0x14, 0x15, 0x16, 0x17])
        #expect(statusOf { _ = try cluster.client.protocolVersion(0x13) } == .notSupported)
    }

    /// Every clock command clk-scmi uses, with checked payloads.
    @Test func clockCommands() throws {
        let serve = try RunningServe()
        let agent = try serve.connect("vm-ivi")
        defer { agent.leave() }
        let ivi = agent.client
        #expect(try ivi.clockCount() == 7)
        #expect(try ivi.clockAttributes(0).name == "ccu-usb-core")
        #expect(try ivi.clockAttributes(1).name == "osc24m")
        #expect(try ivi.describeRates(0) == .range(min: 1_000_000, max: 1_000_000_000, step: 1_000_000))
        #expect(try ivi.describeRates(1) == .discrete([24_000_000]))
        #expect(try ivi.rateGet(0) == 125_000_000)  // assigned-clock-rates in the blob
        try ivi.rateSet(0, rate: 123_456_789)
        #expect(try ivi.rateGet(0) == 123_000_000)  // rounded down by default
        try ivi.rateSet(0, rate: 123_456_789, rounding: .up)
        #expect(try ivi.rateGet(0) == 124_000_000)
        try ivi.rateSet(0, rate: 123_400_000, rounding: .nearest)
        #expect(try ivi.rateGet(0) == 123_000_000)
        #expect(statusOf { try ivi.rateSet(0, rate: 2_000_000_000) } == .outOfRange)
        #expect(try ivi.clockConfigGet(0) == false)
        try ivi.enable(clock: 0)
        #expect(try ivi.clockConfigGet(0) == true)
        #expect(try ivi.clockAttributes(0).enabled)
        try ivi.disable(clock: 0)
        #expect(try ivi.clockConfigGet(0) == false)
        // ccu-disp-pixel belongs to vm-cluster's display: discovery yes, state no.
        #expect(try ivi.clockAttributes(3).name == "ccu-disp-pixel")
        #expect(statusOf { _ = try ivi.rateGet(3) } == .denied)
        #expect(statusOf { try ivi.enable(clock: 3) } == .denied)
        #expect(statusOf { _ = try ivi.clockAttributes(7) } == .notFound)
    }

    /// Every voltage command scmi-regulator uses.
    @Test func voltageCommands() throws {
        let serve = try RunningServe()
        let agent = try serve.connect("vm-ivi")
        defer { agent.leave() }
        let ivi = agent.client
        #expect(try ivi.voltageDomainCount() == 5)
        #expect(try ivi.voltageDomainAttributes(1).name == "vdd-gpu")
        #expect(try ivi.describeLevels(1) == .range(min: 600_000, max: 1_100_000, step: 12_500))
        #expect(try ivi.describeLevels(0) == .discrete([1_800_000]))
        #expect(try ivi.levelGet(1) == 600_000)
        try ivi.levelSet(1, microvolts: 850_000)
        #expect(try ivi.levelGet(1) == 850_000)
        #expect(statusOf { try ivi.levelSet(1, microvolts: 850_001) } == .invalidParameters)
        #expect(statusOf { try ivi.levelSet(1, microvolts: 1_200_000) } == .outOfRange)
        try ivi.voltageOn(1)
        #expect(try ivi.voltageConfigGet(1) == 0x7)
        try ivi.voltageOff(1)
        #expect(try ivi.voltageConfigGet(1) == 0x0)
        #expect(statusOf { _ = try ivi.levelGet(2) } == .denied)  // vdd-dsp is vm-cluster's
    }

    /// Two agents sharing ccu-gpu-core and vdd-gpu: enable votes, highest rate
    /// and level win, and leaving withdraws every vote at once.
    @Test func arbitrationBetweenTwoAgents() throws {
        let serve = try RunningServe()
        let ivi = try serve.connect("vm-ivi")
        let cluster = try serve.connect("vm-cluster")
        try ivi.client.enable(clock: 2)
        try ivi.client.rateSet(2, rate: 400_000_000)
        try cluster.client.rateSet(2, rate: 600_000_000)
        #expect(try ivi.client.rateGet(2) == 600_000_000)
        #expect(try cluster.client.rateGet(2) == 600_000_000)
        try cluster.client.enable(clock: 2)
        try cluster.client.disable(clock: 2)
        #expect(try serve.clock(2)["enabled"] as? Bool == true)  // vm-ivi's vote holds it on
        #expect(try cluster.client.clockConfigGet(2) == false)  // GET answers the asker's own request
        try ivi.client.levelSet(1, microvolts: 800_000)
        try cluster.client.levelSet(1, microvolts: 900_000)
        #expect(try ivi.client.levelGet(1) == 900_000)
        #expect(try serve.voltageDomain(1)["level_microvolts"] as? Int == 900_000)

        cluster.leave()
        #expect(try eventually { try ivi.client.rateGet(2) == 400_000_000 })
        #expect(try ivi.client.levelGet(1) == 800_000)
        ivi.leave()
        // Nobody asks for anything: initial rate and level, clock off.
        #expect(try eventually { try serve.clock(2)["enabled"] as? Bool == false })
        let clock = try serve.clock(2)
        #expect(clock["enabled"] as? Bool == false)
        #expect(clock["rate_hz"] as? Int == 1_000_000)
        #expect(try serve.voltageDomain(1)["level_microvolts"] as? Int == 600_000)
    }

    /// One frontend per agent: a second is refused and the first keeps working;
    /// after the first leaves the socket accepts again.
    @Test func reconnectAndSecondFrontend() throws {
        let serve = try RunningServe()
        let first = try serve.connect("vm-ivi")
        #expect(throws: (any Error).self) { _ = try serve.connect("vm-ivi") }
        #expect(try first.client.vendor() == "ACME")
        first.leave()
        let again = try serve.connect("vm-ivi")
        #expect(try again.client.discoverAgent().name == "vm-ivi")
        let connections = try serve.status()["connections"] as? [[String: Any]] ?? []
        let ivi = connections.first { $0["agent"] as? String == "vm-ivi" }
        #expect(ivi?["connections_refused"] as? Int == 1)
        #expect(ivi?["connected"] as? Bool == true)
    }

    /// Only a trusted agent changes permissions; they survive reconnecting;
    /// RESET_AGENT_CONFIGURATION with bit 0 restores the blob's.
    @Test func permissions() throws {
        let serve = try RunningServe()
        let cluster = try serve.connect("vm-cluster")
        #expect(statusOf { try cluster.client.rateSet(0, rate: 100_000_000) } == .denied)
        #expect(statusOf { try cluster.client.setDevicePermissions(agent: 2, device: 1, allow: true) } == .denied)
        let admin = try serve.connect("vm-admin")
        try admin.client.setDevicePermissions(agent: 2, device: 1, allow: true)
        try cluster.client.rateSet(0, rate: 100_000_000)
        #expect(try cluster.client.rateGet(0) == 100_000_000)
        cluster.leave()
        let back = try serve.connect("vm-cluster")
        #expect(try back.client.rateGet(0) == 125_000_000)  // its request left with it …
        try back.client.rateSet(0, rate: 200_000_000)  // … its permission did not
        try admin.client.resetAgentConfiguration(agent: 2, resetPermissions: true)
        #expect(statusOf { _ = try back.client.rateGet(0) } == .denied)
        #expect(try serve.clock(0)["rate_hz"] as? Int == 125_000_000)  // requests withdrawn too
        #expect(statusOf { try admin.client.setDevicePermissions(agent: 9, device: 1, allow: true) } == .notFound)
        #expect(statusOf { try admin.client.setDevicePermissions(agent: 2, device: 99, allow: true) } == .notFound)
    }

    /// Broken requests get the status the spec gives, and the agent (and the
    /// others) keep being served.
    @Test func brokenRequestsOverTheSocket() throws {
        let serve = try RunningServe()
        let ivi = try serve.connect("vm-ivi")
        func status(_ request: [UInt8], capacity: Int = 136) throws -> (length: Int, status: Int32?) {
            let reply = try ivi.frontend.exchange(request: request, responseCapacity: capacity)
            guard reply.count >= 8 else { return (reply.count, nil) }
            #expect(Array(reply[0..<4]) == Array(request[0..<4]))  // header echoed unchanged
            return (reply.count, Int32(bitPattern: reply[4..<8].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }))
        }
        #expect(try status(words(header(0x99, 0))) == (8, SCMIStatus.notSupported.rawValue))
        #expect(try status(words(header(0x14, 0x3F))) == (8, SCMIStatus.notFound.rawValue))
        #expect(try status(words(header(0x14, 0x6))) == (8, SCMIStatus.protocolError.rawValue))  // RATE_GET without its id
        #expect(try status(words(header(0x14, 0x6), 0, 0)) == (8, SCMIStatus.protocolError.rawValue))  // one word too many
        #expect(try status(words(header(0x14, 0x6), 0), capacity: 8) == (8, SCMIStatus.commsError.rawValue))
        #expect(try status(words(header(0x14, 0x6), 0), capacity: 7).length == 0)
        #expect(try status([0x01, 0x02]).length == 0)  // shorter than a header
        #expect(try ivi.client.rateGet(0) == 125_000_000)
        let cluster = try serve.connect("vm-cluster")
        #expect(try cluster.client.clockCount() == 7)
    }

    /// `call` and `status` as a user types them.
    @Test func callAndStatusCommands() throws {
        let serve = try RunningServe()
        let info = try scmiDT("call", "--socket", serve.socket("vm-ivi"), "base.info")
        #expect(info.status == 0)
        #expect(info.stdout.contains("vendor \"ACME\""))
        #expect(info.stdout.contains("agent 1 \"vm-ivi\""))
        let set = try scmiDT("call", "--socket", serve.socket("vm-ivi"), "clock.enable", "2", "+", "clock.rate-set", "2", "300000000")
        #expect(set.status == 0)
        #expect(set.stdout.contains("now runs at 300000000 Hz"))
        let denied = try scmiDT("call", "--socket", serve.socket("vm-cluster"), "clock.rate-set", "0", "1000000")
        #expect(denied.status == 1)
        #expect(denied.stderr.contains("DENIED"))
        let raw = try scmiDT("call", "--socket", serve.socket("vm-ivi"), "raw", "00400000")  // Base PROTOCOL_VERSION
        #expect(raw.stdout.hasPrefix("004000000000000000000200"))
        let status = try scmiDT("status", "--control", serve.directory.path("control.sock"))
        #expect(status.status == 0)
        #expect(status.stdout.contains("ccu-gpu-core"))
        #expect(status.stdout.contains("vm-admin"))
        let nowhere = try scmiDT("call", "--socket", serve.directory.path("nobody.sock"), "base.info")
        #expect(nowhere.status == 2)
    }

    /// A board whose resources belong to the host's SCMI firmware, served without an
    /// upstream: serve says once that they do not reach the firmware, and status shows
    /// every resource's host binding (model: nothing outside serve).
    @Test func firmwareResourcesWithoutUpstreamAreModelAndSaidSo() throws {
        let serve = try RunningServe(blob: examplePath("firmware-board.dts"))
        defer { _ = serve.stop() }
        let status = try scmiDT("status", "--control", serve.controlPath)
        #expect(status.status == 0, "\(status.output)")
        let lines = status.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("  id  name") && $0.hasSuffix("host") })
        #expect(lines.contains { $0.hasPrefix("  0   gpu-core") && $0.hasSuffix("model") }, "\(status.stdout)")
        let log = serve.log
        let notice = "7 firmware resources (power-domain 0, performance 0, clock 0 1, sensor 0, reset 0, voltage 0 of /firmware/scmi) do not reach the firmware: no --upstream"
        #expect(log.components(separatedBy: notice).count == 2, "once: \(log)")
        let json = try serve.status()
        let platform = try #require(json["platform"] as? [String: Any])
        for (table, entries) in platform where table != "agents" {
            #expect((entries as? [[String: Any]] ?? []).allSatisfy { $0["host"] as? String == "model" }, "\(table)")
        }
        // The firmware's sensor has no reading without the firmware (or a hook).
        let reading = try scmiDT("call", "--socket", serve.socket("vm-gpu"), "sensor", "read", "0")
        #expect(reading.status == 1 && reading.output.contains("HARDWARE_ERROR"), "\(reading.output)")
    }

    /// SIGTERM: exit 0 and every socket removed.
    @Test func sigtermRemovesSockets() throws {
        let serve = try RunningServe()
        _ = try serve.connect("vm-ivi")
        #expect(serve.stop() == 0)
        for name in ["vm-ivi.sock", "vm-cluster.sock", "vm-admin.sock", "control.sock"] {
            #expect(!FileManager.default.fileExists(atPath: serve.directory.path(name)), "\(name) left behind")
        }
    }

    /// SIGHUP re-reads the blob: one with errors leaves the old model in place
    /// (and says why); a clean one applies to connections made afterwards.
    @Test func sighupReloadsTheBlob() throws {
        let directory = try TemporaryDirectory("scmi-dt-serve-hup")
        defer { directory.cleanup() }
        let source = try String(contentsOfFile: examplePath("board.dts"), encoding: .utf8)
        let blob = try directory.write("board.dtb", compileDTS(source: source))
        let serve = try RunningServe(blob: blob)
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")

        _ = try directory.write("board.dtb", compileDTS(file: examplePath("bad/phandle-dangling.dts")))
        kill(serve.process.processIdentifier, SIGHUP)
        for _ in 0..<100 where !serve.log.contains("keeping the old model") { usleep(50_000) }
        #expect(serve.log.contains("keeping the old model"))
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")

        let renamed = source.replacingOccurrences(of: "arm,scmi-vendor = \"ACME\"", with: "arm,scmi-vendor = \"ACME-B\"")
        #expect(renamed != source)
        _ = try directory.write("board.dtb", compileDTS(source: renamed))
        kill(serve.process.processIdentifier, SIGHUP)
        for _ in 0..<100 where !serve.log.contains("reloaded") { usleep(50_000) }
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME-B")
    }

    /// A blob with errors is refused with the diagnostics and exit status 1;
    /// several agents on one --socket is a usage error naming them.
    @Test func refusesBadBlobsAndAmbiguousSockets() throws {
        let directory = try TemporaryDirectory("scmi-dt-serve-bad")
        defer { directory.cleanup() }
        let bad = try directory.write("bad.dtb", compileDTS(file: examplePath("bad/phandle-dangling.dts")))
        let refused = try scmiDT("serve", bad, "--socket", directory.path("x.sock"))
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("error[phandle-dangling]"))
        #expect(!FileManager.default.fileExists(atPath: directory.path("x.sock")))
        let board = try directory.write("board.dtb", compileDTS(file: examplePath("board.dts")))
        let ambiguous = try scmiDT("serve", board, "--socket", directory.path("x.sock"))
        #expect(ambiguous.status != 0)
        #expect(ambiguous.stderr.contains("vm-ivi") && ambiguous.stderr.contains("--agent"))
    }
}
