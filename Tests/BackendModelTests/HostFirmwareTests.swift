@testable import BackendModel
import ResourceTables
import Testing

/// Resources of the host's SCMI firmware (docs/binding.md §5.7): recognised by their
/// provider, known by the firmware's id, and not asked for rates or levels.
@Suite struct HostFirmwareTests {
    /// A host SCMI platform node with clock, power, reset and voltage protocols; a node
    /// shaped like one whose compatible is not an SCMI transport; and a rail written
    /// directly under protocol@17 instead of under its `regulators`.
    static func firmware(compatible: String = "arm,scmi") -> String {
        """
        / {
            firmware {
                scmi {
                    compatible = "\(compatible)";
                    #address-cells = <1>;
                    #size-cells = <0>;
                    scmi_pd: protocol@11 { reg = <0x11>; #power-domain-cells = <1>; };
                    scmi_clk: protocol@14 { reg = <0x14>; #clock-cells = <1>; };
                    scmi_reset: protocol@16 { reg = <0x16>; #reset-cells = <1>; };
                    protocol@17 {
                        reg = <0x17>;
                        #address-cells = <1>;
                        #size-cells = <0>;
                        regulators {
                            #address-cells = <1>;
                            #size-cells = <0>;
                            scmi_buck: regulator@7 { reg = <7>; regulator-name = "buck7"; };
                        };
                        scmi_stray: regulator@5 {
                            reg = <5>; regulator-name = "stray";
                            regulator-min-microvolt = <800000>; regulator-max-microvolt = <900000>;
                        };
                    };
                };
                lookalike {
                    compatible = "acme,scmi-lookalike";
                    #address-cells = <1>;
                    #size-cells = <0>;
                    fake_clk: protocol@14 { reg = <0x14>; #clock-cells = <1>; };
                };
            };
        };
        """
    }

    static let device = """
        device@1 {
            reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "fw";
            clocks = <&scmi_clk 12>, <&fake_clk 3>;
            power-domains = <&scmi_pd 3>;
            resets = <&scmi_reset 9>;
            vdd-supply = <&scmi_buck>;
            vio-supply = <&scmi_stray>;
        };
        """

    static func checked(compatible: String = "arm,scmi") throws -> CheckResult {
        try check(tree(backend: backend(protocols: [0x11, 0x14, 0x16, 0x17], devices: device)) + "\n" + firmware(compatible: compatible))
    }

    @Test func everyKindGetsTheFirmwaresIDFromItsCellOrReg() throws {
        let result = try Self.checked()
        let tables = try #require(result.tables, "\(result.summaryText)")
        let platform = NodePath("/firmware/scmi")
        #expect(tables.firmwareOrigin(.clock, 0) == FirmwareOrigin(platformPath: platform, protocolID: .clock, firmwareID: 12))
        #expect(tables.firmwareOrigin(.powerDomain, 0) == FirmwareOrigin(platformPath: platform, protocolID: .powerDomain, firmwareID: 3))
        #expect(tables.firmwareOrigin(.reset, 0) == FirmwareOrigin(platformPath: platform, protocolID: .reset, firmwareID: 9))
        #expect(tables.voltageDomains.map(\.name) == ["buck7", "stray"])
        #expect(tables.firmwareOrigin(.voltage, 0) == FirmwareOrigin(platformPath: platform, protocolID: .voltage, firmwareID: 7), "the regulator's reg")
        #expect(tables.firmwareOrigin(.voltage, 0)?.description == "0x17:7 /firmware/scmi")
    }

    @Test func lookalikesAndStrayRegulatorsAreNotTheFirmwares() throws {
        let result = try Self.checked()
        let tables = try #require(result.tables, "\(result.summaryText)")
        #expect(tables.clocks[1].providerPath == "/firmware/lookalike/protocol@14")
        #expect(tables.firmwareOrigin(.clock, 1) == nil, "a protocol@14 under another compatible")
        #expect(tables.firmwareOrigin(.voltage, 1) == nil, "a regulator@N not under protocol@17/regulators")
        #expect(tables.firmwareOrigins.count == 4)
    }

    @Test func everyTransportsCompatibleIsAPlatform() throws {
        for compatible in HostFirmware.compatibles {
            let tables = try #require(try Self.checked(compatible: compatible).tables)
            #expect(tables.firmwareOrigin(.clock, 0)?.firmwareID == 12, "\(compatible)")
        }
        // arm,scmi-shmem is a memory region, not a platform: its "rail" is an ordinary one.
        let other = try Self.checked(compatible: "arm,scmi-shmem")
        #expect(other.has(.regulatorLevelsMissing, at: "/firmware/scmi/protocol@17/regulators/regulator@7"))
        #expect(other.has(.clockRateUndescribed, at: "/firmware/scmi/protocol@14"))
    }

    /// The firmware knows its rates and levels: no finding asks the board for them, while
    /// the lookalike's clock and the stray rail are still checked like any host resource.
    @Test func checkAsksTheFirmwareForNoFacts() throws {
        let result = try Self.checked()
        #expect(result.errorRules.isEmpty, "\(result.summaryText)")
        #expect(!result.has(.clockRateUndescribed, at: "/firmware/scmi/protocol@14"))
        #expect(result.has(.clockRateUndescribed, at: "/firmware/lookalike/protocol@14"))
        let buck = "/firmware/scmi/protocol@17/regulators/regulator@7"
        #expect(!result.has(.regulatorLevelsMissing, at: buck) && !result.has(.voltageStepMissing, at: buck))
        #expect(result.has(.voltageStepMissing, at: "/firmware/scmi/protocol@17/regulator@5"))
        let tables = try #require(result.tables)
        #expect(tables.clocks[0].ratesSource == "firmware")
        #expect(tables.voltageDomains[0].levelsSource == "firmware")
    }

    /// Without the firmware node the same rail is an ordinary regulator missing its levels.
    @Test func aRegulatorWithoutItsPlatformStillNeedsLevels() throws {
        let source = tree(backend: backend(protocols: [0x17], devices: """
            device@1 { reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "fw"; vdd-supply = <&loose>; };
            """), host: """
            protocol@17 { reg = <0x17>; regulators { #address-cells = <1>; #size-cells = <0>; loose: regulator@7 { reg = <7>; regulator-name = "buck7"; }; }; };
            """)
        let result = try check(source)
        #expect(result.errorRules.contains(Rule.regulatorLevelsMissing.id), "\(result.summaryText)")
    }
}

/// A performance domain entry that names the firmware's protocol@13 by `power-domains`
/// or `clocks` (binding.md §5.4, §5.7); its levels still come from its OPP table.
@Suite struct FirmwarePerformanceDomainTests {
    static func tables(_ reference: String) throws -> PlatformTables? {
        let firmware = """
            / { firmware { scmi { compatible = "nxp,imx95-scmi"; #address-cells = <1>; #size-cells = <0>;
                scmi_perf: protocol@13 { reg = <0x13>; #power-domain-cells = <1>; #clock-cells = <1>; }; }; }; };
            """
        let domains = """
            protocol@13 { reg = <0x13>; #address-cells = <1>; #size-cells = <0>;
                perf-domain@0 { reg = <0>; operating-points-v2 = <&opp>; \(reference) };
            };
            """
        let host = "opp: opp-table { compatible = \"operating-points-v2\"; opp-1 { opp-hz = /bits/ 64 <100000000>; }; };"
        let devices = #"device@1 { reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "cpu"; arm,scmi-perf-domain-ids = <0>; };"#
        let result = try check(tree(backend: backend(protocols: [], devices: devices, extra: domains), host: host) + firmware)
        #expect(result.errorRules.isEmpty, "\(result.summaryText)")
        return result.tables
    }

    @Test func namedByPowerDomainsOrClocks() throws {
        for reference in ["power-domains = <&scmi_perf 6>;", "clocks = <&scmi_perf 6>;"] {
            let tables = try #require(try Self.tables(reference))
            #expect(tables.firmwareOrigin(.performance, 0) == FirmwareOrigin(platformPath: NodePath("/firmware/scmi"), protocolID: .performance, firmwareID: 6), "\(reference)")
            #expect(tables.performanceDomains.first?.levels.map(\.hz) == [100_000_000])
        }
        #expect(try Self.tables("").map { $0.firmwareOrigins.isEmpty } == true, "an OPP table alone is not the firmware's")
    }

    /// An entry for the firmware's domain needs no OPP table; any other entry does.
    @Test func anEntryForTheFirmwaresDomainNeedsNoOPPTable() throws {
        let firmware = """
            / { firmware { scmi { compatible = "arm,scmi"; #address-cells = <1>; #size-cells = <0>;
                scmi_perf: protocol@13 { reg = <0x13>; #power-domain-cells = <1>; }; }; }; };
            """
        func checked(_ entry: String) throws -> CheckResult {
            let domains = "protocol@13 { reg = <0x13>; #address-cells = <1>; #size-cells = <0>; perf-domain@0 { reg = <0>; \(entry) }; };"
            let devices = #"device@1 { reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "cpu"; arm,scmi-perf-domain-ids = <0>; };"#
            return try check(tree(backend: backend(protocols: [], devices: devices, extra: domains)) + firmware)
        }
        let ok = try checked(#"power-domains = <&scmi_perf 3>; label = "big";"#)
        let tables = try #require(ok.tables, "\(ok.summaryText)")
        #expect(tables.performanceDomains.map(\.name) == ["big"] && tables.performanceDomains.first?.levels.map(\.hz) == [1000])
        #expect(tables.firmwareOrigin(.performance, 0)?.firmwareID == 3)
        let entry = "/firmware/scmi-vio-backend/protocol@13/perf-domain@0"
        #expect(try checked("power-domains = <&pd 3>;").has(.oppTableInvalid, at: entry))
        #expect(try checked(#"label = "none";"#).has(.propertyAlternatives, at: entry))
    }

    /// A device's own `clocks` or `power-domains` naming the firmware's protocol@13, as juno
    /// (`clocks = <&scmi_dvfs 2>`) and i.MX95 (`power-domains = <&scmi_perf 8>`) write it.
    static func deviceSide(protocols: [UInt8], extra: String = "", hostExtra: String = "") throws -> CheckResult {
        let firmware = """
            / { firmware { scmi { compatible = "arm,scmi"; #address-cells = <1>; #size-cells = <0>;
                scmi_perf: protocol@13 { reg = <0x13>; #clock-cells = <1>; #power-domain-cells = <1>; };
                scmi_pd: protocol@11 { reg = <0x11>; #power-domain-cells = <1>; }; }; }; };
            """
        let host = """
            mali: mali@1000 { compatible = "acme,gpu"; reg = <0x1000 0x100>; clocks = <&scmi_perf 2>; power-domains = <&scmi_pd 9>; };
            core: core@2000 { compatible = "acme,cpu"; reg = <0x2000 0x100>; power-domains = <&scmi_perf 8>; power-domain-names = "perf"; };
            opp: opp-table { compatible = "operating-points-v2"; opp-1 { opp-hz = /bits/ 64 <100000000>; }; };
            \(hostExtra)
            """
        let devices = """
            device@1 { reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "gpu"; arm,scmi-basedev = <&mali>; };
            device@2 { reg = <2>; arm,scmi-devid = <2>; arm,scmi-devname = "cpu"; arm,scmi-basedev = <&core>; };
            """
        return try check(tree(backend: backend(protocols: protocols, devices: devices, agents: nil, extra: extra), host: host) + firmware)
    }

    @Test func aDeviceNamingTheFirmwaresProtocol13GetsAPerformanceDomain() throws {
        let result = try Self.deviceSide(protocols: [0x11, 0x13, 0x14])
        let tables = try #require(result.tables, "\(result.summaryText)")
        #expect(result.diagnostics.map(\.rule) == [Rule.agentsImplicit.id], "\(result.summaryText)")
        #expect(tables.clocks.isEmpty, "a performance domain named as a clock is not a clock")
        #expect(tables.powerDomains.map(\.specifier) == [[9]], "nor one named as a power domain a power domain")
        let platform = NodePath("/firmware/scmi")
        #expect(tables.firmwareOrigin(.performance, 0) == FirmwareOrigin(platformPath: platform, protocolID: .performance, firmwareID: 2))
        #expect(tables.firmwareOrigin(.performance, 1) == FirmwareOrigin(platformPath: platform, protocolID: .performance, firmwareID: 8))
        #expect(tables.performanceDomains.map(\.name) == ["protocol-0x2", "core-perf"])
        // No OPP table: one 1 kHz level until an upstream gives the firmware's.
        #expect(tables.performanceDomains.allSatisfy { $0.levels.map(\.hz) == [1000] && $0.oppTablePath.isEmpty })
        #expect(tables.devices.map(\.resources) == [
            [ResourceReference(.performance, 0), ResourceReference(.powerDomain, 0)], [ResourceReference(.performance, 1)],
        ])
    }

    /// Another core of the same cluster stays with the host: giving its domain away harms it.
    @Test func aDomainTheHostAlsoUsesIsReported() throws {
        let result = try Self.deviceSide(protocols: [0x11, 0x13], hostExtra: "core@3000 { reg = <0x3000 0x100>; power-domains = <&scmi_perf 8>; };")
        let finding = result.findings(.resourceUsedByHost).first
        #expect(finding?.path == "/firmware/scmi/protocol@13" && finding?.message.contains("performance domain 1") == true
                && finding?.message.contains("/core@3000") == true, "\(result.summaryText)")
    }

    @Test func withoutProtocol13OrOutsideItsTableItIsReported() throws {
        let unreachable = try Self.deviceSide(protocols: [0x11, 0x14])
        #expect(unreachable.has(.resourceUnreachable, at: "/firmware/scmi-vio-backend/devices/device@2", property: "arm,scmi-basedev"),
                "\(unreachable.summaryText)")
        #expect(!unreachable.has(.clockRateUndescribed, at: "/firmware/scmi/protocol@13"))
        let explicit = """
            protocol@13 { reg = <0x13>; #address-cells = <1>; #size-cells = <0>;
                perf-domain@0 { reg = <0>; operating-points-v2 = <&opp>; power-domains = <&scmi_perf 8>; };
            };
            """
        let table = try Self.deviceSide(protocols: [0x11], extra: explicit)
        #expect(table.has(.basedevResourceNotInTable, at: "/firmware/scmi-vio-backend/devices/device@1"), "\(table.summaryText)")
        #expect(table.tables?.devices.last?.resources == [ResourceReference(.performance, 0)], "the entry naming firmware domain 8 is the cpu's: \(table.summaryText)")
    }
}

/// A sensor table entry's `arm,scmi-sensor` (binding.md §5.5, §5.7): the firmware's
/// sensor, one of exactly one value source.
@Suite struct FirmwareSensorTests {
    static func checked(_ sensorBody: String) throws -> CheckResult {
        let sensors = """
            protocol@15 { reg = <0x15>; #address-cells = <1>; #size-cells = <0>;
                sensor@0 { reg = <0>; label = "soc-temp"; arm,scmi-sensor-type = "temperature"; \(sensorBody) };
            };
            """
        let firmware = """
            / { firmware { scmi { compatible = "arm,scmi"; #address-cells = <1>; #size-cells = <0>;
                scmi_sensor: protocol@15 { reg = <0x15>; #thermal-sensor-cells = <1>; }; }; }; };
            """
        let devices = #"device@1 { reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "soc"; arm,scmi-sensor-ids = <0>; };"#
        return try check(tree(backend: backend(protocols: [], devices: devices, extra: sensors), host: "tsens: tsens { #thermal-sensor-cells = <1>; };") + firmware)
    }

    @Test func theFirmwaresSensorNeedsNoValueSource() throws {
        let result = try Self.checked("arm,scmi-sensor = <&scmi_sensor 4>;")
        let tables = try #require(result.tables, "\(result.summaryText)")
        #expect(tables.sensors.first?.source == .host)
        // Its `label` is the board's choice of name: an upstream's name does not replace it.
        #expect(tables.firmwareOrigin(.sensor, 0) == FirmwareOrigin(platformPath: NodePath("/firmware/scmi"), protocolID: .sensor, firmwareID: 4, labelled: true))
    }

    @Test func exactlyOneSourceOfValueOrPathOrFirmware() throws {
        let sensor = "/firmware/scmi-vio-backend/protocol@15/sensor@0"
        for sources in [
            "arm,scmi-sensor = <&scmi_sensor 4>; arm,scmi-sensor-value = <30>;",
            #"arm,scmi-sensor = <&scmi_sensor 4>; arm,scmi-sensor-path = "/sys/class/thermal/thermal_zone0/temp";"#,
            "",
        ] {
            let result = try Self.checked(sources)
            #expect(result.has(.propertyAlternatives, at: sensor), "\(sources): \(result.summaryText)")
        }
        #expect(try Self.checked("arm,scmi-sensor-value = <30>;").errorRules.isEmpty)
    }

    @Test func aSensorThatIsNotTheFirmwaresIsNamed() throws {
        for (body, words) in [
            ("arm,scmi-sensor = <&tsens 0>;", "points at /tsens"),
            ("arm,scmi-sensor = <&scmi_sensor 4 5>;", "is 3 cells"),
            ("arm,scmi-sensor = <0x7777 4>;", "phandle 30583, which no node has"),
        ] {
            let result = try Self.checked(body)
            let finding = result.findings(.sensorFirmwareInvalid).first
            #expect(finding?.path == "/firmware/scmi-vio-backend/protocol@15/sensor@0" && finding?.property == "arm,scmi-sensor", "\(result.summaryText)")
            #expect(finding?.message.contains(words) == true, "\(finding?.message ?? "no finding")")
        }
    }
}

/// The binding a served resource gets (docs/serve.md, "Host bindings").
@Suite struct HostBindingTests {
    @Test func upstreamOnlyForTheFirmwaresOwnThenHookThenModel() {
        let origin = FirmwareOrigin(platformPath: NodePath("/firmware/scmi"), protocolID: .clock, firmwareID: 1)
        for upstream in [false, true] {
            for hook in [false, true] {
                let firmware = HostBinding.decide(origin: origin, upstreamGiven: upstream, hookGiven: hook)
                let other = HostBinding.decide(origin: nil, upstreamGiven: upstream, hookGiven: hook)
                #expect(firmware == (upstream ? .upstream : hook ? .hook : .model), "upstream \(upstream), hook \(hook)")
                #expect(other == (hook ? .hook : .model), "upstream \(upstream), hook \(hook)")
            }
        }
    }
}
