import Foundation
import SCMIClient
import SCMIPlatform
import ServeRuntime
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The serve runtime driven in process: a `Server` on the example board (compiled by the
/// real dtc), the real vhost-user frontend and SCMI client on its sockets, `reload()`
/// called directly, and the control socket read with the status client.
@Suite struct ServerTests {
    /// Every declared agent gets a listening socket and is served by the blob's model.
    @Test func servesEveryAgent() throws {
        let serve = try InProcessServe()
        for name in ["vm-ivi", "vm-cluster", "vm-admin"] {
            #expect(FileManager.default.fileExists(atPath: serve.socket(name)), "\(name).sock")
            #expect(try serve.asAgent(name) { try $0.discoverAgent().name } == name)
        }
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")
    }

    /// Notifications end to end: vm-ivi's guest subscribes to clock 2 (shared
    /// with vm-cluster through the GPU and the display), vm-cluster's guest
    /// changes its rate, and vm-ivi's eventq receives CLOCK_RATE_CHANGED naming
    /// vm-cluster and the new rate; then vm-cluster leaves, and vm-ivi is told
    /// the rate went back. status shows the subscription and the count.
    @Test func subscriberReceivesAnotherAgentsRateChange() throws {
        let serve = try InProcessServe()
        let ivi = try Agent(socketPath: serve.socket("vm-ivi"), receivesEvents: true)
        defer { ivi.leave() }
        #expect(try ivi.client.clockAttributes(2).name == "ccu-gpu-core")
        try ivi.client.subscribe(ClockMessage.rateNotify, resource: 2, enable: true)
        let cluster = try Agent(socketPath: serve.socket("vm-cluster"))
        try cluster.client.rateSet(2, rate: 500_000_000)
        let changed = try #require(ivi.nextEvent())
        #expect(PlatformMessageText.describe(changed) == "notification CLOCK_RATE_CHANGED agent=2 clock=2 rate=500000000")
        cluster.leave()
        let withdrawn = try #require(ivi.nextEvent())
        #expect(PlatformMessageText.describe(withdrawn) == "notification CLOCK_RATE_CHANGED agent=2 clock=2 rate=1000000")
        let events = try #require(serve.server.statusReport().connections.first { $0.agent == "vm-ivi" }?.events)
        #expect(events.p2aNegotiated)
        #expect(events.subscriptions.map(\.event) == ["CLOCK_RATE_CHANGED"])
        #expect(events.notificationsSent == 2)
        // Asynchronous CLOCK_RATE_SET: the delayed response follows on the eventq.
        try ivi.client.rateSet(2, rate: 300_000_000, asynchronous: true)
        #expect(PlatformMessageText.describe(try #require(ivi.nextEvent())) == "notification CLOCK_RATE_CHANGED agent=1 clock=2 rate=300000000")
        let delayed = try #require(ivi.nextEvent())
        #expect(PlatformMessageText.describe(delayed).hasPrefix("delayed response CLOCK_RATE_SET token "))
        #expect(PlatformMessageText.describe(delayed).hasSuffix("clock=2 rate=300000000"))
    }

    /// A failing blob leaves the old model and says why; a clean one applies to
    /// connections made afterwards, while a connection made before keeps its model
    /// (one frontend per agent, so that one is vm-cluster's).
    @Test func reloadGoodAndBadBlobs() throws {
        let source = try String(contentsOfFile: examplePath("board.dts"), encoding: .utf8)
        let serve = try InProcessServe(blob: compileDTS(source: source))
        let before = try serve.connect("vm-cluster")  // one frontend per agent: another agent's
        defer { before.leave() }
        #expect(try before.client.vendor() == "ACME")

        try serve.replaceBlob(compileDTS(file: examplePath("bad/phandle-dangling.dts")))
        let refused = serve.server.reload()
        guard case .keptOldModel(let errors) = refused else {
            Issue.record("a blob with errors was loaded: \(refused)")
            return
        }
        #expect(errors.contains { $0.contains("error[phandle-dangling]") }, "\(errors)")
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")

        let renamed = source.replacingOccurrences(of: "arm,scmi-vendor = \"ACME\"", with: "arm,scmi-vendor = \"ACME-B\"")
        #expect(renamed != source)
        try serve.replaceBlob(compileDTS(source: renamed))
        #expect(serve.server.reload() == .reloaded)
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME-B")
        #expect(try before.client.vendor() == "ACME")  // its session is on the model it connected to
    }

    /// A reload that drops an agent: its socket stays (the guest may still be configured
    /// for it), but a frontend connecting afterwards gets NOT_SUPPORTED for every command.
    @Test func reloadRetiresADroppedAgent() throws {
        let source = try String(contentsOfFile: examplePath("board.dts"), encoding: .utf8)
        let serve = try InProcessServe(blob: compileDTS(source: source))
        let admin = try #require(source.range(of: #"\t*agent@3 \{[^}]*\};\n"#, options: .regularExpression))
        var withoutAdmin = source
        withoutAdmin.removeSubrange(admin)
        try serve.replaceBlob(compileDTS(source: withoutAdmin))
        #expect(serve.server.reload() == .reloaded)

        let retired = try serve.connect("vm-admin")
        defer { retired.leave() }
        #expect(statusOf { _ = try retired.client.vendor() } == .notSupported)
        #expect(statusOf { _ = try retired.client.discoverAgent() } == .notSupported)
        #expect(try serve.asAgent("vm-ivi") { try $0.discoverAgent().name } == "vm-ivi")
        let report = serve.server.statusReport()
        #expect(!report.platform.agents.contains { $0.name == "vm-admin" })
        #expect(report.connections.contains { $0.agent == "vm-admin" && $0.connected })
    }

    /// A blob libfdt cannot open at all (header version 15) is refused like any failing blob.
    @Test func reloadUnopenableBlobKeepsTheOldModel() throws {
        var bytes = try compileDTS(file: examplePath("board.dts"))
        let serve = try InProcessServe(blob: bytes)
        bytes[23] = 15  // version 17 → 15 (big-endian word at offset 20)
        bytes[27] = 15
        try serve.replaceBlob(bytes)
        guard case .keptOldModel(let errors) = serve.server.reload() else {
            Issue.record("a version 15 blob was loaded")
            return
        }
        #expect(errors.contains { $0.contains("version 15 predates 16") }, "\(errors)")
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")
    }

    /// The control socket's report, read in process: the blob, the platform's state as
    /// agents change it, and each listener's connection.
    @Test func controlSocketReport() throws {
        let serve = try InProcessServe()
        let ivi = try serve.connect("vm-ivi")
        try ivi.client.enable(clock: 2)
        try ivi.client.rateSet(2, rate: 400_000_000)

        let report = try StatusClient.report(from: serve.controlPath, timeout: .seconds(10))
        #expect(report.blob == serve.blobPath)
        let clock = try #require(report.platform.resources(of: .clock).first { $0.id == 2 })
        #expect(clock.on == true)
        #expect(clock.value == 400_000_000)
        #expect(Set(report.platform.agents.map(\.name)) == ["vm-ivi", "vm-cluster", "vm-admin"])
        let connections = Dictionary(uniqueKeysWithValues: report.connections.map { ($0.agent, $0) })
        #expect(connections["vm-ivi"]?.connected == true)
        #expect(connections["vm-ivi"]?.socket == serve.socket("vm-ivi"))
        #expect(connections["vm-cluster"]?.connected == false)
        #expect((connections["vm-ivi"]?.chainsServed ?? 0) >= 2)

        // The same report the server assembles directly (the socket only encodes it).
        #expect(serve.server.statusReport().platform == report.platform)

        ivi.leave()
        #expect(try eventually { try StatusClient.report(from: serve.controlPath, timeout: .seconds(10)).platform.resources(of: .clock).first { $0.id == 2 }?.on == false })
    }

    /// Performance and sensors through the real frontend and client: the
    /// example's CPU cluster (levels, a level under limits, the report with
    /// each agent's request and limits), and its board-temp sensor pointed at
    /// a file of the test's own, read afresh, then gone (HARDWARE_ERROR).
    @Test func performanceAndSensorsEndToEnd() throws {
        let directory = try TemporaryDirectory("scmi-dt-sensor")
        defer { directory.cleanup() }
        let sensorFile = try directory.write("board-temp", Array("41250\n".utf8))
        let source = try String(contentsOfFile: examplePath("board.dts"), encoding: .utf8)
            .replacingOccurrences(of: "/tmp/scmi-dt-example/board-temp", with: sensorFile)
        let serve = try InProcessServe(blob: compileDTS(source: source))
        let ivi = try serve.connect("vm-ivi")
        let levels = try ivi.client.describePerformanceLevels(0)
        #expect(levels.map(\.level) == [600_000, 1_000_000, 1_400_000, 1_800_000])
        #expect(levels.map(\.latencyMicroseconds) == [300, 300, 300, 300])
        try ivi.client.performanceLevelSet(0, level: 1_400_000)
        try ivi.client.performanceLimitsSet(0, min: 600_000, max: 1_000_000)
        #expect(try ivi.client.performanceLevelGet(0) == 1_000_000)
        #expect(throws: SCMIClientError.status(.outOfRange, protocolID: 0x13, messageID: 0x7)) {
            try ivi.client.performanceLevelSet(0, level: 1_800_000)
        }
        let report = try StatusClient.report(from: serve.controlPath, timeout: .seconds(10))
        let domain = try #require(report.platform.resources(of: .performance).first)
        #expect(domain.name == "cpu-cluster" && domain.value == 1_000_000)
        #expect(domain.requests.map(\.agentName) == ["vm-ivi"])
        #expect(domain.requests.first?.limits == ResourceRequest.Limits(min: 600_000, max: 1_000_000))

        let cluster = try serve.connect("vm-cluster")
        let sensors = try cluster.client.sensorDescriptors()
        #expect(sensors.map(\.name) == ["soc-temp", "board-temp"])
        #expect(sensors.map(\.unitType) == [2, 2] && sensors.map(\.unitExponent) == [-3, -3])
        #expect(try cluster.client.sensorRead(0) == 45_500)
        #expect(try cluster.client.sensorRead(1) == 41_250)
        _ = try directory.write("board-temp", Array("52750\n".utf8))
        #expect(try cluster.client.sensorRead(1) == 52_750)
        try FileManager.default.removeItem(atPath: sensorFile)
        #expect(throws: SCMIClientError.status(.hardwareError, protocolID: 0x15, messageID: 0x6)) { try cluster.client.sensorRead(1) }
        // vm-ivi's devices hold no sensor.
        #expect(throws: SCMIClientError.status(.denied, protocolID: 0x15, messageID: 0x6)) { try ivi.client.sensorRead(0) }
        cluster.leave()
        ivi.leave()
        #expect(try eventually { try StatusClient.report(from: serve.controlPath, timeout: .seconds(10)).platform.resources(of: .performance).first?.value == 600_000 })
    }

    /// More clients than `maximumClients` at once all get a whole report.
    @Test func controlSocketManyClients() throws {
        let serve = try InProcessServe()
        let count = ControlServer.maximumClients * 2
        let answers = Answers()
        let controlPath = serve.controlPath
        DispatchQueue.concurrentPerform(iterations: count) { _ in
            if let data = try? StatusClient.fetch(from: controlPath, timeout: .seconds(20)),
                (try? JSONDecoder().decode(StatusReport.self, from: data)) != nil
            {
                answers.add()
            }
        }
        #expect(answers.count == count)
    }

    /// Nothing listening: the status client says so instead of waiting.
    /// Each resource's host binding in the status report (docs/serve.md, "Host bindings"):
    /// on the firmware board the firmware's resources go upstream when one is given, the
    /// PMIC rail to the hook; without either everything is model. A reload keeps them.
    @Test func statusShowsEachResourcesHostBinding() throws {
        let blob = try compileDTS(file: examplePath("firmware-board.dts"))
        func hosts(_ serve: InProcessServe) -> [String: [String?]] {
            let report = serve.server.statusReport().platform
            return [
                "clock": report.resources(of: .clock).map(\.host), "voltage": report.resources(of: .voltage).map(\.host),
                "power": report.resources(of: .powerDomain).map(\.host), "reset": report.resources(of: .reset).map(\.host),
            ]
        }
        let both = try InProcessServe(blob: blob, upstreamGiven: true, hookGiven: true)
        #expect(hosts(both) == ["clock": ["upstream", "upstream"], "voltage": ["upstream", "hook"], "power": ["upstream"], "reset": ["upstream"]])
        #expect(both.server.reload() == .reloaded)
        #expect(hosts(both)["voltage"] == ["upstream", "hook"])
        let plain = try InProcessServe(blob: blob)
        #expect(hosts(plain) == ["clock": ["model", "model"], "voltage": ["model", "model"], "power": ["model"], "reset": ["model"]])
    }

    @Test func statusClientWithoutServer() throws {
        let directory = try TemporaryDirectory("scmi-dt-runtime-nobody")
        defer { directory.cleanup() }
        #expect(throws: StatusClient.Failure.self) { _ = try StatusClient.fetch(from: directory.path("control.sock"), timeout: .seconds(2)) }
    }

    /// stop() removes every socket, and a second stop() is harmless.
    @Test func stopRemovesSockets() throws {
        let serve = try InProcessServe()
        let ivi = try serve.connect("vm-ivi")
        defer { ivi.leave() }
        serve.server.stop()
        serve.server.stop()
        for name in ["vm-ivi.sock", "vm-cluster.sock", "vm-admin.sock", "control.sock"] {
            #expect(!FileManager.default.fileExists(atPath: serve.directory.path(name)), "\(name) left behind")
        }
    }
}

/// A counter the concurrent clients share.
final class Answers: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add() { lock.lock(); value += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return value }
}
