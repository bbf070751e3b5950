import DeviceTree
import ResourceTables

/// Reads each table entry's facts (names, rates, levels, sources) from the
/// host nodes. Findings about a host resource name the host node (section 5),
/// once per node however many ids share it.
struct ResourceFacts {
    let backend: BackendDescription
    var findings: DiagnosticCollector
    var hostValidator: StructuralValidator
    private let clockEntrySchema: NodeSchema?
    private let regulatorEntrySchema: NodeSchema?
    private var rateMemo: [DeviceTreeNode: ClockRates?] = [:]
    private var fixedRateMemo: [DeviceTreeNode: UInt64?] = [:]
    private var reportedNodes: Set<DeviceTreeNode> = []
    private var mismatchReported: Set<DeviceTreeNode> = []
    private var outputNamesMemo: [DeviceTreeNode: [String]] = [:]
    private var unprintableReported: Set<DeviceTreeNode> = []

    init(backend: BackendDescription, schema: NodeSchema, findings: DiagnosticCollector, hostValidator: StructuralValidator) {
        self.backend = backend
        self.findings = findings
        self.hostValidator = hostValidator
        let protocolSchema = { (id: UInt8) in schema.childSchema(named: "protocol@" + String(id, radix: 16)) }
        clockEntrySchema = protocolSchema(0x14)?.childSchema(named: "clock@0")
        regulatorEntrySchema = protocolSchema(0x17)?.childSchema(named: "regulator@0")
    }

    // MARK: - Clocks (5.1)

    static let rateProperties = ["arm,scmi-rates", "arm,scmi-rates-64", "arm,scmi-rate-range", "arm,scmi-rate-range-64"]
    /// What a clock without any rate description is served as.
    static let undescribedRates = ClockRates.range(min: 1, max: 4_294_967_295, step: 1)

    mutating func clockEntries(_ keys: [SpecifierKey?], entryNodes: [DeviceTreeNode], devices: [DeviceDescription]) -> [ClockEntry] {
        let assigned = assignedRates(devices: devices, providers: keys.compactMap { $0?.provider })
        var entries: [ClockEntry] = []
        var idOfName: [String: Int] = [:]
        for (index, key) in keys.enumerated() {
            guard let key else { continue }
            let entryNode = index < entryNodes.count ? entryNodes[index] : nil
            let rates = clockRates(key, entryNode: entryNode)
            let name = entryNode?.property("label")?.string ?? resourceName(key.provider, key.cells, outputNames: true)
            if entryNode?.property("label") == nil {
                requirePrintable(name, of: "clock \(index)", from: key.provider, property: fromOutputNames(key) ? "clock-output-names" : nil)
            }
            if let first = idOfName[name] {
                let namer = entryNode ?? key.provider
                findings.add(
                    .clockNameDuplicate, at: namer, "clock \(index) is named \"\(printable(name))\" like clock \(first)",
                    hint: entryNode == nil ? "give the table entry a label, or fix clock-output-names" : "give it another label")
            } else {
                idOfName[name] = index
            }
            var initial = rates.lowest
            if let rate = assigned[key], Self.supports(rates, rate) { initial = rate }
            entries.append(
                ClockEntry(
                    id: UInt32(index), name: name, providerPath: key.provider.lazyPath, specifier: key.cells, rates: rates, initialRate: initial))
        }
        return entries
    }

    private mutating func clockRates(_ key: SpecifierKey, entryNode: DeviceTreeNode?) -> ClockRates {
        let provider = key.provider
        let entryRates = entryNode.flatMap { rateProperty(of: $0, inBackend: true) }
        let providerRates = rateProperty(of: provider, inBackend: false)
        var fixed: UInt64?
        if provider.compatible.contains("fixed-clock") {
            fixed = clockFrequency(of: provider, report: true)
        } else if provider.compatible.contains("fixed-factor-clock") {
            fixed = fixedRate(of: provider, depth: 0)
        }
        if let fixed {
            for (node, rates) in [(entryNode, entryRates), (provider, providerRates)] {
                guard let node, let rates, rates != .discrete([fixed]), mismatchReported.insert(node).inserted else { continue }
                findings.add(
                    .clockRateMismatch, at: node, property: Self.rateProperties.first { node.hasProperty($0) },
                    "the rates given here disagree with \(provider.path), whose rate is fixed at \(fixed) Hz",
                    hint: "remove the rate property; a fixed clock's rate comes from its provider")
            }
            return .discrete([fixed])
        }
        if let entryRates { return entryRates }
        if let providerRates { return providerRates }
        // A rate property that is there but unusable was reported already; do not call it missing.
        let described = [entryNode, provider].contains { node in node.map { node in Self.rateProperties.contains { node.hasProperty($0) } } ?? false }
        if !described && reportedNodes.insert(provider).inserted {
            findings.add(
                .clockRateUndescribed, at: provider,
                "no rate description: clocks of this provider are served as 1 Hz .. 4294967295 Hz in 1 Hz steps",
                hint: "add arm,scmi-rates or arm,scmi-rate-range = <min max step> here or on the table entry")
        }
        return Self.undescribedRates
    }

    /// The rate property of `node` (table entry or provider), checked; nil when absent or unusable.
    private mutating func rateProperty(of node: DeviceTreeNode, inBackend: Bool) -> ClockRates? {
        if let memo = rateMemo[node] { return memo }
        let present = Self.rateProperties.compactMap { node.property($0) }
        var result: ClockRates?
        defer { rateMemo[node] = result }
        guard let property = present.first else { return nil }
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

    /// A fixed-clock's `clock-frequency`.
    private mutating func clockFrequency(of provider: DeviceTreeNode, report: Bool) -> UInt64? {
        if let frequency = provider.property("clock-frequency")?.u32, frequency > 0 { return UInt64(frequency) }
        if report && reportedNodes.insert(provider).inserted {
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
        if provider.compatible.contains("fixed-clock") {
            rate = clockFrequency(of: provider, report: false)
        } else if provider.compatible.contains("fixed-factor-clock") {
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

    /// `assigned-clock-rates` per clock: devices (and their base devices) first, then providers.
    private func assignedRates(devices: [DeviceDescription], providers: [DeviceTreeNode]) -> [SpecifierKey: UInt64] {
        var result: [SpecifierKey: UInt64] = [:]
        func collect(_ node: DeviceTreeNode) {
            guard let rates = node.property("assigned-clock-rates")?.u32Array,
                case .success(let clocks)? = node.specifiers(of: "assigned-clocks", cellsName: "#clock-cells")
            else { return }
            for (clock, rate) in zip(clocks, rates) where rate > 0 {
                let key = SpecifierKey(ResourceSpecifier(provider: clock.provider, cells: clock.cells))
                if result[key] == nil { result[key] = UInt64(rate) }
            }
        }
        for device in devices {
            collect(device.node)
            if let basedev = device.basedev { collect(basedev.node) }
        }
        var seen = Set<DeviceTreeNode>()
        for provider in providers where seen.insert(provider).inserted { collect(provider) }
        return result
    }

    static func supports(_ rates: ClockRates, _ rate: UInt64) -> Bool {
        switch rates {
        case .discrete(let list): list.contains(rate)
        case .range(let minimum, let maximum, let step): rate >= minimum && rate <= maximum && (rate - minimum) % step == 0
        }
    }

    /// Section 5.1's naming: output names where the provider has them, else
    /// the node name (without unit address) and the cells.
    mutating func resourceName(_ provider: DeviceTreeNode, _ cells: [UInt32], outputNames: Bool) -> String {
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
        switch cells.count {
        case 0:
            return names.first ?? provider.baseName
        case 1:
            if Int(cells[0]) < names.count { return names[Int(cells[0])] }
            return provider.baseName + "-" + String(cells[0])
        default:
            return provider.baseName + cells.map { "-" + String($0) }.joined()
        }
    }

    /// Whether a clock's derived name comes from its provider's clock-output-names.
    private mutating func fromOutputNames(_ key: SpecifierKey) -> Bool {
        let names = outputNamesMemo[key.provider] ?? []
        return key.cells.count == 0 ? !names.isEmpty : key.cells.count == 1 && Int(key.cells[0]) < names.count
    }

    /// A name a guest will be sent (CLOCK_ATTRIBUTES, NAME_GET, …) that was derived from the
    /// host tree rather than written into the backend: SCMI names are ASCII strings, and a
    /// control byte in one reaches the guest's logs and sysfs verbatim. Reported once per
    /// source node, at the property the name came from.
    private mutating func requirePrintable(_ name: String, of what: String, from node: DeviceTreeNode, property: String?) {
        guard name.isEmpty || !name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return }
        guard unprintableReported.insert(node).inserted else { return }
        findings.add(
            .resourceNameUnprintable, at: node, property: property,
            "\(what) would be named \"\(printable(name))\"; names sent to guests must be printable ASCII",
            hint: "give the resource's table entry a label (its id's child node under the protocol node)")
    }

    // MARK: - Voltage domains (5.2)

    mutating func voltageEntries(_ keys: [DeviceTreeNode?], entryNodes: [DeviceTreeNode]) -> [VoltageDomainEntry] {
        var entries: [VoltageDomainEntry] = []
        for (index, regulator) in keys.enumerated() {
            guard let regulator else { continue }
            let entryNode = index < entryNodes.count ? entryNodes[index] : nil
            let name = entryNode?.property("label")?.string ?? regulator.property("regulator-name")?.string ?? regulator.baseName
            if entryNode?.property("label") == nil {
                requirePrintable(name, of: "voltage domain \(index)", from: regulator, property: regulator.hasProperty("regulator-name") ? "regulator-name" : nil)
            }
            let levels = voltageLevels(of: regulator, entryNode: entryNode) ?? .discrete([0])
            entries.append(
                VoltageDomainEntry(
                    id: UInt32(index), name: name, regulatorPath: regulator.lazyPath, levels: levels, initialLevel: levels.lowest,
                    initiallyOn: regulator.hasProperty("regulator-always-on") || regulator.hasProperty("regulator-boot-on")))
        }
        return entries
    }

    private mutating func voltageLevels(of regulator: DeviceTreeNode, entryNode: DeviceTreeNode?) -> VoltageLevels? {
        let report = reportedNodes.insert(regulator).inserted
        var bounds: [UInt32] = []
        for name in ["regulator-min-microvolt", "regulator-max-microvolt"] {
            guard let property = regulator.property(name) else {
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
            bounds.append(value)
        }
        let (minimum, maximum) = (bounds[0], bounds[1])
        guard minimum <= maximum, maximum <= UInt32(Int32.max) else {
            if report {
                let problem = minimum > maximum ? "min \(minimum) µV is above max \(maximum) µV" : "\(maximum) µV is above 2147483647 µV (SCMI levels are signed 32-bit)"
                findings.add(.regulatorLevelsInvalid, at: regulator, property: "regulator-max-microvolt", problem)
            }
            return nil
        }
        if minimum == maximum { return .discrete([Int32(minimum)]) }
        var step: UInt32?
        if let entryNode, let value = entryNode.property("arm,scmi-voltage-step-microvolt")?.u32 {
            step = value
        } else if let property = regulator.property("arm,scmi-voltage-step-microvolt") {
            if let schema = regulatorEntrySchema?.propertySchema(named: property.name),
                hostValidator.validateHostProperty(property, of: regulator, schema: schema)
            {
                step = property.u32
            }
        }
        let span = maximum - minimum
        if let step, step > 0 {
            if span % step != 0 && report {
                findings.add(
                    .voltageStepUneven, at: entryNode ?? regulator, property: "arm,scmi-voltage-step-microvolt",
                    "a step of \(step) µV does not divide \(minimum)..\(maximum) µV; the top level \(maximum) µV is unreachable")
            }
            return .range(min: Int32(minimum), max: Int32(maximum), step: Int32(step))
        }
        if report {
            findings.add(
                .voltageStepMissing, at: regulator, "no arm,scmi-voltage-step-microvolt: levels \(minimum)..\(maximum) µV are served in 1 µV steps",
                hint: "add arm,scmi-voltage-step-microvolt to the regulator or the table entry")
        }
        return .range(min: Int32(minimum), max: Int32(maximum), step: 1)
    }

    // MARK: - Power domains (0x11) and reset domains (0x16)

    mutating func providerEntries(_ keys: [SpecifierKey?], entryNodes: [DeviceTreeNode], kind: String) -> [ProviderResourceEntry] {
        var entries: [ProviderResourceEntry] = []
        for (index, key) in keys.enumerated() {
            guard let key else { continue }
            let entryNode = index < entryNodes.count ? entryNodes[index] : nil
            let name = entryNode?.property("label")?.string ?? resourceName(key.provider, key.cells, outputNames: false)
            if entryNode?.property("label") == nil { requirePrintable(name, of: "\(kind) \(index)", from: key.provider, property: nil) }
            entries.append(ProviderResourceEntry(id: UInt32(index), name: name, providerPath: key.provider.lazyPath, specifier: key.cells))
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

    mutating func performanceEntries(_ entryNodes: [DeviceTreeNode]) -> [PerformanceDomainEntry] {
        var entries: [PerformanceDomainEntry] = []
        for (index, node) in entryNodes.enumerated() {
            guard let table = findings.resolveSinglePhandle(of: node, property: "operating-points-v2") else { continue }
            var levels: [PerformanceLevel] = []
            if table.compatible.contains("operating-points-v2") {
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
                PerformanceDomainEntry(id: UInt32(index), name: node.property("label")?.string ?? table.baseName, oppTablePath: table.lazyPath, levels: levels))
        }
        return entries
    }
}
