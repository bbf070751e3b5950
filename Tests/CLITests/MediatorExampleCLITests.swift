import Foundation
import Testing

/// examples/mediator: a firmware board served by one `scmi-dt serve` and the board of a
/// mediator `serve` in front of it (README, "Reaching the host"). The two files are only
/// useful together: the ids the board writes in its host SCMI platform node's specifiers
/// must be resources the firmware has, under the same names, that the firmware lets its
/// "mediator" agent use.
@Suite struct MediatorExampleCLITests {
    /// Table key in `tables --format json` → SCMI protocol id.
    static let tables: [(key: String, protocol: Int)] = [
        ("power_domains", 0x11), ("performance_domains", 0x13), ("clocks", 0x14), ("sensors", 0x15),
        ("reset_domains", 0x16), ("voltage_domains", 0x17),
    ]

    func tables(_ file: String) throws -> [String: Any] {
        let result = try scmiDT("tables", "--format", "json", examplePath(file))
        #expect(result.status == 0, "\(result.output)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    @Test func bothCheckCleanWithWerror() throws {
        for file in ["mediator/firmware.dts", "mediator/board.dts"] {
            let result = try scmiDT("check", "--werror", examplePath(file))
            #expect(result.status == 0, "\(file): \(result.output)")
            #expect(result.stdout == "0 errors, 0 warnings\n", "\(file)")
        }
    }

    @Test func boardNamesResourcesTheFirmwareGivesTheMediator() throws {
        let board = try tables("mediator/board.dts")
        let firmware = try tables("mediator/firmware.dts")
        // Which (protocol, id) the firmware's "mediator" agent may use: those of its devices.
        let agents = try #require(firmware["agents"] as? [[String: Any]])
        let mediator = try #require(agents.first { $0["name"] as? String == "mediator" })
        let mediatorDevices = Set(try #require(mediator["devices"] as? [Int]))
        var usable = Set<[Int]>()
        for device in try #require(firmware["devices"] as? [[String: Any]]) where mediatorDevices.contains(device["id"] as? Int ?? -1) {
            for resource in device["resources"] as? [[String: Any]] ?? [] {
                usable.insert([resource["protocol"] as? Int ?? -1, resource["id"] as? Int ?? -1])
            }
        }
        var firmwareResources = 0
        var modelResources = 0
        for (key, protocolID) in Self.tables {
            let firmwareEntries = firmware[key] as? [[String: Any]] ?? []
            for entry in board[key] as? [[String: Any]] ?? [] {
                let name = entry["name"] as? String ?? "?"
                guard let place = entry["firmware"] as? [String: Any] else {
                    modelResources += 1
                    continue
                }
                firmwareResources += 1
                #expect(place["platform"] as? String == "/firmware/scmi", "\(key) \(name)")
                #expect(place["protocol"] as? Int == protocolID, "\(key) \(name)")
                let id = place["id"] as? Int ?? -1
                let served = firmwareEntries.first { $0["id"] as? Int == id }
                #expect(served?["name"] as? String == name, "\(key) \(name): the firmware's id \(id) is \(served?["name"] ?? "missing")")
                #expect(usable.contains([protocolID, id]), "\(key) \(name): the firmware's agent mediator may not use id \(id)")
            }
        }
        // Every protocol reaches the firmware, and the board keeps resources of its own.
        #expect(firmwareResources == 11)
        #expect(modelResources == 2)
    }

    /// The mediator's guests see ids of the mediator's own, not the firmware's: otherwise a
    /// change arriving at the firmware would not show that the mediator translated it.
    @Test func mediatorIDsDifferFromFirmwareIDs() throws {
        let board = try tables("mediator/board.dts")
        let clocks = try #require(board["clocks"] as? [[String: Any]])
        let translated = clocks.filter { entry in
            guard let firmwareID = (entry["firmware"] as? [String: Any])?["id"] as? Int else { return false }
            return firmwareID != entry["id"] as? Int
        }
        #expect(translated.count >= 2, "\(clocks.map { ($0["name"] ?? "?", $0["id"] ?? "?") })")
    }
}
