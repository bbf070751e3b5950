import Dispatch
import SCMIUpstream
import Synchronization

/// The error `body` threw, nil when it returned.
func upstreamError<T>(_ body: () throws(UpstreamError) -> T) -> UpstreamError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// Whether `error` is `.disconnected` with a reason containing `text`.
func isDisconnected(_ error: UpstreamError?, saying text: String = "") -> Bool {
    guard case .disconnected(let why) = error else { return false }
    return text.isEmpty || why.contains(text)
}

func isMalformed(_ error: UpstreamError?) -> Bool {
    guard case .malformed = error else { return false }
    return true
}

/// `receive` in a loop on a thread of its own, as the upstream host runs it,
/// collecting what arrives, until `stop()`.
final class Receiver: Sendable {
    private let received = Mutex<[[UInt8]]>([])
    private let failure = Mutex<UpstreamError?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let group = DispatchGroup()

    init(_ link: any UpstreamLink) {
        DispatchQueue.global().async(group: group) { [self] in
            while !stopping.load(ordering: .acquiring) {
                if let error = upstreamError({ () throws(UpstreamError) in
                    _ = try link.receive(timeoutMilliseconds: 100) { message in received.withLock { $0.append(message) } }
                }) {
                    failure.withLock { $0 = error }
                    return
                }
            }
        }
    }

    /// Whether every one of `messages` has arrived.
    func hasReceived(_ messages: [[UInt8]]) -> Bool {
        received.withLock { received in messages.allSatisfy(received.contains) }
    }

    /// Ends the loop; the error `receive` threw meanwhile, if any.
    func stop() -> UpstreamError? {
        stopping.store(true, ordering: .releasing)
        group.wait()
        return failure.withLock { $0 }
    }
}
