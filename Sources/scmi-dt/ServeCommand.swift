import ArgumentParser
import BackendModel
import Dispatch
import Foundation
import Logging
import ResourceTables
import SCMIPlatform
import Synchronization
import VhostUser
import VirtioSCMI
import Virtqueue

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the SCMI platform of a blob as a vhost-user backend.",
        discussion: """
            One listening Unix socket per agent. QEMU connects with
              -object memory-backend-memfd,id=mem,size=1G,share=on -machine memory-backend=mem
              -chardev socket,id=scmi0,path=SOCKET -device vhost-user-scmi-pci,chardev=scmi0
            SIGINT/SIGTERM stop (sockets removed); SIGHUP re-reads the blob for new connections.
            """
    )

    @Argument(help: "The devicetree blob (.dtb, or .dts when dtc is installed).")
    var blob: String

    @Option(help: "Listen on this socket for one agent (the only agent, or the one named by --agent).")
    var socket: String?

    @Option(name: .customLong("socket-dir"), help: "Listen on DIR/<agent-name>.sock for every declared agent.")
    var socketDirectory: String?

    @Option(help: "The agent served on --socket, by name.")
    var agent: String?

    @Flag(help: "Log every SCMI message and every change of physical state.")
    var trace = false

    @Option(help: "Unix socket where `scmi-dt status --control PATH` can ask for the state.")
    var control: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        if (socket == nil) == (socketDirectory == nil) {
            throw ValidationError("give exactly one of --socket PATH or --socket-dir DIR")
        }
        if agent != nil && socket == nil {
            throw ValidationError("--agent goes with --socket")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
    }

    func run() throws {
        // Nothing serve writes to (control clients, frontends' call fds, a closed stderr
        // pipe) may end the process: each such write fails with EPIPE instead.
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
        var logger = Logger(label: "scmi-dt.serve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        let result = BackendChecker.check(blobAt: blob)
        guard let tables = result.tables, !result.hasErrors else {
            for diagnostic in result.diagnostics { FileHandle.standardError.write(Data((diagnostic.rendered + "\n").utf8)) }
            FileHandle.standardError.write(Data("serve: \(blob) has errors; not serving\n".utf8))
            throw ExitCode(result.isUnusable ? 2 : 1)
        }

        let bindings = try socketBindings(for: tables)
        let server = Server(blobPath: blob, tables: tables, logger: logger, trace: trace)
        try server.start(bindings: bindings, controlPath: control)
        server.waitForSignals()
    }

    /// Which agent listens where.
    private func socketBindings(for tables: PlatformTables) throws -> [(agent: AgentEntry, path: String)] {
        if let socket {
            if let agent {
                guard let entry = tables.agents.first(where: { $0.name == agent }) else {
                    throw ValidationError("no agent named '\(agent)'; declared: \(tables.agents.map(\.name).joined(separator: ", "))")
                }
                return [(entry, socket)]
            }
            guard tables.agents.count == 1 else {
                throw ValidationError(
                    "the blob declares \(tables.agents.count) agents (\(tables.agents.map(\.name).joined(separator: ", "))): name one with --agent, or use --socket-dir"
                )
            }
            return [(tables.agents[0], socket)]
        }
        let directory = socketDirectory!
        // check guarantees agent names are single file names; never build a path from one that is not.
        if let unsafe = tables.agents.first(where: { $0.name.isEmpty || $0.name.hasPrefix(".") || $0.name.contains("/") }) {
            throw ValidationError("agent name '\(unsafe.name)' cannot name a socket in \(directory)")
        }
        return tables.agents.map { ($0, directory + "/" + $0.name + ".sock") }
    }
}

/// The running backend: one vhost-user listener per agent over one SCMI platform,
/// an optional control socket, and signal handling.
final class Server: @unchecked Sendable {
    private let blobPath: String
    private let logger: Logger
    private let trace: Bool
    /// The platform new connections get. SIGHUP with a clean blob swaps it.
    private let current: Mutex<SCMIPlatform>
    private var listeners: [(agentName: String, path: String, backend: VhostUserBackend)] = []
    private var controlServer: ControlServer?
    private var signalSources: [DispatchSourceSignal] = []
    private let finished = DispatchSemaphore(value: 0)

    init(blobPath: String, tables: PlatformTables, logger: Logger, trace: Bool) {
        self.blobPath = blobPath
        self.logger = logger
        self.trace = trace
        current = Mutex(Server.makePlatform(tables, logger: logger, trace: trace))
    }

    /// With --trace every physical change is logged with its cause, by resource name.
    private static func makePlatform(_ tables: PlatformTables, logger: Logger, trace: Bool) -> SCMIPlatform {
        guard trace else { return SCMIPlatform(tables: tables) }
        // The platform names the resources; the callback needs it after it exists.
        let named = WeakPlatform()
        let log: @Sendable (PhysicalChange) -> Void = { change in
            logger.info("physical: \(named.platform?.describe(change) ?? change.description)")
        }
        let platform = SCMIPlatform(tables: tables, onPhysicalChange: log)
        named.platform = platform
        return platform
    }

    func start(bindings: [(agent: AgentEntry, path: String)], controlPath: String?) throws {
        for (agent, path) in bindings {
            let agentName = agent.name
            let backend = try VhostUserBackend(
                socketPath: path,
                device: SCMIVirtioDevice.description,
                logger: logger,
                makeHandler: { [self] in makeHandler(agentName: agentName) }
            )
            try backend.start()
            listeners.append((agentName, path, backend))
            logger.info("agent \(agent.id) \(agentName): listening on \(path)")
        }
        if let controlPath {
            controlServer = try ControlServer(path: controlPath, logger: logger) { [self] in statusReport() }
            logger.info("control socket: \(controlPath)")
        }
    }

    /// A new frontend connected to `agentName`'s socket.
    private func makeHandler(agentName: String) -> any VhostUserDeviceHandler {
        let platform = current.withLock { $0 }
        if let agent = platform.tables.agents.first(where: { $0.name == agentName }),
            let session = platform.makeSession(agentID: agent.id)
        {
            logger.info("agent \(agent.id) \(agentName): frontend connected")
            return SCMIChainHandler(session: session, agentName: agentName, logger: logger, trace: trace)
        }
        // Only possible after SIGHUP dropped this agent: every command is answered NOT_SUPPORTED.
        logger.warning("agent \(agentName) is no longer declared by \(blobPath); its guest gets NOT_SUPPORTED for every command")
        return SCMIRetiredAgentHandler(agentName: agentName, logger: logger)
    }

    func statusReport() -> StatusReport {
        let platform = current.withLock { $0 }
        return StatusReport(
            blob: blobPath,
            platform: platform.snapshot(),
            connections: listeners.map { ConnectionReport(agent: $0.agentName, status: $0.backend.status) }
        )
    }

    func waitForSignals() {
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                if signalNumber == SIGHUP { reload() } else { shutDown(signalNumber) }
            }
            source.resume()
            signalSources.append(source)
        }
        finished.wait()
    }

    private func shutDown(_ signalNumber: Int32) {
        logger.info("signal \(signalNumber): stopping")
        for listener in listeners { listener.backend.stop() }
        controlServer?.stop()
        finished.signal()
    }

    private func reload() {
        let result = BackendChecker.check(blobAt: blobPath)
        guard let tables = result.tables, !result.hasErrors else {
            let errors = result.diagnostics.filter { $0.severity == .error }.map(\.rendered)
            logger.error("SIGHUP: \(blobPath) fails check; keeping the old model: \(errors.joined(separator: "; "))")
            return
        }
        current.withLock { $0 = Server.makePlatform(tables, logger: logger, trace: trace) }
        logger.notice("SIGHUP: \(blobPath) reloaded; new connections use it")
    }
}

/// Lets the trace callback reach the platform it belongs to without a retain cycle.
private final class WeakPlatform: @unchecked Sendable {
    // Written once, before any connection exists; read afterwards.
    weak var platform: SCMIPlatform?
}
