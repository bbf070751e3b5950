import Glibc

/// What can go wrong in this layer, with the place it went wrong. The
/// descriptions are what users see (serve's and status's error messages).
public enum LinuxIOError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// A socket path does not fit `sockaddr_un` (107 bytes), is empty or holds a NUL.
    case socketPathTooLong(String)
    /// Another process is listening on the path.
    case socketInUse(String)
    /// The path exists and is not a socket: we will not remove it.
    case pathIsNotASocket(String)

    public var description: String {
        switch self {
        case .system(let call, let errno):
            return "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .socketPathTooLong(let path): return "socket path too long for a Unix socket: \(path)"
        case .socketInUse(let path): return "another process is already listening on \(path)"
        case .pathIsNotASocket(let path): return "\(path) exists and is not a socket"
        }
    }

    /// The errno of a failed system call, nil for the other cases.
    public var errno: Int32? {
        if case .system(_, let code) = self { return code }
        return nil
    }

    /// `.system(call, errno)` with the calling thread's current errno.
    public static func lastError(_ call: String) -> LinuxIOError { .system(call: call, errno: Glibc.errno) }
}
