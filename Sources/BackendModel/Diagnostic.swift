/// How bad a finding is. Errors fail `check` (exit 1); warnings fail it only with `--werror`.
public enum Severity: String, Sendable, Comparable, CaseIterable {
    case note, warning, error

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    private var rank: Int {
        switch self {
        case .note: 0
        case .warning: 1
        case .error: 2
        }
    }
}

/// One finding about one place in one blob (docs/binding.md §6).
public struct Diagnostic: Hashable, Sendable {
    /// The blob as the user named it.
    public var file: String
    /// Node path; "/" for whole-tree findings.
    public var path: String
    public var property: String?
    public var severity: Severity
    /// Stable rule id, e.g. "phandle-dangling" (docs/rules.md).
    public var rule: String
    public var message: String
    public var hint: String?

    public init(file: String, path: String, property: String? = nil, severity: Severity, rule: String, message: String, hint: String? = nil) {
        self.file = file
        self.path = path
        self.property = property
        self.severity = severity
        self.rule = rule
        self.message = message
        self.hint = hint
    }

    /// `board.dtb: /path:prop: error[rule]: message` — the compiler-style line, without the hint.
    ///
    /// Node and property names come from the blob, and a blob can put any byte in them: the
    /// path and property are escaped like property values (`printable`), and controls inside
    /// the message (which quotes paths) are escaped too, so that one finding is always one
    /// line and nothing reaches the terminal as an escape sequence.
    public var rendered: String {
        var line = TerminalText.escapingControls(file) + ": " + printable(path)
        if let property { line += ":" + printable(property) }
        line += ": " + severity.rawValue + "[" + rule + "]: " + TerminalText.escapingControls(message)
        return line
    }

    /// The rendered line, plus an indented `hint:` line when there is a hint.
    public var renderedWithHint: String {
        guard let hint else { return rendered }
        return rendered + "\n  hint: " + TerminalText.escapingControls(hint)
    }

    /// One JSON object with the keys of docs/binding.md §6, in a fixed order.
    public var json: String {
        var out = "{"
        out += "\"file\": " + JSON.quote(file)
        out += ", \"path\": " + JSON.quote(path)
        out += ", \"property\": " + (property.map(JSON.quote) ?? "null")
        out += ", \"severity\": " + JSON.quote(severity.rawValue)
        out += ", \"rule\": " + JSON.quote(rule)
        out += ", \"message\": " + JSON.quote(message)
        out += ", \"hint\": " + (hint.map(JSON.quote) ?? "null")
        out += "}"
        return out
    }
}

extension Array where Element == Diagnostic {
    /// "2 errors, 1 warning" (notes are counted only when there are some).
    public var summary: String {
        // Through a pointer: a closure given each element copies it (half a dozen strings retained).
        var (errors, warnings, notes) = (0, 0, 0)
        withUnsafeBufferPointer { findings in
            for index in findings.indices {
                switch findings.baseAddress![index].severity {
                case .error: errors += 1
                case .warning: warnings += 1
                case .note: notes += 1
                }
            }
        }
        var parts = [plural(errors, "error"), plural(warnings, "warning")]
        if notes > 0 { parts.append(plural(notes, "note")) }
        return parts.joined(separator: ", ")
    }

    /// Every finding's `renderedWithHint`, each ending in a newline. A check of a large tree
    /// may print tens of thousands: past `parallelRenderingFrom`, the second half is rendered on
    /// another thread meanwhile.
    public var renderedLines: String {
        guard count >= Self.parallelRenderingFrom else { return Self.render(self[...]) }
        let secondHalf = BackgroundWork { [part = self[(count / 2)...]] in Self.render(part) }
        return Self.render(self[..<(count / 2)]) + secondHalf.wait()
    }

    private static func render(_ findings: ArraySlice<Diagnostic>) -> String {
        var text = ""
        for index in findings.indices { text += findings[index].renderedWithHint + "\n" }
        return text
    }

    /// Findings from which `renderedLines` takes two threads.
    static let parallelRenderingFrom = 2048

    /// A JSON array of the findings, one object per line.
    public var json: String {
        if isEmpty { return "[]" }
        return "[\n" + map { "  " + $0.json }.joined(separator: ",\n") + "\n]"
    }
}

private func plural(_ n: Int, _ word: String) -> String {
    "\(n) \(word)" + (n == 1 ? "" : "s")
}

/// Text bound for a terminal or a log line.
public enum TerminalText {
    /// `text` with every character that could break a line or steer a terminal written as
    /// `\u{…}`: C0 controls (newline, carriage return, ESC …), DEL, C1 controls (U+0080–U+009F,
    /// which some terminals obey as CSI and OSC), and the Unicode bidirectional overrides
    /// and isolates (which reorder what the reader sees). Everything else, µ included,
    /// passes unchanged, so a message that already quotes values with `printable` is untouched.
    public static func escapingControls(_ text: String) -> String {
        // Printable ASCII (nearly every message) has none: one scan of bytes says so.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00..<0x20, 0x7F...0x9F, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}

/// Minimal JSON text helpers: the output formats need fixed key order, which
/// Foundation's encoders do not promise.
public enum JSON {
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
