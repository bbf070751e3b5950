import Foundation
import Testing

/// Backend nodes written for real boards (../shared/corpus/real) the way a user does:
/// the board's blob decompiled with dtc, a scmi-vio-backend node appended that names
/// host nodes by path, compiled back. What `check` and `tables` say must be the board's
/// own facts (issue 10): OPP rates, the consumers' clock-names, regulator-gpio states,
/// always-on and coupled rails, placeholder clocks, what the host itself uses.
struct RealBoard {
    let directory: TemporaryDirectory
    /// The board with the backend appended, as source.
    let source: String
    /// The same, compiled.
    let blob: String
    let board: URL

    /// `editing` changes the decompiled board before the backend is appended.
    init(_ name: String, backend: String, editing: (String) -> String = { $0 }) throws {
        board = realCorpus.appendingPathComponent(name + ".dtb")
        directory = try TemporaryDirectory("real-" + name)
        let decompiled = try runTool(dtcPath, ["-q", "-I", "dtb", "-O", "dts", board.path])
        guard decompiled.status == 0 else { throw DTCError(message: decompiled.stderr) }
        source = try directory.write(name + "-scmi.dts", editing(decompiled.stdout) + "\n" + backend)
        blob = try directory.write(name + "-scmi.dtb", compileDTS(file: source))
    }

    /// `fdtget -t s|x` on the original board: a fact to compare with.
    func fact(_ path: String, _ property: String, type: String = "s") throws -> [String] {
        let result = try runTool(findInPath("fdtget") ?? "/usr/bin/fdtget", ["-t", type, board.path, path, property])
        guard result.status == 0 else { throw DTCError(message: result.stderr) }
        return result.stdout.split(whereSeparator: \.isWhitespace).map(String.init)
    }

    func subnodes(_ path: String) throws -> [String] {
        let result = try runTool(findInPath("fdtget") ?? "/usr/bin/fdtget", ["-l", board.path, path])
        return result.stdout.split(separator: "\n").map(String.init)
    }

    func check() throws -> [Finding] {
        let result = try scmiDT("check", "--format", "json", blob)
        #expect(result.status == 0, "\(result.output)")
        return try parseFindings(result.stdout)
    }

    func tables() throws -> [String: Any] {
        let result = try scmiDT("tables", "--format", "json", blob)
        #expect(result.status == 0, "\(result.output)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    func cleanup() { directory.cleanup() }

    /// A backend node: `protocols` (hex ids), `devices` and `agents` bodies.
    static func backend(protocols: [String], devices: String, agents: String) -> String {
        """
        / {
        \tfirmware {
        \t\tscmi-vio-backend {
        \t\t\tcompatible = "arm,scmi-vio-backend";
        \t\t\t#address-cells = <1>;
        \t\t\t#size-cells = <0>;
        \(protocols.map { "\t\t\tprotocol@\($0) { reg = <0x\($0)>; };" }.joined(separator: "\n"))
        \t\t\tdevices {
        \t\t\t\t#address-cells = <1>;
        \t\t\t\t#size-cells = <0>;
        \(devices)
        \t\t\t};
        \t\t\tagents {
        \t\t\t\t#address-cells = <1>;
        \t\t\t\t#size-cells = <0>;
        \(agents)
        \t\t\t};
        \t\t};
        \t};
        };
        """
    }

    /// A device whose resources are the host node at `basedev`'s.
    static func device(_ label: String, _ id: Int, _ name: String, basedev: String) -> String {
        "\(label): device@\(id) { reg = <\(id)>; arm,scmi-devid = <\(id)>; arm,scmi-devname = \"\(name)\"; arm,scmi-basedev = <&{\(basedev)}>; };"
    }

    /// RK3588 EVB1: the Mali GPU with its OPP table and coupled core/memory rails, and
    /// the always-on 3.3 V rail for an I/O VM.
    static let rk3588Backend = backend(
        protocols: ["14", "17"],
        devices: """
            \(RealBoard.device("dev_gpu", 1, "gpu", basedev: "/gpu@fb000000"))
            dev_io: device@2 {
                reg = <2>;
                arm,scmi-devid = <2>;
                arm,scmi-devname = "io";
                vcc-supply = <&{/spi@feb20000/pmic@1/regulators/dcdc-reg4}>;
            };
            """,
        agents: """
            agent@1 { reg = <1>; arm,scmi-agent-name = "vm-gpu"; arm,scmi-devices = <&dev_gpu>; };
            agent@2 { reg = <2>; arm,scmi-agent-name = "vm-io"; arm,scmi-devices = <&dev_io>; };
            agent@3 { reg = <3>; arm,scmi-agent-name = "vm-admin"; arm,scmi-devices = <&dev_gpu &dev_io>; arm,scmi-trusted; };
            """)
}

func jsonObjects(_ value: Any?) -> [[String: Any]] { value as? [[String: Any]] ?? [] }

@Suite struct RealBoardBackendTests {
    @Test func rk3588GPUClocksTakeTheOPPRatesAndTheGPUsClockNames() throws {
        let board = try RealBoard("rk3588-evb1-v10", backend: RealBoard.rk3588Backend)
        defer { board.cleanup() }
        let clocks = jsonObjects(try board.tables()["clocks"])
        let names = try board.fact("/gpu@fb000000", "clock-names")
        #expect(clocks.map { $0["name"] as? String } == names.map { "gpu-" + $0 }, "named after the consumer's clock-names")
        // The GPU's OPP table scales its first clock: every enabled OPP's opp-hz (two cells, big-endian).
        var oppRates: [Int] = []
        for opp in try board.subnodes("/opp-table-gpu") {
            let cells = try board.fact("/opp-table-gpu/" + opp, "opp-hz", type: "x").compactMap { Int($0, radix: 16) }
            oppRates.append(cells[0] << 32 | cells[1])
        }
        let core = try #require(clocks.first)
        #expect((core["rates"] as? [String: [Int]])?["discrete"] == oppRates.sorted())
        #expect(core["rates_source"] as? String == "opp-hz /opp-table-gpu")
        #expect(clocks.dropFirst().allSatisfy { $0["rates_source"] as? String == "undescribed" })
        let text = try scmiDT("tables", board.blob).stdout
        #expect(text.contains("gpu-core") && text.contains("300 MHz") && text.contains("/clock-controller@fd7c0000 <0x106>"))
    }

    @Test func rk3588RailsCarryTheirHostLimits() throws {
        let board = try RealBoard("rk3588-evb1-v10", backend: RealBoard.rk3588Backend)
        defer { board.cleanup() }
        let domains = jsonObjects(try board.tables()["voltage_domains"])
        #expect(domains.map { $0["name"] as? String } == ["vdd_gpu_s0", "vdd_gpu_mem_s0", "vcc_3v3_s0"])
        let spread = try #require(Int(try board.fact("/spi@feb20000/pmic@0/regulators/dcdc-reg1", "regulator-coupled-max-spread", type: "u").first ?? ""))
        #expect(jsonObjects(domains[0]["coupled_with"]).map { [$0["id"] as? Int, $0["max_spread_microvolts"] as? Int] } == [[1, spread]])
        #expect(jsonObjects(domains[1]["coupled_with"]).map { [$0["id"] as? Int, $0["max_spread_microvolts"] as? Int] } == [[0, spread]])
        #expect(domains.allSatisfy { $0["always_on"] as? Bool == true })
        // The core rail's minimum is far below the memory rail's: it starts within the spread.
        let coreLevel = try #require(domains[0]["initial_microvolts"] as? Int)
        let memoryLevel = try #require(domains[1]["initial_microvolts"] as? Int)
        #expect(abs(coreLevel - memoryLevel) <= spread)
        #expect(domains[0]["min_microvolts"] as? Int == Int(try board.fact("/spi@feb20000/pmic@0/regulators/dcdc-reg1", "regulator-min-microvolt", type: "u")[0]))

        let findings = try board.check()
        #expect(findings.filter { $0.rule == "regulator-coupled" }.map(\.path).sorted() == [
            "/spi@feb20000/pmic@0/regulators/dcdc-reg1", "/spi@feb20000/pmic@0/regulators/dcdc-reg5",
        ])
        #expect(findings.contains { $0.rule == "regulator-always-on-exported" && $0.path == "/spi@feb20000/pmic@1/regulators/dcdc-reg4" && $0.severity == "note" })
    }

    /// i.MX95 EVK: sai1 to an audio VM and usdhc2 to an I/O VM. Both use the firmware's
    /// bus clock 0x77, and so do host devices no VM is given; sai1 names clock-dummy.
    @Test func imx95PlaceholderClocksAndTheHostsOwnUsers() throws {
        let board = try RealBoard(
            "imx95-19x19-evk",
            backend: RealBoard.backend(
                protocols: ["14"],
                devices: """
                    \(RealBoard.device("dev_audio", 1, "sai1", basedev: "/soc/bus@42000000/sai@42650000"))
                    \(RealBoard.device("dev_sd", 2, "usdhc2", basedev: "/soc/bus@42800000/mmc@42860000"))
                    """,
                agents: """
                    agent@1 { reg = <1>; arm,scmi-agent-name = "vm-audio"; arm,scmi-devices = <&dev_audio>; };
                    agent@2 { reg = <2>; arm,scmi-agent-name = "vm-io"; arm,scmi-devices = <&dev_sd>; };
                    """))
        defer { board.cleanup() }
        let findings = try board.check()
        #expect(!findings.contains { $0.severity == "error" })
        let placeholders = findings.filter { $0.rule == "fixed-clock-placeholder" }
        #expect(!placeholders.isEmpty && placeholders.allSatisfy { $0.message.contains("/soc/bus@42000000/sai@42650000:clocks") && $0.message.contains("/clock-dummy") })
        let clocks = jsonObjects(try board.tables()["clocks"])
        #expect(!clocks.contains { ($0["provider"] as? String) == "/clock-dummy" })
        let bus = try #require(clocks.first { $0["specifier"] as? [Int] == [0x77] })
        #expect(bus["name"] as? String == "sai-" + (try board.fact("/soc/bus@42000000/sai@42650000", "clock-names")[0]))
        let host = try #require(findings.first { $0.rule == "resource-used-by-host" && $0.message.contains("<0x77>") })
        #expect(host.path == "/firmware/scmi/protocol@14")
        #expect(host.message.contains("vm-audio, vm-io") && host.message.contains("/soc/bus@42000000/watchdog@42490000"))
    }

    /// SM8550 QRD: many controllers are called clock-controller; UFS has a multi-clock OPP table.
    @Test func sm8550NamesAreUniqueAndUFSRatesComeFromItsOPPs() throws {
        let board = try RealBoard(
            "sm8550-qrd",
            backend: RealBoard.backend(
                protocols: ["11", "14", "16", "17"],
                devices: """
                    \(RealBoard.device("dev_ufs", 1, "ufs", basedev: "/soc@0/ufs@1d84000"))
                    \(RealBoard.device("dev_i2c", 2, "touch", basedev: "/soc@0/geniqup@9c0000/i2c@988000"))
                    """,
                agents: """
                    agent@1 { reg = <1>; arm,scmi-agent-name = "vm-storage"; arm,scmi-devices = <&dev_ufs>; };
                    agent@2 { reg = <2>; arm,scmi-agent-name = "vm-io"; arm,scmi-devices = <&dev_i2c>; };
                    """))
        defer { board.cleanup() }
        let findings = try board.check()
        #expect(!findings.contains { $0.rule == "clock-name-duplicate" || $0.severity == "error" })
        let tables = try board.tables()
        let clocks = jsonObjects(tables["clocks"])
        let names = clocks.compactMap { $0["name"] as? String }
        #expect(Set(names).count == names.count)
        let ufsNames = try board.fact("/soc@0/ufs@1d84000", "clock-names")
        #expect(Array(names.prefix(ufsNames.count)) == ufsNames.map { "ufs-" + $0 })
        let core = try #require(clocks.first)
        #expect(core["rates_source"] as? String == "opp-hz /soc@0/ufs@1d84000/opp-table")
        #expect(((core["rates"] as? [String: [Int]])?["discrete"]?.count ?? 0) > 1)
        #expect(jsonObjects(tables["reset_domains"]).map { $0["name"] as? String } == (try board.fact("/soc@0/ufs@1d84000", "reset-names")).map { "ufs-" + $0 })
    }

    /// Raspberry Pi 4: the SD card's I/O rail is a regulator-gpio with two states.
    @Test func bcm2711SDIORailHasItsTwoStates() throws {
        let board = try RealBoard(
            "bcm2711-rpi-4-b",
            backend: RealBoard.backend(
                protocols: ["17"],
                devices: """
                    \(RealBoard.device("dev_sd", 1, "sd", basedev: "/emmc2bus/mmc@7e340000"))
                    """,
                agents: "agent@1 { reg = <1>; arm,scmi-agent-name = \"vm-sd\"; arm,scmi-devices = <&dev_sd>; };"))
        defer { board.cleanup() }
        let domains = jsonObjects(try board.tables()["voltage_domains"])
        let sdIO = try #require(domains.first { $0["regulator"] as? String == "/regulator-sd-io-1v8" })
        let states = try board.fact("/regulator-sd-io-1v8", "states", type: "u").compactMap(Int.init)
        let levels = stride(from: 0, to: states.count, by: 2).map { states[$0] }.sorted()
        #expect((sdIO["levels_microvolts"] as? [String: [Int]])?["discrete"] == levels)
        #expect(sdIO["levels_source"] as? String == "states")
        #expect(sdIO["always_on"] as? Bool == true)
    }

    // MARK: - serve keeps the host's limits (issue 10, item 1)

    /// vcc_3v3_s0 is regulator-always-on: two agents vote it off through `call`, each reads
    /// back its own request, and the rail stays on.
    @Test func rk3588AlwaysOnRailStaysOnThroughCall() throws {
        let board = try RealBoard("rk3588-evb1-v10", backend: RealBoard.rk3588Backend)
        defer { board.cleanup() }
        let serve = try RunningServe(blob: board.blob)
        defer { serve.stop() }
        let domain = 2  // vcc_3v3_s0, the io device's supply
        #expect(try serve.voltageDomain(domain)["on"] as? Bool == true)
        let io = try scmiDT("call", "--socket", serve.socket("vm-io"), "voltage.off", "\(domain)", "+", "voltage.state", "\(domain)")
        #expect(io.status == 0, "\(io.output)")
        #expect(io.stdout == "> voltage.off \(domain)\nok\n> voltage.state \(domain)\noff\n", "the agent reads back its own request")
        #expect(try serve.voltageDomain(domain)["on"] as? Bool == true)
        // Both sharers vote off at once (one holds its vote while the other asks): still on.
        let admin = try serve.connect("vm-admin")
        defer { admin.leave() }
        try admin.client.voltageOff(UInt32(domain))
        let again = try scmiDT("call", "--socket", serve.socket("vm-io"), "voltage", "off", "\(domain)")
        #expect(again.status == 0, "\(again.output)")
        let row = try serve.voltageDomain(domain)
        #expect(row["on"] as? Bool == true, "\(row)")
        #expect(try admin.client.voltageConfigGet(UInt32(domain)) == 0x0)
    }

    /// vdd_gpu_s0 and vdd_gpu_mem_s0 are coupled within 10 mV: a request that would take
    /// one further from the other is refused; raised step by step they move together.
    @Test func rk3588CoupledRailsRefuseToDriftApart() throws {
        let board = try RealBoard("rk3588-evb1-v10", backend: RealBoard.rk3588Backend)
        defer { board.cleanup() }
        let domains = jsonObjects(try board.tables()["voltage_domains"])
        let spread = try #require(jsonObjects(domains[0]["coupled_with"]).first?["max_spread_microvolts"] as? Int)
        let memory = try #require(domains[1]["initial_microvolts"] as? Int)
        let serve = try RunningServe(blob: board.blob)
        defer { serve.stop() }
        #expect(try serve.voltageDomain(0)["level_microvolts"] as? Int == domains[0]["initial_microvolts"] as? Int)

        // Straight to 900 mV: refused, nothing recorded.
        let jump = try scmiDT("call", "--socket", serve.socket("vm-gpu"), "voltage", "level-set", "0", "900000")
        #expect(jump.status == 1)
        #expect(jump.output.contains("OUT_OF_RANGE"), "\(jump.output)")
        // Memory rail more than the spread above the core rail: refused too.
        let memoryJump = try scmiDT("call", "--socket", serve.socket("vm-gpu"), "voltage", "level-set", "1", "\(memory + 2 * spread)")
        #expect(memoryJump.status == 1 && memoryJump.output.contains("OUT_OF_RANGE"), "\(memoryJump.output)")
        // Step by step, each within the spread of the other: accepted.
        let steps = try scmiDT(
            "call", "--socket", serve.socket("vm-gpu"), "voltage.level-set", "0", "\(memory + spread)", "+",
            "voltage.level-set", "1", "\(memory + 2 * spread)", "+", "voltage.level-set", "0", "\(memory + 3 * spread)", "+",
            "voltage.level-get", "0")
        #expect(steps.status == 0, "\(steps.output)")
        #expect(steps.stdout.hasSuffix("\(memory + 3 * spread) uV\n") || steps.stdout.contains("\(memory + 3 * spread)"), "\(steps.output)")
        for id in [0, 1] {
            #expect(try serve.voltageDomain(id)["level_microvolts"] as? Int == domains[id]["initial_microvolts"] as? Int, "withdrawn when call left")
        }
    }

    /// Two agents on the coupled pair: when the one holding the memory rail up leaves, the
    /// memory rail is held within the spread of the core rail the other still holds, and
    /// follows it down when that one leaves too.
    @Test func rk3588CoupledRailsStayWithinTheSpreadAfterWithdrawal() throws {
        let board = try RealBoard("rk3588-evb1-v10", backend: RealBoard.rk3588Backend)
        defer { board.cleanup() }
        let domains = jsonObjects(try board.tables()["voltage_domains"])
        let spread = try #require(jsonObjects(domains[0]["coupled_with"]).first?["max_spread_microvolts"] as? Int)
        let start = (try #require(domains[0]["initial_microvolts"] as? Int), try #require(domains[1]["initial_microvolts"] as? Int))
        let serve = try RunningServe(blob: board.blob)
        defer { serve.stop() }
        let gpu = try serve.connect("vm-gpu")
        let admin = try serve.connect("vm-admin")
        defer { admin.leave() }
        // vm-admin raises the core rail and vm-gpu the memory rail, in turns, each within the spread.
        var core = Int32(start.0)
        var memory = Int32(start.1)
        while core < Int32(start.1 + 4 * spread) {
            core = memory + Int32(spread)
            try admin.client.levelSet(0, microvolts: core)
            memory = core + Int32(spread)
            try gpu.client.levelSet(1, microvolts: memory)
        }
        #expect(statusOf { try gpu.client.levelSet(0, microvolts: core - 5 * Int32(spread)) } == .success, "hidden by vm-admin's higher request")
        #expect(try serve.voltageDomain(1)["level_microvolts"] as? Int == Int(memory))
        gpu.leave()
        // The memory rail's own request is gone, but the core rail is still up: held within the spread.
        #expect(try eventually { try serve.voltageDomain(1)["level_microvolts"] as? Int == Int(core) - spread || serve.voltageDomain(1)["level_microvolts"] as? Int == Int(core) })
        let held = try #require(try serve.voltageDomain(1)["level_microvolts"] as? Int)
        #expect(abs(held - Int(core)) <= spread && held >= start.1)
        #expect(try admin.client.levelGet(1) == Int32(held))
        admin.leave()
        #expect(try eventually { try serve.voltageDomain(0)["level_microvolts"] as? Int == start.0 })
        #expect(try eventually { try serve.voltageDomain(1)["level_microvolts"] as? Int == start.1 })
    }

    /// Juno, i.MX95 and RK3588 keep their clocks and power domains in SCMI firmware
    /// (docs/binding.md §5.7). Exported to a VM they check clean and carry the
    /// firmware's ids; the same board with its platform node's compatible changed
    /// is an ordinary provider again and is asked for rates.
    @Test(arguments: [
        ("juno-scmi", "arm,scmi", ["11", "14"], """
            dev_fw: device@1 {
                reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "hdlcd";
                clocks = <&{/firmware/scmi/protocol@14} 3>;
                power-domains = <&{/firmware/scmi/protocol@11} 9>;
            };
            """),
        ("imx95-19x19-evk", "arm,scmi", ["14"], RealBoard.device("dev_fw", 1, "usdhc2", basedev: "/soc/bus@42800000/mmc@42860000")),
        ("rk3588-evb1-v10", "arm,scmi-smc", ["14"], """
            dev_fw: device@1 { reg = <1>; arm,scmi-devid = <1>; arm,scmi-devname = "npu"; clocks = <&{/firmware/scmi/protocol@14} 5>; };
            """),
    ])
    func firmwareResourcesCheckCleanWithTheFirmwaresIDs(board name: String, compatible: String, protocols: [String], device: String) throws {
        let backend = RealBoard.backend(
            protocols: protocols, devices: device,
            agents: "agent@1 { reg = <1>; arm,scmi-agent-name = \"vm\"; arm,scmi-devices = <&dev_fw>; };")
        let board = try RealBoard(name, backend: backend)
        defer { board.cleanup() }
        let findings = try board.check()
        #expect(!findings.contains { $0.path.hasPrefix("/firmware/scmi/") && $0.rule != "resource-used-by-host" }, "\(findings.map(\.message))")
        #expect(!findings.contains { $0.severity == "error" })
        let tables = try board.tables()
        let clocks = jsonObjects(tables["clocks"])
        #expect(!clocks.isEmpty)
        for clock in clocks {
            let firmware = try #require(clock["firmware"] as? [String: Any])
            #expect(firmware["platform"] as? String == "/firmware/scmi" && firmware["protocol"] as? Int == 0x14)
            #expect(firmware["id"] as? Int == (clock["specifier"] as? [Int])?.first)
            #expect(clock["rates_source"] as? String == "firmware" && clock["host"] as? String == "model")
        }
        for domain in jsonObjects(tables["power_domains"]) {
            #expect((domain["firmware"] as? [String: Any])?["id"] as? Int == 9)
        }

        // Before: the platform node not recognised, its clocks are undescribed again.
        let unrecognised = try RealBoard(
            name, backend: backend, editing: { $0.replacingOccurrences(of: "compatible = \"\(compatible)\";", with: "compatible = \"acme,not-scmi\";") })
        defer { unrecognised.cleanup() }
        #expect(try unrecognised.check().contains { $0.rule == "clock-rate-undescribed" && $0.path == "/firmware/scmi/protocol@14" })
        #expect(jsonObjects(try unrecognised.tables()["clocks"]).allSatisfy { $0["firmware"] is NSNull && $0["rates_source"] as? String == "undescribed" })
    }
}
