import DeviceTree
import ResourceTables

/// Reads each table entry's facts (names, rates, levels, sources) from the
/// host nodes. Findings about a host resource name the host node (section 5),
/// once per node however many ids share it.
struct ResourceFacts {
    let backend: BackendDescription
    /// Spells the entries' host node paths (see `NodePath`).
    let paths: NodePaths
    var findings: DiagnosticCollector
    var hostValidator: StructuralValidator
    private let clockEntrySchema: NodeSchema?
    private let regulatorEntrySchema: NodeSchema?
    /// The schema of `arm,scmi-voltage-step-microvolt` on a regulator, looked up once.
    private let voltageStepSchema: PropertySchema?
    /// Step values a regulator's `arm,scmi-voltage-step-microvolt` was found valid with: whether
    /// one cell is valid depends on the value alone, and a board gives most rails the same step.
    private var validVoltageSteps = Set<UInt32>()
    private var rateMemo = SparseNodeMap<ClockRates?>()
    /// The name ids of `rateProperties` that the tree has (compared as bytes, as `property(_:)`
    /// compares names), looked up at the first rate property asked for.
    private var rateNameIDs: [Int32]?
    /// The rate property `rateProperty` read, by node: a provider's thousands of clocks each
    /// name it without searching the provider's properties again.
    private var ratePropertyMemo = SparseNodeMap<String>()
    private var fixedKindMemo = NodeMap<FixedClockKind>()
    private var fixedRateMemo = SparseNodeMap<UInt64?>()
    private var reportedNodes = NodeSet()
    private var mismatchReported = NodeSet()
    private var outputNamesMemo = SparseNodeMap<[String]>()
    private var unprintableReported = NodeSet()
    private var oppRatesMemo: [SpecifierKey: (rates: [UInt64], table: DeviceTreeNode)]?
    private var oppTooManyReported = NodeSet()
    private var reportedAlwaysOn = NodeSet()
    private var reportedCoupling = NodeSet()
    /// The name ids of `RegulatorProperty`'s names, looked up at the first voltage entry.
    private var regulatorNameIDs: SIMD8<Int32>?

    init(backend: BackendDescription, paths: NodePaths, schema: NodeSchema, findings: DiagnosticCollector, hostValidator: StructuralValidator) {
        self.backend = backend
        self.paths = paths
        self.findings = findings
        self.hostValidator = hostValidator
        let protocolSchema = { (id: UInt8) in schema.childSchema(named: "protocol@" + String(id, radix: 16)) }
        clockEntrySchema = protocolSchema(0x14)?.childSchema(named: "clock@0")
        regulatorEntrySchema = protocolSchema(0x17)?.childSchema(named: "regulator@0")
        voltageStepSchema = regulatorEntrySchema?.propertySchema(named: "arm,scmi-voltage-step-microvolt")
    }

    // MARK: - Clocks (5.1)

    static let rateProperties = ["arm,scmi-rates", "arm,scmi-rates-64", "arm,scmi-rate-range", "arm,scmi-rate-range-64"]
    /// What a clock without any rate description is served as.
    static let undescribedRates = ClockRates.range(min: 1, max: 4_294_967_295, step: 1)
    /// What a firmware voltage domain without regulator-min/max-microvolt is served as
    /// (section 5.7): every level SCMI can carry from 0 µV up, in 1 µV steps.
    static let undescribedLevels = VoltageLevels.range(min: 0, max: Int32.max, step: 1)
    /// A regulator's own bounds, read in this order.
    static let boundProperties: [RegulatorProperty] = [.minimum, .maximum]

    mutating func clockEntries(
        _ keys: [SpecifierKey?], entryNodes: [DeviceTreeNode], devices: [DeviceDescription], consumers: ConsumerNames
    ) -> [ClockEntry] {
        var entries: [ClockEntry] = []
        entries.reserveCapacity(keys.count)
        var names = UniqueNames(labels: entryNodes.compactMap { $0.property("label")?.string }, capacity: keys.count)
        for (index, key) in keys.enumerated() {
            guard let key else { continue }
            let entryNode = index < entryNodes.count ? entryNodes[index] : nil
            let (rates, source) = clockRates(key, entryNode: entryNode)
            let name = entryName(index, key, entryNode: entryNode, consumers: consumers, kind: "clock", outputNames: true, names: &names)
            entries.append(
                ClockEntry(
                    id: UInt32(index), name: name, providerPath: paths.path(of: key.provider), specifier: key.cells, rates: rates,
                    initialRate: rates.lowest, ratesSource: source))
        }
        applyAssignedRates(&entries, keys: keys, devices: devices)
        return entries
    }

    /// A table entry's name (sections 5.1, 5.3, 5.6): its `label`, else derived from the
    /// host tree and made unique with `-2`, `-3`… A label repeated is the only duplicate
    /// reported: the user wrote both.
    private mutating func entryName(
        _ index: Int, _ key: SpecifierKey, entryNode: DeviceTreeNode?, consumers: ConsumerNames, kind: String, outputNames: Bool,
        names: inout UniqueNames
    ) -> String {
        if let label = entryNode?.property("label")?.string {
            if let first = names.repeatedLabel(label, id: index), kind == "clock", let entryNode {
                findings.add(
                    .clockNameDuplicate, at: entryNode, property: "label", "clock \(index) is labelled \"\(printable(label))\" like clock \(first)",
                    hint: "give it another label")
            }
            return label
        }
        let devices = backend.devices  // not `self`'s, which `resourceName` may change
        let derived = resourceName(key.provider, key.cells, outputNames: outputNames, consumer: consumers.name(of: UInt32(index), in: devices))
        if derived.fromConsumer, let consumer = consumers.name(of: UInt32(index), in: devices) {
            requirePrintable(derived.name, of: "\(kind) \(index)", from: consumer.node, property: consumer.property)
        } else {
            requirePrintable(
                derived.name, of: "\(kind) \(index)", from: key.provider, property: derived.fromOutputNames ? "clock-output-names" : nil)
        }
        return names.unique(derived.name)
    }

    private mutating func clockRates(_ key: SpecifierKey, entryNode: DeviceTreeNode?) -> (ClockRates, String) {
        let provider = key.provider
        let entryRates = entryNode.flatMap { rateProperty(of: $0, inBackend: true) }
        let providerRates = rateProperty(of: provider, inBackend: false)
        var fixed: UInt64?
        var fixedSource = "clock-frequency"
        switch fixedKind(of: provider) {
        case .fixed:
            fixed = clockFrequency(of: provider, report: true)
        case .fixedFactor:
            fixed = fixedRate(of: provider, depth: 0)
            fixedSource = "clock-mult/clock-div"
        case .neither:
            break
        }
        if let fixed {
            let served = ClockRates.discrete([fixed])
            // The table entry's rates, then the provider's (no array of the two: this runs per clock).
            func reportMismatch(_ node: DeviceTreeNode?, _ rates: ClockRates?) {
                guard let node, let rates, rates != served, mismatchReported.insert(node) else { return }
                findings.add(
                    .clockRateMismatch, at: node, property: Self.rateProperties.first { node.hasProperty($0) },
                    "the rates given here disagree with \(provider.path), whose rate is fixed at \(fixed) Hz",
                    hint: "remove the rate property; a fixed clock's rate comes from its provider")
            }
            reportMismatch(entryNode, entryRates)
            reportMismatch(provider, providerRates)
            return (served, fixedSource)
        }
        if let entryRates, let entryNode { return (entryRates, Self.rateProperties.first { entryNode.hasProperty($0) } ?? "table entry") }
        if let providerRates { return (providerRates, ratePropertyMemo[provider] ?? "provider") }
        // A rate property that is there but unusable was reported already; do not call it missing.
        let described = [entryNode, provider].contains { node in node.map { node in Self.rateProperties.contains { node.hasProperty($0) } } ?? false }
        if !described, let opp = oppRates()[key] { return (.discrete(opp.rates), "opp-hz " + opp.table.path) }
        // The firmware knows its clocks' rates (section 5.7): nothing to ask of the devicetree.
        if !described && HostFirmware.platform(provider: provider, cells: key.cells, protocolID: .clock) != nil {
            return (Self.undescribedRates, "firmware")
        }
        if !described && reportedNodes.insert(provider) {
            findings.add(
                .clockRateUndescribed, at: provider,
                "no rate description: clocks of this provider are served as 1 Hz .. 4294967295 Hz in 1 Hz steps",
                hint: "add arm,scmi-rates or arm,scmi-rate-range = <min max step> here or on the table entry")
        }
        return (Self.undescribedRates, "undescribed")
    }

    /// The rates the board's OPP tables give each clock (section 5.1): a node with
    /// `operating-points-v2` and `clocks` runs its n-th clock at the n-th `opp-hz` value
    /// of each enabled OPP. The first such node in tree order decides. Built on first
    /// use, in one walk of the tree.
    private mutating func oppRates() -> [SpecifierKey: (rates: [UInt64], table: DeviceTreeNode)] {
        if let memo = oppRatesMemo { return memo }
        var result: [SpecifierKey: (rates: [UInt64], table: DeviceTreeNode)] = [:]
        var tableRates: [DeviceTreeNode: [[UInt64]]] = [:]
        backend.node.tree.forEachNode { node in
            guard let phandle = node.property("operating-points-v2")?.u32, node.isEnabled, node.hasProperty("clocks"),
                let table = node.tree.node(withPhandle: phandle), table.isCompatible(with: "operating-points-v2"),
                case .success(let clocks)? = node.specifiers(of: "clocks", cellsName: "#clock-cells", allowingHoles: true)
            else { return }
            if tableRates[table] == nil {
                var perClock: [Set<UInt64>] = []
                for opp in table.children where opp.isEnabled {
                    for (position, hz) in (opp.property("opp-hz")?.u64Array ?? []).enumerated() where hz > 0 {
                        while position >= perClock.count { perClock.append([]) }
                        perClock[position].insert(hz)
                    }
                }
                tableRates[table] = perClock.map { $0.sorted() }
            }
            let perClock = tableRates[table] ?? []
            for (position, clock) in clocks.enumerated() where position < perClock.count && !perClock[position].isEmpty {
                let key = SpecifierKey(ResourceSpecifier(provider: clock.provider, cells: clock.cells))
                guard result[key] == nil else { continue }
                result[key] = (perClock[position], table)
                if perClock[position].count > 16 && oppTooManyReported.insert(table) {
                    findings.add(
                        .clockRatesTooMany, at: table,
                        "\(perClock[position].count) opp-hz rates give \(clock.provider.path) more than 16 discrete rates: Linux guests keep at most 16 (SCMI_MAX_NUM_RATES) and reject the clock",
                        hint: "describe the clock's rates with arm,scmi-rate-range on its table entry")
                }
            }
        }
        oppRatesMemo = result
        return result
    }

    /// The rate property of `node` (table entry or provider), checked; nil when absent or unusable.
    private mutating func rateProperty(of node: DeviceTreeNode, inBackend: Bool) -> ClockRates? {
        if let memo = rateMemo[node] { return memo }
        var result: ClockRates?
        defer { rateMemo[node] = result }
        // Most providers have no rate property: their property name ids say so, compared as
        // integers, before each name is looked up.
        let tree = node.tree
        if rateNameIDs == nil { rateNameIDs = Self.rateProperties.compactMap { tree.propertyNameID(exactly: $0) } }
        guard let ids = rateNameIDs, node.propertyPositions.contains(where: { ids.contains(tree.propertyNameID(at: $0)) }) else { return nil }
        let present = Self.rateProperties.compactMap { node.property($0) }
        guard let property = present.first else { return nil }
        ratePropertyMemo[node] = property.name
        if present.count > 1 {
            findings.add(
                .clockRatesConflict, at: node, property: present[1].name,
                "only one of arm,scmi-rates, arm,scmi-rates-64, arm,scmi-rate-range, arm,scmi-rate-range-64 may be given; found "
                    + present.map(\.name).joined(separator: " and "))
        }
        if !inBackend {
            guard let schema = clockEntrySchema?.propertySchema(named: property.name),
                hostValidator.validateHostProperty(property, of: node, schema: schema)
            else { return nil }
        }
        let wide = property.name.hasSuffix("-64")
        guard let values = wide ? property.u64Array : property.u32Array.map({ $0.map(UInt64.init) }), !values.isEmpty else { return nil }
        if property.name.hasPrefix("arm,scmi-rate-range") {
            guard values.count == 3 else { return nil }
            let (minimum, maximum, step) = (values[0], values[1], values[2])
            if minimum == maximum {
                result = .discrete([minimum])
            } else if minimum > maximum || step == 0 || minimum == 0 {
                findings.add(
                    .clockRatesInvalid, at: node, property: property.name,
                    "range <\(minimum) \(maximum) \(step)> is not <min max step> with 0 < min < max and step > 0")
            } else {
                result = .range(min: minimum, max: maximum, step: step)
            }
            return result
        }
        let rates = Array(Set(values.filter { $0 > 0 })).sorted()
        if rates.isEmpty {
            findings.add(.clockRatesInvalid, at: node, property: property.name, "a clock cannot run at 0 Hz")
            return nil
        }
        if rates.count > 16 {
            findings.add(
                .clockRatesTooMany, at: node, property: property.name,
                "\(rates.count) discrete rates: Linux guests keep at most 16 (SCMI_MAX_NUM_RATES) and reject the clock",
                hint: "describe the rates as arm,scmi-rate-range = <min max step>")
        }
        result = .discrete(rates)
        return result
    }

    /// Whether a provider is a `fixed-clock`, a `fixed-factor-clock` or neither, looked up
    /// once per provider.
    private mutating func fixedKind(of provider: DeviceTreeNode) -> FixedClockKind {
        if let kind = fixedKindMemo[provider] { return kind }
        let kind: FixedClockKind =
            provider.isCompatible(with: "fixed-clock") ? .fixed : provider.isCompatible(with: "fixed-factor-clock") ? .fixedFactor : .neither
        fixedKindMemo[provider] = kind
        return kind
    }

    /// A fixed-clock's `clock-frequency`.
    private mutating func clockFrequency(of provider: DeviceTreeNode, report: Bool) -> UInt64? {
        if let frequency = provider.property("clock-frequency")?.u32, frequency > 0 { return UInt64(frequency) }
        if report && reportedNodes.insert(provider) {
            let problem = provider.hasProperty("clock-frequency") ? "clock-frequency is not one non-zero cell" : "clock-frequency is missing"
            findings.add(.fixedClockFrequency, at: provider, property: "clock-frequency", "fixed-clock: \(problem)")
        }
        return nil
    }

    /// The one rate a provider runs at, when it has one: fixed-clock, fixed-factor
    /// of a known parent (followed at most 16 deep), or a single described rate.
    private mutating func fixedRate(of provider: DeviceTreeNode, depth: Int) -> UInt64? {
        if let memo = fixedRateMemo[provider] { return memo }
        guard depth < 16 else { return nil }
        var rate: UInt64?
        if provider.isCompatible(with: "fixed-clock") {
            rate = clockFrequency(of: provider, report: false)
        } else if provider.isCompatible(with: "fixed-factor-clock") {
            if case .success(let parents)? = provider.specifiers(of: "clocks", cellsName: "#clock-cells"), let parent = parents.first,
                parent.provider != provider, let parentRate = fixedRate(of: parent.provider, depth: depth + 1),
                let mult = provider.property("clock-mult")?.u32, let div = provider.property("clock-div")?.u32, div > 0
            {
                let (product, overflow) = parentRate.multipliedReportingOverflow(by: UInt64(mult))
                if !overflow, product / UInt64(div) > 0 { rate = product / UInt64(div) }
            }
        } else if case .discrete(let rates)? = rateProperty(of: provider, inBackend: false), rates.count == 1 {
            rate = rates[0]
        }
        fixedRateMemo[provider] = rate
        return rate
    }

    /// `assigned-clock-rates` (section 5.1): the first entry for a clock that it can run
    /// at sets its initial rate, devices (and their base devices) first, then providers.
    /// A rate the clock cannot run at is `assigned-rate-unsupported` at the node that
    /// assigns it.
    private mutating func applyAssignedRates(_ entries: inout [ClockEntry], keys: [SpecifierKey?], devices: [DeviceDescription]) {
        // Most trees assign no rates: asked once of the tree's property names (compared as
        // bytes, as `property(_:)` compares them), that spares a lookup per device and provider.
        guard backend.node.tree.propertyNameID(exactly: "assigned-clock-rates") != nil else { return }
        var decided = Set<Int>()
        var visited = NodeSet()
        // Entry position of each key, built at the first assignment: most trees have none.
        var indexOfKey: [SpecifierKey: Int]?
        func apply(_ node: DeviceTreeNode, _ facts: inout ResourceFacts) {
            guard let rates = node.property("assigned-clock-rates")?.u32Array, visited.insert(node),
                case .success(let clocks)? = node.specifiers(of: "assigned-clocks", cellsName: "#clock-cells", allowingHoles: true)
            else { return }
            if indexOfKey == nil { indexOfKey = Self.entryPositions(keys) }
            for clock in clocks where clock.index < rates.count && rates[clock.index] > 0 {
                let rate = UInt64(rates[clock.index])
                guard let at = indexOfKey?[SpecifierKey(ResourceSpecifier(provider: clock.provider, cells: clock.cells))] else { continue }
                let entry = entries[at]
                guard Self.supports(entry.rates, rate) else {
                    facts.findings.add(
                        .assignedRateUnsupported, at: node, property: "assigned-clock-rates",
                        "entry \(clock.index) assigns \(rate) Hz to clock \(entry.id) (\(printable(entry.name)), \(clock.provider.path)), "
                            + "which runs at \(Self.describe(entry.rates)) (\(entry.ratesSource)); it starts at \(entry.initialRate) Hz instead",
                        hint: "assign a rate the clock can run at, or correct the clock's rate description")
                    continue
                }
                if decided.insert(at).inserted { entries[at].initialRate = rate }
            }
        }
        for position in devices.indices {  // by position: copying each DeviceDescription retains its arrays
            apply(devices[position].node, &self)
            if let basedev = devices[position].basedevNode { apply(basedev, &self) }
        }
        for key in keys { if let key { apply(key.provider, &self) } }
    }

    /// Each key's position among the entries `clockEntries` makes (one per non-nil key, in
    /// order; a key bound to two ids maps to the later, as it did when built in that loop).
    private static func entryPositions(_ keys: [SpecifierKey?]) -> [SpecifierKey: Int] {
        var positions: [SpecifierKey: Int] = [:]
        var position = 0
        for case let key? in keys {
            positions[key] = position
            position += 1
        }
        return positions
    }

    /// `24000000 Hz`, `300000000, 400000000 Hz`, `1000000 .. 500000000 Hz in steps of 1000000 Hz`.
    static func describe(_ rates: ClockRates) -> String {
        switch rates {
        case .discrete(let list) where list.count <= 4: return list.map(String.init).joined(separator: ", ") + " Hz"
        case .discrete(let list): return "\(list.count) rates from \(list[0]) to \(list[list.count - 1]) Hz"
        case .range(let minimum, let maximum, let step): return "\(minimum) .. \(maximum) Hz in steps of \(step) Hz"
        }
    }

    static func supports(_ rates: ClockRates, _ rate: UInt64) -> Bool {
        switch rates {
        case .discrete(let list): list.contains(rate)
        case .range(let minimum, let maximum, let step): rate >= minimum && rate <= maximum && (rate - minimum) % step == 0
        }
    }

    /// Section 5.1's naming: output names where the provider has them; for a provider
    /// with cells, else the first consumer's `clock-names` (`gpu-core`); else the node
    /// name (without unit address) and the cells in hexadecimal, as a source writes them.
    mutating func resourceName(
        _ provider: DeviceTreeNode, _ cells: [UInt32], outputNames: Bool, consumer: @autoclosure () -> ConsumerName?
    ) -> (name: String, fromOutputNames: Bool, fromConsumer: Bool) {
        var names: [String] = []
        if outputNames {
            // Decoded once per provider: a controller with thousands of outputs is common.
            if let memo = outputNamesMemo[provider] {
                names = memo
            } else {
                names = provider.property("clock-output-names")?.stringList ?? []
                outputNamesMemo[provider] = names
            }
        }
        if cells.isEmpty { return names.first.map { ($0, true, false) } ?? (provider.baseName, false, false) }
        if cells.count == 1, Int(cells[0]) < names.count { return (names[Int(cells[0])], true, false) }
        if let consumer = consumer() { return (consumer.name, false, true) }
        var name = provider.baseName
        for cell in cells {
            name += "-0x"
            name += String(cell, radix: 16)
        }
        return (name, false, false)
    }

    /// A name a guest will be sent (CLOCK_ATTRIBUTES, NAME_GET, …) that was derived from the
    /// host tree rather than written into the backend: SCMI names are ASCII strings, and a
    /// control byte in one reaches the guest's logs and sysfs verbatim. Reported once per
    /// source node, at the property the name came from.
    /// `what` and `property` are spelled only for a name reported: most names are printable.
    private mutating func requirePrintable(
        _ name: String, of what: @autoclosure () -> String, from node: DeviceTreeNode, property: @autoclosure () -> String?
    ) {
        // Read as one buffer: walking the UTF-8 view checks each position, for every name of a table.
        var bytes = name
        guard bytes.withUTF8({ $0.isEmpty || !$0.allSatisfy { $0 >= 0x20 && $0 < 0x7F } }) else { return }
        guard unprintableReported.insert(node) else { return }
        findings.add(
            .resourceNameUnprintable, at: node, property: property(),
            "\(what()) would be named \"\(printable(name))\"; names sent to guests must be printable ASCII",
            hint: "give the resource's table entry a label (its id's child node under the protocol node)")
    }

    // MARK: - Voltage domains (5.2)

    mutating func voltageEntries(_ keys: [DeviceTreeNode?], entryNodes: [DeviceTreeNode]) -> [VoltageDomainEntry] {
        var entries: [VoltageDomainEntry] = []
        entries.reserveCapacity(keys.count)
        /// Whether each entry's regulator has `regulator-coupled-with`, by position in `entries`.
        var coupled: [Bool] = []
        coupled.reserveCapacity(keys.count)
        for (index, regulator) in keys.enumerated() {
            guard let regulator else { continue }
            let entryNode = index < entryNodes.count ? entryNodes[index] : nil
            // Each property looked up once: a lookup by name compares the node's names byte by byte.
            let label = entryNode?.property("label")
            let properties = regulatorProperties(of: regulator)
            let regulatorName = label == nil ? properties[.name] : nil
            let name = label?.string ?? regulatorName?.string ?? regulator.baseName
            if label == nil {
                requirePrintable(name, of: "voltage domain \(index)", from: regulator, property: regulatorName != nil ? "regulator-name" : nil)
            }
            let facts = voltageLevels(of: regulator, properties, entryNode: entryNode)
            let levels = facts?.levels ?? .discrete([0])
            let alwaysOn = properties.has(.alwaysOn)
            coupled.append(properties.has(.coupledWith))
            entries.append(
                VoltageDomainEntry(
                    id: UInt32(index), name: name, regulatorPath: paths.path(of: regulator), levels: levels, initialLevel: levels.lowest,
                    initiallyOn: alwaysOn || properties.has(.bootOn), levelsSource: facts?.source ?? "",
                    alwaysOn: alwaysOn, minimumLevel: facts?.minimum, maximumLevel: facts?.maximum))
        }
        // The first id of each regulator, for couplings alone: most boards couple no rails, and
        // a slot for every node of the tree is worth making only when one does.
        var idOfRegulator = NodeMap<UInt32>()
        if coupled.contains(true) {
            for (index, regulator) in keys.enumerated() {
                if let regulator, idOfRegulator[regulator] == nil { idOfRegulator[regulator] = UInt32(index) }
            }
        }
        for index in entries.indices {
            let regulator = keys[Int(entries[index].id)]!
            if entries[index].alwaysOn && reportedAlwaysOn.insert(regulator) {
                findings.add(
                    .regulatorAlwaysOnExported, at: regulator, property: "regulator-always-on",
                    // One interpolation, not a concatenation: reported for thousands of rails on a large board.
                    """
                    voltage domain \(entries[index].id) (\(printable(entries[index].name))) is always on: serve never switches it off, \
                    whatever agents ask (a guest's own CONFIG_GET still answers its request)
                    """)
            }
            if coupled[index] {
                entries[index].couplings = couplings(of: regulator, entry: entries[index], idOfRegulator: idOfRegulator, entries: entries)
            }
        }
        // Only couplings move an initial level: without any, the settling's index of every
        // entry by id (25,000 rails at 100,000 devices) is not made.
        if coupled.contains(true) { settleCoupledInitialLevels(&entries) }
        return entries
    }

    /// `regulator-coupled-with` (phandles) and `regulator-coupled-max-spread` (µV, one per
    /// partner; a single value applies to all). A served partner becomes a coupling serve
    /// enforces (`regulator-coupled`, a note); a partner outside the table cannot be held
    /// (`regulator-coupled-unserved`).
    private mutating func couplings(
        of regulator: DeviceTreeNode, entry: VoltageDomainEntry, idOfRegulator: NodeMap<UInt32>, entries: [VoltageDomainEntry]
    ) -> [VoltageCoupling] {
        guard case .success(let partners)? = regulator.phandles(of: "regulator-coupled-with"), !partners.isEmpty else { return [] }
        let spreads = regulator.property("regulator-coupled-max-spread")?.u32Array ?? []
        var result: [VoltageCoupling] = []
        let report = reportedCoupling.insert(regulator)
        for (position, partner) in partners.enumerated() {
            guard let spread = position < spreads.count ? spreads[position] : spreads.last, spread <= UInt32(Int32.max) else { continue }
            guard let partnerID = idOfRegulator[partner.provider], partnerID != entry.id else {
                if report {
                    findings.add(
                        .regulatorCoupledUnserved, at: regulator, property: "regulator-coupled-with",
                        "voltage domain \(entry.id) (\(printable(entry.name))) is coupled with \(partner.provider.path), which no voltage domain serves: "
                            + "serve cannot keep the two within \(spread) µV",
                        hint: "export \(partner.provider.path) too (a table entry or a device's supply), or do not export this rail")
                }
                continue
            }
            result.append(VoltageCoupling(partner: partnerID, maxSpread: Int32(spread)))
            if report {
                let partnerName = entries.first { $0.id == partnerID }.map { printable($0.name) } ?? ""
                findings.add(
                    .regulatorCoupled, at: regulator, property: "regulator-coupled-with",
                    "voltage domain \(entry.id) (\(printable(entry.name))) is coupled with voltage domain \(partnerID) (\(partnerName)): "
                        + "serve keeps their levels within \(spread) µV of each other and answers OUT_OF_RANGE to a level that would not")
            }
        }
        return result
    }

    /// Raises initial levels until every coupled pair is within its spread (section 5.2):
    /// a rail below its partner's level minus the spread starts at its lowest level that
    /// is not. Only raising, so it ends; a pair that cannot be reconciled stays as it is.
    private func settleCoupledInitialLevels(_ entries: inout [VoltageDomainEntry]) {
        let indexOfID = Dictionary(uniqueKeysWithValues: entries.indices.map { (entries[$0].id, $0) })
        var changed = true
        var rounds = 0
        while changed && rounds <= entries.count {
            changed = false
            rounds += 1
            for index in entries.indices {
                for coupling in entries[index].couplings {
                    guard let partner = indexOfID[coupling.partner] else { continue }
                    let floor = Int64(entries[partner].initialLevel) - Int64(coupling.maxSpread)
                    guard Int64(entries[index].initialLevel) < floor,
                        let level = entries[index].levels.lowestLevel(atLeast: floor), level > entries[index].initialLevel
                    else { continue }
                    entries[index].initialLevel = level
                    changed = true
                }
            }
        }
    }

    /// The levels a regulator is served with, where they came from, and its own bounds.
    private mutating func voltageLevels(
        of regulator: DeviceTreeNode, _ properties: RegulatorProperties, entryNode: DeviceTreeNode?
    ) -> (levels: VoltageLevels, source: String, minimum: Int32, maximum: Int32)? {
        let report = reportedNodes.insert(regulator)
        // A firmware voltage domain's levels and step are the firmware's (section 5.7).
        let firmware = HostFirmware.platform(regulator: regulator) != nil
        let states = gpioStates(of: regulator, properties, report: report)
        // The bounds as two values and a count, not an array allocated per regulator.
        var bounds: (UInt32, UInt32) = (0, 0)
        var boundsRead = 0
        if let states, !properties.has(.minimum) || !properties.has(.maximum) {
            bounds = (states.min() ?? 0, states.max() ?? 0)
            boundsRead = 2
        }
        for bound in Self.boundProperties where boundsRead < 2 {
            let name = bound.propertyName
            guard let property = properties[bound] else {
                if firmware {
                    return (Self.undescribedLevels, "firmware", Self.undescribedLevels.lowest, Self.undescribedLevels.highest)
                }
                if report {
                    findings.add(
                        .regulatorLevelsMissing, at: regulator, property: name,
                        "an exported regulator needs regulator-min-microvolt and regulator-max-microvolt; \(name) is missing")
                }
                return nil
            }
            guard let value = property.u32 else {
                if report { findings.add(.propertyType, at: regulator, property: name, "is \(property.count) bytes; microvolts are one cell") }
                return nil
            }
            if boundsRead == 0 { bounds.0 = value } else { bounds.1 = value }
            boundsRead += 1
        }
        let (minimum, maximum) = bounds
        guard minimum <= maximum, maximum <= UInt32(Int32.max) else {
            if report {
                let problem = minimum > maximum ? "min \(minimum) µV is above max \(maximum) µV" : "\(maximum) µV is above 2147483647 µV (SCMI levels are signed 32-bit)"
                findings.add(.regulatorLevelsInvalid, at: regulator, property: "regulator-max-microvolt", problem)
            }
            return nil
        }
        let own = (minimum: Int32(minimum), maximum: Int32(maximum))
        if let entryNode, let listed = entryNode.property("arm,scmi-levels-microvolt")?.u32Array, !listed.isEmpty {
            let outside = listed.filter { $0 < minimum || $0 > maximum }
            guard outside.isEmpty else {
                findings.add(
                    .regulatorLevelsInvalid, at: entryNode, property: "arm,scmi-levels-microvolt",
                    "\(outside.map { "\($0) µV" }.joined(separator: ", ")) \(outside.count == 1 ? "is" : "are") outside \(regulator.path)'s own "
                        + "\(minimum)..\(maximum) µV (regulator-min/max-microvolt)",
                    hint: "list only levels the regulator allows")
                return nil
            }
            return (.discrete(Array(Set(listed.map { Int32($0) })).sorted()), "arm,scmi-levels-microvolt", own.minimum, own.maximum)
        }
        if let states {
            let inside = Array(Set(states.filter { $0 >= minimum && $0 <= maximum }.map { Int32($0) })).sorted()
            guard !inside.isEmpty else {
                if report {
                    findings.add(
                        .regulatorLevelsInvalid, at: regulator, property: "states",
                        "no state's level is inside \(minimum)..\(maximum) µV (regulator-min/max-microvolt)")
                }
                return nil
            }
            return (.discrete(inside), "states", own.minimum, own.maximum)
        }
        if minimum == maximum { return (.discrete([own.minimum]), "regulator-min/max-microvolt", own.minimum, own.maximum) }
        var step: UInt32?
        if let entryNode, let value = entryNode.property("arm,scmi-voltage-step-microvolt")?.u32 {
            step = value
        } else if let property = properties[.step] {
            if let value = property.u32, validVoltageSteps.contains(value) {
                step = value
            } else if let schema = voltageStepSchema,
                hostValidator.validateHostProperty(property, of: regulator, schema: schema)
            {
                step = property.u32
                if let step { validVoltageSteps.insert(step) }
            }
        }
        let span = maximum - minimum
        if let step, step > 0 {
            if span % step != 0 && report {
                findings.add(
                    .voltageStepUneven, at: entryNode ?? regulator, property: "arm,scmi-voltage-step-microvolt",
                    "a step of \(step) µV does not divide \(minimum)..\(maximum) µV; the top level \(maximum) µV is unreachable")
            }
            return (.range(min: own.minimum, max: own.maximum, step: Int32(step)), "regulator-min/max-microvolt", own.minimum, own.maximum)
        }
        if report && !firmware {
            findings.add(
                .voltageStepMissing, at: regulator, "no arm,scmi-voltage-step-microvolt: levels \(minimum)..\(maximum) µV are served in 1 µV steps",
                hint: "add arm,scmi-voltage-step-microvolt to the regulator or the table entry")
        }
        return (.range(min: own.minimum, max: own.maximum, step: 1), "regulator-min/max-microvolt", own.minimum, own.maximum)
    }

    /// The properties of `regulator` that a voltage entry reads, found in one pass.
    private mutating func regulatorProperties(of regulator: DeviceTreeNode) -> RegulatorProperties {
        if regulatorNameIDs == nil { regulatorNameIDs = RegulatorProperties.nameIDs(in: regulator.tree) }
        return RegulatorProperties(of: regulator, nameIDs: regulatorNameIDs!)
    }

    /// A `regulator-gpio`'s `states = <µV gpio-value …>`: the levels it can switch
    /// between. nil for other regulators or a `states` that is not such pairs.
    private mutating func gpioStates(of regulator: DeviceTreeNode, _ properties: RegulatorProperties, report: Bool) -> [UInt32]? {
        // `isCompatible(with:)`, from the compatible the one pass found.
        guard properties[.compatible]?.stringListContains("regulator-gpio") ?? false, let property = regulator.property("states") else { return nil }
        guard let cells = property.u32Array, !cells.isEmpty, cells.count % 2 == 0 else {
            if report { findings.add(.propertyType, at: regulator, property: "states", "is not a list of <microvolts gpio-value> pairs") }
            return nil
        }
        return stride(from: 0, to: cells.count, by: 2).map { cells[$0] }
    }

    // MARK: - Power domains (0x11) and reset domains (0x16)

    mutating func providerEntries(
        _ keys: [SpecifierKey?], entryNodes: [DeviceTreeNode], kind: String, consumers: ConsumerNames
    ) -> [ProviderResourceEntry] {
        var entries: [ProviderResourceEntry] = []
        entries.reserveCapacity(keys.count)
        var names = UniqueNames(labels: entryNodes.compactMap { $0.property("label")?.string }, capacity: keys.count)
        for (index, key) in keys.enumerated() {
            guard let key else { continue }
            let entryNode = index < entryNodes.count ? entryNodes[index] : nil
            let name = entryName(index, key, entryNode: entryNode, consumers: consumers, kind: kind, outputNames: false, names: &names)
            entries.append(ProviderResourceEntry(id: UInt32(index), name: name, providerPath: paths.path(of: key.provider), specifier: key.cells))
        }
        return entries
    }

    // MARK: - Sensors (0x15)

    func sensorEntries(_ entryNodes: [DeviceTreeNode]) -> [SensorEntry] {
        entryNodes.enumerated().compactMap { index, node in
            guard let type = node.property("arm,scmi-sensor-type")?.string.flatMap(SensorType.init(rawValue:)) else { return nil }
            let exponent = node.property("arm,scmi-sensor-unit-exponent")?.u32.map { Int32(bitPattern: $0) } ?? 0
            let source: SensorValueSource
            if let value = node.property("arm,scmi-sensor-value")?.u32 {
                source = .constant(Int64(Int32(bitPattern: value)))
            } else if let path = node.property("arm,scmi-sensor-path")?.string {
                source = .path(path)
            } else if node.hasProperty("arm,scmi-sensor") {
                source = .host  // its firmware origin is checked by TableResolver.firmwareSensors
            } else {
                return nil
            }
            let interval = node.property("arm,scmi-sensor-interval-ms")?.u32 ?? SensorEntry.defaultIntervalMilliseconds
            return SensorEntry(
                id: UInt32(index), name: node.property("label")?.string ?? "sensor\(index)", type: type,
                unitExponent: Int8(clamping: exponent), source: source, intervalMilliseconds: interval)
        }
    }

    // MARK: - Performance domains (0x13)

    /// What a firmware performance domain without an OPP table is served as (section 5.7):
    /// one level, 1 kHz, until an upstream gives the firmware's own levels.
    static let undescribedPerformanceLevels = [PerformanceLevel(hz: 1000)]

    /// The explicit entries (`entryNodes`, by id) or, for a derived table, the firmware
    /// performance domains devices name (`keys`, by id): those have no OPP table, so they are
    /// served with `undescribedPerformanceLevels` and named as section 5 says.
    mutating func performanceEntries(
        _ keys: [SpecifierKey?], entryNodes: [DeviceTreeNode], consumers: ConsumerNames
    ) -> [PerformanceDomainEntry] {
        var entries: [PerformanceDomainEntry] = []
        var names = UniqueNames(labels: [], capacity: keys.count)
        for index in entryNodes.count..<max(keys.count, entryNodes.count) {
            guard let key = keys[index] else { continue }
            let name = entryName(index, key, entryNode: nil, consumers: consumers, kind: "performance domain", outputNames: false, names: &names)
            entries.append(PerformanceDomainEntry(id: UInt32(index), name: name, oppTablePath: "", levels: Self.undescribedPerformanceLevels))
        }
        for (index, node) in entryNodes.enumerated() {
            // An entry for the firmware's domain needs no OPP table: the firmware has the levels.
            if !node.hasProperty("operating-points-v2"), index < keys.count, let key = keys[index],
                HostFirmware.isPerformanceProvider(key.provider, cells: key.cells)
            {
                let name = entryName(index, key, entryNode: node, consumers: consumers, kind: "performance domain", outputNames: false, names: &names)
                entries.append(PerformanceDomainEntry(id: UInt32(index), name: name, oppTablePath: "", levels: Self.undescribedPerformanceLevels))
                continue
            }
            guard node.hasProperty("operating-points-v2") else {
                // Without either the schema reported it; here power-domains or clocks names something else.
                if node.hasProperty("power-domains") || node.hasProperty("clocks") {
                    findings.add(
                        .oppTableInvalid, at: node,
                        "no operating-points-v2, and its power-domains or clocks does not name a performance domain of the host's SCMI firmware "
                            + "(one cell of the protocol@13 node of a host SCMI platform node)",
                        hint: "add operating-points-v2 = <&opp_table>, or point it at the firmware: power-domains = <&scmi_perf ID>")
                }
                continue
            }
            guard let table = findings.resolveSinglePhandle(of: node, property: "operating-points-v2") else { continue }
            var levels: [PerformanceLevel] = []
            if table.isCompatible(with: "operating-points-v2") {
                for opp in table.children where opp.isEnabled {
                    guard let hz = opp.property("opp-hz")?.u64Array?.first, hz > 0 else { continue }
                    levels.append(
                        PerformanceLevel(
                            hz: hz, microvolts: opp.property("opp-microvolt")?.u32Array?.first, level: opp.property("opp-level")?.u32,
                            microwatts: opp.property("opp-microwatt")?.u32Array?.first,
                            latencyNanoseconds: opp.property("clock-latency-ns")?.u32))
                }
            }
            guard !levels.isEmpty else {
                findings.add(
                    .oppTableInvalid, at: node, property: "operating-points-v2",
                    "\(table.path) is not an OPP table (compatible \"operating-points-v2\") with at least one enabled opp-hz")
                continue
            }
            levels.sort { $0.hz < $1.hz }
            if node.property("label") == nil { requirePrintable(table.baseName, of: "performance domain \(index)", from: table, property: nil) }
            entries.append(
                PerformanceDomainEntry(id: UInt32(index), name: node.property("label")?.string ?? table.baseName, oppTablePath: paths.path(of: table), levels: levels))
        }
        return entries
    }
}

/// What `ResourceFacts.fixedKind(of:)` makes of a clock provider.
enum FixedClockKind {
    case fixed, fixedFactor, neither
}

/// A name for a resource from the first device that names it (section 5.1):
/// `<consumer>-<clock-names entry>`, and where it came from.
struct ConsumerName {
    var name: String
    var node: DeviceTreeNode
    var property: String
}

/// The first consumer name met for each id of one table, by id: an array index where a
/// dictionary keyed by the resource would hash it for every device that names it. What is
/// kept is where the name is (`ConsumerSource`, 12 bytes), not the name: most resources are
/// named otherwise (a label, output names), and making each name allocated a string per
/// resource (50,000 at 100,000 devices) and kept 56 bytes for it.
struct ConsumerNames {
    private var sources: [ConsumerSource] = []

    /// True when `id` has a consumer name already.
    func contains(_ id: UInt32) -> Bool { Int(id) < sources.count && sources[Int(id)].device != 0 }

    /// Notes `source` as the name of `id`.
    mutating func note(_ id: UInt32, _ source: ConsumerSource) {
        // Derived ids come one more at a time: appending keeps the growth geometric, with no
        // array of empty sources made for each.
        while Int(id) >= sources.count { sources.append(ConsumerSource.none) }
        sources[Int(id)] = source
    }

    /// The name of `id`, made from `devices` (the backend's, which the sources index).
    func name(of id: UInt32, in devices: [DeviceDescription]) -> ConsumerName? {
        guard contains(id) else { return nil }
        let source = sources[Int(id)]
        let device = Int(source.device) - 1
        guard let resources = source.viaBasedev ? devices[device].basedev : devices[device].direct else { return nil }
        let names: [String]
        switch source.list {
        case .clocks: names = resources.clockNames
        case .resets: names = resources.resetNames
        case .powerDomains: names = resources.powerDomainNames
        }
        return ConsumerName(name: resources.consumerName + "-" + names[Int(source.entry)], node: resources.node, property: source.list.propertyName)
    }

    /// An explicit table may give one resource several ids; each of them is named after the
    /// resource's first consumer, which was noted at the first id alone.
    mutating func share<Key>(among table: IDTable<Key>) {
        guard table.isExplicit else { return }
        for (id, key) in table.keys.enumerated() {
            guard let key, let first = table.existingID(for: key), Int(first) != id, contains(first) else { continue }
            note(UInt32(id), sources[Int(first)])
        }
    }
}

/// Where a `ConsumerName` is: the device's position in the backend's devices (+ 1; 0 for no
/// name), its own resources or its base device's, and the entry of which names list.
struct ConsumerSource {
    var device: UInt32
    var entry: UInt32
    var list: NamesList
    var viaBasedev: Bool

    static let none = ConsumerSource(device: 0, entry: 0, list: .clocks, viaBasedev: false)

    /// The `*-names` properties a consumer name is taken from.
    enum NamesList: UInt8 {
        case clocks, resets, powerDomains

        var propertyName: String {
            switch self {
            case .clocks: "clock-names"
            case .resets: "reset-names"
            case .powerDomains: "power-domain-names"
            }
        }
    }
}

/// Names of one table, made unique in id order: labels are kept as written, and a
/// derived name already taken gets `-2`, `-3`… (the lowest free suffix), so that the
/// same tree always gives the same names.
struct UniqueNames {
    private var taken: Set<String>
    private var nextSuffix: [String: Int] = [:]
    private var labelIDs: [String: Int] = [:]

    /// `capacity`: about how many names the table will have, so that the set is sized once.
    init(labels: [String], capacity: Int) {
        taken = Set(minimumCapacity: max(capacity, labels.count))
        for label in labels { taken.insert(label) }
    }

    /// The id that already carries `label`, when `label` is repeated.
    mutating func repeatedLabel(_ label: String, id: Int) -> Int? {
        if let first = labelIDs[label] { return first }
        labelIDs[label] = id
        return nil
    }

    mutating func unique(_ name: String) -> String {
        // One hash for a name not taken yet, the usual case.
        if taken.insert(name).inserted { return name }
        var suffix = nextSuffix[name] ?? 2
        while taken.contains(name + "-" + String(suffix)) { suffix += 1 }
        nextSuffix[name] = suffix + 1
        let unique = name + "-" + String(suffix)
        taken.insert(unique)
        return unique
    }
}

/// The regulator properties a voltage entry reads.
enum RegulatorProperty: Int, CaseIterable {
    case name, minimum, maximum, step, alwaysOn, bootOn, compatible, coupledWith

    var propertyName: String {
        switch self {
        case .name: "regulator-name"
        case .minimum: "regulator-min-microvolt"
        case .maximum: "regulator-max-microvolt"
        case .step: "arm,scmi-voltage-step-microvolt"
        case .alwaysOn: "regulator-always-on"
        case .bootOn: "regulator-boot-on"
        case .compatible: "compatible"
        case .coupledWith: "regulator-coupled-with"
        }
    }
}

/// Where a regulator's `RegulatorProperty`s are, found in one pass over its properties by name
/// id: looking each up by name would compare the bytes of every property's name, six times per
/// regulator. The first property of a name is the one found, as `DeviceTreeNode.property(_:)` finds it.
struct RegulatorProperties {
    private let tree: FlattenedDeviceTree
    /// Property index position of each `RegulatorProperty` (by raw value); -1 when absent.
    private var positions = SIMD8<Int32>(repeating: -1)
    private static let count = RegulatorProperty.allCases.count

    /// The name id of each `RegulatorProperty` (by raw value) in `tree`; -1 for a name no
    /// property of the tree has, which no property's id equals.
    static func nameIDs(in tree: FlattenedDeviceTree) -> SIMD8<Int32> {
        var ids = SIMD8<Int32>(repeating: -1)
        for which in RegulatorProperty.allCases { ids[which.rawValue] = tree.propertyNameID(exactly: which.propertyName) ?? -1 }
        return ids
    }

    init(of regulator: DeviceTreeNode, nameIDs: SIMD8<Int32>) {
        tree = regulator.tree
        for position in regulator.propertyPositions {
            let id = tree.propertyNameID(at: position)
            for slot in 0..<Self.count where nameIDs[slot] == id {
                if positions[slot] < 0 { positions[slot] = Int32(position) }
                break
            }
        }
    }

    subscript(_ which: RegulatorProperty) -> DeviceTreeProperty? {
        let position = positions[which.rawValue]
        return position < 0 ? nil : tree.property(at: Int(position))
    }

    func has(_ which: RegulatorProperty) -> Bool { positions[which.rawValue] >= 0 }
}
