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
}
