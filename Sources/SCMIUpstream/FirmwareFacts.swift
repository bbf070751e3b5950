// What serve learns from the firmware before it serves anyone (docs/host.md,
// "What serve learns from the firmware"): the Base handshake, then, for every
// upstream resource, the firmware's own facts read with the firmware's id, and
// one read of its state to prove serve may use it. A resource the firmware does
// not have, refuses, or describes in a way serve cannot serve is a problem
// naming it twice (as guests see it, as the firmware does); serve does not
// start while there is one. Merging the facts into the tables is
// FirmwareMerge.swift's.

import ResourceTables
import SCMIClient

/// Who the firmware is, and who serve is to it.
public struct FirmwareIdentity: Sendable, Equatable {
    /// Base PROTOCOL_VERSION.
    public var baseVersion: UInt32
    public var vendor: String
    public var subVendor: String
    public var implementationVersion: UInt32
    /// serve's own agent id at the firmware (BASE_DISCOVER_AGENT(0xFFFFFFFF)):
    /// a firmware notification whose agent_id is this one was caused by serve
    /// itself.
    public var agentID: UInt32
    public var agentName: String
    /// The protocols the firmware implements for serve (Base excluded),
    /// BASE_DISCOVER_LIST_PROTOCOLS.
    public var protocols: [ProtocolID]

    public init(baseVersion: UInt32, vendor: String, subVendor: String, implementationVersion: UInt32, agentID: UInt32,
                agentName: String, protocols: [ProtocolID]) {
        self.baseVersion = baseVersion
        self.vendor = vendor
        self.subVendor = subVendor
        self.implementationVersion = implementationVersion
        self.agentID = agentID
        self.agentName = agentName
        self.protocols = protocols
    }
}

/// What the firmware says about one upstream resource.
public struct FirmwareResourceFacts: Sendable, Equatable {
    /// The resource as guests see it.
    public var reference: ResourceReference
    public var origin: FirmwareOrigin
    /// The firmware's whole name (its *_NAME_GET when the short one is cut).
    public var name: String
    public var values: Values

    /// The facts of each kind of resource, and the state read at start.
    public enum Values: Sendable, Equatable {
        /// DESCRIBE_RATES, and CLOCK_RATE_GET.
        case clock(rates: ClockRates, rate: UInt64)
        /// DESCRIBE_LEVELS, VOLTAGE_CONFIG_GET's word and VOLTAGE_LEVEL_GET.
        case voltage(levels: VoltageLevels, config: UInt32, level: Int32)
        /// POWER_STATE_GET's word.
        case powerDomain(state: UInt32)
        /// DESCRIBE_LEVELS with the sustained pair (power costs in µW, 0 when
        /// the firmware's are abstract), and PERFORMANCE_LEVEL_GET.
        case performance(FirmwarePerformanceLevels, level: UInt32)
        /// RESET_DOMAIN_ATTRIBUTES' latency (0xFFFFFFFF: unknown).
        case reset(latencyMicroseconds: UInt32)
        /// The descriptor's unit (attributes_high 7:0) and its power of ten.
        case sensor(unitType: UInt8, unitExponent: Int8)
    }

    public init(reference: ResourceReference, origin: FirmwareOrigin, name: String, values: Values) {
        self.reference = reference
        self.origin = origin
        self.name = name
        self.values = values
    }
}

/// Why serve cannot start with this firmware.
public enum FirmwareFactsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The link failed, or the Base handshake did: nothing can be asked.
    case unreachable(String)
    /// Resources the firmware does not have, refuses, or describes in a way
    /// serve cannot serve: one line each, naming the resource both ways.
    case refused([String])

    public var description: String {
        switch self {
        case .unreachable(let why): why
        case .refused(let problems): problems.joined(separator: "\n")
        }
    }

    /// How `serve` and `tables` exit (docs/host.md): 2 when the firmware
    /// cannot be reached, like a hook program that cannot be run; 1 when the
    /// board names resources this firmware refuses, like a board with errors.
    public var exitStatus: Int32 {
        switch self {
        case .unreachable: 2
        case .refused: 1
        }
    }
}

/// The Base handshake and every upstream resource's facts.
public struct FirmwareFacts: Sendable, Equatable {
    public var identity: FirmwareIdentity
    /// In the tables' order: by protocol, then by id.
    public var resources: [FirmwareResourceFacts]

    public init(identity: FirmwareIdentity, resources: [FirmwareResourceFacts]) {
        self.identity = identity
        self.resources = resources
    }

    /// Asks the firmware behind `link` about every resource of
    /// `tables.firmwareOrigins`, each command waiting at most
    /// `timeoutMilliseconds`. A link failure ends the reading at once
    /// (`unreachable`); refused resources are gathered and thrown together.
    public static func read(
        _ tables: PlatformTables, over link: any UpstreamLink, timeoutMilliseconds: Int
    ) throws(FirmwareFactsError) -> FirmwareFacts {
        let client = SCMIClient(transport: UpstreamClientTransport(link: link, timeoutMilliseconds: timeoutMilliseconds))
        let identity: FirmwareIdentity
        do {
            identity = try handshake(client)
        } catch let error as UpstreamError {
            throw .unreachable("the firmware does not answer: " + error.description)
        } catch {
            throw .unreachable("the firmware's Base handshake failed: " + String(describing: error))
        }
        var reader = FactReader(client: client, tables: tables, implemented: Set(identity.protocols))
        var resources: [FirmwareResourceFacts] = []
        var problems: [String] = []
        let references = tables.firmwareOrigins.keys.sorted { ($0.protocolID.rawValue, $0.id) < ($1.protocolID.rawValue, $1.id) }
        for reference in references {
            guard let origin = tables.firmwareOrigins[reference] else { continue }
            do {
                resources.append(try reader.facts(reference, origin))
            } catch let error as UpstreamError {
                throw .unreachable("the firmware stopped answering: " + error.description)
            } catch {
                problems.append(describe(reference, origin, in: tables) + ": " + reason(error))
            }
        }
        guard problems.isEmpty else { throw .refused(problems) }
        return FirmwareFacts(identity: identity, resources: resources)
    }

    /// Base PROTOCOL_VERSION, the vendor strings and implementation version
    /// (Linux tolerates their absence, so does serve), the protocol list and
    /// BASE_DISCOVER_AGENT(0xFFFFFFFF).
    static func handshake(_ client: SCMIClient) throws -> FirmwareIdentity {
        let version = try client.protocolVersion(ProtocolID.base.rawValue)
        let (protocolCount, _) = try client.baseAttributes()
        let vendor = try tolerated(client.vendor) ?? ""
        let subVendor = try tolerated(client.subVendor) ?? ""
        let implementation = try tolerated(client.implementationVersion) ?? 0
        let protocols = try client.listProtocols(expected: protocolCount).map { ProtocolID(rawValue: $0) }
        let me = try client.discoverAgent()
        return FirmwareIdentity(
            baseVersion: version, vendor: vendor, subVendor: subVendor, implementationVersion: implementation, agentID: me.id,
            agentName: me.name, protocols: protocols)
    }

    /// `clock 2 "gpu" (firmware clock 12 of /firmware/scmi)`: the resource as
    /// guests see it, then as the firmware knows it.
    public static func describe(_ reference: ResourceReference, _ origin: FirmwareOrigin, in tables: PlatformTables) -> String {
        let noun = noun(reference.protocolID)
        return noun + " " + String(reference.id) + " \"" + tables.name(of: reference) + "\" (firmware " + noun + " "
            + String(origin.firmwareID) + " of " + origin.platformNodePath.description + ")"
    }

    static func noun(_ protocolID: ProtocolID) -> String {
        switch protocolID {
        case .clock: "clock"
        case .voltage: "voltage domain"
        case .powerDomain: "power domain"
        case .performance: "performance domain"
        case .reset: "reset domain"
        case .sensor: "sensor"
        default: "protocol " + protocolID.description + " resource"
        }
    }

    /// `the firmware answers NOT_FOUND to CLOCK_ATTRIBUTES`, or what else went wrong.
    static func reason(_ error: any Error) -> String {
        switch error {
        case SCMIClientError.status(let status, let protocolID, let messageID):
            "the firmware answers " + status.name + " to "
                + MessageNames.messageName(protocolID: protocolID, messageID: messageID).description
        case let error as SCMIClientError: "the firmware's reply is unusable: " + error.description
        case let problem as FactProblem: problem.reason
        default: String(describing: error)
        }
    }
}

/// A reply serve understood but cannot serve (a multi-axis sensor, no levels).
struct FactProblem: Error {
    let reason: String
}

extension ValueDescription where Value: BinaryInteger & Hashable {
    /// As the tables hold a description: a list sorted without duplicates and
    /// never empty, or a range with min ≤ max and a step of at least 1.
    func checked(_ noun: String, unit: String) throws -> ValueDescription<Value> {
        switch self {
        case .discrete(let list):
            guard !list.isEmpty else { throw FactProblem(reason: "the firmware describes no " + noun) }
            return .discrete(Array(Set(list)).sorted())
        case .range(let minimum, let maximum, let step):
            guard minimum <= maximum, step >= 1 else {
                throw FactProblem(reason: "the firmware's \(noun) range \(minimum)..\(maximum) \(unit) step \(step) \(unit) is not a range")
            }
            return self
        }
    }
}

/// The value `body` returns, or nil when the firmware answered it with a failed
/// status; a link failure is still thrown.
func tolerated<Value>(_ body: () throws -> Value) throws -> Value? {
    do {
        return try body()
    } catch SCMIClientError.status {
        return nil
    }
}

extension PlatformTables {
    /// The name a resource has in these tables ("" for an id they lack).
    func name(of reference: ResourceReference) -> String {
        let index = Int(reference.id)
        switch reference.protocolID {
        case .clock: return index < clocks.count ? clocks[index].name : ""
        case .voltage: return index < voltageDomains.count ? voltageDomains[index].name : ""
        case .powerDomain: return index < powerDomains.count ? powerDomains[index].name : ""
        case .performance: return index < performanceDomains.count ? performanceDomains[index].name : ""
        case .reset: return index < resetDomains.count ? resetDomains[index].name : ""
        case .sensor: return index < sensors.count ? sensors[index].name : ""
        default: return ""
        }
    }
}

/// Reads one resource's facts at a time with the firmware's id; remembers what
/// a protocol says once (its version, the sensor descriptors, the unit of
/// performance power costs).
struct FactReader {
    let client: SCMIClient
    let tables: PlatformTables
    let implemented: Set<ProtocolID>
    private var sensorDescriptors: [UInt32: SensorDescriptor]?
    private var microwattsPerPowerUnit: UInt32?

    init(client: SCMIClient, tables: PlatformTables, implemented: Set<ProtocolID>) {
        self.client = client
        self.tables = tables
        self.implemented = implemented
    }

    mutating func facts(_ reference: ResourceReference, _ origin: FirmwareOrigin) throws -> FirmwareResourceFacts {
        let protocolID = origin.protocolID
        guard implemented.contains(protocolID) else {
            throw FactProblem(reason: "the firmware does not implement the " + protocolID.name + " protocol (" + protocolID.description + ")")
        }
        let id = origin.firmwareID
        let (name, values): (String, FirmwareResourceFacts.Values)
        switch protocolID {
        case .clock: (name, values) = try clock(id)
        case .voltage: (name, values) = try voltage(id)
        case .powerDomain: (name, values) = try powerDomain(id)
        case .performance: (name, values) = try performance(id)
        case .reset: (name, values) = try reset(id)
        case .sensor: (name, values) = try sensor(id)
        default: throw FactProblem(reason: "serve does not forward protocol " + protocolID.description)
        }
        return FirmwareResourceFacts(reference: reference, origin: origin, name: name, values: values)
    }

    /// The short name, or the whole one when the attributes say there is one
    /// (a failed NAME_GET keeps the short name, as Linux does).
    private func name(_ short: String, extended: Bool, _ nameGet: () throws -> String) throws -> String {
        guard extended else { return short }
        return try tolerated(nameGet) ?? short
    }

    private func clock(_ id: UInt32) throws -> (String, FirmwareResourceFacts.Values) {
        let attributes = try client.clockAttributes(id)
        let name = try name(attributes.name, extended: attributes.hasExtendedName) { try client.clockName(id) }
        let rates: ClockRates =
            switch try client.describeRates(id).checked("rate", unit: "Hz") {
            case .discrete(let list): .discrete(list)
            case .range(let minimum, let maximum, let step): .range(min: minimum, max: maximum, step: step)
            }
        return (name, .clock(rates: rates, rate: try client.rateGet(id)))
    }

    private func voltage(_ id: UInt32) throws -> (String, FirmwareResourceFacts.Values) {
        let attributes = try client.voltageDomainAttributes(id)
        let name = try name(attributes.name, extended: attributes.hasExtendedName) { try client.voltageDomainName(id) }
        let levels: VoltageLevels =
            switch try client.describeLevels(id).checked("level", unit: "µV") {
            case .discrete(let list): .discrete(list)
            case .range(let minimum, let maximum, let step): .range(min: minimum, max: maximum, step: step)
            }
        let config = try client.voltageConfigGet(id)
        return (name, .voltage(levels: levels, config: config, level: try client.levelGet(id)))
    }

    private func powerDomain(_ id: UInt32) throws -> (String, FirmwareResourceFacts.Values) {
        let attributes = try client.powerDomainAttributes(id)
        let name = try name(attributes.name, extended: attributes.hasExtendedName) { try client.powerDomainName(id) }
        return (name, .powerDomain(state: try client.powerStateGet(id)))
    }

    private mutating func performance(_ id: UInt32) throws -> (String, FirmwareResourceFacts.Values) {
        let perWatt = try powerUnit()
        let attributes = try client.performanceDomainAttributes(id)
        let name = try name(attributes.name, extended: attributes.hasExtendedName) { try client.performanceDomainName(id) }
        var levels: [FirmwarePerformanceLevels.Level] = []
        for entry in try client.describePerformanceLevels(id).sorted(by: { $0.level < $1.level }) where levels.last?.level != entry.level {
            let (cost, overflow) = entry.powerCost.multipliedReportingOverflow(by: perWatt)
            levels.append(.init(level: entry.level, powerCostMicrowatts: overflow ? .max : cost, latencyMicroseconds: entry.latencyMicroseconds))
        }
        guard !levels.isEmpty else { throw FactProblem(reason: "the firmware describes no level") }
        let numbered = FirmwarePerformanceLevels(
            levels: levels, sustainedFrequencyKilohertz: attributes.sustainedFrequencyKilohertz, sustainedLevel: attributes.sustainedLevel)
        return (name, .performance(numbered, level: try client.performanceLevelGet(id)))
    }

    /// µW per unit of the firmware's power costs: PROTOCOL_ATTRIBUTES bit 17
    /// µW (1), bit 16 mW (1000), neither abstract (0: serve says µW, and an
    /// abstract cost is no number of µW).
    private mutating func powerUnit() throws -> UInt32 {
        if let known = microwattsPerPowerUnit { return known }
        let word = try client.protocolAttributes(ProtocolID.performance.rawValue).first ?? 0
        let unit: UInt32 = word & (1 << 17) != 0 ? 1 : word & (1 << 16) != 0 ? 1000 : 0
        microwattsPerPowerUnit = unit
        return unit
    }

    private func reset(_ id: UInt32) throws -> (String, FirmwareResourceFacts.Values) {
        let attributes = try client.resetDomainAttributes(id)
        let name = try name(attributes.name, extended: attributes.hasExtendedName) { try client.resetDomainName(id) }
        return (name, .reset(latencyMicroseconds: attributes.latencyMicroseconds))
    }

    /// The descriptor (every page read once, for every sensor); from version
    /// 3 on SENSOR_CONFIG_GET too, which a firmware refuses to an agent that
    /// may not use the sensor. serve serves scalar sensors only.
    private mutating func sensor(_ id: UInt32) throws -> (String, FirmwareResourceFacts.Values) {
        if sensorDescriptors == nil {
            sensorDescriptors = Dictionary(try client.sensorDescriptors().map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
        guard let descriptor = sensorDescriptors?[id] else { throw FactProblem(reason: "the firmware lists no such sensor in SENSOR_DESCRIPTION_GET") }
        guard descriptor.axes == 0 else {
            throw FactProblem(reason: "the firmware's sensor has \(descriptor.axes) axes; serve serves scalar sensors only")
        }
        let name = try name(descriptor.name, extended: descriptor.hasExtendedName) { try client.sensorName(id) }
        if try client.protocolVersion(ProtocolID.sensor.rawValue) >> 16 >= 3 { _ = try client.sensorConfigGet(id) }
        return (name, .sensor(unitType: descriptor.unitType, unitExponent: descriptor.unitExponent))
    }
}
