@testable import BackendModel
import Testing

/// Schema patterns run on the C library's POSIX regular expressions; they must
/// answer as dt-schema's Python `re` would. Swift's Regex stands in for `re`
/// on the syntax the two share.
@Suite struct SchemaPatternTests {
    static let patterns = [
        "^device@(0x)?[0-9a-fA-F]+$", "^[ -~]{1,15}$", "^[ -~]{1,63}$", "-supply$", "^/", "^protocol@(0x)?[0-9a-fA-F]+$",
        "^(clock|regulator)@[0-9a-f]+$", "^x*y?z+$", "^(ab){2,3}$", "^[^a-c]{2}\\.\\d$", "(?:foo)+bar", "^$",
        "^.{3}$", "^[^x]{2}$", "^[ -~]{2,5}$", "^x+$", "^[ab]*$",
    ]

    @Test(arguments: patterns)
    func agreesWithPythonStyleRegex(_ pattern: String) throws {
        let ours = try SchemaPattern(pattern)
        let reference = try Regex(pattern)
        let seed = try TestSeed(default: UInt64(pattern.utf8.count) &* 0x9e37_79b9_7f4a_7c15)
        var generator = seed.generator
        // ASCII without newline: there `.` is one byte for POSIX and one character for Python alike.
        let alphabet = Array("device@0x1fAFgprotcl-supply/ abcxyz.9_-]\u{7f}")
        var inputs = ["", "device@1", "device@0x1A", "device@", "protocol@14", "vdd-supply", "/sys/x", "ababab", "xxyzz", "qq.5", "foobar", "a", "-", "]"]
        for _ in 0..<400 {
            let length = Int(generator.next() % 20)
            inputs.append(String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }))
        }
        inputs.append(String(repeating: "x", count: 70))
        for input in inputs {
            let expected = (try? reference.firstMatch(in: input)) != nil
            #expect(ours.matches(input) == expected, "\(pattern) on \(input.debugDescription); \(seed)")
        }
    }

    /// A pattern POSIX cannot say is a schema compile error, never a silent mismatch.
    @Test func unsupportedSyntaxIsRejected() {
        for pattern in ["\\p{L}", "\\w+", "a{2", "(a", "[a-"] {
            #expect(throws: (any Error).self, "\(pattern)") { try SchemaPattern(pattern) }
        }
    }

    /// The binding's name patterns on names a board would really have.
    @Test func bindingNames() throws {
        let printable15 = try SchemaPattern("^[ -~]{1,15}$")
        #expect(printable15.matches("vm-ivi") && printable15.matches(String(repeating: "x", count: 15)))
        #expect(!printable15.matches("") && !printable15.matches(String(repeating: "x", count: 16)))
        #expect(!printable15.matches("vm\u{e9}") && !printable15.matches("tab\there"))
        let device = try SchemaPattern("^device@(0x)?[0-9a-fA-F]+$")
        #expect(device.matches("device@1f") && device.matches("device@0x1F") && !device.matches("device@") && !device.matches("devices"))
    }

    /// Patterns of the simple shape run without regexec (`BytePattern`); on any string they
    /// must answer exactly as regexec does, bytes outside ASCII and an embedded NUL included.
    @Test(arguments: patterns + ["^[A-Za-z0-9_][A-Za-z0-9._-]{0,14}$", "^a\\.b$", "[]a]+$", "^[^ -~]$", "x{3,}$", "^(0x)?(0x)?1$"])
    func bytePatternAgreesWithRegexec(_ pattern: String) throws {
        let compiled = try SchemaPattern(pattern)
        let seed = try TestSeed(default: UInt64(pattern.utf8.count) &* 0x2545_f491_4f6c_dd1d)
        var generator = seed.generator
        let alphabet = Array("device@0x1fAFgprotcl-supply/ abcxyz.9_-]\u{7f}\u{e9}\n\t\u{0}")
        var inputs = ["", "device@0x", "0x0x1", "a.b", "xxx", "]]a", "\u{e9}", "x\u{0}y"]
        for _ in 0..<600 {
            let length = Int(generator.next() % 24)
            inputs.append(String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }))
        }
        for input in inputs {
            #expect(compiled.matches(input) == compiled.matchesWithRegexec(input), "\(pattern) on \(input.debugDescription); \(seed)")
        }
    }

    /// Every pattern of the binding's schema has the simple shape: check matches none with regexec.
    @Test func bindingPatternsAvoidRegexec() throws {
        let schema = try BackendChecker.schema.get()
        var seen = 0
        func visit(_ node: NodeSchema) {
            for (pattern, property) in node.patternProperties {
                #expect(pattern.isCompiledToBytePattern, "\(pattern.source)")
                seen += 1
                visit(property)
            }
            for property in node.properties.values { visit(property) }
            for (pattern, child) in node.patternChildNodes {
                #expect(pattern.isCompiledToBytePattern, "\(pattern.source)")
                seen += 1
                visit(child)
            }
            for child in node.childNodes.values { visit(child) }
            for alternative in node.oneOf + node.anyOf { visit(alternative) }
        }
        func visit(_ property: PropertySchema) {
            if let pattern = property.pattern {
                #expect(pattern.isCompiledToBytePattern, "\(pattern.source)")
                seen += 1
            }
            switch property.items {
            case .each(let item)?: visit(item)
            case .positional(let items)?: items.forEach(visit)
            case nil: break
            }
        }
        visit(schema)
        if let name = schema.nodeName { visit(name) }
        #expect(seen >= 8, "the schema's patterns were not all found (\(seen))")
    }
}
