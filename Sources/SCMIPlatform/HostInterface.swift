// The seam between the engine's decisions and the host (docs/serve-choices.md,
// "Host seam"). A request that changes a resource's physical state is decided
// under the state lock (the agent's request recorded, the arbiter settled),
// applied by the host with no lock on the state, then committed (reported)
// or, when the host refuses, rolled back: the agent's previous request is put
// back, the arbiter settles where it was, and the agent gets the host's
// status. Changes are applied one at a time (HostState.hostLock, shared by
// every model serve's reloads made), so a
// rollback always finds the state it left; reads never wait for the host.
//
// A resource whose value the host reads (readsHardware, asked once per
// resource when the platform is built and kept as a flag in its unit's
// storage) answers CLOCK_RATE_GET and the like with the host's readValue
// instead of the engine's physical value; every other resource reads the
// engine's state as before, with nothing more than the flag's test.

import ResourceTables

/// Where decided changes go. `apply` is called without the state lock, one
/// change at a time, in the order the changes were decided.
public protocol HostInterface: Sendable {
    /// Makes `change` real on the host: SUCCESS, or the status the agent gets
    /// (the change is then rolled back). A change caused by a withdrawal
    /// (disconnect, agent reset) cannot be refused: its failure is only reported.
    func apply(_ change: PhysicalChange) -> SCMIStatus

    /// The value of sensor `resource` when the host is its source (neither a
    /// constant nor a file; docs/host.md §3), for `agent`'s request; nil is
    /// HARDWARE_ERROR. Called without the state lock; `agent` is 0 for the
    /// platform's own polls (trip points, updates).
    func readSensor(_ resource: UInt32, agent: UInt32) -> Int64?

    /// Whether the value of resource `resource` of `protocolID` is read from
    /// the host (readValue) rather than from the engine's physical state: a
    /// resource the firmware owns (docs/host.md, "Upstream"), for the reads
    /// that report hardware (CLOCK_RATE_GET, VOLTAGE_LEVEL_GET,
    /// PERFORMANCE_LEVEL_GET, SENSOR_READING_GET). Asked once per resource
    /// when a platform is built.
    func readsHardware(_ protocolID: ProtocolID, _ resource: UInt32) -> Bool

    /// The hardware's value of a resource for which readsHardware is true (a
    /// rate in Hz, a level in µV or kHz, a sensor reading), or the status the
    /// agent gets. Called without the state lock.
    func readValue(_ protocolID: ProtocolID, _ resource: UInt32) -> Result<Int64, SCMIStatus>

    /// The last failure of each resource whose latest host action failed,
    /// one line each (`KIND ID "NAME": ACTION: why`), sorted, for `status`.
    var lastFailures: [String] { get }

    /// The tables of a new model (serve's reload): the host names and routes
    /// resources by them from now on.
    func describe(_ tables: PlatformTables)
}

extension HostInterface {
    /// A host that is no sensor's source.
    public func readSensor(_ resource: UInt32, agent: UInt32) -> Int64? { nil }

    /// A host that reads no hardware: every read is the engine's.
    public func readsHardware(_ protocolID: ProtocolID, _ resource: UInt32) -> Bool { false }

    public func readValue(_ protocolID: ProtocolID, _ resource: UInt32) -> Result<Int64, SCMIStatus> { .failure(.notSupported) }

    /// A host that never fails.
    public var lastFailures: [String] { [] }

    /// A host that keeps no words of its own.
    public func describe(_ tables: PlatformTables) {}
}

/// Today's host: the physical state lives only in the engine.
public struct InMemoryHost: HostInterface {
    public init() {}
    public func apply(_ change: PhysicalChange) -> SCMIStatus { .success }
}

extension AgentSession {
    /// One SET of `Model` (CLOCK_RATE_SET, VOLTAGE_CONFIG_SET, …) through the
    /// host seam. `decide` runs under the state lock: it checks, records the
    /// agent's request and returns the status with the change of physical
    /// state, if any. A change is applied by the host; when the host refuses
    /// it, `undo` (under the lock again) puts the request back. `accepted`
    /// runs (without the state lock, still in order) when the request stands,
    /// before the change's own notifications: a unit's request-time
    /// notifications (CLOCK_RATE_CHANGE_REQUESTED) go there.
    @inline(__always)
    func change<Model: ResourceModel>(
        _ model: Model.Type,
        decide: (_ state: inout Model.State, _ shared: inout SharedState) -> (SCMIStatus, resource: Int, PhysicalChange.What?),
        undo: (_ state: inout Model.State, _ resource: Int) -> Void,
        accepted: (_ resource: Int) -> Void = { _ in }
    ) -> SCMIStatus {
        platform.hostLock.pointee.withLock { _ in
            let (status, resource, what) = platform.state.withLock { locked in
                decide(&state(model, &locked).pointee, &locked)
            }
            guard let what else {
                if status.isSuccess { accepted(resource) }
                return status
            }
            let change = PhysicalChange(Model.id, resource: UInt32(resource), what, agent: info.id, cause: .request)
            let applied = platform.host.apply(change)
            if applied.isSuccess {
                accepted(resource)
                platform.report(change)
                platform.notify(change)
            } else {
                platform.state.withLock { locked in undo(&state(model, &locked).pointee, resource) }
            }
            return applied
        }
    }
}

extension SCMIPlatform {
    /// Withdraws every request `agent` holds (disconnect, or
    /// BASE_RESET_AGENT_CONFIGURATION) in every protocol, in id order; then,
    /// without the state lock, applies and reports each change. `alsoLocked`
    /// runs in the same hold of the state lock (a reset's permissions).
    func withdrawRequests(agent: Int, cause: ChangeCause, alsoLocked: (inout SharedState) -> Void = { _ in }) {
        hostLock.pointee.withLock { _ in
            let who = catalog.agents[agent].id
            let changes = state.withLock { locked -> [PhysicalChange] in
                var changes: [PhysicalChange] = []
                for (position, unit) in Self.unitList.enumerated() {
                    unit.resources?.withdraw(storage[position], agent) { resource, what in
                        changes.append(PhysicalChange(unit.id, resource: UInt32(resource), what, agent: who, cause: cause))
                    }
                }
                alsoLocked(&locked)
                return changes
            }
            for change in changes {
                // A withdrawal cannot be refused (the agent is gone or was
                // reset); the host's failure is what the trace shows.
                _ = host.apply(change)
                report(change)
                notify(change)
            }
        }
    }
}
