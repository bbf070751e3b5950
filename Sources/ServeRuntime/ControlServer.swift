import Dispatch
import Foundation
import LinuxIO
import Logging
import SCMIPlatform
import Synchronization
import VhostUser

#if canImport(Glibc)
import Glibc
#endif

/// What `scmi-dt status` shows: the blob, the platform's physical and per-agent
/// state, and each listening socket's connection.
public struct StatusReport: Codable, Sendable {
    public var blob: String
    public var platform: PlatformSnapshot
    /// With --host-hook or --upstream: each resource whose last host action
    /// failed, and why ("clock 3 \"usb\": rate: exit status 1", "clock 0
    /// \"cpu\": rate 48000000: the firmware answered DENIED"); nil with neither.
    public var hostFailures: [String]?
    public var connections: [ConnectionReport]

    public init(blob: String, platform: PlatformSnapshot, hostFailures: [String]? = nil, connections: [ConnectionReport]) {
        self.blob = blob
        self.platform = platform
        self.hostFailures = hostFailures
        self.connections = connections
    }

    /// snake_case, like every key of `status --format json`.
    enum CodingKeys: String, CodingKey {
        case blob, platform, connections
        case hostFailures = "host_failures"
    }
}

public struct ConnectionReport: Codable, Sendable {
    public var agent: String
    public var socket: String
    public var connected: Bool
    /// Seconds since the epoch when the current frontend connected.
    public var connectedSince: Double?
    public var connectionsAccepted: UInt64
    public var connectionsRefused: UInt64
    public var chainsServed: UInt64
    public var chainsServedThisConnection: UInt64
    public var brokenChains: UInt64
    public var errors: UInt64
    public var lastError: String?
    /// Platform → agent messages on this agent's connection (nil for an
    /// agent a reload removed).
    public var events: EventsReport?

    public init(agent: String, status: ConnectionStatus, events: EventsReport? = nil) {
        self.events = events
        self.agent = agent
        socket = status.socketPath
        connected = status.isConnected
        connectedSince = status.connectedSince
        connectionsAccepted = status.connectionsAccepted
        connectionsRefused = status.connectionsRefused
        chainsServed = status.chainsServed
        chainsServedThisConnection = status.chainsServedThisConnection
        brokenChains = status.brokenChains
        errors = status.errors
        lastError = status.lastError
    }

    /// snake_case, like every key of `status --format json` (PlatformSnapshot.swift).
    enum CodingKeys: String, CodingKey {
        case agent, socket, connected, errors, events
        case connectedSince = "connected_since"
        case connectionsAccepted = "connections_accepted"
        case connectionsRefused = "connections_refused"
        case chainsServed = "chains_served"
        case chainsServedThisConnection = "chains_served_this_connection"
        case brokenChains = "broken_chains"
        case lastError = "last_error"
    }
}

/// One connection's notifications and delayed responses (JSON keys in snake_case).
public struct EventsReport: Codable, Sendable {
    public struct Subscription: Codable, Sendable {
        public var protocolID: UInt8
        /// "CLOCK_RATE_CHANGED".
        public var event: String
        public var resource: UInt32

        enum CodingKeys: String, CodingKey {
            case protocolID = "protocol_id", event, resource
        }
    }

    /// Whether the frontend negotiated VIRTIO_SCMI_F_P2A_CHANNELS.
    public var p2aNegotiated: Bool
    public var subscriptions: [Subscription]
    /// Messages written into eventq buffers, waiting for one, dropped.
    public var notificationsSent: UInt64
    public var waiting: Int
    public var dropped: UInt64
    /// Asynchronous commands whose delayed response has not been delivered.
    public var asyncPending: Int

    enum CodingKeys: String, CodingKey {
        case p2aNegotiated = "p2a_negotiated", subscriptions, notificationsSent = "notifications_sent", waiting, dropped
        case asyncPending = "async_pending"
    }

    public init(_ snapshot: EventDeliverySnapshot) {
        p2aNegotiated = snapshot.p2aNegotiated
        subscriptions = snapshot.subscriptions.map { Subscription(protocolID: $0.protocolID, event: $0.event, resource: $0.resource) }
        notificationsSent = snapshot.notificationsSent
        waiting = snapshot.waiting
        dropped = snapshot.dropped
        asyncPending = snapshot.asyncPending
    }
}

/// The operator's window into a running `serve`: a Unix socket that answers
/// every connection with one JSON `StatusReport` and closes. Read-only by
/// design, so it needs no protocol beyond "connect, read to EOF".
///
/// The report can be a megabyte on a large board, and a client is anyone who can
/// open the socket, so no client may hold up another, the accept loop or the
/// platform: each one is answered on its own short-lived thread, at most
/// `maximumClients` at once (the next ones wait in the listen backlog until a
/// slot frees), and a client that has not taken the whole report within
/// `sendDeadline` is dropped, however slowly it reads. Writes never raise
/// SIGPIPE (MSG_NOSIGNAL).
public final class ControlServer: @unchecked Sendable {
    /// Clients answered at the same time.
    public static let maximumClients = 16
    /// How long one client may take to read its report before it is dropped.
    public static let sendDeadline: Duration = .seconds(5)

    private let path: String
    private let listener: FileDescriptor
    private let logger: Logger
    private let report: @Sendable () -> StatusReport
    private let stopping = Mutex(false)
    private let slots = DispatchSemaphore(value: ControlServer.maximumClients)

    public init(path: String, access: SocketAccess? = nil, logger: Logger, report: @escaping @Sendable () -> StatusReport) throws {
        self.path = path
        self.logger = logger
        self.report = report
        listener = try UnixSocket.listen(on: path, backlog: 128, access: access)
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "control"
        thread.start()
    }

    private func acceptLoop() {
        while true {
            slots.wait()
            let client: Int32
            do {
                client = try UnixSocket.accept(listener).rawValue  // close-on-exec from the start
            } catch {
                let code = error.errno ?? 0
                slots.signal()
                if code == EINTR || code == ECONNABORTED { continue }
                if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                    logger.warning("control socket: accept: \(String(cString: strerror(code))); retrying")
                    usleep(100_000)
                    continue
                }
                return  // listener closed by stop()
            }
            if stopping.withLock({ $0 }) {
                close(client)
                return
            }
            let thread = Thread { [self] in
                answer(client)
                slots.signal()
            }
            thread.name = "control-client"
            thread.start()
        }
    }

    /// One report to one client; closes it.
    private func answer(_ client: Int32) {
        defer { close(client) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(report())
        } catch {
            logger.error("control socket: cannot encode status: \(error)")
            return
        }
        switch ControlChannel.sendAll(client, data, until: .now + Self.sendDeadline) {
        case .sent, .peerClosed: break
        case .timedOut:
            logger.notice("control socket: a client did not read its report within \(Self.sendDeadline); dropped it")
        case .failed(let code):
            logger.notice("control socket: sending the report: \(String(cString: strerror(code)))")
        }
    }

    public func stop() {
        stopping.withLock { $0 = true }
        shutdown(listener.rawValue, Int32(SHUT_RDWR))
        listener.closeQuietly()
        unlink(path)
    }
}

/// Whole-buffer I/O on the control channel's stream sockets.
public enum ControlChannel {
    public enum SendResult: Equatable, Sendable {
        case sent, peerClosed, timedOut
        case failed(Int32)
    }

    /// Sends all of `data` before `deadline`, waiting in poll() between partial sends so
    /// that a slow reader cannot hold the sender past the deadline. MSG_DONTWAIT keeps each
    /// send from blocking; MSG_NOSIGNAL makes a peer that went away EPIPE, never SIGPIPE.
    public static func sendAll(_ fd: Int32, _ data: Data, until deadline: ContinuousClock.Instant) -> SendResult {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if n >= 0 {
                    offset += n
                    continue
                }
                switch errno {
                case EINTR: continue
                case EPIPE, ECONNRESET: return .peerClosed
                case EAGAIN:
                    guard let milliseconds = millisecondsLeft(until: deadline) else { return .timedOut }
                    var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&poller, 1, milliseconds)
                case let code: return .failed(code)
                }
            }
            return .sent
        }
    }

    /// Milliseconds until `deadline` (at least 1), or nil once it has passed.
    public static func millisecondsLeft(until deadline: ContinuousClock.Instant) -> Int32? {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return nil }
        let (seconds, attoseconds) = left.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
    }

    public enum ReadError: Error, Sendable {
        case timedOut
        case failed(Int32)
    }

    /// Reads until the peer closes, giving up when `deadline` passes first.
    public static func readToEnd(_ fd: Int32, until deadline: ContinuousClock.Instant) throws(ReadError) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            guard let milliseconds = millisecondsLeft(until: deadline) else { throw .timedOut }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw .failed(errno)
            }
            if ready == 0 { continue }  // the deadline check above ends it
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .failed(errno)
            }
            if n == 0 { return data }
            data.append(contentsOf: buffer[0..<n])
        }
    }
}
