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
