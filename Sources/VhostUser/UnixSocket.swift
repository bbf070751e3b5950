import CLinuxShim
import Glibc

/// Unix stream sockets: listening with stale-file handling, connecting.
/// Public because serve's control socket wants the same care.
public enum UnixSocket {
    /// Fills a sockaddr_un for `path`, or throws when it does not fit.
    static func address(for path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw VhostUserError.socketPathTooLong(path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    static func makeSocket() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw VhostUserError.lastError("socket") }
        return fd
    }

    /// Connects to the stream socket at `path`. With a `timeout`, a listener whose backlog is
    /// full (a stuck or flooded server) makes this fail with EAGAIN after that long instead of
    /// blocking for ever: Linux bounds a Unix-socket connect by the socket's send timeout.
    public static func connect(to path: String, timeout: Duration? = nil) throws -> Int32 {
        var address = try address(for: path)
        let fd = try makeSocket()
        if let timeout { setTimeout(fd, SO_SNDTIMEO, timeout) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let error = VhostUserError.lastError("connect(\(path))")
            closeQuietly(fd)
            throw error
        }
        return fd
    }

    /// Sets SO_SNDTIMEO or SO_RCVTIMEO: a blocking send, receive (or connect) on `fd` then
    /// fails with EAGAIN once `timeout` has passed without progress.
    public static func setTimeout(_ fd: Int32, _ option: Int32, _ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }  // 0 would mean "no timeout"
        _ = setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Binds and listens on `path`. A socket file nobody listens on (left by a
    /// crashed run: connecting is refused) is removed first; a live listener — even
    /// one too busy to accept within a second — or a non-socket file is an error.
    public static func listen(on path: String, backlog: Int32 = 4) throws -> Int32 {
        var address = try address(for: path)
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else { throw VhostUserError.pathIsNotASocket(path) }
            do {
                closeQuietly(try connect(to: path, timeout: .seconds(1)))
                throw VhostUserError.socketInUse(path)
            } catch VhostUserError.system(_, let code) where code == ECONNREFUSED || code == ENOENT {
                unlink(path)
            } catch VhostUserError.system(_, let code) where code == EAGAIN {
                throw VhostUserError.socketInUse(path)
            }
        }
        let fd = try makeSocket()
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let error = VhostUserError.lastError("bind(\(path))")
            closeQuietly(fd)
            throw error
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let error = VhostUserError.lastError("listen(\(path))")
            closeQuietly(fd)
            unlink(path)
            throw error
        }
        return fd
    }
}
