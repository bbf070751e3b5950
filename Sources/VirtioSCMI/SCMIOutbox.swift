import Glibc
import SCMIPlatform
import Synchronization
import VhostUser

/// One agent session's platform → agent messages (notifications, delayed
/// responses) waiting for an eventq buffer: a bounded FIFO of fixed-size slots,
/// allocated once, written by any thread, drained by the device on its
/// connection's worker thread (docs/architecture.md, "Platform → agent").
///
/// Writers take a short lock (a copy of at most `slotSize` bytes), so the engine
/// posts after releasing its own lock; the outbox knows nothing of rings. A post
/// that makes the outbox non-empty writes `notifier` (an eventfd the device's
/// worker polls): one write(2) per burst, not per message. When it is full a
/// post fails and is counted in `dropped`: nothing waits, nothing grows.
public final class SCMIOutbox: Sendable {
    /// header + status + 128 bytes of payload: the largest virtio-scmi message.
    public static let slotSize = 4 + 4 + 128
    public static let defaultCapacity = 64

    /// Readable while messages wait (non-blocking eventfd, close-on-exec).
    public let notifier: Int32
    public let capacity: Int
    // Slot memory, touched only under `state`'s lock.
    private nonisolated(unsafe) let bytes: UnsafeMutableRawPointer
    private nonisolated(unsafe) let lengths: UnsafeMutablePointer<Int>
    private let state = Mutex(State())
    private let droppedCount = Atomic<UInt64>(0)

    struct State {
        var first = 0
        var count = 0
    }

    public init(capacity: Int = SCMIOutbox.defaultCapacity) throws {
        precondition(capacity > 0)
        self.capacity = capacity
        notifier = try EventNotifier.create(nonblocking: true)
        bytes = .allocate(byteCount: capacity * Self.slotSize, alignment: 8)
        lengths = .allocate(capacity: capacity)
    }

    deinit {
        bytes.deallocate()
        lengths.deallocate()
        close(notifier)
    }

    /// Messages waiting.
    public var count: Int { state.withLock { $0.count } }

    /// Posts refused because the outbox was full (or the message too long).
    public var dropped: UInt64 { droppedCount.load(ordering: .relaxed) }

    /// Queues one message (1...`slotSize` bytes). Any thread; no allocation.
    /// False when it is full or `message` does not fit a slot.
    @discardableResult
    public func post(_ message: UnsafeRawBufferPointer) -> Bool {
        guard !message.isEmpty, message.count <= Self.slotSize else {
            droppedCount.add(1, ordering: .relaxed)
            return false
        }
        let capacity = self.capacity
        let wasEmpty: Bool? = state.withLock { state in
            guard state.count < capacity else { return nil }
            let slot = (state.first + state.count) % capacity
            (bytes + slot * Self.slotSize).copyMemory(from: message.baseAddress!, byteCount: message.count)
            lengths[slot] = message.count
            state.count += 1
            return state.count == 1
        }
        guard let wasEmpty else {
            droppedCount.add(1, ordering: .relaxed)
            return false
        }
        if wasEmpty { EventNotifier.signal(notifier) }
        return true
    }

    /// `post` for an array (tests, tools).
    @discardableResult
    public func post(_ message: [UInt8]) -> Bool { message.withUnsafeBytes { post($0) } }

    /// Offers the oldest message to `deliver`; it is removed when `deliver`
    /// returns true (delivered), kept otherwise. False when there was none or it
    /// was kept. The lock is held meanwhile: deliver quickly (one copy).
    public func deliverFirst(_ deliver: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        let capacity = self.capacity
        return state.withLock { state in
            guard state.count > 0 else { return false }
            let slot = state.first
            let message = UnsafeRawBufferPointer(start: bytes + slot * Self.slotSize, count: lengths[slot])
            guard deliver(message) else { return false }
            state.first = (slot + 1) % capacity
            state.count -= 1
            return true
        }
    }

    /// Clears the notifier (the consumer, before draining).
    public func acknowledgeNotification() { _ = EventNotifier.consume(notifier) }
}
