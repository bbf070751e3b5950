import LinuxIO

#if canImport(Glibc)
import Glibc
#endif

/// What can stop `serve` from setting up its sockets, said with the path at fault.
public enum SocketSetupError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `--socket-mode` is not an octal mode of permission bits.
    case badMode(String)
    /// A group or user name that this host does not know.
    case unknownGroup(String)
    case unknownUser(String)
    /// Only root may give a file to another user.
    case ownerNeedsRoot(String)
    /// The path exists and is not a directory.
    case notADirectory(String)
    /// The directory could not be created (the parent is missing, or not writable).
    case cannotCreateDirectory(String, reason: String)
    /// A socket could not be created at `path`.
    case cannotListen(String, reason: String)

    public var description: String {
        switch self {
        case .badMode(let text): "socket mode '\(text)' is not an octal mode between 0 and 0777 (e.g. 0660)"
        case .unknownGroup(let name): "no group '\(name)' on this host (see /etc/group)"
        case .unknownUser(let name): "no user '\(name)' on this host (see /etc/passwd)"
        case .ownerNeedsRoot(let name): "giving the sockets to owner '\(name)' needs root"
        case .notADirectory(let path): "\(path) exists and is not a directory"
        case .cannotCreateDirectory(let path, let reason): "cannot create the socket directory \(path): \(reason)"
        case .cannotListen(let path, let reason): "cannot listen on \(path): \(reason)"
        }
    }
}

extension SocketAccess {
    /// The mode serve gives its sockets when not told otherwise: owner and group may connect.
    public static let defaultMode: mode_t = 0o660

    /// The access `serve --socket-mode MODE [--socket-group GROUP] [--socket-owner USER]` asks
    /// for; a group or user is a name or a number.
    public static func resolve(mode: String, group: String?, owner: String?) throws(SocketSetupError) -> SocketAccess {
        let digits = mode.hasPrefix("0o") ? mode.dropFirst(2) : Substring(mode)
        guard !digits.isEmpty, let bits = mode_t(digits, radix: 8), bits <= 0o777 else { throw .badMode(mode) }
        var access = SocketAccess(mode: bits)
        if let group {
            if let number = gid_t(group) {
                access.group = number
            } else if let entry = getgrnam(group) {
                access.group = entry.pointee.gr_gid
            } else {
                throw .unknownGroup(group)
            }
        }
        if let owner {
            if let number = uid_t(owner) {
                access.owner = number
            } else if let entry = getpwnam(owner) {
                access.owner = entry.pointee.pw_uid
            } else {
                throw .unknownUser(owner)
            }
            if geteuid() != 0 && access.owner != geteuid() { throw .ownerNeedsRoot(owner) }
        }
        return access
    }

    /// The mode of a directory that holds sockets of this access: the owner may do
    /// anything; the group and others may enter it only when the sockets let them in.
    public var directoryMode: mode_t {
        var bits: mode_t = 0o700
        if mode & 0o070 != 0 { bits |= 0o050 }
        if mode & 0o007 != 0 { bits |= 0o005 }
        return bits
    }
}

/// The directory `serve --socket-dir DIR` puts its sockets in.
public enum SocketDirectory {
    /// Makes sure `path` is a directory: an existing one is used as it is; a missing one
    /// is created (its parent must exist) with `access.directoryMode` and the sockets'
    /// group and owner, so that nobody the sockets would refuse can even list it.
    /// Returns whether it was created.
    @discardableResult
    public static func prepare(_ path: String, access: SocketAccess) throws(SocketSetupError) -> Bool {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw .notADirectory(path) }
            return false
        }
        guard mkdir(path, access.directoryMode) == 0 else {
            let code = errno
            if code == EEXIST { return try prepare(path, access: access) }  // created meanwhile
            throw .cannotCreateDirectory(path, reason: reason(code, path: path))
        }
        // mkdir applied the umask; chown and chmod give the intended group and mode.
        if access.group != nil || access.owner != nil,
            lchown(path, access.owner ?? uid_t.max, access.group ?? gid_t.max) != 0
        {
            throw .cannotCreateDirectory(path, reason: "chown: " + String(cString: strerror(errno)))
        }
        guard chmod(path, access.directoryMode) == 0 else {
            throw .cannotCreateDirectory(path, reason: "chmod: " + String(cString: strerror(errno)))
        }
        return true
    }

    /// Why creating something at `path` failed with `code`, naming the directory at fault.
    static func reason(_ code: Int32, path: String) -> String {
        let parent = parentDirectory(of: path)
        switch code {
        case ENOENT: return "the directory \(parent) does not exist"
        case ENOTDIR: return "a component of \(parent) is not a directory"
        case EACCES, EPERM: return "permission denied in \(parent)"
        case EROFS: return "\(parent) is on a read-only file system"
        default: return String(cString: strerror(code))
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

extension SocketSetupError {
    /// A failure to create the socket at `path`, said in terms of the path.
    static func listening(_ path: String, _ error: any Error) -> any Error {
        guard let error = error as? LinuxIOError else { return error }
        switch error {
        case .system(let call, let code) where call.hasPrefix("bind"):
            return SocketSetupError.cannotListen(path, reason: SocketDirectory.reason(code, path: path))
        case .system(let call, let code) where call.hasPrefix("chown") || call.hasPrefix("chmod"):
            let what = call.hasPrefix("chown") ? "giving it the group/owner" : "setting its mode"
            let hint = code == EPERM ? " (only root, or a member of the group, may give a file to a group)" : ""
            return SocketSetupError.cannotListen(path, reason: "\(what): \(String(cString: strerror(code)))\(hint)")
        default:
            return error
        }
    }
}
