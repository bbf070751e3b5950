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

/// One finding about one place in one blob (binding.md section 6).
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
    public var rendered: String {
        var line = file + ": " + path
        if let property { line += ":" + property }
        line += ": " + severity.rawValue + "[" + rule + "]: " + message
        return line
    }

    /// The rendered line, plus an indented `hint:` line when there is a hint.
    public var renderedWithHint: String {
        guard let hint else { return rendered }
        return rendered + "\n  hint: " + hint
    }

    /// One JSON object with the keys of binding.md section 6, in a fixed order.
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
        let errors = count { $0.severity == .error }
        let warnings = count { $0.severity == .warning }
        let notes = count { $0.severity == .note }
        var parts = [plural(errors, "error"), plural(warnings, "warning")]
        if notes > 0 { parts.append(plural(notes, "note")) }
        return parts.joined(separator: ", ")
    }

    /// A JSON array of the findings, one object per line.
    public var json: String {
        if isEmpty { return "[]" }
        return "[\n" + map { "  " + $0.json }.joined(separator: ",\n") + "\n]"
    }
}

private func plural(_ n: Int, _ word: String) -> String {
    "\(n) \(word)" + (n == 1 ? "" : "s")
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
