import Foundation
import Testing

/// `scmi-dt tables --upstream`: the firmware is a second, real `scmi-dt serve`
/// on a board of its own, reached over vhost-user; the tables printed are the
/// mediator board's with the firmware's facts merged in (docs/host.md).
@Suite struct TablesUpstreamCLITests {
    /// The firmware: its clock 0 a fixed 24 MHz, clock 1 100..800 MHz in 100 MHz
    /// steps, power domain 0, all of one device; one implicit agent, `agent1`,
    /// which may use it.
    static let firmwareBoard = """
        /dts-v1/;
        / {
            #address-cells = <1>;
            #size-cells = <1>;
            ccu: clock-controller@1000 { compatible = "acme,ccu"; reg = <0x1000 0x100>; #clock-cells = <1>; };
            pmu: power-controller@2000 { compatible = "acme,pmu"; reg = <0x2000 0x100>; #power-domain-cells = <1>; };
            firmware {
                scmi-vio-backend {
                    compatible = "arm,scmi-vio-backend";
                    #address-cells = <1>;
                    #size-cells = <0>;
                    arm,scmi-vendor = "FW-SCP";
                    protocol@11 {
                        reg = <0x11>;
                        #address-cells = <1>;
                        #size-cells = <0>;
                        power-domain@0 { reg = <0>; power-domains = <&pmu 7>; label = "fw-pd-gpu"; };
                    };
                    protocol@14 {
                        reg = <0x14>;
                        #address-cells = <1>;
                        #size-cells = <0>;
                        clock@0 { reg = <0>; clocks = <&ccu 0>; label = "fw-osc"; arm,scmi-rates = <24000000>; };
                        clock@1 { reg = <1>; clocks = <&ccu 1>; label = "fw-gpu-core"; arm,scmi-rate-range = <100000000 800000000 100000000>; };
                    };
                    devices {
                        #address-cells = <1>;
                        #size-cells = <0>;
                        device@1 {
                            reg = <1>;
                            arm,scmi-devid = <1>;
                            arm,scmi-devname = "soc";
                            arm,scmi-clock-ids = <0 1>;
                            arm,scmi-power-domain-ids = <0>;
                        };
                    };
                };
            };
        };
        """

    /// The mediator's board: a host SCMI platform node whose clock 1 and 0 and
    /// power domain 0 the GPU uses; its OPP table says 200 and 400 MHz for the
    /// core clock, which the firmware contradicts. `CORE` is the firmware id of
    /// the core clock.
    static func mediatorBoard(core: Int = 1) -> String {
        """
        /dts-v1/;
        / {
            #address-cells = <1>;
            #size-cells = <1>;
            firmware {
                scmi {
                    compatible = "arm,scmi-smc";
                    arm,smc-id = <0x82000010>;
                    #address-cells = <1>;
                    #size-cells = <0>;
                    scmi_pd: protocol@11 { reg = <0x11>; #power-domain-cells = <1>; };
                    scmi_clk: protocol@14 { reg = <0x14>; #clock-cells = <1>; };
                };
                scmi-vio-backend {
                    compatible = "arm,scmi-vio-backend";
                    #address-cells = <1>;
                    #size-cells = <0>;
                    protocol@11 { reg = <0x11>; };
                    protocol@14 { reg = <0x14>; };
                    devices {
                        #address-cells = <1>;
                        #size-cells = <0>;
                        device@1 { reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "gpu"; arm,scmi-basedev = <&gpu>; };
                    };
                };
            };
            gpu_opp: opp-table-gpu {
                compatible = "operating-points-v2";
                opp-200000000 { opp-hz = /bits/ 64 <200000000>; };
                opp-400000000 { opp-hz = /bits/ 64 <400000000>; };
            };
            gpu: gpu@3000 {
                compatible = "acme,gpu";
                reg = <0x3000 0x100>;
                clocks = <&scmi_clk \(core)>, <&scmi_clk 0>;
                clock-names = "core", "ref";
                power-domains = <&scmi_pd 0>;
                operating-points-v2 = <&gpu_opp>;
            };
        };
        """
    }

    struct Firmware {
        let serve: RunningServe
        var address: String { "vhost-user:" + serve.socket("agent1") }

        init() throws {
            let directory = try TemporaryDirectory("scmi-dt-firmware")
            serve = try RunningServe(blob: directory.write("firmware.dtb", compileDTS(source: TablesUpstreamCLITests.firmwareBoard)))
        }
    }

    func mediator(core: Int = 1) throws -> String {
        try TemporaryDirectory("scmi-dt-mediator").write("board.dtb", compileDTS(source: Self.mediatorBoard(core: core)))
    }

    @Test func textShowsTheFirmwaresFactsAndWhereEachCameFrom() throws {
        let firmware = try Firmware()
        let result = try scmiDT("tables", try mediator(), "--upstream", firmware.address)
        #expect(result.status == 0, "\(result.output)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("upstream " + firmware.address + ": firmware \"FW-SCP\"") && $0.hasSuffix("serve is its agent 1 \"agent1\"") })
        // Names and rates are the firmware's; the binding is upstream.
        #expect(lines.contains { $0.hasPrefix("  0   fw-gpu-core") && $0.contains("100 MHz .. 800 MHz step 100 MHz")
            && $0.contains("upstream, firmware 0x14:1 /firmware/scmi") && $0.hasSuffix("name firmware, rates firmware") })
        #expect(lines.contains { $0.hasPrefix("  1   fw-osc") && $0.contains("24 MHz") && $0.hasSuffix("name firmware, rates firmware") })
        #expect(lines.contains { $0.hasPrefix("  0   fw-pd-gpu") && $0.hasSuffix("name firmware") })
        // The OPP table's rates disagree: a warning naming both, the firmware's served.
        #expect(result.stderr.contains(
            "warning: upstream \(firmware.address): clock 0 \"gpu-core\" (firmware clock 1 of /firmware/scmi): the devicetree gives rates "
                + "200000000 Hz, 400000000 Hz (opp-hz /opp-table-gpu), the firmware 100000000..800000000 Hz step 100000000 Hz; serving the firmware's"),
            "\(result.stderr)")
    }

    @Test func jsonHasSourcesAndTheUpstream() throws {
        let firmware = try Firmware()
        let result = try scmiDT("tables", "--format", "json", try mediator(), "--upstream", firmware.address, "--upstream-timeout", "2s")
        #expect(result.status == 0, "\(result.output)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let upstream = try #require(root["upstream"] as? [String: Any])
        #expect(upstream["agent_id"] as? Int == 1 && upstream["vendor"] as? String == "FW-SCP" && upstream["protocols"] as? [Int] == [0x11, 0x14])
        let clocks = try #require(root["clocks"] as? [[String: Any]])
        #expect(clocks.map { $0["host"] as? String } == ["upstream", "upstream"])
        #expect(clocks[0]["sources"] as? [String: String] == ["name": "firmware", "rates": "firmware"])
        #expect((clocks[0]["rates"] as? [String: Int]) == ["min": 100_000_000, "max": 800_000_000, "step": 100_000_000])
        let domains = try #require(root["power_domains"] as? [[String: Any]])
        #expect(domains.first?["sources"] as? [String: String] == ["name": "firmware"])
    }

    @Test func aResourceTheFirmwareLacksIsAnErrorNamingBoth() throws {
        let firmware = try Firmware()
        let result = try scmiDT("tables", try mediator(core: 12), "--upstream", firmware.address)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(
            "error: upstream \(firmware.address): clock 0 \"gpu-core\" (firmware clock 12 of /firmware/scmi): the firmware answers NOT_FOUND to CLOCK_ATTRIBUTES"),
            "\(result.stderr)")
    }

    @Test func anUnreachableFirmwareExits2AndBadOptionsAreUsageErrors() throws {
        let directory = try TemporaryDirectory("scmi-dt-nofirmware")
        defer { directory.cleanup() }
        let board = try directory.write("board.dtb", compileDTS(source: Self.mediatorBoard()))
        let gone = try scmiDT("tables", board, "--upstream", "vhost-user:" + directory.path("none.sock"))
        #expect(gone.status == 2)
        #expect(gone.stderr.contains("cannot reach the firmware"), "\(gone.stderr)")
        let badAddress = try scmiDT("tables", board, "--upstream", "tcp:1.2.3.4")
        #expect(badAddress.status == 64 && badAddress.stderr.contains("give raw:DIR or vhost-user:PATH"), "\(badAddress.output)")
        let badTimeout = try scmiDT("tables", board, "--upstream", "vhost-user:/x", "--upstream-timeout", "soon")
        #expect(badTimeout.status == 64 && badTimeout.stderr.contains("--upstream-timeout 'soon'"), "\(badTimeout.output)")
    }
}
