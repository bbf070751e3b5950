import Synchronization

/// Counters a backend keeps across connections, updated from the control and
/// ring-worker threads and read by `status`.
final class BackendStatistics: Sendable {
    let connectionsAccepted = Atomic<UInt64>(0)
    let connectionsRefused = Atomic<UInt64>(0)
    let chainsServed = Atomic<UInt64>(0)
    let chainsServedThisConnection = Atomic<UInt64>(0)
    let brokenChains = Atomic<UInt64>(0)
    let errors = Atomic<UInt64>(0)
    let lastError = Mutex<String?>(nil)
    let connectedSince = Mutex<Double?>(nil)

    func recordError(_ text: String) {
        errors.add(1, ordering: .relaxed)
        lastError.withLock { $0 = text }
    }
}

/// Sends a non-Sendable handler to the threads of its one connection.
struct HandlerReference: @unchecked Sendable {
    // @unchecked: the connection's threads never call the handler concurrently
    // (see VhostUserDeviceHandler's threading rules).
    let handler: any VhostUserDeviceHandler
}
