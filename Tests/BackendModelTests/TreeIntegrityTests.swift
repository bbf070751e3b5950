@testable import BackendModel
import DeviceTree
import Foundation
import Testing

/// examples/board.dts compiled by dtc, then corrupted the ways dtc never writes (and so no
/// examples/bad/*.dts can): names repeated, misspelled, phandles claimed twice. Offsets come
/// from the blob itself, so the edits follow the board when it changes.
struct BoardBlob {
    var bytes: [UInt8]

    init() throws {
        bytes = try compileDTS(String(contentsOfFile: examplePath("board.dts"), encoding: .utf8))
    }

    func word(_ offset: Int) -> Int { bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) } }

    mutating func setWord(_ offset: Int, _ value: Int) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * index)) }
    }

    var structStart: Int { word(8) }
    var stringsStart: Int { word(12) }

    /// Blob offset of the name of the node at `path`.
    func nameOffset(of path: String) throws -> Int {
        let node = try #require(try FlattenedDeviceTree(bytes: bytes).node(atPath: path), "no \(path)")
        return structStart + Int(node.offset) + 4
    }

    /// The FDT_PROP tags of the node at `path`: blob offset of each tag and the name it has.
    func propertyTags(of path: String) throws -> [(tag: Int, name: String)] {
        let nameStart = try nameOffset(of: path)
        var position = nameStart
        while bytes[position] != 0 { position += 1 }
        position = (position + 1 + 3) & ~3
        var tags: [(Int, String)] = []
        while word(position) == 3 {
            let length = word(position + 4)
            var end = stringsStart + word(position + 8)
            let start = end
            while bytes[end] != 0 { end += 1 }
            tags.append((position, String(decoding: bytes[start..<end], as: UTF8.self)))
            position = (position + 12 + length + 3) & ~3
        }
        return tags
    }

    /// Gives the property `from` of node `path` the name of its property `to`.
    mutating func renameProperty(of path: String, _ from: String, to: String) throws {
        let tags = try propertyTags(of: path)
        let source = try #require(tags.first { $0.name == from })
        let target = try #require(tags.first { $0.name == to })
        setWord(source.tag + 8, word(target.tag + 8))
    }

    /// Overwrites the name of the node at `path` in place: it must fit the old name's padded
    /// room; whole words left over become FDT_NOP tags, which every reader skips.
    mutating func renameNode(_ path: String, to name: String) throws {
        let start = try nameOffset(of: path)
        var oldLength = 0
        while bytes[start + oldLength] != 0 { oldLength += 1 }
        let room = (oldLength + 1 + 3) & ~3
        let used = (name.utf8.count + 1 + 3) & ~3
        #expect(used <= room, "\(name) does not fit where \(path)'s name is")
        for index in 0..<room { bytes[start + index] = 0 }
        for (index, byte) in name.utf8.enumerated() { bytes[start + index] = byte }
        for nop in stride(from: start + used, to: start + room, by: 4) { setWord(nop, 4) }
    }

    func check() -> CheckResult { BackendChecker.check(bytes: bytes, file: "board.dtb") }
}

@Suite struct TreeIntegrityTests {
    let device = devicesPath + "/device@2"

    @Test func boardIsCleanBeforeMutation() throws {
        let result = try BoardBlob().check()
        #expect(result.diagnostics.allSatisfy { $0.severity == .note }, "\(result.summaryText)")
    }

    // Two arm,scmi-devid on one device: before, the first silently won.
    @Test func repeatedPropertyIsAnError() throws {
        var blob = try BoardBlob()
        try blob.renameProperty(of: device, "reg", to: "arm,scmi-devid")
        let result = blob.check()
        #expect(result.has(.propertyDuplicate, at: device, property: "arm,scmi-devid"), "\(result.summaryText)")
        #expect(result.hasErrors)
        #expect(result.tables == nil)
        #expect(!result.isUnusable)
    }

    // A second `devices` node under the backend: before, its devices were silently dropped.
    @Test func secondNodeOfTheSameNameIsAnError() throws {
        var blob = try BoardBlob()
        try blob.renameNode(backendPath + "/agents", to: "devices")
        let result = blob.check()
        let findings = result.findings(.nodeDuplicate)
        #expect(findings.count == 1, "\(result.summaryText)")
        #expect(findings.first?.path == devicesPath)
        #expect(findings.first?.message.contains("structure offset") == true)
        #expect(result.hasErrors)
    }

    // Unit addresses are part of the name: device@1 and device@2 are different, two device@1 are not.
    @Test func siblingsDifferingOnlyInUnitAddressAreFineButEqualNamesAreNot() throws {
        var blob = try BoardBlob()
        try blob.renameNode(devicesPath + "/device@2", to: "device@1")
        let result = blob.check()
        #expect(result.has(.nodeDuplicate, at: devicesPath + "/device@1"), "\(result.summaryText)")
        #expect(result.findings(.nodeDuplicate).count == 1)
    }

    @Test(arguments: [
        ("gpu*13000000", "'*' at position 3"),
        ("gpu@13@00000", "second '@' at position 6"),
        ("gpu\u{7f}13000000", "byte 0x7f at position 3"),
        ("gpu 13000000", "byte 0x20 at position 3"),
    ])
    func badNodeNameCharacters(name: String, problem: String) throws {
        var blob = try BoardBlob()
        try blob.renameNode("/soc/gpu@13000000", to: name)
        let result = blob.check()
        let finding = try #require(result.findings(.nameCharacters).first, "\(result.summaryText)")
        #expect(finding.path == "/soc/" + name)
        #expect(finding.property == nil)
        #expect(finding.message.contains(problem), "\(finding.message)")
        #expect(result.hasErrors)
    }

    // A bad byte in the strings block misspells that property in every node that has it.
    @Test func badPropertyNameCharacters() throws {
        var blob = try BoardBlob()
        let tag = try #require(try blob.propertyTags(of: "/soc/gpu@13000000").first { $0.name == "mali-supply" })
        blob.bytes[blob.stringsStart + blob.word(tag.tag + 8) + 4] = UInt8(ascii: "=")
        let result = blob.check()
        #expect(result.has(.nameCharacters, at: "/soc/gpu@13000000", property: "mali=supply"), "\(result.summaryText)")
        #expect(result.findings(.nameCharacters).first?.message.contains("'=' at position 4") == true)
    }

    // The root's name is empty by definition; an empty name anywhere else is not.
    @Test func emptyNodeName() throws {
        var blob = try BoardBlob()
        try blob.renameNode("/soc/gpu@13000000", to: "")
        let result = blob.check()
        #expect(result.has(.nameCharacters, at: "/soc/"), "\(result.summaryText)")
        #expect(result.findings(.nameCharacters).first?.message.contains("empty") == true)
    }

    // Two nodes claim one phandle: every reference silently went to the first.
    @Test func duplicatePhandleIsAnError() throws {
        var blob = try BoardBlob()
        let first = try #require(try blob.propertyTags(of: "/soc/gpu@13000000").first { $0.name == "phandle" })
        let second = try #require(try blob.propertyTags(of: "/soc/display@14000000").first { $0.name == "phandle" })
        blob.setWord(second.tag + 12, blob.word(first.tag + 12))
        let result = blob.check()
        let finding = try #require(result.findings(.phandleDuplicate).first, "\(result.summaryText)")
        #expect(finding.path == "/soc/display@14000000")
        #expect(finding.property == "phandle")
        #expect(finding.message.contains("/soc/gpu@13000000"))
        #expect(result.hasErrors)
    }

    // A corrupt tree with a defect in every node: 20 listed, then one finding counting the rest,
    // so the output stays proportional to the blob however deep the nodes are.
    @Test func manyDefectsAreListedUpToALimit() throws {
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        for index in 0..<50 {
            try writer.beginNode("n\(index)")
            try writer.property("p", u32: 1)
            try writer.property("p", u32: 2)
            try writer.endNode()
        }
        try writer.endNode()
        let result = BackendChecker.check(bytes: try writer.finish(), file: "t.dtb")
        let findings = result.findings(.propertyDuplicate)
        #expect(findings.count == TreeIntegrity.listedPerRule + 1)
        #expect(findings.contains { $0.path == "/" && $0.message.hasPrefix("30 more property-duplicate findings") })
    }

    // The reason these rules have no examples/bad/<rule>.dts: dtc refuses to compile each.
    @Test(arguments: [
        "/ { p = <1>; p = <2>; };",
        "/ { a { }; a { x = <1>; }; };",
        "/ { a { phandle = <1>; }; b { phandle = <1>; }; };",
        "/ { a { linux,phandle = <1>; }; b { phandle = <1>; }; };",
        "/ { a*b { }; };",
        "/ { a@1@2 { }; };",
    ])
    func dtcRefusesWhatTheseRulesReport(body: String) {
        #expect(throws: DTCFailed.self) { try compileDTS("/dts-v1/;\n" + body) }
        #expect(RuleExampleTests.dtcCannotWrite == [.propertyDuplicate, .nodeDuplicate, .phandleDuplicate, .nameCharacters])
    }

    // The board with host nodes nested 100,000 deep checks clean on a test thread: the
    // integrity pass, the backend search and the validators walk with loops, not recursion.
    @Test func hundredThousandDeepBoardChecksClean() throws {
        let board = try FlattenedDeviceTree(bytes: BoardBlob().bytes)
        let writer = try FlattenedDeviceTreeWriter(initialCapacity: board.byteCount + 1_600_064)
        try writer.copy(board.root) { node throws(BlobError) in
            guard node == board.root else { return }
            for _ in 0..<100_000 { try writer.beginNode("level") }
            for _ in 0..<100_000 { try writer.endNode() }
        }
        let result = BackendChecker.check(bytes: try writer.finish(), file: "deep.dtb")
        #expect(result.diagnostics.allSatisfy { $0.severity == .note }, "\(result.summaryText)")
        #expect(result.tables != nil)
    }

    // Random byte changes in the board's structure and strings blocks (names, tags, values):
    // each check ends in findings or blob-unusable, never a trap, and every finding names a
    // place. Seeded (TestSeed), so a failure reproduces.
    @Test func mutatedBoardAlwaysEndsInFindings() throws {
        let board = try BoardBlob()
        let seed = try TestSeed(default: 0x5eed)
        var state = seed.value
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var unusable = 0, withErrors = 0
        for _ in 0..<400 {
            var bytes = board.bytes
            for _ in 0...next(4) {
                let position = board.structStart + next(bytes.count - board.structStart)
                bytes[position] = UInt8(truncatingIfNeeded: next(256))
            }
            let result = BackendChecker.check(bytes: bytes, file: "m.dtb")
            if result.isUnusable { unusable += 1 } else if result.hasErrors { withErrors += 1 }
            #expect(result.diagnostics.allSatisfy { $0.path.hasPrefix("/") && !$0.message.isEmpty }, seed.comment)
            _ = result.tables.map { tables in tables.clocks.map(\.providerPath) + tables.devices.map(\.path) }
        }
        #expect(unusable > 0 && withErrors > 0, "unusable \(unusable), with errors \(withErrors); \(seed)")
    }
}
