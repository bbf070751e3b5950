// transport-loop MODE COUNT [POLL_US [FRONTEND_POLL_US]] — serve's transport in one process, in a loop:
//
//   roundtrip N   N round trips with one request in flight (kick, ring worker
//                 wakes, chain served, used ring, call, frontend wakes)
//   batch N       N batches of 64 requests per kick
//   connect N     N frontend connections: negotiation, SET_MEM_TABLE (mapping and
//                 its checks), one round trip, GET_VRING_BASE, close
//   rate-set SOCKET CLOCK RATE_A RATE_B N
//                 N CLOCK_RATE_SETs to a running serve (RateSetLoop.swift)
//
// A real VhostUserBackend on a temporary Unix socket and a real VhostUserFrontend
// (memfd guest memory, eventfds, EVENT_IDX and indirect descriptors). The device
// copies each request into its response, so the figures are the transport's
// alone: any change to the transport weighs more here than under serve's SCMI
// engine. POLL_US is the ring worker's polling window (serve --ring-poll-us;
// default serve's), FRONTEND_POLL_US the frontend's look at its used ring before
// it sleeps on the call eventfd (VhostUserFrontendOptions.completionPolling;
// default 0: it sleeps at once, as a guest waiting for its interrupt), so that
// whole runs with and without polling can be compared for time and for CPU. Prints ns per message (per connection for `connect`) as its own
// figure; Benchmarks/transport-ab.sh runs two builds in turn and compares them.
import Glibc
import Logging
import VhostUser
import Virtqueue

/// Answers each request with its own bytes. Allocation-free, like serve's device.
final class EchoDevice: VhostUserDeviceHandler, @unchecked Sendable {
    func handle(chain: DescriptorChain, queueIndex: Int) -> UInt32 {
        withUnsafeTemporaryAllocation(byteCount: 256, alignment: 8) { buffer in
            let count = chain.gatherReadable(into: buffer)
            return UInt32(chain.scatterWritable(from: UnsafeRawBufferPointer(rebasing: buffer[0..<count])))
        }
    }

    func connectionClosed() {}
}

func fail(_ message: String) -> Never {
    let line = "transport-loop: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

let arguments = CommandLine.arguments
if arguments.count > 1 && arguments[1] == "rate-set" { rateSetLoop(arguments.dropFirst(2)) }
guard (3...5).contains(arguments.count), let count = Int(arguments[2]), count > 0,
      ["roundtrip", "batch", "connect"].contains(arguments[1])
else {
    fail("usage: transport-loop roundtrip|batch|connect COUNT [POLL_US [FRONTEND_POLL_US]] | rate-set SOCKET CLOCK RATE_A RATE_B COUNT")
}
let mode = arguments[1]
let polling = arguments.count >= 4 ? RingPolling(maximumMicroseconds: Int(arguments[3]) ?? 0) : .off
let completionPolling = arguments.count == 5 ? RingPolling(maximumMicroseconds: Int(arguments[4]) ?? 0) : .off

var logger = Logger(label: "transport-loop")
logger.logLevel = .warning
let socketPath = "/tmp/scmi-dt-transport-loop-\(getpid()).sock"
let backend: VhostUserBackend
do {
    backend = try VhostUserBackend(socketPath: socketPath, device: VhostUserDeviceDescription(queueCount: 2),
                                   logger: logger, ringPolling: polling, makeHandler: { EchoDevice() })
    try backend.start()
} catch {
    fail("backend: \(error)")
}
defer { backend.stop() }

func connect() -> VhostUserFrontend {
    var options = VhostUserFrontendOptions()
    options.queueSize = 256  // as QEMU's vhost-user-scmi
    options.slotCount = 64
    options.bufferSize = 256
    options.completionPolling = completionPolling
    do {
        return try VhostUserFrontend(socketPath: socketPath, options: options)
    } catch {
        fail("frontend: \(error)")
    }
}

/// Submits slots 0..<n (8 bytes each), kicks, and waits for every answer.
@inline(__always) func exchange(_ frontend: VhostUserFrontend, slots n: Int) {
    for slot in 0..<n {
        frontend.requestBuffer(slot: slot).storeBytes(of: UInt64(slot), as: UInt64.self)
        do { try frontend.submit(slot: slot, requestLength: 8, responseCapacity: 8) } catch { fail("submit: \(error)") }
    }
    frontend.kick()
    var remaining = n
    while remaining > 0 {
        do { try frontend.waitForCompletions() } catch { fail("wait: \(error)") }
        remaining -= frontend.collect { slot, response in
            if response.count != 8 || response.loadUnaligned(as: UInt64.self) != UInt64(slot) {
                fail("slot \(slot) answered \(Array(response))")
            }
        }
    }
}

var start = timespec()
var end = timespec()
var messages = count
if mode == "connect" {
    clock_gettime(CLOCK_MONOTONIC, &start)
    for _ in 0..<count {
        // One frontend at a time per socket: wait for the previous teardown.
        while backend.status.isConnected { usleep(100) }
        let frontend = connect()
        exchange(frontend, slots: 1)
        frontend.close()
    }
    clock_gettime(CLOCK_MONOTONIC, &end)
} else {
    let frontend = connect()
    let perKick = mode == "batch" ? 64 : 1
    messages = count * perKick
    for _ in 0..<min(count, 1000) { exchange(frontend, slots: perKick) }  // warm-up
    clock_gettime(CLOCK_MONOTONIC, &start)
    for _ in 0..<count { exchange(frontend, slots: perKick) }
    clock_gettime(CLOCK_MONOTONIC, &end)
    frontend.close()
}
let nanoseconds = (end.tv_sec - start.tv_sec) * 1_000_000_000 + (end.tv_nsec - start.tv_nsec)
print("\(mode) \(count): \(nanoseconds / messages) ns per \(mode == "connect" ? "connection" : "message")")
