import SCMIPlatform
import SCMIUpstream
import Synchronization

/// A firmware in the same process: the real engine behind one AgentSession,
/// with notifications (P2A) delivered into a list `receive` drains. For unit
/// tests of what goes over a link; the links themselves are tested against a
/// real vhost-user backend and real files.
final class InProcessLink: UpstreamLink, PlatformMessageSink, @unchecked Sendable {
    let session: AgentSession
    private let state = Mutex<(closed: Bool, messages: [[UInt8]], sent: UInt64)>((false, [], 0))

    init(session: AgentSession) {
        self.session = session
        session.useTransport(
            TransportCapabilities(maxPayload: 4096 - 8, deliversNotifications: true, deliversDelayedResponses: true), sink: self)
    }

    func exchange(_ request: [UInt8], timeoutMilliseconds: Int) throws(UpstreamError) -> [UInt8] {
        guard !state.withLock({ $0.closed }) else { throw .disconnected("closed") }
        var response = [UInt8](repeating: 0, count: 4096)
        let outcome = request.withUnsafeBytes { requestBytes in
            response.withUnsafeMutableBytes { session.handle(request: requestBytes, response: $0) }
        }
        return Array(response.prefix(outcome.responseLength))
    }

    func receive(timeoutMilliseconds: Int, _ body: ([UInt8]) -> Void) throws(UpstreamError) -> Int {
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
        state.withLock { $0.closed = true }
    }

    // PlatformMessageSink

    func post(_ message: UnsafeRawBufferPointer, kind: PlatformMessageKind) -> Bool {
        state.withLock {
            $0.messages.append(Array(message))
            $0.sent += 1
        }
        return true
    }

    var delayedResponsesWaiting: Int { 0 }
    var deliveryCounters: DeliveryCounters {
        state.withLock { DeliveryCounters(sent: $0.sent, waiting: $0.messages.count, dropped: 0) }
    }
}
