import ResourceTables
import SCMIPlatform
import Testing

/// Performance protocol 0x13 version 3.0, as scmi-cpufreq uses it.
@Suite struct PerformanceProtocolTests {
    /// Domain 0 "gpu-dvfs" (held by the GPU: vm-ivi and vm-cluster): 14 OPPs,
    /// 200 MHz … 1.5 GHz, listed out of order; domain 1 (the DSP, nobody's at
    /// start) with a long name, two OPPs and no power or latency.
    static let tables: PlatformTables = {
        var tables = Board.tables
        let opps = (2 ... 15).reversed().map { step in
            PerformanceLevel(hz: UInt64(step) * 100_000_000, microwatts: UInt32(step) * 1000, latencyNanoseconds: step == 2 ? 1 : 150_000)
        }
        tables.performanceDomains = [
            PerformanceDomainEntry(id: 0, name: "gpu-dvfs", oppTablePath: "/opp-gpu", levels: opps),
            PerformanceDomainEntry(id: 1, name: "dsp-performance-domain", oppTablePath: "/opp-dsp",
                                   levels: [PerformanceLevel(hz: 400_000_000), PerformanceLevel(hz: 800_000_000)]),
        ]
        tables.devices[1].resources.append(ResourceReference(.performance, 0))
        tables.devices[2].resources.append(ResourceReference(.performance, 1))
        tables.protocols = [.performance, .clock, .reset, .voltage]
        for index in tables.agents.indices { tables.agents[index].protocols.insert(.performance, at: 0) }
        return tables
    }()

    let board = makeBoard(Self.tables)
    var platform: SCMIPlatform { board.0 }
    var log: ChangeLog { board.1 }
    var ivi: AgentSession { session(platform, Board.ivi) }
    var cluster: AgentSession { session(platform, Board.cluster) }
    var admin: AgentSession { session(platform, Board.admin) }

    @Test func versionAttributesAndMessages() {
        #expect(ivi.send(P.perf, 0x0).word(0) == 0x30000)
        let attributes = ivi.send(P.perf, 0x1)
        #expect(attributes.valueBytes == 16)
        #expect(attributes.word(0) == 2 | 1 << 17)
        #expect(attributes.word(1) == 0 && attributes.word(2) == 0 && attributes.word(3) == 0)
        for id: UInt32 in [0, 1, 2, 3, 4, 5, 6, 7, 8, 0xC] { #expect(ivi.send(P.perf, 0x2, [id]).status == .success, "message \(id)") }
        // Without P2A the notifications are absent; fast channels never exist on virtio.
        for id: UInt32 in [0x9, 0xA, 0xB, 0xD] { #expect(ivi.send(P.perf, 0x2, [id]).status == .notFound, "message \(id)") }
        #expect(ivi.send(P.perf, 0x9, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.perf, 0xA, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.perf, 0xB, [0, 7]).status == .notSupported)
        #expect(ivi.send(P.perf, 0xD).status == .notFound)
    }

    @Test func domainAttributes() {
        let gpu = ivi.send(P.perf, 0x3, [0])
        #expect(gpu.valueBytes == 4 * 4 + 16)
        #expect(gpu.word(0) == 1 << 31 | 1 << 30)
        #expect(gpu.word(1) == 0)
        #expect(gpu.word(2) == 1_500_000 && gpu.word(3) == 1_500_000)
        #expect(gpu.name(at: 16, width: 16) == "gpu-dvfs")
        // Discovery answers for a domain the agent may not use.
        let dsp = ivi.send(P.perf, 0x3, [1])
        #expect(dsp.word(0) == 1 << 31 | 1 << 30 | 1 << 26)
        #expect(dsp.name(at: 16, width: 16) == "dsp-performance")
        #expect(ivi.send(P.perf, 0xC, [1]).name(at: 4, width: 64) == "dsp-performance-domain")
        #expect(ivi.send(P.perf, 0x3, [2]).status == .notFound)
        #expect(ivi.send(P.perf, 0xC, [2]).status == .notFound)
    }

    @Test func describeLevelsIsPaged() {
        let first = ivi.send(P.perf, 0x4, [0, 0])
        #expect(first.word(0) == 10 | 4 << 16)
        #expect(first.valueBytes == 4 + 10 * 12)
        // {level kHz, power µW, latency µs rounded up}, ascending.
        #expect(first.word(1) == 200_000 && first.word(2) == 2000 && first.word(3) == 1)
        #expect(first.word(4) == 300_000 && first.word(5) == 3000 && first.word(6) == 150)
        let rest = ivi.send(P.perf, 0x4, [0, 10])
        #expect(rest.word(0) == 4)
        #expect(rest.word(1 + 3 * 3) == 1_500_000)
        #expect(ivi.send(P.perf, 0x4, [0, 14]).status == .outOfRange)
        let dsp = ivi.send(P.perf, 0x4, [1, 0])
        #expect(dsp.word(0) == 2 && dsp.word(1) == 400_000 && dsp.word(2) == 0 && dsp.word(3) == 0 && dsp.word(4) == 800_000)
        #expect(ivi.send(P.perf, 0x4, [2, 0]).status == .notFound)
    }

    @Test func levelsAreArbitratedHighestWins() {
        let ivi = ivi, cluster = cluster
        #expect(ivi.send(P.perf, 0x8, [0]).word(0) == 200_000)  // the lowest level with no request
        #expect(ivi.send(P.perf, 0x7, [0, 800_000]).status == .success)
        #expect(cluster.send(P.perf, 0x7, [0, 600_000]).status == .success)
        #expect(cluster.send(P.perf, 0x8, [0]).word(0) == 800_000)
        ivi.end()
        #expect(cluster.send(P.perf, 0x8, [0]).word(0) == 600_000)
        cluster.end()
        #expect(ivi.send(P.perf, 0x8, [0]).word(0) == 200_000)
        #expect(log.all == [
            PhysicalChange(.performance, resource: 0, .value(from: 200_000, to: 800_000), agent: Board.ivi, cause: .request),
            PhysicalChange(.performance, resource: 0, .value(from: 800_000, to: 600_000), agent: Board.ivi, cause: .disconnect),
            PhysicalChange(.performance, resource: 0, .value(from: 600_000, to: 200_000), agent: Board.cluster, cause: .disconnect),
        ])
    }

    @Test func levelOffTheListOrOutsideLimitsIsOutOfRange() {
        let ivi = ivi
        #expect(ivi.send(P.perf, 0x7, [0, 850_000]).status == .outOfRange)
        #expect(ivi.send(P.perf, 0x7, [0, 100_000]).status == .outOfRange)
        #expect(ivi.send(P.perf, 0x7, [0, 1_600_000]).status == .outOfRange)
        #expect(ivi.send(P.perf, 0x5, [0, 700_000, 400_000]).status == .success)
        #expect(ivi.send(P.perf, 0x7, [0, 800_000]).status == .outOfRange)
        #expect(ivi.send(P.perf, 0x7, [0, 300_000]).status == .outOfRange)
        #expect(ivi.send(P.perf, 0x7, [0, 700_000]).status == .success)
        #expect(ivi.send(P.perf, 0x7, [5, 700_000]).status == .notFound)
        #expect(log.all.count == 1)
    }

    @Test func limitsArePerAgentAndMoveTheRequest() {
        let ivi = ivi, cluster = cluster
        let initial = ivi.send(P.perf, 0x6, [0])
        #expect(initial.word(0) == 1_500_000 && initial.word(1) == 200_000)
        #expect(ivi.send(P.perf, 0x7, [0, 1_200_000]).status == .success)
        // max 950 MHz: the request moves to the highest level below, 900 MHz.
        #expect(ivi.send(P.perf, 0x5, [0, 950_000, 300_000]).status == .success)
        let limits = ivi.send(P.perf, 0x6, [0])
        #expect(limits.word(0) == 950_000 && limits.word(1) == 300_000)
        #expect(ivi.send(P.perf, 0x8, [0]).word(0) == 900_000)
        // The other agent's limits are its own.
        #expect(cluster.send(P.perf, 0x6, [0]).word(0) == 1_500_000)
        // min 1.1 GHz: up to 1.1 GHz.
        #expect(ivi.send(P.perf, 0x5, [0, 1_500_000, 1_100_000]).status == .success)
        #expect(ivi.send(P.perf, 0x8, [0]).word(0) == 1_100_000)
        // No level inside 1.15..1.18 GHz: the request is withdrawn.
        #expect(ivi.send(P.perf, 0x5, [0, 1_180_000, 1_150_000]).status == .success)
        #expect(ivi.send(P.perf, 0x8, [0]).word(0) == 200_000)
        // Disconnecting gives the whole range back.
        ivi.end()
        let again = session(platform, Board.ivi).send(P.perf, 0x6, [0])
        #expect(again.word(0) == 1_500_000 && again.word(1) == 200_000)
    }

    @Test func badLimits() {
        let ivi = ivi
        #expect(ivi.send(P.perf, 0x5, [0, 400_000, 800_000]).status == .invalidParameters)  // min > max
        #expect(ivi.send(P.perf, 0x5, [0, 1_600_000, 200_000]).status == .outOfRange)
        #expect(ivi.send(P.perf, 0x5, [0, 1_500_000, 100_000]).status == .outOfRange)
        #expect(ivi.send(P.perf, 0x5, [2, 1_500_000, 200_000]).status == .notFound)
        let limits = ivi.send(P.perf, 0x6, [0])
        #expect(limits.word(0) == 1_500_000 && limits.word(1) == 200_000)
    }

    @Test func stateNeedsPermission() {
        let ivi = ivi, admin = admin
        // vm-ivi may not use the DSP's domain; vm-admin may use nothing yet.
        #expect(ivi.send(P.perf, 0x7, [1, 400_000]).status == .denied)
        #expect(ivi.send(P.perf, 0x8, [1]).status == .denied)
        #expect(ivi.send(P.perf, 0x5, [1, 800_000, 400_000]).status == .denied)
        #expect(ivi.send(P.perf, 0x6, [1]).status == .denied)
        #expect(admin.send(P.perf, 0x8, [0]).status == .denied)
        #expect(admin.send(P.perf, 0x4, [1, 0]).status == .success)
        _ = admin.send(P.base, 0x9, [Board.admin, 3, 1])
        #expect(admin.send(P.perf, 0x7, [1, 800_000]).status == .success)
        #expect(admin.send(P.perf, 0x8, [1]).word(0) == 800_000)
    }

    @Test(arguments: [
        (UInt8(0x3), 4), (0x4, 8), (0x5, 12), (0x6, 4), (0x7, 8), (0x8, 4), (0xC, 4),
    ])
    func wrongPayloadSizeIsProtocolError(messageID: UInt8, size: Int) {
        let ivi = ivi
        for wrong in [0, size - 4, size + 4] where wrong >= 0 {
            let words = [UInt32](repeating: 0, count: wrong / 4)
            #expect(ivi.send(P.perf, messageID, words).status == .protocolError, "message \(messageID) with \(wrong) bytes")
        }
        #expect(ivi.send(P.perf, 0x0, [0]).status == .protocolError)
        #expect(ivi.send(P.perf, 0x1, [0]).status == .protocolError)
    }

    @Test func snapshotShowsLevelRequestsAndLimits() {
        let ivi = ivi
        _ = ivi.send(P.perf, 0x7, [0, 1_000_000])
        _ = ivi.send(P.perf, 0x5, [0, 1_200_000, 400_000])
        let rows = platform.snapshot().resources(of: .performance)
        #expect(rows.count == 2)
        #expect(rows[0].name == "gpu-dvfs" && rows[0].value == 1_000_000 && rows[0].on == nil)
        #expect(rows[0].requests.count == 1)
        #expect(rows[0].requests[0].agentName == "vm-ivi" && rows[0].requests[0].value == 1_000_000)
        #expect(rows[0].requests[0].limits == ResourceRequest.Limits(min: 400_000, max: 1_200_000))
        #expect(rows[1].value == 400_000 && rows[1].requests.isEmpty)
    }
}
