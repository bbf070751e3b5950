import DeviceTree

/// Applies the compiled binding schema to the backend subtree. Everything it
/// reports is a structural rule (`Rule.isStructural`); the semantic checks run
/// afterwards on the same nodes and read values through accessors that return
/// nil on malformed bytes, so a malformed property is reported once, here.
struct StructuralValidator {

    private var findings: DiagnosticCollector

    /// What a node schema says about a property name, worked out once per (node schema,
    /// name) rather than once per property: a tree of 100,000 devices has 100,000 `reg`
    /// properties but one device schema and a handful of names.
    private struct PropertyPlan {
        /// `status` and the phandles: not the schema's business.
        var isExempt: Bool
        var isRequired: Bool
        var schema: PropertySchema?
        /// How its bytes decode: the schema's type, else the core property's.
        var type: PropertyValueType?
    }

    /// Per node schema met (numbered by its place in `schemasMet`), per property name id of the tree.
    private var plans: [[PropertyPlan?]] = []
    /// The node schemas met so far: a binding has a dozen, so a search beats a dictionary,
    /// whose first use of a new key type costs a run-time conformance lookup at start-up.
    private var schemasMet: [ObjectIdentifier] = []

    init(file: String) { findings = DiagnosticCollector(file: file) }

    /// The plan for the property called `name` (name id `nameID` of the tree) under `schema`,
    /// from the table when the name was met before.
    private mutating func plan(nameID: Int32, name: @autoclosure () -> String, schema: NodeSchema, number: Int) -> PropertyPlan {
        let id = Int(nameID)
        if id >= 0, id < plans[number].count, let known = plans[number][id] { return known }
        let name = name()
        let propertySchema = schema.propertySchema(named: name)
        let plan = PropertyPlan(
            isExempt: name == "status" || name == "phandle" || name == "linux,phandle",
            isRequired: schema.required.contains(name), schema: propertySchema,
            type: propertySchema?.type ?? CoreProperties.type(of: name))
        if id >= 0 {
            if id >= plans[number].count { plans[number] += [PropertyPlan?](repeating: nil, count: id + 1 - plans[number].count) }
            plans[number][id] = plan
        }
        return plan
    }

    /// The number of `schema` in `plans`, a new one the first time.
    private mutating func number(of schema: NodeSchema) -> Int {
        if let number = schemasMet.firstIndex(of: ObjectIdentifier(schema)) { return number }
        plans.append([])
        schemasMet.append(ObjectIdentifier(schema))
        return plans.count - 1
    }

    var diagnostics: [Diagnostic] { findings.diagnostics }

    /// Validates `node` (the backend) and its enabled descendants against `schema`.
    mutating func validate(backend node: DeviceTreeNode, schema: NodeSchema) {
        // Name ids are the tree's own.
        plans = []
        schemasMet = []
        if let nameSchema = schema.nodeName {
            let name = node.name
            if let problem = valueProblem([.string(name)], nameSchema, context: "the node name") {
                findings.add(.nodeName, at: node, "\(problem)", hint: nameSchema.description)
            }
        }
        validate(node: node, schema: schema)
    }

    /// Properties are read by their position in the tree's index: a property that passes
    /// `accepts` (nearly all of them) is judged on its bytes, and only one that may break a
    /// rule becomes a `DeviceTreeProperty` and goes through the checks that word findings.
    private mutating func validate(node: DeviceTreeNode, schema: NodeSchema) {
        var requiredSeen = 0
        let number = number(of: schema)
        let tree = node.tree
        for position in node.propertyPositions {
            let nameID = tree.propertyNameID(at: position)
            let plan = plan(nameID: nameID, name: tree.propertyName(id: nameID), schema: schema, number: number)
            if plan.isExempt { continue }
            if plan.isRequired { requiredSeen += 1 }
            guard let propertySchema = plan.schema else {
                let name = tree.propertyName(id: nameID)
                if !schema.allowsAdditional {
                    findings.add(
                        .propertyUnknown, at: node, property: name, "property '\(name)' is not allowed in \(node.baseName) nodes",
                        hint: suggestion(for: name, among: schema.allowedPropertyNames))
                }
                continue
            }
            guard let type = plan.type else { continue }
            if Self.accepts(tree.propertyValue(at: position), as: type, schema: propertySchema) { continue }
            validate(property: tree.property(at: position), of: node, schema: propertySchema, type: type)
        }
        if requiredSeen < schema.required.count {
            for name in schema.required where !node.hasProperty(name) && node.child(named: name) == nil {
                findings.add(.propertyMissing, at: node, property: name, "required property '\(name)' is missing")
            }
        }
        checkAlternatives(node, schema.oneOf, exactlyOne: true)
        checkAlternatives(node, schema.anyOf, exactlyOne: false)
        var next = node.firstChild
        while let child = next {
            next = child.nextSibling
            let known = child.withNameBytes { schema.childSchema(nameBytes: $0) }
            guard let childSchema = known ?? schema.childSchema(named: child.name) else {
                if !schema.allowsAdditional {
                    let allowed = (schema.childNodes.keys.sorted() + schema.patternChildNodes.map { "/" + $0.0.source + "/" })
                    findings.add(
                        .nodeUnknown, at: child, "node '\(child.name)' is not allowed in \(node.baseName)",
                        hint: allowed.isEmpty ? "\(node.baseName) has no child nodes" : "allowed here: " + allowed.joined(separator: ", "))
                }
                continue
            }
            // A disabled node is checked no further than its name (docs/binding.md, Conventions).
            guard child.isEnabled else { continue }
            validate(node: child, schema: childSchema)
        }
    }

    /// True when `validate(property:of:schema:type:)` would find nothing wrong with a value of
    /// these bytes, told from the bytes alone; false when it might (then it runs and words the
    /// finding). Handles the shapes nearly every property has: a count of fixed-width items, and
    /// one ASCII string or one cell under const, enum, minimum, maximum and a byte pattern.
    /// Phandle arrays with argument cells and `items` lists always go the full way.
    static func accepts(_ value: UnsafeRawBufferPointer, as type: PropertyValueType, schema: PropertySchema) -> Bool {
        func countAllowed(_ count: Int) -> Bool {
            (schema.minItems.map { count >= $0 } ?? true) && (schema.maxItems.map { count <= $0 } ?? true)
        }
        if !schema.constrainsValues {
            if case .phandleArray(_?) = type { return false }
            guard let count = itemCount(bytes: value, as: type) else { return false }
            return countAllowed(count)
        }
        guard schema.items == nil, countAllowed(1) else { return false }
        switch type {
        case .string:
            // One NUL, the last byte; ASCII, so the decoded text has exactly these bytes.
            guard let last = value.last, last == 0, value.dropLast().allSatisfy({ $0 != 0 && $0 < 0x80 }) else { return false }
            let text = UnsafeRawBufferPointer(rebasing: value.dropLast())
            func isText(_ scalar: SchemaScalar) -> Bool {
                if case .string(let expected) = scalar { return expected.utf8.elementsEqual(text) }
                return false
            }
            if let expected = schema.constValue, !isText(expected) { return false }
            if let allowed = schema.enumValues, !allowed.contains(where: isText) { return false }
            if let pattern = schema.pattern, pattern.matches(bytes: text) != true { return false }
            return true
        case .uint32, .int32, .phandle:
            guard value.count == 4, schema.pattern == nil else { return false }
            let cell = UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))
            let number = type == .int32 ? Int64(Int32(bitPattern: cell)) : Int64(cell)
            if let expected = schema.constValue, expected != .number(number) { return false }
            if let allowed = schema.enumValues, !allowed.contains(.number(number)) { return false }
            if let minimum = schema.minimum, number < minimum { return false }
            if let maximum = schema.maximum, number > maximum { return false }
            return true
        default:
            return false
        }
    }

    /// Checks one property of any node (also host nodes, for the rate and step
    /// properties the binding lets providers carry) against its schema.
    mutating func validate(property: DeviceTreeProperty, of node: DeviceTreeNode, schema: PropertySchema) {
        validate(property: property, of: node, schema: schema, type: schema.type ?? CoreProperties.type(of: property.name))
    }

    private mutating func validate(property: DeviceTreeProperty, of node: DeviceTreeNode, schema: PropertySchema, type: PropertyValueType?) {
        let name = property.name
        guard let type else { return }
        if !schema.constrainsValues, let count = itemCount(property, as: type, in: node) {
            if case .success(let count) = count, let problem = countProblem(count, schema) {
                findings.add(.propertyCount, at: node, property: name, problem, hint: schema.description)
            }
            return
        }
        let items: [SchemaItem]
        switch decode(property, as: type, in: node) {
        case .malformed(let problem):
            findings.add(.propertyType, at: node, property: name, problem, hint: schema.description)
            return
        case .unresolvable:
            return  // phandle problems: the semantic checks name them precisely
        case .items(let decoded):
            items = decoded
        }
        if let problem = countProblem(items.count, schema) {
            findings.add(.propertyCount, at: node, property: name, problem, hint: schema.description)
        }
        if let problem = valueProblem(items, schema, context: nil) {
            findings.add(.propertyValue, at: node, property: name, problem, hint: schema.description)
        }
    }

    /// Checks a property found outside the schema's tree against it (true if it passed).
    mutating func validateHostProperty(_ property: DeviceTreeProperty, of node: DeviceTreeNode, schema: PropertySchema) -> Bool {
        let before = findings.diagnostics.count
        validate(property: property, of: node, schema: schema)
        return findings.diagnostics.count == before
    }

    private mutating func checkAlternatives(_ node: DeviceTreeNode, _ alternatives: [NodeSchema], exactlyOne: Bool) {
        guard !alternatives.isEmpty else { return }
        let satisfied = alternatives.filter { $0.required.allSatisfy { node.hasProperty($0) } }
        let choices = alternatives.map { $0.required.joined(separator: " + ") }
        let list = choices.count == 2 ? choices.joined(separator: " or ") : choices.joined(separator: ", ")
        if satisfied.isEmpty {
            findings.add(.propertyAlternatives, at: node, "\(exactlyOne ? "exactly one" : "one") of \(list) is required; found none")
        } else if exactlyOne && satisfied.count > 1 {
            let found = satisfied.map { $0.required.joined(separator: " + ") }.joined(separator: " and ")
            findings.add(.propertyAlternatives, at: node, "only one of \(list) may be given; found \(found)")
        }
    }

    private func countProblem(_ count: Int, _ schema: PropertySchema) -> String? {
        if let minimum = schema.minItems, count < minimum {
            return "has \(count) \(count == 1 ? "entry" : "entries"); at least \(minimum) required"
        }
        if let maximum = schema.maxItems, count > maximum {
            return "has \(count) entries; at most \(maximum) allowed"
        }
        return nil
    }

    /// The first value constraint `items` break, as words.
    private func valueProblem(_ items: [SchemaItem], _ schema: PropertySchema, context: String?) -> String? {
        let subject = context.map { $0 + " " } ?? ""
        if let expected = schema.constValue {
            if items.count != 1 || !items[0].equals(expected) {
                return "\(subject)must be \(expected), not \(describe(items))"
            }
        }
        for item in items {
            if let allowed = schema.enumValues, !allowed.contains(where: item.equals) {
                return "\(subject)\(item) is not one of " + allowed.map(\.description).joined(separator: ", ")
            }
            if case .number(let value) = item {
                if let minimum = schema.minimum, value < minimum { return "\(subject)\(formatNumber(value)) is below the minimum \(minimum)" }
                if let maximum = schema.maximum, value > maximum { return "\(subject)\(formatNumber(value)) is above the maximum \(maximum)" }
            }
            if let pattern = schema.pattern {
                guard case .string(let text) = item else { return "\(subject)\(item) is not a string" }
                if !pattern.matches(text) { return "\(subject)\(item) does not match '\(pattern.source)'" }
            }
        }
        switch schema.items {
        case .none:
            break
        case .each(let itemSchema):
            for item in items {
                if let problem = itemProblem(item, itemSchema) { return subject + problem }
            }
        case .positional(let itemSchemas):
            for (item, itemSchema) in zip(items, itemSchemas) {
                if let problem = itemProblem(item, itemSchema) { return subject + problem }
            }
        }
        return nil
    }

    private func itemProblem(_ item: SchemaItem, _ schema: PropertySchema) -> String? {
        let width: Int
        if case .row(let cells) = item { width = cells.count } else { width = 1 }
        if let problem = countProblem(width, schema) { return "entry \(item) " + problem }
        if case .row = item { return nil }
        return valueProblem([item], schema, context: nil)
    }

    private func describe(_ items: [SchemaItem]) -> String {
        items.map(\.description).joined(separator: ", ")
    }

    private func suggestion(for name: String, among allowed: [String]) -> String? {
        let candidates = allowed.filter { !$0.hasPrefix("/") }
        let best = candidates.map { ($0, editDistance($0, name)) }.min { $0.1 < $1.1 }
        if let (candidate, distance) = best, distance <= max(2, name.count / 5) {
            return "did you mean '\(candidate)'?"
        }
        return "allowed here: " + allowed.joined(separator: ", ")
    }
}

/// One decoded value a schema constraint looks at.
enum SchemaItem: CustomStringConvertible {
    case number(Int64)
    case string(String)
    /// One phandle-array entry: phandle and argument cells.
    case row([UInt32])

    func equals(_ scalar: SchemaScalar) -> Bool {
        switch (self, scalar) {
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        default: false
        }
    }

    var description: String {
        switch self {
        case .number(let n): n > 9 ? "0x" + String(n, radix: 16) : String(n)
        case .string(let s): "\"" + printable(s) + "\""
        case .row(let cells): "<" + cells.map { "0x" + String($0, radix: 16) }.joined(separator: " ") + ">"
        }
    }
}

enum Decoded {
    case items([SchemaItem])
    case malformed(String)
    /// A phandle-array whose phandles do not resolve (reported by the semantic checks).
    case unresolvable
}

/// How many items `decode` would find in a well-formed value, counted without decoding them;
/// nil when the value is malformed (then `decode` says why). A phandle array's entries are
/// counted by walking its phandles; one that does not resolve is `.failure`, which the
/// semantic checks report (as `decode`'s `.unresolvable`).
func itemCount(_ property: DeviceTreeProperty, as type: PropertyValueType, in node: DeviceTreeNode) -> Result<Int, SpecifierError>? {
    if case .phandleArray(let cellsName?) = type {
        guard property.count > 0, property.count % 4 == 0 else { return nil }
        // Walked on this very property when it is the node's first of its name (as a lookup by
        // name would find; a corrupt blob may repeat a name), without looking it up again.
        guard node.isFirstOfItsName(property) else {
            return node.specifierCount(of: property.name, cellsName: cellsName)
        }
        return node.specifierCount(of: property, cellsName: cellsName)
    }
    return itemCount(property, as: type).map { .success($0) }
}

/// `itemCount(_:as:in:)` for values whose items are counted from their bytes alone; nil also for
/// phandle arrays with argument cells.
func itemCount(_ property: DeviceTreeProperty, as type: PropertyValueType) -> Int? {
    property.withUnsafeBytes { itemCount(bytes: $0, as: type) }
}

/// `itemCount(_:as:)` for a value given as its bytes.
func itemCount(bytes: UnsafeRawBufferPointer, as type: PropertyValueType) -> Int? {
    let count = bytes.count
    switch type {
    case .flag: return count == 0 ? 0 : nil
    case .uint32, .int32, .phandle: return count == 4 ? 1 : nil
    case .uint64: return count == 8 ? 1 : nil
    case .uint32Array, .int32Array, .cells: return count > 0 && count % 4 == 0 ? count / 4 : nil
    case .uint64Array: return count > 0 && count % 8 == 0 ? count / 8 : nil
    case .phandleArray(let cellsName): return cellsName == nil && count > 0 && count % 4 == 0 ? count / 4 : nil
    case .string, .stringArray:
        // As `string` (one NUL, the last byte) and `stringList` (a NUL last) accept them.
        guard let last = bytes.last, last == 0 else { return nil }
        var nuls = 0
        for byte in bytes where byte == 0 { nuls += 1 }
        if case .string = type { return nuls == 1 ? 1 : nil }
        return nuls
    }
}

/// Decodes a property's bytes as `type`, or says in words why they are not one.
func decode(_ property: DeviceTreeProperty, as type: PropertyValueType, in node: DeviceTreeNode) -> Decoded {
    let count = property.count
    func bytes(_ n: Int) -> String { n == 1 ? "1 byte" : "\(n) bytes" }
    switch type {
    case .flag:
        return count == 0 ? .items([]) : .malformed("is a flag and takes no value, but has \(bytes(count))")
    case .string:
        if let text = property.string { return .items([.string(text)]) }
        return .malformed(stringProblem(property, expectOne: true))
    case .stringArray:
        if count > 0, let strings = property.stringList { return .items(strings.map(SchemaItem.string)) }
        return .malformed(stringProblem(property, expectOne: false))
    case .uint32, .phandle:
        guard let value = property.u32 else { return .malformed("is \(bytes(count)); a \(type) is 4 bytes (one cell)") }
        return .items([.number(Int64(value))])
    case .int32:
        guard let value = property.u32 else { return .malformed("is \(bytes(count)); an int32 is 4 bytes (one cell)") }
        return .items([.number(Int64(Int32(bitPattern: value)))])
    case .uint64:
        guard let value = property.u64 else { return .malformed("is \(bytes(count)); a uint64 is 8 bytes") }
        return .items([.number(Int64(clamping: value))])
    case .uint32Array, .cells:
        guard count > 0, let cells = property.u32Array else {
            return .malformed("is \(bytes(count)); a \(type) needs a non-zero multiple of 4 bytes")
        }
        return .items(cells.map { .number(Int64($0)) })
    case .int32Array:
        guard count > 0, let cells = property.u32Array else {
            return .malformed("is \(bytes(count)); an int32-array needs a non-zero multiple of 4 bytes")
        }
        return .items(cells.map { .number(Int64(Int32(bitPattern: $0))) })
    case .uint64Array:
        guard count > 0, let values = property.u64Array else {
            return .malformed("is \(bytes(count)); a uint64-array needs a non-zero multiple of 8 bytes (/bits/ 64)")
        }
        return .items(values.map { .number(Int64(clamping: $0)) })
    case .phandleArray(let cellsName):
        guard count > 0, let cells = property.u32Array else {
            return .malformed("is \(bytes(count)); a phandle array needs a non-zero multiple of 4 bytes")
        }
        guard let cellsName else { return .items(cells.map { .number(Int64($0)) }) }
        guard case .success(let specifiers)? = node.specifiers(of: property.name, cellsName: cellsName) else { return .unresolvable }
        return .items(specifiers.map { .row([$0.phandle] + $0.cells) })
    }
}

private func stringProblem(_ property: DeviceTreeProperty, expectOne: Bool) -> String {
    let bytes = property.bytes
    if bytes.isEmpty { return "is empty; a string needs at least its NUL terminator" }
    if bytes.last != 0 { return "is not NUL-terminated (\(bytes.count) bytes, last byte \(hex(bytes.last!))); not a string" }
    let strings = bytes.split(separator: 0, omittingEmptySubsequences: false).count - 1
    return expectOne ? "holds \(strings) strings; exactly one is expected" : "is not a list of NUL-terminated strings"
}

/// The text with control and non-ASCII characters escaped, safe to print in a message.
func printable(_ text: String) -> String {
    // Most names and values need no escape: then the text is its own printable form (a scan
    // of bytes instead of building a copy scalar by scalar, for every finding's path).
    if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") && $0 != UInt8(ascii: "\"") }) { return text }
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.value >= 0x20 && scalar.value < 0x7F && scalar != "\\" && scalar != "\"" {
            out.unicodeScalars.append(scalar)
        } else if scalar == "\\" || scalar == "\"" {
            out += "\\" + String(scalar)
        } else {
            out += "\\u{" + String(scalar.value, radix: 16) + "}"
        }
    }
    return out
}

/// Levenshtein distance, for "did you mean" hints (names are short).
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8), b = Array(b.utf8)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
