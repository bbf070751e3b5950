@testable import BackendModel
import Foundation
import Testing

@Suite struct DiagnosticTests {
    @Test func renderedLineHasTheBindingsForm() {
        let diagnostic = Diagnostic(
            file: "board.dtb", path: "/firmware/scmi-vio-backend/devices/device@2", property: "clocks", severity: .error,
            rule: "phandle-dangling", message: "entry 2 refers to phandle 0x9f, which no node has", hint: "fix it")
        #expect(diagnostic.rendered == "board.dtb: /firmware/scmi-vio-backend/devices/device@2:clocks: error[phandle-dangling]: entry 2 refers to phandle 0x9f, which no node has")
        #expect(diagnostic.renderedWithHint.hasSuffix("\n  hint: fix it"))
        let whole = Diagnostic(file: "a.dtb", path: "/", severity: .warning, rule: "x", message: "m")
        #expect(whole.rendered == "a.dtb: /: warning[x]: m")
    }

    /// Names come from the blob: a newline cannot forge a second finding, ESC and the C1 and
    /// bidi controls cannot reach the terminal; µ and quoted values stay as they are.
    @Test func renderedLineEscapesNamesAndControls() {
        let forged = Diagnostic(
            file: "board.dtb", path: "/soc/a\nboard.dtb: /fake: error[x]: forged", property: "p\u{1b}[2J",
            severity: .error, rule: "r", message: "points at /x\ny\u{9b}1m \u{202e}txt, 1.8 µV \"ok\"", hint: "add #clock-cells to /a\rb")
        let text = forged.renderedWithHint
        #expect(text.split(separator: "\n").count == 2)  // the finding and its hint
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(!text.unicodeScalars.contains { (0x7F...0x9F).contains($0.value) || $0.value == 0x202E })
        #expect(forged.rendered == #"board.dtb: /soc/a\u{a}board.dtb: /fake: error[x]: forged:p\u{1b}[2J: error[r]: points at /x\u{a}y\u{9b}1m \u{202e}txt, 1.8 µV "ok""#)
        #expect(text.hasSuffix(#"hint: add #clock-cells to /a\u{d}b"#))
    }

    /// Past `parallelRenderingFrom` findings the second half is rendered on another thread: the
    /// text is each finding's lines in order, whatever the count; the summary counts each severity.
    @Test(arguments: [0, 1, Array<Diagnostic>.parallelRenderingFrom - 1, Array<Diagnostic>.parallelRenderingFrom + 1])
    func renderedLinesAreEveryFindingInOrder(count: Int) {
        let findings = (0..<count).map { index in
            Diagnostic(
                file: "board.dtb", path: "/soc/node@\(index)", severity: [.error, .warning, .note][index % 3], rule: "r",
                message: "finding \(index)", hint: index % 2 == 0 ? "hint \(index)" : nil)
        }
        #expect(findings.renderedLines == findings.map { $0.renderedWithHint + "\n" }.joined())
        let errors = (count + 2) / 3, warnings = (count + 1) / 3, notes = count / 3
        #expect(findings.summary.hasPrefix("\(errors) error"))
        #expect(findings.summary.contains("\(warnings) warning"))
        #expect(findings.summary.contains("note") == (notes > 0))
    }

    @Test func jsonIsParseableWithFixedKeys() throws {
        let diagnostics = [
            Diagnostic(file: "q\"uote\\.dtb", path: "/", severity: .error, rule: "r", message: "tab\there\nnl \u{1}"),
            Diagnostic(file: "b.dtb", path: "/a", property: "p", severity: .note, rule: "s", message: "m", hint: "h"),
        ]
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(diagnostics.json.utf8)) as? [[String: Any]])
        #expect(parsed.count == 2)
        #expect(Set(parsed[0].keys) == ["file", "path", "property", "severity", "rule", "message", "hint"])
        #expect(parsed[0]["file"] as? String == "q\"uote\\.dtb")
        #expect(parsed[0]["message"] as? String == "tab\there\nnl \u{1}")
        #expect(parsed[0]["property"] is NSNull)
        #expect(parsed[1]["hint"] as? String == "h")
        #expect([Diagnostic]().json == "[]")
    }

    @Test func summaryCountsBySeverity() {
        func make(_ severity: Severity) -> Diagnostic { Diagnostic(file: "f", path: "/", severity: severity, rule: "r", message: "m") }
        #expect([make(.error), make(.error), make(.warning)].summary == "2 errors, 1 warning")
        #expect([Diagnostic]().summary == "0 errors, 0 warnings")
        #expect([make(.note)].summary == "0 errors, 0 warnings, 1 note")
    }
}
