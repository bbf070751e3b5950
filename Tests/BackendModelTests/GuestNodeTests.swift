@testable import BackendModel
import DeviceTree
import ResourceTables
import Testing

/// The guest's arm,scmi-virtio node, as Linux's arm,scmi binding wants it.
@Suite struct GuestNodeTests {
    func guestTree(_ agentName: String) throws -> (text: String, tree: FlattenedDeviceTree) {
        let tables = try #require(BackendChecker.check(blobAt: examplePath("board.dts")).tables)
        let agent = try #require(tables.agents.first { $0.name == agentName })
        let text = GuestNode.render(tables, agent: agent, source: "board.dtb")
        // What guest/run.sh does with it: the node inside /firmware.
        let bytes = try compileDTS("/dts-v1/;\n/ {\n\tfirmware {\n" + text + "\t};\n};\n")
        return (text, try FlattenedDeviceTree(bytes: bytes))
    }

    @Test func ivi() throws {
        let (text, tree) = try guestTree("vm-ivi")
        let scmi = try #require(tree.node(atPath: "/firmware/scmi"))
        #expect(scmi.compatible == ["arm,scmi-virtio"])
        #expect(scmi.property("#address-cells")?.u32 == 1 && scmi.property("#size-cells")?.u32 == 0)
        #expect(scmi.children.map(\.name) == ["protocol@11", "protocol@13", "protocol@14", "protocol@15", "protocol@16", "protocol@17"])
        #expect(tree.node(atPath: "/firmware/scmi/protocol@14")?.property("#clock-cells")?.u32 == 1)
        #expect(tree.node(atPath: "/firmware/scmi/protocol@14")?.property("reg")?.u32 == 0x14)
        #expect(tree.node(atPath: "/firmware/scmi/protocol@11")?.property("#power-domain-cells")?.u32 == 1)
        #expect(tree.node(atPath: "/firmware/scmi/protocol@15")?.property("#thermal-sensor-cells")?.u32 == 1)
        #expect(tree.node(atPath: "/firmware/scmi/protocol@16")?.property("#reset-cells")?.u32 == 1)
        // Only the voltage domains of vm-ivi's devices (usb0, gpu, audio, emmc): 0, 1, 3, 4 — not dsp's 2.
        let regulators = try #require(tree.node(atPath: "/firmware/scmi/protocol@17/regulators"))
        #expect(regulators.children.map(\.name) == ["regulator@0", "regulator@1", "regulator@3", "regulator@4"])
        #expect(regulators.children.map { $0.property("regulator-name")?.string } == ["vcc-1v8", "vdd-gpu", "vddio-sd", "vcc-3v3"])
        #expect(regulators.children.map { $0.property("reg")?.u32 } == [0, 1, 3, 4])
        // Labels a user references, and a comment per id naming the resource.
        for label in ["scmi_pd: protocol@11", "scmi_clk: protocol@14", "scmi_reset: protocol@16", "scmi_vcc_1v8: regulator@0"] {
            #expect(text.contains(label), "missing \(label)")
        }
        #expect(text.contains("/* 1: osc24m (used by usb0, audio) */"))
        #expect(text.contains("/* 3: ccu-disp-pixel (not usable by vm-ivi) */"))
        #expect(!text.contains("/dts-v1/"), "run.sh drops it, but the fragment should not carry one")
    }

    /// vm-cluster may use every protocol the example enables (its list leaves out only 0x13).
    @Test func clusterGetsOnlyItsProtocols() throws {
        let (_, tree) = try guestTree("vm-cluster")
        let scmi = try #require(tree.node(atPath: "/firmware/scmi"))
        #expect(scmi.children.map(\.name) == ["protocol@11", "protocol@14", "protocol@15", "protocol@16", "protocol@17"])
        let regulators = try #require(tree.node(atPath: "/firmware/scmi/protocol@17/regulators"))
        #expect(regulators.children.map(\.name) == ["regulator@0", "regulator@1", "regulator@2"])
    }

    /// An agent with no devices gets no regulators node (Linux would probe regulators it may not use).
    @Test func adminWithoutDevices() throws {
        let (text, tree) = try guestTree("vm-admin")
        #expect(tree.node(atPath: "/firmware/scmi/protocol@17") == nil)
        #expect(text.contains("protocol@17 (voltage) left out"))
        #expect(tree.node(atPath: "/firmware/scmi/protocol@14") != nil)
    }

    /// A protocol the board enables with an empty table is left out: Linux
    /// would probe it and log "Events Registration Failed" (no sources).
    @Test func protocolWithoutResourcesIsLeftOut() throws {
        var tables = try #require(BackendChecker.check(blobAt: examplePath("board.dts")).tables)
        tables.powerDomains = []
        let agent = try #require(tables.agents.first { $0.name == "vm-ivi" })
        let text = GuestNode.render(tables, agent: agent, source: "board.dtb")
        let tree = try FlattenedDeviceTree(bytes: try compileDTS("/dts-v1/;\n/ {\n\tfirmware {\n" + text + "\t};\n};\n"))
        #expect(tree.node(atPath: "/firmware/scmi/protocol@11") == nil)
        #expect(text.contains("protocol@11 (power-domain) left out"))
        #expect(tree.node(atPath: "/firmware/scmi/protocol@16") != nil)
    }

    @Test func namesAreEscapedAndLabelsUnique() {
        #expect(GuestNode.dtsString("a\"b\\c\u{7}") == "\"a\\\"b\\\\c\\x07\"")
        #expect(GuestNode.labelText("VDD-GPU 0.9V") == "vdd_gpu_0_9v")
        #expect(GuestNode.labelText("--") == "vreg")
        #expect(GuestNode.comment("a */ b") == "a * / b")
        let tables = PlatformTables(
            protocols: [.voltage],
            voltageDomains: [
                VoltageDomainEntry(id: 0, name: "clk", regulatorPath: "/a", levels: .discrete([1]), initialLevel: 1, initiallyOn: false),
                VoltageDomainEntry(id: 1, name: "x*/y", regulatorPath: "/b", levels: .discrete([1]), initialLevel: 1, initiallyOn: false),
                VoltageDomainEntry(id: 2, name: "x-y", regulatorPath: "/c", levels: .discrete([1]), initialLevel: 1, initiallyOn: false),
            ],
            devices: [DeviceEntry(id: 1, name: "d", path: "/d", resources: [.init(.voltage, 0), .init(.voltage, 1), .init(.voltage, 2)])],
            agents: [AgentEntry(id: 1, name: "a", devices: [1], protocols: [.voltage], trusted: false)])
        let text = GuestNode.render(tables, agent: tables.agents[0], source: "s")
        #expect(text.contains("scmi_clk_0: regulator@0"), "scmi_clk is the clock protocol's label")
        #expect(text.contains("scmi_x_y: regulator@1"))
        #expect(text.contains("scmi_x_y_2: regulator@2"))
        #expect(throws: Never.self) { try compileDTS("/dts-v1/;\n/ { firmware {\n" + text + "}; };\n") }
    }
}
