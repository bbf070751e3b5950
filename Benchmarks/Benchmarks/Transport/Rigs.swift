import BackendModel
import Benchmark
import Glibc
import Logging
import ResourceTables
import SCMIPlatform
import Synchronization
import VhostUser
import VirtioSCMI
import Virtqueue

// The set-ups the Transport benchmarks measure: serve's real backend with a real
// frontend connected to it, the same ring path on one thread (the breakdown),
// and a bare eventfd ping-pong between two threads (the floor).

/// The example board's tables, read the way `serve` reads them. The blob is
/// examples/board.dtb (`make examples`), or $SCMI_DT_BENCH_BLOB.
func exampleTables() -> PlatformTables {
    let path = getenv("SCMI_DT_BENCH_BLOB").map { String(cString: $0) }
        ?? (String(#filePath).split(separator: "/").dropLast(4).map(String.init)
            .reduce("") { $0 + "/" + $1 } + "/examples/board.dtb")
    let result = BackendChecker.check(blobAt: path)
    guard let tables = result.tables, !result.hasErrors else {
        fatalError("\(path) is missing or not clean (run `make examples`): \(result.diagnostics.map(\.rendered))")
    }
    return tables
}

/// A joinable pthread running one closure (the benchmarks' own helper threads).
final class HelperThread: @unchecked Sendable {
    // @unchecked: `handle` is written in init and read by join(), called once by the owner.
    private var handle = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(body))
        let result = pthread_create(&handle, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, box.toOpaque())
        precondition(result == 0, "pthread_create: \(result)")
    }

    func join() { pthread_join(handle, nil) }

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}

/// serve's data path for one agent, in this process: a `VhostUserBackend` on a
/// temporary Unix socket with `SCMIChainHandler` over the example board's
/// platform (accept, control and ring-worker threads of its own, exactly as
/// `serve` starts them), and a `VhostUserFrontend` connected to it (memfd guest
/// memory, eventfd kick and call, EVENT_IDX and indirect descriptors negotiated
/// as with QEMU).
///
/// The frontend is driven by one benchmark thread at a time.
final class TransportRig: @unchecked Sendable {
    // @unchecked: the frontend is used by whichever thread runs the benchmark
    // closure, one at a time (the harness runs iterations sequentially).
    let frontend: VhostUserFrontend
    let backend: VhostUserBackend
    private let directory: String
    /// A clock the agent may read.
    let clockID: UInt32
    static let agentName = "vm-ivi"

    /// `ringPolling`: the backend's (serve's default: off); `completionPolling`:
    /// the frontend's look at the used ring before it sleeps (off: it sleeps on
    /// the call eventfd at once, as a guest waiting for its interrupt).
    init(ringPolling: RingPolling = .off, completionPolling: RingPolling = .off) throws {
        let tables = exampleTables()
        guard let agent = tables.agents.first(where: { $0.name == Self.agentName }) else {
            fatalError("the example board has no agent \(Self.agentName)")
        }
        let devices = tables.devices.filter { agent.devices.contains($0.id) }
        guard let clock = devices.flatMap(\.resources).first(where: { $0.protocolID == .clock }) else {
            fatalError("agent \(Self.agentName) has no clock")
        }
        clockID = clock.id

        var template = Array("/tmp/scmi-dt-bench-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fatalError("mkdtemp failed")
        }
        directory = String(cString: made)

        var logger = Logger(label: "bench.serve")
        logger.logLevel = .warning
        let platform = SCMIPlatform(tables: tables)
        let agentID = agent.id
        let agentName = agent.name
        let handlerLogger = logger
        backend = try VhostUserBackend(
            socketPath: directory + "/\(agent.name).sock", device: SCMIVirtioDevice.description, logger: logger,
            ringPolling: ringPolling,
            makeHandler: {
                SCMIChainHandler(session: platform.makeSession(agentID: agentID)!, agentName: agentName,
                                 logger: handlerLogger, trace: false)
            })
        try backend.start()

        var options = VhostUserFrontendOptions()
        options.queueSize = 256  // as QEMU's vhost-user-scmi
        options.slotCount = 64
        options.bufferSize = 256  // a request (≤ 132 bytes) or a response (≤ 136 bytes)
        options.completionPolling = completionPolling
        frontend = try VhostUserFrontend(socketPath: backend.socketPath, options: options)
        // What QEMU and Linux negotiate; without them the figures would describe another path.
        let wanted = VirtioFeatures.eventIndex | VirtioFeatures.indirectDescriptors
        precondition(frontend.ackedFeatures & wanted == wanted, "EVENT_IDX or INDIRECT_DESC not negotiated")
    }

    func close() {
        frontend.close()
        backend.stop()
        rmdir(directory)
    }

    /// Writes CLOCK_RATE_GET for `clockID` with token `slot` into `slot`'s request
    /// buffer and submits it.
    @inline(__always) func submitRateGet(slot: Int) {
        let request = frontend.requestBuffer(slot: slot)
        let header = MessageHeader(protocolID: 0x14, messageID: 0x6, token: UInt16(slot)).rawValue
        request.storeBytes(of: header.littleEndian, toByteOffset: 0, as: UInt32.self)
        request.storeBytes(of: clockID.littleEndian, toByteOffset: 4, as: UInt32.self)
        do {
            try frontend.submit(slot: slot, requestLength: 8, responseCapacity: SCMILimits.maxResponse)
        } catch {
            fatalError("submit: \(error)")
        }
    }

    /// CLOCK_RATE_GET in slots 0..<count, one kick, and every answer collected.
    @inline(__always) func exchangeRateGets(_ count: Int) {
        for slot in 0 ..< count { submitRateGet(slot: slot) }
        frontend.kick()
        collect(count)
    }

    /// Waits (blocked in read() on the call eventfd, as a guest waits for its
    /// interrupt, after looking at the used ring with completion polling) until
    /// `count` answers are back, checking each: a broken path cannot post a good figure.
    @inline(__always) func collect(_ count: Int) {
        var remaining = count
        while remaining > 0 {
            do { try frontend.waitForCompletions() } catch { fatalError("wait: \(error)") }
            remaining -= frontend.collect { slot, response in
                precondition(response.count == 16, "CLOCK_RATE_GET answered \(response.count) bytes")
                let header = MessageHeader(rawValue: UInt32(littleEndian: response.loadUnaligned(as: UInt32.self)))
                let status = Int32(littleEndian: response.loadUnaligned(fromByteOffset: 4, as: Int32.self))
                precondition(header.token == UInt16(slot) && status == 0, "CLOCK_RATE_GET failed: status \(status)")
            }
        }
    }
}

/// The same ring path with no threads and no eventfds: one thread plays the
/// driver (`DriverQueue`, indirect chains, EVENT_IDX) and then the device
/// (`DeviceQueue.serveAvailable` with serve's `SCMIChainHandler`) over one memfd.
/// What a batch costs in software alone; the threaded batch adds the wake-ups.
final class RingPathRig: @unchecked Sendable {
    // @unchecked: used by one benchmark thread at a time.
    static let queueSize = 256
    static let slotCount = 64
    private static let bufferSize = 256
    private static let slotStride = 2 * bufferSize + 32

    private let memory: SharedMemory
    private let driver: DriverQueue
    private let device: DeviceQueue
    private let handler: SCMIChainHandler
    private let slotOffset: Int
    private let clockID: UInt32

    init() throws {
        let tables = exampleTables()
        let agent = tables.agents.first(where: { $0.name == TransportRig.agentName })!
        clockID = tables.devices.filter { agent.devices.contains($0.id) }.flatMap(\.resources)
            .first(where: { $0.protocolID == .clock })!.id
        var logger = Logger(label: "bench.ring")
        logger.logLevel = .warning
        handler = SCMIChainHandler(session: SCMIPlatform(tables: tables).makeSession(agentID: agent.id)!,
                                   agentName: agent.name, logger: logger, trace: false)

        let ringBytes = (DriverQueue.memorySize(size: Self.queueSize) + 4095) & ~4095
        slotOffset = ringBytes
        memory = try SharedMemory(size: (ringBytes + Self.slotCount * Self.slotStride + 4095) & ~4095,
                                  guestPhysicalAddress: VhostUserFrontend.guestMemoryBase)
        driver = DriverQueue(size: Self.queueSize, area: memory.pointer(offset: 0),
                             areaAddress: memory.guestAddress(offset: 0), eventIndex: true)
        let guestMemory = try GuestMemory(regions: [GuestMemoryRegion(
            guestPhysicalAddress: memory.guestPhysicalAddress, size: UInt64(memory.size),
            userAddress: memory.userAddress, base: memory.base)])
        device = try DeviceQueue(
            configuration: DeviceQueueConfiguration(
                size: Self.queueSize, descriptorTableAddress: driver.descriptorTableAddress,
                availRingAddress: driver.availRingAddress, usedRingAddress: driver.usedRingAddress,
                addressSpace: .guestPhysical, eventIndex: true, indirectDescriptors: true),
            memory: guestMemory)
    }

    /// 64 CLOCK_RATE_GET: add, publish, serve, take back; every answer checked.
    @inline(__always) func batch() {
        for slot in 0 ..< Self.slotCount {
            let request = slotOffset + slot * Self.slotStride
            let response = request + Self.bufferSize
            let table = response + Self.bufferSize
            let header = MessageHeader(protocolID: 0x14, messageID: 0x6, token: UInt16(slot)).rawValue
            memory.pointer(offset: request).storeBytes(of: header.littleEndian, as: UInt32.self)
            memory.pointer(offset: request + 4).storeBytes(of: clockID.littleEndian, as: UInt32.self)
            memory.pointer(offset: response + 4).storeBytes(of: UInt32.max, as: UInt32.self)
            let head = withUnsafeTemporaryAllocation(of: DriverSegment.self, capacity: 2) { pair in
                pair[0] = DriverSegment(address: memory.guestAddress(offset: request), length: 8, writable: false)
                pair[1] = DriverSegment(address: memory.guestAddress(offset: response),
                                        length: UInt32(SCMILimits.maxResponse), writable: true)
                return driver.addIndirectChain(UnsafeBufferPointer(pair), table: memory.pointer(offset: table),
                                               tableAddress: memory.guestAddress(offset: table))
            }
            precondition(head != nil, "ring full")
        }
        _ = driver.publish()
        let handler = self.handler
        let summary = device.serveAvailable(handle: { handler.handle(chain: $0, queueIndex: 0) }, notify: {})
        precondition(summary.chainsServed == Self.slotCount && summary.queueError == nil, "served \(summary)")
        var returned = 0
        while let element = driver.popUsed() {
            precondition(element.length == 16, "CLOCK_RATE_GET answered \(element.length) bytes")
            returned += 1
        }
        precondition(returned == Self.slotCount, "\(returned) answers")
        for slot in 0 ..< Self.slotCount {
            let response = memory.pointer(offset: slotOffset + slot * Self.slotStride + Self.bufferSize)
            let header = MessageHeader(rawValue: UInt32(littleEndian: response.load(as: UInt32.self)))
            let status = Int32(littleEndian: response.load(fromByteOffset: 4, as: Int32.self))
            precondition(header.token == UInt16(slot) && status == 0, "CLOCK_RATE_GET failed: status \(status)")
        }
    }
}

/// Two eventfds and a thread that answers every write on the first with a write
/// on the second: the cheapest cross-thread round trip the kernel offers, i.e.
/// what a kick + call costs with no ring and no SCMI at all.
final class PingPongRig: @unchecked Sendable {
    // @unchecked: the fds are immutable; `stop` is atomic.
    let ping: Int32
    let pong: Int32
    private let stop = Atomic<Bool>(false)
    private var thread: HelperThread?

    /// With `allocatesPerPong`, the answering thread allocates one array per
    /// pong: the control that shows the malloc counter sees other threads.
    init(allocatesPerPong: Bool = false) throws {
        ping = try EventNotifier.create()
        pong = try EventNotifier.create()
        let ping = ping, pong = pong
        thread = HelperThread { [self] in
            while true {
                _ = EventNotifier.consume(ping)
                if stop.load(ordering: .acquiring) { return }
                if allocatesPerPong { blackHole([UInt8](repeating: 1, count: 16)) }
                EventNotifier.signal(pong)
            }
        }
    }

    @inline(__always) func roundTrip() {
        EventNotifier.signal(ping)
        _ = EventNotifier.consume(pong)
    }

    func close() {
        stop.store(true, ordering: .releasing)
        EventNotifier.signal(ping)
        thread?.join()
        thread = nil
        Glibc.close(ping)
        Glibc.close(pong)
    }
}

/// The rig a benchmark uses between its setup and teardown hooks.
final class RigSlot<Rig>: @unchecked Sendable {
    // @unchecked: written by the setup/teardown hooks, read by the benchmark
    // closure; the harness runs them one after another.
    var rig: Rig?
}
