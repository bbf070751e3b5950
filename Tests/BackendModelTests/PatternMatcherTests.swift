@testable import BackendModel
import Testing

/// The schema's pattern engine against Swift's Regex on the same patterns and inputs.
@Suite struct PatternMatcherTests {
    static let patterns = [
        "^device@(0x)?[0-9a-fA-F]+$", "^[ -~]{1,15}$", "^[ -~]{1,63}$", "-supply$", "^/", "^protocol@(0x)?[0-9a-fA-F]+$",
        "^(clock|regulator)@[0-9a-f]+$", "a|b|", "^x*y?z+$", "^(ab){2,3}$", "^[^a-c]{2}\\.\\d$", "(?:foo)+bar", "^$", "\\w+-\\s?x",
        "^[a\\-z]$", "^.{3}$", "^[^x]{2}$", "^[ -~]{2,5}$", "^x+$", "^[ab]*$",
    ]

    @Test(arguments: patterns)
    func agreesWithSwiftRegex(_ pattern: String) throws {
        let ours = try PatternMatcher(pattern)
        let reference = try Regex(pattern)
        var generator = SplitMix(seed: UInt64(pattern.utf8.count) &* 0x9e37_79b9_7f4a_7c15)
        let alphabet = Array("device@0x1fAFgprotcl-supply/ abcxyz.9_-]\u{7f}\u{e9}\n")
        var inputs = ["", "device@1", "device@0x1A", "device@", "protocol@14", "vdd-supply", "/sys/x", "ababab", "xxyzz", "qq.5", "foobar", "a", "-", "]"]
        for _ in 0..<400 {
            let length = Int(generator.next() % 20)
            inputs.append(String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }))
        }
        inputs.append(String(repeating: "x", count: 70))
        for input in inputs {
            let expected = (try? reference.firstMatch(in: input)) != nil
            #expect(ours.matches(input) == expected, "\(pattern) on \(input.debugDescription)")
        }
    }

    @Test func unsupportedSyntaxIsRejected() {
        for pattern in ["(?<!x)y", "a{2", "*a", "[a-", "a+?", "\\p{L}", "(a", "a)"] {
            #expect(throws: PatternMatcher.SyntaxError.self, "\(pattern)") { try PatternMatcher(pattern) }
        }
    }

    /// Python's `re` takes a `]` right after `[` as a member (Swift's Regex does not).
    @Test func leadingBracketInClass() throws {
        let matcher = try PatternMatcher("^[]a]$")
        #expect(matcher.matches("]") && matcher.matches("a") && !matcher.matches("b"))
    }

    @Test func longInputsStayLinear() throws {
        let matcher = try PatternMatcher("^(a|a)*(a|a)*b$")
        #expect(!matcher.matches(String(repeating: "a", count: 10_000)))
        #expect(matcher.matches(String(repeating: "a", count: 10_000) + "b"))
    }
}

/// A tiny deterministic generator, so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
