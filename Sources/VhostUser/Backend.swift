import Glibc
import LinuxIO
import Logging
import Synchronization
import Virtqueue

/// A vhost-user backend on one listening Unix socket, serving one frontend at a time.
///
/// Threads:
/// - one accept thread for every backend of the process (Acceptor) waits in poll() on
///   their listening sockets; the backend admits a frontend when none is connected, and
///   refuses (accept + close, one log line) a second one while the first keeps working;
/// - per connection, a control thread reads and answers vhost-user requests and
///   starts/stops the ring workers (`BackendConnection`);
/// - per running handled vring, a ring worker serves chains (`RingWorker`).
/// Several backends (one per agent) run side by side on their own connection threads.
public final class VhostUserBackend: Sendable {
    public let socketPath: String
    public let device: VhostUserDeviceDescription
    /// How each connection's ring workers poll after a batch.
    public let ringPolling: RingPolling
    private let logger: Logger
    private let makeHandler: @Sendable () -> any VhostUserDeviceHandler
    private let listenFD: FileDescriptor
    /// Latch eventfd: written once by stop(), never read, so every poller sees it.
    private let stopFD: FileDescriptor
    private let statistics = BackendStatistics()
    private let state = Mutex(State())

    private struct State {
        var started = false
        var stopped = false
        var active: BackendConnection?
        var activeThread: NativeThread?
        /// Control threads that have finished and wait to be joined.
        var finishedThreads: [NativeThread] = []
    }

    /// Creates the socket at `socketPath`, binds and listens (a stale socket file
    /// nobody listens on is replaced); with `access`, the socket file gets that mode,
    /// group and owner before it listens. Nothing is accepted before `start()`.
    public init(socketPath: String, access: SocketAccess? = nil, device: VhostUserDeviceDescription, logger: Logger,
                ringPolling: RingPolling = .off,
                makeHandler: @escaping @Sendable () -> any VhostUserDeviceHandler) throws
    {
        self.ringPolling = ringPolling
        guard device.queueCount >= 1, device.queueCount <= 256, SplitRing.isValidSize(device.maxQueueSize) else {
            throw VhostUserError.invalidArgument("queue count 1...256 and a power-of-2 maximum queue size")
        }
        self.socketPath = socketPath
        self.device = device
        self.logger = logger
        self.makeHandler = makeHandler
        stopFD = try EventNotifier.make()
        do {
            listenFD = try UnixSocket.listen(on: socketPath, access: access)
        } catch {
            stopFD.closeQuietly()
            throw error
        }
    }

    deinit {
        // Only reachable when no thread runs (they hold the backend): not started, or stopped.
        let wasStopped = state.withLock { $0.stopped }
        if !wasStopped {
            listenFD.closeQuietly()
            unlink(socketPath)
        }
        stopFD.closeQuietly()
    }

    /// Starts accepting frontends.
    ///
    /// Sets SIGPIPE to ignored for the whole process: the backend writes to fds the
    /// frontend chose (its call and err fds may be pipes whose reader is gone), and such
    /// a write must fail with EPIPE for that connection, not end every agent's service.
    public func start() throws {
        signal(SIGPIPE, SIG_IGN)
        let alreadyRunning = state.withLock { state -> Bool in
            defer { state.started = true }
            return state.started || state.stopped
        }
        guard !alreadyRunning else { return }
        try Acceptor.shared.add(self)
        logger.info("vhost-user backend listening on \(socketPath)")
    }

    /// Stops accepting, lets the connection finish the message in hand, closes it
    /// (the handler hears `connectionClosed`), removes the socket file. Idempotent.
    public func stop() {
        let wasStarted = state.withLock { state -> Bool? in
            if state.stopped { return nil }
            state.stopped = true
            return state.started
        }
        guard let wasStarted else { return }
        EventNotifier.signal(stopFD)
        if wasStarted { Acceptor.shared.remove(self) }
        listenFD.closeQuietly()
        unlink(socketPath)
        let threads = state.withLock { state -> [NativeThread] in
            defer {
                state.finishedThreads = []
                state.activeThread = nil
            }
            return state.finishedThreads + (state.activeThread.map { [$0] } ?? [])
        }
        for thread in threads { thread.join() }
        logger.info("vhost-user backend on \(socketPath) stopped")
    }

    /// What `scmi-dt status` shows.
    public var status: ConnectionStatus {
        let connected = state.withLock { $0.active != nil }
        return ConnectionStatus(
            socketPath: socketPath,
            isConnected: connected,
            connectedSince: connected ? statistics.connectedSince.withLock { $0 } : nil,
            connectionsAccepted: statistics.connectionsAccepted.load(ordering: .relaxed),
            connectionsRefused: statistics.connectionsRefused.load(ordering: .relaxed),
            chainsServed: statistics.chainsServed.load(ordering: .relaxed),
            chainsServedThisConnection: statistics.chainsServedThisConnection.load(ordering: .relaxed),
            brokenChains: statistics.brokenChains.load(ordering: .relaxed),
            errors: statistics.errors.load(ordering: .relaxed),
            lastError: statistics.lastError.withLock { $0 })
    }

    // MARK: Accepting (on the Acceptor's thread)

    /// The listening socket, which the Acceptor polls while this backend is started.
    var listenDescriptor: Int32 { listenFD.rawValue }

    /// The listening socket is readable: accepts and admits the frontend, unless stopping.
    func acceptReady() {
        guard !state.withLock({ $0.stopped }) else { return }
        let fd: FileDescriptor
        do {
            fd = try UnixSocket.accept(listenFD)
        } catch {
            switch error.errno ?? 0 {
            case EINTR, EAGAIN, ECONNABORTED:
                return
            case let code:  // EMFILE and the like: do not spin
                logger.error("accept on \(socketPath) failed: \(String(cString: strerror(code)))")
                usleep(100_000)
                return
            }
        }
        admit(fd.rawValue)
    }

    private func admit(_ fd: Int32) {
        // A frontend that reconnects right after closing may beat the old
        // connection's teardown: give that a moment before refusing (on the
        // Acceptor's thread: other sockets' frontends wait in their backlog meanwhile).
        var busy = state.withLock { $0.active != nil }
        var waited = 0
        while busy && waited < 250 {
            usleep(10_000)
            waited += 10
            busy = state.withLock { $0.active != nil }
        }
        if busy {
            statistics.connectionsRefused.add(1, ordering: .relaxed)
            logger.warning("refusing a second frontend on \(socketPath): one is already connected")
            closeQuietly(fd)
            return
        }
        let finished = state.withLock { state -> [NativeThread] in
            defer { state.finishedThreads = [] }
            return state.finishedThreads
        }
        for thread in finished { thread.join() }

        let connection = BackendConnection(
            channel: VhostUserChannel(adopting: fd), device: device, handler: makeHandler(),
            logger: logger, statistics: statistics, stopFD: stopFD.rawValue, ringPolling: ringPolling)
        statistics.chainsServedThisConnection.store(0, ordering: .relaxed)
        statistics.connectedSince.withLock { $0 = wallClockSeconds() }
        state.withLock { $0.active = connection }
        do {
            let thread = try NativeThread(name: "vhost-control") { [self] in
                connection.run()
                connectionFinished(connection)
            }
            state.withLock { state in
                if state.active === connection {
                    state.activeThread = thread
                } else {  // it already finished
                    state.finishedThreads.append(thread)
                }
            }
            statistics.connectionsAccepted.add(1, ordering: .relaxed)
            logger.info("frontend connected on \(socketPath)")
        } catch {
            logger.error("cannot start a control thread: \(error)")
            state.withLock { $0.active = nil }
            connection.abandon()
        }
    }

    private func connectionFinished(_ connection: BackendConnection) {
        state.withLock { state in
            guard state.active === connection else { return }
            state.active = nil
            if let thread = state.activeThread {
                state.finishedThreads.append(thread)
                state.activeThread = nil
            }
        }
    }
}
