/// A schema pattern compiled to a sequence of byte sets with repeat counts, matched
/// without the C library: the shape every pattern of the binding has
/// (`^[ -~]{1,63}$`, `^device@(0x)?[0-9a-fA-F]+$`, `-supply$`). glibc's regexec
/// expands `{1,63}` into a large automaton and costs thousands of instructions per
/// call; `check` matches a pattern for every device name of a tree, so this runs
/// the same expressions in a few instructions per byte. Patterns outside the shape
/// return nil from `init` and stay with `PosixExpression`; a test matches every
/// pattern of the schema both ways on the same strings.
///
/// The subset: an optional leading `^` and trailing `$`; literal bytes, `\`-escaped
/// punctuation, bracket expressions (`[a-z_-]`, `[^…]`); a parenthesised run of
/// literals followed by `?`; the quantifiers `?`, `*`, `+`, `{m}`, `{m,}`, `{m,n}`.
/// Semantics are POSIX ERE in the C locale, as `PosixExpression` uses it: bytes,
/// ranges by byte value, an unanchored pattern matches anywhere, the text ends at
/// its first NUL.
struct BytePattern: Sendable {
    /// One step: `count` in `minimum...maximum` bytes, each in `set`; or, for an
    /// optional group, `literal` once or not at all.
    struct Element: Sendable {
        var set = ByteSet()
        var minimum = 1
        var maximum = 1
        var literal: [UInt8] = []

        var isOptionalLiteral: Bool { !literal.isEmpty }
    }

    /// 256 bits: which bytes an element takes.
    struct ByteSet: Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

        func contains(_ byte: UInt8) -> Bool {
            let bit = UInt64(1) << UInt64(byte & 63)
            switch byte >> 6 {
            case 0: return words.0 & bit != 0
            case 1: return words.1 & bit != 0
            case 2: return words.2 & bit != 0
            default: return words.3 & bit != 0
            }
        }

        mutating func insert(_ byte: UInt8) {
            let bit = UInt64(1) << UInt64(byte & 63)
            switch byte >> 6 {
            case 0: words.0 |= bit
            case 1: words.1 |= bit
            case 2: words.2 |= bit
            default: words.3 |= bit
            }
        }

        mutating func invert() { words = (~words.0, ~words.1, ~words.2, ~words.3) }
    }

    private(set) var elements: [Element] = []
    private(set) var anchoredStart = false
    private(set) var anchoredEnd = false

    /// At most this many elements of variable length in an anchored pattern: matching
    /// backtracks over them, so their number bounds the work (the binding's patterns
    /// have at most two).
    static let variableElementLimit = 3

    /// Compiles `pattern` (already in ERE spelling), or nil when it uses anything
    /// outside the subset.
    init?(_ pattern: String) {
        var bytes = Array(pattern.utf8)[...]
        if bytes.first == UInt8(ascii: "^") {
            anchoredStart = true
            bytes = bytes.dropFirst()
        }
        if bytes.last == UInt8(ascii: "$"), !Self.isEscaped(bytes, at: bytes.endIndex - 1) {
            anchoredEnd = true
            bytes = bytes.dropLast()
        }
        var variable = 0
        while let byte = bytes.first {
            var element = Element()
            switch byte {
            case UInt8(ascii: "["):
                guard let (set, rest) = Self.bracket(bytes.dropFirst()) else { return nil }
                element.set = set
                bytes = rest
            case UInt8(ascii: "("):
                // Only `(literal)?`.
                bytes = bytes.dropFirst()
                var literal: [UInt8] = []
                while let next = bytes.first, next != UInt8(ascii: ")") {
                    guard let (literalByte, rest) = Self.literal(bytes) else { return nil }
                    literal.append(literalByte)
                    bytes = rest
                }
                guard !literal.isEmpty, bytes.first == UInt8(ascii: ")"),
                      bytes.dropFirst().first == UInt8(ascii: "?")
                else { return nil }
                bytes = bytes.dropFirst(2)
                element.literal = literal
                element.minimum = 0
                variable += 1
                elements.append(element)
                continue
            default:
                guard let (literalByte, rest) = Self.literal(bytes) else { return nil }
                element.set.insert(literalByte)
                bytes = rest
            }
            guard let (minimum, maximum, rest) = Self.quantifier(bytes) else { return nil }
            element.minimum = minimum
            element.maximum = maximum
            bytes = rest
            if minimum != maximum { variable += 1 }
            elements.append(element)
        }
        // Unanchored, matching restarts at every byte: one variable element at most then.
        guard variable <= (anchoredStart ? Self.variableElementLimit : 1) else { return nil }
    }

    /// True when `text` (up to its first NUL) has a match, as regexec would find.
    func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { utf8 in matches(bytes: UnsafeRawBufferPointer(utf8)) }
    }

    /// `matches(_:)` for text given as its UTF-8 bytes (a name or value in the blob).
    func matches(bytes text: UnsafeRawBufferPointer) -> Bool {
        let utf8 = text.bindMemory(to: UInt8.self)
        let end = utf8.firstIndex(of: 0) ?? utf8.count
        let bytes = UnsafeBufferPointer(rebasing: utf8[0..<end])
        // Through a buffer pointer, an element is read in place: copying one out of the array
        // would count a reference to its literal, at every step of every match.
        return elements.withUnsafeBufferPointer { elements in
            if anchoredStart { return match(bytes, elements, element: 0, at: 0) }
            for start in 0...bytes.count where match(bytes, elements, element: 0, at: start) { return true }
            return false
        }
    }

    /// Whether elements `element...` match `bytes` from `position` (to the end when anchored).
    private func match(
        _ bytes: UnsafeBufferPointer<UInt8>, _ elements: UnsafeBufferPointer<Element>, element index: Int, at position: Int
    ) -> Bool {
        guard index < elements.count else { return !anchoredEnd || position == bytes.count }
        if elements[index].isOptionalLiteral {
            let matched = elements[index].literal.withUnsafeBufferPointer { literal in
                position + literal.count <= bytes.count
                    && literal.indices.allSatisfy({ bytes[position + $0] == literal[$0] })
                    && match(bytes, elements, element: index + 1, at: position + literal.count)
            }
            return matched || match(bytes, elements, element: index + 1, at: position)
        }
        // Greedy: take as many as the set and the maximum allow, then give back.
        let minimum = elements[index].minimum
        let maximum = elements[index].maximum
        var taken = 0
        while taken < maximum, position + taken < bytes.count, elements[index].set.contains(bytes[position + taken]) {
            taken += 1
        }
        guard taken >= minimum else { return false }
        if minimum == maximum { return match(bytes, elements, element: index + 1, at: position + taken) }
        while true {
            if match(bytes, elements, element: index + 1, at: position + taken) { return true }
            if taken == minimum { return false }
            taken -= 1
        }
    }

    // MARK: - Parsing

    private static func isEscaped(_ bytes: ArraySlice<UInt8>, at index: Int) -> Bool {
        var backslashes = 0
        var position = index - 1
        while position >= bytes.startIndex, bytes[position] == UInt8(ascii: "\\") {
            backslashes += 1
            position -= 1
        }
        return backslashes % 2 == 1
    }

    /// One literal byte (plain, or `\` and punctuation), or nil for a special character.
    private static func literal(_ bytes: ArraySlice<UInt8>) -> (UInt8, ArraySlice<UInt8>)? {
        guard let byte = bytes.first else { return nil }
        if byte == UInt8(ascii: "\\") {
            guard let escaped = bytes.dropFirst().first, escaped < 0x80,
                  !(escaped >= UInt8(ascii: "0") && escaped <= UInt8(ascii: "9")),
                  !Self.isLetter(escaped)
            else { return nil }
            return (escaped, bytes.dropFirst(2))
        }
        guard !Array(".[]()*+?{}|^$".utf8).contains(byte) else { return nil }
        return (byte, bytes.dropFirst())
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
    }

    /// A bracket expression after its `[`: the set and what follows the `]`. Character
    /// classes (`[:alpha:]`), equivalence classes and collating symbols are left to regcomp.
    private static func bracket(_ input: ArraySlice<UInt8>) -> (ByteSet, ArraySlice<UInt8>)? {
        var bytes = input
        var set = ByteSet()
        var negated = false
        if bytes.first == UInt8(ascii: "^") {
            negated = true
            bytes = bytes.dropFirst()
        }
        var first = true
        while let byte = bytes.first {
            if byte == UInt8(ascii: "]") && !first { break }
            if byte == UInt8(ascii: "[") { return nil }
            first = false
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "-"), let high = bytes.dropFirst().first, high != UInt8(ascii: "]") {
                guard high >= byte, high != UInt8(ascii: "[") else { return nil }
                for member in byte...high { set.insert(member) }
                bytes = bytes.dropFirst(2)
            } else {
                set.insert(byte)
            }
        }
        guard bytes.first == UInt8(ascii: "]") else { return nil }
        if negated {
            set.invert()
            // regexec never sees a NUL: the text ends there.
        }
        return (set, bytes.dropFirst())
    }

    /// The repeat counts after an atom (1, 1 when none) and what follows them.
    private static func quantifier(_ bytes: ArraySlice<UInt8>) -> (Int, Int, ArraySlice<UInt8>)? {
        let unbounded = Int.max
        switch bytes.first {
        case UInt8(ascii: "?"): return Self.unlessRepeated((0, 1, bytes.dropFirst()))
        case UInt8(ascii: "*"): return Self.unlessRepeated((0, unbounded, bytes.dropFirst()))
        case UInt8(ascii: "+"): return Self.unlessRepeated((1, unbounded, bytes.dropFirst()))
        case UInt8(ascii: "{"):
            guard let close = bytes.firstIndex(of: UInt8(ascii: "}")) else { return nil }
            let inside = String(decoding: bytes[(bytes.startIndex + 1)..<close], as: UTF8.self)
            let parts = inside.split(separator: ",", omittingEmptySubsequences: false)
            guard let minimum = Int(parts[0]), minimum <= 255 else { return nil }
            let maximum: Int
            switch parts.count {
            case 1: maximum = minimum
            case 2 where parts[1].isEmpty: maximum = unbounded
            case 2:
                guard let value = Int(parts[1]), value >= minimum, value <= 255 else { return nil }
                maximum = value
            default: return nil
            }
            return Self.unlessRepeated((minimum, maximum, bytes[(close + 1)...]))
        default:
            return (1, 1, bytes)
        }
    }

    /// A quantifier on a quantifier (`a+?`, `a{2}*`) is not in the subset.
    private static func unlessRepeated(_ parsed: (Int, Int, ArraySlice<UInt8>)) -> (Int, Int, ArraySlice<UInt8>)? {
        if let next = parsed.2.first, Array("?*+{".utf8).contains(next) { return nil }
        return parsed
    }
}
