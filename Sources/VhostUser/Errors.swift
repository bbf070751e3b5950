import Glibc

/// Everything that can go wrong in this module, with the place it went wrong.
public enum VhostUserError: Error, Equatable, CustomStringConvertible {
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// A socket path does not fit `sockaddr_un` (107 bytes).
    case socketPathTooLong(String)
    /// Another process is listening on the path.
    case socketInUse(String)
    /// The path exists and is not a socket: we will not remove it.
    case pathIsNotASocket(String)
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
        case .socketPathTooLong(let path): return "socket path too long for a Unix socket: \(path)"
        case .socketInUse(let path): return "another process is already listening on \(path)"
        case .pathIsNotASocket(let path): return "\(path) exists and is not a socket"
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

/// Closes `fd` when it is valid, ignoring errors (nothing useful can be done).
@inline(__always) func closeQuietly(_ fd: Int32) {
    if fd >= 0 { _ = Glibc.close(fd) }
}

/// Closes every fd of a list.
func closeAll(_ fds: [Int32]) {
    for fd in fds { closeQuietly(fd) }
}

/// Seconds since the Unix epoch, for status displays.
func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Waits until `fd` is readable (or hung up); false on timeout. `timeout` < 0 waits forever.
func waitReadable(_ fd: Int32, timeoutMilliseconds timeout: Int32) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while true {
        let result = poll(&entry, 1, timeout)
        if result > 0 { return true }
        if result == 0 { return false }
        if errno != EINTR { return true }  // let the following read report the error
    }
}
