import DeviceTree

/// Collects the findings of one blob. Rules carry their own severity, so a
/// call site names only the rule, the place and the words.
struct DiagnosticCollector {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    mutating func add(_ rule: Rule, at path: String, property: String? = nil, _ message: String, hint: String? = nil) {
        diagnostics.append(
            Diagnostic(file: file, path: path, property: property, severity: rule.severity, rule: rule.id, message: message, hint: hint))
    }

    mutating func add(_ rule: Rule, at node: DeviceTreeNode, property: String? = nil, _ message: String, hint: String? = nil) {
        add(rule, at: node.path, property: property, message, hint: hint)
    }

    /// Findings made apart (by another collector of the same file), in their order.
    mutating func append(_ made: ArraySlice<Diagnostic>) {
        diagnostics.append(contentsOf: made)
    }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

/// `12` or `300 (0x12c)`: decimal, with hex where hex is how devicetrees are usually read.
func formatNumber<T: BinaryInteger>(_ value: T) -> String {
    if value >= 0 && value < 10 { return String(value) }
    if value < 0 { return String(value) }
    return String(value) + " (0x" + String(value, radix: 16) + ")"
}

func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }
