import DeviceTree
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `check` on trees nested deep: memory must grow with the blob, not with its square. Before,
/// each node kept its full path (10,000 deep took 416 MB, 100,000 deep was OOM-killed).
@Suite struct DeepTreeCLITests {
    /// examples/board.dts with a chain of `depth` nested host nodes under the root.
    static func nestedBoard(depth: Int) throws -> [UInt8] {
        let tree = try FlattenedDeviceTree(bytes: compileDTS(file: examplePath("board.dts")))
        let out = try FlattenedDeviceTreeWriter(initialCapacity: tree.byteCount + 16 * depth + 64)
        try out.copy(tree.root) { node throws(BlobError) in
            guard node == tree.root else { return }
            for _ in 0..<depth { try out.beginNode("level") }
            for _ in 0..<depth { try out.endNode() }
        }
        return try out.finish()
    }

    /// `count` fixed clocks each nested in the one before, and a backend with one device per
    /// clock: a clock table whose every entry names a host node deeper than the last.
    static func nestedClocks(count: Int) throws -> [UInt8] {
        let out = try FlattenedDeviceTreeWriter(initialCapacity: 256 * count + 4096)
        try out.beginNode("")
        try out.property("#address-cells", u32: 1)
        try out.property("#size-cells", u32: 1)
        for index in 0..<count {
            try out.beginNode("clock-\(index)")
            try out.property("compatible", string: "fixed-clock")
            try out.property("#clock-cells", u32: 0)
            try out.property("clock-frequency", u32: UInt32(1_000_000 + index))
            try out.property("phandle", u32: UInt32(index + 1))
        }
        for _ in 0..<count { try out.endNode() }
        try out.beginNode("firmware")
        try out.beginNode("scmi-vio-backend")
        try out.property("compatible", string: "arm,scmi-vio-backend")
        try out.property("#address-cells", u32: 1)
        try out.property("#size-cells", u32: 0)
        try out.beginNode("protocol@14")
        try out.property("reg", u32: 0x14)
        try out.endNode()
        try out.beginNode("devices")
        try out.property("#address-cells", u32: 1)
        try out.property("#size-cells", u32: 0)
        for index in 0..<count {
            try out.beginNode("device@\(String(index, radix: 16))")
            try out.property("reg", u32: UInt32(index))
            try out.property("arm,scmi-devid", u32: UInt32(index))
            try out.property("arm,scmi-devname", string: "d\(index)")
            try out.property("clocks", u32: UInt32(index + 1))
            try out.endNode()
        }
        try out.endNode()
        try out.beginNode("agents")
        try out.property("#address-cells", u32: 1)
        try out.property("#size-cells", u32: 0)
        try out.beginNode("agent@1")
        try out.property("reg", u32: 1)
        try out.property("arm,scmi-agent-name", string: "vm")
        try out.endNode()
        try out.endNode()
        try out.endNode()
        try out.endNode()
        try out.endNode()
        return try out.finish()
    }

    /// Runs the built scmi-dt with output discarded; its exit status and peak resident set in
    /// KiB (`wait4`'s rusage for this one child, so tests running beside it do not count).
    static func runMeasured(_ arguments: [String]) throws -> (status: Int32, peakKiB: Int) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([scmiDTBinary] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, scmiDTBinary, &actions, nil, argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
        // WIFEXITED / WEXITSTATUS; a signal shows as 128 + its number, as in a shell.
        let exit = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, Int(usage.ru_maxrss))
    }

    // The board with 1,000 and with 10,000 nested nodes: the extra peak memory of the deeper
    // one must be about ten times the shallower one's, far from the hundred times of a
    // quadratic index. Increments below 2 MiB count as 2 MiB (page and allocator noise).
    @Test func peakMemoryGrowsLinearlyWithDepth() throws {
        let directory = try TemporaryDirectory("deep")
        defer { directory.cleanup() }
        var peak: [Int: Int] = [:]
        for depth in [0, 1_000, 10_000] {
            let blob = try directory.write("deep\(depth).dtb", Self.nestedBoard(depth: depth))
            let run = try Self.runMeasured(["check", blob])
            #expect(run.status == 0, "check on the board nested \(depth) deep exited \(run.status)")
            peak[depth] = run.peakKiB
        }
        let shallow = max(peak[1_000]! - peak[0]!, 2048)
        let deep = peak[10_000]! - peak[0]!
        #expect(deep < 20 * shallow, "peak RSS: \(peak) KiB")
    }

    // A clock table entry for each of 1,000 and of 10,000 nested clocks: each entry's provider
    // path is only spelled when printed, so `check` (which prints none) stays linear. Holding
    // them as strings took 433 MB and 8 s for the 10,000 (a 1.7 MB blob).
    @Test func tableEntriesOfDeepNodesCostLinearMemory() throws {
        let directory = try TemporaryDirectory("deep")
        defer { directory.cleanup() }
        var peak: [Int: Int] = [:]
        for count in [1, 1_000, 10_000] {
            let blob = try directory.write("clocks\(count).dtb", Self.nestedClocks(count: count))
            let run = try Self.runMeasured(["check", blob])
            #expect(run.status == 0, "check on \(count) nested clocks exited \(run.status)")
            peak[count] = run.peakKiB
        }
        let shallow = max(peak[1_000]! - peak[1]!, 2048)
        let deep = peak[10_000]! - peak[1]!
        #expect(deep < 20 * shallow, "peak RSS: \(peak) KiB")
    }

    // 100,000 deep: every walk is a loop, so no thread stack overflows and the check is clean.
    @Test func hundredThousandDeepChecksClean() throws {
        let directory = try TemporaryDirectory("deep")
        defer { directory.cleanup() }
        let blob = try directory.write("deep.dtb", Self.nestedBoard(depth: 100_000))
        let result = try scmiDT("check", blob)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout == "0 errors, 0 warnings\n")
    }
}
