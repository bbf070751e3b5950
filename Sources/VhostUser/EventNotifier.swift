import CLinuxShim
import Glibc

/// Linux eventfd helpers: the kick, call and error notifiers of a vring.
public enum EventNotifier {
    /// A new eventfd (close-on-exec). Blocking unless `nonblocking`.
    public static func create(nonblocking: Bool = false) throws -> Int32 {
        let fd = shim_eventfd(0, nonblocking ? 1 : 0)
        guard fd >= 0 else { throw VhostUserError.lastError("eventfd") }
        return fd
    }

    /// Adds 1 to the counter. One write(2); EAGAIN (counter saturated) is ignored:
    /// the reader is woken anyway.
    @inline(__always) public static func signal(_ fd: Int32) {
        var one: UInt64 = 1
        while write(fd, &one, 8) < 0 && errno == EINTR {}
    }

    /// Reads and clears the counter: blocks on a blocking eventfd until it is
    /// non-zero. Returns the counter, or nil when the fd is non-blocking and the
    /// counter was 0, or on error.
    @inline(__always) public static func consume(_ fd: Int32) -> UInt64? {
        var value: UInt64 = 0
        while true {
            let count = read(fd, &value, 8)
            if count == 8 { return value }
            if count < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Waits up to `timeoutMilliseconds` (< 0: forever) for the counter to become
    /// non-zero and consumes it. Returns false on timeout.
    public static func wait(_ fd: Int32, timeoutMilliseconds: Int32) -> Bool {
        guard waitReadable(fd, timeoutMilliseconds: timeoutMilliseconds) else { return false }
        _ = consume(fd)
        return true
    }

    /// Whether the fd has O_NONBLOCK set (on its shared file description).
    public static func isNonblocking(_ fd: Int32) -> Bool {
        let flags = fcntl(fd, F_GETFL)
        return flags >= 0 && flags & O_NONBLOCK != 0
    }
}
