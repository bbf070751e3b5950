import Foundation
import Logging
import SCMIPlatform
import Synchronization
import VhostUser

#if canImport(Glibc)
import Glibc
#endif

/// What `scmi-dt status` shows: the blob, the platform's physical and per-agent
/// state, and each listening socket's connection.
struct StatusReport: Codable {
    var blob: String
    var platform: PlatformSnapshot
    var connections: [ConnectionReport]
}

struct ConnectionReport: Codable {
    var agent: String
    var socket: String
    var connected: Bool
    /// Seconds since the epoch when the current frontend connected.
    var connectedSince: Double?
    var connectionsAccepted: UInt64
    var connectionsRefused: UInt64
    var chainsServed: UInt64
    var chainsServedThisConnection: UInt64
    var brokenChains: UInt64
    var errors: UInt64
    var lastError: String?

    init(agent: String, status: ConnectionStatus) {
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
}

/// The operator's window into a running `serve`: a Unix socket that answers
/// every connection with one JSON `StatusReport` and closes. Read-only by
/// design, so it needs no protocol beyond "connect, read to EOF".
final class ControlServer: @unchecked Sendable {
    private let path: String
    private let listener: Int32
    private let logger: Logger
    private let report: @Sendable () -> StatusReport
    private let stopping = Mutex(false)

    init(path: String, logger: Logger, report: @escaping @Sendable () -> StatusReport) throws {
        self.path = path
        self.logger = logger
        self.report = report
        listener = try UnixSocket.listen(on: path)
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "control"
        thread.start()
    }

    private func acceptLoop() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return  // listener closed by stop()
            }
            if stopping.withLock({ $0 }) {
                close(client)
                return
            }
            do {
                let data = try encoder.encode(report())
                ControlChannel.writeAll(client, data)
            } catch {
                logger.error("control socket: cannot encode status: \(error)")
            }
            close(client)
        }
    }

    func stop() {
        stopping.withLock { $0 = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }
}

/// Whole-buffer I/O on the control channel's stream sockets.
enum ControlChannel {
    static func writeAll(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    static func readToEnd(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }
}
