import Foundation
@_exported import TestKit  // every file of this test target uses its seeds and tool lookup
import Testing

/// Running the BUILT scmi-dt binary end to end, as a user would. Shared by all
/// CLI test files (check, tables, guest-dtsi, serve, call, status).

/// The package root, from this file's path (Tests/CLITests/CLITestSupport.swift).
let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The real board blobs (Debian's kernel package), beside the repository in ../shared.
let realCorpus: URL = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus/real")

extension Tag {
    /// A test far slower than the rest (dt-validate over every example). `swift test` on this
    /// toolchain filters by name, so the fast suite is `swift test --skip CheckDTValidateTests`
    /// (README, Tests); IDEs and newer toolchains can filter by the tag.
    @Tag static var slow: Self
}

/// The built `scmi-dt`: $SCMI_DT_BINARY, next to the test bundle, or .build/debug.
let scmiDTBinary: String = {
    let fileManager = FileManager.default
    if let path = ProcessInfo.processInfo.environment["SCMI_DT_BINARY"], fileManager.isExecutableFile(atPath: path) { return path }
    var candidates: [URL] = []
    // The xctest bundle sits in the build directory next to the products.
    let bundle = Bundle.main.bundleURL
    candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("scmi-dt"))
    candidates.append(bundle.appendingPathComponent("scmi-dt"))
    for argument in CommandLine.arguments.prefix(1) {
        candidates.append(URL(fileURLWithPath: argument).deletingLastPathComponent().appendingPathComponent("scmi-dt"))
    }
    candidates.append(packageRoot.appendingPathComponent(".build/debug/scmi-dt"))
    return candidates.map(\.path).first { fileManager.isExecutableFile(atPath: $0) } ?? packageRoot.appendingPathComponent(".build/debug/scmi-dt").path
}()

struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { stdout + stderr }
}

/// Runs `executable` with `arguments` to completion, reading both pipes concurrently.
/// `environment` entries replace the inherited ones; `timeout` kills a hung child.
func runTool(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil,
    currentDirectory: URL? = nil, timeout: TimeInterval = 60
) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    let output = Pipe()
    let errors = Pipe()
    let input = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(stdin)
        try? input.fileHandleForWriting.close()
    }
    let collected = PipeCollector()
    let group = DispatchGroup()
    for (pipe, isError) in [(output, false), (errors, true)] {
        group.enter()
        DispatchQueue.global().async {
            collected.store(pipe.fileHandleForReading.readDataToEndOfFile(), isError: isError)
            group.leave()
        }
    }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        process.terminate()
        group.wait()
        process.waitUntilExit()
        throw ToolTimedOut(command: ([executable] + arguments).joined(separator: " "))
    }
    process.waitUntilExit()
    return ToolResult(
        status: process.terminationStatus, stdout: String(decoding: collected.stdout, as: UTF8.self),
        stderr: String(decoding: collected.stderr, as: UTF8.self))
}

struct ToolTimedOut: Error, CustomStringConvertible {
    var command: String
    var description: String { "timed out: \(command)" }
}

/// Output gathered by the reader threads; the lock makes the hand-over safe.
final class PipeCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    func store(_ data: Data, isError: Bool) {
        lock.lock()
        if isError { err = data } else { out = data }
        lock.unlock()
    }
    var stdout: Data { lock.lock(); defer { lock.unlock() }; return out }
    var stderr: Data { lock.lock(); defer { lock.unlock() }; return err }
}

/// Runs the built scmi-dt.
func scmiDT(_ arguments: String..., environment: [String: String] = [:]) throws -> ToolResult {
    try runTool(scmiDTBinary, arguments, environment: environment)
}

func scmiDT(arguments: [String], environment: [String: String] = [:]) throws -> ToolResult {
    try runTool(scmiDTBinary, arguments, environment: environment)
}

func examplePath(_ relative: String) -> String { packageRoot.appendingPathComponent("examples/" + relative).path }


/// A fresh directory under /tmp, removed by `cleanup()`.
struct TemporaryDirectory {
    let url: URL

    init(_ prefix: String = "scmi-dt-cli") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }

    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

/// Compiles devicetree source (a string or a file) to blob bytes with the real dtc.
func compileDTS(source: String) throws -> [UInt8] {
    let directory = try TemporaryDirectory("dtc")
    defer { directory.cleanup() }
    return try compileDTS(file: directory.write("in.dts", source))
}

func compileDTS(file: String) throws -> [UInt8] {
    let directory = try TemporaryDirectory("dtc")
    defer { directory.cleanup() }
    let output = directory.path("out.dtb")
    let result = try runTool(findInPath("dtc") ?? "/usr/bin/dtc", ["-q", "-I", "dts", "-O", "dtb", "-o", output, file])
    guard result.status == 0 else { throw DTCError(message: result.stderr) }
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
}

struct DTCError: Error, CustomStringConvertible {
    var message: String
    var description: String { "dtc failed: \(message)" }
}

/// A parsed `check --format json` finding.
struct Finding: Equatable {
    var file: String
    var path: String
    var property: String?
    var severity: String
    var rule: String
    var message: String
    var hint: String?
}

func parseFindings(_ json: String) throws -> [Finding] {
    let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
    return try objects.map { object in
        #expect(Set(object.keys) == ["file", "path", "property", "severity", "rule", "message", "hint"])
        return Finding(
            file: try #require(object["file"] as? String), path: try #require(object["path"] as? String),
            property: object["property"] as? String, severity: try #require(object["severity"] as? String),
            rule: try #require(object["rule"] as? String), message: try #require(object["message"] as? String),
            hint: object["hint"] as? String)
    }
}

extension TestSeed {
    /// The seed as a swift-testing comment, for every expectation of a randomised test.
    var comment: Comment { Comment(rawValue: description) }
}

