import Foundation
import SCMIClient
import SCMIPlatform
import ServeRuntime
import Testing

/// One owner of host state across SIGHUP (docs/serve-choices.md): connections made
/// before and after `reload()` use different models, but a host resource both serve is
/// arbitrated once, over the agents of both, and the host sees one stream of changes.
/// Clock 2 is ccu-gpu-core (the GPU of vm-ivi, the display of vm-cluster), a 1 MHz .. 1 GHz range.
@Suite struct ReloadOwnerTests {
    static let source: String = {
        (try? String(contentsOfFile: examplePath("board.dts"), encoding: .utf8)) ?? ""
    }()

    /// The example board with its vendor renamed, so a client can tell which model it is on.
    static func renamed(_ source: String = source) -> String {
        source.replacingOccurrences(of: "arm,scmi-vendor = \"ACME\"", with: "arm,scmi-vendor = \"ACME-B\"")
    }

    func clock2(_ serve: InProcessServe) -> ResourceSnapshot? {
        serve.server.statusReport().platform.resources(of: .clock).first { $0.id == 2 }
    }

    @Test func agentsBeforeAndAfterAReloadAreArbitratedTogether() throws {
        let host = RecordingHost()
        let serve = try InProcessServe(blob: compileDTS(source: Self.source), host: host)
        let before = try serve.connect("vm-cluster")
        defer { before.leave() }
        try before.client.enable(clock: 2)
        try before.client.rateSet(2, rate: 400_000_000)

        try serve.replaceBlob(compileDTS(source: Self.renamed()))
        #expect(serve.server.reload() == .reloaded)
        let after = try serve.connect("vm-ivi")
        defer { after.leave() }
        #expect(try after.client.vendor() == "ACME-B")
        #expect(try before.client.vendor() == "ACME")

        // The new model reads the one physical rate; its own enable is its own.
        #expect(try after.client.rateGet(2) == 400_000_000)
        #expect(try after.client.clockConfigGet(2) == false)
        // A lower request does not win, a higher one does, for both models.
        try after.client.rateSet(2, rate: 300_000_000)
        try after.client.enable(clock: 2)
        #expect(try before.client.rateGet(2) == 400_000_000)
        try after.client.rateSet(2, rate: 600_000_000)
        #expect(try before.client.rateGet(2) == 600_000_000)

        // status: one row, both agents' requests, the physical state they combine to.
        let row = try #require(clock2(serve))
        #expect(row.on == true && row.value == 600_000_000)
        #expect(row.requests.map(\.agentName) == ["vm-ivi", "vm-cluster"])
        #expect(row.requests.map(\.value) == [600_000_000, 400_000_000])
        #expect(row.requests.map(\.on) == [true, true])

        // One stream: the new model's enable changed nothing, so the host never saw it.
        #expect(host.applied == [
            PhysicalChange(.clock, resource: 2, .switched(on: true), agent: 2, cause: .request),
            PhysicalChange(.clock, resource: 2, .value(from: 1_000_000, to: 400_000_000), agent: 2, cause: .request),
            PhysicalChange(.clock, resource: 2, .value(from: 400_000_000, to: 600_000_000), agent: 1, cause: .request),
        ])

        // The old connection goes: its requests leave the one owner.
        before.leave()
        #expect(try eventually { clock2(serve)?.requests.map(\.agentName) == ["vm-ivi"] })
        try after.client.rateSet(2, rate: 300_000_000)
        #expect(try after.client.rateGet(2) == 300_000_000)  // vm-cluster's 400 MHz no longer holds it
        try after.client.disable(clock: 2)
        #expect(clock2(serve)?.on == false)
        #expect(host.applied.suffix(2) == [
            PhysicalChange(.clock, resource: 2, .value(from: 600_000_000, to: 300_000_000), agent: 1, cause: .request),
            PhysicalChange(.clock, resource: 2, .switched(on: false), agent: 1, cause: .request),
        ])
    }

    /// A reload that drops a resource: the old connection keeps it (and still shares
    /// nothing with the new model, which no longer serves it); status no longer lists it;
    /// it leaves the owner when the last model holding it goes.
    @Test func aResourceTheReloadDropsStaysWithTheOldConnections() throws {
        let serve = try InProcessServe(blob: compileDTS(source: Self.source))
        let emmc = "clock-controller@10000000 5"  // the ccu's cell 5: clock 6, ccu-emmc-core
        let before = try serve.connect("vm-ivi")
        defer { before.leave() }
        try before.client.rateSet(6, rate: 200_000_000)

        let withoutEMMCClock = Self.renamed().replacingOccurrences(of: "\t\t\tclocks = <&ccu 5>;\n", with: "")
        #expect(withoutEMMCClock != Self.renamed())
        try serve.replaceBlob(compileDTS(source: withoutEMMCClock))
        #expect(serve.server.reload() == .reloaded)

        #expect(serve.server.statusReport().platform.resources(of: .clock).map(\.id) == [0, 1, 2, 3, 4, 5])
        #expect(try before.client.rateGet(6) == 200_000_000)
        try before.client.rateSet(6, rate: 100_000_000)
        #expect(try before.client.rateGet(6) == 100_000_000)
        #expect(serve.server.hostState.resources.contains { $0.protocolID == .clock && $0.key.hasSuffix(emmc) })

        before.leave()
        #expect(try eventually { !serve.server.hostState.resources.contains { $0.protocolID == .clock && $0.key.hasSuffix(emmc) } })
        // The resources the new model serves stay.
        #expect(serve.server.hostState.resources.contains { $0.protocolID == .clock && $0.key.hasSuffix("clock-controller@10000000 2") })
    }

    /// A reload that changes a resource's facts (the ccu's range now ends at 500 MHz): each
    /// model checks requests against its own facts; the physical rate is one, and the new
    /// model reads it even where its own description does not reach.
    @Test func aResourceWhoseFactsChangedKeepsOnePhysicalState() throws {
        let serve = try InProcessServe(blob: compileDTS(source: Self.source))
        let before = try serve.connect("vm-cluster")
        defer { before.leave() }
        try before.client.rateSet(2, rate: 800_000_000)

        let narrower = Self.renamed().replacingOccurrences(
            of: "arm,scmi-rate-range = <1000000 1000000000 1000000>", with: "arm,scmi-rate-range = <1000000 500000000 1000000>")
        #expect(narrower != Self.renamed())
        try serve.replaceBlob(compileDTS(source: narrower))
        #expect(serve.server.reload() == .reloaded)
        let after = try serve.connect("vm-ivi")
        defer { after.leave() }

        #expect(try after.client.rateGet(2) == 800_000_000)
        #expect(statusOf { try after.client.rateSet(2, rate: 600_000_000) } == .outOfRange)
        try after.client.rateSet(2, rate: 300_000_000)
        #expect(try after.client.rateGet(2) == 800_000_000)
        // The old model still allows what its own facts allow.
        try before.client.rateSet(2, rate: 900_000_000)
        #expect(try after.client.rateGet(2) == 900_000_000)

        before.leave()
        #expect(try eventually { try after.client.rateGet(2) == 300_000_000 })
    }
}
