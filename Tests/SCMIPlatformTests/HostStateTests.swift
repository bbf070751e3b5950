import ResourceTables
import SCMIPlatform
import Testing

/// Several platforms attached to one HostState (serve's models before and after a
/// reload): a host resource is found by its host key, not its SCMI id, and arbitrated
/// once over the agents of every model (docs/serve-choices.md, "One owner of host state
/// across SIGHUP").
@Suite struct HostStateTests {
    /// Board.tables with its clocks in reverse order: clock 0 of the board
    /// (/soc/cru <12>, "usb-core") is clock 3 here, and clock 3 ("big-range") is gone
    /// when `dropBigRange`.
    static func reordered(dropBigRange: Bool = false) -> PlatformTables {
        var tables = Board.tables
        var clocks = Array(Board.clocks.reversed())
        if dropBigRange { clocks.removeFirst() }
        tables.clocks = clocks.enumerated().map { index, clock in
            var clock = clock
            clock.id = UInt32(index)
            return clock
        }
        let newID = { (old: UInt32) -> UInt32 in UInt32(clocks.firstIndex { $0.name == Board.clocks[Int(old)].name } ?? 99) }
        tables.devices = Board.devices.map { device in
            var device = device
            device.resources = device.resources.compactMap { reference in
                guard reference.protocolID == .clock else { return reference }
                let id = newID(reference.id)
                return id == 99 ? nil : ResourceReference(.clock, id)
            }
            return device
        }
        return tables
    }

    func setRate(_ session: AgentSession, _ clock: UInt32, _ rate: UInt64) -> SCMIStatus {
        session.send(P.clock, 0x5, [0, clock, UInt32(truncatingIfNeeded: rate), UInt32(truncatingIfNeeded: rate >> 32)]).status
    }

    func rate(_ session: AgentSession, _ clock: UInt32) -> UInt64 {
        session.send(P.clock, 0x6, [clock]).uint64(0)
    }

    @Test func theSameHostClockUnderAnotherIdIsOneClock() {
        let host = RefusingHost(.clock, resource: 99)
        let owner = HostState(host: host)
        let old = SCMIPlatform(tables: Board.tables, owner: owner)
        let new = SCMIPlatform(tables: Self.reordered(), owner: owner)
        let oldIVI = session(old, Board.ivi), newCluster = session(new, Board.cluster)
        #expect(setRate(oldIVI, 0, 48_000_000) == .success)
        #expect(rate(newCluster, 3) == 48_000_000)
        #expect(setRate(newCluster, 3, 96_000_000) == .success)
        #expect(rate(oldIVI, 0) == 96_000_000)
        // Enable: on while anyone of either model wants it on.
        #expect(oldIVI.send(P.clock, 0x7, [0, 1, 0]).status == .success)
        #expect(newCluster.send(P.clock, 0x7, [3, 0, 0]).status == .success)
        #expect(new.snapshot().resources(of: .clock)[3].on == true)
        // Each model's status lists both agents on its own row for the clock.
        #expect(new.snapshot().resources(of: .clock)[3].requests.map(\.agentID) == [1, 2])
        #expect(old.snapshot().resources(of: .clock)[0].requests.map(\.value) == [48_000_000, 96_000_000])
        // The host saw one stream, each change once, in each model's own ids.
        #expect(host.applied == [
            PhysicalChange(.clock, resource: 0, .value(from: 24_000_000, to: 48_000_000), agent: 1, cause: .request),
            PhysicalChange(.clock, resource: 3, .value(from: 48_000_000, to: 96_000_000), agent: 2, cause: .request),
            PhysicalChange(.clock, resource: 0, .switched(on: true), agent: 1, cause: .request),
        ])
        newCluster.end()
        #expect(rate(oldIVI, 0) == 48_000_000)
        oldIVI.end()
        #expect(new.snapshot().resources(of: .clock)[3].on == false)
        #expect(host.applied.count == 6)
    }

    /// A host resource only an old model serves leaves the owner with it; a model
    /// dropped while its agents still hold requests gives them up, and the host is told.
    @Test func aResourceLeavesWithTheLastModelHoldingIt() {
        let host = RefusingHost(.clock, resource: 99)
        let owner = HostState(host: host)
        var old: SCMIPlatform? = SCMIPlatform(tables: Board.tables, owner: owner)
        let new = SCMIPlatform(tables: Self.reordered(dropBigRange: true), owner: owner)
        #expect(owner.resources.count(where: { $0.protocolID == .clock }) == 4)
        var admin: AgentSession? = session(old!, Board.admin)
        // vm-admin is trusted: it gives itself the DSP device, which holds big-range (clock 3).
        #expect(admin!.send(P.base, 0x9, [Board.admin, 3, 1]).status == .success)
        #expect(setRate(admin!, 3, 7_000_001) == .success)
        #expect(new.snapshot().resources(of: .clock).count == 3)
        admin = nil
        old = nil
        #expect(owner.resources.count(where: { $0.protocolID == .clock }) == 3)
        #expect(!owner.resources.contains { $0.key == "/soc/pll" })
        #expect(host.applied.last == PhysicalChange(.clock, resource: 3, .value(from: 7_000_001, to: 1), agent: 0, cause: .disconnect))
    }
}
