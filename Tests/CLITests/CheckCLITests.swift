import Foundation
import Testing

/// `scmi-dt check` end to end: the built binary on every example and on broken input.
@Suite struct CheckCLITests {
    struct BadExample: CustomTestStringConvertible, Sendable {
        var file: String
        var rule: String
        var path: String
        var property: String?
        var testDescription: String { rule }
    }

    /// examples/bad/*.dts with their `expect: error[rule] at /path[:property]` lines.
    static let badExamples: [BadExample] = {
        let directory = packageRoot.appendingPathComponent("examples/bad")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".dts") }.sorted()
        return names.map { name in
            let file = directory.appendingPathComponent(name).path
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").first(where: { $0.contains("expect: error[") }) else {
                return BadExample(file: file, rule: "?", path: "?")
            }
            let rule = String(line.split(separator: "[", maxSplits: 1)[1].prefix { $0 != "]" })
            let place = String(line.split(separator: " at ", maxSplits: 1)[1])
            let lastSlash = place.lastIndex(of: "/") ?? place.startIndex
            let colon = place[lastSlash...].firstIndex(of: ":")
            return BadExample(
                file: file, rule: rule, path: colon.map { String(place[..<$0]) } ?? place,
                property: colon.map { String(place[place.index(after: $0)...]) })
        }
    }()

    @Test func boardIsClean() throws {
        let result = try scmiDT("check", examplePath("board.dts"))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout == "0 errors, 0 warnings\n")
        let minimal = try scmiDT("check", "--werror", examplePath("minimal.dts"))
        #expect(minimal.status == 0, "\(minimal.output)")
    }

    @Test func compiledBlobChecksLikeItsSource() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let blob = try directory.write("board.dtb", compileDTS(file: examplePath("board.dts")))
        let result = try scmiDT("check", "--format", "json", blob)
        #expect(result.status == 0)
        #expect(try parseFindings(result.stdout).isEmpty)
    }

    @Test(arguments: badExamples)
    func badExample(_ example: BadExample) throws {
        let result = try scmiDT("check", "--format", "json", example.file)
        let expectedStatus: Int32 = example.rule == "blob-unusable" ? 2 : 1
        #expect(result.status == expectedStatus, "\(result.output)")
        let findings = try parseFindings(result.stdout)
        #expect(
            findings.contains { $0.rule == example.rule && $0.path == example.path && $0.property == example.property && $0.severity == "error" },
            "\(findings.map { "\($0.path):\($0.property ?? "") \($0.rule)" })")
        #expect(findings.allSatisfy { $0.file == example.file })
    }

    @Test func textFormatIsCompilerStyle() throws {
        let file = examplePath("bad/phandle-dangling.dts")
        let result = try scmiDT("check", file)
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "\(file): /firmware/scmi-vio-backend/devices/device@1:clocks: error[phandle-dangling]: entry 1 refers to phandle 0x9f, which no node has")
        #expect(lines.dropFirst().first?.hasPrefix("  hint: ") == true)
        #expect(lines.last == "1 error, 0 warnings")
    }

    @Test func warningsFailOnlyWithWerror() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let source = try String(contentsOfFile: examplePath("minimal.dts"), encoding: .utf8)
            .replacingOccurrences(of: "\t\tarm,scmi-rate-range = <1000000 500000000 1000000>;\n", with: "")
        let file = try directory.write("undescribed.dts", source)
        let plain = try scmiDT("check", file)
        #expect(plain.status == 0, "\(plain.output)")
        #expect(plain.stdout.contains("warning[clock-rate-undescribed]"))
        #expect(plain.stdout.hasSuffix("0 errors, 1 warning\n"))
        let strict = try scmiDT("check", "--werror", file)
        #expect(strict.status == 1)
    }

    @Test func severalFilesExitWithTheWorstStatus() throws {
        let board = examplePath("board.dts")
        let bad = examplePath("bad/devname-duplicate.dts")
        let both = try scmiDT("check", board, bad)
        #expect(both.status == 1)
        #expect(both.stdout.hasSuffix("1 error, 0 warnings in 2 files\n"))
        let withMissing = try scmiDT("check", board, bad, "/nonexistent/x.dtb")
        #expect(withMissing.status == 2)
        #expect(withMissing.stdout.contains("/nonexistent/x.dtb: /: error[blob-unusable]"))
    }

    /// A real board's blob without a backend node: one clean error, quickly.
    @Test func realBoardsHaveNoBackend() throws {
        let directory = realCorpus.path
        let blobs = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".dtb") }
        try #require(!blobs.isEmpty, "no corpus blobs in \(directory)")
        for blob in blobs {
            let result = try scmiDT("check", "--format", "json", directory + "/" + blob)
            #expect(result.status == 1, "\(blob): \(result.output)")
            let findings = try parseFindings(result.stdout)
            #expect(findings.map(\.rule) == ["backend-missing"], "\(blob)")
            #expect(findings.first?.path == "/")
        }
    }

    @Test func dtsWithoutDtcIsAClearError() throws {
        let result = try scmiDT("check", examplePath("board.dts"), environment: ["PATH": "/nonexistent"])
        #expect(result.status == 2)
        #expect(result.stdout.contains("error[blob-unusable]"))
        #expect(result.stdout.contains("dtc is not installed"))
    }
}

/// Broken blobs: each is one diagnostic naming the blob, with the right exit status; never a crash or hang.
@Suite struct CheckBadInputTests {
    static let minimal: [UInt8] = (try? compileDTS(file: examplePath("minimal.dts"))) ?? []

    /// Big-endian header field at `offset` (struct fdt_header).
    static func setField(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) }
    }

    static func field(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// `seed`: the random bytes' seed, named in every failure.
    func expectUnusable(_ bytes: [UInt8], _ name: String, mentioning word: String? = nil, seed: TestSeed? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let path = try directory.write(name, bytes)
        let result = try scmiDT("check", "--format", "json", path)
        let seedNote = seed.map { "; \($0)" } ?? ""
        #expect(result.status == 2, "\(name): \(result.output)\(seedNote)", sourceLocation: sourceLocation)
        let findings = try parseFindings(result.stdout)
        #expect(findings.count == 1, seed?.comment, sourceLocation: sourceLocation)
        #expect(findings.first?.rule == "blob-unusable", seed?.comment, sourceLocation: sourceLocation)
        #expect(findings.first?.file == path, seed?.comment, sourceLocation: sourceLocation)
        if let word { #expect(findings.first?.message.lowercased().contains(word) == true, "\(findings)", sourceLocation: sourceLocation) }
        let text = try scmiDT("check", path)
        #expect(text.status == 2 && text.stdout.hasPrefix(path + ": /: error[blob-unusable]: "), seed?.comment, sourceLocation: sourceLocation)
    }

    @Test func zeroLengthFile() throws { try expectUnusable([], "empty.dtb", mentioning: "empty") }

    @Test func randomBytes() throws {
        let seed = try TestSeed(default: 0xd00d_feed)
        var generator = seed.generator
        for size in [1, 39, 40, 4096] {
            try expectUnusable((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }, "random\(size).dtb", seed: seed)
        }
    }

    @Test func truncatedBlob() throws {
        try #require(!Self.minimal.isEmpty)
        for keep in [8, 40, 100, Self.minimal.count - 1] {
            try expectUnusable(Array(Self.minimal.prefix(keep)), "truncated\(keep).dtb")
        }
    }

    @Test func totalSizeLargerThanFile() throws {
        var bytes = Self.minimal
        Self.setField(&bytes, 4, UInt32(bytes.count + 100))
        try expectUnusable(bytes, "totalsize.dtb", mentioning: "totalsize")
    }

    @Test func badMagic() throws {
        var bytes = Self.minimal
        Self.setField(&bytes, 0, 0xfeed_d00d)
        try expectUnusable(bytes, "magic.dtb", mentioning: "magic")
    }

    @Test func badVersion() throws {
        var bytes = Self.minimal
        Self.setField(&bytes, 24, 99)  // last_comp_version beyond what libfdt reads
        try expectUnusable(bytes, "version.dtb", mentioning: "version")
    }

    // Versions 2..15 in the header: libfdt 1.6.1's fdt_check_full dereferenced NULL on them
    // and `check` died of SIGSEGV; now each is one diagnostic saying why and how to fix it.
    @Test(arguments: [UInt32(2), 3, 15]) func versionBeforeSixteen(version: UInt32) throws {
        var bytes = Self.minimal
        Self.setField(&bytes, 20, version)
        Self.setField(&bytes, 24, min(version, 2))
        try expectUnusable(bytes, "v\(version).dtb", mentioning: "version \(version) predates 16")
        try expectUnusable(bytes, "v\(version).dtb", mentioning: "recompile the source with dtc")
    }

    // A second `devices` node (the agents node renamed in the blob, which dtc would refuse to
    // write): before, its devices were silently dropped; now an error naming the place.
    @Test func secondDevicesNodeIsAnError() throws {
        var bytes = Self.minimal
        let agents: [UInt8] = [0, 0, 0, 1] + Array("agents".utf8) + [0]
        let at = try #require((0...(bytes.count - agents.count)).first { Array(bytes[$0..<($0 + agents.count)]) == agents })
        bytes.replaceSubrange((at + 4)..<(at + 12), with: Array("devices".utf8) + [0])
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let blob = try directory.write("two-devices.dtb", bytes)
        let result = try scmiDT("check", "--format", "json", blob)
        #expect(result.status == 1, "\(result.output)")
        let findings = try parseFindings(result.stdout)
        #expect(
            findings.contains { $0.rule == "node-duplicate" && $0.severity == "error" && $0.path == "/firmware/scmi-vio-backend/devices" },
            "\(findings)")
    }

    @Test func overlappingBlocks() throws {
        var bytes = Self.minimal
        Self.setField(&bytes, 12, Self.field(bytes, 8))  // strings block starts where the structure block does
        try expectUnusable(bytes, "overlap.dtb")
    }

    @Test func missingFile() throws {
        let result = try scmiDT("check", "/nonexistent/board.dtb")
        #expect(result.status == 2)
        #expect(result.stdout.hasPrefix("/nonexistent/board.dtb: /: error[blob-unusable]: "))
    }

    /// Structurally valid blobs with broken values: exit 1, the node and property named.
    @Test(arguments: [
        ("arm,scmi-basedev = <&gpu>;", "arm,scmi-basedev = <&dev_usb>;", "basedev-in-backend", "device@2", "arm,scmi-basedev"),
        ("arm,scmi-basedev = <&gpu>;", "arm,scmi-basedev = <0x77>;", "phandle-dangling", "device@2", "arm,scmi-basedev"),
        ("arm,scmi-devid = <1>;", "arm,scmi-devid = /bits/ 16 <1>;", "property-type", "device@1", "arm,scmi-devid"),
        ("arm,scmi-devid = <2>;", "arm,scmi-devid = <2 0>;", "property-type", "device@2", "arm,scmi-devid"),
        ("arm,scmi-devname = \"usb\";", "arm,scmi-devname = [75 73 62];", "property-type", "device@1", "arm,scmi-devname"),
        ("clocks = <&ccu 1>, <&osc24m>;", "clocks = [00 00 00 02 00];", "property-type", "device@1", "clocks"),
    ])
    func brokenValues(_ edit: (String, String, String, String, String)) throws {
        let (old, new, rule, device, property) = edit
        let source = try String(contentsOfFile: examplePath("minimal.dts"), encoding: .utf8)
        try #require(source.contains(old))
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let blob = try directory.write("broken.dtb", compileDTS(source: source.replacingOccurrences(of: old, with: new)))
        let result = try scmiDT("check", "--format", "json", blob)
        #expect(result.status == 1, "\(result.output)")
        let findings = try parseFindings(result.stdout)
        #expect(
            findings.contains { $0.rule == rule && $0.path == "/firmware/scmi-vio-backend/devices/" + device && $0.property == property },
            "\(findings)")
    }

    @Test func clockCellsNotOneCell() throws {
        for cells in ["<1 0>", "/bits/ 8 <1>", "<4000>"] {
            let source = try String(contentsOfFile: examplePath("minimal.dts"), encoding: .utf8)
                .replacingOccurrences(of: "\t\t#clock-cells = <1>;\n\t\t#reset-cells", with: "\t\t#clock-cells = \(cells);\n\t\t#reset-cells")
            let directory = try TemporaryDirectory()
            defer { directory.cleanup() }
            let blob = try directory.write("cells.dtb", compileDTS(source: source))
            let result = try scmiDT("check", "--format", "json", blob)
            #expect(result.status == 1)
            let findings = try parseFindings(result.stdout)
            #expect(findings.contains { $0.rule == "provider-cells-invalid" && $0.property == "clocks" && $0.message.contains("/clock-controller@10000000") }, "\(cells): \(findings)")
        }
    }
}
