import CLinuxShim
import Glibc
import LinuxIO
import Logging
import Synchronization
import Virtqueue

/// The thread that serves one running vring.
///
/// Loop: serve everything available (`DeviceQueue.serveAvailable`: chains to the
/// handler, one used-index store and at most one call-eventfd write per pass,
/// re-arm kicks and re-check before sleeping), then sleep in `read()` on the kick
/// eventfd. It serves what is already in the ring before the first sleep, which
/// covers a kick that arrived before the ring was enabled.
///
/// Per batch that costs one kick read and one call write, no allocation. QEMU's
/// kick eventfds are non-blocking (their file status flags are shared with QEMU,
/// whose own read at vhost stop would hang if we cleared O_NONBLOCK), so for those
/// the worker first waits in poll(): one extra syscall per sleep, none per message.
///
/// With a `RingPolling` window (and EVENT_IDX), after a batch the worker keeps
/// looking at the available ring, kicks disarmed, for up to the window before it
/// arms them and sleeps: a guest that sends again within the window costs neither
/// a kick nor a wake-up. Each look is an acquire load; between looks the CPU is
/// told it spins, and every 32 the thread yields, so a frontend thread on the same
/// CPU still runs. No allocation either way.
///
/// Stopping: set `stopRequested`, add 1 to the kick eventfd, join. The worker only
/// borrows the fds; the connection closes them after the join.
///
/// A shrink of guest memory under the mapping (see `GuestMemoryFault`) is checked
/// once per batch, one relaxed load: after it the worker serves nothing more and
/// logs nothing about what it read from the zero pages; the control thread, woken
/// by the SIGBUS guard, reports it and closes the connection.
final class RingWorker: @unchecked Sendable {
    // @unchecked: `queue` is used only by the worker thread between start() and
    // the join in stop(); the connection reads it only after that join.

    let queueIndex: Int
    let queue: DeviceQueue
    private let memoryFault: GuestMemoryFault
    private let handler: HandlerReference
    private let kickFD: Int32
    private let callFD: Int32
    private let errFD: Int32
    private let kickIsNonblocking: Bool
    private let stopRequested = Atomic<Bool>(false)
    private let statistics: BackendStatistics
    private let loggedCauses: LoggedCauses
    private let logger: Logger
    private let polling: RingPolling
    private var thread: NativeThread?

    init(queueIndex: Int, queue: DeviceQueue, memoryFault: GuestMemoryFault, handler: HandlerReference,
         kickFD: Int32, callFD: Int32, errFD: Int32, statistics: BackendStatistics, loggedCauses: LoggedCauses,
         logger: Logger, polling: RingPolling = .off)
    {
        self.polling = polling
        self.queueIndex = queueIndex
        self.queue = queue
        self.memoryFault = memoryFault
        self.handler = handler
        self.kickFD = kickFD
        self.callFD = callFD
        self.errFD = errFD
        kickIsNonblocking = EventNotifier.isNonblocking(kickFD)
        self.statistics = statistics
        self.loggedCauses = loggedCauses
        self.logger = logger
    }

    func start() throws {
        thread = try NativeThread(name: "vhost-ring\(queueIndex)") { [self] in run() }
    }

    /// Stops the thread and waits for it. Idempotent.
    func stop() {
        guard let thread else { return }
        stopRequested.store(true, ordering: .releasing)
        EventNotifier.signal(kickFD)
        thread.join()
        self.thread = nil
    }

    private func run() {
        let handler = self.handler.handler
        let queueIndex = self.queueIndex
        let callFD = self.callFD
        let statistics = self.statistics
        let memoryFault = self.memoryFault
        let budget = 4 * queue.size  // bounds one serve call, so a flood cannot delay stop()
        // Polling disarms kicks through avail_event, which only EVENT_IDX has.
        let polls = polling.maximumMicroseconds > 0 && queue.configuration.eventIndex
        var window = PollWindow(polling)
        while !stopRequested.load(ordering: .acquiring) {
            let summary = queue.serveAvailable(
                chainBudget: budget,
                armingKicks: !polls,
                handle: { chain in
                    // Counted before the answer is published, so a status read
                    // after a reply always includes it. Relaxed atomics: no syscall.
                    statistics.chainsServed.add(1, ordering: .relaxed)
                    statistics.chainsServedThisConnection.add(1, ordering: .relaxed)
                    return handler.handle(chain: chain, queueIndex: queueIndex)
                },
                broken: { cause in self.recordBroken(cause) },
                notify: { if callFD >= 0 { EventNotifier.signal(callFD) } })
            // Whatever this batch read after the fault came from zero pages, and
            // what it wrote went to them: nothing of it reached the guest.
            if memoryFault.hasOccurred {
                waitForStop()
                return
            }
            if let fault = summary.queueError {
                report(fault)
                waitForStop()
                return
            }
            if summary.budgetExhausted { continue }
            if polls {
                if window.current > 0 {
                    // As vhost polls only while nothing else wants the CPU: a context
                    // switch during the poll (another task ran here) shrinks the window.
                    let switches = shim_thread_context_switches()
                    let found = pollAvailable(for: window.current)
                    if shim_thread_context_switches() != switches { window.contended() }
                    if found { continue }
                }
                if queue.prepareForKick() { continue }  // made available while arming
                let sleepStart = monotonicNanoseconds()
                waitForKick()
                window.slept(monotonicNanoseconds() &- sleepStart)
                continue
            }
            waitForKick()
        }
    }

    /// Looks at the available ring until something is there (true), a stop is
    /// requested (true: the loop ends), or `nanoseconds` pass (false). A ring in
    /// error counts as something: `serveAvailable` reports it.
    private func pollAvailable(for nanoseconds: UInt64) -> Bool {
        spin(for: nanoseconds) { stopRequested.load(ordering: .relaxed) || queue.availableCount() != 0 }
    }

    @inline(__always) private func waitForKick() {
        if kickIsNonblocking { _ = waitReadable(kickFD, timeoutMilliseconds: -1) }
        _ = EventNotifier.consume(kickFD)
    }

    /// A faulted queue takes nothing more; it only waits to be stopped.
    private func waitForStop() {
        while !stopRequested.load(ordering: .acquiring) { waitForKick() }
    }

    /// Counts a broken chain and logs its cause the first time on this connection
    /// (a guest cannot flood the log). Runs before the chain is published.
    private func recordBroken(_ cause: ChainError) {
        if memoryFault.hasOccurred { return }  // zero pages, not the guest's doing
        statistics.brokenChains.add(1, ordering: .relaxed)
        var causes = ChainErrorSet()
        causes.insert(cause)
        guard !loggedCauses.firstTime(causes).isEmpty else { return }
        logger.warning("guest put a broken chain on queue \(queueIndex): \(cause); returned with length 0 (logged once per cause)")
        statistics.recordError("queue \(queueIndex): \(cause)")
    }

    private func report(_ fault: QueueError) {
        logger.error("queue \(queueIndex) stopped: \(fault)")
        statistics.recordError("queue \(queueIndex): \(fault)")
        if errFD >= 0 { EventNotifier.signal(errFD) }
    }
}

/// The broken-chain causes already logged on one connection.
final class LoggedCauses: Sendable {
    private let bits = Atomic<UInt32>(0)

    /// The causes of `causes` not logged before (and now marked as logged).
    func firstTime(_ causes: ChainErrorSet) -> ChainErrorSet {
        let old = bits.bitwiseOr(causes.rawValue, ordering: .relaxed).oldValue
        return causes.subtracting(ChainErrorSet(rawValue: old))
    }
}
