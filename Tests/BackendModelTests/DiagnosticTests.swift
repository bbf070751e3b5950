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
