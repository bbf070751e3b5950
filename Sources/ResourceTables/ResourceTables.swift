// ProtocolID is SCMIWire's: one definition of the protocol ids for the tables,
// the engine and the client. Re-exported so that `import ResourceTables` still
// brings it, as before it moved.
@_exported import struct SCMIWire.ProtocolID

// The resolved tables of an SCMI backend: what `tables` prints and what `serve`
// boots from. Plain values only. BackendModel produces them from a devicetree;
// SCMIPlatform consumes them. Neither side needs to know about the other.

/// A table entry's host node, as a devicetree path spelled out when read.
///
/// Spelling a path costs the node's depth. A tree may nest nodes thousands deep with an
/// entry for each of them, and holding every entry's path as a string made that quadratic
/// (10,000 clocks nested up to 10,000 deep: a 1.7 MB blob took 433 MB and 8 s to check, and
/// `check` and `serve` never read the paths). So an entry keeps the node's position in tree
/// order and what spells the paths of that tree, which BackendModel makes once per tree
/// (keeping the indexed tree, linear in the blob, alive while the tables are); `tables`
/// spells each path once, as it prints it. Making one allocates nothing: a closure that
/// captured the node allocated its context, once per entry of a tree of 100,000 devices.
public struct NodePath: Hashable, Sendable, CustomStringConvertible {
    private let speller: any NodePathSpeller
    private let position: Int

    /// A path given as a string (tests, hand-made tables).
    public init(_ path: String) { self.init(node: 0, spelledBy: SpelledPath(path)) }

    /// The path of the node at `position` in tree order, spelled by `speller` on each read.
    public init(node position: Int, spelledBy speller: any NodePathSpeller) {
        self.speller = speller
        self.position = position
    }

    /// The path, `/soc/clock-controller@10000000`.
    public var description: String { speller.path(ofNode: position) }

    public static func == (lhs: NodePath, rhs: NodePath) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// Spells the paths of one devicetree's nodes, given by position in tree order. A class, so
/// that a `NodePath` holds one reference (two words with the protocol's table) and an integer.
public protocol NodePathSpeller: AnyObject, Sendable {
    /// The path of the node at `position`, `/soc/clock-controller@10000000`.
    func path(ofNode position: Int) -> String
}

/// A path already spelled, whatever the position.
private final class SpelledPath: NodePathSpeller {
    let path: String
    init(_ path: String) { self.path = path }
    func path(ofNode position: Int) -> String { path }
}

extension ProtocolID {
    /// The protocols a backend node may list (docs/binding.md §2); Base is implicit.
    public static let servable: [ProtocolID] = [.powerDomain, .performance, .clock, .sensor, .reset, .voltage]
}

/// A reference from a device to one entry of a protocol's table.
public struct ResourceReference: Hashable, Sendable {
    public var protocolID: ProtocolID
    public var id: UInt32
    public init(_ protocolID: ProtocolID, _ id: UInt32) {
        self.protocolID = protocolID
        self.id = id
    }
}

// MARK: - Clocks (0x14)

/// How a clock's rates are described to the guest (CLOCK_DESCRIBE_RATES).
public enum ClockRates: Hashable, Sendable {
    /// Sorted ascending, without duplicates, never empty.
    case discrete([UInt64])
    /// min ≤ max, step ≥ 1.
    case range(min: UInt64, max: UInt64, step: UInt64)

    public var lowest: UInt64 {
        switch self {
        case .discrete(let rates): rates.first ?? 0
        case .range(let min, _, _): min
        }
    }

    public var highest: UInt64 {
        switch self {
        case .discrete(let rates): rates.last ?? 0
        case .range(_, let max, _): max
        }
    }
}

public struct ClockEntry: Hashable, Sendable {
    public var id: UInt32
    /// The whole name (may exceed 15 bytes; CLOCK_ATTRIBUTES truncates, NAME_GET does not).
    public var name: String
    /// Devicetree path of the host clock provider node.
    public var providerPath: String {
        get { providerNodePath.description }
        set { providerNodePath = NodePath(newValue) }
    }
    /// `providerPath` before it is spelled out (see `NodePath`).
    public var providerNodePath: NodePath
    /// The specifier cells after the provider phandle.
    public var specifier: [UInt32]
    public var rates: ClockRates
    public var initialRate: UInt64
    /// Where `rates` came from, for `tables` (docs/binding.md §5.1): `clock-frequency`,
    /// `fixed-factor`, a rate property, `opp-hz <OPP table path>` or `undescribed`.
    public var ratesSource: String

    public init(
        id: UInt32, name: String, providerPath: String, specifier: [UInt32], rates: ClockRates, initialRate: UInt64, ratesSource: String = ""
    ) {
        self.init(
            id: id, name: name, providerPath: NodePath(providerPath), specifier: specifier, rates: rates, initialRate: initialRate,
            ratesSource: ratesSource)
    }

    public init(
        id: UInt32, name: String, providerPath: NodePath, specifier: [UInt32], rates: ClockRates, initialRate: UInt64, ratesSource: String = ""
    ) {
        self.id = id
        self.name = name
        self.providerNodePath = providerPath
        self.specifier = specifier
        self.rates = rates
        self.initialRate = initialRate
        self.ratesSource = ratesSource
    }
}

// MARK: - Voltage domains (0x17)

/// Levels in signed microvolts (VOLTAGE_DESCRIBE_LEVELS).
public enum VoltageLevels: Hashable, Sendable {
    /// Sorted ascending, without duplicates, never empty.
    case discrete([Int32])
    /// min ≤ max, step ≥ 1.
    case range(min: Int32, max: Int32, step: Int32)

    public var lowest: Int32 {
        switch self {
        case .discrete(let levels): levels.first ?? 0
        case .range(let min, _, _): min
        }
    }

    public var highest: Int32 {
        switch self {
        case .discrete(let levels): levels.last ?? 0
        case .range(_, let max, _): max
        }
    }

    /// The lowest described level at or above `floor` (a range's valid levels are
    /// min + k·step and max); nil when every level is below it. Used to keep a
    /// coupled rail within its spread: the model for initial levels, serve after
    /// a partner moves.
    public func lowestLevel(atLeast floor: Int64) -> Int32? {
        switch self {
        case .discrete(let list):
            return list.first { Int64($0) >= floor }
        case .range(let minimum, let maximum, let step):
            if floor <= Int64(minimum) { return minimum }
            if floor > Int64(maximum) { return nil }
            let steps = (floor - Int64(minimum) + Int64(step) - 1) / Int64(step)
            return Int32(Swift.min(Int64(minimum) + steps * Int64(step), Int64(maximum)))
        }
    }
}

/// `regulator-coupled-with` / `regulator-coupled-max-spread`: this rail's level may
/// differ from the partner's physical level by at most `maxSpread` µV.
public struct VoltageCoupling: Hashable, Sendable {
    /// The partner's id in the voltage table.
    public var partner: UInt32
    public var maxSpread: Int32

    public init(partner: UInt32, maxSpread: Int32) {
        self.partner = partner
        self.maxSpread = maxSpread
    }
}

public struct VoltageDomainEntry: Hashable, Sendable {
    public var id: UInt32
    public var name: String
    /// Devicetree path of the host regulator node.
    public var regulatorPath: String {
        get { regulatorNodePath.description }
        set { regulatorNodePath = NodePath(newValue) }
    }
    /// `regulatorPath` before it is spelled out (see `NodePath`).
    public var regulatorNodePath: NodePath
    public var levels: VoltageLevels
    public var initialLevel: Int32
    /// `regulator-always-on` or `regulator-boot-on` on the host node.
    public var initiallyOn: Bool
    /// Where `levels` came from, for `tables` (docs/binding.md §5.2):
    /// `regulator-min/max-microvolt`, `states` or `arm,scmi-levels-microvolt`.
    public var levelsSource: String
    /// `regulator-always-on`: the host needs the rail, so it is never switched off
    /// physically, whatever agents ask (docs/serve.md §4).
    public var alwaysOn: Bool
    /// The regulator's own constraints (`regulator-min/max-microvolt`): no level
    /// outside them is ever applied.
    public var minimumLevel: Int32
    public var maximumLevel: Int32
    /// Served partners this rail is coupled with, each with its maximum spread.
    public var couplings: [VoltageCoupling]

    public init(
        id: UInt32, name: String, regulatorPath: String, levels: VoltageLevels, initialLevel: Int32, initiallyOn: Bool,
        levelsSource: String = "", alwaysOn: Bool = false, minimumLevel: Int32? = nil, maximumLevel: Int32? = nil,
        couplings: [VoltageCoupling] = []
    ) {
        self.init(
            id: id, name: name, regulatorPath: NodePath(regulatorPath), levels: levels, initialLevel: initialLevel, initiallyOn: initiallyOn,
            levelsSource: levelsSource, alwaysOn: alwaysOn, minimumLevel: minimumLevel, maximumLevel: maximumLevel, couplings: couplings)
    }

    /// Without `minimumLevel`/`maximumLevel` the constraints are the described levels' ends.
    public init(
        id: UInt32, name: String, regulatorPath: NodePath, levels: VoltageLevels, initialLevel: Int32, initiallyOn: Bool,
        levelsSource: String = "", alwaysOn: Bool = false, minimumLevel: Int32? = nil, maximumLevel: Int32? = nil,
        couplings: [VoltageCoupling] = []
    ) {
        self.id = id
        self.name = name
        self.regulatorNodePath = regulatorPath
        self.levels = levels
        self.initialLevel = initialLevel
        self.initiallyOn = initiallyOn
        self.levelsSource = levelsSource
        self.alwaysOn = alwaysOn
        self.minimumLevel = minimumLevel ?? levels.lowest
        self.maximumLevel = maximumLevel ?? levels.highest
        self.couplings = couplings
    }
}

// MARK: - Power domains (0x11), performance domains (0x13), sensors (0x15), resets (0x16)

/// A host resource named by a provider phandle and specifier (power domain, reset line).
public struct ProviderResourceEntry: Hashable, Sendable {
    public var id: UInt32
    public var name: String
    public var providerPath: String {
        get { providerNodePath.description }
        set { providerNodePath = NodePath(newValue) }
    }
    /// `providerPath` before it is spelled out (see `NodePath`).
    public var providerNodePath: NodePath
    public var specifier: [UInt32]

    public init(id: UInt32, name: String, providerPath: String, specifier: [UInt32]) {
        self.init(id: id, name: name, providerPath: NodePath(providerPath), specifier: specifier)
    }

    public init(id: UInt32, name: String, providerPath: NodePath, specifier: [UInt32]) {
        self.id = id
        self.name = name
        self.providerNodePath = providerPath
        self.specifier = specifier
    }
}

/// One OPP of a performance domain's table.
public struct PerformanceLevel: Hashable, Sendable {
    public var hz: UInt64
    public var microvolts: UInt32?
    public var level: UInt32?
    /// `opp-microwatt`: the level's power cost (PERFORMANCE_DESCRIBE_LEVELS).
    public var microwatts: UInt32?
    /// `clock-latency-ns`: how long switching to this level takes.
    public var latencyNanoseconds: UInt32?
    public init(hz: UInt64, microvolts: UInt32? = nil, level: UInt32? = nil, microwatts: UInt32? = nil, latencyNanoseconds: UInt32? = nil) {
        self.hz = hz
        self.microvolts = microvolts
        self.level = level
        self.microwatts = microwatts
        self.latencyNanoseconds = latencyNanoseconds
    }
}

public struct PerformanceDomainEntry: Hashable, Sendable {
    public var id: UInt32
    public var name: String
    /// Path of the `operating-points-v2` table node.
    public var oppTablePath: String {
        get { oppTableNodePath.description }
        set { oppTableNodePath = NodePath(newValue) }
    }
    /// `oppTablePath` before it is spelled out (see `NodePath`).
    public var oppTableNodePath: NodePath
    public var levels: [PerformanceLevel]
    /// The levels as the firmware numbers them, when an upstream gave them
    /// (docs/host.md, "What serve learns from the firmware"): served instead of
    /// the OPPs' kHz, so that a level passes to the firmware unchanged. `levels`
    /// then holds the same levels in Hz, for `tables`.
    public var firmwareLevels: FirmwarePerformanceLevels?

    public init(id: UInt32, name: String, oppTablePath: String, levels: [PerformanceLevel]) {
        self.init(id: id, name: name, oppTablePath: NodePath(oppTablePath), levels: levels)
    }

    public init(id: UInt32, name: String, oppTablePath: NodePath, levels: [PerformanceLevel], firmwareLevels: FirmwarePerformanceLevels? = nil) {
        self.id = id
        self.name = name
        self.oppTableNodePath = oppTablePath
        self.levels = levels
        self.firmwareLevels = firmwareLevels
    }
}

/// A performance domain's levels in an SCMI platform's own numbering
/// (PERFORMANCE_DESCRIBE_LEVELS and PERFORMANCE_DOMAIN_ATTRIBUTES): Linux turns
/// a level into Hz with sustained kHz × 1000 / sustained level.
public struct FirmwarePerformanceLevels: Hashable, Sendable {
    public struct Level: Hashable, Sendable {
        public var level: UInt32
        /// The level's power cost in µW (0: unknown).
        public var powerCostMicrowatts: UInt32
        public var latencyMicroseconds: UInt32

        public init(level: UInt32, powerCostMicrowatts: UInt32, latencyMicroseconds: UInt32) {
            self.level = level
            self.powerCostMicrowatts = powerCostMicrowatts
            self.latencyMicroseconds = latencyMicroseconds
        }
    }

    /// Ascending by level, without duplicates, never empty.
    public var levels: [Level]
    public var sustainedFrequencyKilohertz: UInt32
    public var sustainedLevel: UInt32

    public init(levels: [Level], sustainedFrequencyKilohertz: UInt32, sustainedLevel: UInt32) {
        self.levels = levels
        self.sustainedFrequencyKilohertz = sustainedFrequencyKilohertz
        self.sustainedLevel = sustainedLevel
    }

    /// Hz per level, as Linux computes it: 1000 (levels are kHz) when either
    /// sustained value is 0.
    public var hertzPerLevel: UInt64 {
        guard sustainedFrequencyKilohertz != 0, sustainedLevel != 0 else { return 1000 }
        return UInt64(sustainedFrequencyKilohertz) * 1000 / UInt64(sustainedLevel)
    }
}

public enum SensorType: String, Hashable, Sendable, CaseIterable {
    case temperature, voltage, current, power, energy

    /// SCMI unit type (DEN0056 table "sensor unit types"; Linux enum scmi_sensor_class).
    public var unitType: UInt8 {
        switch self {
        case .temperature: 2  // degrees Celsius
        case .voltage: 5
        case .current: 6
        case .power: 7
        case .energy: 8  // joules
        }
    }
}

public enum SensorValueSource: Hashable, Sendable {
    case constant(Int64)
    /// A host file read on each request: a decimal integer, surrounding
    /// whitespace allowed.
    case path(String)
    /// No reading in the devicetree: a sensor of the host's SCMI firmware
    /// (`arm,scmi-sensor`), read through the firmware or a host hook. The model
    /// alone has no reading to give (SENSOR_READING_GET answers HARDWARE_ERROR).
    case host
}

public struct SensorEntry: Hashable, Sendable {
    public var id: UInt32
    public var name: String
    public var type: SensorType
    /// The SCMI unit type served: `type`'s, unless the firmware's descriptor
    /// said otherwise (docs/host.md, "What serve learns from the firmware").
    public var unitType: UInt8
    public var unitExponent: Int8
    public var source: SensorValueSource
    /// `arm,scmi-sensor-interval-ms` (10...3600000, default 1000): the
    /// update and polling interval.
    public var intervalMilliseconds: UInt32

    /// The interval when the binding gives none.
    public static let defaultIntervalMilliseconds: UInt32 = 1000

    public init(id: UInt32, name: String, type: SensorType, unitExponent: Int8, source: SensorValueSource,
                intervalMilliseconds: UInt32 = SensorEntry.defaultIntervalMilliseconds) {
        self.id = id
        self.name = name
        self.type = type
        self.unitType = type.unitType
        self.unitExponent = unitExponent
        self.source = source
        self.intervalMilliseconds = intervalMilliseconds
    }
}

// MARK: - Where a resource lives on the host (docs/binding.md §5.7)

/// A resource that belongs to the host's SCMI firmware: its provider is a protocol
/// node of a host SCMI platform node (`arm,scmi`, …), so the firmware knows it by
/// `firmwareID` in protocol `protocolID`.
public struct FirmwareOrigin: Hashable, Sendable {
    /// The host SCMI platform node, `/firmware/scmi`.
    public var platformNodePath: NodePath
    public var protocolID: ProtocolID
    /// The firmware's own id: the specifier cell, or a voltage domain regulator's `reg`.
    public var firmwareID: UInt32
    /// The table entry has a `label`: the name guests see is the board's
    /// choice, kept when the firmware's facts are merged.
    public var labelled: Bool

    public init(platformPath: NodePath, protocolID: ProtocolID, firmwareID: UInt32, labelled: Bool = false) {
        self.platformNodePath = platformPath
        self.protocolID = protocolID
        self.firmwareID = firmwareID
        self.labelled = labelled
    }

    /// `0x14:12 /firmware/scmi`: protocol, firmware id, platform node.
    public var description: String { "\(protocolID):\(firmwareID) \(platformNodePath)" }
}

/// What a served resource's physical changes reach (docs/serve.md, "Host bindings").
public enum HostBinding: String, Hashable, Sendable, CaseIterable {
    /// The host SCMI firmware the resource belongs to, through `serve --upstream`.
    case upstream
    /// The program given to `serve --host-hook`.
    case hook
    /// Nothing outside serve: the physical state lives in its memory.
    case model

    /// The binding of a resource: `upstream` when it belongs to the firmware and an
    /// upstream is given, else `hook` when a host hook is given, else `model`.
    public static func decide(origin: FirmwareOrigin?, upstreamGiven: Bool, hookGiven: Bool) -> HostBinding {
        if origin != nil && upstreamGiven { return .upstream }
        return hookGiven ? .hook : .model
    }
}

// MARK: - Devices and agents

public struct DeviceEntry: Hashable, Sendable {
    /// `arm,scmi-devid`.
    public var id: UInt32
    /// `arm,scmi-devname`.
    public var name: String
    /// Devicetree path of the `device@N` node.
    public var path: String {
        get { nodePath.description }
        set { nodePath = NodePath(newValue) }
    }
    /// `path` before it is spelled out (see `NodePath`).
    public var nodePath: NodePath
    /// Every resource of the device, in docs/binding.md §3 order, without duplicates.
    public var resources: [ResourceReference]

    public init(id: UInt32, name: String, path: String, resources: [ResourceReference]) {
        self.init(id: id, name: name, path: NodePath(path), resources: resources)
    }

    public init(id: UInt32, name: String, path: NodePath, resources: [ResourceReference]) {
        self.id = id
        self.name = name
        self.nodePath = path
        self.resources = resources
    }
}

public struct AgentEntry: Hashable, Sendable {
    /// SCMI agent id, 1...254.
    public var id: UInt32
    /// 1...15 printable bytes.
    public var name: String
    /// Device ids this agent may use at start.
    public var devices: [UInt32]
    /// Protocols this agent may use at start (never Base), sorted.
    public var protocols: [ProtocolID]
    public var trusted: Bool

    public init(id: UInt32, name: String, devices: [UInt32], protocols: [ProtocolID], trusted: Bool) {
        self.id = id
        self.name = name
        self.devices = devices
        self.protocols = protocols
        self.trusted = trusted
    }
}

/// Everything a backend serves, resolved and validated.
public struct PlatformTables: Hashable, Sendable {
    public var vendor: String
    public var subVendor: String
    public var implementationVersion: UInt32
    /// Enabled protocols (never Base), sorted ascending.
    public var protocols: [ProtocolID]
    public var clocks: [ClockEntry]
    public var voltageDomains: [VoltageDomainEntry]
    public var powerDomains: [ProviderResourceEntry]
    public var performanceDomains: [PerformanceDomainEntry]
    public var sensors: [SensorEntry]
    public var resetDomains: [ProviderResourceEntry]
    public var devices: [DeviceEntry]
    /// Declared agents, sorted by id; one implicit agent when the tree has no `agents` node.
    public var agents: [AgentEntry]
    /// True when `agents` is the implicit single agent (id 1, "agent1", everything allowed).
    public var agentsAreImplicit: Bool
    /// The resources that belong to the host's SCMI firmware; a resource not here comes
    /// from an ordinary host provider.
    public var firmwareOrigins: [ResourceReference: FirmwareOrigin]

    public init(
        vendor: String = "SCMI-VIO-BE", subVendor: String = "", implementationVersion: UInt32 = 1,
        protocols: [ProtocolID] = [], clocks: [ClockEntry] = [], voltageDomains: [VoltageDomainEntry] = [],
        powerDomains: [ProviderResourceEntry] = [], performanceDomains: [PerformanceDomainEntry] = [],
        sensors: [SensorEntry] = [], resetDomains: [ProviderResourceEntry] = [],
        devices: [DeviceEntry] = [], agents: [AgentEntry] = [], agentsAreImplicit: Bool = false,
        firmwareOrigins: [ResourceReference: FirmwareOrigin] = [:]
    ) {
        self.vendor = vendor
        self.subVendor = subVendor
        self.implementationVersion = implementationVersion
        self.protocols = protocols
        self.clocks = clocks
        self.voltageDomains = voltageDomains
        self.powerDomains = powerDomains
        self.performanceDomains = performanceDomains
        self.sensors = sensors
        self.resetDomains = resetDomains
        self.devices = devices
        self.agents = agents
        self.agentsAreImplicit = agentsAreImplicit
        self.firmwareOrigins = firmwareOrigins
    }

    /// The firmware a resource belongs to, nil when it is not the firmware's.
    public func firmwareOrigin(_ protocolID: ProtocolID, _ id: UInt32) -> FirmwareOrigin? {
        firmwareOrigins.isEmpty ? nil : firmwareOrigins[ResourceReference(protocolID, id)]
    }

    /// The agent a user means by `idOrName`: the agent with that id when it is a number
    /// (decimal or 0x-hex) that one has, else the one with that arm,scmi-agent-name. The
    /// same rule as `call`'s arguments (an agent named "7" is still found when no id is 7).
    public func agent(_ idOrName: String) -> AgentEntry? {
        let number = idOrName.hasPrefix("0x") ? UInt32(idOrName.dropFirst(2), radix: 16) : UInt32(idOrName)
        if let number, let byID = agents.first(where: { $0.id == number }) { return byID }
        return agents.first { $0.name == idOrName }
    }

    /// "name (id), …": every agent, for messages that ask the user to choose one.
    public var agentList: String { agents.map { "\($0.name) (\($0.id))" }.joined(separator: ", ") }

    /// Number of entries in a protocol's table (0 for protocols without one).
    public func resourceCount(of protocolID: ProtocolID) -> Int {
        switch protocolID {
        case .clock: clocks.count
        case .voltage: voltageDomains.count
        case .powerDomain: powerDomains.count
        case .performance: performanceDomains.count
        case .sensor: sensors.count
        case .reset: resetDomains.count
        default: 0
        }
    }
}
