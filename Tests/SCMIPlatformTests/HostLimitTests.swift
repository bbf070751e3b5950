import ResourceTables
import SCMIPlatform
import Testing

/// What serve does to protect the host (docs/serve.md §4, "Host limits"): an
/// always-on rail is never switched off, coupled rails stay within their spread,
/// whatever two guests ask and whenever one of them leaves.
@Suite struct HostLimitTests {
    // A GPU's core and memory rails coupled within 25 mV (step 12.5 mV) and an
    // always-on 3.3 V rail. vm-a and vm-b both hold every rail.
    static let spread: Int32 = 25_000
    static let domains: [VoltageDomainEntry] = [
        VoltageDomainEntry(
            id: 0, name: "vdd-gpu", regulatorPath: "/pmic/buck1", levels: .range(min: 550_000, max: 950_000, step: 12_500),
            initialLevel: 550_000, initiallyOn: true, couplings: [VoltageCoupling(partner: 1, maxSpread: spread)]),
        VoltageDomainEntry(
            id: 1, name: "vdd-gpu-mem", regulatorPath: "/pmic/buck5", levels: .range(min: 675_000, max: 950_000, step: 12_500),
            initialLevel: 675_000, initiallyOn: true, couplings: [VoltageCoupling(partner: 0, maxSpread: spread)]),
        VoltageDomainEntry(
            id: 2, name: "vcc-3v3", regulatorPath: "/pmic/buck4", levels: .discrete([3_300_000]), initialLevel: 3_300_000,
            initiallyOn: true, alwaysOn: true),
    ]
    static let tables = twoAgents(sharing: domains)

    static func twoAgents(sharing domains: [VoltageDomainEntry]) -> PlatformTables {
        PlatformTables(
            protocols: [.voltage], voltageDomains: domains,
            devices: [
                DeviceEntry(
                    id: 1, name: "gpu", path: "/firmware/scmi-vio-backend/devices/device@1",
                    resources: domains.map { ResourceReference(.voltage, $0.id) })
            ],
            agents: [
                AgentEntry(id: 1, name: "vm-a", devices: [1], protocols: [.voltage], trusted: false),
                AgentEntry(id: 2, name: "vm-b", devices: [1], protocols: [.voltage], trusted: false),
            ])
    }

    func setLevel(_ session: AgentSession, _ domain: UInt32, _ level: Int32) -> SCMIStatus {
        session.send(P.voltage, 0x7, [domain, 0, UInt32(bitPattern: level)]).status
    }

    func level(_ session: AgentSession, _ domain: UInt32) -> Int32 {
        Int32(bitPattern: session.send(P.voltage, 0x8, [domain]).word(0))
    }

    @Test func alwaysOnRailIsNeverSwitchedOff() {
        let (platform, log) = makeBoard(Self.tables)
        let a = session(platform, 1), b = session(platform, 2)
        #expect(a.send(P.voltage, 0x5, [2, 0]).status == .success)  // off
        #expect(b.send(P.voltage, 0x5, [2, 7]).status == .success)  // on
        #expect(b.send(P.voltage, 0x5, [2, 0]).status == .success)  // off
        #expect(a.send(P.voltage, 0x6, [2]).word(0) == 0 && b.send(P.voltage, 0x6, [2]).word(0) == 0, "each reads back its own request")
        #expect(log.all.isEmpty, "never physically off: \(log.all)")
        #expect(platform.snapshot().resources(of: .voltage)[2].on == true)
        b.end()
        a.end()
        #expect(log.all.isEmpty)
        #expect(platform.snapshot().resources(of: .voltage)[2].on == true)
        // A rail that is not always-on does go off when everyone asks.
        let c = session(platform, 1)
        #expect(c.send(P.voltage, 0x5, [0, 0]).status == .success)
        #expect(log.all == [.voltageOff(domain: 0, agent: 1, cause: .request)])
    }

    @Test func initialLevelsAreSettledWithinTheSpread() {
        let (platform, _) = makeBoard(Self.tables)
        let a = session(platform, 1)
        // vdd-gpu's table says 550 mV, 125 mV below its partner: it starts at 650 mV (675 − 25).
        #expect(level(a, 0) == 650_000)
        #expect(level(a, 1) == 675_000)
    }

    @Test func aRequestThatWouldDriftApartIsOutOfRange() {
        let (platform, log) = makeBoard(Self.tables)
        let a = session(platform, 1)
        #expect(setLevel(a, 0, 900_000) == .outOfRange)
        #expect(setLevel(a, 1, 950_000) == .outOfRange)
        #expect(log.all.isEmpty && level(a, 0) == 650_000, "nothing recorded")
        #expect(platform.snapshot().resources(of: .voltage)[0].requests.isEmpty)
        // Step by step, each within 25 mV of the other: accepted.
        #expect(setLevel(a, 0, 700_000) == .success)
        #expect(setLevel(a, 1, 725_000) == .success)
        #expect(setLevel(a, 0, 750_000) == .success)
        #expect(level(a, 0) == 750_000 && level(a, 1) == 725_000)
        // Asking the memory rail down below the core's reach: recorded, but the rail is
        // held within 25 mV of the core rail.
        #expect(setLevel(a, 1, 675_000) == .success)
        #expect(level(a, 1) == 725_000)
        #expect(log.all == [
            .voltageLevel(domain: 0, from: 650_000, to: 700_000, agent: 1, cause: .request),
            .voltageLevel(domain: 1, from: 675_000, to: 725_000, agent: 1, cause: .request),
            .voltageLevel(domain: 0, from: 700_000, to: 750_000, agent: 1, cause: .request),
        ])
    }

    /// A low request hidden by another agent's higher one changes nothing physical: accepted.
    @Test func theResultNotTheRequestIsJudged() {
        let (platform, _) = makeBoard(Self.tables)
        let a = session(platform, 1), b = session(platform, 2)
        #expect(setLevel(a, 0, 700_000) == .success)
        #expect(setLevel(b, 0, 550_000) == .success)
        #expect(level(b, 0) == 700_000)
    }

    @Test func withdrawalKeepsTheSpreadAndRailsFollowDown() {
        let (platform, log) = makeBoard(Self.tables)
        let a = session(platform, 1), b = session(platform, 2)
        // vm-a raises the core rail, vm-b the memory rail, in turns.
        for (core, memory) in [(700_000, 725_000), (750_000, 775_000), (800_000, 825_000)] as [(Int32, Int32)] {
            #expect(setLevel(a, 0, core) == .success)
            #expect(setLevel(b, 1, memory) == .success)
        }
        log.clear()
        // vm-b leaves: the memory rail's request is gone, but the core rail is at 800 mV.
        b.end()
        #expect(level(a, 1) == 775_000)
        #expect(log.all == [.voltageLevel(domain: 1, from: 825_000, to: 775_000, agent: 2, cause: .disconnect)])
        log.clear()
        // vm-a leaves too: both back to the settled initial levels, in one move each.
        a.end()
        let c = session(platform, 1)
        #expect(level(c, 0) == 650_000 && level(c, 1) == 675_000)
        #expect(log.all == [
            .voltageLevel(domain: 0, from: 800_000, to: 650_000, agent: 1, cause: .disconnect),
            .voltageLevel(domain: 1, from: 775_000, to: 675_000, agent: 1, cause: .disconnect),
        ])
    }

    /// Three rails in a chain (A–B, B–C, 25 mV each): a rail held up only by its
    /// partner follows it down, and passes that on.
    @Test func aChainFollowsDownLinkByLink() {
        func rail(_ id: UInt32, _ partners: [UInt32]) -> VoltageDomainEntry {
            VoltageDomainEntry(
                id: id, name: "rail-\(id)", regulatorPath: "/pmic/buck\(id)", levels: .range(min: 600_000, max: 950_000, step: 12_500),
                initialLevel: 600_000, initiallyOn: true, couplings: partners.map { VoltageCoupling(partner: $0, maxSpread: 25_000) })
        }
        let (platform, log) = makeBoard(Self.twoAgents(sharing: [rail(0, [1]), rail(1, [0, 2]), rail(2, [1])]))
        let x = session(platform, 1), y = session(platform, 2)
        // A rail can only move within 25 mV of both neighbours: y raises B and C, x raises A.
        for (rail, level, who) in [(1, 625_000, y), (2, 650_000, y), (0, 650_000, x), (1, 675_000, y), (2, 700_000, y), (0, 700_000, x), (1, 725_000, y)]
            as [(UInt32, Int32, AgentSession)]
        {
            #expect(setLevel(who, rail, level) == .success, "rail \(rail) to \(level)")
        }
        #expect(setLevel(y, 2, 775_000) == .outOfRange, "50 mV above B")
        log.clear()
        y.end()
        // B is held within 25 mV of A (700 mV), C within 25 mV of B.
        #expect(level(x, 1) == 675_000 && level(x, 2) == 650_000)
        #expect(log.all == [
            .voltageLevel(domain: 1, from: 725_000, to: 675_000, agent: 2, cause: .disconnect),
            .voltageLevel(domain: 2, from: 700_000, to: 650_000, agent: 2, cause: .disconnect),
        ])
        x.end()
        #expect((0 ... 2).allSatisfy { level(session(platform, 1), UInt32($0)) == 600_000 })
    }

    /// Through the host seam: the rail's own move goes first; refused, nothing moves and
    /// the request is put back. A partner that follows cannot refuse (like a withdrawal).
    @Test func aCoupledMoveGoesToTheHostRailFirst() {
        func lowerThePair(refusing resource: UInt32) -> (RefusingHost, SCMIPlatform, ChangeLog, AgentSession) {
            let host = RefusingHost(.voltage, resource: resource)
            host.refusing.withLock { $0 = false }
            let log = ChangeLog()
            let platform = SCMIPlatform(tables: Self.tables, host: host) { log.record($0) }
            let a = session(platform, 1)
            // The core rail up to 750 mV; the memory rail asked down, held at 725 mV by it.
            for (domain, level) in [(0, 700_000), (1, 725_000), (0, 750_000), (1, 675_000)] as [(UInt32, Int32)] {
                #expect(setLevel(a, domain, level) == .success)
            }
            log.clear()
            host.refusing.withLock { $0 = true }
            return (host, platform, log, a)
        }
        let (refusingCore, _, coreLog, a) = lowerThePair(refusing: 0)
        let before = refusingCore.applied.count
        #expect(setLevel(a, 0, 650_000) == .hardwareError)
        #expect(Array(refusingCore.applied.dropFirst(before)) == [.voltageLevel(domain: 0, from: 750_000, to: 650_000, agent: 1, cause: .request)])
        #expect(level(a, 0) == 750_000 && level(a, 1) == 725_000)
        #expect(coreLog.all.isEmpty)

        let (_, _, memoryLog, b) = lowerThePair(refusing: 1)
        #expect(setLevel(b, 0, 650_000) == .success)
        #expect(memoryLog.all == [
            .voltageLevel(domain: 0, from: 750_000, to: 650_000, agent: 1, cause: .request),
            .voltageLevel(domain: 1, from: 725_000, to: 675_000, agent: 1, cause: .request),
        ])
        #expect(level(b, 1) == 675_000)
    }
}
