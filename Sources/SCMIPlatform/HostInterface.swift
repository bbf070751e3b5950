// The seam between the engine's decisions and the host (docs/serve-choices.md,
// "Host seam"). A request that changes a resource's physical state is decided
// under the state lock (the agent's request recorded, the arbiter settled),
// applied by the host with no lock on the state, then committed (reported)
// or, when the host refuses, rolled back: the agent's previous request is put
// back, the arbiter settles where it was, and the agent gets the host's
// status. Actions are ordered per host resource (HostTurns.swift): while one
// is in flight, later requests for that resource wait, so a rollback always
// finds the state it left; other resources, other agents and reads go on.
//
// A resource whose value the host reads (readsHardware, asked once per
// resource when the platform is built and kept as a flag in its unit's
// storage) answers CLOCK_RATE_GET and the like with the host's readValue
// instead of the engine's physical value; every other resource reads the
// engine's state as before, with nothing more than the flag's test.

import ResourceTables

/// Where decided changes go. `apply` is called without the state lock, one
/// change at a time per host resource, in the order the changes were decided;
/// changes of different resources may be applied at the same time from
/// different threads.
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
    /// One SET of `Model` (CLOCK_RATE_SET, VOLTAGE_CONFIG_SET, …) of resource
    /// `index` through the host seam. `decide` runs under the state lock: it
    /// checks, records the agent's request (keeping what it replaces for
    /// `undo`) and returns the status with the change of physical state, if
    /// any. A change is applied by the host with the resource's turn held
    /// (HostTurns.swift); when the host refuses it, `undo` (under the lock
    /// again) puts the request back. `accepted` runs (without the state lock,
    /// the turn still held) when the request stands, before the change's own
    /// notifications: a unit's request-time notifications
    /// (CLOCK_RATE_CHANGE_REQUESTED) go there. `turnHeld`: the caller holds
    /// the resource's turn already (the host-action thread carrying out an
    /// asynchronous command) and passes it on itself.
    ///
    /// A free resource whose decision needs no host action costs one
    /// comparison more than the decision; with an action, one more hold of
    /// the lock to pass the turn on.
    @inline(__always)
    func change<Model: ResourceModel>(
        _ model: Model.Type, _ index: Int, turnHeld: Bool = false,
        decide: (_ state: inout Model.State, _ shared: inout SharedState) -> (SCMIStatus, PhysicalChange.What?),
        undo: (_ state: inout Model.State) -> Void,
        accepted: () -> Void = {}
    ) -> SCMIStatus {
        let turn = self.turn(model, index)
        var decision: (status: SCMIStatus, what: PhysicalChange.What?) = (.success, nil)
        var ticket: UInt32? = nil
        platform.state.withLock { locked in
            if turnHeld || turn.pointee.isFree {
                decision = decideUnlessEnded(turnHeld) { decide(&state(model, &locked).pointee, &locked) }
                if decision.what != nil && !turnHeld { _ = turn.pointee.take() }
            } else {
                ticket = turn.pointee.take()
            }
        }
        if let ticket {
            // An action is in flight on the resource: decide when it is our turn.
            decision = platform.state.whenReady(platform.owner) { locked in
                guard turn.pointee.serving == ticket else { return nil }
                return decide(&state(model, &locked).pointee, &locked)
            }
            if decision.what == nil {
                if decision.status.isSuccess { accepted() }
                passTurn(turn)
                return decision.status
            }
        }
        guard let what = decision.what else {
            if decision.status.isSuccess { accepted() }
            return decision.status
        }
        let change = PhysicalChange(Model.id, resource: UInt32(index), what, agent: info.id, cause: .request)
        let applied = platform.host.apply(change)
        if applied.isSuccess {
            accepted()
            platform.report(change)
            platform.notify(change)
        }
        var wake = false
        platform.state.withLock { locked in
            if !applied.isSuccess { undo(&state(model, &locked).pointee) }
            if !turnHeld { wake = platform.owner.pass(turn) }
        }
        if wake { platform.owner.signal.wake() }
        return applied
    }

    /// `decide`, unless this is the host-action thread carrying out a command
    /// of a session that ended since (its requests are being withdrawn:
    /// recording one now would outlive the session).
    @inline(__always)
    func decideUnlessEnded<Decision>(_ turnHeld: Bool, _ decide: () -> (SCMIStatus, Decision?)) -> (SCMIStatus, Decision?) {
        guard turnHeld, ended.load(ordering: .acquiring) else { return decide() }
        return (.genericError, nil)
    }

    /// Passes `turn` on (taking the lock) and wakes whoever waits.
    func passTurn(_ turn: UnsafeMutablePointer<ResourceTurn>) {
        let wake = platform.state.withLock { _ in platform.owner.pass(turn) }
        if wake { platform.owner.signal.wake() }
    }
}

extension SCMIPlatform {
    /// Withdraws every request `agent` holds (disconnect, or
    /// BASE_RESET_AGENT_CONFIGURATION) in every protocol, in id order, with
    /// the turns of every resource that may change (those it holds requests
    /// on, their coupled rails, and those of its asynchronous commands not yet
    /// done) taken at once; then, without the state lock, applies and reports
    /// each change and passes the turns on. `alsoLocked` runs in the same
    /// hold of the state lock as the withdrawal (a reset's permissions).
    func withdrawRequests(agent: Int, cause: ChangeCause, alsoLocked: (inout SharedState) -> Void = { _ in }) {
        let who = catalog.agents[agent].id
        var held: [HeldTurn] = []
        var covered = Set<UnsafeMutablePointer<ResourceTurn>>()
        var taken = false
        let changes = state.whenReady(owner) { locked -> [PhysicalChange]? in
            if !taken {
                taken = true
                for (position, unit) in Self.unitList.enumerated() {
                    guard let turns = storage[position].turns else { continue }
                    unit.resources?.holdings(storage[position], agent) { resource in
                        if covered.insert(turns[resource]).inserted { held.append(HeldTurn(taking: turns[resource])) }
                    }
                }
                let book = owner.book.pointee
                for job in book.jobs + (book.running.map { [$0] } ?? [])
                where job.session.platform === self && job.session.agent == agent {
                    for turn in [job.first] + job.more where covered.insert(turn.turn).inserted { held.append(HeldTurn(taking: turn.turn)) }
                }
            }
            guard held.allSatisfy({ $0.isServed }) else { return nil }
            var changes: [PhysicalChange] = []
            for (position, unit) in Self.unitList.enumerated() {
                let turns = storage[position].turns
                unit.resources?.withdraw(storage[position], agent, { resource in turns.map { covered.contains($0[resource]) } ?? true }) { resource, what in
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
        var wake = false
        state.withLock { _ in
            for turn in held { wake = owner.pass(turn.turn) || wake }
        }
        if wake { owner.signal.wake() }
    }
}
