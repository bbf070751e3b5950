import BackendModel
import Foundation
import Logging
import SCMIClient
import SCMIPlatform
import ServeRuntime
import Synchronization
@_exported import TestKit  // Agent, eventually, statusOf for every file of this target
import VhostUser

#if canImport(Glibc)
import Glibc
#endif

/// The package root, from this file's path (Tests/ServeRuntimeTests/Support.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func examplePath(_ relative: String) -> String { packageRoot.appendingPathComponent("examples/" + relative).path }

/// A fresh directory under /tmp, removed by `cleanup()`.
struct TemporaryDirectory {
    let url: URL

    init(_ prefix: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

struct DTCError: Error, CustomStringConvertible {
    var message: String
    var description: String { "dtc failed: \(message)" }
}

/// Devicetree source (a file, or text) compiled with the real dtc.
func compileDTS(file: String) throws -> [UInt8] {
    let directory = try TemporaryDirectory("scmi-dt-runtime-dtc")
    defer { directory.cleanup() }
    let output = directory.path("out.dtb")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", output, file]
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let message = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw DTCError(message: String(decoding: message, as: UTF8.self)) }
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
}

func compileDTS(source: String) throws -> [UInt8] {
    let directory = try TemporaryDirectory("scmi-dt-runtime-src")
    defer { directory.cleanup() }
    return try compileDTS(file: directory.write("in.dts", Array(source.utf8)))
}

struct BlobHasErrors: Error, CustomStringConvertible {
    var diagnostics: [String]
    var description: String { "the blob fails check: " + diagnostics.joined(separator: "; ") }
}

/// A `Server` started in process on a blob in a temporary directory: a socket per
/// agent (DIR/NAME.sock) and a control socket, as `serve --socket-dir DIR --control` has.
final class InProcessServe {
    let directory: TemporaryDirectory
    let blobPath: String
    let server: Server

    /// `blob` defaults to examples/board.dts compiled by dtc; `host` applies the changes.
    /// `upstreamGiven`/`hookGiven`: as `serve --upstream`/`--host-hook` would (host bindings).
    init(blob: [UInt8]? = nil, host: any HostInterface = InMemoryHost(), upstreamGiven: Bool = false, hookGiven: Bool = false) throws {
        directory = try TemporaryDirectory("scmi-dt-runtime")
        blobPath = try directory.write("board.dtb", blob ?? compileDTS(file: examplePath("board.dts")))
        let result = BackendChecker.check(blobAt: blobPath)
        guard let tables = result.tables, !result.hasErrors else {
            directory.cleanup()
            throw BlobHasErrors(diagnostics: result.diagnostics.map(\.rendered))
        }
        let logger = Logger(label: "serve-runtime-tests") { _ in SwiftLogNoOpLogHandler() }
        server = Server(blobPath: blobPath, tables: tables, logger: logger, host: host, upstreamGiven: upstreamGiven, hookGiven: hookGiven)
        try server.start(bindings: tables.agents.map { ($0, directory.path($0.name + ".sock")) }, controlPath: controlPath)
    }

    var controlPath: String { directory.path("control.sock") }

    func socket(_ agent: String) -> String { directory.path(agent + ".sock") }

    /// Replaces the blob file (what an operator does before SIGHUP).
    func replaceBlob(_ bytes: [UInt8]) throws { try directory.write("board.dtb", bytes) }

    func connect(_ agent: String) throws -> Agent { try Agent(socketPath: socket(agent)) }

    /// Connects as `agent`, runs `body` and leaves.
    func asAgent<T>(_ agent: String, _ body: (SCMIClient) throws -> T) throws -> T {
        let connection = try connect(agent)
        defer { connection.leave() }
        return try body(connection.client)
    }

    deinit {
        server.stop()
        directory.cleanup()
    }
}


/// A host that accepts every change and records them in the order it was asked.
final class RecordingHost: HostInterface {
    private let asked = Mutex<[PhysicalChange]>([])
    var applied: [PhysicalChange] { asked.withLock { $0 } }

    func apply(_ change: PhysicalChange) -> SCMIStatus {
        asked.withLock { $0.append(change) }
        return .success
    }
}
