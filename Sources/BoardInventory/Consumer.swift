import DeviceTree

/// An enabled device node that consumes clocks, supplies, resets or power domains.
public struct Consumer: Sendable {
    public var node: DeviceTreeNode
    public var path: String
    public var label: String?
    public var compatible: [String]
    /// Every reference in property order (`clocks`, then each `*-supply`, `resets`,
    /// `power-domains` as they appear in the node).
    public var references: [Reference]

    /// nil when the node has no resource property.
    init?(node: DeviceTreeNode, label: String?, labels: Labels) {
        var references: [Reference] = []
        for property in node.properties {
            let name = property.name
            if let kind = Reference.Kind(property: name) {
                references += Reference.read(kind, of: node, labels: labels)
            } else if Self.isSupply(name) {
                references.append(Reference.supply(name, of: node, labels: labels))
            }
        }
        guard !references.isEmpty else { return nil }
        self.node = node
        path = node.path
        self.label = label
        compatible = node.compatible
        self.references = references
    }

    /// `vdd-supply`, `vin-supply`: a name before `-supply`.
    static func isSupply(_ name: String) -> Bool { name.utf8.count > 7 && name.hasSuffix("-supply") }

    /// References that resolved to a provider.
    public var resolved: [Reference] { references.filter { $0.problem == nil } }
}

/// One entry of a consumer's resource property, resolved to its provider.
public struct Reference: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case clock, supply, reset, powerDomain = "power-domain"

        init?(property: String) {
            switch property {
            case "clocks": self = .clock
            case "resets": self = .reset
            case "power-domains": self = .powerDomain
            default: return nil
            }
        }

        /// The phandle-array property, its provider's `#…-cells` and its names property.
        var property: String { self == .powerDomain ? "power-domains" : rawValue + "s" }
        var cellsName: String { "#" + rawValue + "-cells" }
        var namesProperty: String { rawValue + "-names" }
    }

    public var kind: Kind
    /// The consumer's property (`clocks`, `vdd-supply`).
    public var property: String
    /// Entry number within the property (0 for a supply).
    public var index: Int
    /// What the consumer calls it: `clock-names[index]`, the supply's name, `reset-names[index]`.
    public var name: String?
    public var provider: DeviceTreeNode?
    public var providerPath: String?
    public var providerLabel: String?
    public var cells: [UInt32]
    /// The resource's own name: `clock-output-names[cell]` or `regulator-name`.
    public var resourceName: String?
    /// Why the reference does not resolve (a hole, a dangling phandle, a supply that is not a
    /// regulator); nil when it does.
    public var problem: String?

    /// The entries of a phandle-array property; holes (`<0>`) are listed with their problem.
    static func read(_ kind: Kind, of node: DeviceTreeNode, labels: Labels) -> [Reference] {
        let names = node.property(kind.namesProperty)
        func name(_ index: Int) -> String? { names?.string(at: index) }
        switch node.specifiers(of: kind.property, cellsName: kind.cellsName, allowingHoles: true) {
        case .none:
            return []
        case .failure(let error)?:
            return [Reference(kind: kind, property: kind.property, index: 0, name: nil, cells: [], problem: error.description)]
        case .success(let entries)?:
            var result: [Reference] = []
            var expected = 0
            for entry in entries {
                // A skipped hole used up an index: list it, so the numbering matches the blob.
                while expected < entry.index {
                    result.append(Reference(kind: kind, property: kind.property, index: expected, name: name(expected), cells: [], problem: "entry \(expected) is an empty (0) phandle"))
                    expected += 1
                }
                var reference = Reference(kind: kind, property: kind.property, index: entry.index, name: name(entry.index), cells: entry.cells)
                reference.resolve(entry.provider, labels: labels)
                if kind == .clock {
                    let outputs = entry.provider.property("clock-output-names")
                    reference.resourceName = outputs?.string(at: entry.cells.count == 1 ? Int(entry.cells[0]) : 0)
                }
                result.append(reference)
                expected = entry.index + 1
            }
            // Holes after the last entry: each is one cell the entries did not use.
            let used = entries.reduce(0) { $0 + 1 + $1.cells.count } + (expected - entries.count)
            let total = node.property(kind.property)?.cellCount ?? 0
            for index in expected..<(expected + max(total - used, 0)) {
                result.append(Reference(kind: kind, property: kind.property, index: index, name: name(index), cells: [], problem: "entry \(index) is an empty (0) phandle"))
            }
            return result
        }
    }

    /// A `*-supply`: one phandle of a regulator node.
    static func supply(_ property: String, of node: DeviceTreeNode, labels: Labels) -> Reference {
        var reference = Reference(
            kind: .supply, property: property, index: 0, name: String(property.dropLast("-supply".count)), cells: [])
        guard let value = node.property(property), let phandle = value.u32 else {
            reference.problem = "is not one phandle"
            return reference
        }
        guard phandle != 0, let regulator = node.tree.node(withPhandle: phandle) else {
            reference.problem = phandle == 0 ? "is an empty (0) phandle" : "refers to phandle 0x\(String(phandle, radix: 16)), which no node has"
            return reference
        }
        reference.resolve(regulator, labels: labels)
        reference.resourceName = regulator.property("regulator-name")?.string
        if !Regulator.isRegulator(regulator) { reference.problem = "refers to \(regulator.path), which is not a regulator" }
        return reference
    }

    init(kind: Kind, property: String, index: Int, name: String?, cells: [UInt32], problem: String? = nil) {
        self.kind = kind
        self.property = property
        self.index = index
        self.name = name
        self.cells = cells
        self.problem = problem
    }

    mutating func resolve(_ provider: DeviceTreeNode, labels: Labels) {
        self.provider = provider
        providerPath = provider.path
        providerLabel = labels[provider]
    }
}

/// Node → label, from `__symbols__` (present when the blob was built with `dtc -@`).
/// One lookup per symbol, each costing its path's length: linear in `__symbols__`.
struct Labels: Sendable {
    private var byNode: [Int: String] = [:]
    let hasSymbols: Bool

    init(tree: FlattenedDeviceTree) {
        guard let symbols = tree.node(atPath: "/__symbols__") else {
            hasSymbols = false
            return
        }
        hasSymbols = true
        for property in symbols.properties {
            guard let path = property.string, path.hasPrefix("/"), let node = tree.node(atPath: path) else { continue }
            // Several labels on one node: keep the first in __symbols__ order.
            if byNode[node.index] == nil { byNode[node.index] = property.name }
        }
    }

    subscript(node: DeviceTreeNode) -> String? { byNode[node.index] }
}

/// `assigned-clock-rates` of every node: provider index → specifier cells → Hz (first wins).
struct AssignedRates: Sendable {
    var rates: [Int: [[UInt32]: UInt64]] = [:]

    mutating func collect(_ node: DeviceTreeNode) {
        guard let values = node.property("assigned-clock-rates")?.u32Array,
            case .success(let clocks)? = node.specifiers(of: "assigned-clocks", cellsName: "#clock-cells", allowingHoles: true)
        else { return }
        // Holes use up an index: pair rates with entries by their index in the property.
        for clock in clocks where clock.index < values.count && values[clock.index] > 0 {
            if rates[clock.provider.index]?[clock.cells] == nil {
                rates[clock.provider.index, default: [:]][clock.cells] = UInt64(values[clock.index])
            }
        }
    }
}

/// The rates of fixed clocks: `fixed-clock`'s `clock-frequency`, and `fixed-factor-clock`
/// from its parent (memoised; followed at most 16 levels, so a loop cannot recurse forever).
struct FixedRates {
    private var memo: [Int: UInt64?] = [:]

    mutating func rate(of node: DeviceTreeNode, depth: Int = 0) -> UInt64? {
        if let known = memo[node.index] { return known }
        guard depth < 16 else { return nil }
        var rate: UInt64?
        let compatible = node.compatible
        if compatible.contains("fixed-clock") {
            rate = node.property("clock-frequency")?.u32.flatMap { $0 > 0 ? UInt64($0) : nil }
        } else if compatible.contains("fixed-factor-clock"),
            case .success(let parents)? = node.specifiers(of: "clocks", cellsName: "#clock-cells"),
            let parent = parents.first, parent.provider != node,
            let parentRate = self.rate(of: parent.provider, depth: depth + 1),
            let mult = node.property("clock-mult")?.u32, let div = node.property("clock-div")?.u32, div > 0
        {
            let (product, overflow) = parentRate.multipliedReportingOverflow(by: UInt64(mult))
            if !overflow { rate = product / UInt64(div) }
        }
        memo[node.index] = rate
        return rate
    }
}
