// `serve --upstream vhost-user:PATH`: serve is the frontend of a firmware that
// is itself a vhost-user SCMI device (another `scmi-dt serve`, or any
// vhost-user SCMI backend), driving it with the frontend `scmi-dt call` uses.

import Glibc
import LinuxIO
import SCMIWire
import Synchronization
import VhostUser

/// A link to a vhost-user SCMI device (docs/protocol.md §15–§17, §25).
///
/// Negotiation is QEMU's (VhostUserFrontend), with VIRTIO_SCMI_F_P2A_CHANNELS
/// accepted when offered and the eventq started and filled, so that the
/// firmware's notifications and delayed responses arrive through `receive`.
///
/// Each command goes into a slot of its own (a request and a response buffer
/// in the shared memory), so replies pair with commands by the ring, not by
/// token: a command that timed out keeps its slot until the device returns
/// the chain, and that late reply is then dropped, never taken for a later
/// command's.
///
/// Threads: one thread sends commands, another takes the firmware's messages.
/// The frontend, which is not thread-safe, is only touched under `state`'s
/// lock, and neither thread sleeps holding it: each waits in its own poll()
/// on a duplicate of its queue's call eventfd and of the socket, then drains
/// under the lock. The duplicates live as long as the link, so a `close()` on
/// another thread never leaves a poller on a reused descriptor number; it shuts
/// the socket down, which wakes both.
public final class VhostUserLink: UpstreamLink, @unchecked Sendable {
    // @unchecked: the frontend is only used under `state`'s lock; the
    // descriptors below are immutable and stay open until deinit.

    /// VIRTIO_SCMI_F_P2A_CHANNELS (virtio-scmi feature bit 0).
    public static let p2aChannels: UInt64 = 1 << 0

    public let socketPath: String
    /// Whether P2A was negotiated: the firmware can send notifications and
    /// delayed responses. Without it `receive` only watches for the end.
    public let receivesMessages: Bool

    private let state: Mutex<State>
    /// Duplicates of the cmdq's and the eventq's call eventfds, and of the socket.
    private let commandCall: Int32
    private let eventCall: Int32
    private let socket: Int32

    private struct State {
        let frontend: VhostUserFrontend
        var closed = false
        /// Per slot: a command was submitted and its chain not yet returned
        /// (the current command's, or one that timed out).
        var pending: [Bool]
        /// Where the search for a free slot starts: slots are used in turn,
        /// which leaves a timed-out command's slot alone as long as possible.
        var nextSlot = 0
    }

    /// Connects to `socketPath` and negotiates; `timeoutMilliseconds` bounds
    /// each answer of the backend during negotiation and at close.
    public init(socketPath: String, timeoutMilliseconds: Int) throws(UpstreamError) {
        self.socketPath = socketPath
        var options = VhostUserFrontendOptions()
        options.slotCount = 16
        options.bufferSize = 512
        options.replyTimeoutMilliseconds = Int32(clamping: max(1, timeoutMilliseconds))
        options.startsEventQueue = true
        // Larger than virtio-scmi's 136 bytes: a firmware may send longer messages.
        options.eventBufferSize = 512
        options.eventBufferCount = 32
        options.wantedDeviceFeatures = Self.p2aChannels
        let frontend: VhostUserFrontend
        do {
            frontend = try Self.connect(socketPath, options)
        } catch {
            throw .disconnected("vhost-user:\(socketPath): \(error)")
        }
        let commandCall = frontend.callNotifier(queue: 0).map { fcntl($0, F_DUPFD_CLOEXEC, 0) } ?? -1
        let socket = fcntl(frontend.channel.fileDescriptor, F_DUPFD_CLOEXEC, 0)
        guard commandCall >= 0, socket >= 0 else {
            let code = errno
            closeAll([commandCall, socket])
            frontend.disconnect()
            throw .disconnected("vhost-user:\(socketPath): dup: \(errorText(code))")
        }
        self.commandCall = commandCall
        self.socket = socket
        receivesMessages = frontend.ackedFeatures & Self.p2aChannels != 0
        eventCall = receivesMessages ? frontend.callNotifier(queue: 1).map { fcntl($0, F_DUPFD_CLOEXEC, 0) } ?? -1 : -1
        state = Mutex(State(frontend: frontend, pending: [Bool](repeating: false, count: options.slotCount)))
    }

    /// The frontend with the eventq; when the backend lacks something for it
    /// (a second queue: GET_QUEUE_NUM says 1), again without it. What it
    /// lacks for the cmdq alone (VERSION_1) fails the second try as well.
    private static func connect(_ path: String, _ options: VhostUserFrontendOptions) throws -> VhostUserFrontend {
        do {
            return try VhostUserFrontend(socketPath: path, options: options)
        } catch VhostUserError.missingFeature {
            var withoutEvents = options
            withoutEvents.startsEventQueue = false
            withoutEvents.wantedDeviceFeatures = 0
            return try VhostUserFrontend(socketPath: path, options: withoutEvents)
        }
    }

    deinit {
        close()
        closeAll([commandCall, eventCall, socket])
    }

    // MARK: Commands

    public func exchange(_ request: [UInt8], timeoutMilliseconds: Int) throws(UpstreamError) -> [UInt8] {
        guard let header = ReplyCheck.header(of: request) else {
            throw .malformed("a request of \(request.count) bytes has no header")
        }
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        let slot = try state.withLock { state throws(UpstreamError) -> Int in
            guard !state.closed else { throw .disconnected("vhost-user:\(socketPath): closed") }
            _ = Self.collect(&state, for: -1)  // frees the slots of late replies
            guard let slot = Self.freeSlot(&state) else {
                throw .disconnected("vhost-user:\(socketPath): all \(state.pending.count) slots wait for replies that never came")
            }
            let frontend = state.frontend
            guard request.count <= frontend.options.bufferSize else {
                throw .malformed("a request of \(request.count) bytes (at most \(frontend.options.bufferSize))")
            }
            let buffer = frontend.requestBuffer(slot: slot)
            request.withUnsafeBytes { buffer.copyMemory(from: $0) }
            do {
                try frontend.submit(slot: slot, requestLength: request.count, responseCapacity: frontend.options.bufferSize)
            } catch {
                throw .disconnected("vhost-user:\(socketPath): \(error)")
            }
            state.pending[slot] = true
            frontend.kick()
            return slot
        }
        while true {
            if let reply = try state.withLock({ state throws(UpstreamError) -> [UInt8]? in
                guard !state.closed else { throw .disconnected("vhost-user:\(socketPath): closed") }
                return Self.collect(&state, for: slot)
            }) {
                // A chain given back with nothing written: the device stopped its
                // rings (a backend does so with every chain it holds when the
                // connection ends), so this command will not be answered.
                guard !reply.isEmpty else {
                    throw .disconnected("vhost-user:\(socketPath): the device gave the command back unanswered (its rings stopped)")
                }
                try ReplyCheck.verify(reply, answers: header)
                return reply
            }
            if deadline.hasPassed {
                // The slot stays pending: its chain is the device's until it comes back.
                throw .timedOut(milliseconds: timeoutMilliseconds)
            }
            let ready = pollInput([commandCall, socket], timeoutMilliseconds: deadline.remainingMilliseconds)
            if ready[1] != 0 { throw ended() }
            if ready[0] != 0 { _ = EventNotifier.consume(commandCall) }
        }
    }

    /// Takes every chain the device returned on the cmdq, freeing its slot;
    /// returns the reply of slot `wanted` when it is among them. When none
    /// came back, asks for a call at the next one (EVENT_IDX) and looks once
    /// more, so that a poll() on the call eventfd afterwards cannot miss it.
    private static func collect(_ state: inout State, for wanted: Int) -> [UInt8]? {
        let frontend = state.frontend
        var reply: [UInt8]?
        var returned = 0
        repeat {
            var freed: [Int] = []
            returned = frontend.collect { slot, response in
                freed.append(slot)
                if slot == wanted { reply = Array(response) }
            }
            for slot in freed { state.pending[slot] = false }
        } while returned == 0 && frontend.driverQueue(0).prepareForNotification()
        return reply
    }

    /// The next slot with nothing pending, in turn.
    private static func freeSlot(_ state: inout State) -> Int? {
        let count = state.pending.count
        for step in 0..<count {
            let slot = (state.nextSlot + step) % count
            if !state.pending[slot] {
                state.nextSlot = (slot + 1) % count
                return slot
            }
        }
        return nil
    }

    /// Why the socket woke a poller: `close()` shut it down, or the backend went away.
    private func ended() -> UpstreamError {
        let closedHere = state.withLock { $0.closed }
        return .disconnected("vhost-user:\(socketPath): " + (closedHere ? "closed" : "the backend closed the connection"))
    }

    // MARK: The firmware's messages

    public func receive(timeoutMilliseconds: Int, _ body: ([UInt8]) -> Void) throws(UpstreamError) -> Int {
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        while true {
            let messages = try state.withLock { state throws(UpstreamError) -> [[UInt8]] in
                guard !state.closed else { throw .disconnected("vhost-user:\(socketPath): closed") }
                var messages: [[UInt8]] = []
                guard receivesMessages else { return messages }
                // A buffer returned empty carries nothing; it is posted again all the same.
                _ = state.frontend.receiveEvents(timeoutMilliseconds: 0) { if !$0.isEmpty { messages.append(Array($0)) } }
                return messages
            }
            if !messages.isEmpty {
                messages.forEach(body)
                return messages.count
            }
            if deadline.hasPassed { return 0 }
            let watched = receivesMessages ? [socket, eventCall] : [socket]
            let ready = pollInput(watched, timeoutMilliseconds: deadline.remainingMilliseconds)
            if ready[0] != 0 { throw ended() }
        }
    }

    // MARK: Closing

    /// Stops the rings as QEMU does and closes the connection; a thread
    /// waiting in `exchange` or `receive` wakes with `.disconnected`.
    public func close() {
        let wasOpen = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.closed = true
            state.frontend.close()
            return true
        }
        // The duplicate keeps the connection open: shut it down so that the
        // backend sees the end and our pollers wake.
        if wasOpen { _ = shutdown(socket, Int32(SHUT_RDWR)) }
    }
}
