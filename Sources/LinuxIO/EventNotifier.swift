import CLinuxShim
import Glibc

/// Linux eventfd helpers: the kick, call and error notifiers of a vring, and
/// wake-ups between threads.
///
/// `signal` and `consume` are the rings' per-message path: they take the raw
/// descriptor, are inlined, allocate nothing and make exactly one system call
/// (plus retries on EINTR). The `FileDescriptor` overloads forward to them.
public enum EventNotifier {
    /// A new eventfd (close-on-exec) with a zero counter. Blocking unless `nonblocking`.
    public static func create(nonblocking: Bool = false) throws(LinuxIOError) -> Int32 {
        let fd = shim_eventfd(0, nonblocking ? 1 : 0)
        guard fd >= 0 else { throw .lastError("eventfd") }
        return fd
    }

    /// A new eventfd, typed.
    public static func make(nonblocking: Bool = false) throws(LinuxIOError) -> FileDescriptor {
        FileDescriptor(rawValue: try create(nonblocking: nonblocking))
    }

    /// Adds 1 to the counter. One write(2); EAGAIN (counter saturated) is ignored:
    /// the reader is woken anyway.
    @inlinable @inline(__always) public static func signal(_ fd: Int32) {
        var one: UInt64 = 1
        while write(fd, &one, 8) < 0 && errno == EINTR {}
    }

    @inlinable @inline(__always) public static func signal(_ fd: FileDescriptor) { signal(fd.rawValue) }

    /// Reads and clears the counter: blocks on a blocking eventfd until it is
    /// non-zero. Returns the counter, or nil when the fd is non-blocking and the
    /// counter was 0, or on error.
    @inlinable @inline(__always) public static func consume(_ fd: Int32) -> UInt64? {
        var value: UInt64 = 0
        while true {
            let count = read(fd, &value, 8)
            if count == 8 { return value }
            if count < 0 && errno == EINTR { continue }
            return nil
        }
    }

    @inlinable @inline(__always) public static func consume(_ fd: FileDescriptor) -> UInt64? { consume(fd.rawValue) }

    /// Waits up to `timeoutMilliseconds` (< 0: forever) for the counter to become
    /// non-zero and consumes it. Returns false on timeout.
    public static func wait(_ fd: Int32, timeoutMilliseconds: Int32) -> Bool {
        guard waitReadable(fd, timeoutMilliseconds: timeoutMilliseconds) else { return false }
        _ = consume(fd)
        return true
    }

    public static func wait(_ fd: FileDescriptor, timeoutMilliseconds: Int32) -> Bool {
        wait(fd.rawValue, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Whether the fd has O_NONBLOCK set (on its shared file description).
    public static func isNonblocking(_ fd: Int32) -> Bool {
        let flags = fcntl(fd, F_GETFL)
        return flags >= 0 && flags & O_NONBLOCK != 0
    }
}
