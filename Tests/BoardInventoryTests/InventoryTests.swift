import BackendModel
import BoardInventory
import DeviceTree
import Foundation
import Testing

/// A small board with one of everything the inventory lists, and the defects real boards have:
/// an empty clock entry, a supply that is not a regulator, a regulator without levels, a fixed
/// clock without a frequency, a device under a disabled bus.
let board = """
    /dts-v1/;
    / {
        #address-cells = <1>;
        #size-cells = <1>;
        osc: osc { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <24000000>; clock-output-names = "osc24m"; };
        pll: pll { compatible = "fixed-factor-clock"; #clock-cells = <0>; clocks = <&osc>; clock-mult = <4>; clock-div = <2>; };
        dummy: dummy { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <0>; };
        ccu: clock-controller@1000 {
            reg = <0x1000 0x100>;
            #clock-cells = <1>;
            #reset-cells = <1>;
            clock-output-names = "bus", "usb", "gpu";
            assigned-clocks = <&ccu 2>;
            assigned-clock-rates = <600000000>;
        };
        pd: power-controller { #power-domain-cells = <1>; };
        vdd: regulator-vdd { compatible = "regulator-fixed"; regulator-name = "vdd"; regulator-min-microvolt = <800000>; regulator-max-microvolt = <900000>; regulator-always-on; };
        vbare: regulator-bare { compatible = "regulator-fixed"; regulator-name = "bare"; vin-supply = <&vdd>; };
        notreg: gpio-controller { #gpio-cells = <2>; };
        opp: opp-table { compatible = "operating-points-v2"; opp-2 { opp-hz = /bits/ 64 <800000000>; }; opp-1 { opp-hz = /bits/ 64 <400000000>; }; };
        tsens: thermal-sensor { #thermal-sensor-cells = <1>; };
        firmware { scmi { compatible = "arm,scmi-smc"; protocol@14 { reg = <0x14>; }; protocol@13 { reg = <0x13>; }; }; };
        usb: usb@2000 {
            reg = <0x2000 0x100>;
            clocks = <&ccu 1>, <&osc>;
            clock-names = "core", "ref";
            resets = <&ccu 1>;
            power-domains = <&pd 3>;
            vbus-supply = <&vdd>;
        };
        gpu: gpu@3000 {
            reg = <0x3000 0x100>;
            clocks = <&ccu 2>, <0>, <&pll>;
            vdd-supply = <&vbare>;
            io-supply = <&notreg>;
        };
        uart: serial@4000 { reg = <0x4000 0x100>; clocks = <&dummy>, <&ccu 0>; };
        idle: idle@5000 { reg = <0x5000 0x100>; };
        bus@6000 {
            status = "disabled";
            #address-cells = <1>;
            #size-cells = <1>;
            hidden: hidden@6000 { reg = <0x6000 0x10>; clocks = <&osc>; };
        };
    };
    """

/// Compiles `source` with the real dtc (with `-@`, so labels are in `__symbols__`).
func compile(_ source: String, plugin: Bool = false) throws -> FlattenedDeviceTree {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("board-inventory-\(getpid())-\(UUID().uuidString).dts" + (plugin ? "o" : "")).path
    try Data(source.utf8).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try FlattenedDeviceTree(bytes: BlobLoader.compile(dts: path, symbols: true))
}

@Suite struct InventoryTests {
    @Test func providersAndTheirFacts() throws {
        let inventory = BoardInventory(tree: try compile(board))
        #expect(inventory.hasSymbols)
        let clocks = Dictionary(uniqueKeysWithValues: inventory.clockProviders.map { ($0.provider.label ?? "", $0) })
        #expect(Set(clocks.keys) == ["osc", "pll", "dummy", "ccu"])
        #expect(clocks["osc"]?.fixedRate == 24_000_000)
        #expect(clocks["pll"]?.fixedRate == 48_000_000)
        #expect(clocks["dummy"]?.fixedRate == nil)
        #expect(clocks["ccu"]?.outputNames == ["bus", "usb", "gpu"])
        #expect(clocks["ccu"]?.assignedRates == [[2]: 600_000_000])
        #expect(inventory.regulators.map(\.label) == ["vdd", "vbare"])
        #expect(inventory.regulators[0].minMicrovolts == 800_000 && inventory.regulators[0].alwaysOn)
        #expect(inventory.regulators[1].minMicrovolts == nil && inventory.regulators[1].supplyPath == "/regulator-vdd")
        #expect(inventory.resetProviders.map(\.path) == ["/clock-controller@1000"])
        #expect(inventory.powerDomainProviders.map(\.path) == ["/power-controller"])
        #expect(inventory.oppTables.first?.frequencies == [400_000_000, 800_000_000])
        #expect(inventory.sensorProviders.map(\.provider.path) == ["/thermal-sensor"])
        #expect(inventory.scmiPlatforms.first?.protocols == [0x14, 0x13])
    }

    @Test func consumersWithEveryReferenceResolved() throws {
        let inventory = BoardInventory(tree: try compile(board))
        // ccu (assigned-clocks is not a resource), the fixed-factor pll (its parent), usb, gpu, uart;
        // the regulator's vin-supply makes it a consumer too; hidden is under a disabled bus.
        #expect(inventory.consumers.map(\.path) == ["/pll", "/regulator-bare", "/usb@2000", "/gpu@3000", "/serial@4000"])
        let usb = try #require(inventory.consumer(named: "usb"))
        #expect(usb.references.map(\.property) == ["clocks", "clocks", "resets", "power-domains", "vbus-supply"])
        #expect(usb.references.map(\.name) == ["core", "ref", nil, nil, "vbus"])
        #expect(usb.references.map(\.providerLabel) == ["ccu", "osc", "ccu", "pd", "vdd"])
        #expect(usb.references[0].resourceName == "usb" && usb.references[1].resourceName == "osc24m")
        #expect(usb.references.allSatisfy { $0.problem == nil })
        let gpu = try #require(inventory.consumer(named: "/gpu@3000"))
        #expect(gpu.references.map(\.index) == [0, 1, 2, 0, 0])
        #expect(gpu.references[1].problem?.contains("empty (0) phandle") == true)
        #expect(gpu.references[4].problem?.contains("not a regulator") == true)
        #expect(inventory.consumer(named: "hidden") == nil)
    }

    /// What the scaffold writes, applied to the board, passes the binding's check.
    func applyAndCheck(_ source: String, to tree: FlattenedDeviceTree) throws -> CheckResult {
        let overlay = try DeviceTreeOverlay(tree: compile(source, plugin: true), name: "scaffold.dtso")
        return BackendChecker.check(tree: try tree.applying([overlay]).tree, file: "board.dtb")
    }

    @Test func scaffoldUsesTheBaseDeviceOrListsWhatItCanExport() throws {
        let tree = try compile(board)
        let scaffold = BoardScaffold(inventory: BoardInventory(tree: tree), tree: tree, blobName: "board.dtb")
        let output = try scaffold.write(devices: ["usb", "&gpu", "/serial@4000"], agents: [AgentRequest(parsing: "ivi=usb,gpu,trusted")])
        #expect(output.devicePaths == ["/usb@2000", "/gpu@3000", "/serial@4000"])
        #expect(output.source.contains("arm,scmi-basedev = <&usb>;"))
        #expect(!output.source.contains("arm,scmi-basedev = <&gpu>;"))
        // gpu: the ccu clock and the pll are exported; the hole, the regulator without levels and
        // the supply that is not a regulator are commented out, each with a note.
        #expect(output.source.contains("clocks = <&ccu 0x2>, <&pll>;"))
        #expect(output.source.contains("/* vdd-supply left out: /regulator-bare has no regulator-min-microvolt"))
        #expect(output.notes.contains { $0.contains("/gpu@3000: io-supply") && $0.contains("not a regulator") })
        #expect(output.notes.contains { $0.contains("/serial@4000: clocks[0]") && $0.contains("fixed-clock without a non-zero clock-frequency") })
        // The ccu's clock 1 has no rate in the tree: a placeholder; clock 2 has an assigned rate.
        #expect(output.notes.contains { $0.contains("/clock-controller@1000: the tree gives no rates") })
        #expect(output.source.contains("/* PLACEHOLDER rates for /clock-controller@1000"))
        #expect(output.source.contains("arm,scmi-agent-name = \"ivi\";") && output.source.contains("arm,scmi-trusted;"))
        let result = try applyAndCheck(output.source, to: tree)
        #expect(!result.hasErrors, "\(result.diagnostics.map(\.rendered))")
        let tables = try #require(result.tables)
        #expect(tables.devices.map(\.name) == ["usb", "gpu", "uart"])
        #expect(tables.agents.map(\.name) == ["ivi"])
        #expect(Set(tables.protocols.map(\.rawValue)) == [0x11, 0x14, 0x16, 0x17])
    }

    /// Real boards whose SCMI firmware owns the resources (juno: the GPU's `clocks = <&scmi_dvfs 2>`;
    /// i.MX95: the CPUs' `power-domains = <&scmi_perf 8>`): the firmware's providers get no rate
    /// placeholder but a note about `serve --upstream`, and its performance domains protocol@13.
    @Test(arguments: [("juno-scmi.dtb", ["/gpu@2d000000", "/hdlcd@7ff50000"], 2), ("imx95-19x19-evk.dtb", ["/cpus/cpu@0", "/soc/pcie@4c300000"], 8)])
    func scaffoldLeavesTheFirmwaresFactsToTheFirmware(_ name: String, _ devices: [String], _ performanceID: UInt32) throws {
        let blob = realCorpus.appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: blob) else { return }
        let tree = try FlattenedDeviceTree(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: blob))))
        let output = try BoardScaffold(inventory: BoardInventory(tree: tree), tree: tree, blobName: name).write(devices: devices, agents: [])
        #expect(!output.source.contains("PLACEHOLDER rates"), "\(output.source)")
        #expect(output.source.contains("protocol@13 { reg = <0x13>; };"))
        for provider in ["/firmware/scmi/protocol@13", "/firmware/scmi/protocol@14"] {
            #expect(output.notes.contains { $0.hasPrefix(provider + ": ") && $0.contains("serve --upstream") }, "\(output.notes)")
        }
        let result = try applyAndCheck(output.source, to: tree)
        #expect(!result.hasErrors && !result.diagnostics.contains { $0.rule == Rule.clockRateUndescribed.id }, "\(result.diagnostics.map(\.rendered))")
        let tables = try #require(result.tables)
        #expect(tables.performanceDomains.count == 1 && tables.firmwareOrigin(.performance, 0)?.firmwareID == performanceID)
        #expect(tables.clocks.allSatisfy { $0.ratesSource == "firmware" })
    }

    /// Without __symbols__ the scaffold spells every reference as a path, which the overlay
    /// code resolves (giving the node a phandle when it has none).
    @Test func scaffoldOfABoardWithoutLabels() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("board-nolabels-\(getpid()).dts").path
        try Data(board.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tree = try FlattenedDeviceTree(bytes: BlobLoader.compile(dts: path))
        let inventory = BoardInventory(tree: tree)
        #expect(!inventory.hasSymbols && inventory.consumers.allSatisfy { $0.label == nil })
        let output = try BoardScaffold(inventory: inventory, tree: tree, blobName: "board.dtb").write(devices: ["/usb@2000"], agents: [])
        #expect(output.source.contains("arm,scmi-basedev = <&{/usb@2000}>;"))
        #expect(output.notes.contains { $0.contains("vm1") })
        let result = try applyAndCheck(output.source, to: tree)
        #expect(!result.hasErrors, "\(result.diagnostics.map(\.rendered))")
        #expect(result.tables?.devices.first?.resources.count == 5)
    }

    @Test func scaffoldErrors() throws {
        let tree = try compile(board)
        let scaffold = BoardScaffold(inventory: BoardInventory(tree: tree), tree: tree, blobName: "board.dtb")
        let cases: [([String], [String], ScaffoldError)] = [
            (["nothing"], [], .unknownLabel("nothing", hasSymbols: true)),
            (["/no/node"], [], .notANode("/no/node")),
            (["idle"], [], .noResources("idle")),
            (["hidden"], [], .disabled("hidden")),
            (["usb", "/usb@2000"], [], .chosenTwice("usb", "/usb@2000")),
            (["usb"], ["a=gpu"], .agentDeviceNotChosen(agent: "a", device: "gpu")),
            (["usb"], ["a=usb", "a=usb"], .agentTwice("a")),
            ([], [], .noDevices),
        ]
        for (devices, agents, expected) in cases {
            let error = #expect(throws: ScaffoldError.self) {
                try scaffold.write(devices: devices, agents: agents.map { text throws(ScaffoldError) in try AgentRequest(parsing: text) })
            }
            #expect(error == expected, "\(devices) \(agents)")
        }
        #expect(throws: ScaffoldError.self) { try AgentRequest(parsing: "-bad=usb") }
        #expect(throws: ScaffoldError.self) { try AgentRequest(parsing: "no-equals") }
    }
}
