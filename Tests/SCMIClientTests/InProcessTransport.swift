import SCMIClient
import SCMIPlatform

/// The real engine in the same process: one AgentSession, no rings or sockets.
/// Test support: the client library itself knows nothing of the engine.
struct InProcessTransport: SCMITransport {
    let session: AgentSession

    init(session: AgentSession) {
        self.session = session
    }

    mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8] {
        var response = [UInt8](repeating: 0, count: max(0, responseCapacity))
        let outcome = request.withUnsafeBytes { requestBytes in
            response.withUnsafeMutableBytes { session.handle(request: requestBytes, response: $0) }
        }
        return Array(response.prefix(outcome.responseLength))
    }
}
