import Foundation
import SCMIClient
import VhostUser

/// One frontend connection (a "guest") and its SCMI client, over the real vhost-user
/// frontend (memfd guest memory, eventfds, a split ring).
public final class Agent {
    public let frontend: VhostUserFrontend
    public let client: SCMIClient

    public init(socketPath: String) throws {
        frontend = try VhostUserFrontend(socketPath: socketPath)
        client = SCMIClient(transport: Transport(frontend: frontend))
    }

    struct Transport: SCMITransport {
        let frontend: VhostUserFrontend
        mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8] {
            try frontend.exchange(request: request, responseCapacity: responseCapacity)
        }
    }

    /// Like a guest powering off: rings stopped, socket closed.
    public func leave() { frontend.close() }

    deinit { frontend.close() }
}

/// Waits (bounded, polling) until `condition` holds: for effects serve applies
/// asynchronously, like withdrawing a departed frontend's requests. Returns
/// whether it came true; the caller asserts on that, never on the time taken.
public func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
    for _ in 0..<200 {
        if try condition() { return true }
        usleep(25_000)
    }
    return try condition()
}

/// The SCMI status a call failed with (`.success` when it did not fail; nil for other errors).
public func statusOf(_ body: () throws -> Void) -> SCMIStatus? {
    do {
        try body()
        return .success
    } catch let error as SCMIClientError {
        return error.status
    } catch {
        return nil
    }
}
