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

    public static func connect(to path: String) throws -> Int32 {
        var address = try address(for: path)
        let fd = try makeSocket()
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

    /// Binds and listens on `path`. A socket file nobody listens on (left by a
    /// crashed run) is removed first; a live listener or a non-socket file is an error.
    public static func listen(on path: String, backlog: Int32 = 4) throws -> Int32 {
        var address = try address(for: path)
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else { throw VhostUserError.pathIsNotASocket(path) }
            if let probe = try? connect(to: path) {
                closeQuietly(probe)
                throw VhostUserError.socketInUse(path)
            }
            unlink(path)
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
