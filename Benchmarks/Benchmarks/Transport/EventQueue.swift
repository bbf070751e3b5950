import Benchmark
import Glibc
import Logging
import ResourceTables
import SCMIPlatform
import Synchronization
import VhostUser
import VirtioSCMI

// Platform → agent (issue 9): a notification from the engine into a real
// eventq, and what 64 active subscriptions cost a cmdq round trip. Called
// from Transport.swift's `benchmarks` with its configuration.

func eventQueueBenchmarks(
    _ configuration: (@escaping Benchmark.BenchmarkSetupHook, @escaping Benchmark.BenchmarkTeardownHook) -> Benchmark.Configuration
) {

    let notifying = RigSlot<EventQueueRig>()
    Benchmark("notification: CLOCK_RATE_SET by one agent → CLOCK_RATE_CHANGED in another's eventq",
              configuration: configuration({ notifying.rig = try EventQueueRig(subscriptions: 1) },
                                           { notifying.rig?.close(); notifying.rig = nil }))
    { _ in
        notifying.rig!.notifyOnce()
    }

    // The same cmdq round trip (CLOCK_RATE_SET from the connected agent) with
    // no subscription anywhere and with 64 held by the other agent on other
    // clocks: the difference is the look for subscribers. A round trip costs
    // two wake-ups, whose time drifts with the machine far more than that look
    // costs, so the two run in turn within each iteration (A B, then B A), each
    // timed on its own: their medians, and the median of the ratios pair by
    // pair, come from the same moments, as `paired` in bench.sh does for
    // whole processes.
    let pair = RigSlot<InTurnRigs>()
    let none = BenchmarkMetric.custom("no_subscriptions_ns")
    let held = BenchmarkMetric.custom("64_subscriptions_ns")
    let perMille = BenchmarkMetric.custom("64_subscriptions_per_mille_of_none")
    // The engine alone, in the same iterations: the other agent's CLOCK_RATE_SET
    // handled on this thread (no ring, no wake-up), where the look for subscribers is.
    let engineNone = BenchmarkMetric.custom("engine_no_subscriptions_ns")
    let engineHeld = BenchmarkMetric.custom("engine_64_subscriptions_ns")
    var inTurn = configuration({ pair.rig = try InTurnRigs() }, { pair.rig?.close(); pair.rig = nil })
    inTurn.metrics += [none, held, perMille, engineNone, engineHeld]
    // Exported as plain numbers (the harness would otherwise pick K or M by magnitude).
    for metric in [none, held, perMille, engineNone, engineHeld] { inTurn.units[metric] = .count }
    Benchmark("round trip: one CLOCK_RATE_SET in flight, 64 subscriptions active and none, in turn",
              configuration: inTurn)
    { benchmark in
        let rigs = pair.rig!
        let (withNone, withHeld) = rigs.inTurn { $0.timedRateSetRoundTrip() }
        benchmark.measurement(none, Int(withNone))
        benchmark.measurement(held, Int(withHeld))
        benchmark.measurement(perMille, Int(withHeld * 1000 / max(withNone, 1)))
        let (engineWithNone, engineWithHeld) = rigs.inTurn { $0.timedEngineRateSet() }
        benchmark.measurement(engineNone, Int(engineWithNone))
        benchmark.measurement(engineHeld, Int(engineWithHeld))
    }
}

/// Two `EventQueueRig`s, none and 64 subscriptions, driven in turn.
final class InTurnRigs: @unchecked Sendable {
    // @unchecked: driven by one benchmark thread at a time.
    let none: EventQueueRig
    let held: EventQueueRig
    private var heldFirst = false

    init() throws {
        none = try EventQueueRig(subscriptions: 0)
        held = try EventQueueRig(subscriptions: getenv("SCMI_DT_BENCH_A_A").map { _ in 0 } ?? 64)
    }

    func close() {
        none.close()
        held.close()
    }

    /// `measure` on each rig, the one with subscriptions first every other
    /// call: (its result with none, with 64).
    @inline(__always) func inTurn(_ measure: (EventQueueRig) -> UInt64) -> (UInt64, UInt64) {
        heldFirst.toggle()
        if heldFirst {
            let withHeld = measure(held)
            return (measure(none), withHeld)
        }
        let withNone = measure(none)
        return (withNone, measure(held))
    }
}

/// A hand-built board: 33 clocks on one device that two agents share. Agent 1
/// is connected through serve's real backend and a real frontend with the
/// eventq (P2A negotiated, 64 buffers); agent 2 is a session in this process
/// whose notifications go to an outbox of its own. With `subscriptions` 1,
/// agent 1 subscribes to clock 0's rate changes; with more, agent 2 holds
/// that many on clocks 1… (rate-changed and rate-change-requested).
final class EventQueueRig: @unchecked Sendable {
    // @unchecked: driven by one benchmark thread at a time.
    let frontend: VhostUserFrontend
    let backend: VhostUserBackend
    let platform: SCMIPlatform
    let changer: AgentSession
    let changerOutbox: SCMIOutbox
    private var toggle = false
    /// Rigs made so far in this process: each gets a socket of its own.
    private static let made = Atomic<Int>(0)
    private let request = UnsafeMutableRawBufferPointer.allocate(byteCount: 20, alignment: 4)
    private let response = UnsafeMutableRawBufferPointer.allocate(byteCount: 136, alignment: 4)

    static let tables: PlatformTables = {
        let clocks = (0 ..< 33).map { id in
            ClockEntry(id: UInt32(id), name: "clk\(id)", providerPath: "/ccu", specifier: [UInt32(id)],
                       rates: .range(min: 1_000_000, max: 100_000_000, step: 1_000_000), initialRate: 1_000_000)
        }
        return PlatformTables(
            vendor: "BENCH", protocols: [.clock], clocks: clocks,
            devices: [DeviceEntry(id: 1, name: "dev", path: "/d", resources: (0 ..< 33).map { ResourceReference(.clock, UInt32($0)) })],
            agents: [AgentEntry(id: 1, name: "a", devices: [1], protocols: [.clock], trusted: false),
                     AgentEntry(id: 2, name: "b", devices: [1], protocols: [.clock], trusted: false)])
    }()

    init(subscriptions: Int) throws {
        var logger = Logger(label: "bench.eventq")
        logger.logLevel = .warning
        let platform = SCMIPlatform(tables: Self.tables)
        self.platform = platform
        let handlerLogger = logger
        let path = "/tmp/scmi-dt-bench-eventq-\(getpid())-\(Self.made.add(1, ordering: .relaxed).newValue).sock"
        backend = try VhostUserBackend(
            socketPath: path, device: SCMIVirtioDevice.description, logger: logger,
            makeHandler: {
                SCMIChainHandler(session: platform.makeSession(agentID: 1)!, agentName: "a", logger: handlerLogger,
                                 trace: false, outbox: try? SCMIOutbox())
            })
        try backend.start()
        var options = VhostUserFrontendOptions()
        options.queueSize = 256
        options.slotCount = 4
        options.bufferSize = 256
        options.startsEventQueue = true
        options.eventBufferCount = 64
        options.wantedDeviceFeatures = SCMIVirtioDevice.p2aChannels
        frontend = try VhostUserFrontend(socketPath: path, options: options)
        precondition(frontend.ackedFeatures & SCMIVirtioDevice.p2aChannels != 0, "P2A not negotiated")

        changer = platform.makeSession(agentID: 2)!
        changerOutbox = try SCMIOutbox()
        changer.useTransport(.virtioWithP2A, sink: changerOutbox)
        if subscriptions == 1 {
            Self.expectSuccess(try frontend.exchange(request: Self.words(Self.header(0x9), 0, 1), responseCapacity: 64))
        } else {
            for index in 0 ..< subscriptions {
                let message: UInt32 = index % 2 == 0 ? 0x9 : 0xA
                Self.expectSuccess(Self.send(changer, Self.words(Self.header(UInt8(message)), UInt32(1 + index / 2), 1)))
            }
            precondition(platform.eventDelivery()[1].subscriptions.count == subscriptions, "subscriptions not held")
        }
    }

    func close() {
        frontend.close()
        backend.stop()
        request.deallocate()
        response.deallocate()
    }

    static func header(_ messageID: UInt8, token: UInt16 = 0) -> UInt32 {
        MessageHeader(protocolID: 0x14, messageID: messageID, token: token).rawValue
    }

    static func words(_ values: UInt32...) -> [UInt8] {
        values.flatMap { value in (0 ..< 4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    }

    static func send(_ session: AgentSession, _ request: [UInt8]) -> [UInt8] {
        var space = [UInt8](repeating: 0, count: 136)
        let length = request.withUnsafeBytes { bytes in space.withUnsafeMutableBytes { session.handle(request: bytes, response: $0).responseLength } }
        return Array(space.prefix(length))
    }

    static func expectSuccess(_ reply: [UInt8]) {
        precondition(reply.count >= 8 && reply[4 ..< 8].allSatisfy { $0 == 0 }, "SCMI command failed: \(reply)")
    }

    /// CLOCK_RATE_SET {flags 0, clock 0, 2 or 3 MHz} in `request`, alternating
    /// so that every one changes the physical rate.
    @inline(__always) private func writeRateSet() {
        toggle.toggle()
        request.storeBytes(of: Self.header(0x5).littleEndian, toByteOffset: 0, as: UInt32.self)
        request.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
        request.storeBytes(of: UInt32(0), toByteOffset: 8, as: UInt32.self)
        request.storeBytes(of: UInt32(toggle ? 3_000_000 : 2_000_000).littleEndian, toByteOffset: 12, as: UInt32.self)
        request.storeBytes(of: UInt32(0), toByteOffset: 16, as: UInt32.self)
    }

    /// Agent 2 changes clock 0's rate in the engine (on this thread); agent 1's
    /// device worker writes CLOCK_RATE_CHANGED into an eventq buffer; the
    /// frontend takes it and posts the buffer again.
    @inline(__always) func notifyOnce() {
        writeRateSet()
        let outcome = changer.handle(request: UnsafeRawBufferPointer(request), response: response)
        precondition(outcome.status == .success, "CLOCK_RATE_SET failed")
        var received = 0
        while received == 0 {
            received = frontend.receiveEvents(timeoutMilliseconds: 10_000) { message in
                precondition(message.count == 20, "CLOCK_RATE_CHANGED has \(message.count) bytes")
            }
        }
    }

    /// `rateSetRoundTrip`, timed: nanoseconds from writing the request to
    /// having checked the answer.
    @inline(__always) func timedRateSetRoundTrip() -> UInt64 {
        let start = Self.nanoseconds()
        rateSetRoundTrip()
        return Self.nanoseconds() &- start
    }

    /// Agent 2's CLOCK_RATE_SET handled by the engine on this thread, timed.
    @inline(__always) func timedEngineRateSet() -> UInt64 {
        writeRateSet()
        let start = Self.nanoseconds()
        let outcome = changer.handle(request: UnsafeRawBufferPointer(request), response: response)
        let elapsed = Self.nanoseconds() &- start
        precondition(outcome.status == .success, "CLOCK_RATE_SET failed")
        return elapsed
    }

    /// CLOCK_MONOTONIC (vDSO: no system call).
    @inline(__always) static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// Agent 1 sends CLOCK_RATE_SET on the cmdq and waits for its answer.
    @inline(__always) func rateSetRoundTrip() {
        writeRateSet()
        let slot = frontend.requestBuffer(slot: 0)
        slot.copyMemory(from: UnsafeRawBufferPointer(request))
        do {
            try frontend.submit(slot: 0, requestLength: 20, responseCapacity: SCMILimits.maxResponse)
            frontend.kick()
            try frontend.waitForCompletions()
        } catch {
            fatalError("round trip: \(error)")
        }
        var status: Int32 = -1
        _ = frontend.collect { _, reply in status = reply.loadUnaligned(fromByteOffset: 4, as: Int32.self) }
        precondition(status == 0, "CLOCK_RATE_SET answered \(status)")
    }
}
