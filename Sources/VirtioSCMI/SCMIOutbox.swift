import Glibc
import SCMIPlatform
import Synchronization
import VhostUser

/// One agent session's platform → agent messages (notifications, delayed
/// responses) waiting for an eventq buffer: a FIFO of fixed-size slots,
/// allocated once, written by any thread, drained by the device on its
/// connection's worker thread (docs/architecture.md, "Platform → agent").
///
/// Bounds (docs/serve.md, "Notifications and delayed responses"): at most
/// `notificationCapacity` notifications wait; one more drops the oldest
/// waiting notification (counted in `dropped`). Delayed responses are never
/// dropped: the engine answers BUSY before more than
/// `delayedResponseCapacity` wait (SCMIPlatform.maxPendingAsync), and a post
/// beyond that is refused and counted. Order is kept across both kinds.
///
/// Writers take a short lock (a copy of at most `slotSize` bytes), so the engine
/// posts after releasing its own lock; the outbox knows nothing of rings. A post
/// that makes the outbox non-empty writes `notifier` (an eventfd the device's
/// worker polls): one write(2) per burst, not per message.
public final class SCMIOutbox: PlatformMessageSink {
    /// header + status + 128 bytes of payload: the largest virtio-scmi message.
    public static let slotSize = 4 + 4 + 128
    public static let defaultNotificationCapacity = 64

    /// Readable while messages wait (non-blocking eventfd, close-on-exec).
    public let notifier: Int32
    public let notificationCapacity: Int
    public let delayedResponseCapacity: Int
    // Slot memory, touched only under `state`'s lock: the message bytes, their
    // lengths and kinds; `order` lists the occupied slots oldest first, `free`
    // the others.
    private nonisolated(unsafe) let bytes: UnsafeMutableRawPointer
    private nonisolated(unsafe) let lengths: UnsafeMutablePointer<Int>
    private nonisolated(unsafe) let isDelayed: UnsafeMutablePointer<Bool>
    private nonisolated(unsafe) let order: UnsafeMutablePointer<Int>
    private nonisolated(unsafe) let free: UnsafeMutablePointer<Int>
    private let state: Mutex<State>
    private let droppedCount = Atomic<UInt64>(0)
    private let sentCount = Atomic<UInt64>(0)

    struct State {
        var count = 0
        var freeCount: Int
        var notifications = 0
        var delayedResponses = 0
    }

    /// What happened to the message offered by `deliverFirst`.
    public enum Delivery {
        /// Written into a buffer: removed.
        case delivered
        /// A buffer was taken but is too short: a notification is dropped
        /// (counted), a delayed response waits for the next buffer.
        case bufferTooShort
        /// No buffer: the message stays, draining stops.
        case noBuffer
    }

    public init(notificationCapacity: Int = SCMIOutbox.defaultNotificationCapacity,
                delayedResponseCapacity: Int = SCMIPlatform.maxPendingAsync) throws {
        precondition(notificationCapacity > 0 && delayedResponseCapacity >= 0)
        self.notificationCapacity = notificationCapacity
        self.delayedResponseCapacity = delayedResponseCapacity
        let capacity = notificationCapacity + delayedResponseCapacity
        notifier = try EventNotifier.create(nonblocking: true)
        bytes = .allocate(byteCount: capacity * Self.slotSize, alignment: 8)
        lengths = .allocate(capacity: capacity)
        isDelayed = .allocate(capacity: capacity)
        order = .allocate(capacity: capacity)
        free = .allocate(capacity: capacity)
        for slot in 0..<capacity { (free + slot).initialize(to: slot) }
        state = Mutex(State(freeCount: capacity))
    }

    deinit {
        bytes.deallocate()
        lengths.deallocate()
        isDelayed.deallocate()
        order.deallocate()
        free.deallocate()
        close(notifier)
    }

    /// Messages waiting.
    public var count: Int { state.withLock { $0.count } }

    /// Notifications dropped (outbox full, buffer too short) and posts refused.
    public var dropped: UInt64 { droppedCount.load(ordering: .relaxed) }

    /// Messages written into eventq buffers.
    public var sent: UInt64 { sentCount.load(ordering: .relaxed) }

    public var delayedResponsesWaiting: Int { state.withLock { $0.delayedResponses } }

    public var deliveryCounters: DeliveryCounters {
        DeliveryCounters(sent: sent, waiting: count, dropped: dropped)
    }

    /// Queues one message (1...`slotSize` bytes). Any thread; no allocation.
    /// False when it was refused (too long; a delayed response past its
    /// bound); a notification that finds the outbox full pushes out the
    /// oldest waiting notification instead.
    @discardableResult
    public func post(_ message: UnsafeRawBufferPointer, kind: PlatformMessageKind) -> Bool {
        guard !message.isEmpty, message.count <= Self.slotSize else {
            droppedCount.add(1, ordering: .relaxed)
            return false
        }
        let delayed = kind == .delayedResponse
        let outcome: (accepted: Bool, pushedOut: Bool, wasEmpty: Bool) = state.withLock { state in
            var pushedOut = false
            if delayed {
                guard state.delayedResponses < delayedResponseCapacity else { return (false, false, false) }
            } else if state.notifications == notificationCapacity {
                removeOldestNotification(&state)
                pushedOut = true
            }
            state.freeCount -= 1
            let slot = free[state.freeCount]
            (bytes + slot * Self.slotSize).copyMemory(from: message.baseAddress!, byteCount: message.count)
            lengths[slot] = message.count
            isDelayed[slot] = delayed
            order[state.count] = slot
            state.count += 1
            if delayed { state.delayedResponses += 1 } else { state.notifications += 1 }
            return (true, pushedOut, state.count == 1)
        }
        if !outcome.accepted || outcome.pushedOut { droppedCount.add(1, ordering: .relaxed) }
        if outcome.wasEmpty { EventNotifier.signal(notifier) }
        return outcome.accepted
    }

    /// `post` for an array (tests, tools); a notification unless told otherwise.
    @discardableResult
    public func post(_ message: [UInt8], kind: PlatformMessageKind = .notification) -> Bool {
        message.withUnsafeBytes { post($0, kind: kind) }
    }

    /// Offers the oldest message to `deliver` and acts on its answer (see
    /// `Delivery`). True when the next message may be offered (a buffer was
    /// used), false when there was none or no buffer. The lock is held
    /// meanwhile: deliver quickly (one copy).
    public func deliverFirst(_ deliver: (UnsafeRawBufferPointer, PlatformMessageKind) -> Delivery) -> Bool {
        var outcome = Delivery.noBuffer
        var droppedNotification = false
        let offered: Bool = state.withLock { state in
            guard state.count > 0 else { return false }
            let slot = order[0]
            let message = UnsafeRawBufferPointer(start: bytes + slot * Self.slotSize, count: lengths[slot])
            outcome = deliver(message, isDelayed[slot] ? .delayedResponse : .notification)
            switch outcome {
            case .delivered: remove(at: 0, &state)
            case .bufferTooShort:
                droppedNotification = !isDelayed[slot]
                if droppedNotification { remove(at: 0, &state) }
            case .noBuffer: break
            }
            return true
        }
        guard offered else { return false }
        switch outcome {
        case .delivered: sentCount.add(1, ordering: .relaxed)
        case .bufferTooShort: if droppedNotification { droppedCount.add(1, ordering: .relaxed) }
        case .noBuffer: return false
        }
        return true
    }

    /// Removes the message at position `position` of `order` (lock held).
    private func remove(at position: Int, _ state: inout State) {
        let slot = order[position]
        (order + position).update(from: order + position + 1, count: state.count - position - 1)
        state.count -= 1
        free[state.freeCount] = slot
        state.freeCount += 1
        if isDelayed[slot] { state.delayedResponses -= 1 } else { state.notifications -= 1 }
    }

    private func removeOldestNotification(_ state: inout State) {
        for position in 0..<state.count where !isDelayed[order[position]] {
            remove(at: position, &state)
            return
        }
    }

    /// Clears the notifier (the consumer, before draining).
    public func acknowledgeNotification() { _ = EventNotifier.consume(notifier) }
}
