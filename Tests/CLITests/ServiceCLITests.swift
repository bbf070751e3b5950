import Foundation
import LinuxIO
import SCMIClient
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `serve` as a host service: who may connect to its sockets, the readiness it tells
/// systemd, the JSON `status` promises scripts, and the small things an operator meets
/// first (a missing socket directory, `status` without --control, a blob for a socket).
@Suite("serve as a host service", .serialized)
struct ServiceCLITests {
    /// A group only the test's user-to-be is in: the sockets are its, mode 0660, so a
    /// process of another uid gets in with that group and is refused without it.
    @Test(.enabled(if: getuid() == 0, "creating a group and switching uid need root"))
    func socketsBelongToTheGroupGiven() throws {
        let group = try TestGroup()
        defer { group.remove() }
        let serve = try RunningServe(extraArguments: ["--socket-group", group.name, "--socket-mode", "0660"], socketSubdirectory: "run")

        // serve made the missing directory, open to the group only; every socket is the group's.
        let directory = try fileStatus(serve.socketDirectory)
        #expect(directory.st_gid == group.gid)
        #expect(directory.st_mode & 0o777 == 0o750)
        for path in ["vm-ivi.sock", "vm-cluster.sock", "vm-admin.sock", "control"].map({ serve.socketDirectory + "/" + $0 }) {
            let socket = try fileStatus(path)
            #expect(socket.st_mode & S_IFMT == S_IFSOCK, "\(path)")
            #expect(socket.st_gid == group.gid, "\(path)")
            #expect(socket.st_mode & 0o777 == 0o660, "\(path)")
        }

        // Another user: in with the group, out without it.
        let stranger = "4242"
        let member = try runTool(
            "/usr/bin/setpriv", ["--reuid", stranger, "--regid", stranger, "--groups", String(group.gid), scmiDTBinary, "call", "--socket", serve.socket("vm-ivi"), "base.info"])
        #expect(member.status == 0, "\(member.output)")
        #expect(member.stdout.contains("agent 1 \"vm-ivi\""), "\(member.output)")
        let memberStatus = try runTool(
            "/usr/bin/setpriv", ["--reuid", stranger, "--regid", stranger, "--groups", String(group.gid), scmiDTBinary, "status", "--socket-dir", serve.socketDirectory])
        #expect(memberStatus.status == 0, "\(memberStatus.output)")
        let outsider = try runTool(
            "/usr/bin/setpriv", ["--reuid", stranger, "--regid", stranger, "--clear-groups", scmiDTBinary, "call", "--socket", serve.socket("vm-ivi"), "base.info"])
        #expect(outsider.status == 2)
        #expect(outsider.stderr.contains("Permission denied"), "\(outsider.output)")
    }

    /// systemd's Type=notify: READY=1 arrives once every socket listens; a SIGHUP is framed
    /// by RELOADING=1 and READY=1; SIGTERM says STOPPING=1.
    @Test func readinessOnNotifySocket() throws {
        let notify = try NotifyListener()
        defer { notify.close() }
        let serve = try RunningServe(socketSubdirectory: "run", environment: ["NOTIFY_SOCKET": notify.path])

        let ready = try notify.next()
        #expect(ready.contains("READY=1\n"), "\(ready)")
        #expect(ready.contains("MAINPID=\(serve.process.processIdentifier)"), "\(ready)")
        #expect(ready.contains("STATUS=serving 3 agent sockets"), "\(ready)")
        for agent in ["vm-ivi", "vm-cluster", "vm-admin"] {
            #expect(try serve.asAgent(agent) { try $0.vendor() } == "ACME", "\(agent) listens once READY=1 was sent")
        }

        kill(serve.process.processIdentifier, SIGHUP)
        let reloading = try notify.next()
        #expect(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), "\(reloading)")
        #expect(try notify.next().contains("READY=1\n"))

        #expect(serve.stop() == 0)
        #expect(try notify.next() == "STOPPING=1")
    }

    /// `status --format json` is the stable interface: its keys, snake_case, on the example
    /// with two agents holding requests, against Tests/CLITests/Snapshots/status-board.json
    /// (the temporary directory and the connection times replaced). A deliberate change:
    /// SCMI_DT_UPDATE_SNAPSHOTS=1 swift test --filter statusJSONSnapshot rewrites it.
    @Test func statusJSONSnapshot() throws {
        let serve = try RunningServe()
        let ivi = try serve.connect("vm-ivi")
        defer { ivi.leave() }
        try ivi.client.enable(clock: 2)
        try ivi.client.rateSet(2, rate: 400_000_000, rounding: .down)
        try ivi.client.levelSet(1, microvolts: 800_000)
        try ivi.client.powerStateSet(0, state: PowerState.on)
        try ivi.client.reset(0, .assert)
        let cluster = try serve.connect("vm-cluster")
        defer { cluster.leave() }
        try cluster.client.rateSet(2, rate: 600_000_000, rounding: .down)
        try cluster.client.powerStateSet(0, state: PowerState.off)

        let result = try scmiDT("status", "--control", serve.controlPath, "--format", "json")
        #expect(result.status == 0, "\(result.output)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        let normalized = normalize(json, directory: serve.directory.url.path, blob: serve.directory.path("board.dtb"))
        let text = String(decoding: try JSONSerialization.data(withJSONObject: normalized, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]), as: UTF8.self) + "\n"
        let snapshot = packageRoot.appendingPathComponent("Tests/CLITests/Snapshots/status-board.json")
        if ProcessInfo.processInfo.environment["SCMI_DT_UPDATE_SNAPSHOTS"] == "1" {
            try text.write(to: snapshot, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: snapshot, encoding: .utf8)
        #expect(text == expected, "status --format json changed; if on purpose, update the snapshot and the README")
        #expect(keys(of: json).allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } }, "\(keys(of: json).sorted())")
    }

    /// `status --socket-dir DIR` finds the control socket of `serve --socket-dir DIR` alone.
    @Test func statusFromTheSocketDirectoryAlone() throws {
        let serve = try RunningServe(socketSubdirectory: "run")
        let result = try scmiDT("status", "--socket-dir", serve.socketDirectory)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("vm-ivi"))
        let missing = try scmiDT("status", "--socket-dir", serve.directory.path("elsewhere"))
        #expect(missing.status == 2)
        #expect(missing.stderr.contains(serve.directory.path("elsewhere") + "/control"), "\(missing.output)")
    }

    /// A --socket-dir whose parent is missing, or that is a file, is refused naming the path;
    /// so is a --socket in a missing directory, and an unknown group.
    @Test func socketPlacesThatCannotBeUsedAreNamed() throws {
        let directory = try TemporaryDirectory("scmi-dt-places")
        defer { directory.cleanup() }
        let blob = examplePath("board.dts")
        let deep = try scmiDT("serve", blob, "--socket-dir", directory.path("missing/run"))
        #expect(deep.status == 2)
        #expect(deep.stderr.contains("cannot create the socket directory \(directory.path("missing/run")): the directory \(directory.path("missing")) does not exist"), "\(deep.output)")
        let file = try directory.write("file", "not a directory")
        let notDirectory = try scmiDT("serve", blob, "--socket-dir", file)
        #expect(notDirectory.status == 2)
        #expect(notDirectory.stderr.contains("\(file) exists and is not a directory"), "\(notDirectory.output)")
        let socket = try scmiDT("serve", blob, "--socket", directory.path("missing/a.sock"), "--agent", "vm-ivi")
        #expect(socket.status == 2)
        #expect(socket.stderr.contains("cannot listen on \(directory.path("missing/a.sock")): the directory \(directory.path("missing")) does not exist"), "\(socket.output)")
        let group = try scmiDT("serve", blob, "--socket-dir", directory.path("run"), "--socket-group", "no-such-group-scmi")
        #expect(group.status == 2)
        #expect(group.stderr.contains("no group 'no-such-group-scmi'"), "\(group.output)")
        let mode = try scmiDT("serve", blob, "--socket-dir", directory.path("run"), "--socket-mode", "0999")
        #expect(mode.status == 2)
        #expect(mode.stderr.contains("socket mode '0999'"), "\(mode.output)")
    }

    /// `serve --agent` takes an id as well as a name, as guest-dtsi does.
    @Test func serveAgentByID() throws {
        let directory = try TemporaryDirectory("scmi-dt-agent-id")
        defer { directory.cleanup() }
        let path = directory.path("two.sock")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: scmiDTBinary)
        process.arguments = ["serve", examplePath("board.dts"), "--socket", path, "--agent", "2"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { kill(process.processIdentifier, SIGTERM); process.waitUntilExit() }
        #expect(eventually { FileManager.default.fileExists(atPath: path) })
        let info = try scmiDT("call", "--socket", path, "base.info")
        #expect(info.stdout.contains("agent 2 \"vm-cluster\""), "\(info.output)")
        let unknown = try scmiDT("serve", examplePath("board.dts"), "--socket", path + "x", "--agent", "9")
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no agent '9'") && unknown.stderr.contains("vm-cluster (2)"), "\(unknown.output)")
    }

    /// serve logs check's warnings when it starts, so that they reach the journal.
    @Test func serveLogsCheckWarnings() throws {
        // The minimal example without its voltage step: warning voltage-step-missing.
        let source = try String(contentsOfFile: examplePath("minimal.dts"), encoding: .utf8)
        let withoutStep = source.replacingOccurrences(of: "arm,scmi-voltage-step-microvolt = <50000>;", with: "")
        #expect(withoutStep != source)
        let blobDirectory = try TemporaryDirectory("scmi-dt-warn")
        defer { blobDirectory.cleanup() }
        let blob = try blobDirectory.write("warn.dtb", compileDTS(source: withoutStep))
        let checked = try scmiDT("check", blob)
        #expect(checked.status == 0 && checked.stdout.contains("[voltage-step-missing]"), "\(checked.output)")
        let serve = try RunningServe(blob: blob)
        let line = serve.log.split(separator: "\n").first { $0.contains("[voltage-step-missing]") }
        #expect(line?.contains("warning") == true && line?.contains("check: ") == true, "\(serve.log)")
    }

    /// `call` on a file that is not a socket (a blob given by mistake) says so.
    @Test func callOnSomethingThatIsNotASocket() throws {
        let result = try scmiDT("call", "--socket", examplePath("board.dts"), "base.info")
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(examplePath("board.dts")) exists and is not a socket"), "\(result.output)")
    }

    @Test func versionFromOnePlace() throws {
        let source = try String(contentsOf: packageRoot.appendingPathComponent("Sources/scmi-dt/Version.swift"), encoding: .utf8)
        let line = try #require(source.split(separator: "\n").first { $0.hasPrefix("let scmiDTVersion = ") })
        let version = try #require(line.split(separator: "\"").dropFirst().first)
        let result = try scmiDT("--version")
        #expect(result.status == 0)
        #expect(result.stdout == version + "\n")
    }
}

/// Every key of every object in a JSON value.
private func keys(of json: Any) -> Set<String> {
    if let object = json as? [String: Any] { return Set(object.keys).union(object.values.flatMap { keys(of: $0) }) }
    if let array = json as? [Any] { return Set(array.flatMap { keys(of: $0) }) }
    return []
}

/// The report with what differs between runs replaced: the temporary directory by $DIR,
/// connection times by "<time>".
private func normalize(_ json: Any, directory: String, blob: String) -> Any {
    if var object = json as? [String: Any] {
        for (key, value) in object {
            object[key] = key == "connected_since" ? "<time>" : normalize(value, directory: directory, blob: blob)
        }
        return object
    }
    if let array = json as? [Any] { return array.map { normalize($0, directory: directory, blob: blob) } }
    if let text = json as? String { return text.replacingOccurrences(of: directory, with: "$DIR") }
    return json
}

private func fileStatus(_ path: String) throws -> stat {
    var info = stat()
    guard stat(path, &info) == 0 else { throw LinuxIOError.lastError("stat(\(path))") }
    return info
}

/// A group made for one test with groupadd, removed with groupdel.
private struct TestGroup {
    let name: String
    let gid: gid_t

    init() throws {
        name = "scmidt\(getpid() % 100_000)"
        let added = try runTool("/usr/sbin/groupadd", [name])
        guard added.status == 0, let entry = getgrnam(name) else { throw GroupFailed(output: added.output) }
        gid = entry.pointee.gr_gid
    }

    func remove() { _ = try? runTool("/usr/sbin/groupdel", [name]) }

    struct GroupFailed: Error { var output: String }
}

/// The receiving end of NOTIFY_SOCKET, as systemd has it: a datagram socket bound to a path.
private final class NotifyListener {
    let directory: TemporaryDirectory
    let path: String
    let fd: Int32

    init() throws {
        directory = try TemporaryDirectory("scmi-dt-notify")
        path = directory.path("notify")
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = try UnixSocket.address(for: path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw LinuxIOError.lastError("bind(\(path))") }
        // A bound on waiting for a message that never comes, not a measurement.
        UnixSocket.setTimeout(FileDescriptor(rawValue: fd), SO_RCVTIMEO, .seconds(30))
    }

    /// The next datagram, as text.
    func next() throws -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { throw LinuxIOError.lastError("recv(\(path))") }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    func close() {
        closeQuietly(fd)
        directory.cleanup()
    }
}
