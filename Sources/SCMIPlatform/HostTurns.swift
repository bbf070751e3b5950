#if canImport(Glibc)
import Glibc
#endif
import LinuxIO
import Synchronization

// Host actions in order, per host resource (docs/serve-choices.md, "Host
// actions in order, per resource"). Every host resource the owner keeps has a
// ResourceTurn: a ticket queue under the state lock. A request whose decision
// needs the host takes the resource's turn in the same hold of the lock in
// which it decides, and passes it on only once the host answered and the
// change is committed or rolled back. A request that finds the turn taken
// takes the next ticket and waits, without any lock, until its ticket is
// served; only then does it decide. So, per resource:
//
// - actions reach the host one at a time, in the order the requests arrived,
//   whichever agent and whichever model (the turn belongs to the host
//   resource, shared by every model a reload attached);
// - a rollback finds the state it left: nobody decides on the resource while
//   its action is in flight;
// - requests for other resources, and reads, never wait for it.
//
// A decision that touches several resources (a coupled rail's group, a
// withdrawal) takes all their tickets in one hold of the lock, so that two of
// them always queue in the same order on every resource they share: no cycle,
// no deadlock. A request that needs no host action on a free resource takes
// no ticket at all (one comparison under the lock it already holds).
//
// Asynchronous commands (P2A) take their tickets when they arrive and are
// answered at once; the owner's host-action thread carries them out when
// their turn comes and posts their delayed response (HostJob).

/// Whose turn it is to act on one host resource; only under the state lock.
struct ResourceTurn {
    /// The next ticket to hand out.
    var next: UInt32 = 0
    /// The ticket whose holder may decide and act now.
    var serving: UInt32 = 0

    /// Nobody acts on the resource or waits for it.
    @inline(__always) var isFree: Bool { next == serving }

    /// Takes the next ticket (the current one when the turn is free).
    @inline(__always) mutating func take() -> UInt32 {
        defer { next &+= 1 }
        return next
    }
}

/// A ticket of one resource's turn.
struct HeldTurn: @unchecked Sendable {
    let turn: UnsafeMutablePointer<ResourceTurn>
    let ticket: UInt32

    /// Takes the next ticket of `turn` (lock held).
    init(taking turn: UnsafeMutablePointer<ResourceTurn>) {
        self.turn = turn
        ticket = turn.pointee.take()
    }

    /// Its holder may act now (lock held).
    var isServed: Bool { turn.pointee.serving == ticket }
}

/// An asynchronous command accepted and answered, waiting for the host-action
/// thread: which agent's session, the command (for its delayed response), its
/// parameters, and the tickets it took when it arrived.
struct HostJob: @unchecked Sendable {
    let session: AgentSession
    let command: MessageHeader
    /// Its parameter words (the commands that may be asynchronous carry at most four).
    let parameters: (UInt32, UInt32, UInt32, UInt32)
    let first: HeldTurn
    /// A coupled rail's other turns (empty otherwise, which allocates nothing).
    let more: [HeldTurn]
    /// Carries the command out with its turns held and completes it
    /// (AgentSession.complete: its delayed response, no longer pending); a
    /// non-capturing function of the protocol's file.
    let run: @Sendable (AgentSession, HostJob) -> Void

    var isServed: Bool { first.isServed && more.allSatisfy { $0.isServed } }
}

/// What the owner keeps about turns besides the turns themselves; only under
/// the state lock.
struct TurnBook {
    /// Threads waiting for a turn to pass (the host-action thread too when it
    /// has nothing to do): passing a turn wakes them only when there are.
    var waiters = 0
    /// Whether the host-action thread is one of them.
    var workerWaits = false
    /// Asynchronous commands not yet carried out, in arrival order.
    var jobs: [HostJob] = []
    /// The one being carried out.
    var running: HostJob? = nil
    /// The host-action thread, started by the first asynchronous command.
    var worker: NativeThread? = nil
    var stopping = false
}

/// Where waiting threads sleep: a condition variable and a counter that
/// changes (under the state lock) whenever a turn passes while someone waits
/// or a job arrives. A waiter reads the counter under the state lock, then
/// sleeps until it differs, so no wake-up is lost between the two.
final class TurnSignal: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    let epoch = Atomic<UInt64>(0)

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Something a waiter looks at changed (state lock held); wake() after unlocking.
    func advance() { epoch.add(1, ordering: .sequentiallyConsistent) }

    func wake() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Sleeps until the counter is no longer `seen`.
    func wait(after seen: UInt64) {
        pthread_mutex_lock(mutex)
        while epoch.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(condition, mutex) }
        pthread_mutex_unlock(mutex)
    }
}

extension HostState {
    /// Requests (and withdrawals) waiting for their turn on a resource while
    /// an action is in flight there: what tests synchronise on.
    public var requestsWaiting: Int {
        lock.pointee.withLock { _ in book.pointee.waiters - (book.pointee.workerWaits ? 1 : 0) }
    }

    /// Runs `attempt` under the state lock until it gives a result, sleeping
    /// between attempts until a turn passes or a job arrives.
    func whenReady<Result>(_ attempt: (inout Registry) -> Result?) -> Result {
        var registered = false
        while true {
            var seen: UInt64 = 0
            var result: Result? = nil
            lock.pointee.withLock { registry in
                if registered { book.pointee.waiters -= 1 }
                result = attempt(&registry)
                guard result == nil else { return }
                book.pointee.waiters += 1
                seen = signal.epoch.load(ordering: .sequentiallyConsistent)
            }
            if let result { return result }
            registered = true
            signal.wait(after: seen)
        }
    }

    /// Passes `turn` to its next ticket (state lock held). True when someone
    /// waits: call signal.wake() after unlocking.
    @inline(__always)
    func pass(_ turn: UnsafeMutablePointer<ResourceTurn>) -> Bool {
        turn.pointee.serving &+= 1
        guard book.pointee.waiters > 0 else { return false }
        signal.advance()
        return true
    }

    /// Queues `job` (state lock held), starting the host-action thread if it
    /// is not running. False when no thread can be started (nothing queued).
    /// `wake` is set when the thread must be woken after unlocking.
    func enqueue(_ job: HostJob, wake: inout Bool) -> Bool {
        guard book.pointee.worker != nil || startWorker() else { return false }
        book.pointee.jobs.append(job)
        if book.pointee.waiters > 0 {
            signal.advance()
            wake = true
        }
        return true
    }

    /// Starts the host-action thread (state lock held). It holds its owner
    /// only while it looks for a job or carries one out, so dropping the
    /// owner stops it.
    private func startWorker() -> Bool {
        guard !book.pointee.stopping else { return false }
        let signal = self.signal
        do {
            book.pointee.worker = try NativeThread(name: "scmi-host") { [weak self] in
                HostState.runJobs(signal) { self }
            }
            return true
        } catch {
            return false
        }
    }

    /// The host-action thread: takes the first job whose tickets are all
    /// served (a job behind a synchronous action on its resource does not
    /// hold up jobs for other resources), carries it out, passes its turns.
    private static func runJobs(_ signal: TurnSignal, _ owner: () -> HostState?) {
        var registered = false
        while true {
            var seen: UInt64 = 0
            var job: HostJob? = nil
            do {
                guard let owner = owner() else { return }
                var stop = false
                owner.lock.pointee.withLock { _ in
                    let book = owner.book
                    if registered { book.pointee.waiters -= 1 }
                    registered = false
                    book.pointee.workerWaits = false
                    if book.pointee.stopping {
                        stop = true
                        return
                    }
                    if let position = book.pointee.jobs.firstIndex(where: { $0.isServed }) {
                        job = book.pointee.jobs.remove(at: position)
                        book.pointee.running = job
                    } else {
                        book.pointee.waiters += 1
                        book.pointee.workerWaits = true
                        registered = true
                        seen = signal.epoch.load(ordering: .sequentiallyConsistent)
                    }
                }
                if stop { return }
            }
            if let taken = job {
                taken.run(taken.session, taken)
                taken.session.finished(taken)
                job = nil
                continue
            }
            signal.wait(after: seen)
        }
    }

    /// Stops the host-action thread (the owner is going). Joins it unless
    /// this is the thread itself (its job held the owner's last reference).
    func stopWorker() {
        let worker = lock.pointee.withLock { _ in
            book.pointee.stopping = true
            return book.pointee.worker.take()
        }
        guard let worker else { return }
        signal.advance()
        signal.wake()
        if !worker.isCurrent { worker.join() }
    }
}

extension StateLock {
    /// HostState.whenReady with this platform's state.
    func whenReady<Result>(_ owner: HostState, _ attempt: (inout SharedState) -> Result?) -> Result {
        owner.whenReady { _ in attempt(&shared.pointee) }
    }
}

extension AgentSession {
    /// Hands an asynchronous command to the owner's host-action thread:
    /// `check` (under the state lock) says whether it is accepted, counting
    /// the agent's pending asynchronous commands for BUSY; if so the tickets
    /// of resource `index` of `Model` (or of the resources `group` names when
    /// it names some, a coupled rail's) are taken now, so that it keeps its place among later
    /// requests, and the answer is SUCCESS at once. `run` carries it out
    /// later with those turns held and posts its delayed response.
    func submit<Model: ResourceModel>(
        _ model: Model.Type, _ index: Int, _ payload: Payload,
        group: (inout SharedState) -> [Int]? = { _ in nil },
        check: (inout SharedState) -> SCMIStatus,
        run: @escaping @Sendable (AgentSession, HostJob) -> Void
    ) -> SCMIStatus {
        let parameters = (payload.word(0), payload.count >= 8 ? payload.word(1) : 0,
                          payload.count >= 12 ? payload.word(2) : 0, payload.count >= 16 ? payload.word(3) : 0)
        let command = currentHeader
        var wake = false
        let status = platform.state.withLock { locked -> SCMIStatus in
            let status = check(&locked)
            guard status.isSuccess else { return status }
            let members = group(&locked) ?? [index]
            let first = HeldTurn(taking: turn(model, members[0]))
            let more = members.dropFirst().map { HeldTurn(taking: turn(model, $0)) }
            let job = HostJob(session: self, command: command, parameters: parameters, first: first, more: more, run: run)
            guard platform.owner.enqueue(job, wake: &wake) else {
                // Give the tickets back: they were the last ones taken, so
                // nobody queues behind them yet.
                first.turn.pointee.next &-= 1
                for held in more { held.turn.pointee.next &-= 1 }
                return .hardwareError
            }
            locked.hostJobs[agent] += 1
            return .success
        }
        if wake { platform.owner.signal.wake() }
        return status
    }

    /// `job` is done (on the host-action thread, completed: see complete(_:_:_:)):
    /// its turns pass on.
    func finished(_ job: HostJob) {
        var wake = false
        platform.state.withLock { _ in
            let owner = platform.owner
            owner.book.pointee.running = nil
            wake = owner.pass(job.first.turn)
            for held in job.more { wake = owner.pass(held.turn) || wake }
        }
        if wake { platform.owner.signal.wake() }
    }
}
