import ArgumentParser
import BackendModel
import Foundation
import LinuxIO
import Logging
import ResourceTables
import SCMIPlatform
import SCMIUpstream
import ServeRuntime
import VhostUser

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the SCMI platform of a blob as a vhost-user backend.",
        discussion: """
            One listening Unix socket per agent. QEMU connects with
              -object memory-backend-memfd,id=mem,size=1G,share=on -machine memory-backend=mem
              -chardev socket,id=scmi0,path=SOCKET -device vhost-user-scmi-pci,chardev=scmi0
            SIGINT/SIGTERM stop (sockets removed); SIGHUP re-reads the blob and its overlays for new connections.
            Every socket is created with --socket-mode (default 0660: its owner and group may
            connect) and, when given, --socket-group and --socket-owner. A missing --socket-dir
            is created (its parent must exist), open only to whom the sockets let in.
            Under systemd (Type=notify) serve says READY=1 once every socket listens.
            """
    )

    @Argument(help: "The devicetree blob (.dtb, or .dts when dtc is installed).")
    var blob: String

    @OptionGroup var sources: SourceOptions

    @Option(help: "Listen on this socket for one agent (the only agent, or the one named by --agent).")
    var socket: String?

    @Option(name: .customLong("socket-dir"), help: "Listen on DIR/<agent-name>.sock for every declared agent (and DIR/control).")
    var socketDirectory: String?

    @Option(help: "The agent served on --socket, by name or id.")
    var agent: String?

    @Option(name: .customLong("socket-mode"), help: "Permission bits of every socket, in octal: who may connect.")
    var socketMode: String = "0660"

    @Option(name: .customLong("socket-group"), help: "Group of every socket (a name or a gid), e.g. the group QEMU runs in.")
    var socketGroup: String?

    @Option(name: .customLong("socket-owner"), help: "Owner of every socket (a name or a uid); needs root.")
    var socketOwner: String?

    @Flag(help: "Log every SCMI message and every change of physical state.")
    var trace = false

    @Option(help: "Unix socket where `scmi-dt status --control PATH` can ask for the state (default with --socket-dir: DIR/control).")
    var control: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(
        name: .customLong("ring-poll-us"),
        help: ArgumentHelp(
            "After a batch, poll the ring up to this many microseconds before sleeping (default 0: never; try 50).",
            discussion: "Saves the guest's next kick and the worker's wake-up when requests come in quick succession "
                + "on an otherwise idle host; the window adapts, down to no polling for an idle guest or a busy CPU. "
                + "Costs CPU while polling."))
    var ringPollMicroseconds: Int = RingPolling.off.maximumMicroseconds

    @Option(name: .customLong("host-hook"), help: ArgumentHelp(
        "Run PROGRAM (no shell) for every change of a resource's physical state: KIND ID ACTION VALUE, SCMI_* environment.",
        discussion: "Exit status 0 applies the change; anything else (or the timeout) gives the agent HARDWARE_ERROR "
            + "and rolls the change back. See the README, \"Host hooks\".",
        valueName: "program"))
    var hostHook: String?

    @Option(name: .customLong("host-hook-timeout"), help: "How long one hook action may run before it is killed (2s, 500ms).")
    var hostHookTimeout: String = "2s"

    @OptionGroup var upstream: UpstreamOptions

    func validate() throws {
        if parseDuration(hostHookTimeout) == nil {
            throw ValidationError("--host-hook-timeout '\(hostHookTimeout)': give a positive duration such as 2s or 500ms")
        }
        if (socket == nil) == (socketDirectory == nil) {
            throw ValidationError("give exactly one of --socket PATH or --socket-dir DIR")
        }
        if agent != nil && socket == nil {
            throw ValidationError("--agent goes with --socket")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
        if !(0...10_000).contains(ringPollMicroseconds) {
            throw ValidationError("--ring-poll-us must be 0...10000")
        }
    }

    /// The control socket: --control, else the one beside the agents' sockets of --socket-dir.
    var controlPath: String? { control ?? socketDirectory.map(ControlSocket.path(inSocketDirectory:)) }

    func run() throws {
        // Before any thread exists: SIGINT, SIGTERM and SIGHUP wait, pending, for
        // Server.waitForSignals (none lost while serve starts).
        Server.holdControlSignals()
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

        let (server, upstreamHost) = try startServer(logger: logger)
        Server.returnFreedMemory()  // the check's, now that only the platform is left
        // SIGTERM/SIGINT: every listener stops, each guest's connection ends and its
        // requests are withdrawn, the changes applied through the host (the firmware
        // included), before waitForSignals returns; only then does the link close.
        server.waitForSignals()
        upstreamHost?.stop()
    }

    /// Whether physical changes go to a host hook (docs/serve.md, "Host bindings"): true when
    /// `--host-hook PROGRAM` is given.
    private var hookGiven: Bool { hostHook != nil }

    /// Checks the blob, builds the platform and listens. The tables, and with them the
    /// indexed tree their node paths are spelled from, end here: serve keeps only the
    /// platform, and gives the check's freed memory back.
    private func startServer(logger: Logger) throws -> (Server, UpstreamHost?) {
        let (checked, diagnostics) = try checkedTables()
        let bindings = try socketBindings(for: checked)
        let inner = try host(checked, logger: logger)
        let (tables, upstreamHost) = try connectedUpstream(checked, inner: inner, logger: logger)
        // A reload serves the firmware's facts too, read over the same link.
        var reloadTables: (@Sendable (PlatformTables) -> Result<PlatformTables, ReloadRefusal>)? = nil
        if let upstreamHost { reloadTables = { tables in Self.merged(tables, by: upstreamHost, logger: logger) } }
        let server = Server(blobPath: blob, sources: sources.sources, tables: tables, logger: logger, trace: trace,
                            notifier: ServiceNotifier(logger: logger),
                            ringPolling: RingPolling(maximumMicroseconds: ringPollMicroseconds),
                            host: upstreamHost ?? inner, upstreamGiven: upstream.address != nil, hookGiven: hookGiven,
                            reloadTables: reloadTables)
        server.logWarnings(diagnostics)
        do {
            try upstreamHost?.start(state: { server.platform.snapshot() }, passOn: { server.platform.passOn($0) })
            let access = try SocketAccess.resolve(mode: socketMode, group: socketGroup, owner: socketOwner)
            if let socketDirectory, try SocketDirectory.prepare(socketDirectory, access: access) {
                logger.info("created the socket directory \(socketDirectory)")
            }
            try server.start(bindings: bindings, controlPath: controlPath, access: access)
        } catch {
            server.stop()
            FileHandle.standardError.write(Data("serve: \(error)\n".utf8))
            upstreamHost?.stop()
            throw ExitCode(2)
        }
        return (server, upstreamHost)
    }

    /// With --upstream: the link to the firmware, the Base handshake and the
    /// firmware's facts merged into the tables (as `tables --upstream` prints
    /// them; a firmware that cannot be reached exits 2, resources it refuses
    /// 1), and the host that sends the firmware's resources' changes to it,
    /// every other resource going to `inner`.
    private func connectedUpstream(_ tables: PlatformTables, inner: any HostInterface, logger: Logger) throws -> (PlatformTables, UpstreamHost?) {
        guard let address = upstream.address else { return (tables, nil) }
        let timeout = upstream.timeoutMilliseconds
        let learnt = try Tables.learn(tables, from: address, timeoutNanoseconds: upstream.timeoutNanoseconds, keepingLink: true)
        guard let link = learnt.link else { throw ExitCode(2) }
        let merged = learnt.tables.tables
        inner.describe(merged)
        let session = FirmwareSession(learnt.identity, over: link, protocols: UpstreamHost.protocols(merged), timeoutMilliseconds: timeout)
        let host = UpstreamHost(
            tables: merged, inner: inner, link: link, session: session, address: address.description,
            configuration: UpstreamHost.Configuration(timeoutMilliseconds: timeout),
            connect: { () throws(UpstreamError) -> any UpstreamLink in try connectUpstream(address, timeoutMilliseconds: timeout) },
            logger: logger, trace: trace)
        logger.info("upstream \(address): serve is the firmware's agent \(learnt.identity.agentID) \"\(learnt.identity.agentName)\" (timeout \(upstream.upstreamTimeout))")
        return (merged, host)
    }

    /// The blob's tables and its findings (warnings are logged), or the diagnostics on
    /// stderr and exit 1 (2 when unusable). The model dies with the check result here.
    private func checkedTables() throws -> (PlatformTables, [Diagnostic]) {
        let result = BackendChecker.check(blobAt: blob, sources: sources.sources)
        guard let tables = result.tables, !result.hasErrors else {
            for diagnostic in result.diagnostics { FileHandle.standardError.write(Data((diagnostic.rendered + "\n").utf8)) }
            FileHandle.standardError.write(Data("serve: \(blob) has errors; not serving\n".utf8))
            throw ExitCode(result.isUnusable ? 2 : 1)
        }
        return (tables, result.diagnostics)
    }

    /// The host that applies physical changes: the hook program when given
    /// (missing or not executable: serve does not start), else the model only.
    private func host(_ tables: PlatformTables, logger: Logger) throws -> any HostInterface {
        guard let hostHook else { return InMemoryHost() }
        do {
            let configuration = HookHost.Configuration(program: hostHook, timeoutNanoseconds: parseDuration(hostHookTimeout) ?? HookHost.Configuration.defaultTimeoutNanoseconds)
            let host = try HookHost(configuration, tables: tables, logger: logger, trace: trace)
            logger.info("host hook: \(hostHook) (timeout \(hostHookTimeout))")
            return host
        } catch {
            FileHandle.standardError.write(Data("serve: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// A reload's tables with the firmware's facts merged in (its warnings
    /// logged), or the lines that say why they cannot be.
    private static func merged(_ tables: PlatformTables, by host: UpstreamHost, logger: Logger) -> Result<PlatformTables, ReloadRefusal> {
        do {
            let merged = try host.merged(tables)
            for warning in merged.warnings { logger.warning("upstream \(host.address): \(warning)") }
            return .success(merged.tables)
        } catch {
            switch error {
            case .unreachable(let why): return .failure(ReloadRefusal(["upstream \(host.address): " + why]))
            case .refused(let problems): return .failure(ReloadRefusal(problems.map { "upstream \(host.address): " + $0 }))
            }
        }
    }

    /// Which agent listens where.
    private func socketBindings(for tables: PlatformTables) throws -> [Server.Binding] {
        if let socket {
            if let agent {
                guard let entry = tables.agent(agent) else {
                    throw ValidationError("no agent '\(agent)' in \(blob); its agents: \(tables.agentList)")
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
