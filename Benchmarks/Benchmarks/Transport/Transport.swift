import Benchmark
import VhostUser

// serve's whole data path measured from a frontend: kick → ring worker wakes →
// chain → SCMIChainHandler → AgentSession → used ring → call → frontend wakes.
// Next to it, the floor: the same two wake-ups with nothing in between (an
// eventfd ping-pong between two threads).
//
// One iteration is one round trip (wall clock percentiles = latency
// percentiles), or one batch of 64 messages. The malloc counter is the whole
// process (every thread: benchmark, ring worker, ponger), so 0 mallocs per
// iteration means neither side allocates; the control proves the counter sees
// other threads' mallocs.

let benchmarks: @Sendable () -> Void = {
    func configuration(setup: @escaping Benchmark.BenchmarkSetupHook,
                       teardown: @escaping Benchmark.BenchmarkTeardownHook) -> Benchmark.Configuration
    {
        Benchmark.Configuration(
            metrics: [.wallClock, .throughput, .mallocCountTotal],
            timeUnits: .nanoseconds,
            warmupIterations: 2000,
            scalingFactor: .one,
            maxDuration: .seconds(4),
            maxIterations: 200_000,
            setup: setup, teardown: teardown)
    }

    // serve's data path as serve runs by default (the ring worker sleeps after every
    // batch, the frontend sleeps on its call eventfd as a guest waits for its
    // interrupt); then, prefixed "poll", with serve --ring-poll-us 50
    // (RingPolling.standard); then, prefixed "pollboth", with a frontend that also
    // polls its used ring for up to 50 us before it sleeps (as Linux's SCMI core
    // does for atomic transfers), notifications suppressed meanwhile.
    func transportBenchmarks(_ polling: RingPolling, frontend completionPolling: RingPolling = .off,
                             prefix: String, detail: String)
    {
        let transport = RigSlot<TransportRig>()
        let hooks = (setup: { transport.rig = try TransportRig(ringPolling: polling, completionPolling: completionPolling) }
                        as Benchmark.BenchmarkSetupHook,
                     teardown: { transport.rig?.close(); transport.rig = nil } as Benchmark.BenchmarkTeardownHook)
        Benchmark("\(prefix)round trip: one CLOCK_RATE_GET in flight\(detail)",
                  configuration: configuration(setup: hooks.setup, teardown: hooks.teardown))
        { _ in
            transport.rig!.exchangeRateGets(1)
        }
        Benchmark("\(prefix)batch: 64 CLOCK_RATE_GET per kick\(detail) (1 iteration = 64 messages)",
                  configuration: configuration(setup: hooks.setup, teardown: hooks.teardown))
        { _ in
            transport.rig!.exchangeRateGets(64)
        }
    }
    transportBenchmarks(.off, prefix: "", detail: ", frontend waits for its call")
    transportBenchmarks(.standard, prefix: "poll ", detail: ", ring polling 50 us, frontend waits for its call")
    transportBenchmarks(.standard, frontend: .standard, prefix: "pollboth ",
                        detail: ", ring polling 50 us, frontend polls its used ring 50 us")

    // The breakdown: the batch's software alone (driver + DeviceQueue +
    // SCMIChainHandler + engine on one thread, no eventfds). The threaded batch
    // above minus this is what the two wake-ups and the handover cost.
    let ringPath = RigSlot<RingPathRig>()
    Benchmark("breakdown: the batch's ring path on one thread, no wake-ups (1 iteration = 64 messages)",
              configuration: configuration(setup: { ringPath.rig = try RingPathRig() },
                                           teardown: { ringPath.rig = nil }))
    { _ in
        ringPath.rig!.batch()
    }

    let pingPong = RigSlot<PingPongRig>()
    Benchmark("floor: eventfd ping-pong between two threads",
              configuration: configuration(setup: { pingPong.rig = try PingPongRig() },
                                           teardown: { pingPong.rig?.close(); pingPong.rig = nil }))
    { _ in
        pingPong.rig!.roundTrip()
    }

    // Reads 1 malloc per iteration: the interposer counts the answering thread's
    // mallocs too, so the 0 of the benchmarks above covers the backend's threads.
    let control = RigSlot<PingPongRig>()
    Benchmark("control: ping-pong whose other thread mallocs once per pong",
              configuration: configuration(setup: { control.rig = try PingPongRig(allocatesPerPong: true) },
                                           teardown: { control.rig?.close(); control.rig = nil }))
    { _ in
        control.rig!.roundTrip()
    }

    eventQueueBenchmarks { configuration(setup: $0, teardown: $1) }  // EventQueue.swift
}
