// `serve --upstream raw:DIR`: the host's own SCMI firmware through Linux's
// SCMI raw mode (debugfs `scmi/N/raw`, Linux ≥ 6.3). What this relies on about
// raw mode is docs/protocol.md §27.

import Glibc
import LinuxIO
import SCMIWire
import Synchronization

/// A link through Linux's SCMI raw-mode files in `directory`:
///
/// - `message`: one write() of header + parameters sends a command; its reply
///   is read back, one whole message per read(), each followed by an empty
///   read that marks its end. poll() says readable while a reply waits.
/// - `message_async`: the same for a command that a delayed response follows
///   (`DelayedResponse.follows`); raw mode then also waits for the delayed
///   response, which arrives among the replies.
/// - `notification`: one notification per read().
///
/// Replies and delayed responses share one queue in the kernel, readable from
/// either file; raw mode does not time commands out for its user and pairs
/// nothing: this link does. It waits for the reply whose header echoes the
/// command's (type, protocol, message id, token), hands delayed responses to
/// `receive`, and drops the late reply of a command that timed out (it keeps
/// the last `abandonedCapacity` such headers). Commands must therefore carry
/// distinct tokens, as SCMIClient's and the upstream host's do. Any other
/// reply is `.malformed`.
///
/// The files are opened non-blocking: raw mode serves `message` and
/// `message_async` from one queue, so both may poll readable for one message,
/// and the read of the second must not wait for the next.
///
/// Threads: `exchange` holds the reply files' lock from its write until its
/// reply is read; `receive` reads `notification` under a lock of its own and
/// the reply files only when that lock is free, so it never waits for a
/// command. Descriptors stay open until deinit; `close()` writes a latch
/// every poll() watches.
public final class RawLink: UpstreamLink, @unchecked Sendable {
    // @unchecked: the descriptors are immutable; reading the reply files is
    // serialised by `replies`, reading `notification` by `notifications`.

    public let directory: String
    public let messagePath: String
    public let asyncMessagePath: String
    public let notificationPath: String

    private let message: Int32
    private let asyncMessage: Int32
    private let notification: Int32
    /// Written once by `close()`, never read: every poller sees it.
    private let closeLatch: Int32
    /// Non-blocking: written when `exchange` put a message into the inbox.
    private let inboxSignal: Int32
    private let closed = Atomic<Bool>(false)
    private let replies = Mutex(ReplyFiles())
    private let notifications = Mutex(())

    /// Bytes read at once: more than raw mode's largest message (its
    /// transport's maximum message size + 4, 128 + 4 on most boards).
    static let readCapacity = 8192
    /// Headers of timed-out commands whose late replies are dropped.
    static let abandonedCapacity = 64
    /// Delayed responses kept for `receive` when nobody takes them.
    static let inboxCapacity = 256
    /// Messages one `receive` hands over at most.
    static let receiveBatch = 64

    private struct ReplyFiles {
        var abandoned: [MessageHeader] = []
        /// Delayed responses (and anything else not a reply) read by `exchange`.
        var inbox: [[UInt8]] = []

        mutating func abandon(_ header: MessageHeader) {
            if abandoned.count == RawLink.abandonedCapacity { abandoned.removeFirst() }
            abandoned.append(header)
        }

        mutating func keep(_ message: [UInt8]) {
            if inbox.count == RawLink.inboxCapacity { inbox.removeFirst() }
            inbox.append(message)
        }
    }

    /// Opens the three files of `directory`. Also sets SIGPIPE to ignored for
    /// the process, as VhostUserBackend does: a `message` that turns out to be
    /// a pipe whose reader is gone must fail one write, not end `serve`.
    public init(directory: String) throws(UpstreamError) {
        let trimmed = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.directory = trimmed
        messagePath = trimmed + "/message"
        asyncMessagePath = trimmed + "/message_async"
        notificationPath = trimmed + "/notification"
        signal(SIGPIPE, SIG_IGN)

        var status = stat()
        guard stat(trimmed, &status) == 0 else {
            throw .disconnected("raw:\(trimmed): \(errorText(errno)) (raw mode needs Linux ≥ 6.3 with CONFIG_ARM_SCMI_RAW_MODE_SUPPORT and debugfs, e.g. /sys/kernel/debug/scmi/0/raw)")
        }
        guard status.st_mode & S_IFMT == S_IFDIR else { throw .disconnected("raw:\(trimmed): not a directory") }

        var opened: [Int32] = []
        func open(_ path: String, _ flags: Int32) throws(UpstreamError) -> Int32 {
            let fd = Glibc.open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            guard fd >= 0 else {
                let code = errno
                closeAll(opened)
                let hint = code == EACCES || code == EPERM ? " (raw mode's files are root's)"
                    : code == ENOENT ? " (not a raw-mode directory?)" : ""
                throw .disconnected("\(path): \(errorText(code))" + hint)
            }
            opened.append(fd)
            return fd
        }
        message = try open(messagePath, O_RDWR)
        asyncMessage = try open(asyncMessagePath, O_RDWR)
        notification = try open(notificationPath, O_RDONLY)
        do {
            closeLatch = try EventNotifier.create()
            opened.append(closeLatch)
            inboxSignal = try EventNotifier.create(nonblocking: true)
        } catch {
            closeAll(opened)
            throw .disconnected("raw:\(trimmed): \(error)")
        }
        // Replies a previous user left unread would be taken for ours' neighbours: drop them.
        replies.withLock { files in
            for (fd, path) in [(message, messagePath), (asyncMessage, asyncMessagePath)] {
                for _ in 0..<RawLink.inboxCapacity {
                    guard pollInput([fd], timeoutMilliseconds: 0)[0] != 0,
                          (try? Self.readMessage(fd, path)) != nil
                    else { break }
                }
            }
            files.inbox = []
        }
    }

    deinit {
        closeAll([message, asyncMessage, notification, closeLatch, inboxSignal])
    }

    // MARK: Commands

    public func exchange(_ request: [UInt8], timeoutMilliseconds: Int) throws(UpstreamError) -> [UInt8] {
        guard let header = ReplyCheck.header(of: request) else {
            throw .malformed("a request of \(request.count) bytes has no header")
        }
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        let isAsync = DelayedResponse.follows(request)
        return try replies.withLock { files throws(UpstreamError) -> [UInt8] in
            guard !closed.load(ordering: .acquiring) else { throw .disconnected("raw:\(directory): closed") }
            try Self.write(request, to: isAsync ? asyncMessage : message, isAsync ? asyncMessagePath : messagePath)
            while true {
                // Both files: the kernel serves one queue through either, and a
                // delayed response may come through the other.
                let ready = pollInput([message, asyncMessage, closeLatch], timeoutMilliseconds: deadline.remainingMilliseconds)
                if ready[2] != 0 { throw .disconnected("raw:\(directory): closed") }
                for (index, fd, path) in [(0, message, messagePath), (1, asyncMessage, asyncMessagePath)] where ready[index] != 0 {
                    guard let bytes = try Self.readMessage(fd, path) else { continue }
                    switch sort(bytes, awaiting: header, &files) {
                    case .reply:
                        try ReplyCheck.verify(bytes, answers: header)
                        return bytes
                    case .set, .stale:
                        continue
                    case .unknown:
                        files.abandon(header)  // its own reply may still come
                        let what = ReplyCheck.header(of: bytes).map { "header \($0)" } ?? "\(bytes.count) bytes"
                        throw .malformed("\(path): a reply with \(what) while waiting for \(header)")
                    }
                }
                if deadline.hasPassed {
                    files.abandon(header)
                    throw .timedOut(milliseconds: timeoutMilliseconds)
                }
            }
        }
    }

    private enum Sorted { case reply, set, stale, unknown }

    /// Where a message read from the reply files goes: the awaited reply; a
    /// delayed response (or anything not a reply) set aside for `receive`;
    /// the late reply of a timed-out command, dropped; or unknown.
    private func sort(_ bytes: [UInt8], awaiting awaited: MessageHeader?, _ files: inout ReplyFiles) -> Sorted {
        guard let header = ReplyCheck.header(of: bytes) else { return .unknown }
        if header.type != .command {
            files.keep(bytes)
            EventNotifier.signal(inboxSignal)
            return .set
        }
        if let awaited, ReplyCheck.echoes(header, awaited) { return .reply }
        if let index = files.abandoned.firstIndex(where: { ReplyCheck.echoes(header, $0) }) {
            files.abandoned.remove(at: index)
            return .stale
        }
        return .unknown
    }

    /// One write() of the whole command, as raw mode wants it.
    private static func write(_ request: [UInt8], to fd: Int32, _ path: String) throws(UpstreamError) {
        while true {
            let written = request.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written == request.count { return }
            if written < 0 && errno == EINTR { continue }
            if written < 0 { throw .disconnected("\(path): write: \(errorText(errno))") }
            throw .disconnected("\(path): \(written) of \(request.count) bytes written")
        }
    }

    /// Reads one message from a raw-mode file poll() found readable; nil when
    /// there was nothing after all. An empty read is raw mode's mark after the
    /// message read before: the file is polled once more and read again if
    /// something waits. Two empty reads in a row are a file at its end (a hung
    /// up terminal, a plain file): the firmware is unreachable through it.
    private static func readMessage(_ fd: Int32, _ path: String) throws(UpstreamError) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: readCapacity)
        var emptyReads = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                guard count < readCapacity else { throw .malformed("\(path): a message of \(readCapacity) bytes or more") }
                return Array(buffer[0..<count])
            }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return nil }
                throw .disconnected("\(path): read: \(errorText(errno))")
            }
            emptyReads += 1
            guard emptyReads < 2 else { throw .disconnected("\(path): the file ended (hung up, or not a raw-mode file)") }
            guard pollInput([fd], timeoutMilliseconds: 0)[0] != 0 else { return nil }
        }
    }

    // MARK: The firmware's messages

    public func receive(timeoutMilliseconds: Int, _ body: ([UInt8]) -> Void) throws(UpstreamError) -> Int {
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        while true {
            guard !closed.load(ordering: .acquiring) else { throw .disconnected("raw:\(directory): closed") }
            var messages: [[UInt8]] = []
            try notifications.withLock { _ throws(UpstreamError) in
                while messages.count < Self.receiveBatch, pollInput([notification], timeoutMilliseconds: 0)[0] != 0,
                      let bytes = try Self.readMessage(notification, notificationPath)
                {
                    messages.append(bytes)
                }
            }
            // The reply files only when no command waits on them (it sets
            // delayed responses aside and signals `inboxSignal`).
            let replyFilesFree = try replies.withLockIfAvailable { files throws(UpstreamError) -> Bool in
                _ = EventNotifier.consume(inboxSignal)
                for (fd, path) in [(message, messagePath), (asyncMessage, asyncMessagePath)] {
                    while files.inbox.count < Self.receiveBatch, pollInput([fd], timeoutMilliseconds: 0)[0] != 0,
                          let bytes = try Self.readMessage(fd, path)
                    {
                        _ = sort(bytes, awaiting: nil, &files)  // a reply nobody waits for is dropped
                    }
                }
                messages += files.inbox
                files.inbox = []
                return true
            } ?? false
            if !messages.isEmpty {
                messages.forEach(body)
                return messages.count
            }
            if deadline.hasPassed { return 0 }
            // While a command holds the reply files, look again soon: it may
            // end before anything else wakes this poll.
            let watched = [closeLatch, inboxSignal, notification] + (replyFilesFree ? [message, asyncMessage] : [])
            let timeout = replyFilesFree ? deadline.remainingMilliseconds : min(deadline.remainingMilliseconds, 20)
            let ready = pollInput(watched, timeoutMilliseconds: timeout)
            if ready[0] != 0 { throw .disconnected("raw:\(directory): closed") }
        }
    }

    // MARK: Closing

    /// Later calls throw `.disconnected`; a thread waiting in `exchange` or
    /// `receive` wakes. The files are closed when the link goes away.
    public func close() {
        if !closed.exchange(true, ordering: .acquiringAndReleasing) { EventNotifier.signal(closeLatch) }
    }
}
