import ResourceTables
import SCMIClient
import SCMIPlatform
import SCMIUpstream
import Testing

/// A firmware: the real engine built from these tables. serve is its agent 1
/// ("mediator"), which may use device 1 (everything but clock 3); agent 2
/// owns clock 3.
enum FirmwareTables {
    static let perfLevels = FirmwarePerformanceLevels(
        levels: [.init(level: 1, powerCostMicrowatts: 150_000, latencyMicroseconds: 40),
                 .init(level: 2, powerCostMicrowatts: 400_000, latencyMicroseconds: 40),
                 .init(level: 4, powerCostMicrowatts: 1_200_000, latencyMicroseconds: 60)],
        sustainedFrequencyKilohertz: 800_000, sustainedLevel: 4)

    static func tables(protocols: [ProtocolID] = [.powerDomain, .performance, .clock, .sensor, .reset, .voltage]) -> PlatformTables {
        let fw = "/fw"
        return PlatformTables(
            vendor: "FW-VENDOR", subVendor: "rev-b", implementationVersion: 0x104, protocols: protocols,
            clocks: [
                ClockEntry(id: 0, name: "osc", providerPath: fw, specifier: [0], rates: .discrete([24_000_000]), initialRate: 24_000_000),
                ClockEntry(id: 1, name: "gpu-core-pll", providerPath: fw, specifier: [1],
                           rates: .range(min: 100_000_000, max: 800_000_000, step: 1_000_000), initialRate: 300_000_000),
                ClockEntry(id: 2, name: "display-pixel-clock-main", providerPath: fw, specifier: [2],
                           rates: .discrete([200_000_000, 400_000_000, 800_000_000]), initialRate: 200_000_000),
                ClockEntry(id: 3, name: "secure-osc", providerPath: fw, specifier: [3], rates: .discrete([1_000_000]), initialRate: 1_000_000),
            ],
            voltageDomains: [
                VoltageDomainEntry(id: 0, name: "vdd-gpu", regulatorPath: fw, levels: .range(min: 600_000, max: 1_000_000, step: 12_500),
                                   initialLevel: 800_000, initiallyOn: true),
                VoltageDomainEntry(id: 1, name: "vdd-io", regulatorPath: fw, levels: .discrete([1_800_000, 3_300_000]),
                                   initialLevel: 1_800_000, initiallyOn: true),
            ],
            powerDomains: [ProviderResourceEntry(id: 0, name: "pd-gpu", providerPath: fw, specifier: [0])],
            performanceDomains: [PerformanceDomainEntry(id: 0, name: "gpu-perf", oppTablePath: NodePath(fw), levels: [], firmwareLevels: perfLevels)],
            sensors: [
                SensorEntry(id: 0, name: "soc-temp", type: .temperature, unitExponent: -3, source: .constant(42_000)),
                SensorEntry(id: 1, name: "gpu-power", type: .power, unitExponent: -6, source: .constant(3_000_000)),
            ],
            resetDomains: [ProviderResourceEntry(id: 0, name: "rst-gpu", providerPath: fw, specifier: [0])],
            devices: [
                DeviceEntry(id: 1, name: "gpu", path: "/fw/d1", resources: [
                    ResourceReference(.clock, 0), ResourceReference(.clock, 1), ResourceReference(.clock, 2), ResourceReference(.voltage, 0),
                    ResourceReference(.voltage, 1), ResourceReference(.powerDomain, 0), ResourceReference(.performance, 0),
                    ResourceReference(.sensor, 0), ResourceReference(.sensor, 1), ResourceReference(.reset, 0),
                ]),
                DeviceEntry(id: 2, name: "secure", path: "/fw/d2", resources: [ResourceReference(.clock, 3)]),
            ],
            agents: [
                AgentEntry(id: 1, name: "mediator", devices: [1], protocols: protocols, trusted: false),
                AgentEntry(id: 2, name: "secure-world", devices: [2], protocols: protocols, trusted: false),
            ])
    }
}

/// The board serve reads: every table entry is a firmware resource of
/// /firmware/scmi, named as the devicetree derives names, with the facts a
/// board without an upstream is served with (docs/binding.md §5.7).
enum MediatorTables {
    static let platform = NodePath("/firmware/scmi")

    static func origin(_ protocolID: ProtocolID, _ id: UInt32, labelled: Bool = false) -> FirmwareOrigin {
        FirmwareOrigin(platformPath: platform, protocolID: protocolID, firmwareID: id, labelled: labelled)
    }

    static let undescribedRates = ClockRates.range(min: 1, max: 4_294_967_295, step: 1)
    static let undescribedLevels = VoltageLevels.range(min: 0, max: Int32.max, step: 1)

    /// Clock 0 is firmware clock 2, clock 1 firmware clock 1; rail 0 firmware
    /// domain 0; one of each other kind.
    static func tables() -> PlatformTables {
        let scmi = "/firmware/scmi"
        return PlatformTables(
            vendor: "ACME", protocols: [.powerDomain, .performance, .clock, .sensor, .reset, .voltage],
            clocks: [
                ClockEntry(id: 0, name: "gpu-pixel", providerPath: scmi + "/protocol@14", specifier: [2], rates: undescribedRates,
                           initialRate: 1, ratesSource: "firmware"),
                ClockEntry(id: 1, name: "gpu-core", providerPath: scmi + "/protocol@14", specifier: [1], rates: undescribedRates,
                           initialRate: 1, ratesSource: "firmware"),
            ],
            voltageDomains: [
                VoltageDomainEntry(id: 0, name: "vdd-gpu-rail", regulatorPath: scmi + "/protocol@17/regulators/regulator@0", levels: undescribedLevels,
                                   initialLevel: 0, initiallyOn: false, levelsSource: "firmware"),
            ],
            powerDomains: [ProviderResourceEntry(id: 0, name: "protocol-0x0", providerPath: scmi + "/protocol@11", specifier: [0])],
            performanceDomains: [PerformanceDomainEntry(id: 0, name: "opp-table-gpu", oppTablePath: "/opp-table-gpu",
                                                        levels: [PerformanceLevel(hz: 200_000_000), PerformanceLevel(hz: 400_000_000),
                                                                 PerformanceLevel(hz: 800_000_000)])],
            sensors: [SensorEntry(id: 0, name: "sensor0", type: .power, unitExponent: -6, source: .host)],
            resetDomains: [ProviderResourceEntry(id: 0, name: "protocol-0x0", providerPath: scmi + "/protocol@16", specifier: [0])],
            devices: [DeviceEntry(id: 1, name: "gpu", path: "/d/device@1", resources: [
                ResourceReference(.clock, 0), ResourceReference(.clock, 1), ResourceReference(.voltage, 0), ResourceReference(.powerDomain, 0),
                ResourceReference(.performance, 0), ResourceReference(.sensor, 0), ResourceReference(.reset, 0),
            ])],
            agents: [AgentEntry(id: 1, name: "vm", devices: [1], protocols: [.powerDomain, .performance, .clock, .sensor, .reset, .voltage],
                                trusted: false)],
            firmwareOrigins: [
                ResourceReference(.clock, 0): origin(.clock, 2), ResourceReference(.clock, 1): origin(.clock, 1),
                ResourceReference(.voltage, 0): origin(.voltage, 0), ResourceReference(.powerDomain, 0): origin(.powerDomain, 0),
                ResourceReference(.performance, 0): origin(.performance, 0), ResourceReference(.sensor, 0): origin(.sensor, 1),
                ResourceReference(.reset, 0): origin(.reset, 0),
            ])
    }
}

/// A link to `firmware`'s engine as its agent 1.
func link(to firmware: SCMIPlatform) throws -> InProcessLink {
    InProcessLink(session: try #require(firmware.makeSession(agentID: 1)))
}

@Suite struct FirmwareFactsTests {
    let firmware = SCMIPlatform(tables: FirmwareTables.tables())

    func read(_ tables: PlatformTables) throws(FirmwareFactsError) -> FirmwareFacts {
        let link = try! link(to: firmware)
        return try FirmwareFacts.read(tables, over: link, timeoutMilliseconds: 1000)
    }

    @Test func handshakeNamesServeAtTheFirmware() throws {
        let identity = try read(MediatorTables.tables()).identity
        #expect(identity.agentID == 1 && identity.agentName == "mediator")
        #expect(identity.vendor == "FW-VENDOR" && identity.subVendor == "rev-b" && identity.implementationVersion == 0x104)
        #expect(identity.protocols == [.powerDomain, .performance, .clock, .sensor, .reset, .voltage])
        #expect(identity.baseVersion == 0x20000)
    }

    @Test func readsEachProtocolsFactsWithTheFirmwaresIDs() throws {
        let facts = try read(MediatorTables.tables())
        let byReference = Dictionary(uniqueKeysWithValues: facts.resources.map { ($0.reference, $0) })
        let pixel = try #require(byReference[ResourceReference(.clock, 0)])
        // Longer than 15 bytes: CLOCK_NAME_GET's whole name.
        #expect(pixel.name == "display-pixel-clock-main")
        #expect(pixel.values == .clock(rates: .discrete([200_000_000, 400_000_000, 800_000_000]), rate: 200_000_000))
        #expect(byReference[ResourceReference(.clock, 1)]?.values
            == .clock(rates: .range(min: 100_000_000, max: 800_000_000, step: 1_000_000), rate: 300_000_000))
        #expect(byReference[ResourceReference(.voltage, 0)]?.values
            == .voltage(levels: .range(min: 600_000, max: 1_000_000, step: 12_500), config: 0, level: 800_000))
        #expect(byReference[ResourceReference(.performance, 0)]?.values == .performance(FirmwareTables.perfLevels, level: 1))
        let sensor = try #require(byReference[ResourceReference(.sensor, 0)])
        #expect(sensor.name == "gpu-power" && sensor.values == .sensor(unitType: 7, unitExponent: -6))
        #expect(byReference[ResourceReference(.powerDomain, 0)]?.name == "pd-gpu")
        #expect(byReference[ResourceReference(.powerDomain, 0)]?.values == .powerDomain(state: 0x4000_0000))
        #expect(byReference[ResourceReference(.reset, 0)]?.name == "rst-gpu")
    }

    @Test func mergedTablesServeTheFirmwaresFacts() throws {
        let merged = try read(MediatorTables.tables()).merged(into: MediatorTables.tables())
        #expect(merged.warnings.isEmpty, "\(merged.warnings)")
        let served = SCMIPlatform(tables: merged.tables)
        let guest = SCMIClient(transport: UpstreamClientTransport(link: try link(to: served), timeoutMilliseconds: 1000))
        #expect(try guest.describeRates(0) == .discrete([200_000_000, 400_000_000, 800_000_000]))
        #expect(try guest.describeRates(1) == .range(min: 100_000_000, max: 800_000_000, step: 1_000_000))
        #expect(try guest.rateGet(1) == 300_000_000)
        #expect(try guest.clockAttributes(0).hasExtendedName && guest.clockName(0) == "display-pixel-clock-main")
        #expect(try guest.describeLevels(0) == .range(min: 600_000, max: 1_000_000, step: 12_500))
        #expect(try guest.levelGet(0) == 800_000)
        // The firmware's own level numbers and sustained pair: Linux's Hz are the firmware's.
        #expect(try guest.describePerformanceLevels(0).map(\.level) == [1, 2, 4])
        #expect(try guest.describePerformanceLevels(0).map(\.powerCost) == [150_000, 400_000, 1_200_000])
        let attributes = try guest.performanceDomainAttributes(0)
        #expect(attributes.sustainedFrequencyKilohertz == 800_000 && attributes.sustainedLevel == 4)
        #expect(try guest.sensorDescriptors().map { [$0.unitType, UInt8(bitPattern: $0.unitExponent)] } == [[7, UInt8(bitPattern: -6)]])
        #expect(try guest.sensorDescriptors().first?.name == "gpu-power")
        #expect(try guest.powerDomainAttributes(0).name == "pd-gpu" && guest.resetDomainAttributes(0).name == "rst-gpu")
        #expect(merged.tables.performanceDomains[0].levels.map(\.hz) == [200_000_000, 400_000_000, 800_000_000])
        #expect(merged.sources[ResourceReference(.clock, 1)] == FactSources(name: .firmware, values: .firmware))
        #expect(merged.sources[ResourceReference(.reset, 0)] == FactSources(name: .firmware, values: nil))
    }

    @Test func missingAndDeniedResourcesNameBothIDs() throws {
        var tables = MediatorTables.tables()
        tables.firmwareOrigins[ResourceReference(.clock, 0)] = MediatorTables.origin(.clock, 40)
        tables.firmwareOrigins[ResourceReference(.clock, 1)] = MediatorTables.origin(.clock, 3)
        tables.firmwareOrigins[ResourceReference(.sensor, 0)] = MediatorTables.origin(.sensor, 9)
        #expect(throws: FirmwareFactsError.refused([
            "clock 0 \"gpu-pixel\" (firmware clock 40 of /firmware/scmi): the firmware answers NOT_FOUND to CLOCK_ATTRIBUTES",
            "clock 1 \"gpu-core\" (firmware clock 3 of /firmware/scmi): the firmware answers DENIED to CLOCK_RATE_GET",
            "sensor 0 \"sensor0\" (firmware sensor 9 of /firmware/scmi): the firmware lists no such sensor in SENSOR_DESCRIPTION_GET",
        ])) { try read(tables) }
    }

    @Test func deniedRailPowerAndPerformanceDomains() throws {
        // The firmware's agent 2 may use none of them.
        let link = InProcessLink(session: try #require(firmware.makeSession(agentID: 2)))
        var tables = MediatorTables.tables()
        tables.firmwareOrigins = tables.firmwareOrigins.filter { [.voltage, .powerDomain, .performance].contains($0.key.protocolID) }
        #expect(throws: FirmwareFactsError.refused([
            "power domain 0 \"protocol-0x0\" (firmware power domain 0 of /firmware/scmi): the firmware answers DENIED to POWER_STATE_GET",
            "performance domain 0 \"opp-table-gpu\" (firmware performance domain 0 of /firmware/scmi): the firmware answers DENIED to PERFORMANCE_LEVEL_GET",
            "voltage domain 0 \"vdd-gpu-rail\" (firmware voltage domain 0 of /firmware/scmi): the firmware answers DENIED to VOLTAGE_CONFIG_GET",
        ])) { try FirmwareFacts.read(tables, over: link, timeoutMilliseconds: 1000) }
    }

    @Test func aProtocolTheFirmwareLacksRefusesItsResources() throws {
        let lean = SCMIPlatform(tables: FirmwareTables.tables(protocols: [.powerDomain, .performance, .clock, .sensor, .voltage]))
        var tables = MediatorTables.tables()
        tables.firmwareOrigins = tables.firmwareOrigins.filter { $0.key.protocolID == .reset || $0.key.protocolID == .clock }
        #expect(throws: FirmwareFactsError.refused([
            "reset domain 0 \"protocol-0x0\" (firmware reset domain 0 of /firmware/scmi): the firmware does not implement the reset protocol (0x16)",
        ])) { try FirmwareFacts.read(tables, over: try link(to: lean), timeoutMilliseconds: 1000) }
    }

    @Test func aClosedLinkIsUnreachable() throws {
        let link = try link(to: firmware)
        link.close()
        #expect(throws: FirmwareFactsError.unreachable("the firmware does not answer: upstream gone: closed")) {
            try FirmwareFacts.read(MediatorTables.tables(), over: link, timeoutMilliseconds: 1000)
        }
    }

    @Test func devicetreeFactsThatDisagreeAreWarningsNamingBoth() throws {
        var tables = MediatorTables.tables()
        tables.clocks[1].rates = .discrete([400_000_000, 800_000_000])
        tables.clocks[1].ratesSource = "opp-hz /opp-table-gpu"
        tables.performanceDomains[0].levels = [PerformanceLevel(hz: 400_000_000), PerformanceLevel(hz: 800_000_000)]
        tables.sensors[0].type = .power
        tables.sensors[0].unitType = 7
        tables.sensors[0].unitExponent = -3
        let merged = try read(tables).merged(into: tables)
        #expect(merged.warnings == [
            "performance domain 0 \"opp-table-gpu\" (firmware performance domain 0 of /firmware/scmi): the devicetree gives levels "
                + "400000000 Hz, 800000000 Hz (OPP table /opp-table-gpu), the firmware 200000000 Hz, 400000000 Hz, 800000000 Hz; serving the firmware's",
            "clock 1 \"gpu-core\" (firmware clock 1 of /firmware/scmi): the devicetree gives rates 400000000 Hz, 800000000 Hz "
                + "(opp-hz /opp-table-gpu), the firmware 100000000..800000000 Hz step 1000000 Hz; serving the firmware's",
            "sensor 0 \"sensor0\" (firmware sensor 1 of /firmware/scmi): the devicetree gives unit 7 × 10^-3 (arm,scmi-sensor-type), "
                + "the firmware 7 × 10^-6; serving the firmware's",
        ])
        #expect(merged.tables.clocks[1].rates == .range(min: 100_000_000, max: 800_000_000, step: 1_000_000))
        #expect(merged.tables.sensors[0].unitExponent == -6)
    }

    @Test func theBoardsVoltageBoundsStillLimitTheFirmwaresLevels() throws {
        var tables = MediatorTables.tables()
        tables.voltageDomains[0] = VoltageDomainEntry(
            id: 0, name: "vdd-gpu-rail", regulatorPath: "/firmware/scmi/protocol@17/regulators/regulator@0",
            levels: .range(min: 700_000, max: 900_000, step: 1), initialLevel: 700_000, initiallyOn: false,
            levelsSource: "regulator-min/max-microvolt")
        let merged = try read(tables).merged(into: tables)
        #expect(merged.tables.voltageDomains[0].levels == .range(min: 700_000, max: 900_000, step: 12_500))
        #expect(merged.tables.voltageDomains[0].levelsSource == "firmware within regulator-min/max-microvolt")
        #expect(merged.tables.voltageDomains[0].initialLevel == 800_000)
        #expect(merged.warnings.count == 1 && merged.warnings[0].contains("700000..900000 µV step 1 µV"))

        tables.voltageDomains[0].levels = .range(min: 1_100_000, max: 1_200_000, step: 1)
        tables.voltageDomains[0].minimumLevel = 1_100_000
        tables.voltageDomains[0].maximumLevel = 1_200_000
        #expect(throws: FirmwareFactsError.refused([
            "voltage domain 0 \"vdd-gpu-rail\" (firmware voltage domain 0 of /firmware/scmi): no level the firmware describes "
                + "(600000..1000000 µV step 12500 µV) lies within the devicetree's 1100000...1200000 µV (regulator-min/max-microvolt)",
        ])) { try read(tables).merged(into: tables) }
    }

    @Test func aLabelKeepsTheBoardsNameAndAClashKeepsTheDevicetrees() throws {
        var tables = MediatorTables.tables()
        tables.firmwareOrigins[ResourceReference(.clock, 0)] = MediatorTables.origin(.clock, 2, labelled: true)
        // The firmware calls the clock "osc", a name the board gives its other clock.
        tables.firmwareOrigins[ResourceReference(.clock, 1)] = MediatorTables.origin(.clock, 0)
        tables.clocks[0].name = "osc"
        let merged = try read(tables).merged(into: tables)
        #expect(merged.tables.clocks.map(\.name) == ["osc", "gpu-core"])
        #expect(merged.warnings == ["clock 1 \"gpu-core\" (firmware clock 0 of /firmware/scmi): the firmware's name \"osc\" is another resource's; serving the devicetree's"])
        #expect(merged.sources[ResourceReference(.clock, 0)]?.name == .devicetree)
        #expect(merged.sources[ResourceReference(.clock, 1)]?.name == .devicetree)
        #expect(merged.tables.powerDomains[0].name == "pd-gpu")
    }
}

/// A firmware whose replies `damage` changes on their way back.
final class DamagingLink: UpstreamLink, @unchecked Sendable {
    let inner: InProcessLink
    let damage: @Sendable ([UInt8]) -> [UInt8]

    init(_ inner: InProcessLink, damage: @escaping @Sendable ([UInt8]) -> [UInt8]) {
        self.inner = inner
        self.damage = damage
    }

    func exchange(_ request: [UInt8], timeoutMilliseconds: Int) throws(UpstreamError) -> [UInt8] {
        damage(try inner.exchange(request, timeoutMilliseconds: timeoutMilliseconds))
    }

    func receive(timeoutMilliseconds: Int, _ body: ([UInt8]) -> Void) throws(UpstreamError) -> Int {
        try inner.receive(timeoutMilliseconds: timeoutMilliseconds, body)
    }

    func close() { inner.close() }
}

@Suite struct FirmwareRepliesServeCannotServeTests {
    let firmware = SCMIPlatform(tables: FirmwareTables.tables())

    /// Header protocol bits 17:10 and message bits 7:0 of a reply.
    static func isReply(_ reply: [UInt8], protocolID: ProtocolID, messageID: UInt8) -> Bool {
        reply.count >= 8 && reply[0] == messageID && UInt8((UInt32(reply[1]) | UInt32(reply[2]) << 8) >> 2 & 0xFF) == protocolID.rawValue
    }

    @Test func aMultiAxisSensorIsRefused() throws {
        // SENSOR_DESCRIPTION_GET: every descriptor says 3 axes (attributes_high bits 21:16).
        let link = DamagingLink(try link(to: firmware)) { reply in
            guard Self.isReply(reply, protocolID: .sensor, messageID: 0x3) else { return reply }
            var damaged = reply
            // Header, status, then the page word and 28-byte descriptors.
            let returned = Int(reply[8]) | Int(reply[9] & 0x0F) << 8
            for index in 0 ..< returned { damaged[12 + index * 28 + 8 + 2] = 3 }
            return damaged
        }
        var tables = MediatorTables.tables()
        tables.firmwareOrigins = tables.firmwareOrigins.filter { $0.key.protocolID == .sensor }
        #expect(throws: FirmwareFactsError.refused([
            "sensor 0 \"sensor0\" (firmware sensor 1 of /firmware/scmi): the firmware's sensor has 3 axes; serve serves scalar sensors only",
        ])) { try FirmwareFacts.read(tables, over: link, timeoutMilliseconds: 1000) }
    }

    @Test func aClockWithoutRatesAndABrokenRangeAreRefused() throws {
        // CLOCK_DESCRIBE_RATES: a list says 0 returned, 0 remaining; a range has min > max.
        let link = DamagingLink(try link(to: firmware)) { reply in
            guard Self.isReply(reply, protocolID: .clock, messageID: 0x4) else { return reply }
            var damaged = reply
            // Header, status, the page word (bit 12: a range), then the rates.
            if reply[9] & 0x10 == 0 {
                damaged.replaceSubrange(8 ..< 12, with: [0, 0, 0, 0])
            } else {
                damaged[19] = 0xFF  // min's high word: far above max
            }
            return damaged
        }
        var tables = MediatorTables.tables()
        tables.firmwareOrigins = tables.firmwareOrigins.filter { $0.key.protocolID == .clock }
        let error = try #require(throws: FirmwareFactsError.self) { try FirmwareFacts.read(tables, over: link, timeoutMilliseconds: 1000) }
        guard case .refused(let problems) = error else { Issue.record("\(error)"); return }
        #expect(problems.count == 2)
        #expect(problems[0].hasPrefix("clock 0 \"gpu-pixel\" (firmware clock 2 of /firmware/scmi): the firmware's reply is unusable: CLOCK_DESCRIBE_RATES"))
        #expect(problems[1].hasPrefix("clock 1 \"gpu-core\" (firmware clock 1 of /firmware/scmi): the firmware's rate range ")
            && problems[1].hasSuffix("is not a range"), "\(problems[1])")
    }
}
