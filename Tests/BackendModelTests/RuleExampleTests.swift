@testable import BackendModel
import Foundation
import Testing

/// examples/bad/<rule>.dts (and examples/warn/<rule>.dts): one realistic case per
/// rule, each naming the finding it must produce in an `expect:` line.
struct BadExample: CustomTestStringConvertible, Sendable {
    var file: String
    var rule: String
    var severity: String
    var path: String
    var property: String?

    var testDescription: String { rule }

    static let all: [BadExample] = load("bad")
    /// Warnings and notes: examples/warn.
    static let warnings: [BadExample] = load("warn")

    static func load(_ folder: String) -> [BadExample] {
        let directory = packageRoot.appendingPathComponent("examples/" + folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".dts") }.sorted().compactMap { name in
            let path = directory.appendingPathComponent(name).path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.contains("expect: ") && $0.contains("[") })
            else { return BadExample(file: path, rule: "?", severity: "?", path: "?", property: nil) }
            // " * expect: error[rule] at /path[:property]"
            let severity = String(line.split(separator: "expect: ", maxSplits: 1)[1].prefix { $0 != "[" })
            let afterBracket = line.split(separator: "[", maxSplits: 1)[1]
            let rule = String(afterBracket.prefix { $0 != "]" })
            let place = String(line.split(separator: " at ", maxSplits: 1)[1])
            let lastSlash = place.lastIndex(of: "/") ?? place.startIndex
            let colon = place[lastSlash...].firstIndex(of: ":")
            return BadExample(
                file: path, rule: rule, severity: severity, path: colon.map { String(place[..<$0]) } ?? place,
                property: colon.map { String(place[place.index(after: $0)...]) })
        }
    }
}

@Suite struct RuleExampleTests {
    @Test(arguments: BadExample.all)
    func badExampleProducesItsRule(_ example: BadExample) {
        #expect(URL(fileURLWithPath: example.file).deletingPathExtension().lastPathComponent == example.rule)
        let result = BackendChecker.check(blobAt: example.file, displayName: "bad.dts")
        #expect(
            result.diagnostics.contains { $0.rule == example.rule && $0.path == example.path && $0.property == example.property },
            "\(example.rule): \(result.summaryText)")
        #expect(result.hasErrors)
        #expect(result.tables == nil)
        #expect(result.isUnusable == (example.rule == "blob-unusable"))
    }

    @Test(arguments: BadExample.warnings)
    func warningExampleProducesItsRule(_ example: BadExample) {
        #expect(URL(fileURLWithPath: example.file).deletingPathExtension().lastPathComponent == example.rule)
        let result = BackendChecker.check(blobAt: example.file, displayName: "warn.dts")
        #expect(Rule(rawValue: example.rule)?.severity.rawValue == example.severity, "\(example.rule) is not a \(example.severity)")
        #expect(
            result.diagnostics.contains { $0.rule == example.rule && $0.path == example.path && $0.property == example.property },
            "\(example.rule): \(result.summaryText)")
        #expect(!result.hasErrors, "\(result.summaryText)")
        #expect(result.tables != nil)
    }

    /// Rules for what dtc refuses to write (repeated or misspelled names, a phandle claimed
    /// twice): no .dts can produce them, so TreeIntegrityTests corrupts a compiled board instead
    /// (and checks that dtc does refuse each of them).
    static let dtcCannotWrite: Set<Rule> = [.propertyDuplicate, .nodeDuplicate, .phandleDuplicate, .nameCharacters]

    @Test func everyErrorRuleHasABadExample() {
        let covered = Set(BadExample.all.map(\.rule))
        let missing = Rule.allCases.filter { $0.severity == .error && !covered.contains($0.id) && !Self.dtcCannotWrite.contains($0) }.map(\.id)
        #expect(missing.isEmpty, "error rules without examples/bad/<rule>.dts: \(missing)")
        let unknown = covered.subtracting(Rule.allCases.map(\.id))
        #expect(unknown.isEmpty, "examples for rules that do not exist: \(unknown)")
    }

    @Test func goodExamplesAreClean() {
        for name in ["board.dts", "minimal.dts"] {
            let result = BackendChecker.check(blobAt: examplePath(name))
            #expect(result.diagnostics.isEmpty, "\(name): \(result.summaryText)")
            #expect(result.tables != nil)
        }
    }

    /// docs/rules.md is the table the README shows; it must list exactly the rules.
    @Test func rulesDocumentListsEveryRule() throws {
        let text = try String(contentsOf: packageRoot.appendingPathComponent("docs/rules.md"), encoding: .utf8)
        for rule in Rule.allCases {
            #expect(text.contains("| `\(rule.id)` | \(rule.severity.rawValue) |"), "docs/rules.md lacks \(rule.id)")
        }
    }
}
