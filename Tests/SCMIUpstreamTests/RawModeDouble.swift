import Foundation
import Glibc
import LinuxIO
import SCMIPlatform
import SCMIWire
import Synchronization

/// A stand-in for Linux's SCMI raw-mode directory, for machines without an
/// SCMI firmware (every test machine here): `message`, `message_async` and
/// `notification` are symbolic links to the slave sides of three
/// pseudo-terminals put in raw mode (cfmakeraw: no echo, no line editing,
/// bytes pass as written). A responder thread on the master sides reads each
/// command and answers it with the real engine, as agent 1 of
/// `Firmware.tables`; the engine's notifications go to `notification`, its
/// delayed responses after the reply to the terminal the command came through.
/// The responder runs until `hangUp()`, which every user calls.
///
/// What it shares with raw mode: open() by path, one write() per command,
/// poll() readable while a message waits, one whole message per read() (it
/// writes a message only once the previous one on that terminal was read).
/// What it does not have: the empty read after each message, the single queue
/// behind `message` and `message_async`, the kernel's own timeout. Those only
/// a board with SCMI firmware shows (docs/protocol.md §27).
final class RawModeDouble: PlatformMessageSink, @unchecked Sendable {
    // @unchecked: `outgoing` and `held` are under their Mutex; the rest is
    // immutable after init or touched by the responder thread alone.

    enum Behaviour: Int {
        /// Answer at once with the engine's reply.
        case answer
        /// Read commands and keep them until `answerHeld()`.
        case silent
        /// Answer with the token plus one.
        case wrongToken
        /// Answer with the header alone (4 bytes).
        case shortReply
    }

    /// One pseudo-terminal: its master (the double's side) and an fd of its
    /// slave that is never read, to see whether the link read what waits.
    struct Terminal {
        let master: Int32
        let watcher: Int32
        let slavePath: String
    }

    let directory: String
    let terminals: [Terminal]  // message, message_async, notification
    let platform = SCMIPlatform(tables: Firmware.tables)
    private let session: AgentSession
    /// Agent 2 of the same firmware, for changes the link is notified of.
    let otherAgent: AgentSession
    let behaviour = Atomic<Int>(Behaviour.answer.rawValue)
    /// Commands read per terminal (0 message, 1 message_async).
    private let commandCounts = Mutex<[Int]>([0, 0])
    var commandsRead: [Int] { commandCounts.withLock { $0 } }

    /// Written when a message is queued or the responder must stop.
    private let wake: Int32
    /// Written by `answerHeld()`.
    private let release: Int32
    private let stopping = Atomic<Bool>(false)
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    private let outgoing = Mutex<[[[UInt8]]]>([[], [], []])
    private let held = Mutex<[(terminal: Int, request: [UInt8])]>([])
    private let sent = Atomic<UInt64>(0)

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("scmi-dt-raw-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var terminals: [Terminal] = []
        for name in ["message", "message_async", "notification"] {
            let terminal = try Self.openTerminal()
            terminals.append(terminal)
            try FileManager.default.createSymbolicLink(atPath: directory + "/" + name, withDestinationPath: terminal.slavePath)
        }
        self.terminals = terminals
        session = platform.makeSession(agentID: 1)!
        otherAgent = platform.makeSession(agentID: 2)!
        wake = try EventNotifier.create()
        release = try EventNotifier.create()
        session.useTransport(TransportCapabilities(maxPayload: 128, deliversNotifications: true, deliversDelayedResponses: true), sink: self)
        let thread = Thread { [self] in
            respond()
            finished.signal()
        }
        self.thread = thread
        thread.start()
    }

    /// TIOCSPTLCK and TIOCGPTN (asm-generic/ioctls.h: _IOW/_IOR('T', 0x31/0x30, int)).
    private static let setLock = UInt(0x4004_5431)
    private static let getNumber = UInt(0x8004_5430)

    /// A pseudo-terminal whose slave is in raw mode.
    private static func openTerminal() throws -> Terminal {
        // posix_openpt, unlockpt and ptsname as glibc does them on Linux
        // (Glibc's Swift module leaves those three out).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw LinuxIOError.lastError("open /dev/ptmx") }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard ioctl(master, Self.setLock, &unlock) == 0, ioctl(master, Self.getNumber, &number) == 0 else {
            throw LinuxIOError.lastError("ioctl /dev/ptmx")
        }
        let slavePath = "/dev/pts/\(number)"
        let watcher = open(slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard watcher >= 0 else { throw LinuxIOError.lastError("open " + slavePath) }
        var settings = termios()
        tcgetattr(watcher, &settings)
        cfmakeraw(&settings)
        guard tcsetattr(watcher, TCSANOW, &settings) == 0 else { throw LinuxIOError.lastError("tcsetattr") }
        return Terminal(master: master, watcher: watcher, slavePath: slavePath)
    }

    deinit {
        hangUp()
        closeAll(terminals.map(\.watcher) + [wake, release])
        try? FileManager.default.removeItem(atPath: directory)
    }

    func set(_ behaviour: Behaviour) { self.behaviour.store(behaviour.rawValue, ordering: .releasing) }

    /// Answers, late, the commands kept while `silent`.
    func answerHeld() { EventNotifier.signal(release) }

    var heldCount: Int { held.withLock { $0.count } }

    /// Stops the responder and closes the master sides: the slaves hang up,
    /// as the files of a firmware that went away stop working.
    func hangUp() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        EventNotifier.signal(wake)
        finished.wait()
        closeAll(terminals.map(\.master))
    }

    /// Agent 2 sends `request` to the same firmware; its reply.
    func asOtherAgent(_ request: [UInt8]) -> [UInt8] { Self.handle(request, by: otherAgent) }

    private static func handle(_ request: [UInt8], by session: AgentSession) -> [UInt8] {
        var reply = [UInt8](repeating: 0, count: 256)
        let outcome = request.withUnsafeBytes { requestBytes in
            reply.withUnsafeMutableBytes { session.handle(request: requestBytes, response: $0) }
        }
        return Array(reply.prefix(outcome.responseLength))
    }

    // MARK: The responder thread

    private func respond() {
        var arriving: [ContinuousClock.Instant?] = [nil, nil, nil]
        var waiting: [Bool] = [false, false, false]  // a written message not yet read by the link
        while !stopping.load(ordering: .acquiring) {
            let pending = outgoing.withLock { $0.contains { !$0.isEmpty } } || waiting.contains(true)
            let ready = pollInput([terminals[0].master, terminals[1].master, wake, release], timeoutMilliseconds: pending ? 1 : -1)
            if ready[2] != 0 { _ = EventNotifier.consume(wake) }
            if ready[3] != 0 {
                _ = EventNotifier.consume(release)
                let late = held.withLock { held in
                    defer { held = [] }
                    return held
                }
                for (terminal, request) in late { answer(request, on: terminal) }
            }
            for terminal in 0..<2 where ready[terminal] != 0 {
                var request = [UInt8](repeating: 0, count: 512)
                let count = request.withUnsafeMutableBytes { read(terminals[terminal].master, $0.baseAddress, $0.count) }
                guard count > 0 else { continue }
                commandCounts.withLock { $0[terminal] += 1 }
                if Behaviour(rawValue: behaviour.load(ordering: .acquiring)) == .silent {
                    held.withLock { $0.append((terminal, Array(request.prefix(count)))) }
                } else {
                    answer(Array(request.prefix(count)), on: terminal)
                }
            }
            for terminal in 0..<3 { send(on: terminal, arriving: &arriving[terminal], waiting: &waiting[terminal]) }
        }
    }

    /// Queues the engine's reply (spoiled as `behaviour` says) and, after it,
    /// any delayed response the engine posted while handling it.
    private func answer(_ request: [UInt8], on terminal: Int) {
        let before = outgoing.withLock { $0[terminal].count }
        var reply = Self.handle(request, by: session)
        switch Behaviour(rawValue: behaviour.load(ordering: .acquiring)) ?? .answer {
        case .answer, .silent: break
        case .wrongToken:
            let header = MessageHeader(rawValue: UInt32(reply[0]) | UInt32(reply[1]) << 8 | UInt32(reply[2]) << 16 | UInt32(reply[3]) << 24)
            reply.replaceSubrange(0..<4, with: Firmware.bytes([MessageHeader(protocolID: header.protocolID, messageID: header.messageID,
                                                                             token: header.token &+ 1).rawValue]))
        case .shortReply: reply = Array(reply.prefix(4))
        }
        outgoing.withLock { $0[terminal].insert(reply, at: before) }
    }

    /// Writes the next queued message of `terminal` once the link has read
    /// the previous one: its bytes reached the slave (`arriving` until then,
    /// at most 20 ms) and left it.
    private func send(on terminal: Int, arriving: inout ContinuousClock.Instant?, waiting: inout Bool) {
        var queued: Int32 = 0
        if waiting {
            _ = ioctl(terminals[terminal].watcher, UInt(FIONREAD), &queued)
            if let since = arriving {
                guard queued > 0 || ContinuousClock.now - since > .milliseconds(20) else { return }
                arriving = nil
            }
            guard queued == 0 else { return }
            waiting = false
        }
        guard let message = outgoing.withLock({ $0[terminal].isEmpty ? nil : $0[terminal].removeFirst() }) else { return }
        _ = message.withUnsafeBytes { write(terminals[terminal].master, $0.baseAddress, $0.count) }
        waiting = true
        arriving = .now
    }

    // MARK: PlatformMessageSink (the engine's messages to agent 1)

    func post(_ message: UnsafeRawBufferPointer, kind: PlatformMessageKind) -> Bool {
        outgoing.withLock { $0[kind == .delayedResponse ? 1 : 2].append(Array(message)) }
        sent.add(1, ordering: .relaxed)
        EventNotifier.signal(wake)
        return true
    }

    var delayedResponsesWaiting: Int { 0 }
    var deliveryCounters: DeliveryCounters { DeliveryCounters(sent: sent.load(ordering: .relaxed), waiting: 0, dropped: 0) }
}

/// poll() for input on `fds`; each fd's revents (all 0 on a timeout).
func pollInput(_ fds: [Int32], timeoutMilliseconds: Int32) -> [Int16] {
    var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    guard poll(&entries, nfds_t(entries.count), timeoutMilliseconds) > 0 else { return [Int16](repeating: 0, count: fds.count) }
    return entries.map(\.revents)
}
