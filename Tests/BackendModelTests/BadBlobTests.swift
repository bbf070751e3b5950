@testable import BackendModel
import Foundation
import Testing

/// Inputs that are not usable devicetrees: one blob-unusable error naming what was found.
@Suite struct BadBlobTests {
    /// `seed`: the random bytes' seed, named in every failure.
    func expectUnusable(_ bytes: [UInt8], mentioning words: [String], seed: TestSeed? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let result = BackendChecker.check(bytes: bytes, file: "bad.dtb")
        #expect(result.isUnusable, seed?.comment, sourceLocation: sourceLocation)
        #expect(result.diagnostics.count == 1, seed?.comment, sourceLocation: sourceLocation)
        #expect(result.diagnostics.first?.rule == "blob-unusable", seed?.comment, sourceLocation: sourceLocation)
        #expect(result.diagnostics.first?.path == "/", seed?.comment, sourceLocation: sourceLocation)
        let message = result.diagnostics.first?.message.lowercased() ?? ""
        for word in words { #expect(message.contains(word.lowercased()), "\(message)", sourceLocation: sourceLocation) }
    }

    @Test func emptyRandomAndTruncated() throws {
        expectUnusable([], mentioning: ["empty"])
        let seed = try TestSeed(default: 0xbad_b10b)
        var generator = seed.generator
        expectUnusable((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }, mentioning: [], seed: seed)
        let good = try compileDTS(String(contentsOfFile: examplePath("minimal.dts"), encoding: .utf8))
        expectUnusable(Array(good.prefix(good.count / 2)), mentioning: [])
        var magic = good
        magic[0] = 0xde
        expectUnusable(magic, mentioning: ["magic"])
    }

    @Test func missingFile() {
        let result = BackendChecker.check(blobAt: "/nonexistent/board.dtb")
        #expect(result.isUnusable)
        #expect(result.diagnostics.first?.file == "/nonexistent/board.dtb")
    }
}
