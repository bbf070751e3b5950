#if canImport(Glibc)
import Glibc
#endif
/// The subset of dt-schema (JSON Schema draft 2019-09 as devicetree bindings
/// use it) that schemas/arm,scmi-vio-backend.yaml is written in, compiled
/// once into plain values. `SchemaCompiler` refuses any keyword it does not
/// implement, so a rule added to the YAML is either enforced or a compile
/// error — never silently ignored.

/// How a property's bytes are decoded (types.yaml#/definitions/…).
public enum PropertyValueType: Hashable, Sendable, CustomStringConvertible {
    case flag
    case string
    case stringArray
    case uint32
    case int32
    case uint64
    case uint32Array
    case int32Array
    case uint64Array
    case phandle
    /// Phandles each followed by the provider's `cellsName` cells; nil: plain phandles.
    case phandleArray(cellsName: String?)
    /// `reg`, `ranges`: 32-bit cells (this binding only uses one-cell addresses).
    case cells

    public var description: String {
        switch self {
        case .flag: "flag"
        case .string: "string"
        case .stringArray: "string-array"
        case .uint32: "uint32"
        case .int32: "int32"
        case .uint64: "uint64"
        case .uint32Array: "uint32-array"
        case .int32Array: "int32-array"
        case .uint64Array: "uint64-array"
        case .phandle: "phandle"
        case .phandleArray: "phandle-array"
        case .cells: "cell array"
        }
    }
}

/// A `const`/`enum` value from the schema.
public enum SchemaScalar: Hashable, Sendable, CustomStringConvertible {
    case number(Int64)
    case string(String)

    public var description: String {
        switch self {
        case .number(let n): n > 9 ? "0x" + String(n, radix: 16) : String(n)
        case .string(let s): "\"" + s + "\""
        }
    }
}

/// A compiled `pattern` / `patternProperties` key. JSON Schema patterns are
/// unanchored searches; the schema anchors them itself where it means to.
public struct SchemaPattern: Sendable {
    public let source: String
    private let expression: PosixExpression
    /// The same expression without the C library, when it has the simple shape the
    /// binding's patterns have (see `BytePattern`); matched in its place.
    private let program: BytePattern?

    init(_ source: String) throws {
        self.source = source
        self.expression = try PosixExpression(source)
        self.program = BytePattern(PosixExpression.translate(source))
    }

    public func matches(_ text: String) -> Bool { program?.matches(text) ?? expression.matches(text) }

    /// What `matches` answers for the string whose UTF-8 is `bytes`, when it can be told
    /// without making that string (the pattern has a `BytePattern`); nil otherwise.
    func matches(bytes: UnsafeRawBufferPointer) -> Bool? { program?.matches(bytes: bytes) }

    /// Matches with the C library even when a `BytePattern` exists (for tests that compare both).
    func matchesWithRegexec(_ text: String) -> Bool { expression.matches(text) }

    /// Whether matching runs without the C library.
    var isCompiledToBytePattern: Bool { program != nil }
}

/// A schema pattern compiled by the C library's POSIX extended regular
/// expressions (regcomp/regexec): dt-schema writes Python `re` patterns, and
/// the binding's patterns (`^[ -~]{1,15}$`, `^device@(0x)?[0-9a-fA-F]+$`, …)
/// are also valid POSIX EREs. The two Python spellings ERE lacks that schemas
/// commonly use, `\d` and `(?:`, are rewritten; any other backslash class is
/// refused at compile time rather than matched differently. Matching is over
/// the string's UTF-8 bytes in the C locale (devicetree strings are bytes), so
/// `.` is one byte where Python's would be one character; the binding's
/// patterns never use `.`.
final class PosixExpression: @unchecked Sendable {
    // regexec on a compiled expression is thread-safe (POSIX); it is never modified after init.
    private let compiled: UnsafeMutablePointer<regex_t>

    struct SyntaxError: Error, CustomStringConvertible {
        var description: String
    }

    /// Python's `(?:` and `\d` in ERE spelling: each occurrence replaced, left to right, as
    /// Foundation's `replacingOccurrences` of one then the other would (neither spelling can
    /// appear or vanish by replacing the other), in one scan of bytes: Foundation's took a
    /// tenth of checking a small board, for the schema's dozen patterns.
    static func translate(_ pattern: String) -> String {
        let bytes = Array(pattern.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index...].starts(with: "(?:".utf8) {
                out.append(UInt8(ascii: "("))
                index += 3
            } else if bytes[index...].starts(with: "\\d".utf8) {
                out += "[0-9]".utf8
                index += 2
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The first backslash followed by an ASCII letter (`\w`, `\s`), which ERE lacks; a byte
    /// scan rather than a Swift `Regex`, whose compilation was a tenth of a small `check`.
    static func letterEscape(in pattern: String) -> String? {
        let bytes = Array(pattern.utf8)
        for index in bytes.indices.dropLast() where bytes[index] == UInt8(ascii: "\\") {
            let next = bytes[index + 1]
            if (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(next) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(next) {
                return "\\" + String(UnicodeScalar(next))
            }
        }
        return nil
    }

    init(_ pattern: String) throws {
        let translated = Self.translate(pattern)
        if let escape = Self.letterEscape(in: translated) {
            throw SyntaxError(description: "pattern \(pattern): \(escape) has no POSIX equivalent")
        }
        let expression = UnsafeMutablePointer<regex_t>.allocate(capacity: 1)
        let status = regcomp(expression, translated, REG_EXTENDED | REG_NOSUB)
        guard status == 0 else {
            var message = [CChar](repeating: 0, count: 256)
            let text = message.withUnsafeMutableBufferPointer { buffer in
                _ = regerror(status, expression, buffer.baseAddress, buffer.count)
                return String(cString: buffer.baseAddress!)
            }
            expression.deallocate()
            throw SyntaxError(description: "pattern \(pattern): \(text)")
        }
        compiled = expression
    }

    deinit {
        regfree(compiled)
        compiled.deallocate()
    }

    func matches(_ text: String) -> Bool {
        text.withCString { regexec(compiled, $0, 0, nil, 0) == 0 }
    }
}

/// The constraints on one property (or on one item of it, under `items`).
public final class PropertySchema: Sendable {
    /// From `$ref: /schemas/types.yaml#/definitions/…` or `type: boolean`; nil: a core property.
    public let type: PropertyValueType?
    public let constValue: SchemaScalar?
    public let enumValues: [SchemaScalar]?
    public let minimum: Int64?
    public let maximum: Int64?
    public let pattern: SchemaPattern?
    public let minItems: Int?
    public let maxItems: Int?
    public let items: ItemsSchema?
    public let description: String?

    init(
        type: PropertyValueType?, constValue: SchemaScalar?, enumValues: [SchemaScalar]?, minimum: Int64?, maximum: Int64?,
        pattern: SchemaPattern?, minItems: Int?, maxItems: Int?, items: ItemsSchema?, description: String?
    ) {
        self.type = type
        self.constValue = constValue
        self.enumValues = enumValues
        self.minimum = minimum
        self.maximum = maximum
        self.pattern = pattern
        self.minItems = minItems
        self.maxItems = maxItems
        self.items = items
        self.description = description
        constrainsValues = constValue != nil || enumValues != nil || minimum != nil || maximum != nil || pattern != nil
            || items != nil
    }

    /// True when a value can break this schema otherwise than by its type or its number of
    /// items (const, enum, minimum, maximum, pattern, items). Without such constraints the
    /// validator checks the shape and the count and never decodes the items.
    public let constrainsValues: Bool
}

public enum ItemsSchema: Sendable {
    /// `items: {…}`: every item.
    case each(PropertySchema)
    /// `items: [{…}, {…}]`: item i by schema i (and exactly that many items, as dt-schema's fixups make it).
    case positional([PropertySchema])
}

/// The constraints on one node (`type: object`).
public final class NodeSchema: Sendable {
    public let nodeName: PropertySchema?
    public let properties: [String: PropertySchema]
    public let childNodes: [String: NodeSchema]
    public let patternProperties: [(SchemaPattern, PropertySchema)]
    public let patternChildNodes: [(SchemaPattern, NodeSchema)]
    /// `additionalProperties` (false in every node of this binding).
    public let allowsAdditional: Bool
    public let required: [String]
    public let oneOf: [NodeSchema]
    public let anyOf: [NodeSchema]
    public let description: String?

    init(
        nodeName: PropertySchema?, properties: [String: PropertySchema], childNodes: [String: NodeSchema],
        patternProperties: [(SchemaPattern, PropertySchema)], patternChildNodes: [(SchemaPattern, NodeSchema)],
        allowsAdditional: Bool, required: [String], oneOf: [NodeSchema], anyOf: [NodeSchema], description: String?
    ) {
        self.nodeName = nodeName
        self.properties = properties
        self.childNodes = childNodes
        self.patternProperties = patternProperties
        self.patternChildNodes = patternChildNodes
        self.allowsAdditional = allowsAdditional
        self.required = required
        self.oneOf = oneOf
        self.anyOf = anyOf
        self.description = description
        let names = childNodes.map { (Array($0.key.utf8), $0.value) }
        asciiChildNodes = names.allSatisfy { $0.0.allSatisfy { $0 < 0x80 } } ? names : nil
    }

    /// `childNodes` keyed by UTF-8 bytes, when every key is ASCII (nil otherwise): for an ASCII
    /// name, String equality with an ASCII key is byte equality, so the validator can look a
    /// node name up without decoding it.
    let asciiChildNodes: [([UInt8], NodeSchema)]?

    /// `childSchema(named:)` for a name given as its bytes in the blob; nil when the answer
    /// needs the decoded name (a non-ASCII name, or a pattern left to the C library).
    func childSchema(nameBytes name: UnsafeRawBufferPointer) -> NodeSchema?? {
        guard let asciiChildNodes, name.allSatisfy({ $0 < 0x80 }) else { return nil }
        for (key, schema) in asciiChildNodes where key.elementsEqual(name) { return .some(schema) }
        for (pattern, schema) in patternChildNodes {
            guard let matched = pattern.matches(bytes: name) else { return nil }
            if matched { return .some(schema) }
        }
        return .some(nil)
    }

    /// The schema of a child node called `name`, if this node allows one.
    public func childSchema(named name: String) -> NodeSchema? {
        if let schema = childNodes[name] { return schema }
        for (pattern, schema) in patternChildNodes where pattern.matches(name) { return schema }
        return nil
    }

    /// The schema of a property called `name`, if this node allows one.
    public func propertySchema(named name: String) -> PropertySchema? {
        if let schema = properties[name] { return schema }
        for (pattern, schema) in patternProperties where pattern.matches(name) { return schema }
        return nil
    }

    /// Names the user may write here, for "did you mean" hints.
    var allowedPropertyNames: [String] {
        properties.keys.filter { $0 != "$nodename" }.sorted() + patternProperties.map { "/" + $0.0.source + "/" }
    }
}
