import Dispatch
import SCMIPlatform
import SCMIUpstream
import Synchronization

/// A firmware in the same process: the real engine behind one AgentSession,
/// with notifications (P2A) delivered into a list `receive` drains. For unit
/// tests of what goes over a link; the links themselves are tested against a
/// real vhost-user backend and real files. Closing it ends the session, as a
/// firmware does when its agent's connection goes (its requests withdrawn).
final class InProcessLink: UpstreamLink, PlatformMessageSink, @unchecked Sendable {
    let session: AgentSession
    private struct State {
        var closed = false
        var messages: [[UInt8]] = []
        var sent: UInt64 = 0
        /// Every command's header, in order (what reached the firmware).
        var commands: [MessageHeader] = []
        /// Thrown by the next exchange instead of answering (a fault to see handled).
        var failNext: UpstreamError?
    }
    private let state = Mutex(State())
    /// Signalled once per message posted, and by close().
    private let arrived = DispatchSemaphore(value: 0)

    init(session: AgentSession) {
        self.session = session
        session.useTransport(
            TransportCapabilities(maxPayload: 4096 - 8, deliversNotifications: true, deliversDelayedResponses: true), sink: self)
    }

    /// The headers of the commands sent so far.
    var commands: [MessageHeader] { state.withLock { $0.commands } }

    func clearCommands() { state.withLock { $0.commands = [] } }

    /// The next exchange throws `error` (and the command does not reach the firmware).
    func failNext(_ error: UpstreamError) { state.withLock { $0.failNext = error } }

    func exchange(_ request: [UInt8], timeoutMilliseconds: Int) throws(UpstreamError) -> [UInt8] {
        let refusal = state.withLock { state -> UpstreamError? in
            if state.closed { return .disconnected("closed") }
            defer { state.failNext = nil }
            if let failure = state.failNext { return failure }
            if let word = LittleEndian.word(request, at: 0) { state.commands.append(MessageHeader(rawValue: word)) }
            return nil
        }
        if let refusal { throw refusal }
        var response = [UInt8](repeating: 0, count: 4096)
        let outcome = request.withUnsafeBytes { requestBytes in
            response.withUnsafeMutableBytes { session.handle(request: requestBytes, response: $0) }
        }
        return Array(response.prefix(outcome.responseLength))
    }

    func receive(timeoutMilliseconds: Int, _ body: ([UInt8]) -> Void) throws(UpstreamError) -> Int {
        if state.withLock({ !$0.closed && $0.messages.isEmpty }) {
            _ = arrived.wait(timeout: .now() + .milliseconds(timeoutMilliseconds))
        }
        let messages = state.withLock { state -> [[UInt8]]? in
            guard !state.closed else { return nil }
            defer { state.messages = [] }
            return state.messages
        }
        guard let messages else { throw .disconnected("closed") }
        messages.forEach(body)
        return messages.count
    }

    func close() {
        let wasOpen = state.withLock { state in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        arrived.signal()
        session.end()
    }

    // PlatformMessageSink

    func post(_ message: UnsafeRawBufferPointer, kind: PlatformMessageKind) -> Bool {
        state.withLock {
            $0.messages.append(Array(message))
            $0.sent += 1
        }
        arrived.signal()
        return true
    }

    var delayedResponsesWaiting: Int { 0 }
    var deliveryCounters: DeliveryCounters {
        state.withLock { DeliveryCounters(sent: $0.sent, waiting: $0.messages.count, dropped: 0) }
    }
}
