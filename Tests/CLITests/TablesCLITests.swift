import Foundation
import Testing

/// `scmi-dt tables`: aligned text and stable JSON of the resolved tables.
@Suite struct TablesCLITests {
    @Test func textTables() throws {
        let result = try scmiDT("tables", examplePath("board.dts"))
        #expect(result.status == 0, "\(result.output)")
        let text = result.stdout
        for heading in ["protocols", "clocks (protocol 0x14)", "voltage domains (protocol 0x17)", "power domains (protocol 0x11)",
            "sensors (protocol 0x15)", "reset domains (protocol 0x16)", "devices", "agents"]
        {
            #expect(text.contains("\n" + heading + "\n"), "missing section \(heading)")
        }
        let lines = text.split(separator: "\n").map(String.init)
        // Columns line up: every row of the clock table starts its NAME column where the header does.
        let header = try #require(lines.first { $0.hasPrefix("  ID  NAME            RATES") })
        let nameColumn = try #require(header.range(of: "NAME")).lowerBound.utf16Offset(in: header)
        let osc = try #require(lines.first { $0.contains("osc24m") && $0.contains("/clock-24000000") })
        #expect(osc.hasPrefix("  1   osc24m"))
        #expect(osc.range(of: "osc24m")!.lowerBound.utf16Offset(in: osc) == nameColumn)
        #expect(osc.contains("24 MHz"))
        #expect(lines.contains { $0.contains("ccu-usb-core") && $0.contains("1 MHz .. 1 GHz step 1 MHz") && $0.contains("125 MHz") })
        #expect(lines.contains { $0.hasPrefix("  1   vdd-gpu") && $0.contains("600 mV .. 1100 mV step 12500 µV") })
        #expect(lines.contains { $0.hasPrefix("  1   usb0") && $0.contains("clock 0 1, voltage 0") })
        #expect(lines.contains { $0.hasPrefix("  3   vm-admin") && $0.contains("yes") })
    }

    @Test func jsonTables() throws {
        let result = try scmiDT("tables", "--format", "json", examplePath("board.dts"))
        #expect(result.status == 0, "\(result.output)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(root.keys) == [
            "backend", "protocols", "clocks", "voltage_domains", "power_domains", "performance_domains", "sensors", "reset_domains",
            "devices", "agents", "agents_implicit",
        ])
        let backend = try #require(root["backend"] as? [String: Any])
        #expect(backend["vendor"] as? String == "ACME")
        #expect(backend["implementation_version"] as? Int == 0x10200)
        let protocols = try #require(root["protocols"] as? [[String: Any]])
        #expect(protocols.map { $0["id"] as? Int } == [0x11, 0x13, 0x14, 0x15, 0x16, 0x17])
        let clocks = try #require(root["clocks"] as? [[String: Any]])
        #expect(clocks.count == 7)
        #expect(Set(clocks[0].keys) == ["id", "name", "provider", "specifier", "rates", "initial_rate", "rates_source", "host", "firmware"])
        #expect(clocks[0]["specifier"] as? [Int] == [1])
        #expect((clocks[0]["rates"] as? [String: Int])?["step"] == 1_000_000)
        #expect((clocks[1]["rates"] as? [String: [Int]])?["discrete"] == [24_000_000])
        let voltages = try #require(root["voltage_domains"] as? [[String: Any]])
        #expect(voltages.map { $0["name"] as? String } == ["vcc-1v8", "vdd-gpu", "vdd-dsp", "vddio-sd", "vcc-3v3"])
        let devices = try #require(root["devices"] as? [[String: Any]])
        let usb = try #require(devices.first { $0["name"] as? String == "usb0" })
        #expect((usb["resources"] as? [[String: Int]])?.map { [$0["protocol"]!, $0["id"]!] } == [[0x14, 0], [0x14, 1], [0x17, 0]])
        let agents = try #require(root["agents"] as? [[String: Any]])
        #expect(agents.map { $0["name"] as? String } == ["vm-ivi", "vm-cluster", "vm-admin"])
        #expect(agents[1]["protocols"] as? [Int] == [0x11, 0x14, 0x15, 0x16, 0x17])
        #expect(root["agents_implicit"] as? Bool == false)
        // Stable: the same input gives the same bytes.
        #expect(try scmiDT("tables", "--format", "json", examplePath("board.dts")).stdout == result.stdout)
    }

    @Test func errorsInsteadOfTables() throws {
        let result = try scmiDT("tables", examplePath("bad/table-id-gap.dts"))
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("error[table-id-gap]"))
        let unusable = try scmiDT("tables", "/nonexistent.dtb")
        #expect(unusable.status == 2)
        #expect(unusable.stderr.contains("error[blob-unusable]"))
    }

    /// The HOST column (docs/serve.md, "Host bindings"): `model` unless `--host-hook` is
    /// given; a firmware resource also says where the firmware has it.
    @Test func hostColumnInText() throws {
        let plain = try scmiDT("tables", examplePath("firmware-board.dts"))
        #expect(plain.status == 0, "\(plain.output)")
        let lines = plain.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("  ID  NAME") && $0.hasSuffix("HOST") })
        #expect(lines.contains { $0.hasPrefix("  0   gpu-core") && $0.hasSuffix("model, firmware 0x14:12 /firmware/scmi") })
        #expect(lines.contains { $0.hasPrefix("  0   vdd-gpu") && $0.hasSuffix("model, firmware 0x17:2 /firmware/scmi") })
        #expect(lines.contains { $0.hasPrefix("  1   vddio-gpu") && $0.hasSuffix("  model") })
        #expect(lines.contains { $0.hasPrefix("  0 ") && $0.contains("/firmware/scmi/protocol@16 <0x2>") && $0.hasSuffix("model, firmware 0x16:2 /firmware/scmi") })

        // The hook is not run: a program that does not exist still only decides the column.
        let hooked = try scmiDT("tables", "--host-hook", "/nonexistent/hook", examplePath("firmware-board.dts"))
        #expect(hooked.status == 0, "\(hooked.output)")
        let hookedLines = hooked.stdout.split(separator: "\n").map(String.init)
        #expect(hookedLines.contains { $0.hasPrefix("  0   gpu-core") && $0.hasSuffix("hook, firmware 0x14:12 /firmware/scmi") })
        #expect(hookedLines.contains { $0.hasPrefix("  1   vddio-gpu") && $0.hasSuffix("  hook") })
        #expect(!hooked.stdout.contains("model"))
    }

    @Test func hostInJSON() throws {
        func entries(_ arguments: String...) throws -> [String: [[String: Any]]] {
            let result = try scmiDT(arguments: ["tables", "--format", "json"] + arguments + [examplePath("firmware-board.dts")])
            #expect(result.status == 0, "\(result.output)")
            let root = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            return root.compactMapValues { $0 as? [[String: Any]] }
        }
        let plain = try entries()
        let clock = try #require(plain["clocks"]?.first)
        #expect(clock["host"] as? String == "model")
        let firmware = try #require(clock["firmware"] as? [String: Any])
        #expect(firmware["platform"] as? String == "/firmware/scmi" && firmware["protocol"] as? Int == 0x14 && firmware["id"] as? Int == 12)
        let rails = try #require(plain["voltage_domains"])
        #expect(rails.map { $0["host"] as? String } == ["model", "model"])
        #expect((rails[0]["firmware"] as? [String: Any])?["id"] as? Int == 2)
        #expect(rails[1]["firmware"] is NSNull)
        let hooked = try entries("--host-hook", "/usr/local/lib/board/scmi-hook")
        for table in ["clocks", "voltage_domains", "power_domains", "reset_domains"] {
            let hosts = hooked[table]?.map { $0["host"] as? String } ?? []
            #expect(!hosts.isEmpty && hosts.allSatisfy { $0 == "hook" }, "\(table)")
        }
    }
}
