import Foundation
import Testing

/// `scmi-dt guest-dtsi`: the guest's node, exactly what guest/run.sh --scmi-dtsi takes.
@Suite struct GuestDTSICLITests {
    /// Wraps the fragment as run.sh does (without /dts-v1/ lines, inside / { firmware { … }; };)
    /// and compiles it with dtc; returns the decompiled tree.
    func compileAsRunShDoes(_ fragment: String) throws -> String {
        let directory = try TemporaryDirectory("guest")
        defer { directory.cleanup() }
        let body = fragment.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("/dts-v1/;") }.joined(separator: "\n")
        let source = try directory.write("guest.dts", "/dts-v1/;\n/ {\n\tfirmware {\n" + body + "\n\t};\n};\n")
        let dtc = findInPath("dtc") ?? "/usr/bin/dtc"
        let compiled = try runTool(dtc, ["-q", "-I", "dts", "-O", "dtb", "-o", directory.path("guest.dtb"), source])
        try #require(compiled.status == 0, "dtc: \(compiled.stderr)")
        return try runTool(dtc, ["-q", "-I", "dtb", "-O", "dts", directory.path("guest.dtb")]).stdout
    }

    @Test(arguments: ["vm-ivi", "vm-cluster", "vm-admin", "2"])
    func compilesForEveryAgent(_ agent: String) throws {
        let result = try scmiDT("guest-dtsi", examplePath("board.dts"), "--agent", agent)
        #expect(result.status == 0, "\(result.output)")
        let tree = try compileAsRunShDoes(result.stdout)
        #expect(tree.contains("compatible = \"arm,scmi-virtio\";"))
        #expect(tree.contains("scmi {"))
    }

    @Test func iviNodeHasItsProtocolsAndRegulators() throws {
        let result = try scmiDT("guest-dtsi", examplePath("board.dts"), "--agent", "vm-ivi")
        let text = result.stdout
        #expect(text.contains("scmi_clk: protocol@14 {\n\t\treg = <0x14>;\n\t\t#clock-cells = <1>;"))
        #expect(text.contains("scmi_reset: protocol@16 {\n\t\treg = <0x16>;\n\t\t#reset-cells = <1>;"))
        #expect(text.contains("scmi_pd: protocol@11 {\n\t\treg = <0x11>;\n\t\t#power-domain-cells = <1>;"))
        #expect(text.contains("#thermal-sensor-cells = <1>;"))
        #expect(text.contains("scmi_vdd_gpu: regulator@1 {\n\t\t\t\treg = <1>;\n\t\t\t\tregulator-name = \"vdd-gpu\";"))
        #expect(!text.contains("regulator@2 {"), "vdd-dsp belongs to vm-cluster's dsp")
        #expect(text.contains("/* 5: audio-pll (used by audio) */"))
    }

    /// vm-cluster shares the GPU's power domain and reset line with vm-ivi:
    /// its node has both protocols under the labels consumers reference.
    @Test func clusterNodeHasThePowerAndResetDomainsItShares() throws {
        let text = try scmiDT("guest-dtsi", examplePath("board.dts"), "--agent", "vm-cluster").stdout
        #expect(text.contains("scmi_pd: protocol@11 {\n\t\treg = <0x11>;\n\t\t#power-domain-cells = <1>;"), "\(text)")
        #expect(text.contains("scmi_reset: protocol@16 {\n\t\treg = <0x16>;\n\t\t#reset-cells = <1>;"), "\(text)")
        #expect(text.contains("regulator@2 {"))
    }

    @Test func severalAgentsNeedAChoice() throws {
        let result = try scmiDT("guest-dtsi", examplePath("board.dts"))
        #expect(result.status == 64, "usage error")
        #expect(result.stdout.isEmpty)
        for name in ["vm-ivi", "vm-cluster", "vm-admin"] { #expect(result.stderr.contains(name)) }
        let unknown = try scmiDT("guest-dtsi", examplePath("board.dts"), "--agent", "vm-nope")
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("vm-nope") && unknown.stderr.contains("vm-ivi"))
    }

    @Test func singleAgentNeedsNoChoice() throws {
        let result = try scmiDT("guest-dtsi", examplePath("minimal.dts"))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("agent \"vm-ivi\" (id 1)"))
        _ = try compileAsRunShDoes(result.stdout)
    }

    @Test func brokenBlobGivesDiagnostics() throws {
        let result = try scmiDT("guest-dtsi", examplePath("bad/agent-name-duplicate.dts"), "--agent", "vm-ivi")
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("error[agent-name-duplicate]"))
    }
}
