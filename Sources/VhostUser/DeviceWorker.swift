import Glibc
import LinuxIO
import Logging
import Synchronization
import Virtqueue

/// The one thread that serves every running queue of a `VhostUserEventDevice`'s
/// connection and watches the device's own eventfds (rust-vmm's vring worker
/// with device event fds).
///
/// Loop: serve the handled queues (`DeviceQueue.serveAvailable(holding:)`, the
/// same batching and broken-chain handling as `RingWorker`, at most
/// `chainsBetweenDeviceEvents` chains per pass; a pass that used its budget
/// is followed by a poll() that does not sleep), then sleep
/// in one poll() on every kick fd, every device fd and a private stop eventfd;
/// on wake-up consume the kicks, serve kicked handled queues, tell the device
/// about kicked filled queues and readable device fds (`handleEvent`), and
/// publish + notify whatever the device completed or filled meanwhile (one
/// used-index store and at most one call write per queue per wake-up).
///
/// A guest-memory shrink (`GuestMemoryFault`) is checked once per pass, as in
/// `RingWorker`; a queue that faults stops alone (its error fd is written), the
/// others keep running. When the worker stops it returns every chain the device
/// still keeps with length 0, so each chain taken goes back exactly once.
///
/// Stopping: set `stopRequested`, write the stop eventfd, join; the worker only
/// borrows the kick/call/err fds and the device's fds.
final class DeviceWorker: @unchecked Sendable {
    // @unchecked: `lanes` and their queues are used only by the worker thread
    // between start() and the join in stop(); the connection reads them after it.

    /// One running queue.
    final class Lane {
        let queueIndex: Int
        let queue: DeviceQueue
        /// Chains go to `handle` (true) or the device fills the queue itself (false).
        let served: Bool
        let kickFD: Int32
        let callFD: Int32
        let errFD: Int32
        var faulted = false
        /// Completions or fills not yet published.
        var dirty = false
        /// Its kick fd was readable in the last poll.
        var kicked = false
        /// Per head index: 0 when not kept, else the chain's writable length + 1.
        let held: UnsafeMutableBufferPointer<UInt64>
        var heldCount = 0

        init(queueIndex: Int, queue: DeviceQueue, served: Bool, kickFD: Int32, callFD: Int32, errFD: Int32) {
            self.queueIndex = queueIndex
            self.queue = queue
            self.served = served
            self.kickFD = kickFD
            self.callFD = callFD
            self.errFD = errFD
            held = .allocate(capacity: queue.size)
            held.initialize(repeating: 0)
        }

        deinit { held.deallocate() }
    }

    /// Chains served in a row before the worker looks at the device's fds again.
    /// A driver that sends its next request as soon as the reply is on the used
    /// ring keeps one `serveAvailable` pass going; without this bound a device
    /// whose messages pile up meanwhile (virtio-scmi's outbox holds 64
    /// notifications) would drop them. It costs one poll(0) per this many chains.
    static let chainsBetweenDeviceEvents = 32

    let lanes: [Lane]
    /// Queue index -> position in `lanes` (-1: not on this worker).
    private let laneOfQueue: [Int]
    let ackedFeatures: UInt64
    /// Distinguishes this worker's tokens from those of earlier runs.
    let run: UInt64
    private let device: any VhostUserEventDevice
    private let deviceFDs: [Int32]
    private let memoryFault: GuestMemoryFault
    private let statistics: BackendStatistics
    private let loggedCauses: LoggedCauses
    private let logger: Logger
    private let stopFD: Int32
    private let stopRequested = Atomic<Bool>(false)
    private var thread: NativeThread?

    init(lanes: [Lane], queueCount: Int, ackedFeatures: UInt64, run: UInt64, device: any VhostUserEventDevice,
         deviceFDs: [Int32], memoryFault: GuestMemoryFault, statistics: BackendStatistics,
         loggedCauses: LoggedCauses, logger: Logger) throws
    {
        self.lanes = lanes
        var map = [Int](repeating: -1, count: queueCount)
        for (position, lane) in lanes.enumerated() { map[lane.queueIndex] = position }
        laneOfQueue = map
        self.ackedFeatures = ackedFeatures
        self.run = run
        self.device = device
        self.deviceFDs = deviceFDs
        self.memoryFault = memoryFault
        self.statistics = statistics
        self.loggedCauses = loggedCauses
        self.logger = logger
        stopFD = try EventNotifier.create()
    }

    deinit { closeQuietly(stopFD) }

    func start() throws {
        thread = try NativeThread(name: "vhost-device") { [self] in runLoop() }
    }

    /// Stops the thread and waits for it. Idempotent.
    func stop() {
        guard let thread else { return }
        stopRequested.store(true, ordering: .releasing)
        EventNotifier.signal(stopFD)
        thread.join()
        self.thread = nil
    }

    // MARK: For DeviceRings (worker thread only)

    @inline(__always) func lane(_ queueIndex: Int) -> Lane? {
        guard queueIndex >= 0, queueIndex < laneOfQueue.count, laneOfQueue[queueIndex] >= 0 else { return nil }
        let lane = lanes[laneOfQueue[queueIndex]]
        return lane.faulted ? nil : lane
    }

    func heldWritableLength(_ held: HeldChain) -> UInt64? {
        guard held.run == run, let lane = lane(held.queueIndex), Int(held.headIndex) < lane.queue.size else { return nil }
        let entry = lane.held[Int(held.headIndex)]
        return entry == 0 ? nil : entry - 1
    }

    func withHeldChain<R>(_ held: HeldChain, _ body: (DescriptorChain) -> R) -> R? {
        guard heldWritableLength(held) != nil, let lane = lane(held.queueIndex) else { return nil }
        guard case .chain(let chain) = lane.queue.rewalkChain(headIndex: held.headIndex) else { return nil }
        return body(chain)
    }

    func complete(_ held: HeldChain, length: UInt32) -> Bool {
        guard let writable = heldWritableLength(held), let lane = lane(held.queueIndex) else { return false }
        lane.held[Int(held.headIndex)] = 0
        lane.heldCount -= 1
        lane.queue.complete(headIndex: held.headIndex, length: UInt32(min(UInt64(length), writable)))
        lane.dirty = true
        return true
    }

    func fill(queueIndex: Int, _ body: (DescriptorChain) -> UInt32) -> Bool {
        guard let lane = lane(queueIndex), !lane.served, !memoryFault.hasOccurred else { return false }
        let queue = lane.queue
        // A guest that keeps posting broken chains cannot hold the worker here.
        var brokenBudget = queue.size
        while brokenBudget > 0 {
            guard let pending = queue.availableCount() else {
                fault(lane)
                return false
            }
            if pending == 0 {
                if queue.prepareForKick() { continue }
                return false
            }
            switch queue.nextChain() {
            case .chain(let chain):
                let written = body(chain)
                queue.complete(headIndex: chain.headIndex, length: min(written, UInt32(truncatingIfNeeded: chain.writableLength)))
                lane.dirty = true
                return true
            case .broken(let head, let cause):
                recordBroken(cause, queueIndex: queueIndex)
                queue.complete(headIndex: head, length: 0)
                lane.dirty = true
                brokenBudget -= 1
            }
        }
        return false
    }

    // MARK: The thread

    private func runLoop() {
        let laneCount = lanes.count
        // Built once: kicks, then the device's fds, then the stop fd.
        var watched = lanes.map { pollfd(fd: $0.kickFD, events: Int16(POLLIN), revents: 0) }
        watched += deviceFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        watched.append(pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0))
        let rings = DeviceRings(worker: self)
        var again = serveHandled()
        if !stopped() {
            device.handleEvent(.started, rings: rings)
            publishDirty()
        }
        while !stopRequested.load(ordering: .acquiring) {
            if memoryFault.hasOccurred { break }
            // After a pass that ran out of budget, look (without sleeping) at the
            // kicks and the device's fds before serving on: a driver that keeps the
            // cmdq busy must not starve the device's own events.
            let timeout: Int32 = again ? 0 : -1
            let ready = watched.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) }
            if ready < 0 { continue }  // EINTR
            if stopRequested.load(ordering: .acquiring) { break }
            for position in 0..<laneCount where watched[position].revents != 0 {
                watched[position].revents = 0
                _ = EventNotifier.consume(lanes[position].kickFD)
                lanes[position].kicked = true
            }
            // Handled queues are all looked at (a load of avail.idx each when idle).
            again = serveHandled()
            if memoryFault.hasOccurred { break }
            for lane in lanes where lane.kicked {
                lane.kicked = false
                guard !lane.served, !lane.faulted else { continue }
                device.handleEvent(.queueKicked(lane.queueIndex), rings: rings)
                publishDirty()
            }
            for index in deviceFDs.indices where watched[laneCount + index].revents != 0 {
                watched[laneCount + index].revents = 0
                device.handleEvent(.device(index), rings: rings)
                publishDirty()
            }
        }
        if !memoryFault.hasOccurred { returnHeldChains() }
        // Whatever was read after a fault came from zero pages: nothing more is
        // served; the control thread closes the connection.
        while !stopRequested.load(ordering: .acquiring) {
            _ = waitReadable(stopFD, timeoutMilliseconds: -1)
        }
    }

    private func stopped() -> Bool { stopRequested.load(ordering: .acquiring) || memoryFault.hasOccurred }

    /// Serves the handled lanes; true when a budget ran out and they must be
    /// served again before sleeping.
    private func serveHandled() -> Bool {
        var again = false
        let rings = DeviceRings(worker: self)
        let device = self.device
        let statistics = self.statistics
        for lane in lanes where lane.served && !lane.faulted {
            let queueIndex = lane.queueIndex
            let queue = lane.queue
            let summary = queue.serveAvailable(
                chainBudget: Self.chainsBetweenDeviceEvents,
                holding: { chain in
                    statistics.chainsServed.add(1, ordering: .relaxed)
                    statistics.chainsServedThisConnection.add(1, ordering: .relaxed)
                    switch device.handle(chain: chain, queueIndex: queueIndex, rings: rings) {
                    case .completed(let written):
                        return written
                    case .held:
                        if lane.held[Int(chain.headIndex)] == 0 { lane.heldCount += 1 }
                        lane.held[Int(chain.headIndex)] = UInt64(chain.writableLength) + 1
                        return nil
                    }
                },
                broken: { cause in self.recordBroken(cause, queueIndex: queueIndex) },
                notify: { if lane.callFD >= 0 { EventNotifier.signal(lane.callFD) } })
            if memoryFault.hasOccurred { return false }
            if summary.queueError != nil {
                fault(lane)
                continue
            }
            again = again || summary.budgetExhausted
        }
        publishDirty()
        return again
    }

    /// One used-index store and at most one call per lane the device touched.
    private func publishDirty() {
        if memoryFault.hasOccurred { return }
        for lane in lanes where lane.dirty && !lane.faulted {
            lane.dirty = false
            if lane.queue.publishUsed(), lane.callFD >= 0 { EventNotifier.signal(lane.callFD) }
        }
    }

    /// Every chain still kept goes back with length 0: the driver waits for none.
    private func returnHeldChains() {
        for lane in lanes where lane.heldCount > 0 && !lane.faulted {
            for head in 0..<lane.queue.size where lane.held[head] != 0 {
                lane.held[head] = 0
                lane.queue.complete(headIndex: UInt16(head), length: 0)
            }
            lane.heldCount = 0
            lane.dirty = true
        }
        publishDirty()
    }

    private func fault(_ lane: Lane) {
        lane.faulted = true
        let text = lane.queue.error.map { "\($0)" } ?? "queue error"
        logger.error("queue \(lane.queueIndex) stopped: \(text)")
        statistics.recordError("queue \(lane.queueIndex): \(text)")
        if lane.errFD >= 0 { EventNotifier.signal(lane.errFD) }
    }

    /// As `RingWorker.recordBroken`: counted, logged once per cause per connection.
    private func recordBroken(_ cause: ChainError, queueIndex: Int) {
        if memoryFault.hasOccurred { return }
        statistics.brokenChains.add(1, ordering: .relaxed)
        var causes = ChainErrorSet()
        causes.insert(cause)
        guard !loggedCauses.firstTime(causes).isEmpty else { return }
        logger.warning("guest put a broken chain on queue \(queueIndex): \(cause); returned with length 0 (logged once per cause)")
        statistics.recordError("queue \(queueIndex): \(cause)")
    }
}
