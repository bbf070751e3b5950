import Yams

/// Why the binding's YAML could not be compiled (a bug in the schema file or
/// a keyword this validator does not implement).
public struct SchemaError: Error, CustomStringConvertible {
    public var location: String
    public var message: String
    public var description: String { "schema " + location + ": " + message }
}

/// Turns the dt-schema YAML into `NodeSchema` values.
public enum SchemaCompiler {
    /// Keywords that carry no rule for a blob (documentation, identity, dt-schema plumbing).
    private static let inertKeywords: Set<String> = [
        "$id", "$schema", "title", "maintainers", "description", "examples", "select", "deprecated", "default",
    ]

    public static func compile(yaml text: String) throws(SchemaError) -> NodeSchema {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text, schemaResolver, nodesOnly, .utf8) else {
                throw SchemaError(location: "/", message: "empty document")
            }
            root = node
        } catch let error as SchemaError {
            throw error
        } catch {
            throw SchemaError(location: "/", message: "not YAML: \(error)")
        }
        return try compileNode(root, at: "")
    }

    private static func compileNode(_ node: Node, at location: String) throws(SchemaError) -> NodeSchema {
        guard let mapping = node.mapping else { throw SchemaError(location: location, message: "a node schema must be a mapping") }
        var nodeName: PropertySchema?
        var properties: [String: PropertySchema] = [:]
        var childNodes: [String: NodeSchema] = [:]
        var patternProperties: [(SchemaPattern, PropertySchema)] = []
        var patternChildNodes: [(SchemaPattern, NodeSchema)] = []
        var allowsAdditional = true
        var required: [String] = []
        var oneOf: [NodeSchema] = []
        var anyOf: [NodeSchema] = []
        var description: String?

        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw SchemaError(location: location, message: "non-string key") }
            let here = location + "/" + key
            switch key {
            case "properties":
                for (nameNode, entry) in try entries(value, at: here) {
                    let name = nameNode
                    if name == "$nodename" {
                        nodeName = try compileProperty(entry, at: here + "/" + name)
                    } else if isObjectSchema(entry) {
                        childNodes[name] = try compileNode(entry, at: here + "/" + name)
                    } else {
                        properties[name] = try compileProperty(entry, at: here + "/" + name)
                    }
                }
            case "patternProperties":
                for (source, entry) in try entries(value, at: here) {
                    let pattern = try makePattern(source, at: here)
                    if isObjectSchema(entry) {
                        patternChildNodes.append((pattern, try compileNode(entry, at: here + "/" + source)))
                    } else {
                        patternProperties.append((pattern, try compileProperty(entry, at: here + "/" + source)))
                    }
                }
            case "additionalProperties", "unevaluatedProperties":
                guard let allowed = ImplicitScalar.bool(value) else { throw SchemaError(location: here, message: "only true/false is supported") }
                allowsAdditional = allowed
            case "required":
                required = try strings(value, at: here)
            case "oneOf", "anyOf":
                guard let sequence = value.sequence else { throw SchemaError(location: here, message: "must be a list") }
                var alternatives: [NodeSchema] = []
                for (index, alternative) in sequence.enumerated() {
                    let compiled = try compileNode(alternative, at: here + "/\(index)")
                    // Alternatives are told apart by which properties are present; that is all
                    // this binding needs, and all the validator evaluates.
                    guard compiled.properties.isEmpty, compiled.childNodes.isEmpty, compiled.patternProperties.isEmpty,
                        compiled.patternChildNodes.isEmpty, compiled.oneOf.isEmpty, compiled.anyOf.isEmpty
                    else { throw SchemaError(location: here, message: "alternatives may only hold 'required'") }
                    alternatives.append(compiled)
                }
                if key == "oneOf" { oneOf = alternatives } else { anyOf = alternatives }
            case "type":
                guard value.string == "object" else { throw SchemaError(location: here, message: "a node schema has type: object") }
            case "description":
                description = value.string
            default:
                guard inertKeywords.contains(key) else {
                    throw SchemaError(location: here, message: "keyword '\(key)' is not implemented by scmi-dt's validator")
                }
            }
        }
        return NodeSchema(
            nodeName: nodeName, properties: properties, childNodes: childNodes, patternProperties: patternProperties,
            patternChildNodes: patternChildNodes, allowsAdditional: allowsAdditional, required: required, oneOf: oneOf,
            anyOf: anyOf, description: description)
    }

    private static func compileProperty(_ node: Node, at location: String) throws(SchemaError) -> PropertySchema {
        // `foo: true` allows the property with no constraint.
        if ImplicitScalar.bool(node) == true {
            return PropertySchema(
                type: nil, constValue: nil, enumValues: nil, minimum: nil, maximum: nil, pattern: nil, minItems: nil,
                maxItems: nil, items: nil, description: nil)
        }
        guard let mapping = node.mapping else { throw SchemaError(location: location, message: "a property schema must be a mapping") }
        var type: PropertyValueType?
        var constValue: SchemaScalar?
        var enumValues: [SchemaScalar]?
        var minimum: Int64?
        var maximum: Int64?
        var pattern: SchemaPattern?
        var minItems: Int?
        var maxItems: Int?
        var items: ItemsSchema?
        var description: String?

        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw SchemaError(location: location, message: "non-string key") }
            let here = location + "/" + key
            switch key {
            case "$ref":
                guard let ref = value.string else { throw SchemaError(location: here, message: "must be a string") }
                type = try typeFromReference(ref, at: here)
            case "type":
                guard value.string == "boolean" else { throw SchemaError(location: here, message: "only type: boolean is supported for properties") }
                type = .flag
            case "const":
                constValue = try scalar(value, at: here)
            case "enum":
                guard let sequence = value.sequence else { throw SchemaError(location: here, message: "must be a list") }
                var values: [SchemaScalar] = []
                for item in sequence { values.append(try scalar(item, at: here)) }
                enumValues = values
            case "minimum":
                minimum = try integer(value, at: here)
            case "maximum":
                maximum = try integer(value, at: here)
            case "pattern":
                guard let source = value.string else { throw SchemaError(location: here, message: "must be a string") }
                pattern = try makePattern(source, at: here)
            case "minItems":
                minItems = Int(try integer(value, at: here))
            case "maxItems":
                maxItems = Int(try integer(value, at: here))
            case "items":
                if let sequence = value.sequence {
                    var positional: [PropertySchema] = []
                    for (index, item) in sequence.enumerated() {
                        positional.append(try compileProperty(item, at: here + "/\(index)"))
                    }
                    items = .positional(positional)
                    // dt-schema's fixups: a list of item schemas fixes the count.
                    minItems = minItems ?? positional.count
                    maxItems = maxItems ?? positional.count
                } else {
                    items = .each(try compileProperty(value, at: here))
                }
            case "description":
                description = value.string
            default:
                guard inertKeywords.contains(key) else {
                    throw SchemaError(location: here, message: "keyword '\(key)' is not implemented by scmi-dt's validator")
                }
            }
        }
        return PropertySchema(
            type: type, constValue: constValue, enumValues: enumValues, minimum: minimum, maximum: maximum, pattern: pattern,
            minItems: minItems, maxItems: maxItems, items: items, description: description.map(Self.oneLine))
    }

    /// `/schemas/types.yaml#/definitions/uint32` → `.uint32`.
    private static func typeFromReference(_ ref: String, at location: String) throws(SchemaError) -> PropertyValueType {
        let prefix = "/schemas/types.yaml#/definitions/"
        guard ref.hasPrefix(prefix) else { throw SchemaError(location: location, message: "only types.yaml references are supported: \(ref)") }
        switch ref.dropFirst(prefix.count) {
        case "flag": return .flag
        case "string": return .string
        case "string-array", "non-unique-string-array": return .stringArray
        case "uint32": return .uint32
        case "int32": return .int32
        case "uint64": return .uint64
        case "uint32-array": return .uint32Array
        case "int32-array": return .int32Array
        case "uint64-array": return .uint64Array
        case "phandle": return .phandle
        case "phandle-array": return .phandleArray(cellsName: nil)
        default: throw SchemaError(location: location, message: "type \(ref) is not implemented by scmi-dt's validator")
        }
    }

    /// A mapping with `type: object` describes a child node.
    private static func isObjectSchema(_ node: Node) -> Bool {
        guard let mapping = node.mapping else { return false }
        for (key, value) in mapping where key.string == "type" { return value.string == "object" }
        return false
    }

    private static func entries(_ node: Node, at location: String) throws(SchemaError) -> [(String, Node)] {
        guard let mapping = node.mapping else { throw SchemaError(location: location, message: "must be a mapping") }
        var result: [(String, Node)] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw SchemaError(location: location, message: "non-string key") }
            result.append((name, value))
        }
        return result
    }

    private static func strings(_ node: Node, at location: String) throws(SchemaError) -> [String] {
        guard let sequence = node.sequence else { throw SchemaError(location: location, message: "must be a list of strings") }
        var result: [String] = []
        for item in sequence {
            guard let text = item.string else { throw SchemaError(location: location, message: "must be a list of strings") }
            result.append(text)
        }
        return result
    }

    /// No implicit typing by Yams: its resolver rules are ICU regular expressions, whose
    /// compilation (and the ICU code and tables it pulls in) was a tenth of checking a small
    /// board. Plain scalars come back as strings and `ImplicitScalar` types the two YAML
    /// types the schema uses, int and bool, as Yams's rules would.
    private static let schemaResolver = Resolver.basic

    /// Composing a document makes nodes only; Yams's default constructor, a table of closures
    /// that turn nodes into Foundation values (Data, Date, NSNull), is never asked for one, and
    /// building it instantiated those types' metadata at every start-up. For the same reason
    /// the encoding is given (UTF-8, what a Swift string holds) rather than `.default`, which
    /// reads the process environment through Foundation's `ProcessInfo`.
    private static var nodesOnly: Constructor { Constructor([:], [:], [:]) }

    private static func scalar(_ node: Node, at location: String) throws(SchemaError) -> SchemaScalar {
        guard node.scalar != nil else { throw SchemaError(location: location, message: "must be a scalar") }
        if let value = ImplicitScalar.integer(node) { return .number(Int64(value)) }
        if let text = node.string { return .string(text) }
        throw SchemaError(location: location, message: "must be a number or a string")
    }

    private static func integer(_ node: Node, at location: String) throws(SchemaError) -> Int64 {
        guard let value = ImplicitScalar.integer(node) else { throw SchemaError(location: location, message: "must be an integer") }
        return Int64(value)
    }

    private static func makePattern(_ source: String, at location: String) throws(SchemaError) -> SchemaPattern {
        do {
            return try SchemaPattern(source)
        } catch {
            throw SchemaError(location: location, message: "bad pattern \(source): \(error)")
        }
    }

    /// `text` with every run of whitespace made one space and none at either end. ASCII text
    /// (all of the schema's) is split on its six whitespace bytes: what splitting on
    /// `Character.isWhitespace` gives, without breaking the text into grapheme clusters.
    private static func oneLine(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let words = bytes.split { $0 == 0x20 || (0x09...0x0D).contains($0) }
        var line: [UInt8] = []
        line.reserveCapacity(bytes.count)
        for word in words {
            if !line.isEmpty { line.append(0x20) }
            line += word
        }
        return String(decoding: line, as: UTF8.self)
    }
}

/// YAML 1.1's implicit int and bool types (the forms of Yams's `Resolver.Rule.int` and
/// `.bool`), decided by a scan of the scalar instead of a regular expression. Only a plain
/// scalar with no explicit tag is typed; a quoted one stays a string.
enum ImplicitScalar {
    private static let boolSpellings: [String: Bool] = [
        "yes": true, "Yes": true, "YES": true, "no": false, "No": false, "NO": false,
        "true": true, "True": true, "TRUE": true, "false": false, "False": false, "FALSE": false,
        "on": true, "On": true, "ON": true, "off": false, "Off": false, "OFF": false,
    ]

    /// A plain scalar the basic resolver left a string, or nil for any other node.
    private static func plain(_ node: Node) -> Node.Scalar? {
        guard let scalar = node.scalar, scalar.tag.rawValue == Tag.Name.str.rawValue || scalar.tag.rawValue == Tag.Name.implicit.rawValue,
            scalar.style == .plain || scalar.style == .any else { return nil }
        return scalar
    }

    static func bool(_ node: Node) -> Bool? {
        if let scalar = node.scalar, scalar.tag.rawValue == Tag.Name.bool.rawValue { return Bool.construct(from: scalar) }
        guard let scalar = plain(node) else { return nil }
        return boolSpellings[scalar.string]
    }

    static func integer(_ node: Node) -> Int? {
        if let scalar = node.scalar, scalar.tag.rawValue == Tag.Name.int.rawValue { return Int.construct(from: scalar) }
        guard let scalar = plain(node), isInteger(Array(scalar.string.utf8)) else { return nil }
        return decimal(scalar.string) ?? Int.construct(from: scalar)
    }

    /// `[-+]?[1-9][0-9]*` read as Swift's `Int(_:)` reads it, which is what Yams's
    /// `Int.construct` answers for that form (nil on overflow in both); anything else (0, a
    /// leading 0, a radix prefix, `_`, base 60) is nil here and left to Yams, whose removal of
    /// `_` goes through Foundation and cost more than the rest of reading a number.
    private static func decimal(_ text: String) -> Int? {
        var digits = text.utf8[...]
        if let sign = digits.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { digits = digits.dropFirst() }
        guard let first = digits.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9"),
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int(text)
    }

    /// `[-+]?` then one of `0b[01_]+`, `0o?[0-7_]+`, `0`, `[1-9][0-9_]*`, `0x[0-9a-fA-F_]+`,
    /// or `[1-9][0-9_]*(:[0-5]?[0-9])+` (base 60).
    static func isInteger(_ text: [UInt8]) -> Bool {
        var digits = text[...]
        if let sign = digits.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { digits = digits.dropFirst() }
        guard let first = digits.first else { return false }
        func all(_ rest: ArraySlice<UInt8>, _ allowed: (UInt8) -> Bool) -> Bool { !rest.isEmpty && rest.allSatisfy(allowed) }
        let underscore = UInt8(ascii: "_")
        func decimal(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        if first == UInt8(ascii: "0") {
            let rest = digits.dropFirst()
            if rest.isEmpty { return true }
            switch rest.first {
            case UInt8(ascii: "b"): return all(rest.dropFirst()) { $0 == underscore || $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") }
            case UInt8(ascii: "x"):
                return all(rest.dropFirst()) { byte in
                    byte == underscore || decimal(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20)
                }
            case UInt8(ascii: "o"): return all(rest.dropFirst()) { $0 == underscore || (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }
            default: return all(rest) { $0 == underscore || (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }
            }
        }
        guard decimal(first), first != UInt8(ascii: "0") else { return false }
        var groups = digits.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)[...]
        guard let head = groups.popFirst(), head.allSatisfy({ $0 == underscore || decimal($0) }) else { return false }
        // Base 60: every further group is one or two digits, the first of two at most 5.
        return groups.allSatisfy { group in
            group.allSatisfy(decimal) && (group.count == 1 || (group.count == 2 && group.first! <= UInt8(ascii: "5")))
        }
    }
}
