// transport-loop rate-set SOCKET CLOCK RATE_A RATE_B COUNT — the round trip of an SCMI
// CLOCK_RATE_SET to a running `scmi-dt serve`, as a guest sends it: a vhost-user frontend
// (the one `scmi-dt call` uses) on an agent's socket enables CLOCK, then sets it COUNT
// times alternating RATE_A and RATE_B, so that each set changes the physical state (and,
// for a hook or upstream resource, reaches the host). Prints ns per set. Used by
// Benchmarks/suites/host.sh; unlike a `call` chain, nothing but the sets is timed.
import Glibc
import SCMIClient
import VhostUser

/// The client's byte pipe over the frontend's cmdq (as `call` has it).
struct CommandQueue: SCMITransport {
    let frontend: VhostUserFrontend
    mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8] {
        try frontend.exchange(request: request, responseCapacity: responseCapacity)
    }
}

func rateSetLoop(_ arguments: ArraySlice<String>) -> Never {
    let words = Array(arguments)
    guard words.count == 5, let clock = UInt32(words[1]), let rateA = UInt64(words[2]), let rateB = UInt64(words[3]),
          let count = Int(words[4]), count > 0
    else {
        fail("usage: transport-loop rate-set SOCKET CLOCK RATE_A RATE_B COUNT")
    }
    let frontend: VhostUserFrontend
    do {
        frontend = try VhostUserFrontend(socketPath: words[0], options: VhostUserFrontendOptions())
    } catch {
        fail("frontend on \(words[0]): \(error)")
    }
    let client = SCMIClient(transport: CommandQueue(frontend: frontend))
    var start = timespec()
    var end = timespec()
    do {
        try client.enable(clock: clock)
        try client.rateSet(clock, rate: rateB)
        clock_gettime(CLOCK_MONOTONIC, &start)
        for index in 0..<count { try client.rateSet(clock, rate: index % 2 == 0 ? rateA : rateB) }
        clock_gettime(CLOCK_MONOTONIC, &end)
    } catch {
        fail("clock \(clock): \(error)")
    }
    frontend.close()
    let nanoseconds = (end.tv_sec - start.tv_sec) * 1_000_000_000 + (end.tv_nsec - start.tv_nsec)
    print("rate-set \(count): \(nanoseconds / count) ns per message")
    exit(0)
}
