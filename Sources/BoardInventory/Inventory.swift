import DeviceTree

/// What a board's devicetree offers and who uses it (docs/board.md): the providers of clocks,
/// regulators, resets, power domains, OPP tables and sensors, the host's own SCMI platform
/// nodes, and every enabled device node that consumes clocks, supplies, resets or power
/// domains, each reference resolved to its provider.
///
/// Built in one pass over the nodes in tree order. Per node the work is bounded by its own
/// properties and the references it makes, and labels come from one pass over `__symbols__`,
/// so time and memory are linear in the blob (no path is built for a node that is not listed).
public struct BoardInventory: Sendable {
    public var clockProviders: [ClockProvider] = []
    public var regulators: [Regulator] = []
    public var resetProviders: [Provider] = []
    public var powerDomainProviders: [Provider] = []
    public var oppTables: [OPPTable] = []
    public var sensorProviders: [SensorProvider] = []
    public var scmiPlatforms: [SCMIPlatformNode] = []
    /// Enabled nodes (their ancestors enabled too) with at least one resource property.
    public var consumers: [Consumer] = []
    /// True when the blob has `__symbols__` (it was built with `dtc -@`): labels are known.
    public var hasSymbols: Bool

    /// Reads the inventory of `tree`. Never fails: a reference that cannot be resolved is
    /// listed with its problem, as the board's own defect.
    public init(tree: FlattenedDeviceTree) {
        let labels = Labels(tree: tree)
        hasSymbols = labels.hasSymbols
        var assigned = AssignedRates()
        var enabled = [Bool](repeating: true, count: tree.nodeCount)
        var rates = FixedRates()
        tree.forEachNode { node in
            let parentEnabled = node.parent.map { enabled[$0.index] } ?? true
            enabled[node.index] = parentEnabled && node.isEnabled
            assigned.collect(node)
        }
        tree.forEachNode { node in
            guard !node.name.hasPrefix("__") || node.index == 0 else { return }
            let label = labels[node]
            if node.hasProperty("#clock-cells") {
                clockProviders.append(ClockProvider(node: node, label: label, rates: &rates, assigned: assigned))
            }
            if Regulator.isRegulator(node) { regulators.append(Regulator(node: node, label: label)) }
            if let cells = node.property("#reset-cells")?.u32 {
                resetProviders.append(Provider(node: node, label: label, cells: cells))
            }
            if let cells = node.property("#power-domain-cells")?.u32 {
                powerDomainProviders.append(Provider(node: node, label: label, cells: cells))
            }
            if node.compatible.contains("operating-points-v2") { oppTables.append(OPPTable(node: node, label: label)) }
            if let sensor = SensorProvider(node: node, label: label) { sensorProviders.append(sensor) }
            if let platform = SCMIPlatformNode(node: node, label: label) { scmiPlatforms.append(platform) }
            if enabled[node.index], let consumer = Consumer(node: node, label: label, labels: labels) {
                consumers.append(consumer)
            }
        }
    }

    /// The consumer at `reference`: a label (`usb0`, `&usb0`) or an absolute path.
    public func consumer(named reference: String) -> Consumer? {
        let name = reference.hasPrefix("&") ? String(reference.dropFirst()) : reference
        if name.hasPrefix("/") {
            let trimmed = name.count > 1 && name.hasSuffix("/") ? String(name.dropLast()) : name
            return consumers.first { $0.path == trimmed }
        }
        return consumers.first { $0.label == name }
    }
}

/// Fields every provider shares.
public struct Provider: Sendable {
    public var node: DeviceTreeNode
    public var path: String
    public var label: String?
    public var compatible: [String]
    /// `#…-cells`.
    public var cells: UInt32

    init(node: DeviceTreeNode, label: String?, cells: UInt32) {
        self.node = node
        path = node.path
        self.label = label
        compatible = node.compatible
        self.cells = cells
    }
}

/// A node with `#clock-cells`.
public struct ClockProvider: Sendable {
    public var provider: Provider
    public var outputNames: [String]
    /// The rate of a `fixed-clock`, or of a `fixed-factor-clock` whose parent's rate is known.
    public var fixedRate: UInt64?
    /// `assigned-clock-rates` anywhere in the tree for this provider's clocks: cells → Hz.
    public var assignedRates: [[UInt32]: UInt64]

    init(node: DeviceTreeNode, label: String?, rates: inout FixedRates, assigned: AssignedRates) {
        provider = Provider(node: node, label: label, cells: node.property("#clock-cells")?.u32 ?? 0)
        outputNames = node.property("clock-output-names")?.stringList ?? []
        fixedRate = rates.rate(of: node)
        assignedRates = assigned.rates[node.index] ?? [:]
    }
}

/// A regulator node (regulator-name, regulator-min/max-microvolt, or a regulator-* compatible).
public struct Regulator: Sendable {
    public var node: DeviceTreeNode
    public var path: String
    public var label: String?
    public var name: String?
    public var minMicrovolts: UInt32?
    public var maxMicrovolts: UInt32?
    public var alwaysOn: Bool
    public var bootOn: Bool
    /// The parent supply (`vin-supply` or any other `*-supply` of the regulator).
    public var supplyPath: String?

    init(node: DeviceTreeNode, label: String?) {
        self.node = node
        path = node.path
        self.label = label
        name = node.property("regulator-name")?.string
        minMicrovolts = node.property("regulator-min-microvolt")?.u32
        maxMicrovolts = node.property("regulator-max-microvolt")?.u32
        alwaysOn = node.hasProperty("regulator-always-on")
        bootOn = node.hasProperty("regulator-boot-on")
        let supply = node.properties.first { Consumer.isSupply($0.name) }
        supplyPath = supply.flatMap { $0.u32 }.flatMap { node.tree.node(withPhandle: $0) }?.path
    }

    /// What a regulator is for this inventory: what the backend binding accepts behind a
    /// `*-supply` (docs/binding.md §3).
    public static func isRegulator(_ node: DeviceTreeNode) -> Bool {
        node.hasProperty("regulator-name") || node.hasProperty("regulator-min-microvolt")
            || node.hasProperty("regulator-max-microvolt") || node.compatible.contains { $0.hasPrefix("regulator-") }
    }
}

/// An `operating-points-v2` table: its enabled OPPs' first `opp-hz`, sorted.
public struct OPPTable: Sendable {
    public var node: DeviceTreeNode
    public var path: String
    public var label: String?
    public var frequencies: [UInt64]

    init(node: DeviceTreeNode, label: String?) {
        self.node = node
        path = node.path
        self.label = label
        var frequencies: [UInt64] = []
        for opp in node.children where opp.isEnabled {
            guard let hz = opp.property("opp-hz") else { continue }
            if let value = hz.u64Array?.first { frequencies.append(value) } else if let value = hz.u32 { frequencies.append(UInt64(value)) }
        }
        self.frequencies = frequencies.sorted()
    }
}

/// A node that measures: `#thermal-sensor-cells` (thermal sensors) or `#io-channel-cells`
/// (ADCs, which Linux exposes to hwmon through iio-hwmon).
public struct SensorProvider: Sendable {
    public enum Kind: String, Sendable { case thermal, adc }
    public var provider: Provider
    public var kind: Kind

    init?(node: DeviceTreeNode, label: String?) {
        if let cells = node.property("#thermal-sensor-cells")?.u32 {
            kind = .thermal
            provider = Provider(node: node, label: label, cells: cells)
        } else if let cells = node.property("#io-channel-cells")?.u32 {
            kind = .adc
            provider = Provider(node: node, label: label, cells: cells)
        } else {
            return nil
        }
    }
}

/// A host-side SCMI platform client node (`arm,scmi`, `arm,scmi-smc`, …) and the protocols
/// its `protocol@N` children name.
public struct SCMIPlatformNode: Sendable {
    public var provider: Provider
    public var protocols: [UInt32]
    static let compatibles: Set<String> = ["arm,scmi", "arm,scmi-smc", "arm,scmi-smc-param", "arm,scmi-virtio", "arm,scmi-optee", "qcom,scmi-smc", "nxp,imx95-scmi"]

    init?(node: DeviceTreeNode, label: String?) {
        guard node.compatible.contains(where: Self.compatibles.contains) else { return nil }
        provider = Provider(node: node, label: label, cells: 0)
        protocols = node.children.compactMap { $0.baseName == "protocol" ? $0.property("reg")?.u32 : nil }
    }

    /// The protocol `node` is when it is a `protocol@N` child of a host SCMI platform node (its
    /// `reg`); nil for any other node. Its resources are the firmware's: the firmware, not the
    /// devicetree, knows their rates and levels (docs/binding.md §5.7).
    public static func firmwareProtocol(of node: DeviceTreeNode) -> UInt32? {
        guard node.baseName == "protocol", let platform = node.parent, platform.compatible.contains(where: compatibles.contains) else { return nil }
        return node.property("reg")?.u32
    }
}
