import Foundation
import LinuxIO

#if canImport(Glibc)
import Glibc
#endif

/// The asking side of the control socket: connect, read one report to EOF, all
/// within one deadline. `scmi-dt status` uses it; so can a test, in process.
public enum StatusClient {
    public enum Failure: Error, Sendable {
        /// The socket did not accept within the time (serve stuck, or flooded with clients).
        case notAccepted
        /// Nothing listens there, or connecting failed otherwise.
        case cannotConnect(String)
        /// The report did not arrive whole within the time.
        case timedOut
        /// Reading failed with this errno.
        case readFailed(Int32)
    }

    /// The raw report (JSON) from the control socket at `path`, within `timeout`.
    public static func fetch(from path: String, timeout: Duration) throws(Failure) -> Data {
        let deadline = ContinuousClock.now + timeout
        let fd: FileDescriptor
        do {
            fd = try UnixSocket.connect(to: path, timeout: timeout)
        } catch {
            if error.errno == EAGAIN { throw .notAccepted }
            throw .cannotConnect("\(error)")
        }
        defer { fd.closeQuietly() }
        do {
            return try ControlChannel.readToEnd(fd.rawValue, until: deadline)
        } catch {
            switch error {
            case .timedOut: throw .timedOut
            case .failed(let code): throw .readFailed(code)
            }
        }
    }

    /// The report from the control socket at `path`, decoded.
    public static func report(from path: String, timeout: Duration) throws -> StatusReport {
        try JSONDecoder().decode(StatusReport.self, from: fetch(from: path, timeout: timeout))
    }
}

/// Where a control socket is when `--control` does not say.
public enum ControlSocket {
    /// `serve --socket-dir DIR` listens for status on DIR/control. Agent sockets are
    /// always `<name>.sock`, so no agent's socket can take this name.
    public static func path(inSocketDirectory directory: String) -> String {
        (directory.hasSuffix("/") ? directory : directory + "/") + "control"
    }

    /// The socket directory of the installed systemd unit (scmi-dt.service: RuntimeDirectory=scmi-dt),
    /// where `scmi-dt status` looks when given neither --control nor --socket-dir.
    public static let serviceSocketDirectory = "/run/scmi-dt"
}
