import Dispatch
import LinuxIO
import Logging
import ResourceTables
import SCMIClient
import SCMIPlatform
import Synchronization

// The host of `serve --upstream` (docs/host.md, "Upstream"): policy in front
// of the firmware. Arbitration stays in the engine; what it decides for a
// resource the firmware owns is sent to the firmware with the firmware's id
// (FirmwareCommands' rows), and the guest is answered once the firmware has
// answered: its status when it refuses (the engine rolls back), GENERIC_ERROR
// when it does not answer in time, answers garbage or is gone. Every other
// resource goes to the inner host (the hook of --host-hook, else the model).
//
// Threads: commands go over the link one at a time (`channel` is held from a
// command to its reply), from whichever thread applies a change or reads a
// value; neither holds the platform's state lock then (the engine calls
// without it). One supervisor thread takes the firmware's own messages while
// the link is up, and while it is down reconnects with backoff, redoes the
// Base handshake and the subscriptions, and re-applies every upstream
// resource's physical state before guests may use the link again.

/// What the commands over one link need to know of the firmware, learnt
/// when the link was made (and again after each reconnect).
public struct FirmwareSession: Hashable, Sendable {
    /// serve's own agent id at the firmware (the handshake's
    /// BASE_DISCOVER_AGENT(0xFFFFFFFF)): the firmware's notifications carrying
    /// it follow serve's own commands.
    public var agentID: UInt32
    /// The firmware's PROTOCOL_VERSION of each protocol serve sends it
    /// commands of (a command's layout may depend on it); absent when it
    /// would not say.
    public var versions: [ProtocolID: UInt32]

    public init(agentID: UInt32, versions: [ProtocolID: UInt32]) {
        self.agentID = agentID
        self.versions = versions
    }

    /// After the Base handshake over `link` (`identity`): the version of
    /// each of `protocols` the firmware answers.
    public init(_ identity: FirmwareIdentity, over link: any UpstreamLink, protocols: [ProtocolID], timeoutMilliseconds: Int) {
        let client = SCMIClient(transport: UpstreamClientTransport(link: link, timeoutMilliseconds: timeoutMilliseconds))
        self.init(agentID: identity.agentID, versions: Self.versions(client, protocols))
    }

    /// The Base handshake over a new link, then the versions.
    public static func discover(over link: any UpstreamLink, protocols: [ProtocolID], timeoutMilliseconds: Int) throws -> FirmwareSession {
        let client = SCMIClient(transport: UpstreamClientTransport(link: link, timeoutMilliseconds: timeoutMilliseconds))
        let identity = try FirmwareFacts.handshake(client)
        return FirmwareSession(agentID: identity.agentID, versions: versions(client, protocols))
    }

    private static func versions(_ client: SCMIClient, _ protocols: [ProtocolID]) -> [ProtocolID: UInt32] {
        var versions: [ProtocolID: UInt32] = [:]
        for id in protocols { versions[id] = try? client.protocolVersion(id.rawValue) }
        return versions
    }
}

public final class UpstreamHost: HostInterface, @unchecked Sendable {
    // @unchecked: every mutable field is behind one of the Mutexes below; the
    // supervisor's NativeThread is written by start() and read by stop().

    /// Makes a new link to the firmware (serve --upstream's transport).
    public typealias Connect = @Sendable () throws(UpstreamError) -> any UpstreamLink

    public struct Configuration: Sendable {
        /// --upstream-timeout: how long one command may wait for its reply.
        public var timeoutMilliseconds: Int
        /// Reconnecting: the first wait, doubled after each failed try up to the last.
        public var firstRetryMilliseconds: Int
        public var lastRetryMilliseconds: Int

        /// The default --upstream-timeout.
        public static let defaultTimeoutMilliseconds = 1000

        public init(timeoutMilliseconds: Int = Configuration.defaultTimeoutMilliseconds,
                    firstRetryMilliseconds: Int = 100, lastRetryMilliseconds: Int = 5000) {
            self.timeoutMilliseconds = timeoutMilliseconds
            self.firstRetryMilliseconds = firstRetryMilliseconds
            self.lastRetryMilliseconds = lastRetryMilliseconds
        }
    }

    /// The served resources the firmware owns, both ways, and their words.
    struct Routes: Sendable {
        struct Target: Sendable {
            let firmwareID: UInt32
            /// `clock 3 "usb-core"`: the resource in log lines and `status`.
            let label: String
        }
        var targets: [ResourceReference: Target] = [:]
        /// Firmware resource → the SCMI ids serving it.
        var served: [ResourceReference: [UInt32]] = [:]

        init(_ tables: PlatformTables) {
            for (reference, origin) in tables.firmwareOrigins {
                let name = tables.name(of: reference)
                let label = reference.protocolID.hostKind + " " + String(reference.id) + " \"" + name + "\""
                targets[reference] = Target(firmwareID: origin.firmwareID, label: label)
                served[ResourceReference(origin.protocolID, origin.firmwareID), default: []].append(reference.id)
            }
            for key in served.keys { served[key]?.sort() }
        }

        /// The protocols with an upstream resource, ascending.
        var protocols: [ProtocolID] { Set(targets.keys.map(\.protocolID)).sorted { $0.rawValue < $1.rawValue } }
    }

    /// The link as guests' commands see it.
    private struct Connection {
        /// nil while the firmware is gone.
        var link: (any UpstreamLink)?
        var session = FirmwareSession(agentID: 0, versions: [:])
        /// Counts the links made; a failure on an older one changes nothing.
        var generation = 0
        var stopping = false
    }

    /// The client of the current link; held from a command to its reply.
    private struct Channel {
        var client: SCMIClient?
        var generation = -1
    }

    /// A command that brought no answer to use.
    struct Failure: Error {
        /// What the agent gets: the firmware's status, or GENERIC_ERROR.
        let status: SCMIStatus
        let why: String
    }

    public let address: String
    public let configuration: Configuration
    private let inner: any HostInterface
    private let connect: Connect
    private let logger: Logger
    private let trace: Bool
    private let routes: Mutex<Routes>
    private let connection = Mutex(Connection())
    private let channel = Mutex(Channel())
    /// The last failure per resource label, for `status`.
    private let failures = Mutex<[String: String]>([:])
    /// The resources serve sent (or tried to send) a change since it started:
    /// what a reconnect re-applies. The others are as the firmware keeps them.
    private let touched = Mutex<Set<ResourceReference>>([])
    /// Signalled by stop(): ends the supervisor's waits.
    private let wake = DispatchSemaphore(value: 0)
    private let supervisor = Mutex<NativeThread?>(nil)
    /// The physical state to re-apply after a reconnect, and where the
    /// firmware's notifications go (the current platform's; start()).
    private let server = Mutex<(state: @Sendable () -> PlatformSnapshot, passOn: @Sendable (PhysicalChange) -> Void)?>(nil)

    /// `link` is connected and answered the handshake (`session`);
    /// `connect` makes a new one after the firmware went away. Resources of
    /// `tables` the firmware owns (firmwareOrigins) go to it, the others to `inner`.
    public init(tables: PlatformTables, inner: any HostInterface, link: any UpstreamLink, session: FirmwareSession,
                address: String, configuration: Configuration = Configuration(), connect: @escaping Connect,
                logger: Logger, trace: Bool = false) {
        self.address = address
        self.configuration = configuration
        self.inner = inner
        self.connect = connect
        self.logger = logger
        self.trace = trace
        routes = Mutex(Routes(tables))
        connection.withLock {
            $0.link = link
            $0.session = session
        }
    }

    /// The protocols with an upstream resource (what FirmwareSession.discover asks the version of).
    public static func protocols(_ tables: PlatformTables) -> [ProtocolID] { Routes(tables).protocols }

    /// Subscribes at the firmware to its notifications of upstream resources
    /// and starts the supervisor. `state` gives the current physical state
    /// (the platform's snapshot), re-applied after a reconnect; `passOn`
    /// takes the firmware's notifications, translated to SCMI ids
    /// (SCMIPlatform.passOn of the current platform).
    public func start(state: @escaping @Sendable () -> PlatformSnapshot, passOn: @escaping @Sendable (PhysicalChange) -> Void) throws {
        server.withLock { $0 = (state, passOn) }
        channel.withLock { subscribe(&$0) }
        let thread = try NativeThread(name: "scmi-upstream") { [self] in supervise() }
        supervisor.withLock { $0 = thread }
    }

    /// Stops the supervisor and closes the link. Call after every session
    /// ended (serve's orderly stop applied their withdrawals through here).
    public func stop() {
        let link = connection.withLock { connection -> (any UpstreamLink)? in
            connection.stopping = true
            defer { connection.link = nil }
            return connection.link
        }
        wake.signal()
        // The supervisor closes the link it holds; without one, it is closed here.
        if let thread = supervisor.withLock({ $0 }) { thread.join() } else { link?.close() }
    }

    /// The firmware's facts merged into `tables` (a reload's), read over the
    /// current link between two commands, as at start: a reload serves the
    /// firmware's facts too. Throws when the firmware is away or refuses.
    public func merged(_ tables: PlatformTables) throws(FirmwareFactsError) -> MergedTables {
        try channel.withLock { _ throws(FirmwareFactsError) -> MergedTables in
            guard let link = connection.withLock({ $0.link }) else { throw .unreachable("upstream \(address) is down") }
            return try FirmwareFacts.read(tables, over: link, timeoutMilliseconds: configuration.timeoutMilliseconds).merged(into: tables)
        }
    }

    /// Whether the firmware is reachable now (false while reconnecting).
    public var isConnected: Bool { connection.withLock { $0.link != nil } }

    // MARK: HostInterface

    public func apply(_ change: PhysicalChange) -> SCMIStatus {
        guard let target = target(change.protocolID, change.resource) else { return inner.apply(change) }
        return channel.withLock { perform(change, on: target, "agent \(change.agent), \(change.cause)", &$0) }
    }

    public func readsHardware(_ protocolID: ProtocolID, _ resource: UInt32) -> Bool {
        target(protocolID, resource) != nil && FirmwareCommands.read(protocolID) != nil
    }

    public func readValue(_ protocolID: ProtocolID, _ resource: UInt32) -> Result<Int64, SCMIStatus> {
        guard let target = target(protocolID, resource), let command = FirmwareCommands.read(protocolID) else {
            return inner.readValue(protocolID, resource)
        }
        let started = ChildProcess.monotonicNanoseconds()
        let value = channel.withLock { send(&$0, protocolID, command.messageID) { _ in command.parameters(target.firmwareID) } }
            .flatMap { values -> Result<Int64, Failure> in
                do { return .success(try command.decode(values)) } catch {
                    return .failure(Failure(status: .genericError, why: "malformed reply: \(error)"))
                }
            }
        let status = record(target, "read", value, since: started)
        return value.mapError { _ in status }
    }

    /// Upstream sensors are read with readValue (readsHardware); the others by the inner host.
    public func readSensor(_ resource: UInt32, agent: UInt32) -> Int64? {
        inner.readSensor(resource, agent: agent)
    }

    public var lastFailures: [String] {
        let own = failures.withLock { $0.map { $0.key + ": " + $0.value } }
        return (own + inner.lastFailures).sorted()
    }

    public func describe(_ tables: PlatformTables) {
        let fresh = Routes(tables)
        routes.withLock { $0 = fresh }
        inner.describe(tables)
    }

    // MARK: Commands

    private func target(_ protocolID: ProtocolID, _ resource: UInt32) -> Routes.Target? {
        routes.withLock { $0.targets[ResourceReference(protocolID, resource)] }
    }

    /// Makes `change` real at the firmware (its row of
    /// FirmwareCommands.changes, with the firmware's id), `channel` held;
    /// the outcome is logged (with `why`) and kept for `status`.
    private func perform(_ change: PhysicalChange, on target: Routes.Target, _ why: String, _ channel: inout Channel) -> SCMIStatus {
        let (action, value) = change.hostAction
        let doing = action + (value.isEmpty ? "" : " " + value)
        touched.withLock { _ = $0.insert(ResourceReference(change.protocolID, change.resource)) }
        let started = ChildProcess.monotonicNanoseconds()
        guard let command = FirmwareCommands.command(for: change) else {
            return record(target, doing, Result<Void, Failure>.failure(Failure(status: .notSupported, why: "no firmware command does that")), since: started, why: why)
        }
        let outcome = send(&channel, command.protocolID, command.messageID) { version in command.parameters(target.firmwareID, change.what, version) }
        return record(target, doing, outcome, since: started, why: why)
    }

    /// One command over the current link, `channel` held, its parameters
    /// made for the firmware's version of the protocol: the return values, or why none.
    private func send(_ channel: inout Channel, _ protocolID: ProtocolID, _ messageID: UInt8,
                      _ parameters: (_ version: UInt32) -> [UInt32]) -> Result<ReturnValues, Failure> {
        let (link, session, generation) = connection.withLock { ($0.link, $0.session, $0.generation) }
        guard let link else { return .failure(Failure(status: .genericError, why: "upstream \(address) is down")) }
        if channel.generation != generation {
            channel.client = SCMIClient(transport: UpstreamClientTransport(link: link, timeoutMilliseconds: configuration.timeoutMilliseconds))
            channel.generation = generation
        }
        let words = parameters(session.versions[protocolID] ?? 0)
        guard let client = channel.client else { return .failure(Failure(status: .genericError, why: "no client")) }
        do {
            return .success(try client.call(protocolID: protocolID.rawValue, messageID: messageID, parameters: words))
        } catch let error as SCMIClientError {
            if let status = error.status { return .failure(Failure(status: status, why: "the firmware answered \(status)")) }
            let why = "malformed reply: \(error)"
            logger.error("upstream \(address): \(why)")
            return .failure(Failure(status: .genericError, why: why))
        } catch let error as UpstreamError {
            if case .disconnected = error { linkLost(generation, error) }
            if case .malformed = error { logger.error("upstream \(address): \(error)") }
            return .failure(Failure(status: .genericError, why: error.description))
        } catch {
            return .failure(Failure(status: .genericError, why: "\(error)"))
        }
    }

    /// Keeps the outcome of one host action on `target` for `status` and the
    /// log: a failure is logged and kept until the resource's next success.
    private func record(_ target: Routes.Target, _ doing: String, _ outcome: Result<some Any, Failure>, since started: Int64,
                        why: String? = nil) -> SCMIStatus {
        let microseconds = (ChildProcess.monotonicNanoseconds() - started) / 1000
        let what = target.label + " " + doing + " (firmware id " + String(target.firmwareID) + (why.map { "; " + $0 } ?? "") + ")"
        switch outcome {
        case .success:
            failures.withLock { _ = $0.removeValue(forKey: target.label) }
            if trace { logger.info("upstream: \(what): SUCCESS in \(microseconds) us") }
            return .success
        case .failure(let failure):
            failures.withLock { $0[target.label] = doing + ": " + failure.why }
            logger.warning("upstream: \(what): \(failure.why) after \(microseconds) us -> \(failure.status.name)")
            return failure.status
        }
    }

    /// The link of `generation` failed: guests' upstream resources answer
    /// GENERIC_ERROR from now on, and the supervisor reconnects.
    private func linkLost(_ generation: Int, _ error: UpstreamError) {
        let lost = connection.withLock { connection -> Bool in
            guard connection.generation == generation, connection.link != nil, !connection.stopping else { return false }
            connection.link = nil
            return true
        }
        guard lost else { return }
        logger.warning("upstream \(address) lost (\(error)); its resources answer GENERIC_ERROR until it is back")
    }

    // MARK: Subscriptions, re-applying

    /// Asks the firmware, over the current link, for the notifications of
    /// every upstream resource that guests may subscribe to; a firmware that
    /// does not send them (NOT_SUPPORTED, …) is logged once per event.
    private func subscribe(_ channel: inout Channel) {
        let targets = routes.withLock { $0.targets }
        for row in FirmwareCommands.notifications {
            var refused: String?
            for (reference, target) in targets where reference.protocolID == row.protocolID {
                if case .failure(let failure) = send(&channel, row.protocolID, row.subscribeMessageID, { _ in [target.firmwareID, 1] }) {
                    refused = failure.why
                }
            }
            if let refused {
                let name = MessageNames.messageName(protocolID: row.protocolID.rawValue, messageID: row.subscribeMessageID)
                logger.info("upstream \(address): \(name): \(refused); guests hear only of serve's own changes")
            }
        }
    }

    /// Sends the physical state in `snapshot` (value, then on/off) of every
    /// upstream resource serve changed since it started over the current
    /// link; returns how many commands went through and how many failed.
    private func reapply(_ channel: inout Channel, _ snapshot: PlatformSnapshot) -> (sent: Int, failed: Int) {
        var sent = 0, failed = 0
        let changed = touched.withLock { $0 }
        for table in snapshot.tables {
            let protocolID = ProtocolID(rawValue: table.protocolID)
            for row in table.resources where changed.contains(ResourceReference(protocolID, row.id)) {
                guard let target = target(protocolID, row.id) else { continue }
                var changes: [PhysicalChange.What] = []
                if let value = row.value { changes.append(.value(from: value, to: value)) }
                if let on = row.on { changes.append(.switched(on: on)) }
                for what in changes {
                    let change = PhysicalChange(protocolID, resource: row.id, what, agent: 0, cause: .request)
                    if perform(change, on: target, "re-applied after reconnecting", &channel).isSuccess { sent += 1 } else { failed += 1 }
                }
            }
        }
        return (sent, failed)
    }

    // MARK: The supervisor

    /// While the link is up, takes the firmware's messages; while it is down,
    /// reconnects with backoff; until stop().
    private func supervise() {
        var held: (link: any UpstreamLink, generation: Int)?
        var retry = configuration.firstRetryMilliseconds
        while true {
            let (link, generation, stopping, ownAgent) = connection.withLock { ($0.link, $0.generation, $0.stopping, $0.session.agentID) }
            if stopping { break }
            if let old = held, link == nil || old.generation != generation {
                old.link.close()
                held = nil
            }
            if let link {
                held = (link, generation)
                retry = configuration.firstRetryMilliseconds
                do {
                    _ = try link.receive(timeoutMilliseconds: 100) { message in received(message, ownAgent: ownAgent) }
                } catch {
                    linkLost(generation, error)
                }
                continue
            }
            _ = wake.wait(timeout: .now() + .milliseconds(retry))
            if connection.withLock({ $0.stopping }) { break }
            if !reconnect() { retry = min(retry * 2, configuration.lastRetryMilliseconds) }
        }
        held?.link.close()
    }

    /// One try: a new link, the handshake, then (commands held back) the link
    /// published, the subscriptions and every upstream resource's state
    /// re-applied. False when the firmware is still away.
    private func reconnect() -> Bool {
        let link: any UpstreamLink
        do {
            link = try connect()
        } catch {
            logger.debug("upstream \(address): still away (\(error))")
            return false
        }
        let session: FirmwareSession
        do {
            session = try FirmwareSession.discover(over: link, protocols: routes.withLock { $0.protocols },
                                                   timeoutMilliseconds: configuration.timeoutMilliseconds)
        } catch {
            logger.debug("upstream \(address): connected, but the Base handshake failed (\(error))")
            link.close()
            return false
        }
        let state = server.withLock { $0?.state }
        let outcome: (sent: Int, failed: Int)? = channel.withLock { channel in
            let published = connection.withLock { connection -> Bool in
                guard !connection.stopping else { return false }
                connection.link = link
                connection.session = session
                connection.generation += 1
                return true
            }
            guard published else { return nil }
            subscribe(&channel)
            return state.map { reapply(&channel, $0()) } ?? (0, 0)
        }
        guard let outcome else {
            link.close()
            return true
        }
        logger.notice("upstream \(address) is back: \(outcome.sent) command\(outcome.sent == 1 ? "" : "s") re-applied the physical state\(outcome.failed > 0 ? ", \(outcome.failed) refused" : "")")
        return true
    }

    /// One message the firmware sent on its own: a notification of a
    /// physical change goes to the guests with the SCMI ids of the resources
    /// it concerns, unless serve's own command caused it (the engine told the
    /// guests already); anything else (delayed responses: serve sends no
    /// asynchronous command) is dropped.
    private func received(_ message: [UInt8], ownAgent: UInt32) {
        guard let first = LittleEndian.word(message, at: 0) else { return }
        let header = MessageHeader(rawValue: first)
        guard header.type == .notification, let row = FirmwareCommands.notification(header.protocolID, header.messageID) else { return }
        var words: [UInt32] = []
        var offset = 4
        while let word = LittleEndian.word(message, at: offset) {
            words.append(word)
            offset += 4
        }
        let name = MessageNames.notificationName(protocolID: header.protocolID, notificationID: header.messageID)
        guard let agent = words.first, let (firmwareID, what) = row.decode(words.dropFirst()) else {
            logger.warning("upstream \(address): \(name) with a payload of \(message.count - 4) bytes: dropped")
            return
        }
        if agent == ownAgent { return }
        let (ids, passOn) = (routes.withLock { $0.served[ResourceReference(row.protocolID, firmwareID)] ?? [] }, server.withLock { $0?.passOn })
        for id in ids {
            let change = PhysicalChange(row.protocolID, resource: id, what, agent: 0, cause: .firmware)
            if trace { logger.info("upstream: \(name) of firmware id \(firmwareID) (agent \(agent)) passed on as \(change)") }
            passOn?(change)
        }
    }
}
