import CLinuxShim
import Glibc

/// One run of a program, started directly (posix_spawn, no shell) and waited
/// for with a deadline: what serve's host hook needs (docs/host.md). The
/// child gets exactly the arguments and environment given, standard input
/// from /dev/null, its standard output and error as pipes, no other
/// descriptor of ours, no blocked signals and default signal actions.
/// Its output is kept up to a bound and the rest drained and discarded, so a
/// program writing megabytes neither blocks nor grows our memory.
public enum ChildProcess {
    /// How a run ended.
    public enum Ending: Equatable, Sendable, CustomStringConvertible {
        /// Exited with this status.
        case exited(Int32)
        /// Killed by this signal (not by us).
        case signalled(Int32)
        /// Still running at the deadline: killed (SIGKILL) and reaped.
        case timedOut
        /// Could not be started: posix_spawn's error (ENOENT, EACCES, …).
        case notStarted(errno: Int32)

        public var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signalled(let signal): "killed by signal \(signal)"
            case .timedOut: "still running at the timeout (killed)"
            case .notStarted(let code): "could not start: \(String(cString: strerror(code)))"
            }
        }
    }

    public struct Outcome: Sendable {
        public var ending: Ending
        /// The first `outputLimit` bytes of standard output.
        public var output: [UInt8]
        /// True when standard output had more than that.
        public var outputTruncated: Bool
        /// The first `errorLimit` bytes of standard error.
        public var errors: [UInt8]
    }

    /// Runs `path` with `arguments` (argv, argv[0] included) and
    /// `environment` (each "NAME=value"), for at most `timeoutNanoseconds`.
    public static func run(
        _ path: String, arguments: [String], environment: [String], timeoutNanoseconds: Int64,
        outputLimit: Int = 256, errorLimit: Int = 4096
    ) -> Outcome {
        var outcome = Outcome(ending: .notStarted(errno: 0), output: [], outputTruncated: false, errors: [])
        var outputPipe: [Int32] = [-1, -1], errorPipe: [Int32] = [-1, -1]
        guard shim_pipe2(&outputPipe, O_CLOEXEC | O_NONBLOCK) == 0 else { outcome.ending = .notStarted(errno: errno); return outcome }
        guard shim_pipe2(&errorPipe, O_CLOEXEC | O_NONBLOCK) == 0 else {
            outcome.ending = .notStarted(errno: errno)
            closeAll(outputPipe)
            return outcome
        }
        // The child's ends block as usual (O_NONBLOCK is per open file, set
        // on both ends): only our read ends stay non-blocking.
        _ = fcntl(outputPipe[1], F_SETFL, 0)
        _ = fcntl(errorPipe[1], F_SETFL, 0)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
        // Every other descriptor: serve's are close-on-exec already; this
        // holds for any a library opened without the flag.
        _ = shim_spawn_close_from(&actions, 3)

        // serve blocks its control signals in every thread and ignores
        // SIGPIPE; the program gets an empty mask and default actions.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let started = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in posix_spawn(&pid, path, &actions, &attributes, argv, envp) }
        }
        closeQuietly(outputPipe[1])
        closeQuietly(errorPipe[1])
        defer {
            closeQuietly(outputPipe[0])
            closeQuietly(errorPipe[0])
        }
        guard started == 0 else { outcome.ending = .notStarted(errno: started); return outcome }

        // Linux >= 5.3. Without a pidfd (-1, which poll skips) the loop
        // still ends at the deadline and waitpid tells an exit from a hang.
        let exited = shim_pidfd_open(pid)
        defer { closeQuietly(exited) }
        let deadline = monotonicNanoseconds() + timeoutNanoseconds
        var output = BoundedReader(fd: outputPipe[0], limit: outputLimit)
        var errors = BoundedReader(fd: errorPipe[0], limit: errorLimit)
        var hasExited = false
        // Until the child exits (its pidfd is readable), reading both pipes
        // as they fill. After that only what is buffered is read: a
        // grandchild that keeps a pipe open does not hold us.
        while !hasExited {
            let remaining = deadline - monotonicNanoseconds()
            if remaining <= 0 { break }
            var entries = [
                pollfd(fd: output.atEnd ? -1 : output.fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: errors.atEnd ? -1 : errors.fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: exited, events: Int16(POLLIN), revents: 0),
            ]
            let milliseconds = Int32(min((remaining + 999_999) / 1_000_000, Int64(Int32.max)))
            let ready = poll(&entries, 3, milliseconds)
            if ready < 0 && errno != EINTR { break }
            if entries[2].revents != 0 { hasExited = true }
            output.drain()
            errors.drain()
        }
        var status: Int32 = 0
        if hasExited || waitpid(pid, &status, WNOHANG) == pid {
            if hasExited { while waitpid(pid, &status, 0) < 0 && errno == EINTR {} }
            let signal = status & 0x7f
            outcome.ending = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
        } else {
            kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            outcome.ending = .timedOut
        }
        outcome.output = output.kept
        outcome.outputTruncated = output.overflowed
        outcome.errors = errors.kept
        return outcome
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    public static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// `strings` as a NULL-terminated array of C strings, for the duration of `body`.
    private static func withCStrings<Result>(
        _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result
    ) -> Result {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// A non-blocking pipe's reader that keeps the first `limit` bytes and reads
/// the rest into a scratch buffer it throws away.
private struct BoundedReader {
    let fd: Int32
    let limit: Int
    private(set) var kept: [UInt8] = []
    private(set) var overflowed = false
    /// EOF or an error: nothing more will come.
    private(set) var atEnd = false

    init(fd: Int32, limit: Int) {
        self.fd = fd
        self.limit = limit
        kept.reserveCapacity(limit)
    }

    /// Reads what is there now, without blocking.
    mutating func drain() {
        guard !atEnd else { return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { scratch in
            while true {
                let count = read(fd, scratch.baseAddress, scratch.count)
                if count == 0 { atEnd = true; return }
                if count < 0 {
                    if errno == EINTR { continue }
                    if errno != EAGAIN { atEnd = true }
                    return
                }
                let room = limit - kept.count
                if room > 0 { kept.append(contentsOf: scratch.prefix(min(room, count))) }
                if count > room { overflowed = true }
            }
        }
    }
}
