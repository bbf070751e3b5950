import Virtqueue

/// The device behind a vhost-user backend: one instance per frontend connection.
///
/// `handle` runs on the connection's ring-worker thread (one per handled queue;
/// with one handled queue, as for virtio-scmi, calls never overlap).
/// `connectionClosed` runs once on the connection's control thread after every
/// worker has stopped, so it never overlaps `handle` either.
public protocol VhostUserDeviceHandler: AnyObject {
    /// One chain from queue `queueIndex`. Read the request with
    /// `chain.gatherReadable`, write the answer with `chain.scatterWritable`, return
    /// the number of bytes written (clamped to `chain.writableLength`). The chain
    /// is only valid during this call. Must not block for long: the guest waits.
    func handle(chain: DescriptorChain, queueIndex: Int) -> UInt32

    /// The frontend went away (or the backend is stopping); release everything
    /// this connection held. Called exactly once.
    func connectionClosed()
}

/// A device that does more than answer each chain at once (rust-vmm's
/// `VhostUserBackend::handle_event` is the model): it may keep a chain and
/// complete it later, fill a queue of its own (virtio-scmi's eventq), and wake
/// its worker from any thread through eventfds it owns.
///
/// Only when `eventSources` names a filled queue or an fd does the connection
/// run such a device this way: then ONE worker thread serves every running
/// queue of the connection (handled and filled) and polls the device's fds, so
/// every ring access, and every call below, happens on that thread. Otherwise
/// the device is served exactly like a plain `VhostUserDeviceHandler`
/// (one `RingWorker` per handled queue, `handle(chain:queueIndex:)`).
public protocol VhostUserEventDevice: VhostUserDeviceHandler {
    /// What the worker must watch for this negotiation. Called on the control
    /// thread when the connection starts (features 0) and after each
    /// SET_FEATURES, before any worker starts with them (none runs meanwhile).
    func eventSources(ackedFeatures: UInt64) -> DeviceEventSources

    /// One chain from handled queue `queueIndex`: answer it now
    /// (`.completed(bytes)`, as `handle(chain:queueIndex:)` would) or keep it
    /// (`.held`, after taking a token with `rings.hold(chain, queueIndex:)`).
    func handle(chain: DescriptorChain, queueIndex: Int, rings: DeviceRings) -> ChainDisposition

    /// Something the worker saw: one of the device's fds became readable (the
    /// device consumes it itself), a filled queue was kicked (new buffers), or
    /// the rings (re)started. Completions and fills made here are published and
    /// notified when it returns.
    func handleEvent(_ event: DeviceEvent, rings: DeviceRings)
}

extension VhostUserEventDevice {
    /// By default every chain is answered at once, through the synchronous method.
    public func handle(chain: DescriptorChain, queueIndex: Int, rings: DeviceRings) -> ChainDisposition {
        .completed(handle(chain: chain, queueIndex: queueIndex))
    }
}

/// The queues and fds a `VhostUserEventDevice`'s worker watches besides the handled queues.
public struct DeviceEventSources: Sendable, Equatable {
    /// Queues the device fills itself (`DeviceRings.fill`): their buffers stay in
    /// the available ring until the device takes one; a kick becomes `.queueKicked`.
    public var filledQueues: [Int]
    /// Readable means "look at me": each becomes `.device(index)`. The device owns
    /// them (creates, writes, reads, closes); they must stay open while it lives.
    public var fileDescriptors: [Int32]

    public init(filledQueues: [Int] = [], fileDescriptors: [Int32] = []) {
        self.filledQueues = filledQueues
        self.fileDescriptors = fileDescriptors
    }

    public var isEmpty: Bool { filledQueues.isEmpty && fileDescriptors.isEmpty }
}

/// What a `VhostUserEventDevice` did with a chain.
public enum ChainDisposition: Sendable, Equatable {
    /// Answered: this many bytes written (clamped to the writable length).
    case completed(UInt32)
    /// Kept: the device completes it later with `DeviceRings.complete(_:length:)`.
    case held
}

/// Why the worker called `handleEvent`.
public enum DeviceEvent: Sendable, Equatable {
    /// The device's fd number `index` (in `DeviceEventSources.fileDescriptors`) is readable.
    case device(Int)
    /// Filled queue `queueIndex` was kicked: the driver may have added buffers.
    case queueKicked(Int)
    /// The worker (re)started its queues: a chance to send what waited meanwhile.
    case started
}

/// A chain the device kept: the queue, the head index that goes back on the
/// used ring, and the worker run it belongs to. Plain value, no allocation.
/// It goes stale when the worker stops (SET_VRING_* or GET_VRING_BASE for ANY
/// of the device's queues, a new memory table, SET_FEATURES, the end of the
/// connection): the worker then returns every kept chain with length 0
/// itself, and completing a stale token does nothing.
public struct HeldChain: Sendable, Equatable {
    public let queueIndex: Int
    public let headIndex: UInt16
    let run: UInt64
}

/// The queues of a `VhostUserEventDevice`'s worker, lent for one call
/// (`handle` or `handleEvent`) on the worker thread. Do not keep it.
public struct DeviceRings {
    unowned(unsafe) let worker: DeviceWorker

    /// The virtio features the frontend acknowledged.
    public var ackedFeatures: UInt64 { worker.ackedFeatures }

    /// Whether queue `queueIndex` runs on this worker (set up, enabled, not faulted).
    public func isRunning(_ queueIndex: Int) -> Bool { worker.lane(queueIndex) != nil }

    /// A token for `chain` (being handled on `queueIndex`); return `.held` next.
    public func hold(_ chain: DescriptorChain, queueIndex: Int) -> HeldChain {
        HeldChain(queueIndex: queueIndex, headIndex: chain.headIndex, run: worker.run)
    }

    /// Whether `held` is still kept and can be completed.
    public func isHeld(_ held: HeldChain) -> Bool { worker.heldWritableLength(held) != nil }

    /// Reads or writes a kept chain: it is walked and checked again. Nil when the
    /// token is stale or the guest broke the chain meanwhile.
    public func withHeldChain<R>(_ held: HeldChain, _ body: (DescriptorChain) -> R) -> R? {
        worker.withHeldChain(held, body)
    }

    /// Puts a kept chain on the used ring with `length` bytes (clamped to its
    /// writable length); published and notified when the current call returns.
    /// False (and nothing done) when the token is stale or already completed.
    @discardableResult
    public func complete(_ held: HeldChain, length: UInt32) -> Bool { worker.complete(held, length: length) }

    /// Takes the next buffer the driver made available on filled queue
    /// `queueIndex`, lets `body` write it (returning the bytes written) and puts
    /// it on the used ring; published and notified when the current call
    /// returns. Broken chains are returned with length 0 and skipped. False
    /// when there is no buffer (a kick is then armed: `.queueKicked` follows
    /// when the driver adds one) or the queue does not run.
    public func fill(queueIndex: Int, _ body: (DescriptorChain) -> UInt32) -> Bool {
        worker.fill(queueIndex: queueIndex, body)
    }
}

/// What the device looks like to the frontend.
public struct VhostUserDeviceDescription: Sendable, Equatable {
    /// Number of virtqueues (2 for virtio-scmi: cmdq and eventq).
    public var queueCount: Int
    /// Largest queue size accepted in SET_VRING_NUM (a power of 2).
    public var maxQueueSize: Int
    /// Device-specific virtio feature bits to offer, on top of the transport's
    /// VERSION_1, PROTOCOL_FEATURES, EVENT_IDX, INDIRECT_DESC and NOTIFY_ON_EMPTY.
    public var deviceFeatures: UInt64
    /// Queues whose chains go to the handler. Buffers on the other queues are
    /// accepted and left where they are (virtio-scmi's eventq without P2A).
    public var handledQueues: [Int]

    public init(queueCount: Int, maxQueueSize: Int = 1024, deviceFeatures: UInt64 = 0, handledQueues: [Int] = [0]) {
        self.queueCount = queueCount
        self.maxQueueSize = maxQueueSize
        self.deviceFeatures = deviceFeatures
        self.handledQueues = handledQueues
    }

    /// Every feature bit GET_FEATURES reports.
    public var offeredFeatures: UInt64 { VirtioFeatures.transportOffered | deviceFeatures }
}

/// A snapshot of a backend for `scmi-dt status`.
public struct ConnectionStatus: Sendable, Equatable {
    /// The listening socket's path.
    public var socketPath: String
    /// Whether a frontend is connected now.
    public var isConnected: Bool
    /// When the current frontend connected (seconds since the Unix epoch).
    public var connectedSince: Double?
    /// Frontends served since start (including the current one).
    public var connectionsAccepted: UInt64
    /// Frontends refused because another one was connected.
    public var connectionsRefused: UInt64
    /// Chains handed to the device since start.
    public var chainsServed: UInt64
    /// Chains handed to the device on the current connection.
    public var chainsServedThisConnection: UInt64
    /// Chains returned unused because the guest wrote them wrongly.
    public var brokenChains: UInt64
    /// Frontend protocol errors and queue faults (each closed a connection or stopped a queue).
    public var errors: UInt64
    /// The most recent error, for the operator.
    public var lastError: String?
}
