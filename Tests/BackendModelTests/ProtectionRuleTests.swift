@testable import BackendModel
import ResourceTables
import Testing

/// Issue 10: names people recognise, facts from the board, placeholders, hints, and the
/// findings that protect the host (docs/binding.md §3 "Sharing", §5.1, §5.2).
@Suite struct ProtectionRuleTests {
    /// A host PLL without output names or rate properties, and its consumers.
    static let pll = "pll: clock-controller@20000000 { reg = <0x20000000 0x1000>; #clock-cells = <1>; #reset-cells = <1>; };"

    func device(_ body: String, id: Int = 1) -> String {
        "device@\(id) { arm,scmi-devid = <\(id)>; arm,scmi-devname = \"d\(id)\"; \(body) };"
    }

    // MARK: - Names (item 4)

    @Test func clockNamesComeFromTheConsumersClockNames() throws {
        let result = try check(
            tree(
                backend: backend(
                    devices: device("arm,scmi-basedev = <&gpu2>;") + device("clocks = <&pll 0x20>; clock-names = \"ref\";", id: 2)
                        + device("clocks = <&pll 0x108>;", id: 3)),
                host: Self.pll + "gpu2: gpu@30000000 { reg = <0x30000000 0x1000>; clocks = <&pll 0x106>, <&pll 0x107>; clock-names = \"core\", \"bus\"; };"))
        let tables = try #require(result.tables, "\(result.summaryText)")
        // Base device: its node name; direct clocks: the device's arm,scmi-devname; no name: hex cells.
        #expect(tables.clocks.map(\.name) == ["gpu-core", "gpu-bus", "d2-ref", "clock-controller-0x108"])
    }

    @Test func resetAndPowerDomainNamesComeFromTheirNamesProperties() throws {
        let result = try check(
            tree(
                backend: backend(protocols: [0x11, 0x14, 0x16], devices: device("arm,scmi-basedev = <&vpu>;")),
                host: Self.pll + """
                    vpu: video-codec@30000000 { reg = <0x30000000 0x1000>; resets = <&pll 0x1a>, <&pll 0x1b>; reset-names = "axi", "ahb";
                        power-domains = <&pd 0x15>; power-domain-names = "vdec"; };
                    """))
        let tables = try #require(result.tables, "\(result.summaryText)")
        #expect(tables.resetDomains.map(\.name) == ["video-codec-axi", "video-codec-ahb"])
        #expect(tables.powerDomains.map(\.name) == ["video-codec-vdec"])
    }

    /// Two consumers with the same node name and clock name: a suffix, not a warning.
    @Test func repeatedDerivedNamesGetADeterministicSuffix() throws {
        let source = tree(
            backend: backend(devices: device("arm,scmi-basedev = <&i2c1>;") + device("arm,scmi-basedev = <&i2c2>;", id: 2) + device("clocks = <&osca>, <&oscb>;", id: 3)),
            host: Self.pll + """
                i2c1: i2c@30000000 { reg = <0x30000000 0x1000>; clocks = <&pll 0x4a>; clock-names = "se"; };
                i2c2: i2c@30010000 { reg = <0x30010000 0x1000>; clocks = <&pll 0x4b>; clock-names = "se"; };
                osca: osc-a { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <1000>; clock-output-names = "osc"; };
                oscb: osc-b { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <2000>; clock-output-names = "osc"; };
                """)
        let result = try check(source)
        #expect(result.tables?.clocks.map(\.name) == ["i2c-se", "i2c-se-2", "osc", "osc-2"])
        #expect(result.findings(.clockNameDuplicate).isEmpty)
        #expect(try check(source).tables?.clocks.map(\.name) == result.tables?.clocks.map(\.name), "the same tree, the same names")
    }

    // MARK: - Placeholder clocks (item 5)

    @Test func zeroHertzFixedClockIsSkippedNamingTheDevice() throws {
        let result = try check(
            tree(
                backend: backend(devices: device("arm,scmi-basedev = <&sai>;")),
                host: """
                    dummy: clock-dummy { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <0>; };
                    sai: sai@30000000 { reg = <0x30000000 0x1000>; clocks = <&osc24m>, <&dummy>; clock-names = "bus", "mclk"; };
                    """))
        let warning = try #require(result.findings(.fixedClockPlaceholder).first, "\(result.summaryText)")
        #expect(warning.path == devicesPath + "/device@1" && warning.property == "arm,scmi-basedev")
        #expect(warning.message.contains("/sai@30000000:clocks entry 1 is /clock-dummy"))
        #expect(!result.hasErrors)
        #expect(result.tables?.clocks.map(\.providerPath) == ["/clock-24000000"])
    }

    // MARK: - Hints (item 6)

    @Test func oneCellTooManySaysHowThePreviousEntryWasSized() throws {
        let result = try check(
            tree(
                backend: backend(devices: device("clocks = <&osc24m 5>;")),
                host: "cpus { #address-cells = <1>; #size-cells = <0>; cpu@300 { device_type = \"cpu\"; reg = <0x300>; phandle = <5>; }; };"))
        let finding = try #require(result.findings(.providerCellsMissing).first, "\(result.summaryText)")
        let hint = try #require(finding.hint)
        #expect(hint.contains("entry 0 names /clock-24000000, which has #clock-cells = <0>"))
        #expect(hint.contains("0x5, was read as the phandle of entry 1"))
        #expect(hint.contains("/cpus/cpu@300 is a CPU node"))
        #expect(!hint.contains("add #clock-cells"))
    }

    @Test func anOPPTableIsNamedForWhatItIs() throws {
        let result = try check(
            tree(
                backend: backend(devices: device("clocks = <&gpu_opp>;")),
                host: "gpu_opp: opp-table-gpu { compatible = \"operating-points-v2\"; opp-300000000 { opp-hz = /bits/ 64 <300000000>; }; };"))
        let finding = try #require(result.findings(.providerCellsMissing).first, "\(result.summaryText)")
        #expect(finding.hint?.contains("/opp-table-gpu is an OPP table") == true)
        #expect(finding.hint?.contains("add #clock-cells") == false)
    }

    // MARK: - Facts from the board (item 3)

    static let gpuWithOPPs = """
        gpu_opp: opp-table-gpu { compatible = "operating-points-v2";
            opp-300000000 { opp-hz = /bits/ 64 <300000000 100000000>; };
            opp-600000000 { opp-hz = /bits/ 64 <600000000 200000000>; };
            opp-1000000000 { opp-hz = /bits/ 64 <1000000000 200000000>; };
            opp-2000000000 { opp-hz = /bits/ 64 <2000000000 400000000>; status = "disabled"; };
        };
        gpu2: gpu@30000000 { reg = <0x30000000 0x1000>; clocks = <&pll 0x106>, <&pll 0x107>, <&pll 0x108>; clock-names = "core", "stacks", "bus";
            operating-points-v2 = <&gpu_opp>; assigned-clocks = <&pll 0x106>; assigned-clock-rates = <600000000>; };
        """

    @Test func ratesComeFromTheConsumersOPPTable() throws {
        let result = try check(tree(backend: backend(devices: device("arm,scmi-basedev = <&gpu2>;")), host: Self.pll + Self.gpuWithOPPs))
        let clocks = try #require(result.tables?.clocks, "\(result.summaryText)")
        #expect(clocks[0].rates == .discrete([300_000_000, 600_000_000, 1_000_000_000]), "enabled OPPs, first opp-hz value")
        #expect(clocks[0].ratesSource == "opp-hz /opp-table-gpu")
        #expect(clocks[0].initialRate == 600_000_000, "the assigned rate is one of them")
        #expect(clocks[1].rates == .discrete([100_000_000, 200_000_000]), "the second opp-hz value scales the second clock")
        #expect(clocks[2].ratesSource == "undescribed", "no third opp-hz value")
        #expect(result.findings(.clockRateUndescribed).count == 1, "only the third clock is undescribed")
    }

    @Test func anAssignedRateTheClockCannotRunAtIsNamed() throws {
        let host = Self.pll + Self.gpuWithOPPs.replacingOccurrences(of: "assigned-clock-rates = <600000000>", with: "assigned-clock-rates = <200000000>")
        let result = try check(tree(backend: backend(devices: device("arm,scmi-basedev = <&gpu2>;")), host: host))
        let warning = try #require(result.findings(.assignedRateUnsupported).first, "\(result.summaryText)")
        #expect(warning.path == "/gpu@30000000" && warning.property == "assigned-clock-rates")
        #expect(warning.message.contains("200000000 Hz to clock 0 (gpu-core, /clock-controller@20000000)"))
        #expect(result.tables?.clocks.first?.initialRate == 300_000_000)
    }

    static let rails = """
        sd_io: regulator-sd-io { compatible = "regulator-gpio"; regulator-name = "vdd-sd-io"; regulator-min-microvolt = <1800000>;
            regulator-max-microvolt = <3300000>; regulator-always-on; states = <1800000 1 3300000 0>; };
        gpu_core: regulator-gpu { regulator-name = "vdd-gpu"; regulator-min-microvolt = <550000>; regulator-max-microvolt = <950000>;
            arm,scmi-voltage-step-microvolt = <12500>; regulator-coupled-with = <&gpu_mem>; regulator-coupled-max-spread = <10000>; };
        gpu_mem: regulator-gpu-mem { regulator-name = "vdd-gpu-mem"; regulator-min-microvolt = <675000>; regulator-max-microvolt = <950000>;
            arm,scmi-voltage-step-microvolt = <12500>; regulator-coupled-with = <&gpu_core>; regulator-coupled-max-spread = <10000>; };
        """

    @Test func gpioStatesAreDiscreteLevelsAndConstraintsAreCarried() throws {
        let result = try check(
            tree(backend: backend(devices: device("vqmmc-supply = <&sd_io>; mali-supply = <&gpu_core>; sram-supply = <&gpu_mem>;")), host: Self.rails))
        let domains = try #require(result.tables?.voltageDomains, "\(result.summaryText)")
        #expect(domains[0].levels == .discrete([1_800_000, 3_300_000]))
        #expect(domains[0].levelsSource == "states")
        #expect(domains[0].alwaysOn && domains[0].initiallyOn)
        #expect(domains[1].couplings == [VoltageCoupling(partner: 2, maxSpread: 10_000)])
        #expect(domains[2].couplings == [VoltageCoupling(partner: 1, maxSpread: 10_000)])
        #expect((domains[1].minimumLevel, domains[1].maximumLevel) == (550_000, 950_000))
        // vdd-gpu would start at 550 mV, 125 mV below its partner: it starts at 675 mV, on its step grid.
        #expect(domains[1].initialLevel == 675_000 && domains[2].initialLevel == 675_000)
        #expect(result.has(.regulatorAlwaysOnExported, at: "/regulator-sd-io", property: "regulator-always-on"))
        #expect(result.findings(.regulatorCoupled).count == 2)
        #expect(!domains[1].alwaysOn)
    }

    @Test func levelsListedOnTheTableEntry() throws {
        func source(_ levels: String) -> String {
            tree(
                backend: backend(
                    protocols: [0x14], devices: device("clocks = <&osc24m>;"),
                    extra: """
                        protocol@17 { reg = <0x17>; #address-cells = <1>; #size-cells = <0>;
                            regulator@0 { reg = <0>; arm,scmi-supply = <&reg_a>; arm,scmi-levels-microvolt = <\(levels)>; };
                        };
                        """))
        }
        let good = try check(source("900000 800000 1000000 900000"))
        #expect(good.tables?.voltageDomains.first?.levels == .discrete([800_000, 900_000, 1_000_000]), "\(good.summaryText)")
        #expect(good.tables?.voltageDomains.first?.levelsSource == "arm,scmi-levels-microvolt")
        let outside = try check(source("800000 1200000"))
        #expect(outside.has(.regulatorLevelsInvalid, at: backendPath + "/protocol@17/regulator@0", property: "arm,scmi-levels-microvolt"))
    }

    // MARK: - Sharing (item 2)

    static let agentsOfTwo = """
        agent@1 { reg = <1>; arm,scmi-agent-name = "vm-a"; arm,scmi-devices = <&d1>; };
        agent@2 { reg = <2>; arm,scmi-agent-name = "vm-b"; arm,scmi-devices = <&d2>; };
        """

    @Test func oneHostDeviceForTwoAgentsIsAnError() throws {
        let devices = "d1: " + device("arm,scmi-basedev = <&gpu>;") + "d2: " + device("arm,scmi-basedev = <&gpu>;", id: 2)
        let shared = try check(tree(backend: backend(devices: devices, agents: Self.agentsOfTwo)))
        #expect(shared.has(.basedevShared, at: devicesPath + "/device@2", property: "arm,scmi-basedev"), "\(shared.summaryText)")
        // One agent holding both, or the implicit agent: no conflict.
        let oneAgent = "agent@1 { reg = <1>; arm,scmi-agent-name = \"vm-a\"; arm,scmi-devices = <&d1 &d2>; };"
        #expect(try check(tree(backend: backend(devices: devices, agents: oneAgent))).findings(.basedevShared).isEmpty)
        #expect(try check(tree(backend: backend(devices: devices, agents: nil))).findings(.basedevShared).isEmpty)
    }

    @Test func hostDevicesThatShareAnExportedResourceAreNamed() throws {
        let result = try check(
            tree(
                backend: backend(devices: "d1: " + device("arm,scmi-basedev = <&gpu>;") + "d2: " + device("arm,scmi-basedev = <&uart>;", id: 2), agents: Self.agentsOfTwo),
                host: """
                    uart: serial@30000000 { reg = <0x30000000 0x1000>; clocks = <&ccu 2>; };
                    i2c@30010000 { reg = <0x30010000 0x1000>; clocks = <&ccu 2>, <&osc24m>; vcc-supply = <&reg_a>; };
                    spi@30020000 { reg = <0x30020000 0x1000>; clocks = <&ccu 2>; status = "disabled"; };
                    """))
        let findings = result.findings(.resourceUsedByHost)
        // ccu 2 (gpu and uart, both given) is also used by the enabled i2c; the disabled spi and the
        // clock controller's own parent link to osc24m do not count; reg_a powers the i2c too.
        #expect(findings.map(\.path) == ["/clock-controller@10000000", "/regulator-a"], "\(result.summaryText)")
        #expect(findings.allSatisfy { $0.message.contains("/i2c@30010000") && !$0.message.contains("/spi@") })
        #expect(findings[0].message.contains("exported to vm-a, vm-b"))
        // The rail the host's i2c needs is kept on, like a regulator-always-on one.
        #expect(result.tables?.voltageDomains.first { $0.regulatorPath == "/regulator-a" }?.alwaysOn == true)
        #expect(findings[1].message.contains("serve never switches it off"))
        #expect(!result.hasErrors)
    }
    /// On a large tree the walk for host users runs on another thread while the entries are
    /// read (`SharingFindings.hostUses`); the findings, and the rail kept on, are the same.
    @Test func hostUsersFoundBesideTheEntriesAreTheSame() throws {
        let body = backend(
            devices: "d1: " + device("arm,scmi-basedev = <&gpu>;") + "d2: " + device("arm,scmi-basedev = <&uart>;", id: 2), agents: Self.agentsOfTwo)
        let host = """
            uart: serial@30000000 { reg = <0x30000000 0x1000>; clocks = <&ccu 2>; };
            i2c@30010000 { reg = <0x30010000 0x1000>; clocks = <&ccu 2>, <&osc24m>; vcc-supply = <&reg_a>; };
            """
        let filler = (0 ..< BackendChecker.backgroundThreshold).map { "filler-\($0) { };" }.joined(separator: "\n")
        let small = try check(tree(backend: body, host: host))
        let largeBlob = try compileDTS(tree(backend: body, host: host + filler))
        let large = BackendChecker.check(bytes: largeBlob, file: "test.dtb")
        #expect(large.findings(.resourceUsedByHost).map(\.path) == ["/clock-controller@10000000", "/regulator-a"], "\(large.summaryText)")
        #expect(large.diagnostics.map(\.renderedWithHint) == small.diagnostics.map(\.renderedWithHint))
        #expect(large.tables?.voltageDomains.first { $0.regulatorPath == "/regulator-a" }?.alwaysOn == true)
    }

    /// Only what an agent is given counts: a clock in the table through a device no agent holds
    /// is not "exported", so host nodes using it are not reported, while a clock of a held device
    /// that the same host node uses is.
    @Test func hostUsersOfAResourceNoAgentHoldsAreNotReported() throws {
        let devices = "d1: " + device("arm,scmi-basedev = <&gpu>;") + "d2: " + device("arm,scmi-basedev = <&uart>;", id: 2)
            + device("clocks = <&ccu 0>;", id: 3)
        let result = try check(
            tree(
                backend: backend(devices: devices, agents: Self.agentsOfTwo),
                host: """
                    uart: serial@30000000 { reg = <0x30000000 0x1000>; };
                    i2c@30010000 { reg = <0x30010000 0x1000>; clocks = <&ccu 0>, <&ccu 2>; };
                    """))
        let tables = try #require(result.tables)
        #expect(tables.clocks.map(\.name).contains("ccu-a"), "device 3's clock is in the table: \(tables.clocks.map(\.name))")
        let findings = result.findings(.resourceUsedByHost)
        #expect(findings.count == 1, "\(result.summaryText)")
        #expect(findings.first?.message.contains("(ccu-c, <0x2>)") == true, "\(result.summaryText)")
        #expect(!findings.contains { $0.message.contains("ccu-a") }, "\(result.summaryText)")
    }
}
