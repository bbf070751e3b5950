import Glibc
import LinuxIO

/// Everything that can go wrong in this module, with the place it went wrong.
/// Sockets, eventfds, memfds and threads fail with `LinuxIOError` (LinuxIO).
public enum VhostUserError: Error, Equatable, CustomStringConvertible {
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// The peer broke the protocol (framing, sizes, replies).
    case protocolViolation(String)
    /// The peer refused a request (REPLY_ACK with a non-zero value).
    case requestRejected(VhostUserRequest)
    /// The backend lacks something the frontend needs.
    case missingFeature(String)
    /// Nothing arrived within the time allowed.
    case timedOut(String)
    /// The peer closed the connection.
    case disconnected
    /// The backend closed the connection before negotiation finished: most often
    /// because another frontend is connected to it (one at a time).
    case closedDuringNegotiation
    /// A frontend call was used wrongly (slot out of range, too large a request, ...).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .system(let call, let errno):
            return "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .protocolViolation(let what): return "vhost-user protocol violation: \(what)"
        case .requestRejected(let request): return "the backend rejected \(request)"
        case .missingFeature(let what): return "the backend does not offer \(what)"
        case .timedOut(let what): return "timed out waiting for \(what)"
        case .disconnected: return "the peer closed the connection"
        case .closedDuringNegotiation:
            return "the backend closed the connection during vhost-user negotiation (is another frontend already connected?)"
        case .invalidArgument(let what): return "invalid argument: \(what)"
        }
    }

    static func lastError(_ call: String) -> VhostUserError { .system(call: call, errno: errno) }
}

/// Seconds since the Unix epoch, for status displays.
func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The Linux layer's eventfd helpers, under the name VhostUser exported before
/// LinuxIO existed: VirtioSCMI and the Benchmarks package still spell it so.
/// New code imports LinuxIO.
public typealias EventNotifier = LinuxIO.EventNotifier
