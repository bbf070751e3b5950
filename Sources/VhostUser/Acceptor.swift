import Dispatch
import Glibc
import LinuxIO
import Synchronization

/// The one thread that waits for frontends on every started backend's listening socket
/// (serve listens on one socket per agent: a thread each would be 64 idle threads, each
/// with its stack's resident pages and, often, a malloc arena of its own). It polls
/// them all with a wake-up eventfd and hands a readable socket to its backend
/// (VhostUserBackend.acceptReady), which accepts and admits the frontend. Started with
/// the first backend and kept for the process's life.
final class Acceptor: Sendable {
    static let shared = Acceptor()

    private struct State {
        var backends: [VhostUserBackend] = []
        /// Removals not yet seen by the thread: signalled once it polls without them.
        var removals: [DispatchSemaphore] = []
        var thread: NativeThread?
    }

    private let state = Mutex(State())
    /// Wakes the thread when the set of backends changes.
    private let wake: FileDescriptor

    private init() {
        // No eventfd at all: nothing can listen either; add() reports it.
        wake = (try? EventNotifier.make(nonblocking: true)) ?? FileDescriptor(rawValue: -1)
    }

    /// Starts watching `backend`'s listening socket (the thread too, the first time).
    func add(_ backend: VhostUserBackend) throws {
        guard wake.rawValue >= 0 else { throw VhostUserError.invalidArgument("no eventfd for the accept thread") }
        try state.withLock { state throws in
            if state.thread == nil {
                state.thread = try NativeThread(name: "vhost-accept") { [self] in run() }
            }
            state.backends.append(backend)
        }
        EventNotifier.signal(wake)
    }

    /// Stops watching `backend`. On return the thread neither polls its socket nor is
    /// inside its acceptReady (a frontend it is admitting is admitted first), so that
    /// the backend may close the socket.
    func remove(_ backend: VhostUserBackend) {
        let done = DispatchSemaphore(value: 0)
        let mustWait = state.withLock { state -> Bool in
            state.backends.removeAll { $0 === backend }
            guard let thread = state.thread, !thread.isCurrent else { return false }
            state.removals.append(done)
            return true
        }
        guard mustWait else { return }
        EventNotifier.signal(wake)
        done.wait()
    }

    private func run() {
        while true {
            let (backends, removals) = state.withLock { state in
                defer { state.removals = [] }
                return (state.backends, state.removals)
            }
            for removal in removals { removal.signal() }
            var watched = [pollfd(fd: wake.rawValue, events: Int16(POLLIN), revents: 0)]
            for backend in backends { watched.append(pollfd(fd: backend.listenDescriptor, events: Int16(POLLIN), revents: 0)) }
            guard poll(&watched, nfds_t(watched.count), -1) >= 0 else {
                if errno != EINTR { usleep(100_000) }  // not expected with valid fds; do not spin
                continue
            }
            if watched[0].revents != 0 { _ = EventNotifier.consume(wake) }
            // A backend removed since the snapshot still has its socket open: its
            // stop() waits for the next pass, and acceptReady skips a stopped one.
            for (index, backend) in backends.enumerated() where watched[index + 1].revents != 0 {
                backend.acceptReady()
            }
        }
    }
}
