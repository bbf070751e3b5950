import DeviceTree
import Foundation
import Testing

/// Compiles devicetree source with the real dtc (found in PATH), as a user's build would.
func compileDTS(_ source: String, dtcArguments: [String] = []) throws -> [UInt8] {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("dt-tests-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let input = directory.appendingPathComponent("in.dts")
    let output = directory.appendingPathComponent("out.dtb")
    try source.write(to: input, atomically: true, encoding: .utf8)
    let dtc = Process()
    dtc.executableURL = URL(fileURLWithPath: dtcPath)
    dtc.arguments = ["-q", "-I", "dts", "-O", "dtb"] + dtcArguments + ["-o", output.path, input.path]
    let errors = Pipe()
    dtc.standardError = errors
    try dtc.run()
    let message = errors.fileHandleForReading.readDataToEndOfFile()
    dtc.waitUntilExit()
    guard dtc.terminationStatus == 0 else {
        throw DTCFailed(message: String(decoding: message, as: UTF8.self))
    }
    return [UInt8](try Data(contentsOf: output))
}

/// dtc as the shell finds it (first in PATH), /usr/bin/dtc when PATH has none.
let dtcPath: String = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { String($0) + "/dtc" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/dtc"
}()

struct DTCFailed: Error, CustomStringConvertible {
    var message: String
    var description: String { "dtc failed: \(message)" }
}

/// Opening `bytes` must fail; returns the error (nil when it unexpectedly opened).
func openingError(_ bytes: [UInt8]) -> BlobError? {
    do {
        _ = try FlattenedDeviceTree(bytes: bytes)
        return nil
    } catch {
        return error
    }
}

/// Header fields by byte offset (see struct fdt_header).
enum HeaderField: Int {
    case magic = 0, totalSize = 4, structOffset = 8, stringsOffset = 12, reserveMapOffset = 16
    case version = 20, lastCompatibleVersion = 24, bootCPU = 28, stringsSize = 32, structSize = 36
}

func readBE32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
}

func writeBE32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
    for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) }
}

extension Array where Element == UInt8 {
    subscript(field: HeaderField) -> UInt32 {
        get { readBE32(self, field.rawValue) }
        set { writeBE32(&self, field.rawValue, newValue) }
    }
}

/// The package root (the directory holding Package.swift), found from this file's path.
func packageRoot(_ path: String = #filePath) -> URL {
    URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// A deterministic generator so failures reproduce (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// The seed of a randomised test: $SCMI_DT_SEED when set (decimal or 0x-hex), else the test's
/// own fixed default, so a plain run is deterministic. Every failure message names the seed
/// (`"\(seed)"`); `SCMI_DT_SEED=<seed> swift test --filter <test>` replays it, and
/// `SCMI_DT_SEED=$RANDOM swift test` tries new inputs.
struct TestSeed: CustomStringConvertible, Sendable {
    let value: UInt64

    init(default fallback: UInt64) throws {
        guard let text = ProcessInfo.processInfo.environment["SCMI_DT_SEED"] else {
            value = fallback
            return
        }
        let hex = text.lowercased().hasPrefix("0x")
        guard let parsed = hex ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text) else { throw BadSeed(text: text) }
        value = parsed
    }

    var generator: SeededGenerator { SeededGenerator(state: value) }
    var description: String { "seed \(value) (SCMI_DT_SEED=\(value) replays it)" }
    var comment: Comment { Comment(rawValue: description) }
}

struct BadSeed: Error, CustomStringConvertible {
    var text: String
    var description: String { "SCMI_DT_SEED=\(text) is not a number (decimal or 0x-hex)" }
}

func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
