import Glibc

/// An open Linux file descriptor, typed so that a descriptor cannot be mixed up
/// with any other `Int32`. Modelled on swift-system's `FileDescriptor`: a plain
/// value (copying it does not duplicate the descriptor), closed explicitly.
///
/// It is not a move-only owner: the descriptors of this project are shared by
/// threads and stored in ring tables as raw values, which `rawValue` gives.
@frozen
public struct FileDescriptor: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    @inlinable @inline(__always)
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Standard input, output and error.
    public static let standardInput = FileDescriptor(rawValue: 0)
    public static let standardOutput = FileDescriptor(rawValue: 1)
    public static let standardError = FileDescriptor(rawValue: 2)

    /// Closes the descriptor. EINTR is not retried (on Linux the descriptor is gone either way).
    public func close() throws(LinuxIOError) {
        guard Glibc.close(rawValue) == 0 else { throw .lastError("close") }
    }

    /// Closes the descriptor, ignoring errors (nothing useful can be done).
    @inlinable @inline(__always)
    public func closeQuietly() { LinuxIO.closeQuietly(rawValue) }

    public var description: String { "fd \(rawValue)" }
}

/// Closes `fd` when it is valid (>= 0), ignoring errors.
@inlinable @inline(__always)
public func closeQuietly(_ fd: Int32) {
    if fd >= 0 { _ = Glibc.close(fd) }
}

/// Closes every fd of a list, ignoring errors.
public func closeAll(_ fds: [Int32]) {
    for fd in fds { closeQuietly(fd) }
}

/// Closes every descriptor of a list, ignoring errors.
public func closeAll(_ fds: [FileDescriptor]) {
    for fd in fds { fd.closeQuietly() }
}

/// Waits until `fd` is readable (or hung up); false on timeout. `timeout` < 0 waits
/// forever. Errors other than EINTR count as readable: the following read reports them.
/// Inlinable: a ring worker on a non-blocking kick fd waits with it before every read.
@inlinable
public func waitReadable(_ fd: Int32, timeoutMilliseconds timeout: Int32) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while true {
        let result = poll(&entry, 1, timeout)
        if result > 0 { return true }
        if result == 0 { return false }
        if errno != EINTR { return true }
    }
}
