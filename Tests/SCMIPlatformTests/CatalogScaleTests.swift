import ResourceTables
import SCMIPlatform
import Testing

/// A board the size of the large generated ones (20,000 devices, 64 agents) with device ids
/// that are not their positions, built the way serve builds its platform at start-up. The
/// catalog finds devices by id through one hash table (start-up used to search the device
/// list once per agent grant: quadratic, 18 s at 20,000 devices); these tests pin down that
/// every grant, and every holder of a widely shared clock, still lands on the right device.
@Suite struct CatalogScaleTests {
    static let deviceCount = 20_000
    static let agentCount = 64

    /// Device i has SCMI id 7·i + 3 and uses its own clock 1 + i % 1000 and the shared
    /// clock 0 (listed twice, as a device with two consumers of one clock would).
    static let tables: PlatformTables = {
        let clocks = (0...1000).map { index in
            ClockEntry(id: UInt32(index), name: "clk\(index)", providerPath: "/cru", specifier: [UInt32(index)],
                       rates: .discrete([24_000_000, 48_000_000]), initialRate: 24_000_000)
        }
        var devices: [DeviceEntry] = []
        for index in 0..<deviceCount {
            let own = UInt32(1 + index % 1000)
            let resources = [ResourceReference(.clock, 0), ResourceReference(.clock, own), ResourceReference(.clock, 0)]
            devices.append(DeviceEntry(id: UInt32(7 * index + 3), name: "dev\(index)", path: "/devices/device@\(index)", resources: resources))
        }
        // Agent a (1-based) is granted every device whose index ≡ a (mod 64), except agent 64, which has none.
        var agents: [AgentEntry] = []
        for agent in 1...agentCount {
            var granted: [UInt32] = []
            if agent != agentCount {
                for index in stride(from: agent, to: deviceCount, by: agentCount) { granted.append(UInt32(7 * index + 3)) }
            }
            agents.append(AgentEntry(id: UInt32(agent), name: "vm\(agent)", devices: granted, protocols: [.clock], trusted: agent == agentCount))
        }
        return PlatformTables(vendor: "ACME", subVendor: "scale", implementationVersion: 1, protocols: [.clock],
                              clocks: clocks, voltageDomains: [], devices: devices, agents: agents)
    }()

    @Test func grantsFindTheirDevicesBySparseID() {
        let platform = SCMIPlatform(tables: Self.tables)
        // Agent 5 holds device 5 + 64k: clock 1 + (5 + 64k) % 1000 is its own; clock 1 + 4 is not.
        let five = session(platform, 5)
        #expect(five.send(P.clock, 0x6, [UInt32(1 + 5)]).status == .success)
        #expect(five.send(P.clock, 0x6, [UInt32(1 + (5 + 64 * 300) % 1000)]).status == .success)
        #expect(five.send(P.clock, 0x6, [UInt32(1 + 4)]).status == .denied)
        // Everyone but the device-less agent holds a device with the shared clock.
        #expect(five.send(P.clock, 0x6, [0]).status == .success)
        let admin = session(platform, UInt32(Self.agentCount))
        #expect(admin.send(P.clock, 0x6, [0]).status == .denied)
    }

    @Test func trustedAgentGrantsTheLastDeviceByItsID() {
        let platform = SCMIPlatform(tables: Self.tables)
        let admin = session(platform, UInt32(Self.agentCount))
        let last = Self.deviceCount - 1
        let lastID = UInt32(7 * last + 3)
        #expect(admin.send(P.base, 0x9, [UInt32(Self.agentCount), lastID, 1]).status == .success)
        #expect(admin.send(P.clock, 0x6, [UInt32(1 + last % 1000)]).status == .success)
        // An id between two devices' ids is no device.
        #expect(admin.send(P.base, 0x9, [UInt32(Self.agentCount), lastID - 1, 1]).status == .notFound)
    }

    @Test func sharedClockArbitratesAcrossAllItsHolders() {
        let platform = SCMIPlatform(tables: Self.tables)
        let one = session(platform, 1)
        let sixty = session(platform, 60)
        #expect(one.send(P.clock, 0x5, [0, 0, 48_000_000, 0]).status == .success)
        #expect(sixty.send(P.clock, 0x6, [0]).word(0) == 48_000_000)
        one.end()
        #expect(sixty.send(P.clock, 0x6, [0]).word(0) == 24_000_000)
    }
    /// Every agent with a device asks for the shared clock (on, and a rate: one of them
    /// the higher), then they let go in an order that is neither the one they asked in
    /// nor its reverse. Requests are kept per resource only where held: each agent still
    /// reads back its own, status lists exactly those held, and the clock runs at the
    /// highest rate held until the last agent lets go.
    @Test func sharedClockFollowsEveryHolderLettingGoInAnyOrder() {
        let platform = SCMIPlatform(tables: Self.tables)
        let count = Self.agentCount - 1
        let agents = (1...count).map { session(platform, UInt32($0)) }
        let fast = 40  // the agent (index) that asks for 48 MHz
        for (index, agent) in agents.enumerated() {
            #expect(agent.send(P.clock, 0x7, [0, 1, 0]).status == .success)
            #expect(agent.send(P.clock, 0x5, [0, 0, index == fast ? 48_000_000 : 24_000_000, 0]).status == .success)
        }
        #expect(platform.snapshot().resources(of: .clock)[0].requests.count == count)
        var held = Set(0..<count)
        for step in 0..<count {
            let index = (10 * step + 3) % count  // 10 and 63 are coprime: each agent once
            agents[index].end()
            held.remove(index)
            let rate: UInt32 = held.contains(fast) ? 48_000_000 : 24_000_000
            if let reader = held.first { #expect(agents[reader].send(P.clock, 0x6, [0]).word(0) == rate) }
            // status walks the whole board: looked at a few times only.
            guard step % 20 == 0 || held.isEmpty else { continue }
            let clock = platform.snapshot().resources(of: .clock)[0]
            #expect(Set(clock.requests.map { Int($0.agentID) - 1 }) == held)
            #expect(clock.on == !held.isEmpty)
            #expect(clock.value == Int64(rate))
        }
    }
}
