import Foundation
import SCMIClient
import Testing

/// A mediator in front of a firmware, as the README's worked example runs it: two
/// `scmi-dt serve` processes, examples/mediator/firmware.dts playing the SCMI firmware and
/// examples/mediator/board.dts in front of it with `--upstream vhost-user:`, driven by the
/// real frontend and client. The firmware's `status` proves what reached it.
@Suite(.serialized) struct MediatorCLITests {
    /// The firmware, and the mediator connected to its agent "mediator".
    static func start() throws -> (firmware: RunningServe, mediator: RunningServe) {
        let scratch = try TemporaryDirectory("scmi-dt-mediator")
        defer { scratch.cleanup() }
        let firmware = try RunningServe(blob: scratch.write("firmware.dtb", compileDTS(file: examplePath("mediator/firmware.dts"))))
        let mediator = try RunningServe(
            blob: scratch.write("board.dtb", compileDTS(file: examplePath("mediator/board.dts"))),
            extraArguments: ["--upstream", "vhost-user:" + firmware.socket("mediator")])
        return (firmware, mediator)
    }

    static func requests(_ resource: [String: Any]) -> [[String: Any]] { resource["requests"] as? [[String: Any]] ?? [] }

    /// Every clock of `serve`'s status as "id rate enabled".
    static func clockStates(_ serve: RunningServe) throws -> [String] {
        let clocks = (try serve.status()["platform"] as? [String: Any])?["clocks"] as? [[String: Any]] ?? []
        return clocks.map { "\($0["id"] ?? "?") \($0["rate_hz"] ?? "?") \($0["enabled"] ?? "?")" }
    }

    @Test func guestsSeeTheFirmwaresRates() throws {
        let (firmware, mediator) = try Self.start()
        defer { mediator.stop(); firmware.stop() }
        // The board states no rate of gpu-core (the mediator's clock 0, the firmware's 2).
        let ivi = try mediator.connect("vm-ivi")
        defer { ivi.leave() }
        #expect(try ivi.client.describeRates(0) == .discrete([200_000_000, 400_000_000, 600_000_000, 800_000_000]))
        #expect(try ivi.client.rateGet(0) == 200_000_000)
        // The model clock keeps the board's own range.
        #expect(try ivi.client.describeRates(1) == .range(min: 11_289_600, max: 49_152_000, step: 1))
    }

    @Test func arbitratedChangesReachTheFirmwareOnceWithItsIDs() throws {
        let (firmware, mediator) = try Self.start()
        defer { mediator.stop(); firmware.stop() }
        let ivi = try mediator.connect("vm-ivi")
        try ivi.client.enable(clock: 0)
        try ivi.client.rateSet(0, rate: 600_000_000)
        let cluster = try mediator.connect("vm-cluster")
        try cluster.client.rateSet(0, rate: 400_000_000)

        let mediated = try mediator.clock(0)
        #expect(mediated["rate_hz"] as? Int == 600_000_000)
        #expect(Self.requests(mediated).count == 2)
        // At the firmware: its clock 2, the arbitrated state, one agent asking.
        let upstream = try firmware.clock(2)
        #expect(upstream["rate_hz"] as? Int == 600_000_000)
        #expect(upstream["enabled"] as? Bool == true)
        #expect(Self.requests(upstream).map { $0["agent_name"] as? String } == ["mediator"])
        #expect(Self.requests(try firmware.clock(0)).isEmpty, "the mediator's clock 0 is not the firmware's clock 0")

        // A model clock's change stays in the mediator.
        let before = try Self.clockStates(firmware)
        try ivi.client.rateSet(1, rate: 24_576_000)
        #expect(try mediator.clock(1)["rate_hz"] as? Int == 24_576_000)
        #expect(try Self.clockStates(firmware) == before)

        // vm-ivi leaves: vm-cluster's 400 MHz is what the firmware runs, and nobody enables it.
        ivi.leave()
        #expect(try eventually { try firmware.clock(2)["rate_hz"] as? Int == 400_000_000 })
        #expect(try firmware.clock(2)["enabled"] as? Bool == false)
        cluster.leave()
    }

    @Test func anOrderlyStopReleasesEverythingAtTheFirmware() throws {
        let (firmware, mediator) = try Self.start()
        defer { firmware.stop() }
        let ivi = try mediator.connect("vm-ivi")
        try ivi.client.enable(clock: 0)
        try ivi.client.rateSet(0, rate: 800_000_000)
        #expect(try firmware.clock(2)["enabled"] as? Bool == true)
        #expect(mediator.stop() == 0)
        let released = try firmware.clock(2)
        #expect(released["enabled"] as? Bool == false)
        #expect(Self.requests(released).isEmpty)
        ivi.leave()
    }
}
