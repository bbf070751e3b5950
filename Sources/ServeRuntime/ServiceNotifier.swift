import Foundation
import LinuxIO
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol (what sd_notify does), without libsystemd: when the
/// service manager started us with `NOTIFY_SOCKET` set, each state change is one
/// datagram of `KEY=VALUE` lines sent to that socket. Outside systemd it does nothing.
///
/// `serve` sends READY=1 once every socket listens (so a unit ordered after it finds
/// them), RELOADING=1 … READY=1 around a SIGHUP reload, and STOPPING=1 when it stops.
public struct ServiceNotifier: Sendable {
    /// The notification socket (a path, or `@name` in the abstract namespace), if any.
    public let socketPath: String?
    private let logger: Logger

    public init(socketPath: String?, logger: Logger) {
        self.socketPath = socketPath.flatMap { $0.isEmpty ? nil : $0 }
        self.logger = logger
    }

    /// The one `NOTIFY_SOCKET` of this process's environment names.
    public init(environmentOf process: ProcessInfo = .processInfo, logger: Logger) {
        self.init(socketPath: process.environment["NOTIFY_SOCKET"], logger: logger)
    }

    /// Every socket listens: the service is up. `status` is what `systemctl status` shows.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())") }

    /// A reload begins. systemd wants the CLOCK_MONOTONIC time with it (systemd.service(5),
    /// Type=notify-reload), so that it can tell this reload from an earlier one.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// The service is shutting down.
    public func stopping() { send("STOPPING=1") }

    /// A failed notification is logged, never fatal: the service works without it.
    private func send(_ message: String) {
        guard let socketPath else { return }
        do {
            try UnixDatagram.send(message, to: socketPath)
        } catch {
            logger.warning("NOTIFY_SOCKET \(socketPath): \(error)")
        }
    }
}
