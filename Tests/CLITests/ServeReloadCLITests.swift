import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `serve` re-reading its blob on SIGHUP with blobs that used to hurt it: a header version
/// before 16 (libfdt dereferenced NULL and serve died) and a tree nested 20,000 deep (the
/// index took 1.1 GB and serve's resident memory stayed there).
@Suite struct ServeReloadCLITests {
    /// A line of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
    static func memoryKiB(_ pid: Int32, _ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
        else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    @Test func versionFifteenBlobKeepsTheOldModel() throws {
        let directory = try TemporaryDirectory("scmi-dt-serve-v15")
        defer { directory.cleanup() }
        var bytes = try compileDTS(file: examplePath("board.dts"))
        let blob = try directory.write("board.dtb", bytes)
        let serve = try RunningServe(blob: blob)
        defer { _ = serve.stop() }
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")

        bytes[23] = 15  // version 17 → 15 (big-endian word at offset 20)
        bytes[27] = 15
        _ = try directory.write("board.dtb", bytes)
        kill(serve.process.processIdentifier, SIGHUP)
        for _ in 0..<100 where !serve.log.contains("keeping the old model") { usleep(50_000) }
        #expect(serve.log.contains("keeping the old model"), "\(serve.log)")
        #expect(serve.log.contains("version 15 predates 16"), "\(serve.log)")
        #expect(serve.process.isRunning)
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")
    }

    @Test func deeplyNestedBlobReloadsInBoundedMemory() throws {
        let directory = try TemporaryDirectory("scmi-dt-serve-deep")
        defer { directory.cleanup() }
        let blob = try directory.write("board.dtb", compileDTS(file: examplePath("board.dts")))
        let serve = try RunningServe(blob: blob)
        defer { _ = serve.stop() }
        let pid = serve.process.processIdentifier
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")
        let before = try #require(Self.memoryKiB(pid, "VmHWM"))

        _ = try directory.write("board.dtb", DeepTreeCLITests.nestedBoard(depth: 20_000))
        kill(pid, SIGHUP)
        for _ in 0..<200 where !serve.log.contains("reloaded") { usleep(50_000) }
        #expect(serve.log.contains("reloaded"), "\(serve.log)")
        #expect(try serve.asAgent("vm-ivi") { try $0.vendor() } == "ACME")
        let after = try #require(Self.memoryKiB(pid, "VmHWM"))
        // The 325 KB blob and its index are a few MiB; the quadratic index was over 1 GiB.
        #expect(after - before < 64 * 1024, "serve's peak RSS went from \(before) to \(after) KiB")
    }
}
