/// A small regular-expression engine for schema patterns (`pattern`,
/// `patternProperties`). Schema patterns are short ASCII expressions matched
/// against every node name and string of the backend, so they run as a Pike
/// VM over Unicode scalars (as Python's `re` does): linear time, no
/// backtracking blow-up, no Foundation.
///
/// Supported (a subset of Python's `re`, which dt-schema uses): literals,
/// `.`, `[...]`/`[^...]` with ranges, `\d \w \s` and escaped punctuation,
/// groups `(...)` and `(?:...)`, `|`, `* + ?`, `{m}`, `{m,}`, `{m,n}`,
/// `^` and `$`. Anything else is a compile error, never a silent mismatch.
struct PatternMatcher: Sendable {
    private let program: [Instruction]
    /// `^[set]{m,n}$` (the shape of every string pattern in the binding) decided by counting,
    /// since an NFA holds up to n threads for it.
    private let boundedRun: (set: ByteSet, min: Int, max: Int?)?

    struct SyntaxError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    init(_ pattern: String) throws(SyntaxError) {
        var parser = Parser(Array(pattern.utf8))
        let tree = try parser.parseAll()
        var program: [Instruction] = []
        Self.emit(tree, into: &program)
        program.append(.match)
        self.program = program
        if case .sequence(let parts) = tree, parts.count == 3, case .atStart = parts[0], case .atEnd = parts[2],
            case .repetition(let body, let minimum, let maximum) = parts[1], case .set(let set) = body
        {
            boundedRun = (set, minimum, maximum)
        } else {
            boundedRun = nil
        }
    }

    /// True when the pattern matches somewhere in `text` (JSON Schema `pattern` semantics).
    func matches(_ text: String) -> Bool {
        if let (set, minimum, maximum) = boundedRun {
            var count = 0
            for scalar in text.unicodeScalars {
                guard set.contains(scalar.value) else { return false }
                count += 1
            }
            return count >= minimum && count <= (maximum ?? Int.max)
        }
        let size = program.count
        // Scratch on the stack: this runs for every node name and string in the backend.
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: 5 * size + 2) { scratch in
            let marks = UnsafeMutableBufferPointer(rebasing: scratch[0..<size])
            var current = UnsafeMutableBufferPointer(rebasing: scratch[size..<(2 * size)])
            var next = UnsafeMutableBufferPointer(rebasing: scratch[(2 * size)..<(3 * size)])
            let stack = UnsafeMutableBufferPointer(rebasing: scratch[(3 * size)...])
            marks.initialize(repeating: -1)
            var currentCount = 0
            var nextCount = 0

            /// Follows jumps, splits and assertions from `start`, appending the byte-consuming
            /// instructions reached to `list`; true when the match instruction is reached.
            func add(_ list: UnsafeMutableBufferPointer<Int32>, _ count: inout Int, _ start: Int, step: Int32, atStart: Bool, atEnd: Bool) -> Bool {
                var depth = 0
                stack[depth] = Int32(start)
                depth += 1
                while depth > 0 {
                    depth -= 1
                    let pc = Int(stack[depth])
                    guard marks[pc] != step else { continue }
                    marks[pc] = step
                    switch program[pc] {
                    case .match:
                        return true
                    case .jump(let target):
                        stack[depth] = Int32(target)
                        depth += 1
                    case .split(let first, let second):
                        stack[depth] = Int32(second)
                        stack[depth + 1] = Int32(first)
                        depth += 2
                    case .atStart:
                        if atStart { stack[depth] = Int32(pc + 1); depth += 1 }
                    case .atEnd:
                        if atEnd { stack[depth] = Int32(pc + 1); depth += 1 }
                    case .byte:
                        list[count] = Int32(pc)
                        count += 1
                    }
                }
                return false
            }

            var scalars = text.unicodeScalars.makeIterator()
            var upcoming = scalars.next()
            var position: Int32 = 0
            while true {
                // Unanchored search: a new thread may start at every position.
                if add(current, &currentCount, 0, step: 2 * position, atStart: position == 0, atEnd: upcoming == nil) { return true }
                guard let scalar = upcoming?.value else { return false }
                upcoming = scalars.next()
                nextCount = 0
                for index in 0..<currentCount {
                    let pc = Int(current[index])
                    if case .byte(let set) = program[pc], set.contains(scalar) {
                        if add(next, &nextCount, pc + 1, step: 2 * position + 1, atStart: false, atEnd: upcoming == nil) { return true }
                    }
                }
                // Threads now in `next` must not be added again by the next start thread.
                for index in 0..<nextCount { marks[Int(next[index])] = 2 * (position + 1) }
                swap(&current, &next)
                currentCount = nextCount
                position += 1
            }
        }
    }

    // MARK: - Program

    enum Instruction: Sendable {
        case byte(ByteSet)
        case split(Int, Int)
        case jump(Int)
        case atStart
        case atEnd
        case match
    }

    /// A set of scalars: an explicit set of the first 256, and whether it holds all the others
    /// (true only for `.` and negated classes).
    struct ByteSet: Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var holdsScalarsAbove255 = false

        func contains(_ scalar: UInt32) -> Bool {
            scalar > 255 ? holdsScalarsAbove255 : contains(UInt8(scalar))
        }

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

        mutating func insert(_ range: ClosedRange<UInt8>) { for byte in range { insert(byte) } }

        mutating func formUnion(_ other: ByteSet) {
            words = (words.0 | other.words.0, words.1 | other.words.1, words.2 | other.words.2, words.3 | other.words.3)
            holdsScalarsAbove255 = holdsScalarsAbove255 || other.holdsScalarsAbove255
        }

        var inverted: ByteSet {
            ByteSet(words: (~words.0, ~words.1, ~words.2, ~words.3), holdsScalarsAbove255: !holdsScalarsAbove255)
        }
    }

    indirect enum Node {
        case set(ByteSet)
        case sequence([Node])
        case alternatives([Node])
        case repetition(Node, min: Int, max: Int?)
        case atStart
        case atEnd
    }

    private static func emit(_ node: Node, into program: inout [Instruction]) {
        switch node {
        case .set(let set):
            program.append(.byte(set))
        case .atStart:
            program.append(.atStart)
        case .atEnd:
            program.append(.atEnd)
        case .sequence(let nodes):
            for node in nodes { emit(node, into: &program) }
        case .alternatives(let nodes):
            // split L1, next; L1: a; jmp end; next: split L2, …
            var jumps: [Int] = []
            for (index, node) in nodes.enumerated() {
                if index == nodes.count - 1 {
                    emit(node, into: &program)
                } else {
                    let split = program.count
                    program.append(.split(split + 1, -1))
                    emit(node, into: &program)
                    jumps.append(program.count)
                    program.append(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repetition(let body, let minimum, let maximum):
            for _ in 0..<minimum { emit(body, into: &program) }
            if let maximum {
                // Each optional copy: split body, end.
                var splits: [Int] = []
                for _ in minimum..<maximum {
                    splits.append(program.count)
                    program.append(.split(program.count + 1, -1))
                    emit(body, into: &program)
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                let loop = program.count
                program.append(.split(loop + 1, -1))
                emit(body, into: &program)
                program.append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }

    // MARK: - Parser

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func parseAll() throws(SyntaxError) -> Node {
            let node = try parseAlternatives()
            guard position == bytes.count else { throw SyntaxError(message: "unexpected ')' at \(position)") }
            return node
        }

        mutating func parseAlternatives() throws(SyntaxError) -> Node {
            var alternatives = [try parseSequence()]
            while peek == UInt8(ascii: "|") {
                position += 1
                alternatives.append(try parseSequence())
            }
            return alternatives.count == 1 ? alternatives[0] : .alternatives(alternatives)
        }

        mutating func parseSequence() throws(SyntaxError) -> Node {
            var nodes: [Node] = []
            while let byte = peek, byte != UInt8(ascii: "|"), byte != UInt8(ascii: ")") {
                var atom = try parseAtom()
                atom = try parseQuantifier(atom)
                nodes.append(atom)
            }
            return .sequence(nodes)
        }

        mutating func parseAtom() throws(SyntaxError) -> Node {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "^"): return .atStart
            case UInt8(ascii: "$"): return .atEnd
            case UInt8(ascii: "."):
                var set = ByteSet()
                set.insert(10)
                return .set(set.inverted)  // anything but '\n'

            case UInt8(ascii: "("):
                if bytes[position...].starts(with: Array("?:".utf8)) {
                    position += 2
                } else if peek == UInt8(ascii: "?") {
                    throw SyntaxError(message: "group syntax (?… at \(position) is not supported")
                }
                let inner = try parseAlternatives()
                guard peek == UInt8(ascii: ")") else { throw SyntaxError(message: "missing ')'") }
                position += 1
                return inner
            case UInt8(ascii: "["):
                return .set(try parseClass())
            case UInt8(ascii: "\\"):
                return .set(try parseEscape())
            case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{"):
                throw SyntaxError(message: "nothing to repeat at \(position - 1)")
            default:
                var set = ByteSet()
                set.insert(byte)
                return .set(set)
            }
        }

        mutating func parseQuantifier(_ atom: Node) throws(SyntaxError) -> Node {
            guard let byte = peek else { return atom }
            var minimum = 0
            var maximum: Int?
            switch byte {
            case UInt8(ascii: "*"): position += 1
            case UInt8(ascii: "+"): position += 1; minimum = 1
            case UInt8(ascii: "?"): position += 1; maximum = 1
            case UInt8(ascii: "{"):
                position += 1
                minimum = try parseNumber()
                if peek == UInt8(ascii: ",") {
                    position += 1
                    maximum = peek == UInt8(ascii: "}") ? nil : try parseNumber()
                } else {
                    maximum = minimum
                }
                guard peek == UInt8(ascii: "}") else { throw SyntaxError(message: "bad {m,n} at \(position)") }
                position += 1
                if let maximum, maximum < minimum || maximum > 1000 { throw SyntaxError(message: "bad repetition bounds") }
            default:
                return atom
            }
            if peek == UInt8(ascii: "?") || peek == UInt8(ascii: "+") {
                throw SyntaxError(message: "lazy or possessive quantifiers are not supported")
            }
            if case .atStart = atom { throw SyntaxError(message: "cannot repeat an anchor") }
            return .repetition(atom, min: minimum, max: maximum)
        }

        mutating func parseNumber() throws(SyntaxError) -> Int {
            var value = 0
            var digits = 0
            while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 5 {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                position += 1
            }
            guard digits > 0 else { throw SyntaxError(message: "expected a number at \(position)") }
            return value
        }

        /// After `[`: members up to `]`.
        mutating func parseClass() throws(SyntaxError) -> ByteSet {
            var set = ByteSet()
            let negated = peek == UInt8(ascii: "^")
            if negated { position += 1 }
            var first = true
            while true {
                guard let byte = peek else { throw SyntaxError(message: "missing ']'") }
                if byte == UInt8(ascii: "]") && !first { position += 1; break }
                first = false
                position += 1
                var low = byte
                if byte == UInt8(ascii: "\\") {
                    let escaped = try parseEscape()
                    guard let single = escaped.single else { set.formUnion(escaped); continue }
                    low = single
                }
                if peek == UInt8(ascii: "-"), position + 1 < bytes.count, bytes[position + 1] != UInt8(ascii: "]") {
                    position += 1
                    var high = bytes[position]
                    position += 1
                    if high == UInt8(ascii: "\\") {
                        guard let single = try parseEscape().single else { throw SyntaxError(message: "bad range end") }
                        high = single
                    }
                    guard low <= high else { throw SyntaxError(message: "bad range in class") }
                    set.insert(low...high)
                } else {
                    set.insert(low)
                }
            }
            return negated ? set.inverted : set
        }

        /// After `\`.
        mutating func parseEscape() throws(SyntaxError) -> ByteSet {
            guard let byte = peek else { throw SyntaxError(message: "trailing backslash") }
            position += 1
            var set = ByteSet()
            switch byte {
            case UInt8(ascii: "d"): set.insert(UInt8(ascii: "0")...UInt8(ascii: "9"))
            case UInt8(ascii: "w"):
                set.insert(UInt8(ascii: "0")...UInt8(ascii: "9"))
                set.insert(UInt8(ascii: "a")...UInt8(ascii: "z"))
                set.insert(UInt8(ascii: "A")...UInt8(ascii: "Z"))
                set.insert(UInt8(ascii: "_"))
            case UInt8(ascii: "s"): for space in [9, 10, 11, 12, 13, 32] as [UInt8] { set.insert(space) }
            case UInt8(ascii: "n"): set.insert(10)
            case UInt8(ascii: "t"): set.insert(9)
            default:
                guard !(byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) && !(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    && !(byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                else { throw SyntaxError(message: "escape \\\(Character(Unicode.Scalar(byte))) is not supported") }
                set.insert(byte)
            }
            return set
        }
    }
}

extension PatternMatcher.ByteSet {
    /// The one byte this set holds, if it holds exactly one.
    var single: UInt8? {
        var found: UInt8?
        for byte in 0...255 where contains(UInt8(byte)) {
            if found != nil { return nil }
            found = UInt8(byte)
        }
        return found
    }
}
