import CLinuxShim
import Glibc

/// Who may connect to a listening socket's file: its mode, and optionally its group and
/// owner. Connecting to a Unix socket takes write permission on the file, so the mode
/// decides who may connect (0660: the owner and the group).
public struct SocketAccess: Equatable, Sendable {
    /// Permission bits of the socket file (0...0o777).
    public var mode: mode_t
    /// The file's group, or nil to keep the creating process's.
    public var group: gid_t?
    /// The file's owner (changing it takes root), or nil to keep the creating process's.
    public var owner: uid_t?

    public init(mode: mode_t, group: gid_t? = nil, owner: uid_t? = nil) {
        self.mode = mode
        self.group = group
        self.owner = owner
    }
}

/// Unix stream sockets: listening with stale-file handling, connecting with a
/// bounded wait, accepting with close-on-exec, send and receive timeouts.
public enum UnixSocket {
    /// Fills a sockaddr_un for `path`, or throws when it does not fit.
    public static func address(for path: String) throws(LinuxIOError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw .socketPathTooLong(path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// A new, unconnected Unix stream socket (close-on-exec).
    public static func makeSocket() throws(LinuxIOError) -> FileDescriptor {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .lastError("socket") }
        return FileDescriptor(rawValue: fd)
    }

    /// Connects to the stream socket at `path`. With a `timeout`, a listener whose backlog is
    /// full (a stuck or flooded server) makes this fail with EAGAIN after that long instead of
    /// blocking for ever: Linux bounds a Unix-socket connect by the socket's send timeout.
    /// The timeout stays set on the returned socket (for its sends).
    public static func connect(to path: String, timeout: Duration? = nil) throws(LinuxIOError) -> FileDescriptor {
        var address = try address(for: path)
        let fd = try makeSocket()
        if let timeout { setTimeout(fd, SO_SNDTIMEO, timeout) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let error = LinuxIOError.lastError("connect(\(path))")
            fd.closeQuietly()
            // Linux refuses a connect to a regular file as it does one to a socket nobody
            // listens on (ECONNREFUSED); say which it was.
            var info = stat()
            if error.errno == ECONNREFUSED, stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFSOCK {
                throw .pathIsNotASocket(path)
            }
            throw error
        }
        return fd
    }

    /// Sets SO_SNDTIMEO or SO_RCVTIMEO: a blocking send, receive (or connect) on `fd` then
    /// fails with EAGAIN once `timeout` has passed without progress. A zero timeout is
    /// rounded up to 1 µs (0 would mean "no timeout").
    public static func setTimeout(_ fd: FileDescriptor, _ option: Int32, _ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }
        _ = setsockopt(fd.rawValue, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Binds and listens on `path`. A socket file nobody listens on (left by a
    /// crashed run: connecting is refused) is removed first; a live listener — even
    /// one too busy to accept within a second — or a non-socket file is an error.
    /// With `access`, the file gets that mode, group and owner after bind and before
    /// listen, so no client can connect while it still has the umask's permissions.
    public static func listen(on path: String, backlog: Int32 = 4, access: SocketAccess? = nil) throws(LinuxIOError) -> FileDescriptor {
        var address = try address(for: path)
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else { throw .pathIsNotASocket(path) }
            do throws(LinuxIOError) {
                try connect(to: path, timeout: .seconds(1)).closeQuietly()
                throw .socketInUse(path)
            } catch {
                switch error {
                case .system(_, let code) where code == ECONNREFUSED || code == ENOENT: unlink(path)
                case .system(_, let code) where code == EAGAIN: throw .socketInUse(path)
                default: throw error
                }
            }
        }
        let fd = try makeSocket()
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let error = LinuxIOError.lastError("bind(\(path))")
            fd.closeQuietly()
            throw error
        }
        if let access {
            do throws(LinuxIOError) {
                try apply(access, to: path)
            } catch {
                fd.closeQuietly()
                unlink(path)
                throw error
            }
        }
        guard Glibc.listen(fd.rawValue, backlog) == 0 else {
            let error = LinuxIOError.lastError("listen(\(path))")
            fd.closeQuietly()
            unlink(path)
            throw error
        }
        return fd
    }

    /// Accepts one connection, close-on-exec set atomically (accept4). Blocks unless the
    /// listener is non-blocking. EINTR, EAGAIN and ECONNABORTED are thrown like any
    /// errno: callers' accept loops decide which to retry.
    public static func accept(_ listener: FileDescriptor) throws(LinuxIOError) -> FileDescriptor {
        let fd = shim_accept_cloexec(listener.rawValue)
        guard fd >= 0 else { throw .lastError("accept") }
        return FileDescriptor(rawValue: fd)
    }

    /// Gives the file at `path` (a socket just bound by this process) `access`'s mode,
    /// group and owner. lchown: a symbolic link put in its place is not followed.
    private static func apply(_ access: SocketAccess, to path: String) throws(LinuxIOError) {
        if access.group != nil || access.owner != nil {
            let owner = access.owner ?? uid_t.max  // (uid_t)-1: unchanged
            let group = access.group ?? gid_t.max
            guard lchown(path, owner, group) == 0 else { throw .lastError("chown(\(path))") }
        }
        guard chmod(path, access.mode & 0o777) == 0 else { throw .lastError("chmod(\(path))") }
    }
}

/// Unix datagram messages to a socket nobody is connected to: what systemd's
/// notification protocol (sd_notify) uses.
public enum UnixDatagram {
    /// Sends `text` as one datagram to the socket at `path`; a path starting with `@`
    /// names a socket in the abstract namespace (the `@` stands for a leading NUL byte).
    public static func send(_ text: String, to path: String) throws(LinuxIOError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count >= (abstract ? 2 : 1), bytes.count < capacity, !bytes.dropFirst().contains(0) else {
            throw .socketPathTooLong(path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        // An abstract address's length counts exactly its bytes; a path's, its NUL too.
        let length = MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .lastError("socket") }
        defer { closeQuietly(fd) }
        let message = Array(text.utf8)
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), target, socklen_t(length)) }
            }
        }
        guard sent == message.count else { throw .lastError("sendto(\(path))") }
    }
}
