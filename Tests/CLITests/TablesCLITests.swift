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
        #expect(Set(clocks[0].keys) == ["id", "name", "provider", "specifier", "rates", "initial_rate", "rates_source"])
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
}
