// How the client reaches a platform: any byte pipe that carries one SCMI
// command and brings back its response (a vhost-user frontend driving a
// virtio-scmi cmdq; in tests, a session of the in-process engine).

public protocol SCMITransport {
    /// Sends `request` (header + parameters) and returns the bytes the platform
    /// wrote into `responseCapacity` writable bytes (header + status + values).
    mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8]
}
