import DeviceTree
import Foundation
@_exported import TestKit  // every file of this test target uses its seeds and tool lookup
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

extension TestSeed {
    /// The seed as a swift-testing comment, for every expectation of a randomised test.
    var comment: Comment { Comment(rawValue: description) }
}


func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
