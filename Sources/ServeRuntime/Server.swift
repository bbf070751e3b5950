import BackendModel
import Dispatch
import Foundation
import LinuxIO
import Logging
import ResourceTables
import SCMIPlatform
import Synchronization
import VhostUser
import VirtioSCMI

#if canImport(Glibc)
import Glibc
#endif

/// The running backend: one vhost-user listener per agent over one SCMI platform,
/// an optional control socket, reload and (for the executable) signal handling.
/// Everything but `waitForSignals` can be driven in process.
public final class Server: @unchecked Sendable {
    /// Which agent listens where.
    public typealias Binding = (agent: AgentEntry, path: String)

    /// What `reload()` did.
    public enum ReloadOutcome: Equatable, Sendable {
        /// The blob passed check; connections made from now on use it.
        case reloaded
        /// The blob fails check (these rendered errors); the old model stays.
        case keptOldModel(errors: [String])
    }

    public let blobPath: String
    /// The overlays (and include directories) applied to the blob, re-read on reload too.
    public let sources: BlobSources
    private let logger: Logger
    private let trace: Bool
    /// The host's physical state, kept across reloads: every platform (the
    /// current one and those older connections keep) is attached to it, so
    /// a host resource is arbitrated once over every agent of every model.
    public let hostState: HostState
    /// What applies every change (hostState's): asked for its failures and told each reload's tables.
    private let host: any HostInterface
    /// How the agents' ring workers poll after a batch (`serve --ring-poll-us`).
    private let ringPolling: RingPolling
    /// The platform new connections get. A reload with a clean blob swaps it.
    private let current: Mutex<SCMIPlatform>
    /// Whether `serve --upstream` and `serve --host-hook` were given: with the tables they
    /// decide each resource's host binding (docs/serve.md, "Host bindings").
    private let upstreamGiven: Bool
    private let hookGiven: Bool
    /// With `serve --upstream`: the tables a reload serves, from the checked
    /// ones (the firmware's facts merged in), or why it cannot be served.
    private let reloadTables: (@Sendable (PlatformTables) -> Result<PlatformTables, ReloadRefusal>)?
    /// The host binding of every resource of the current platform's tables, for `status`.
    private let bindings: Mutex<HostBindingMap>
    private var listeners: [(agentName: String, path: String, backend: VhostUserBackend)] = []
    private var controlServer: ControlServer?
    private let finished = DispatchSemaphore(value: 0)
    private let stopped = Mutex(false)
    /// Tells systemd (when it started us) when serve is ready, reloading and stopping.
    private let notifier: ServiceNotifier?

    /// `host` applies every change of a resource's physical state, whichever
    /// model's agent caused it.
    public init(blobPath: String, sources: BlobSources = BlobSources(), tables: PlatformTables, logger: Logger,
                trace: Bool = false, notifier: ServiceNotifier? = nil, ringPolling: RingPolling = .off,
                host: any HostInterface = InMemoryHost(), upstreamGiven: Bool = false, hookGiven: Bool = false,
                reloadTables: (@Sendable (PlatformTables) -> Result<PlatformTables, ReloadRefusal>)? = nil)
    {
        self.reloadTables = reloadTables
        self.blobPath = blobPath
        self.sources = sources
        self.ringPolling = ringPolling
        self.logger = logger
        self.trace = trace
        self.notifier = notifier
        self.host = host
        let hostState = HostState(host: host)
        self.hostState = hostState
        current = Mutex(Server.makePlatform(tables, owner: hostState, logger: logger, trace: trace))
        self.upstreamGiven = upstreamGiven
        self.hookGiven = hookGiven
        bindings = Mutex(HostBindingMap(tables, upstreamGiven: upstreamGiven, hookGiven: hookGiven))
        if let unforwarded = HostBindingMap.firmwareWithoutUpstream(tables, upstreamGiven: upstreamGiven) {
            logger.notice("\(unforwarded) do not reach the firmware: no --upstream")
        }
    }

    /// The platform connections made now get (each connection keeps the one it got).
    public var platform: SCMIPlatform { current.withLock { $0 } }

    /// Gives the heap's free memory back to the kernel. Checking a blob allocates several times
    /// what the platform keeps (the tree's index, the model, the diagnostics); freed, that
    /// memory stays in the process's heap unless trimmed, and a long-running serve would
    /// carry it for its whole life.
    public static func returnFreedMemory() {
        ProcessMemory.returnFreedHeap()
    }

    /// With --trace every physical change is logged with its cause, by resource name.
    private static func makePlatform(_ tables: PlatformTables, owner: HostState, logger: Logger, trace: Bool) -> SCMIPlatform {
        let fault: @Sendable (String) -> Void = { line in logger.warning("\(line)") }
        guard trace else { return SCMIPlatform(tables: tables, owner: owner, onHostFault: fault) }
        // The platform names the resources; the callback needs it after it exists.
        let named = WeakPlatform()
        let log: @Sendable (PhysicalChange) -> Void = { change in
            logger.info("physical: \(named.platform?.describe(change) ?? change.description)")
        }
        let platform = SCMIPlatform(tables: tables, owner: owner, onPhysicalChange: log, onHostFault: fault)
        named.platform = platform
        return platform
    }

    /// Listens on each binding's socket and, with `controlPath`, on the control socket,
    /// every socket file with `access` (mode, group, owner) from before it listens. Once all
    /// listen, tells systemd the service is ready. A socket that cannot be created is an
    /// error naming its path (the sockets made so far are removed by `stop()`).
    public func start(bindings: [Binding], controlPath: String?, access: SocketAccess? = nil) throws {
        for (agent, path) in bindings {
            let agentName = agent.name
            let backend: VhostUserBackend
            do {
                backend = try VhostUserBackend(
                    socketPath: path,
                    access: access,
                    device: SCMIVirtioDevice.description,
                    logger: logger,
                    ringPolling: ringPolling,
                    makeHandler: { [self] in makeHandler(agentName: agentName) }
                )
            } catch {
                throw SocketSetupError.listening(path, error)
            }
            try backend.start()
            listeners.append((agentName, path, backend))
            logger.info("agent \(agent.id) \(agentName): listening on \(path)")
        }
        if let controlPath {
            do {
                controlServer = try ControlServer(path: controlPath, access: access, logger: logger) { [self] in statusReport() }
            } catch {
                throw SocketSetupError.listening(controlPath, error)
            }
            logger.info("control socket: \(controlPath)")
        }
        notifier?.ready(status: readiness)
    }

    /// What `systemctl status` shows while serving.
    private var readiness: String {
        "serving \(listeners.count) agent socket\(listeners.count == 1 ? "" : "s") from \(blobPath)"
    }

    /// A new frontend connected to `agentName`'s socket.
    private func makeHandler(agentName: String) -> any VhostUserDeviceHandler {
        let platform = current.withLock { $0 }
        if let agentID = platform.agentID(named: agentName),
            let session = platform.makeSession(agentID: agentID, transport: SCMIVirtioDevice.transportCapabilities)
        {
            logger.info("agent \(agentID) \(agentName): frontend connected")
            // Where its notifications and delayed responses wait for eventq
            // buffers; without one (no eventfd left) P2A is not negotiated.
            var outbox: SCMIOutbox?
            do { outbox = try SCMIOutbox() } catch {
                logger.error("agent \(agentID) \(agentName): no notifications on this connection: \(error)")
            }
            return SCMIChainHandler(session: session, agentName: agentName, logger: logger, trace: trace, outbox: outbox)
        }
        // Only possible after a reload dropped this agent: every command is answered NOT_SUPPORTED.
        logger.warning("agent \(agentName) is no longer declared by \(blobPath); its guest gets NOT_SUPPORTED for every command")
        return SCMIRetiredAgentHandler(agentName: agentName, logger: logger)
    }

    /// What the control socket answers: the blob, the current platform, every listener.
    public func statusReport() -> StatusReport {
        let platform = current.withLock { $0 }
        let delivery = platform.eventDelivery()
        return StatusReport(
            blob: blobPath,
            platform: bindings.withLock { $0.marking(platform.snapshot()) },
            hostFailures: host is InMemoryHost ? nil : host.lastFailures,
            connections: listeners.map { listener in
                let events = platform.agentID(named: listener.agentName).flatMap { id in delivery.first { $0.agentID == id } }
                return ConnectionReport(agent: listener.agentName, status: listener.backend.status, events: events.map(EventsReport.init))
            }
        )
    }

    /// The signals `waitForSignals` answers.
    private static let controlSignals = [SIGINT, SIGTERM, SIGHUP]

    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread, and so in every
    /// thread started after it (threads inherit the mask). Call first thing, before
    /// any thread exists: a signal sent any time after that stays pending until
    /// `waitForSignals` takes it, where a handler installed later could lose one
    /// sent in between (a test or systemd stopping serve right after its sockets
    /// appear), and no worker thread can be the one that receives it.
    public static func holdControlSignals() {
        var set = Server.signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signalNumber in controlSignals { sigaddset(&set, signalNumber) }
        return set
    }

    /// Until SIGINT or SIGTERM (then `stop()`), or until `stop()` is called
    /// elsewhere; SIGHUP calls `reload()`. Takes the signals `holdControlSignals()`
    /// blocked with sigtimedwait on this thread; the one-second timeout only bounds
    /// how long a `stop()` from another thread goes unnoticed here.
    public func waitForSignals() {
        Server.holdControlSignals()
        var set = Server.signalSet()
        var timeout = timespec(tv_sec: 1, tv_nsec: 0)
        while !stopped.withLock({ $0 }) {
            let signalNumber = sigtimedwait(&set, nil, &timeout)
            switch signalNumber {
            case SIGHUP:
                reload()
            case SIGINT, SIGTERM:
                logger.info("signal \(signalNumber): stopping")
                stop()
            default:
                continue  // timeout (EAGAIN) or EINTR
            }
        }
        finished.wait()
    }

    /// Stops every listener and the control socket (their sockets removed); ends `waitForSignals`.
    /// Only the first call does anything.
    public func stop() {
        guard stopped.withLock({ done in defer { done = true }; return !done }) else { return }
        notifier?.stopping()
        for listener in listeners { listener.backend.stop() }
        controlServer?.stop()
        finished.signal()
    }

    /// Re-reads the blob and its overlays: a clean result becomes the model of connections made from now on;
    /// one with errors leaves the old model in place. Logged either way (as for SIGHUP).
    /// The new model is attached to `hostState`, like the old ones: nothing
    /// physical changes at a reload, and agents of every model are arbitrated
    /// together (docs/serve-choices.md, "One owner of host state across SIGHUP").
    @discardableResult
    public func reload() -> ReloadOutcome {
        notifier?.reloading()
        let result = BackendChecker.check(blobAt: blobPath, sources: sources)
        guard let checked = result.tables, !result.hasErrors else {
            let errors = result.diagnostics.filter { $0.severity == .error }.map(\.rendered)
            logger.error("SIGHUP: \(blobPath) fails check; keeping the old model: \(errors.joined(separator: "; "))")
            notifier?.ready(status: readiness + " (the reload failed check; old model kept)")
            return .keptOldModel(errors: errors)
        }
        logWarnings(result.diagnostics)
        var tables = checked
        if let reloadTables {
            switch reloadTables(checked) {
            case .success(let served):
                tables = served
            case .failure(let refusal):
                logger.error("SIGHUP: \(blobPath): \(refusal.lines.joined(separator: "; ")); keeping the old model")
                notifier?.ready(status: readiness + " (the reload failed; old model kept)")
                return .keptOldModel(errors: refusal.lines)
            }
        }
        host.describe(tables)
        current.withLock { $0 = Server.makePlatform(tables, owner: hostState, logger: logger, trace: trace) }
        bindings.withLock { $0 = HostBindingMap(tables, upstreamGiven: upstreamGiven, hookGiven: hookGiven) }
        Server.returnFreedMemory()
        logger.notice("SIGHUP: \(blobPath) reloaded; new connections use it")
        notifier?.ready(status: readiness)
        return .reloaded
    }

    /// `check`'s warnings about the blob being served, one log line each: at start and after
    /// a reload, so that an operator sees in the journal what `check` would have said.
    public func logWarnings(_ diagnostics: [Diagnostic]) {
        for diagnostic in diagnostics where diagnostic.severity == .warning {
            logger.warning("check: \(diagnostic.rendered)")
        }
    }
}

/// Why a reload's tables cannot be served (the firmware is away, or refuses a resource).
public struct ReloadRefusal: Error, Sendable {
    public var lines: [String]
    public init(_ lines: [String]) { self.lines = lines }
}

/// Lets the trace callback reach the platform it belongs to without a retain cycle.
private final class WeakPlatform: @unchecked Sendable {
    // Written once, before any connection exists; read afterwards.
    weak var platform: SCMIPlatform?
}
