import ResourceTables
import SCMIPlatform
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A host whose actions on chosen resources stay in flight until the test
/// lets them go, and which refuses chosen resources: the engine's own seam
/// (HostInterface), driven with explicit synchronisation so that the tests
/// can hold an action in flight and look at what the engine does meanwhile.
final class GatedHost: HostInterface, @unchecked Sendable {
    struct Key: Hashable {
        var protocolID: ProtocolID
        var resource: UInt32
    }

    private let gate = Gate()
    // All only under the gate's lock.
    private var held: Set<Key> = []
    private var refused: Set<Key> = []
    private var enteredChanges: [PhysicalChange] = []
    private var inFlight: [Key: Int] = [:]
    private var mostAtOnce = 0

    /// Actions on `resource` stay in flight until release().
    func hold(_ protocolID: ProtocolID, _ resource: UInt32) { gate.change { held.insert(Key(protocolID: protocolID, resource: resource)) } }
    func release(_ protocolID: ProtocolID, _ resource: UInt32) { gate.change { held.remove(Key(protocolID: protocolID, resource: resource)) } }
    /// Actions on `resource` fail with HARDWARE_ERROR.
    func refuse(_ protocolID: ProtocolID, _ resource: UInt32) { gate.change { refused.insert(Key(protocolID: protocolID, resource: resource)) } }

    /// Every change that reached the host, in the order it did.
    var entered: [PhysicalChange] {
        var copy: [PhysicalChange] = []
        gate.change { copy = enteredChanges }
        return copy
    }

    /// The most actions the host had in flight at once on any one resource.
    var mostInFlightOnOneResource: Int {
        var most = 0
        gate.change { most = mostAtOnce }
        return most
    }

    /// Waits until `count` changes reached the host.
    @discardableResult
    func waitForEntered(_ count: Int) -> Bool { gate.wait { enteredChanges.count >= count } }

    func apply(_ change: PhysicalChange) -> SCMIStatus {
        let key = Key(protocolID: change.protocolID, resource: change.resource)
        var status = SCMIStatus.success
        gate.change {
            enteredChanges.append(change)
            inFlight[key, default: 0] += 1
            mostAtOnce = max(mostAtOnce, inFlight[key]!)
        }
        gate.wait { !held.contains(key) }
        gate.change {
            inFlight[key]! -= 1
            if refused.contains(key) { status = .hardwareError }
        }
        return status
    }
}

/// Runs `body` on a thread of its own; `wait()` gives its result (nil if it
/// never finished: a request stuck behind an action it should not wait for).
final class Background<Result: Sendable>: @unchecked Sendable {
    private final class Slot: Sendable {
        let gate = Gate()
        let value = Mutex<Result?>(nil)
    }

    private let slot = Slot()
    private let thread = UnsafeMutablePointer<pthread_t>.allocate(capacity: 1)

    init(_ body: @escaping @Sendable () -> Result) {
        let slot = self.slot
        startThread(thread) {
            let value = body()
            slot.gate.change { slot.value.withLock { $0 = value } }
        }
    }

    deinit { thread.deallocate() }

    func wait() -> Result? {
        slot.gate.wait { slot.value.withLock { $0 != nil } }
        let value = slot.value.withLock { $0 }
        if value != nil { pthread_join(thread.pointee, nil) }
        return value
    }
}

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts `run` on a new POSIX thread.
private func startThread(_ thread: UnsafeMutablePointer<pthread_t>, _ run: @escaping @Sendable () -> Void) {
    let body = Unmanaged.passRetained(ThreadBody(run)).toOpaque()
    pthread_create(thread, nil, { context in
        Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, body)
}

/// Waits (bounded) until `owner` has `count` requests waiting for a turn.
func waitForWaiting(_ owner: HostState, _ count: Int) -> Bool {
    for _ in 0 ..< 4000 {
        if owner.requestsWaiting >= count { return true }
        usleep(5_000)
    }
    return false
}

/// Host actions are ordered per host resource (docs/serve-choices.md,
/// "Host actions in order, per resource"): later requests for a resource wait
/// while an action is in flight on it; other resources, reads and other
/// agents go on; a refused action rolls back to the state it left.
@Suite struct HostOrderTests {
    /// Board.tables behind a GatedHost, with vm-ivi's and vm-cluster's sessions.
    struct Fixture {
        let host = GatedHost()
        let platform: SCMIPlatform
        let ivi: AgentSession
        let cluster: AgentSession

        init() {
            platform = SCMIPlatform(tables: Board.tables, host: host)
            ivi = session(platform, Board.ivi)
            cluster = session(platform, Board.cluster)
        }

        /// Holds actions on `resource` in the host, starts `body` on a thread
        /// and waits until its action reached the host (the `count`-th so far).
        func inFlight(_ protocolID: ProtocolID, _ resource: UInt32, count: Int = 1,
                      _ body: @escaping @Sendable () -> SCMIStatus) -> Background<SCMIStatus> {
            host.hold(protocolID, resource)
            let running = Background(body)
            #expect(host.waitForEntered(count))
            return running
        }
    }

    func setRate(_ session: AgentSession, _ clock: UInt32, _ rate: UInt64, flags: UInt32 = 0, token: UInt16 = 0x155) -> SCMIStatus {
        session.send(P.clock, 0x5, [flags, clock, UInt32(truncatingIfNeeded: rate), UInt32(truncatingIfNeeded: rate >> 32)], token: token).status
    }

    func rate(_ session: AgentSession, _ clock: UInt32) -> UInt64 { session.send(P.clock, 0x6, [clock]).uint64(0) }

    /// vm-ivi's rate change of the shared USB clock is in flight; vm-cluster
    /// asks for another rate meanwhile: it waits, then decides against the
    /// first one's result, and the host sees the two one after the other.
    @Test func twoAgentsRacingOnOneClockTakeTurns() {
        let board = Fixture(), host = board.host, platform = board.platform, ivi = board.ivi, cluster = board.cluster
        let first = board.inFlight(.clock, 0) { self.setRate(ivi, 0, 48_000_000) }
        let second = Background { self.setRate(cluster, 0, 96_000_000) }
        #expect(waitForWaiting(platform.owner, 1))
        #expect(host.entered.count == 1)
        host.release(.clock, 0)
        #expect(first.wait() == .success)
        #expect(second.wait() == .success)
        #expect(host.entered == [
            .clockRate(clock: 0, from: 24_000_000, to: 48_000_000, agent: Board.ivi, cause: .request),
            .clockRate(clock: 0, from: 48_000_000, to: 96_000_000, agent: Board.cluster, cause: .request),
        ])
        #expect(host.mostInFlightOnOneResource == 1)
        #expect(rate(ivi, 0) == 96_000_000)
    }

    /// The second request of the race is refused by the host: it is rolled
    /// back to the first one's result, which stands.
    @Test func theRequestBehindARolledBackActionSeesTheStateItLeft() {
        let board = Fixture(), host = board.host, platform = board.platform, ivi = board.ivi, cluster = board.cluster
        host.refuse(.clock, 0)
        let first = board.inFlight(.clock, 0) { self.setRate(ivi, 0, 96_000_000) }
        let second = Background { self.setRate(cluster, 0, 48_000_000) }
        #expect(waitForWaiting(platform.owner, 1))
        host.release(.clock, 0)
        #expect(first.wait() == .hardwareError)
        // vm-cluster decided after the rollback: 24 → 48 MHz, refused too.
        #expect(second.wait() == .hardwareError)
        #expect(host.entered.map(\.what) == [.value(from: 24_000_000, to: 96_000_000), .value(from: 24_000_000, to: 48_000_000)])
        #expect(rate(ivi, 0) == 24_000_000)
        #expect(platform.snapshot().resources(of: .clock)[0].requests.isEmpty)
    }

    /// While an action on clock 0 is in flight: a change of clock 1 reaches
    /// the host and is answered, a read of clock 0 is answered, a voltage
    /// change of vm-ivi's own goes through, and a refused change of clock 1
    /// is rolled back.
    @Test func aSlowActionHoldsUpOnlyItsOwnResource() {
        let board = Fixture(), host = board.host, platform = board.platform, ivi = board.ivi, cluster = board.cluster
        let slow = board.inFlight(.clock, 0) { self.setRate(ivi, 0, 48_000_000) }
        let meanwhile = Background { () -> [SCMIStatus] in
            [self.setRate(cluster, 1, 300_000_000),
             cluster.send(P.clock, 0x6, [0]).status,
             ivi.send(P.voltage, 0x7, [0, 0, 900_000]).status]
        }
        #expect(meanwhile.wait() == [.success, .success, .success])
        host.refuse(.clock, 1)
        let refused = Background { self.setRate(cluster, 1, 500_000_000) }
        #expect(refused.wait() == .hardwareError)
        #expect(rate(cluster, 1) == 300_000_000)
        #expect(platform.snapshot().resources(of: .clock)[1].requests.map(\.value) == [300_000_000])
        host.release(.clock, 0)
        #expect(slow.wait() == .success)
        #expect(rate(ivi, 0) == 48_000_000)
    }

    /// vm-ivi disconnects while vm-cluster's enable of the USB clock, where
    /// vm-ivi holds a rate, is in flight: the withdrawal waits for it, then
    /// takes vm-ivi's rate away.
    @Test func aWithdrawalWaitsForTheActionInFlight() {
        let board = Fixture(), host = board.host, platform = board.platform, ivi = board.ivi, cluster = board.cluster
        #expect(setRate(ivi, 0, 96_000_000) == .success)
        let enable = board.inFlight(.clock, 0, count: 2) { cluster.send(P.clock, 0x7, [0, 1, 0]).status }
        let leaving = Background { () -> Bool in
            ivi.end()
            return true
        }
        #expect(waitForWaiting(platform.owner, 1))
        #expect(host.entered.count == 2)
        host.release(.clock, 0)
        #expect(enable.wait() == .success)
        #expect(leaving.wait() == true)
        #expect(host.entered.suffix(2) == [
            .clockEnabled(clock: 0, agent: Board.cluster, cause: .request),
            .clockRate(clock: 0, from: 96_000_000, to: 24_000_000, agent: Board.ivi, cause: .disconnect),
        ])
        #expect(host.mostInFlightOnOneResource == 1)
    }

    /// Two models attached to one owner (a reload) give the same host clock
    /// different ids: a request of the new model waits for the old model's
    /// action on it, while another clock of the new model does not.
    @Test func twoModelsShareTheTurnOfOneHostResource() {
        let host = GatedHost()
        let owner = HostState(host: host)
        let old = SCMIPlatform(tables: Board.tables, owner: owner)
        let new = SCMIPlatform(tables: HostStateTests.reordered(), owner: owner)
        let oldIVI = session(old, Board.ivi), newCluster = session(new, Board.cluster)
        host.hold(.clock, 0)
        let first = Background { self.setRate(oldIVI, 0, 48_000_000) }
        #expect(host.waitForEntered(1))
        // /soc/cru <13> is clock 1 of the old model, clock 2 of the new: free.
        #expect(Background { self.setRate(newCluster, 2, 300_000_000) }.wait() == .success)
        // /soc/cru <12> is clock 3 of the new model: it waits.
        let second = Background { self.setRate(newCluster, 3, 96_000_000) }
        #expect(waitForWaiting(owner, 1))
        host.release(.clock, 0)
        #expect(first.wait() == .success)
        #expect(second.wait() == .success)
        #expect(host.entered == [
            .clockRate(clock: 0, from: 24_000_000, to: 48_000_000, agent: Board.ivi, cause: .request),
            .clockRate(clock: 2, from: 200_000_000, to: 300_000_000, agent: Board.cluster, cause: .request),
            .clockRate(clock: 3, from: 48_000_000, to: 96_000_000, agent: Board.cluster, cause: .request),
        ])
        #expect(host.mostInFlightOnOneResource == 1)
    }

    /// With P2A an asynchronous CLOCK_RATE_SET is answered while the host is
    /// still busy with it; CLOCK_RATE_SET_COMPLETE carries the outcome: the
    /// rate, or the host's status with the request rolled back.
    @Test func anAsynchronousRequestIsAnsweredBeforeTheHost() {
        let host = GatedHost()
        let platform = SCMIPlatform(tables: Board.tables, host: host)
        let (cluster, sink) = p2aSession(platform, Board.cluster)
        host.hold(.clock, 1)
        #expect(setRate(cluster, 1, 300_000_000, flags: 1, token: 0x41) == .success)
        #expect(host.waitForEntered(1))
        #expect(sink.take().isEmpty)
        host.release(.clock, 1)
        #expect(sink.waitFor(1))
        let complete = { (token: UInt16) in MessageHeader(protocolID: P.clock, messageID: 0x5, type: .delayedResponse, token: token).rawValue }
        #expect(sink.take() == [[complete(0x41), 0, 1, 300_000_000, 0]])
        host.hold(.clock, 1)
        host.refuse(.clock, 1)
        #expect(setRate(cluster, 1, 500_000_000, flags: 1, token: 0x42) == .success)
        #expect(host.waitForEntered(2))
        // A synchronous request for the clock waits behind the asynchronous one.
        let behind = Background { self.setRate(cluster, 1, 400_000_000) }
        #expect(waitForWaiting(platform.owner, 1))
        host.release(.clock, 1)
        #expect(sink.waitFor(1))
        #expect(sink.take() == [[complete(0x42), UInt32(bitPattern: SCMIStatus.hardwareError.rawValue)]])
        #expect(behind.wait() == .hardwareError)
        #expect(host.entered.map(\.what) == [.value(from: 200_000_000, to: 300_000_000), .value(from: 300_000_000, to: 500_000_000),
                                             .value(from: 300_000_000, to: 400_000_000)])
        #expect(rate(cluster, 1) == 300_000_000)
    }

    /// An asynchronous command of a connection that ends before the host
    /// action thread reached it is dropped with it: no delayed response, no
    /// request left behind.
    @Test func anAsynchronousCommandOfAnEndedSessionLeavesNothing() {
        let board = Fixture(), host = board.host, platform = board.platform, ivi = board.ivi
        let (cluster, sink) = p2aSession(platform, Board.cluster)
        let slow = board.inFlight(.clock, 0) { self.setRate(ivi, 0, 48_000_000) }
        #expect(setRate(cluster, 0, 96_000_000, flags: 1, token: 7) == .success)
        let leaving = Background { () -> Bool in
            cluster.end()
            return true
        }
        #expect(waitForWaiting(platform.owner, 1))
        host.release(.clock, 0)
        #expect(slow.wait() == .success)
        #expect(leaving.wait() == true)
        #expect(sink.take().isEmpty)
        #expect(host.entered.count == 1)
        #expect(rate(ivi, 0) == 48_000_000)
        #expect(platform.snapshot().resources(of: .clock)[0].requests.map(\.agentID) == [Board.ivi])
    }

    /// A coupled rail's request takes the turn of its whole group: while
    /// vm-a's level change of vdd-gpu is in flight, vm-b's request for its
    /// partner vdd-gpu-mem waits (settling it reads and may move vdd-gpu),
    /// while the uncoupled 3.3 V rail is served.
    @Test func aCoupledRailWaitsForItsPartnersAction() {
        let host = GatedHost()
        let platform = SCMIPlatform(tables: HostLimitTests.tables, host: host)
        let a = session(platform, 1), b = session(platform, 2)
        host.hold(.voltage, 0)
        let first = Background { a.send(P.voltage, 0x7, [0, 0, 700_000]).status }
        #expect(host.waitForEntered(1))
        #expect(Background { b.send(P.voltage, 0x5, [2, 0]).status }.wait() == .success)
        let second = Background { b.send(P.voltage, 0x7, [1, 0, 700_000]).status }
        #expect(waitForWaiting(platform.owner, 1))
        #expect(host.entered.count == 1)
        host.release(.voltage, 0)
        #expect(first.wait() == .success)
        #expect(second.wait() == .success)
        #expect(host.entered == [
            .voltageLevel(domain: 0, from: 650_000, to: 700_000, agent: 1, cause: .request),
            .voltageLevel(domain: 1, from: 675_000, to: 700_000, agent: 2, cause: .request),
        ])
    }
}
