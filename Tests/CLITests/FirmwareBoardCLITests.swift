import Foundation
import SCMIClient
import TestKit
import Testing

/// A real firmware board end to end (docs/board.md, "Boards whose resources the firmware
/// owns"): juno's unmodified blob, the overlay `scaffold` writes for three of its devices,
/// and a mediator `serve --upstream` in front of a "firmware" `scmi-dt serve` whose SCMI ids
/// are juno's firmware ids. The firmware's `status` proves what reached it.
@Suite("a real firmware board (juno) through a mediator", .serialized)
struct FirmwareBoardCLITests {
    static let juno = realCorpus.appendingPathComponent("juno-scmi.dtb").path

    /// The firmware: clock 3 (juno's `hdlcd` pixel clock) 25..200 MHz, power domains
    /// 0..9, performance domain 2 (juno's GPU, `clocks = <&scmi_dvfs 2>`) at 450, 487.5
    /// and 600 MHz. Its other ids exist only so that these have juno's numbers.
    static let firmware = """
        /dts-v1/;
        / {
            #address-cells = <1>;
            #size-cells = <1>;
            ccu: clock-controller@1000 { compatible = "acme,ccu"; reg = <0x1000 0x100>; #clock-cells = <1>;
                arm,scmi-rate-range = <25000000 200000000 1000000>; };
            pmu: power-controller@2000 { compatible = "acme,pmu"; reg = <0x2000 0x100>; #power-domain-cells = <1>; };
            dvfs_opp: opp-table {
                compatible = "operating-points-v2";
                opp-450000000 { opp-hz = /bits/ 64 <450000000>; };
                opp-487500000 { opp-hz = /bits/ 64 <487500000>; };
                opp-600000000 { opp-hz = /bits/ 64 <600000000>; };
            };
            firmware {
                scmi-vio-backend {
                    compatible = "arm,scmi-vio-backend";
                    #address-cells = <1>;
                    #size-cells = <0>;
                    arm,scmi-vendor = "juno-scp";
                    protocol@11 { reg = <0x11>; };
                    protocol@13 {
                        reg = <0x13>;
                        #address-cells = <1>;
                        #size-cells = <0>;
                        perf-domain@0 { reg = <0>; operating-points-v2 = <&dvfs_opp>; label = "a57"; };
                        perf-domain@1 { reg = <1>; operating-points-v2 = <&dvfs_opp>; label = "a53"; };
                        perf-domain@2 { reg = <2>; operating-points-v2 = <&dvfs_opp>; label = "fw-gpu"; };
                    };
                    protocol@14 { reg = <0x14>; };
                    devices {
                        #address-cells = <1>;
                        #size-cells = <0>;
                        device@0 {
                            reg = <0>;
                            arm,scmi-devid = <0>;
                            arm,scmi-devname = "soc";
                            clocks = <&ccu 0>, <&ccu 1>, <&ccu 2>, <&ccu 3>;
                            power-domains = <&pmu 0>, <&pmu 1>, <&pmu 2>, <&pmu 3>, <&pmu 4>, <&pmu 5>, <&pmu 6>, <&pmu 7>, <&pmu 8>, <&pmu 9>;
                            arm,scmi-perf-domain-ids = <0 1 2>;
                        };
                    };
                };
            };
        };
        """

    @Test(.enabled(if: FileManager.default.fileExists(atPath: juno)))
    func aScaffoldedJunoOverlayReachesTheFirmwaresIDs() throws {
        let files = try TemporaryDirectory("scmi-dt-fwboard")
        defer { files.cleanup() }
        let overlay = files.path("juno.dtso")
        let scaffold = try scmiDT(
            "scaffold", Self.juno, "--device", "/hdlcd@7ff50000", "--device", "/gpu@2d000000", "--device", "/iommu@2b600000", "--output", overlay)
        #expect(scaffold.status == 0, "\(scaffold.output)")
        let firmware = try RunningServe(blob: files.write("firmware.dtb", compileDTS(source: Self.firmware)), extraArguments: ["--trace"])
        let upstream = "vhost-user:" + firmware.socket("agent1")

        // The facts are the firmware's: names, rates, levels; every resource goes upstream.
        let tables = try scmiDT("tables", "--format", "json", Self.juno, "--overlay", overlay, "--upstream", upstream)
        #expect(tables.status == 0, "\(tables.output)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(tables.stdout.utf8)) as? [String: Any])
        let clocks = try #require(root["clocks"] as? [[String: Any]])
        #expect(clocks.map { $0["host"] as? String } == ["upstream"])
        #expect((clocks.first?["rates"] as? [String: Int]) == ["min": 25_000_000, "max": 200_000_000, "step": 1_000_000], "\(clocks)")
        let domains = try #require(root["performance_domains"] as? [[String: Any]])
        #expect(domains.map { $0["name"] as? String } == ["fw-gpu"] && domains.first?["host"] as? String == "upstream", "\(domains)")
        #expect(domains.first?["opp_table"] is NSNull, "juno's board has no OPP table for it: \(domains)")

        // The mediator on the real board: a guest's changes reach the firmware's ids.
        let mediator = try RunningServe(blob: Self.juno, extraArguments: ["--overlay", overlay, "--upstream", upstream])
        let guest = try mediator.connect("vm1")
        defer { guest.leave() }
        try guest.client.performanceLevelSet(0, level: 600_000)  // kHz, the firmware's level
        try guest.client.rateSet(0, rate: 100_000_000)
        try guest.client.enable(clock: 0)
        let firmwareGPU = try UpstreamServeCLITests.Stack.row(firmware, "performance_domains", 2)
        #expect(UpstreamServeCLITests.Stack.requesters(firmwareGPU) == ["agent1"], "\(firmwareGPU)")
        #expect(firmware.log.contains("physical: performance domain 2 \"fw-gpu\" level 450000 kHz -> 600000 kHz (agent 1, request)"), "\(firmware.log)")
        let pixelClock = try firmware.clock(3)
        #expect(pixelClock["rate_hz"] as? Int == 100_000_000 && pixelClock["enabled"] as? Bool == true, "\(pixelClock)")
        // Reads are the firmware's.
        #expect(try guest.client.performanceLevelGet(0) == 600_000)
        #expect(try guest.client.rateGet(0) == 100_000_000)
        #expect(mediator.stop() == 0)
        firmware.stop()
    }
}
