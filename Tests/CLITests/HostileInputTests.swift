import Foundation
import LinuxIO
import SCMIPlatform
import Testing
import VhostUser

#if canImport(Glibc)
import Glibc
#endif

/// The built `scmi-dt-gen-tree` (next to scmi-dt): large valid boards without dtc.
let genTreeBinary: String = {
    let besideBinary = URL(fileURLWithPath: scmiDTBinary).deletingLastPathComponent().appendingPathComponent("scmi-dt-gen-tree").path
    if FileManager.default.isExecutableFile(atPath: besideBinary) { return besideBinary }
    return packageRoot.appendingPathComponent(".build/debug/scmi-dt-gen-tree").path
}()

/// A generated board whose status report (hundreds of KB) is larger than a Unix socket's
/// buffer, so a control client that does not read really leaves serve's write pending.
func largeBoard(in directory: TemporaryDirectory, devices: Int = 4000) throws -> String {
    let path = directory.path("large.dtb")
    let result = try runTool(genTreeBinary, ["generate", "--devices", "\(devices)", "--clocks", "\(devices / 2)", "--regulators", "\(devices / 4)", "-o", path])
    guard result.status == 0 else { throw StatusFailed(output: result.output) }
    return path
}

/// A raw connection to a Unix socket that the test drives by hand.
func rawConnect(_ path: String) throws -> Int32 { try UnixSocket.connect(to: path).rawValue }

/// Regressions from fuzzing `serve` and `check` with hostile clients, frontends and blobs
/// (issue: "serve and check must survive hostile clients, frontends and blobs").
@Suite("serve and check survive hostile clients and input", .serialized)
struct HostileInputTests {
    /// A control client that connects and closes without reading used to kill serve with
    /// SIGPIPE (exit 141, no log line) within a few cycles.
    @Test func controlClientsThatHangUpDoNotKillServe() throws {
        let directory = try TemporaryDirectory("hostile-pipe")
        defer { directory.cleanup() }
        // 2,000 devices: a 250 KB report, more than a Unix socket buffers, so serve is
        // still writing when the client hangs up.
        let serve = try RunningServe(blob: try largeBoard(in: directory, devices: 2000))
        let control = serve.directory.path("control.sock")
        for cycle in 0..<16 {
            let fd = try rawConnect(control)
            if cycle % 2 == 1 {
                // Read a little, then hang up mid-report (an interrupted `status`).
                var buffer = [UInt8](repeating: 0, count: 512)
                _ = read(fd, &buffer, buffer.count)
            }
            close(fd)
        }
        #expect(serve.process.isRunning, "serve died: \(serve.log)")
        let report = try serve.status()
        #expect((report["connections"] as? [Any])?.count == 64)
        #expect(serve.stop() == 0)
    }

    /// A second serve given the same --control path is refused, and probing the live
    /// socket must not cost the first serve its life.
    @Test func secondServeOnTheSameControlPathLeavesTheFirstServing() throws {
        let serve = try RunningServe()
        let other = try TemporaryDirectory("hostile-second")
        defer { other.cleanup() }
        let blob = try other.write("board.dtb", compileDTS(file: examplePath("board.dts")))
        for _ in 0..<5 {
            let second = try scmiDT("serve", blob, "--socket-dir", other.url.path, "--control", serve.directory.path("control.sock"))
            #expect(second.status != 0)
            #expect(second.stderr.contains("control.sock"), "\(second.stderr)")
        }
        #expect(serve.process.isRunning, "serve died: \(serve.log)")
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")
        #expect(try serve.status()["blob"] != nil)
    }

    /// Clients that connect and never read must block neither each other, nor a later
    /// `scmi-dt status`, nor the guests.
    @Test func controlClientsThatNeverReadBlockNobody() throws {
        let directory = try TemporaryDirectory("hostile-stall")
        defer { directory.cleanup() }
        let serve = try RunningServe(blob: try largeBoard(in: directory))
        let control = serve.directory.path("control.sock")
        // More stalled clients than serve answers at once.
        let stalled = try (0..<24).map { _ in try rawConnect(control) }
        defer { stalled.forEach { close($0) } }
        let status = try scmiDT("status", "--control", control, "--format", "json", "--timeout", "30")
        #expect(status.status == 0, "\(status.stderr)")
        #expect((try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8))) != nil)
        let agent = try serve.connect("vm1")
        #expect(try agent.client.vendor().isEmpty == false)
        agent.leave()
        #expect(serve.process.isRunning)
    }

    /// `status` gives up with a clear error when the control socket accepts and says nothing.
    @Test func statusTimesOutOnASilentSocket() throws {
        let directory = try TemporaryDirectory("hostile-silent")
        defer { directory.cleanup() }
        let path = directory.path("silent.sock")
        let listener = try UnixSocket.listen(on: path)
        defer { listener.closeQuietly() }
        let result = try runTool(scmiDTBinary, ["status", "--control", path, "--timeout", "0.5"], timeout: 30)
        #expect(result.status == 2)
        #expect(result.stderr.contains("no complete report from \(path) within 0.5 s"), "\(result.stderr)")
        let zero = try scmiDT("status", "--control", path, "--timeout", "0")
        #expect(zero.status != 0)
    }

    /// After SIGHUP removes an agent, its socket still listens; its guest is answered
    /// NOT_SUPPORTED for every command (header echoed), as the log says.
    @Test func agentRemovedBySighupIsAnsweredNotSupported() throws {
        let directory = try TemporaryDirectory("hostile-hup")
        defer { directory.cleanup() }
        let source = try String(contentsOfFile: examplePath("board.dts"), encoding: .utf8)
        let blob = try directory.write("board.dtb", compileDTS(source: source))
        let serve = try RunningServe(blob: blob)
        #expect(try serve.asAgent("vm-admin") { try $0.vendor() } == "ACME")

        let start = try #require(source.range(of: "\t\t\t\tagent@3 {"))
        let end = try #require(source.range(of: "};\n", range: start.upperBound..<source.endIndex))
        let withoutAdmin = source.replacingCharacters(in: start.lowerBound..<end.upperBound, with: "")
        _ = try directory.write("board.dtb", compileDTS(source: withoutAdmin))
        kill(serve.process.processIdentifier, SIGHUP)
        #expect(eventually { serve.log.contains("reloaded") })

        let admin = try serve.connect("vm-admin")
        defer { admin.leave() }
        for request in [words(header(0x10, 0x0)), words(header(0x14, 0x3, token: 99), 0)] {
            let reply = try admin.frontend.exchange(request: request, responseCapacity: 136)
            #expect(reply.count == 8)
            #expect(Array(reply.prefix(4)) == Array(request.prefix(4)))
            #expect(Array(reply.suffix(4)) == words(UInt32(bitPattern: SCMIStatus.notSupported.rawValue)))
        }
        #expect(try admin.frontend.exchange(request: [1, 2], responseCapacity: 136).isEmpty)
        #expect(serve.log.contains("vm-admin is no longer declared"))
        #expect(serve.log.contains("NOT_SUPPORTED"))
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")
    }

    /// An agent name that is not one file name is a check error, and serve never builds a
    /// socket path from it.
    @Test func agentNamesMustBeSingleFileNames() throws {
        let directory = try TemporaryDirectory("hostile-agent-name")
        defer { directory.cleanup() }
        let source = try String(contentsOfFile: examplePath("minimal.dts"), encoding: .utf8)
        for name in ["../../escaped", "./vm-ivi", "..", ".hidden", "vm ivi", "-vm"] {
            let mutated = source.replacingOccurrences(of: "\"vm-ivi\"", with: "\"\(name)\"")
            let blob = try directory.write("agent.dtb", compileDTS(source: mutated))
            let result = try scmiDT("check", "--format", "json", blob)
            #expect(result.status == 1, "\(name): \(result.stdout)")
            let findings = try parseFindings(result.stdout)
            #expect(findings.contains {
                $0.rule == "property-value" && $0.path == "/firmware/scmi-vio-backend/agents/agent@1" && $0.property == "arm,scmi-agent-name"
            }, "\(name): \(findings)")
            let sockets = try TemporaryDirectory("hostile-sockets")
            defer { sockets.cleanup() }
            let serve = try scmiDT("serve", blob, "--socket-dir", sockets.path("inner"))
            #expect(serve.status == 1)
            #expect(!FileManager.default.fileExists(atPath: sockets.path("escaped.sock")))
        }
    }

    /// Node and property names go through the diagnostic printer escaped: a newline in a
    /// name cannot forge a second finding and an ESC cannot reach the terminal.
    @Test func namesInTextDiagnosticsAreEscaped() throws {
        let directory = try TemporaryDirectory("hostile-names")
        defer { directory.cleanup() }
        var bytes = try compileDTS(file: examplePath("minimal.dts"))
        // Same-length renames inside the blob: a device node and a device property.
        func rename(_ old: String, _ new: String) throws {
            let from = Array(old.utf8), to = Array(new.utf8)
            precondition(from.count == to.count)
            let at = try #require(bytes.indices.first { bytes[$0..<min($0 + from.count, bytes.count)].elementsEqual(from) })
            bytes.replaceSubrange(at..<(at + from.count), with: to)
        }
        try rename("device@2\0", "dev\nce@2\0")
        try rename("clock-names\0", "clock\u{1b}[31m\0\0")
        let blob = try directory.write("names.dtb", bytes)
        let result = try scmiDT("check", blob)
        #expect(result.status == 1)
        #expect(!result.stdout.utf8.contains(0x1b), "\(result.stdout)")
        for line in result.stdout.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            #expect(line.hasPrefix(blob + ": ") || line.hasPrefix("  hint: ") || line.hasSuffix("warnings") || line.hasSuffix("warning"), "forged line: \(line)")
        }
        #expect(result.stdout.contains("dev\\u{a}ce@2"), "\(result.stdout)")
        #expect(result.stdout.contains("clock\\u{1b}[31m"), "\(result.stdout)")
    }
}
