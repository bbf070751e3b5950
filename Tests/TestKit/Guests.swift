import Foundation
import SCMIClient
import VhostUser

/// One frontend connection (a "guest") and its SCMI client, over the real vhost-user
/// frontend (memfd guest memory, eventfds, a split ring).
public final class Agent {
    public let frontend: VhostUserFrontend
    public let client: SCMIClient

    /// `receivesEvents`: negotiates VIRTIO_SCMI_F_P2A_CHANNELS and fills the
    /// eventq with 136-byte buffers, as a Linux guest does.
    public init(socketPath: String, receivesEvents: Bool = false) throws {
        var options = VhostUserFrontendOptions()
        if receivesEvents {
            options.startsEventQueue = true
            options.wantedDeviceFeatures = 1 << 0  // VIRTIO_SCMI_F_P2A_CHANNELS
        }
        frontend = try VhostUserFrontend(socketPath: socketPath, options: options)
        client = SCMIClient(transport: Transport(frontend: frontend))
    }

    /// Received from the eventq and not yet asked for, oldest first.
    private var events: [[UInt8]] = []

    /// The next platform → agent message on the eventq (bounded wait), its bytes; nil on a timeout.
    public func nextEvent(timeoutMilliseconds: Int32 = 10_000) -> [UInt8]? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeoutMilliseconds))
        while events.isEmpty, ContinuousClock.now < deadline {
            _ = frontend.receiveEvents(timeoutMilliseconds: 100) { events.append(Array($0)) }
        }
        return events.isEmpty ? nil : events.removeFirst()
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
