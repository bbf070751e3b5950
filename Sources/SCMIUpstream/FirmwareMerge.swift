// The firmware's facts become the served facts (docs/host.md, "What serve
// learns from the firmware"): rates, levels, OPPs, sensor units and names come
// from the firmware; a fact the devicetree states that disagrees is a warning
// naming both; the board's own voltage bounds still limit what is served. Each
// merged fact keeps its source, for `tables`.

import ResourceTables

/// Where a served fact came from.
public enum FactSource: String, Sendable, Equatable {
    case devicetree, firmware
}

/// The sources of one upstream resource's served facts.
public struct FactSources: Sendable, Equatable {
    /// The name guests see.
    public var name: FactSource
    /// Rates (clock), levels (voltage and performance domains), unit and scale
    /// (sensor); nil for power and reset domains, which have none.
    public var values: FactSource?

    public init(name: FactSource, values: FactSource?) {
        self.name = name
        self.values = values
    }
}

/// The tables serve serves with an upstream.
public struct MergedTables: Sendable {
    public var tables: PlatformTables
    /// One line per devicetree fact the firmware contradicts, or firmware name
    /// that cannot be used, each naming the resource both ways.
    public var warnings: [String]
    /// For every upstream resource.
    public var sources: [ResourceReference: FactSources]
}

extension FirmwareFacts {
    /// `tables` with the firmware's facts served in place of the devicetree's.
    /// Throws `.refused` when a voltage domain has no firmware level within
    /// the board's own bounds.
    public func merged(into tables: PlatformTables) throws(FirmwareFactsError) -> MergedTables {
        var merge = FactMerge(original: tables, tables: tables)
        for resource in resources { merge.apply(resource) }
        guard merge.problems.isEmpty else { throw .refused(merge.problems) }
        merge.applyNames(resources)
        return MergedTables(tables: merge.tables, warnings: merge.warnings, sources: merge.sources)
    }
}

/// One merge: the tables being changed, and what it found.
struct FactMerge {
    /// The devicetree's tables: names and facts in messages are these.
    let original: PlatformTables
    var tables: PlatformTables
    var warnings: [String] = []
    var problems: [String] = []
    var sources: [ResourceReference: FactSources] = [:]

    init(original: PlatformTables, tables: PlatformTables) {
        self.original = original
        self.tables = tables
    }

    private func label(_ resource: FirmwareResourceFacts) -> String {
        FirmwareFacts.describe(resource.reference, resource.origin, in: original)
    }

    /// A warning when the devicetree gave `board` (from `where`) and it is not `firmware`.
    private mutating func compare(_ resource: FirmwareResourceFacts, _ what: String, board: String?, from place: String, firmware: String) {
        guard let board, board != firmware else { return }
        warnings.append(label(resource) + ": the devicetree gives " + what + " " + board + " (" + place + "), the firmware "
            + firmware + "; serving the firmware's")
    }

    mutating func apply(_ resource: FirmwareResourceFacts) {
        let index = Int(resource.reference.id)
        var values: FactSource? = .firmware
        switch resource.values {
        case .clock(let rates, let rate):
            guard index < tables.clocks.count else { return }
            let clock = tables.clocks[index]
            // "firmware": the devicetree said nothing (docs/binding.md §5.7).
            compare(resource, "rates", board: clock.ratesSource == "firmware" ? nil : Self.text(clock.rates), from: clock.ratesSource,
                    firmware: Self.text(rates))
            tables.clocks[index].rates = rates
            tables.clocks[index].ratesSource = "firmware"
            tables.clocks[index].initialRate = rate >= rates.lowest && rate <= rates.highest ? rate : rates.lowest
        case .voltage(let levels, _, let level):
            guard index < tables.voltageDomains.count else { return }
            apply(resource, levels: levels, level: level, to: index)
        case .performance(let numbered, _):
            guard index < tables.performanceDomains.count else { return }
            let domain = tables.performanceDomains[index]
            let hertz = numbered.levels.map { level -> PerformanceLevel in
                let (hz, overflow) = UInt64(level.level).multipliedReportingOverflow(by: numbered.hertzPerLevel)
                return PerformanceLevel(hz: overflow ? .max : hz, microwatts: level.powerCostMicrowatts,
                                        latencyNanoseconds: UInt32(clamping: UInt64(level.latencyMicroseconds) * 1000))
            }
            // No OPP table: the devicetree said nothing (docs/binding.md §5.7).
            compare(resource, "levels", board: domain.oppTablePath.isEmpty ? nil : Self.text(domain.levels.map(\.hz)), from: "OPP table " + domain.oppTablePath,
                    firmware: Self.text(hertz.map(\.hz)))
            tables.performanceDomains[index].levels = hertz
            tables.performanceDomains[index].firmwareLevels = numbered
        case .sensor(let unitType, let unitExponent):
            guard index < tables.sensors.count else { return }
            let sensor = tables.sensors[index]
            compare(resource, "unit", board: Self.unit(sensor.unitType, sensor.unitExponent), from: "arm,scmi-sensor-type",
                    firmware: Self.unit(unitType, unitExponent))
            tables.sensors[index].unitType = unitType
            tables.sensors[index].unitExponent = unitExponent
            if let type = SensorType.allCases.first(where: { $0.unitType == unitType }) { tables.sensors[index].type = type }
        case .powerDomain, .reset:
            values = nil
        }
        sources[resource.reference] = FactSources(name: .devicetree, values: values)
    }

    /// A rail's levels: the firmware's, within the board's own bounds
    /// (`regulator-min/max-microvolt`, kept as a host limit) when the
    /// devicetree gives them; none left is a problem.
    private mutating func apply(_ resource: FirmwareResourceFacts, levels: VoltageLevels, level: Int32, to index: Int) {
        let rail = tables.voltageDomains[index]
        let described = rail.levelsSource != "firmware"
        compare(resource, "levels", board: described ? Self.text(rail.levels) : nil, from: rail.levelsSource, firmware: Self.text(levels))
        let bounds = described ? (rail.minimumLevel, rail.maximumLevel) : (levels.lowest, levels.highest)
        guard let served = Self.within(levels, bounds.0, bounds.1) else {
            problems.append(label(resource) + ": no level the firmware describes (" + Self.text(levels) + ") lies within the devicetree's "
                + String(bounds.0) + "..." + String(bounds.1) + " µV (" + rail.levelsSource + ")")
            return
        }
        tables.voltageDomains[index].levels = served
        tables.voltageDomains[index].levelsSource = described ? "firmware within " + rail.levelsSource : "firmware"
        tables.voltageDomains[index].minimumLevel = bounds.0
        tables.voltageDomains[index].maximumLevel = bounds.1
        tables.voltageDomains[index].initialLevel = served.lowestLevel(atLeast: Int64(level)) ?? served.lowest
    }

    /// The levels of `levels` within minimum...maximum; nil when none is.
    static func within(_ levels: VoltageLevels, _ minimum: Int32, _ maximum: Int32) -> VoltageLevels? {
        switch levels {
        case .discrete(let list):
            let inside = list.filter { $0 >= minimum && $0 <= maximum }
            return inside.isEmpty ? nil : .discrete(inside)
        case .range(let low, let high, let step):
            // The range's levels are low + k·step and high; the first and last inside the bounds.
            guard let first = levels.lowestLevel(atLeast: Int64(minimum)), first <= maximum else { return nil }
            let top: Int32
            if high <= maximum {
                top = high
            } else {
                top = Int32(Int64(low) + (Int64(maximum) - Int64(low)) / Int64(step) * Int64(step))
            }
            if first == top { return .discrete([first]) }
            // A range whose top is not on the grid is still min + k·step and max.
            return .range(min: first, max: top, step: step)
        }
    }

    /// Names (docs/host.md): the board's `label` stays; otherwise the
    /// firmware's name, unless it is empty, not printable ASCII, or another
    /// resource of the same table already has it (then the devicetree's stays,
    /// with a warning).
    mutating func applyNames(_ resources: [FirmwareResourceFacts]) {
        var taken: [ProtocolID: Set<String>] = [:]
        let upstream = Set(resources.filter { !$0.origin.labelled }.map(\.reference))
        for protocolID in ProtocolID.servable {
            let count = original.resourceCount(of: protocolID)
            taken[protocolID] = Set((0 ..< count).map { ResourceReference(protocolID, UInt32($0)) }.filter { !upstream.contains($0) }
                .map { original.name(of: $0) })
        }
        for resource in resources where !resource.origin.labelled {
            let name = resource.name, protocolID = resource.reference.protocolID
            guard name != original.name(of: resource.reference) else {
                taken[protocolID, default: []].insert(name)
                sources[resource.reference]?.name = .firmware
                continue
            }
            let printable = !name.isEmpty && name.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
            guard printable, !(taken[protocolID]?.contains(name) ?? false) else {
                warnings.append(label(resource) + ": the firmware's name \"" + Self.escaped(name) + "\" "
                    + (printable ? "is another resource's" : "is not printable ASCII") + "; serving the devicetree's")
                taken[protocolID, default: []].insert(original.name(of: resource.reference))
                continue
            }
            taken[protocolID, default: []].insert(name)
            rename(resource.reference, to: name)
            sources[resource.reference]?.name = .firmware
        }
    }

    private mutating func rename(_ reference: ResourceReference, to name: String) {
        let index = Int(reference.id)
        switch reference.protocolID {
        case .clock: tables.clocks[index].name = name
        case .voltage: tables.voltageDomains[index].name = name
        case .powerDomain: tables.powerDomains[index].name = name
        case .performance: tables.performanceDomains[index].name = name
        case .reset: tables.resetDomains[index].name = name
        case .sensor: tables.sensors[index].name = name
        default: break
        }
    }

    // MARK: Facts as messages say them

    static func text(_ rates: ClockRates) -> String {
        switch rates {
        case .discrete(let list): text(list)
        case .range(let minimum, let maximum, let step): "\(minimum)..\(maximum) Hz step \(step) Hz"
        }
    }

    static func text(_ hertz: [UInt64]) -> String { hertz.map { "\($0) Hz" }.joined(separator: ", ") }

    static func text(_ levels: VoltageLevels) -> String {
        switch levels {
        case .discrete(let list): list.map { "\($0) µV" }.joined(separator: ", ")
        case .range(let minimum, let maximum, let step): "\(minimum)..\(maximum) µV step \(step) µV"
        }
    }

    /// `2 × 10^-3`: the unit type and its power of ten.
    static func unit(_ type: UInt8, _ exponent: Int8) -> String { "\(type) × 10^\(exponent)" }

    static func escaped(_ name: String) -> String {
        String(name.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
    }
}
