import CLinuxShim
import Glibc
import LinuxIO
import Virtqueue

/// How a frontend sets itself up.
public struct VhostUserFrontendOptions: Sendable {
    /// Size of every queue it starts (QEMU's vhost-user-scmi uses 256).
    public var queueSize = 256
    /// Request/response slots; each holds one request buffer and one response buffer.
    public var slotCount = 64
    /// Bytes of each request buffer and each response buffer.
    public var bufferSize = 4096
    /// Ring features to accept when offered (VERSION_1 and PROTOCOL_FEATURES always are).
    public var wantedFeatures: UInt64 = VirtioFeatures.eventIndex | VirtioFeatures.indirectDescriptors
        | VirtioFeatures.notifyOnEmpty
    /// Device-specific feature bits to accept when offered.
    public var wantedDeviceFeatures: UInt64 = 0
    /// Also start queue 1 and fill it with writable buffers, as a guest fills
    /// virtio-scmi's eventq.
    public var startsEventQueue = false
    public var eventBufferCount = 16
    public var eventBufferSize = 136
    /// Scratch bytes at the end of guest memory for hand-made descriptors and tables.
    public var scratchSize = 65536
    /// How long to wait for a reply on the socket, and for used buffers.
    public var replyTimeoutMilliseconds: Int32 = 5000
    public var completionTimeoutMilliseconds: Int32 = 10_000
    /// How long `waitForCompletions` looks at the used ring before it sleeps on
    /// the call eventfd, with used-buffer notifications suppressed meanwhile, as
    /// Linux's SCMI core polls for atomic transfers (virtio-scmi's poll_done
    /// reads the used ring instead of waiting for the interrupt). Bounded by
    /// `maximumMicroseconds`; adaptive as the backend's ring polling (see
    /// `RingPolling`). `.off`: sleep at once, as a guest waiting for its interrupt.
    public var completionPolling: RingPolling = .off

    public init() {}
}

/// A vhost-user frontend: does what QEMU does for a vhost-user-scmi device, then
/// drives queue 0 like a guest driver. For `scmi-dt call`, tests and benchmarks.
///
/// Memory: one memfd (guest-physical 0x4000_0000) holding the rings, the slots
/// (request buffer, response buffer, 32-byte indirect table each), event buffers
/// and a scratch area. Notifiers: one kick, call and err eventfd per started queue
/// (blocking, so the backend's worker sleeps in a plain read()).
///
/// Not thread-safe: one thread uses a frontend.
public final class VhostUserFrontend {
    public static let guestMemoryBase: UInt64 = 0x4000_0000

    public let options: VhostUserFrontendOptions
    public let channel: VhostUserChannel
    /// What the backend offered and what was acked.
    public private(set) var offeredFeatures: UInt64 = 0
    public private(set) var ackedFeatures: UInt64 = 0
    public private(set) var protocolFeatures: UInt64 = 0
    /// GET_QUEUE_NUM's answer (when MQ was offered).
    public private(set) var backendQueueCount: Int?
    public let memory: SharedMemory

    private var queues: [DriverQueue] = []
    private var kickFDs: [Int32] = []
    private var callFDs: [Int32] = []
    private var errFDs: [Int32] = []
    private let queueCount: Int

    // Memory layout (offsets into `memory`).
    private let ringOffsets: [Int]
    private let slotOffset: Int
    private let slotStride: Int
    private let eventBufferOffset: Int
    /// Offset and size of the scratch area.
    public let scratchOffset: Int

    /// Per slot: the response capacity of its chain in flight, or -1 when free.
    /// Per descriptor head on queue 0: the slot whose chain it heads, or -1.
    /// Buffers allocated once, so that submit/collect run without array
    /// uniqueness or exclusivity checks (benchmarks time this path).
    private let slotResponseCapacity: UnsafeMutableBufferPointer<Int>
    private let slotOfHead: UnsafeMutableBufferPointer<Int>
    /// Per descriptor head on queue 1: the offset of the eventq buffer it holds, or -1.
    private var eventBufferOfHead: [Int]
    private var isClosed = false
    /// `options.completionPolling`'s window as it adapts.
    private var completionWindow: PollWindow

    /// Connects to `socketPath` and negotiates like QEMU 10 (docs/protocol.md §25):
    /// GET_FEATURES, GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_OWNER,
    /// GET_FEATURES, SET_VRING_CALL/ERR, SET_FEATURES, SET_MEM_TABLE, then per
    /// started queue SET_VRING_NUM/BASE/ADDR/KICK/CALL, and SET_VRING_ENABLE.
    public init(socketPath: String, options: VhostUserFrontendOptions = VhostUserFrontendOptions()) throws {
        guard SplitRing.isValidSize(options.queueSize), options.slotCount >= 1, options.bufferSize >= 1 else {
            throw VhostUserError.invalidArgument("queue size must be a power of 2, slots and buffers non-empty")
        }
        self.options = options
        queueCount = options.startsEventQueue ? 2 : 1

        // Layout: rings (4 KiB aligned), slots, event buffers, scratch.
        let ringBytes = (DriverQueue.memorySize(size: options.queueSize) + 4095) & ~4095
        ringOffsets = [0, ringBytes]
        slotOffset = 2 * ringBytes
        slotStride = (2 * options.bufferSize + 32 + 15) & ~15
        eventBufferOffset = slotOffset + options.slotCount * slotStride
        scratchOffset = (eventBufferOffset + options.eventBufferCount * options.eventBufferSize + 4095) & ~4095
        let totalSize = (scratchOffset + options.scratchSize + 4095) & ~4095
        memory = try SharedMemory(size: totalSize, guestPhysicalAddress: Self.guestMemoryBase)

        channel = try VhostUserChannel.connect(to: socketPath)
        // Allocated once every stored property is set, so deinit frees them on every path.
        slotResponseCapacity = .allocate(capacity: options.slotCount)
        slotResponseCapacity.initialize(repeating: -1)
        slotOfHead = .allocate(capacity: options.queueSize)
        slotOfHead.initialize(repeating: -1)
        eventBufferOfHead = Array(repeating: -1, count: options.queueSize)
        completionWindow = PollWindow(options.completionPolling)
        do {
            try negotiate()
        } catch {
            closeNotifiers()
            channel.close()
            isClosed = true
            throw error as? VhostUserError == .disconnected ? VhostUserError.closedDuringNegotiation : error
        }
    }

    deinit {
        close()
        slotResponseCapacity.deallocate()
        slotOfHead.deallocate()
    }

    // MARK: Negotiation

    private var replyAck: Bool { protocolFeatures & VhostUserProtocolFeatures.replyAck != 0 }

    /// Sends a request without a reply body; with REPLY_ACK and `acknowledged`,
    /// asks for and checks the acknowledgement.
    public func send(_ request: VhostUserRequest, payload: [UInt8] = [], fileDescriptors: [Int32] = [],
                     acknowledged: Bool = false) throws
    {
        let wantsAck = acknowledged && replyAck
        try channel.send(request: request.rawValue,
                         flags: VhostUserFlags.version | (wantsAck ? VhostUserFlags.needReply : 0),
                         payload: payload, fileDescriptors: fileDescriptors)
        if wantsAck {
            let reply = try channel.receiveReply(to: request, payloadSize: U64Payload.size,
                                                 timeoutMilliseconds: options.replyTimeoutMilliseconds)
            guard U64Payload.decode(reply) == 0 else { throw VhostUserError.requestRejected(request) }
        }
    }

    /// Sends a request that has a reply body and returns it.
    public func query(_ request: VhostUserRequest, payload: [UInt8] = [], replySize: Int) throws -> [UInt8] {
        try channel.send(request: request.rawValue, flags: VhostUserFlags.version, payload: payload)
        return try channel.receiveReply(to: request, payloadSize: replySize,
                                        timeoutMilliseconds: options.replyTimeoutMilliseconds)
    }

    private func queryU64(_ request: VhostUserRequest) throws -> UInt64 {
        U64Payload.decode(try query(request, replySize: U64Payload.size))!
    }

    private func negotiate() throws {
        offeredFeatures = try queryU64(.getFeatures)
        guard offeredFeatures & VirtioFeatures.version1 != 0 else {
            throw VhostUserError.missingFeature("VIRTIO_F_VERSION_1")
        }
        if offeredFeatures & VirtioFeatures.protocolFeatures != 0 {
            let offeredProtocol = try queryU64(.getProtocolFeatures)
            protocolFeatures = offeredProtocol
                & (VhostUserProtocolFeatures.multipleQueues | VhostUserProtocolFeatures.replyAck)
            try send(.setProtocolFeatures, payload: U64Payload.encode(protocolFeatures))
            if protocolFeatures & VhostUserProtocolFeatures.multipleQueues != 0 {
                let count = Int(try queryU64(.getQueueNum))
                backendQueueCount = count
                guard count >= queueCount else {
                    throw VhostUserError.missingFeature("\(queueCount) queues (it has \(count))")
                }
            }
        }
        try send(.setOwner)
        _ = try queryU64(.getFeatures)

        for _ in 0..<queueCount {
            kickFDs.append(try EventNotifier.create())
            callFDs.append(try EventNotifier.create())
            errFDs.append(try EventNotifier.create())
        }
        for index in 0..<queueCount {
            try send(.setVringCall, payload: U64Payload.encode(UInt64(index)), fileDescriptors: [callFDs[index]])
            try send(.setVringErr, payload: U64Payload.encode(UInt64(index)), fileDescriptors: [errFDs[index]])
        }

        ackedFeatures = offeredFeatures
            & (VirtioFeatures.version1 | VirtioFeatures.protocolFeatures | options.wantedFeatures
                | options.wantedDeviceFeatures)
        try send(.setFeatures, payload: U64Payload.encode(ackedFeatures))
        try send(.setMemTable, payload: MemoryTablePayload.encode([memory.regionDescription]),
                 fileDescriptors: [memory.fileDescriptor], acknowledged: true)

        let eventIndex = ackedFeatures & VirtioFeatures.eventIndex != 0
        for index in 0..<queueCount {
            let queue = DriverQueue(size: options.queueSize, area: memory.pointer(offset: ringOffsets[index]),
                                    areaAddress: memory.guestAddress(offset: ringOffsets[index]),
                                    eventIndex: eventIndex)
            queues.append(queue)
            let toUser = memory.userAddress &- memory.guestPhysicalAddress
            try send(.setVringNum, payload: VringState(index: UInt32(index), number: UInt32(options.queueSize)).payload)
            try send(.setVringBase, payload: VringState(index: UInt32(index), number: 0).payload)
            try send(.setVringAddr, payload: VringAddress(
                index: UInt32(index), descriptorTable: queue.descriptorTableAddress &+ toUser,
                usedRing: queue.usedRingAddress &+ toUser, availRing: queue.availRingAddress &+ toUser).payload)
            try send(.setVringKick, payload: U64Payload.encode(UInt64(index)), fileDescriptors: [kickFDs[index]])
            try send(.setVringCall, payload: U64Payload.encode(UInt64(index)), fileDescriptors: [callFDs[index]])
        }
        for index in 0..<queueCount {
            try setVringEnable(index, true)
        }
        if options.startsEventQueue { try postEventBuffers() }
    }

    /// SET_VRING_ENABLE, acknowledged (REPLY_ACK) or followed by GET_FEATURES as a barrier.
    public func setVringEnable(_ index: Int, _ enabled: Bool) throws {
        let payload = VringState(index: UInt32(index), number: enabled ? 1 : 0).payload
        if replyAck {
            try send(.setVringEnable, payload: payload, acknowledged: true)
        } else {
            try send(.setVringEnable, payload: payload)
            _ = try queryU64(.getFeatures)
        }
    }

    private func postEventBuffers() throws {
        let queue = queues[1]
        for index in 0..<min(options.eventBufferCount, options.queueSize) {
            postEventBuffer(at: eventBufferOffset + index * options.eventBufferSize)
        }
        if queue.publish() { EventNotifier.signal(kickFDs[1]) }
    }

    /// Adds the eventq buffer at `offset` to queue 1 (not yet published).
    private func postEventBuffer(at offset: Int) {
        var segment = DriverSegment(address: memory.guestAddress(offset: offset),
                                    length: UInt32(options.eventBufferSize), writable: true)
        let head = withUnsafePointer(to: &segment) { queues[1].addChain(UnsafeBufferPointer(start: $0, count: 1)) }
        if let head { eventBufferOfHead[Int(head)] = offset }
    }

    /// Waits up to `timeoutMilliseconds` for platform → agent messages on the
    /// eventq (with `startsEventQueue`), hands each to `body` (the bytes the
    /// device wrote; empty for a buffer it returned unused) and posts its
    /// buffer again, as a guest's driver does. Returns how many it handed over.
    public func receiveEvents(timeoutMilliseconds: Int32, _ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        guard queueCount == 2, !isClosed else { return 0 }
        let queue = queues[1]
        var count = 0
        func drain() {
            while let element = queue.popUsed() {
                let head = Int(element.id)
                guard head < eventBufferOfHead.count, eventBufferOfHead[head] >= 0 else { continue }
                let offset = eventBufferOfHead[head]
                eventBufferOfHead[head] = -1
                let length = min(Int(element.length), options.eventBufferSize)
                body(UnsafeRawBufferPointer(start: memory.pointer(offset: offset), count: length))
                count += 1
                postEventBuffer(at: offset)
            }
        }
        drain()
        if count == 0, queue.prepareForNotification() || waitForCall(queue: 1, timeoutMilliseconds: timeoutMilliseconds) {
            drain()
        }
        if count > 0, queue.publish() { EventNotifier.signal(kickFDs[1]) }
        return count
    }

    // MARK: Exchanging messages

    public var slotCount: Int { options.slotCount }

    private func requestOffset(_ slot: Int) -> Int { slotOffset + slot * slotStride }
    private func responseOffset(_ slot: Int) -> Int { requestOffset(slot) + options.bufferSize }
    private func tableOffset(_ slot: Int) -> Int { requestOffset(slot) + 2 * options.bufferSize }

    /// Where to write slot `slot`'s request (`bufferSize` bytes).
    public func requestBuffer(slot: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: memory.pointer(offset: requestOffset(slot)), count: options.bufferSize)
    }

    /// Adds slot `slot`'s request (`requestLength` bytes already in its request
    /// buffer) with room for `responseCapacity` bytes of answer. Not visible to the
    /// backend before `kick()`. Uses one indirect descriptor when negotiated.
    public func submit(slot: Int, requestLength: Int, responseCapacity: Int) throws {
        guard slot >= 0, slot < options.slotCount, slotResponseCapacity[slot] < 0 else {
            throw VhostUserError.invalidArgument("slot \(slot) is out of range or in flight")
        }
        guard requestLength >= 0, requestLength <= options.bufferSize, responseCapacity >= 0,
              responseCapacity <= options.bufferSize
        else {
            throw VhostUserError.invalidArgument("request or response larger than \(options.bufferSize) bytes")
        }
        let queue = queues[0]
        let head: UInt16? = withUnsafeTemporaryAllocation(of: DriverSegment.self, capacity: 2) { pair in
            pair[0] = DriverSegment(address: memory.guestAddress(offset: requestOffset(slot)),
                                    length: UInt32(requestLength), writable: false)
            pair[1] = DriverSegment(address: memory.guestAddress(offset: responseOffset(slot)),
                                    length: UInt32(responseCapacity), writable: true)
            let chain = UnsafeBufferPointer(pair)
            if ackedFeatures & VirtioFeatures.indirectDescriptors != 0 {
                return queue.addIndirectChain(chain, table: memory.pointer(offset: tableOffset(slot)),
                                              tableAddress: memory.guestAddress(offset: tableOffset(slot)))
            }
            return queue.addChain(chain)
        }
        guard let head else { throw VhostUserError.invalidArgument("queue 0 is full") }
        slotResponseCapacity[slot] = responseCapacity
        slotOfHead[Int(head)] = slot
    }

    /// Publishes everything submitted and kicks when the backend wants a kick.
    public func kick() {
        guard !isClosed else { return }
        if queues[0].publish() { EventNotifier.signal(kickFDs[0]) }
    }

    /// Waits until the backend has returned something on queue 0 (returns at once
    /// when it already has). With `completionPolling`, it first looks at the used
    /// ring, notifications suppressed, for up to the window; then (or at once
    /// without) it asks for a notification and, with `timeoutMilliseconds` nil,
    /// blocks in read() on the call eventfd; otherwise it throws `.timedOut`
    /// after that long.
    public func waitForCompletions(timeoutMilliseconds: Int32? = nil) throws {
        guard !isClosed else { throw VhostUserError.disconnected }
        let queue = queues[0]
        // While it polls, notifications stay suppressed, also across a wait
        // that finds its answers already there.
        let looks = completionWindow.current > 0
        if looks { queue.suppressNotifications() }
        if queue.hasUsed { return }
        var sleepStart: UInt64 = 0
        if completionWindow.maximum > 0 {
            if looks {
                // As the ring worker: another task taking this CPU during the look shrinks the window.
                let switches = shim_thread_context_switches()
                let found = spin(for: completionWindow.current) { queue.hasUsed }
                if shim_thread_context_switches() != switches { completionWindow.contended() }
                if found { return }
            }
            sleepStart = monotonicNanoseconds()
        }
        defer { if sleepStart != 0 { completionWindow.slept(monotonicNanoseconds() &- sleepStart) } }
        while !queue.prepareForNotification() {
            if let timeout = timeoutMilliseconds {
                // Also watch the socket: the backend never speaks unasked, so
                // anything there (EOF above all) means it went away.
                var watched = [pollfd(fd: callFDs[0], events: Int16(POLLIN), revents: 0),
                               pollfd(fd: channel.fileDescriptor, events: Int16(POLLIN), revents: 0)]
                let ready = poll(&watched, 2, timeout)
                if ready < 0 && errno == EINTR { continue }
                guard ready > 0 else { throw VhostUserError.timedOut("used buffers on queue 0") }
                if watched[1].revents != 0 && watched[0].revents == 0 { throw VhostUserError.disconnected }
            }
            _ = EventNotifier.consume(callFDs[0])
        }
    }

    /// Hands each returned response to `body` (slot, bytes written by the backend,
    /// clamped to the capacity given) and frees its slot. Returns how many.
    @discardableResult
    public func collect(_ body: (_ slot: Int, _ response: UnsafeRawBufferPointer) -> Void) -> Int {
        var count = 0
        while let element = queues[0].popUsed() {
            guard element.id < UInt32(options.queueSize) else { continue }
            let slot = slotOfHead[Int(element.id)]
            guard slot >= 0 else { continue }  // a hand-made chain: not a slot's
            slotOfHead[Int(element.id)] = -1
            let length = min(Int(element.length), slotResponseCapacity[slot])
            slotResponseCapacity[slot] = -1
            body(slot, UnsafeRawBufferPointer(start: memory.pointer(offset: responseOffset(slot)), count: length))
            count += 1
        }
        return count
    }

    /// Slots with a request in flight.
    public var slotsInFlight: Int { slotResponseCapacity.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// Sends one request and returns the answer (one in flight).
    public func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8] {
        try exchange(requests: [request], responseCapacity: responseCapacity)[0]
    }

    /// Sends several requests with one kick per round of `slotCount` and returns
    /// the answers in order.
    public func exchange(requests: [[UInt8]], responseCapacity: Int) throws -> [[UInt8]] {
        guard slotsInFlight == 0 else { throw VhostUserError.invalidArgument("requests already in flight") }
        var answers = [[UInt8]](repeating: [], count: requests.count)
        var start = 0
        while start < requests.count {
            let round = min(requests.count - start, options.slotCount, maximumChainsInFlight)
            for slot in 0..<round {
                let request = requests[start + slot]
                guard request.count <= options.bufferSize else {
                    throw VhostUserError.invalidArgument("a request of \(request.count) bytes (at most \(options.bufferSize))")
                }
                let buffer = requestBuffer(slot: slot)
                request.withUnsafeBytes { buffer.copyMemory(from: $0) }
                try submit(slot: slot, requestLength: request.count, responseCapacity: responseCapacity)
            }
            kick()
            var remaining = round
            while remaining > 0 {
                try waitForCompletions(timeoutMilliseconds: options.completionTimeoutMilliseconds)
                remaining -= collect { slot, response in answers[start + slot] = Array(response) }
            }
            start += round
        }
        return answers
    }

    /// How many chains queue 0 can hold at once (two descriptors each unless indirect).
    public var maximumChainsInFlight: Int {
        ackedFeatures & VirtioFeatures.indirectDescriptors != 0 ? options.queueSize : options.queueSize / 2
    }

    // MARK: Low-level hooks (tests)

    /// The driver side of queue `index` (0, or 1 with `startsEventQueue`).
    public func driverQueue(_ index: Int) -> DriverQueue { queues[index] }

    /// Publishes nothing; just writes the kick eventfd of queue `index`.
    public func kick(queue index: Int) {
        guard index < kickFDs.count else { return }
        EventNotifier.signal(kickFDs[index])
    }

    /// Waits for (and clears) a used-buffer notification on queue `index`.
    public func waitForCall(queue index: Int, timeoutMilliseconds: Int32) -> Bool {
        index < callFDs.count && EventNotifier.wait(callFDs[index], timeoutMilliseconds: timeoutMilliseconds)
    }

    /// The call eventfd of queue `index` (nil when that queue was not started),
    /// for a user that waits in its own poll(), possibly on another thread
    /// than the one using the frontend (SCMIUpstream's VhostUserLink). It is
    /// closed by `close()`/`disconnect()`: whoever polls it after that must
    /// hold its own duplicate. Reading it clears the notification, as
    /// `waitForCall` does.
    public func callNotifier(queue index: Int) -> Int32? {
        index < callFDs.count ? callFDs[index] : nil
    }

    /// Waits for (and clears) the error notifier of queue `index`.
    public func waitForError(queue index: Int, timeoutMilliseconds: Int32) -> Bool {
        index < errFDs.count && EventNotifier.wait(errFDs[index], timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Local pointer and guest-physical address of scratch byte `offset`.
    public func scratch(offset: Int) -> (pointer: UnsafeMutableRawPointer, guestAddress: UInt64) {
        precondition(offset >= 0 && offset < options.scratchSize)
        return (memory.pointer(offset: scratchOffset + offset), memory.guestAddress(offset: scratchOffset + offset))
    }

    // MARK: Closing

    /// Stops the queues like QEMU at guest shutdown (SET_VRING_ENABLE 0, then
    /// GET_VRING_BASE per started queue), then closes the socket. Returns the
    /// next-avail indexes the backend reported; errors on the way are ignored.
    @discardableResult
    public func close() -> [UInt16] {
        guard !isClosed else { return [] }
        isClosed = true
        var bases: [UInt16] = []
        for index in 0..<queues.count {
            try? setVringEnable(index, false)
        }
        for index in 0..<queues.count {
            if let reply = try? query(.getVringBase, payload: VringState(index: UInt32(index), number: 0).payload,
                                      replySize: VringState.size),
               let state = VringState(payload: reply)
            {
                bases.append(UInt16(truncatingIfNeeded: state.number))
            }
        }
        channel.close()
        closeNotifiers()
        return bases
    }

    /// Drops the connection without any goodbye (a crashing VMM).
    public func disconnect() {
        guard !isClosed else { return }
        isClosed = true
        channel.close()
        closeNotifiers()
    }

    private func closeNotifiers() {
        closeAll(kickFDs + callFDs + errFDs)
        kickFDs = []
        callFDs = []
        errFDs = []
    }
}
