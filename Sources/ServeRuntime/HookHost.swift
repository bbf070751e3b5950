import Foundation
import LinuxIO
import Logging
import ResourceTables
import SCMIPlatform
import Synchronization

// `serve --host-hook PROGRAM` (docs/host.md): every physical change of a hook
// resource runs PROGRAM with `KIND ID ACTION VALUE` and the SCMI_* environment;
// exit status 0 applies it, anything else (non-zero, a signal, the timeout, a
// program that cannot start) is HARDWARE_ERROR and the engine rolls the change
// back (HostInterface.swift). The words each resource gets are spelled once,
// at start and at each reload, so that serve keeps no tables (nor the tree
// their paths are spelled from).

/// The host of `serve --host-hook`: runs the hook program for hook resources,
/// applies nothing for the others (the engine's model is their state).
public final class HookHost: HostInterface, Sendable {
    /// The program and how long one action may take.
    public struct Configuration: Sendable {
        public var program: String
        public var timeoutNanoseconds: Int64

        /// The default --host-hook-timeout.
        public static let defaultTimeoutNanoseconds: Int64 = 2_000_000_000

        public init(program: String, timeoutNanoseconds: Int64 = Configuration.defaultTimeoutNanoseconds) {
            self.program = program
            self.timeoutNanoseconds = timeoutNanoseconds
        }
    }

    /// Why PROGRAM cannot be a hook (serve does not start).
    public struct ProgramError: Error, CustomStringConvertible {
        public var description: String
    }

    /// What the program is told about one resource: SCMI_KIND, SCMI_ID,
    /// SCMI_NAME, SCMI_HOST_PATH, SCMI_HOST_CELLS, already "NAME=value".
    struct Described: Sendable {
        var kind: String
        var id: String
        var name: String
        var environment: [String]
    }

    /// Per protocol, per SCMI id; the agents' SCMI_AGENT by id.
    struct Words: Sendable {
        var resources: [ProtocolID: [Described]] = [:]
        var agents: [UInt32: String] = [:]
    }

    public let configuration: Configuration
    private let logger: Logger
    private let trace: Bool
    /// serve's PATH, the one variable of its environment the program gets.
    private let path: String
    private let words: Mutex<Words>
    /// The last failure per resource ("clock 3 \"usb\""), for `status`.
    private let failures = Mutex<[String: String]>([:])

    /// Fails with a message naming the program when it is missing or not executable.
    public init(_ configuration: Configuration, tables: PlatformTables, logger: Logger, trace: Bool = false) throws(ProgramError) {
        try HookHost.validate(program: configuration.program)
        self.configuration = configuration
        self.logger = logger
        self.trace = trace
        path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        words = Mutex(HookHost.words(tables))
    }

    /// PROGRAM must name an executable regular file.
    public static func validate(program: String) throws(ProgramError) {
        var info = stat()
        guard stat(program, &info) == 0 else {
            throw ProgramError(description: "--host-hook \(program): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ProgramError(description: "--host-hook \(program): not a regular file")
        }
        guard access(program, X_OK) == 0 else {
            throw ProgramError(description: "--host-hook \(program): not executable")
        }
    }

    /// The words of a new model (a reload); changes from then on are described with them.
    public func describe(_ tables: PlatformTables) {
        let fresh = HookHost.words(tables)
        words.withLock { $0 = fresh }
    }

    /// The last failure of each resource that failed, "resource: why", sorted.
    public var lastFailures: [String] {
        failures.withLock { $0.map { $0.key + ": " + $0.value }.sorted() }
    }

    // MARK: Actions

    public func apply(_ change: PhysicalChange) -> SCMIStatus {
        let (action, value) = change.hostAction
        return run(change.protocolID, change.resource, action: action, value: value, agent: change.agent).status
    }

    /// `read` of a sensor with neither a constant nor a file source: the
    /// program prints the value, a decimal integer, on standard output; nil
    /// (HARDWARE_ERROR for the agent) when it fails or prints anything else.
    /// Such a sensor is a firmware sensor (`arm,scmi-sensor`) served without
    /// an upstream. Agent 0 (a poll of the platform's own) is "platform".
    public func readSensor(_ id: UInt32, agent: UInt32) -> Int64? {
        run(.sensor, id, action: "read", value: "", agent: agent).value
    }

    /// One run of the program for resource `id` of `protocolID`.
    private func run(_ protocolID: ProtocolID, _ id: UInt32, action: String, value: String, agent: UInt32) -> (status: SCMIStatus, value: Int64?) {
        let (described, agentName) = words.withLock { words in
            (words.resources[protocolID]?[safe: Int(id)], words.agents[agent] ?? (agent == 0 ? "platform" : String(agent)))
        }
        guard let described else {
            logger.error("host hook: no \(protocolID.name) \(id) in the served tables; refused")
            return (.hardwareError, nil)
        }
        let environment = ["PATH=" + path] + described.environment + [
            "SCMI_ACTION=" + action, "SCMI_VALUE=" + value, "SCMI_AGENT=" + agentName,
        ]
        let started = ChildProcess.monotonicNanoseconds()
        let outcome = ChildProcess.run(
            configuration.program, arguments: [configuration.program, described.kind, described.id, action, value],
            environment: environment, timeoutNanoseconds: configuration.timeoutNanoseconds)
        let microseconds = (ChildProcess.monotonicNanoseconds() - started) / 1000
        let resource = "\(described.kind) \(described.id) \"\(described.name)\""
        let what = resource + " " + action + (value.isEmpty ? "" : " " + value)

        var reading: Int64? = nil
        var failure: String? = nil
        if outcome.ending != .exited(0) {
            failure = outcome.ending.description
        } else if action == "read" {
            reading = outcome.outputTruncated ? nil : HookHost.integer(outcome.output)
            if reading == nil { failure = "printed no decimal integer on standard output" }
        }
        guard let failure else {
            failures.withLock { _ = $0.removeValue(forKey: resource) }
            if trace { logger.info("host hook: \(what): applied in \(microseconds) us") }
            return (.success, reading)
        }
        failures.withLock { $0[resource] = action + ": " + failure }
        let lines = HookHost.firstLines(outcome.errors)
        logger.warning("host hook: \(what) (agent \(agentName)): \(failure) after \(microseconds) us\(lines.isEmpty ? "" : "; stderr: " + lines)")
        return (.hardwareError, nil)
    }

    // MARK: Words

    /// Spells every resource's words once.
    static func words(_ tables: PlatformTables) -> Words {
        func described(_ protocolID: ProtocolID, _ id: UInt32, _ name: String, _ path: String, _ cells: [UInt32]) -> Described {
            let kind = protocolID.hostKind
            return Described(kind: kind, id: String(id), name: name, environment: [
                "SCMI_KIND=" + kind, "SCMI_ID=" + String(id), "SCMI_NAME=" + name, "SCMI_HOST_PATH=" + path,
                "SCMI_HOST_CELLS=" + cells.map(String.init).joined(separator: " "),
            ])
        }
        var words = Words()
        words.resources[.clock] = tables.clocks.map { described(.clock, $0.id, $0.name, $0.providerPath, $0.specifier) }
        words.resources[.voltage] = tables.voltageDomains.map { described(.voltage, $0.id, $0.name, $0.regulatorPath, []) }
        words.resources[.powerDomain] = tables.powerDomains.map { described(.powerDomain, $0.id, $0.name, $0.providerPath, $0.specifier) }
        // A firmware performance domain without an OPP table: the firmware's platform node and its id.
        words.resources[.performance] = tables.performanceDomains.map { domain in
            guard domain.oppTablePath.isEmpty, let origin = tables.firmwareOrigin(.performance, domain.id) else {
                return described(.performance, domain.id, domain.name, domain.oppTablePath, [])
            }
            return described(.performance, domain.id, domain.name, origin.platformNodePath.description, [origin.firmwareID])
        }
        words.resources[.reset] = tables.resetDomains.map { described(.reset, $0.id, $0.name, $0.providerPath, $0.specifier) }
        // A sensor comes from no host node today (a constant or a file).
        words.resources[.sensor] = tables.sensors.map { described(.sensor, $0.id, $0.name, "", []) }
        for agent in tables.agents { words.agents[agent.id] = agent.name }
        return words
    }

    /// A decimal integer with optional sign, surrounding whitespace allowed.
    static func integer(_ bytes: [UInt8]) -> Int64? {
        Int64(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The first three lines of the program's standard error, joined with " | ".
    static func firstLines(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
            .prefix(3).joined(separator: " | ")
    }
}

/// `--host-hook-timeout`: "2s", "500ms", "1.5s", "250us"; nil when not a positive duration.
public func parseDuration(_ text: String) -> Int64? {
    let units: [(String, Double)] = [("ms", 1e6), ("us", 1e3), ("s", 1e9)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        guard let number = Double(text.dropLast(suffix.count)), number > 0, number * scale < 3.6e12 else { return nil }
        return Int64(number * scale)
    }
    return nil
}

extension Array {
    fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
