import SCMIPlatform

// How the client reaches a platform: any byte pipe that carries one SCMI
// command and brings back its response (a vhost-user frontend driving a
// virtio-scmi cmdq, or a session of an in-process engine).

public protocol SCMITransport {
    /// Sends `request` (header + parameters) and returns the bytes the platform
    /// wrote into `responseCapacity` writable bytes (header + status + values).
    mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8]
}

/// The real engine in the same process: one AgentSession, no rings or sockets.
/// For tests, and for trying a blob's tables without a VM.
public struct InProcessTransport: SCMITransport {
    public let session: AgentSession

    public init(session: AgentSession) {
        self.session = session
    }

    public mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8] {
        var response = [UInt8](repeating: 0, count: max(0, responseCapacity))
        let outcome = request.withUnsafeBytes { requestBytes in
            response.withUnsafeMutableBytes { session.handle(request: requestBytes, response: $0) }
        }
        return Array(response.prefix(outcome.responseLength))
    }
}
