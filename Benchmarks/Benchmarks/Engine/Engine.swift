import Benchmark
import ResourceTables
import SCMIPlatform
import Synchronization

// How many SCMI messages one AgentSession answers per second on one core,
// and how many mallocs a message costs (serve's hot path must make none).
// Each measured iteration handles 1000 messages (scalingFactor .kilo); the
// tool divides the metrics marked * by that, so throughput reads in messages
// per second and "Malloc (total) *" in mallocs per message.

/// A board like the examples: a few clocks and regulators, a performance
/// domain, a sensor, a power and a reset domain, two agents sharing them all.
private let tables = PlatformTables(
    vendor: "BENCH", protocols: [.powerDomain, .performance, .clock, .sensor, .reset, .voltage],
    clocks: (0 ..< 8).map { id in
        ClockEntry(id: UInt32(id), name: "clock-\(id)", providerPath: "/cru", specifier: [UInt32(id)],
                   rates: .discrete([24_000_000, 48_000_000, 96_000_000, 192_000_000]), initialRate: 24_000_000)
    },
    voltageDomains: [
        VoltageDomainEntry(id: 0, name: "vdd", regulatorPath: "/reg", levels: .range(min: 600_000, max: 1_000_000, step: 12_500),
                           initialLevel: 800_000, initiallyOn: true),
        // A GPU's core and memory rails, coupled within 25 mV (regulator-coupled-with).
        VoltageDomainEntry(id: 1, name: "vdd-gpu", regulatorPath: "/pmic/buck1", levels: .range(min: 600_000, max: 1_000_000, step: 12_500),
                           initialLevel: 800_000, initiallyOn: true, couplings: [VoltageCoupling(partner: 2, maxSpread: 25_000)]),
        VoltageDomainEntry(id: 2, name: "vdd-gpu-mem", regulatorPath: "/pmic/buck5", levels: .range(min: 600_000, max: 1_000_000, step: 12_500),
                           initialLevel: 800_000, initiallyOn: true, couplings: [VoltageCoupling(partner: 1, maxSpread: 25_000)]),
    ],
    powerDomains: [ProviderResourceEntry(id: 0, name: "gpu-pd", providerPath: "/pmu", specifier: [3])],
    performanceDomains: [
        PerformanceDomainEntry(id: 0, name: "cpu", oppTablePath: "/opp",
                               levels: (1 ... 8).map { PerformanceLevel(hz: UInt64($0) * 250_000_000, microwatts: UInt32($0) * 100_000) }),
    ],
    sensors: [SensorEntry(id: 0, name: "soc-temp", type: .temperature, unitExponent: -3, source: .constant(45_500))],
    resetDomains: [ProviderResourceEntry(id: 0, name: "gpu-rst", providerPath: "/cru", specifier: [21])],
    devices: [
        DeviceEntry(id: 1, name: "SOC", path: "/d/device@1",
                    resources: (0 ..< 8).map { ResourceReference(.clock, UInt32($0)) } + (0 ..< 3).map { ResourceReference(.voltage, UInt32($0)) }
                        + [ResourceReference(.performance, 0), ResourceReference(.sensor, 0),
                           ResourceReference(.powerDomain, 0), ResourceReference(.reset, 0)]),
    ],
    agents: [
        AgentEntry(id: 1, name: "vm-a", devices: [1], protocols: [.powerDomain, .performance, .clock, .sensor, .reset, .voltage], trusted: false),
        AgentEntry(id: 2, name: "vm-b", devices: [1], protocols: [.powerDomain, .performance, .clock, .sensor, .reset, .voltage], trusted: false),
    ])

/// Takes platform → agent messages and only counts them.
private final class CountingSink: PlatformMessageSink {
    let posted = Atomic<Int>(0)
    func post(_ message: UnsafeRawBufferPointer, kind: PlatformMessageKind) -> Bool {
        posted.add(1, ordering: .relaxed)
        return true
    }
    var delayedResponsesWaiting: Int { 0 }
    var deliveryCounters: DeliveryCounters { DeliveryCounters(sent: UInt64(posted.load(ordering: .relaxed)), waiting: 0, dropped: 0) }
}

/// One session with a request and a 136-byte response space allocated once,
/// as serve has them in guest memory. Used by one benchmark thread at a time.
private final class Exchange: @unchecked Sendable {
    let session: AgentSession
    let request: UnsafeMutableRawBufferPointer
    let response = UnsafeMutableRawBufferPointer.allocate(byteCount: 136, alignment: 8)

    init(_ session: AgentSession, words: [UInt32]) {
        self.session = session
        request = .allocate(byteCount: 4 * words.count, alignment: 8)
        for (index, word) in words.enumerated() {
            request.storeBytes(of: word.littleEndian, toByteOffset: 4 * index, as: UInt32.self)
        }
    }

    /// Answers the request once; traps if the engine did not answer SUCCESS,
    /// so a broken engine cannot post a good figure.
    @inline(__always) func run() {
        let outcome = session.handle(request: UnsafeRawBufferPointer(request), response: response)
        precondition(outcome.status == .success && outcome.responseLength >= 8)
        blackHole(outcome.responseLength)
    }
}

private func header(_ protocolID: UInt8, _ messageID: UInt8) -> UInt32 {
    MessageHeader(protocolID: protocolID, messageID: messageID, token: 42).rawValue
}

let benchmarks: @Sendable () -> Void = {
    let platform = SCMIPlatform(tables: tables)
    guard let session = platform.makeSession(agentID: 1) else { fatalError("agent 1 is declared above") }
    let configuration = Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 100,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000)

    let rateGet = Exchange(session, words: [header(0x14, 0x6), 3])
    Benchmark("CLOCK_RATE_GET", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { rateGet.run() }
    }

    let version = Exchange(session, words: [header(0x10, 0x0)])
    Benchmark("BASE PROTOCOL_VERSION", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { version.run() }
    }

    // A state change under the lock (arbitration with the other agent's
    // request), alternating two rates so that every message changes the clock.
    let other = platform.makeSession(agentID: 2)!
    let low = Exchange(other, words: [header(0x14, 0x5), 0, 5, 24_000_000, 0])
    low.run()
    let up = Exchange(session, words: [header(0x14, 0x5), 0, 5, 96_000_000, 0])
    let down = Exchange(session, words: [header(0x14, 0x5), 0, 5, 48_000_000, 0])
    Benchmark("CLOCK_RATE_SET (arbitrated, changes every time)", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations { (index & 1 == 0 ? up : down).run() }
    }

    // A coupled rail (docs/serve.md §4, "Host limits"): the spread checked, the
    // pair settled together, the move sent through the host seam.
    let coupledUp = Exchange(session, words: [header(0x17, 0x7), 1, 0, 812_500])
    let coupledDown = Exchange(session, words: [header(0x17, 0x7), 1, 0, 800_000])
    Benchmark("VOLTAGE_LEVEL_SET (coupled rail, changes every time)", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations { (index & 1 == 0 ? coupledUp : coupledDown).run() }
    }

    // Control: proves the malloc counter is live (it reads 1 per message
    // here), so the engine's 0 means something.
    Benchmark("control: one Array per message", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations { blackHole([UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 16)) }
    }

    let describe = Exchange(session, words: [header(0x14, 0x4), 2, 0])
    Benchmark("CLOCK_DESCRIBE_RATES", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { describe.run() }
    }

    // Performance: a level change arbitrated with the other agent's request
    // (inside both agents' limits), alternating so that every message changes it.
    Exchange(other, words: [header(0x13, 0x7), 0, 250_000]).run()
    let levelUp = Exchange(session, words: [header(0x13, 0x7), 0, 1_500_000])
    let levelDown = Exchange(session, words: [header(0x13, 0x7), 0, 1_000_000])
    Benchmark("PERFORMANCE_LEVEL_SET (arbitrated, changes every time)", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations { (index & 1 == 0 ? levelUp : levelDown).run() }
    }

    // Sensor: a constant reading (a host file's reading is a file read, not
    // the engine's hot path).
    let reading = Exchange(session, words: [header(0x15, 0x6), 0, 0])
    Benchmark("SENSOR_READING_GET (constant)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { reading.run() }
    }

    // Power: this agent's vote alternates ON and OFF while the other agent
    // votes for nothing, so every message switches the domain (arbitration:
    // on while any agent wants it on).
    let powerOn = Exchange(session, words: [header(0x11, 0x4), 0, 0, 0])
    let powerOff = Exchange(session, words: [header(0x11, 0x4), 0, 0, 0x4000_0000])
    Benchmark("POWER_STATE_SET (arbitrated, changes every time)", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations { (index & 1 == 0 ? powerOn : powerOff).run() }
    }

    let powerState = Exchange(session, words: [header(0x11, 0x5), 0])
    Benchmark("POWER_STATE_GET", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { powerState.run() }
    }

    // Reset: an autonomous (pulse) cold reset of a domain both agents may use.
    let pulse = Exchange(session, words: [header(0x16, 0x4), 0, 1, 0])
    Benchmark("RESET (pulse)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { pulse.run() }
    }

    // The same power and reset messages with notifications, into a sink that
    // only counts (the eventq delivery is Transport's), on a platform of
    // their own: the other agent subscribed to POWER_STATE_CHANGED and
    // RESET_ISSUED, so every message sends one notification.
    let notifying = SCMIPlatform(tables: tables)
    let switcher = notifying.makeSession(agentID: 1)!, listener = notifying.makeSession(agentID: 2)!
    let sink = CountingSink()
    for agent in [switcher, listener] { agent.useTransport(.virtioWithP2A, sink: sink) }
    Exchange(listener, words: [header(0x11, 0x6), 0, 1]).run()
    Exchange(listener, words: [header(0x16, 0x5), 0, 1]).run()
    let notifiedOn = Exchange(switcher, words: [header(0x11, 0x4), 0, 0, 0])
    let notifiedOff = Exchange(switcher, words: [header(0x11, 0x4), 0, 0, 0x4000_0000])
    Benchmark("notification: POWER_STATE_SET → POWER_STATE_CHANGED to a subscriber", configuration: configuration) { benchmark in
        for index in benchmark.scaledIterations { (index & 1 == 0 ? notifiedOn : notifiedOff).run() }
        precondition(sink.posted.load(ordering: .relaxed) > 0)
    }
    let notifiedPulse = Exchange(switcher, words: [header(0x16, 0x4), 0, 1, 0])
    Benchmark("notification: RESET pulse → RESET_ISSUED to a subscriber", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations { notifiedPulse.run() }
    }
}
