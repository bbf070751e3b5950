import ArgumentParser
import Foundation
import LinuxIO
import SCMIClient
import SCMIPlatform
import VhostUser

/// `scmi-dt call`: typed subcommands (`call clock rate-set ID HZ`), each with its own
/// generated help, and `call chain` (the default), which runs several of them on one
/// connection: `call --socket S clock.enable 2 + clock.rate-set 2 500000000`.
struct Call: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Send SCMI commands to a running serve as a vhost-user frontend.",
        discussion: """
            Connects to an agent's socket like QEMU would (memfd "guest" memory, its own
            virtqueue and eventfds), sends the commands and prints the decoded answers.
            One command:
              scmi-dt call clock rate-set 2 500000000 --socket S
            Several on one connection (the `chain` subcommand, the default), each written
            PROTOCOL.COMMAND or PROTOCOL COMMAND and separated by a lone `+`:
              scmi-dt call --socket S clock.enable 2 + clock.rate-set 2 500000000
            The agent's requests last as long as the connection (serve withdraws them when
            a frontend goes away, as for a guest that powers off): --hold keeps it open.
            Like a guest, call negotiates the eventq (VIRTIO_SCMI_F_P2A_CHANNELS) and posts
            buffers on it; --listen SECONDS then prints every notification and delayed
            response that arrives during that time, decoded:
              scmi-dt call --socket S --listen 30 clock.notify on 0
            `scmi-dt call clock rate-set --help` (and so on) describes each command.
            Exit status: 0 success, 1 the platform answered with an SCMI error, 2 no connection.
            """,
        subcommands: [CallChain.self, CallBase.self, CallPower.self, CallPerformance.self, CallClock.self, CallSensor.self, CallReset.self, CallVoltage.self, CallRaw.self],
        defaultSubcommand: CallChain.self
    )
}

/// Where to send, and how long to stay: every call command has these.
struct CallConnection: ParsableArguments {
    @Option(help: "The agent's vhost-user socket (serve --socket or --socket-dir DIR/NAME.sock).")
    var socket: String

    @Option(help: "Keep the connection, and so this agent's requests, open this many seconds after the commands.")
    var hold: Double = 0

    @Option(help: "After the commands, print the notifications and delayed responses that arrive during this many seconds.")
    var listen: Double = 0

    func validate() throws {
        guard hold >= 0, hold <= 86400 else { throw ValidationError("--hold must be between 0 and 86400 seconds") }
        guard listen >= 0, listen <= 86400 else { throw ValidationError("--listen must be between 0 and 86400 seconds") }
    }
}

/// A typed call command: its arguments parsed by argument-parser, sent on a client.
protocol SCMICall: ParsableCommand {
    var connection: CallConnection { get }
    /// Sends the command on `client` and prints the decoded answer.
    func send(_ client: SCMIClient) throws
}

extension SCMICall {
    func run() throws {
        try CallSession.run(connection, [(nil, self)])
    }
}

/// One connection, several commands, the exit status `call` has always had.
enum CallSession {
    static func run(_ connection: CallConnection, _ commands: [(label: String?, command: any SCMICall)]) throws {
        let socket = connection.socket
        let frontend: VhostUserFrontend
        do {
            // As a guest does: the eventq started and filled with 136-byte buffers.
            var options = VhostUserFrontendOptions()
            options.startsEventQueue = true
            options.wantedDeviceFeatures = p2aChannels
            frontend = try VhostUserFrontend(socketPath: socket, options: options)
        } catch {
            var message = "call: cannot reach \(socket): \(error)"
            if case .pathIsNotASocket = error as? LinuxIOError {
                message += " (give an agent's socket: serve --socket PATH, or DIR/<agent>.sock of serve --socket-dir DIR)"
            }
            FileHandle.standardError.write(Data((message + "\n").utf8))
            throw ExitCode(2)
        }
        defer { frontend.close() }
        let client = SCMIClient(transport: FrontendTransport(frontend: frontend))
        do {
            for (label, command) in commands {
                if let label { print("> \(label)") }
                try command.send(client)
            }
            if connection.listen > 0 { listen(frontend, seconds: connection.listen) }
            if connection.hold > 0 { Thread.sleep(forTimeInterval: connection.hold) }
        } catch let error as SCMIClientError {
            FileHandle.standardError.write(Data("call: \(error)\n".utf8))
            throw ExitCode(error.status == nil ? 2 : 1)
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("call: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

extension CallSession {
    /// VIRTIO_SCMI_F_P2A_CHANNELS (virtio-scmi feature bit 0).
    static let p2aChannels: UInt64 = 1 << 0

    /// Prints each platform → agent message as it arrives, for `seconds`.
    static func listen(_ frontend: VhostUserFrontend, seconds: Double) {
        if frontend.ackedFeatures & p2aChannels == 0 {
            FileHandle.standardError.write(Data("call: the backend does not offer notifications (no P2A)\n".utf8))
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return }
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            _ = frontend.receiveEvents(timeoutMilliseconds: milliseconds) { message in
                print(PlatformMessageText.describe(Array(message)))
            }
            fflush(nil)
        }
    }
}

/// The client's byte pipe over a vhost-user frontend's cmdq.
struct FrontendTransport: SCMITransport {
    let frontend: VhostUserFrontend
    mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8] {
        try frontend.exchange(request: request, responseCapacity: responseCapacity)
    }
}

/// `call [chain] --socket S COMMAND [ARGS…] [+ COMMAND [ARGS…]…]`: each command is parsed
/// by its typed subcommand's parser, then all run on one connection.
struct CallChain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chain",
        abstract: "Run several commands on one connection (the default: `call --socket S clock.enable 2 + clock.state 2`).",
        discussion: """
            Each command is PROTOCOL.COMMAND or PROTOCOL COMMAND (base.info, clock rate-set, …)
            or raw, with the arguments its subcommand takes; a lone `+` starts the next one.
            """
    )

    @OptionGroup var connection: CallConnection

    // allUnrecognized: a segment's own options and flags (clock.rate-set 2 400000000 --async) stay in place.
    @Argument(parsing: .allUnrecognized, help: "COMMAND [ARGS…] [+ COMMAND [ARGS…]…], e.g. clock.enable 2 + clock.rate-set 2 400000000.")
    var words: [String]

    func run() throws {
        let segments = Self.split(words)
        let commands = try segments.map { segment in
            (label: segments.count > 1 ? segment.joined(separator: " ") : nil, command: try Self.command(segment, socket: connection.socket))
        }
        try CallSession.run(connection, commands)
    }

    /// `command args… + command args…` split into commands (empty ones dropped).
    static func split(_ words: [String]) -> [[String]] {
        words.split(separator: "+", omittingEmptySubsequences: true).map(Array.init)
    }

    /// The typed subcommands under `call`, by path: ["clock", "rate-set"], ["raw"].
    static func leaf(_ path: [String]) -> (any SCMICall.Type)? {
        var candidates: [any ParsableCommand.Type] = Call.configuration.subcommands.filter { $0 != CallChain.self }
        var found: (any ParsableCommand.Type)?
        for name in path {
            guard let next = candidates.first(where: { $0._commandName == name }) else { return nil }
            found = next
            candidates = next.configuration.subcommands
        }
        return found as? any SCMICall.Type
    }

    /// One segment parsed by its subcommand's own parser.
    static func command(_ segment: [String], socket: String) throws -> any SCMICall {
        guard let first = segment.first else { throw ValidationError("no command") }
        var path: [String]
        var rest: ArraySlice<String>
        if first.contains(".") {
            path = first.split(separator: ".", maxSplits: 1).map(String.init)
            rest = segment.dropFirst()
        } else if first == "raw" {
            path = [first]
            rest = segment.dropFirst()
        } else {
            path = Array(segment.prefix(2))
            rest = segment.dropFirst(2)
        }
        guard let type = leaf(path) else {
            throw ValidationError("unknown command '\(path.joined(separator: "."))' (see scmi-dt call --help)")
        }
        let parsed: any ParsableArguments
        do {
            parsed = try type.parse(["--socket", socket] + Array(rest))
        } catch {
            throw ValidationError("\(path.joined(separator: ".")): \(type.message(for: error))")
        }
        guard let command = parsed as? any SCMICall else { throw ValidationError("'\(first)' is not a command") }
        return command
    }
}

/// A number argument: decimal or 0x-hex.
struct CallNumber<T: FixedWidthInteger & Sendable>: ExpressibleByArgument, Sendable {
    let value: T
    init?(argument: String) {
        let parsed = argument.hasPrefix("0x") ? T(argument.dropFirst(2), radix: 16) : T(argument)
        guard let parsed else { return nil }
        value = parsed
    }
}

// MARK: - base

struct CallBase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "base",
        abstract: "Base protocol (0x10): discovery, agents and permissions.",
        subcommands: [Info.self, Agent.self, AllowDevice.self, DenyDevice.self, AllowProtocol.self, DenyProtocol.self, ResetAgent.self]
    )

    struct Info: SCMICall {
        static let configuration = CommandConfiguration(commandName: "info", abstract: "Version, vendor, this agent and the protocols it sees.")
        @OptionGroup var connection: CallConnection

        func send(_ client: SCMIClient) throws {
            let info = try client.baseInfo()
            let me = try client.discoverAgent()
            print("SCMI \(info.version >> 16).\(info.version & 0xFFFF)  vendor \"\(info.vendor)\"  sub-vendor \"\(info.subVendor)\"  implementation 0x\(String(info.implementationVersion, radix: 16))")
            print("agent \(me.id) \"\(me.name)\" of \(info.agentCount)")
            let protocols = info.protocols.map { "0x\(String($0, radix: 16)) \(MessageNames.protocolName($0))" }
            print("protocols (\(info.protocolCount)): " + (protocols.isEmpty ? "none" : protocols.joined(separator: ", ")))
        }
    }

    struct Agent: SCMICall {
        static let configuration = CommandConfiguration(commandName: "agent", abstract: "BASE_DISCOVER_AGENT: an agent's id and name.")
        @OptionGroup var connection: CallConnection
        @Argument(help: "The agent: its id or name (default: this agent).")
        var agent: CallReference?

        func send(_ client: SCMIClient) throws {
            let found = try client.discoverAgent(agent?.agent(on: client) ?? 0xFFFF_FFFF)
            print("agent \(found.id) \"\(found.name)\"")
        }
    }

    struct AllowDevice: SCMICall {
        static let configuration = CommandConfiguration(commandName: "allow-device", abstract: "Grant an agent a device (trusted agents only).")
        @OptionGroup var connection: CallConnection
        @Argument(help: "The agent: its id or name.") var agent: CallReference
        @Argument(help: "The device's id (arm,scmi-devid: SCMI has no way to ask a device's name).") var device: CallNumber<UInt32>

        func send(_ client: SCMIClient) throws {
            try client.setDevicePermissions(agent: agent.agent(on: client), device: device.value, allow: true)
            print("ok")
        }
    }

    struct DenyDevice: SCMICall {
        static let configuration = CommandConfiguration(commandName: "deny-device", abstract: "Revoke an agent's device (trusted agents only).")
        @OptionGroup var connection: CallConnection
        @Argument(help: "The agent: its id or name.") var agent: CallReference
        @Argument(help: "The device's id (arm,scmi-devid: SCMI has no way to ask a device's name).") var device: CallNumber<UInt32>

        func send(_ client: SCMIClient) throws {
            try client.setDevicePermissions(agent: agent.agent(on: client), device: device.value, allow: false)
            print("ok")
        }
    }

    struct AllowProtocol: SCMICall {
        static let configuration = CommandConfiguration(commandName: "allow-protocol", abstract: "Grant an agent one protocol of a device (trusted agents only).")
        @OptionGroup var connection: CallConnection
        @Argument(help: "The agent: its id or name.") var agent: CallReference
        @Argument(help: "The device's id (arm,scmi-devid: SCMI has no way to ask a device's name).") var device: CallNumber<UInt32>
        @Argument(help: "The protocol's id (e.g. 0x14).") var `protocol`: CallNumber<UInt8>

        func send(_ client: SCMIClient) throws {
            try client.setProtocolPermissions(agent: agent.agent(on: client), device: device.value, protocolID: `protocol`.value, allow: true)
            print("ok")
        }
    }

    struct DenyProtocol: SCMICall {
        static let configuration = CommandConfiguration(commandName: "deny-protocol", abstract: "Revoke one protocol of a device from an agent (trusted agents only).")
        @OptionGroup var connection: CallConnection
        @Argument(help: "The agent: its id or name.") var agent: CallReference
        @Argument(help: "The device's id (arm,scmi-devid: SCMI has no way to ask a device's name).") var device: CallNumber<UInt32>
        @Argument(help: "The protocol's id (e.g. 0x14).") var `protocol`: CallNumber<UInt8>

        func send(_ client: SCMIClient) throws {
            try client.setProtocolPermissions(agent: agent.agent(on: client), device: device.value, protocolID: `protocol`.value, allow: false)
            print("ok")
        }
    }

    struct ResetAgent: SCMICall {
        enum Permissions: String, ExpressibleByArgument, CaseIterable { case keep, permissions }

        static let configuration = CommandConfiguration(
            commandName: "reset-agent", abstract: "RESET_AGENT_CONFIGURATION: withdraw an agent's requests, and with `permissions` its granted permissions.")
        @OptionGroup var connection: CallConnection
        @Argument(help: "The agent: its id or name.") var agent: CallReference
        @Argument(help: "keep (the permissions) or permissions (reset them too).") var permissions: Permissions = .keep

        func send(_ client: SCMIClient) throws {
            try client.resetAgentConfiguration(agent: agent.agent(on: client), resetPermissions: permissions == .permissions)
            print("ok")
        }
    }
}

// MARK: - resources: clocks, voltage domains, power domains, performance domains, sensors, reset domains

/// What `call` does with one kind of resource: every kind is listed and
/// named by id or name; the refinements below add a vote (on or off) and a
/// value. The commands are the generic ones below, the kind says which client
/// calls and words they use.
protocol CallResourceKind {
    /// "clock", "domain": the argument's name in help texts.
    static var noun: String { get }
    /// What the resources are: "clocks", "voltage domains".
    static var plural: String { get }
    static var list: CommandConfiguration { get }
    static func count(_ client: SCMIClient) throws -> Int
    /// The whole name (the extended one when the short one is cut).
    static func name(_ client: SCMIClient, _ id: UInt32) throws -> String
    /// The line above the list, saying what its columns mean.
    static var listIntroduction: String { get }
    /// The list table's headings after id and name, and one resource's cells.
    static var listHeadings: [String] { get }
    static func listCells(_ client: SCMIClient, _ id: UInt32) throws -> [String]
}

/// A kind each agent votes on or off: clocks, voltage domains, power domains.
protocol CallSwitchedKind: CallResourceKind {
    static var on: CommandConfiguration { get }
    static var off: CommandConfiguration { get }
    static var state: CommandConfiguration { get }
    /// This agent's own on/off request.
    static func isOn(_ client: SCMIClient, _ id: UInt32) throws -> Bool
    static func switchTo(_ on: Bool, _ client: SCMIClient, _ id: UInt32) throws
}

/// A kind with a value to read and a description of its values: clocks (rate),
/// voltage and performance domains (level), sensors (reading).
protocol CallValueKind: CallResourceKind {
    /// The list table's headings of the value and the description: "rate Hz", "rates".
    static var valueHeading: String { get }
    static var descriptionHeading: String { get }
    static var describe: CommandConfiguration { get }
    static var get: CommandConfiguration { get }
    /// The physical value, as a number without its unit.
    static func value(_ client: SCMIClient, _ id: UInt32) throws -> String
    /// Every value the resource supports, as one line.
    static func described(_ client: SCMIClient, _ id: UInt32) throws -> String
    /// The value's unit, after the number: "Hz", "uV".
    static var unit: String { get }
    /// What the value is: "rate", "level".
    static var quantity: String { get }
}

extension CallValueKind where Self: CallSwitchedKind {
    // The state is this agent's own request (CONFIG_GET answers so), the value the
    // physical, arbitrated one (RATE_GET, LEVEL_GET): the headings say which is which.
    static var listIntroduction: String {
        "\(plural) as this agent sees them: 'requested' is its own on/off request, 'physical' the arbitrated \(quantity)"
    }
    static var listHeadings: [String] { ["requested", "physical " + valueHeading, descriptionHeading] }
    static func listCells(_ client: SCMIClient, _ id: UInt32) throws -> [String] {
        [
            try attempt({ try isOn(client, id) }) { $0 ? "on" : "off" },
            try attempt({ try value(client, id) }) { $0 },
            try described(client, id),
        ]
    }
}

/// A kind whose ATTRIBUTES answer `call … attributes ID` prints: power and reset domains.
protocol CallAttributesKind: CallResourceKind {
    static var attributes: CommandConfiguration { get }
    /// The decoded attributes, one `key: value` per line.
    static func attributeLines(_ client: SCMIClient, _ id: UInt32) throws -> [String]
}

/// The resource's id, the first argument of every per-resource command.
struct CallResourceID<Kind: CallResourceKind>: ParsableArguments {
    @Argument(help: ArgumentHelp("The \(Kind.noun)'s id, or its name (as `list` shows them).")) var id: CallReference

    /// The id it names, as this agent sees the resources (a name costs one ATTRIBUTES per resource).
    func resolved(_ client: SCMIClient) throws -> UInt32 {
        try id.resolve(kind: Kind.noun, count: Kind.count(client)) { try Kind.name(client, $0) }
    }
}

/// `call clock list`, `call power list`, …: every resource in a table.
struct CallResourceList<Kind: CallResourceKind>: SCMICall {
    static var configuration: CommandConfiguration { Kind.list }
    @OptionGroup var connection: CallConnection

    func send(_ client: SCMIClient) throws {
        print(Kind.listIntroduction)
        var rows = [["id", "name"] + Kind.listHeadings]
        for id in 0..<UInt32(try Kind.count(client)) {
            rows.append([String(id), try Kind.name(client, id)] + (try Kind.listCells(client, id)))
        }
        print(TextTable.render(rows), terminator: "")
    }
}

/// `call power attributes ID`, `call reset attributes ID`.
struct CallResourceAttributes<Kind: CallAttributesKind>: SCMICall {
    static var configuration: CommandConfiguration { Kind.attributes }
    @OptionGroup var connection: CallConnection
    @OptionGroup var resource: CallResourceID<Kind>
    func send(_ client: SCMIClient) throws {
        let id = try resource.resolved(client)
        print("\(Kind.noun) \(id) \"\(try Kind.name(client, id))\"")
        for line in try Kind.attributeLines(client, id) { print("  " + line) }
    }
}

/// `call clock rates ID`, `call voltage levels ID`.
struct CallResourceDescribe<Kind: CallValueKind>: SCMICall {
    static var configuration: CommandConfiguration { Kind.describe }
    @OptionGroup var connection: CallConnection
    @OptionGroup var resource: CallResourceID<Kind>
    func send(_ client: SCMIClient) throws { print(try Kind.described(client, resource.resolved(client))) }
}

/// `call clock rate-get ID`, `call voltage level-get ID`.
struct CallResourceGet<Kind: CallValueKind>: SCMICall {
    static var configuration: CommandConfiguration { Kind.get }
    @OptionGroup var connection: CallConnection
    @OptionGroup var resource: CallResourceID<Kind>
    func send(_ client: SCMIClient) throws {
        let value = try Kind.value(client, resource.resolved(client))
        print(Kind.unit.isEmpty ? value : value + " " + Kind.unit)
    }
}

/// `call clock enable|disable ID`, `call power on|off ID`, …: the vote, by `Vote`.
struct CallResourceSwitch<Kind: CallSwitchedKind, Vote: CallVote>: SCMICall {
    static var configuration: CommandConfiguration { Vote.isOn ? Kind.on : Kind.off }
    @OptionGroup var connection: CallConnection
    @OptionGroup var resource: CallResourceID<Kind>
    func send(_ client: SCMIClient) throws { try Kind.switchTo(Vote.isOn, client, resource.resolved(client)); print("ok") }
}

/// A resource kind whose events an agent can subscribe to (clocks, …).
protocol CallNotifyingKind: CallResourceKind {
    /// Event names for --event (the first is the default), each with the
    /// *_NOTIFY command that subscribes to it.
    static var events: [(name: String, subscribe: (SCMIClient, _ id: UInt32, _ enable: Bool) throws -> Void)] { get }
}

/// `call clock notify on|off ID [EVENT]`: a *_NOTIFY command; what
/// arrives is printed by --listen (the subscription lasts as long as the connection).
struct CallResourceNotify<Kind: CallNotifyingKind>: SCMICall {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "notify",
            abstract: "Subscribe to (on) or unsubscribe from (off) a \(Kind.noun)'s notifications; see --listen.",
            discussion: "Events: " + Kind.events.map(\.name).joined(separator: ", ") + " (the first is the default).")
    }
    enum Switch: String, ExpressibleByArgument, CaseIterable { case on, off }

    @OptionGroup var connection: CallConnection
    @Argument(help: "on or off.") var setting: Switch
    @OptionGroup var resource: CallResourceID<Kind>
    @Argument(help: "Which event (default: the first).") var event: String?

    func validate() throws {
        guard event == nil || Kind.events.contains(where: { $0.name == event }) else {
            throw ValidationError("the event must be one of " + Kind.events.map(\.name).joined(separator: ", "))
        }
    }

    func send(_ client: SCMIClient) throws {
        let chosen = Kind.events.first { $0.name == (event ?? Kind.events[0].name) }!
        let id = try resource.resolved(client)
        try chosen.subscribe(client, id, setting == .on)
        print("ok; \(chosen.name) notifications of \(Kind.noun) \(id) \(setting == .on ? "on" : "off")")
    }
}

/// Which way a CallResourceSwitch votes.
protocol CallVote { static var isOn: Bool { get } }
enum VoteOn: CallVote { static var isOn: Bool { true } }
enum VoteOff: CallVote { static var isOn: Bool { false } }

/// `call clock state ID`, `call power get ID`, …: this agent's own request.
struct CallResourceState<Kind: CallSwitchedKind>: SCMICall {
    static var configuration: CommandConfiguration { Kind.state }
    @OptionGroup var connection: CallConnection
    @OptionGroup var resource: CallResourceID<Kind>
    func send(_ client: SCMIClient) throws { print(try Kind.isOn(client, resource.resolved(client)) ? "on" : "off") }
}

struct CallClock: ParsableCommand, CallValueKind, CallSwitchedKind, CallNotifyingKind {
    static let configuration = CommandConfiguration(
        commandName: "clock",
        abstract: "Clock protocol (0x14).",
        subcommands: [
            CallResourceList<Self>.self, CallResourceDescribe<Self>.self, CallResourceGet<Self>.self, RateSet.self,
            CallResourceSwitch<Self, VoteOn>.self, CallResourceSwitch<Self, VoteOff>.self, CallResourceState<Self>.self,
            CallResourceNotify<Self>.self,
        ]
    )

    static let noun = "clock"
    static let valueHeading = "rate Hz"
    static let quantity = "rate"
    static let plural = "clocks"
    static let descriptionHeading = "rates"
    static let unit = "Hz"
    static let list = CommandConfiguration(commandName: "list", abstract: "Every clock: name, state, rate, rates.")
    static let describe = CommandConfiguration(commandName: "rates", abstract: "CLOCK_DESCRIBE_RATES: the rates a clock can run at.")
    static let get = CommandConfiguration(commandName: "rate-get", abstract: "CLOCK_RATE_GET: the clock's rate.")
    static let on = CommandConfiguration(commandName: "enable", abstract: "CLOCK_CONFIG_SET: vote the clock on.")
    static let off = CommandConfiguration(commandName: "disable", abstract: "CLOCK_CONFIG_SET: withdraw the vote for the clock.")
    static let state = CommandConfiguration(commandName: "state", abstract: "CLOCK_CONFIG_GET: on or off (this agent's request).")

    static func count(_ client: SCMIClient) throws -> Int { try client.clockCount() }
    static func name(_ client: SCMIClient, _ id: UInt32) throws -> String {
        let attributes = try client.clockAttributes(id)
        return attributes.hasExtendedName ? try client.clockName(id) : attributes.name
    }
    static func isOn(_ client: SCMIClient, _ id: UInt32) throws -> Bool { try client.clockConfigGet(id) }
    static func switchTo(_ on: Bool, _ client: SCMIClient, _ id: UInt32) throws {
        if on { try client.enable(clock: id) } else { try client.disable(clock: id) }
    }
    static func value(_ client: SCMIClient, _ id: UInt32) throws -> String { String(try client.rateGet(id)) }
    static func described(_ client: SCMIClient, _ id: UInt32) throws -> String { describeValues(try client.describeRates(id)) }
    static var events: [(name: String, subscribe: (SCMIClient, UInt32, Bool) throws -> Void)] { [
        ("rate-changed", { try $0.subscribe(ClockMessage.rateNotify, resource: $1, enable: $2) }),
        ("rate-change-requested", { try $0.subscribe(ClockMessage.rateChangeRequestedNotify, resource: $1, enable: $2) }),
    ] }

    struct RateSet: SCMICall {
        enum Rounding: String, ExpressibleByArgument, CaseIterable { case down, up, nearest, auto }

        static let configuration = CommandConfiguration(commandName: "rate-set", abstract: "CLOCK_RATE_SET: ask for a rate.")
        @OptionGroup var connection: CallConnection
        @OptionGroup var resource: CallResourceID<CallClock>
        @Argument(help: "The rate: Hz, or with a unit (32768Hz, 600kHz, 600MHz, 1.2GHz).") var rate: CallRate
        @Argument(help: "How to round to a supported rate (auto is nearest).") var rounding: Rounding = .down
        @Flag(help: "Asynchronous: CLOCK_RATE_SET_COMPLETE follows on the eventq (see --listen).") var async = false

        func send(_ client: SCMIClient) throws {
            let mode: RateRounding =
                switch rounding {
                case .down: .down
                case .up: .up
                case .nearest, .auto: .nearest
                }
            let id = try resource.resolved(client)
            try client.rateSet(id, rate: rate.hertz, rounding: mode, asynchronous: async)
            print("ok; clock \(id) now runs at \(try client.rateGet(id)) Hz")
        }
    }
}

struct CallVoltage: ParsableCommand, CallValueKind, CallSwitchedKind {
    static let configuration = CommandConfiguration(
        commandName: "voltage",
        abstract: "Voltage domain protocol (0x17).",
        subcommands: [
            CallResourceList<Self>.self, CallResourceDescribe<Self>.self, CallResourceGet<Self>.self, LevelSet.self,
            CallResourceSwitch<Self, VoteOn>.self, CallResourceSwitch<Self, VoteOff>.self, CallResourceState<Self>.self,
        ]
    )

    static let noun = "domain"
    static let valueHeading = "level uV"
    static let quantity = "level"
    static let plural = "voltage domains"
    static let descriptionHeading = "levels"
    static let unit = "uV"
    static let list = CommandConfiguration(commandName: "list", abstract: "Every voltage domain: name, state, level, levels.")
    static let describe = CommandConfiguration(commandName: "levels", abstract: "VOLTAGE_DESCRIBE_LEVELS: the levels a domain supports.")
    static let get = CommandConfiguration(commandName: "level-get", abstract: "VOLTAGE_LEVEL_GET: the domain's level.")
    static let on = CommandConfiguration(commandName: "on", abstract: "VOLTAGE_CONFIG_SET: vote the domain on.")
    static let off = CommandConfiguration(commandName: "off", abstract: "VOLTAGE_CONFIG_SET: withdraw the vote for the domain.")
    static let state = CommandConfiguration(commandName: "state", abstract: "VOLTAGE_CONFIG_GET: on or off (this agent's request).")

    static func count(_ client: SCMIClient) throws -> Int { try client.voltageDomainCount() }
    static func name(_ client: SCMIClient, _ id: UInt32) throws -> String {
        let attributes = try client.voltageDomainAttributes(id)
        return attributes.hasExtendedName ? try client.voltageDomainName(id) : attributes.name
    }
    static func isOn(_ client: SCMIClient, _ id: UInt32) throws -> Bool { try client.voltageConfigGet(id) & 0x7 != 0 }
    static func switchTo(_ on: Bool, _ client: SCMIClient, _ id: UInt32) throws {
        if on { try client.voltageOn(id) } else { try client.voltageOff(id) }
    }
    static func value(_ client: SCMIClient, _ id: UInt32) throws -> String { String(try client.levelGet(id)) }
    static func described(_ client: SCMIClient, _ id: UInt32) throws -> String { describeValues(try client.describeLevels(id)) }

    struct LevelSet: SCMICall {
        static let configuration = CommandConfiguration(commandName: "level-set", abstract: "VOLTAGE_LEVEL_SET: ask for a level.")
        @OptionGroup var connection: CallConnection
        @OptionGroup var resource: CallResourceID<CallVoltage>
        @Argument(help: "The level: µV, or with a unit (900000uV, 900mV, 0.9V).") var level: CallLevel
        @Flag(help: "Asynchronous: VOLTAGE_LEVEL_SET_COMPLETE follows on the eventq (see --listen).") var async = false

        func send(_ client: SCMIClient) throws {
            let id = try resource.resolved(client)
            try client.levelSet(id, microvolts: level.microvolts, asynchronous: async)
            print("ok; domain \(id) now at \(try client.levelGet(id)) uV")
        }
    }
}

struct CallPerformance: ParsableCommand, CallValueKind, CallNotifyingKind {
    static let configuration = CommandConfiguration(
        commandName: "perf",
        abstract: "Performance domain protocol (0x13); levels are kHz.",
        subcommands: [
            CallResourceList<Self>.self, CallResourceDescribe<Self>.self, CallResourceGet<Self>.self,
            LevelSet.self, LimitsGet.self, LimitsSet.self, CallResourceNotify<Self>.self,
        ]
    )

    static let noun = "domain"
    static let quantity = "level"
    static let plural = "performance domains"
    // Performance has no on/off vote: the agent's own part is its limits.
    static let listIntroduction = "performance domains as this agent sees them: 'limits kHz' are its own limits, 'physical' the arbitrated level"
    static let listHeadings = ["limits kHz", "physical level kHz", "levels kHz (power cost, latency)"]
    static func listCells(_ client: SCMIClient, _ id: UInt32) throws -> [String] {
        [try attempt({ try limits(client, id) }) { $0 }, try attempt({ try value(client, id) }) { $0 }, try described(client, id)]
    }
    static let valueHeading = "level kHz"
    static let descriptionHeading = "levels kHz (power cost, latency)"
    static let unit = "kHz"
    static let list = CommandConfiguration(commandName: "list", abstract: "Every performance domain: name, this agent's limits, level, levels.")
    static let describe = CommandConfiguration(commandName: "levels", abstract: "PERFORMANCE_DESCRIBE_LEVELS: the levels, power costs and latencies.")
    static let get = CommandConfiguration(commandName: "level-get", abstract: "PERFORMANCE_LEVEL_GET: the domain's level.")

    static func count(_ client: SCMIClient) throws -> Int { try client.performanceDomainCount() }
    static var events: [(name: String, subscribe: (SCMIClient, UInt32, Bool) throws -> Void)] { [
        ("level-changed", { try $0.subscribe(PerformanceMessage.notifyLevel, resource: $1, enable: $2) }),
        ("limits-changed", { try $0.subscribe(PerformanceMessage.notifyLimits, resource: $1, enable: $2) }),
    ] }
    static func name(_ client: SCMIClient, _ id: UInt32) throws -> String {
        let attributes = try client.performanceDomainAttributes(id)
        return attributes.hasExtendedName ? try client.performanceDomainName(id) : attributes.name
    }
    /// This agent's limits, "min..max" in kHz.
    static func limits(_ client: SCMIClient, _ id: UInt32) throws -> String {
        let limits = try client.performanceLimitsGet(id)
        return "\(limits.min)..\(limits.max)"
    }
    static func value(_ client: SCMIClient, _ id: UInt32) throws -> String { String(try client.performanceLevelGet(id)) }
    static func described(_ client: SCMIClient, _ id: UInt32) throws -> String {
        try client.describePerformanceLevels(id).map(\.description).joined(separator: ", ")
    }

    struct LevelSet: SCMICall {
        static let configuration = CommandConfiguration(commandName: "level-set", abstract: "PERFORMANCE_LEVEL_SET: ask for a level.")
        @OptionGroup var connection: CallConnection
        @OptionGroup var resource: CallResourceID<CallPerformance>
        @Argument(help: "The level in kHz (one of `levels`).") var level: CallNumber<UInt32>

        func send(_ client: SCMIClient) throws {
            let id = try resource.resolved(client)
            try client.performanceLevelSet(id, level: level.value)
            print("ok; domain \(id) now at \(try client.performanceLevelGet(id)) kHz")
        }
    }

    struct LimitsGet: SCMICall {
        static let configuration = CommandConfiguration(commandName: "limits-get", abstract: "PERFORMANCE_LIMITS_GET: this agent's limits.")
        @OptionGroup var connection: CallConnection
        @OptionGroup var resource: CallResourceID<CallPerformance>
        func send(_ client: SCMIClient) throws { print("\(try CallPerformance.limits(client, resource.resolved(client))) kHz") }
    }

    struct LimitsSet: SCMICall {
        static let configuration = CommandConfiguration(commandName: "limits-set", abstract: "PERFORMANCE_LIMITS_SET: bound this agent's level requests.")
        @OptionGroup var connection: CallConnection
        @OptionGroup var resource: CallResourceID<CallPerformance>
        @Argument(help: "The lowest level in kHz.") var min: CallNumber<UInt32>
        @Argument(help: "The highest level in kHz.") var max: CallNumber<UInt32>

        func send(_ client: SCMIClient) throws {
            let id = try resource.resolved(client)
            try client.performanceLimitsSet(id, min: min.value, max: max.value)
            print("ok; limits \(try CallPerformance.limits(client, id)) kHz, domain \(id) at \(try client.performanceLevelGet(id)) kHz")
        }
    }
}

struct CallSensor: ParsableCommand, CallValueKind, CallSwitchedKind, CallNotifyingKind {
    static let configuration = CommandConfiguration(
        commandName: "sensor",
        abstract: "Sensor protocol (0x15).",
        subcommands: [
            CallResourceList<Self>.self, CallResourceDescribe<Self>.self, Read.self,
            CallResourceSwitch<Self, VoteOn>.self, CallResourceSwitch<Self, VoteOff>.self, CallResourceState<Self>.self,
            CallResourceNotify<Self>.self, TripPoint.self,
        ]
    )

    static let noun = "sensor"
    static let quantity = "reading"
    static let plural = "sensors"
    static let listIntroduction = "sensors as this agent sees them: 'enabled' is its own configuration, 'physical' the host's reading"
    static let listHeadings = ["enabled", "physical reading", "unit, update interval"]
    static let valueHeading = "reading"
    static let descriptionHeading = "unit, update interval"
    static let unit = ""
    static let list = CommandConfiguration(commandName: "list", abstract: "Every sensor: name, enabled, reading, unit.")
    static let describe = CommandConfiguration(commandName: "describe", abstract: "SENSOR_DESCRIPTION_GET and _CONFIG_GET: unit and update interval.")
    static let get = CommandConfiguration(commandName: "read", abstract: "SENSOR_READING_GET: the sensor's value.")
    static let on = CommandConfiguration(commandName: "enable", abstract: "SENSOR_CONFIG_SET: enable the sensor for this agent.")
    static let off = CommandConfiguration(commandName: "disable", abstract: "SENSOR_CONFIG_SET: disable the sensor for this agent.")
    static let state = CommandConfiguration(commandName: "config-get", abstract: "SENSOR_CONFIG_GET: enabled or not (this agent's).")

    static func count(_ client: SCMIClient) throws -> Int { try client.sensorCount() }
    static func descriptor(_ client: SCMIClient, _ id: UInt32) throws -> SensorDescriptor {
        guard let found = try client.sensorDescriptors().first(where: { $0.id == id }) else {
            throw SCMIClientError.status(.notFound, protocolID: SensorMessage.protocolID.rawValue, messageID: SensorMessage.descriptionGet.rawValue)
        }
        return found
    }
    static func name(_ client: SCMIClient, _ id: UInt32) throws -> String {
        let found = try descriptor(client, id)
        return found.hasExtendedName ? try client.sensorName(id) : found.name
    }
    static func isOn(_ client: SCMIClient, _ id: UInt32) throws -> Bool { try client.sensorConfigGet(id).enabled }
    static func switchTo(_ on: Bool, _ client: SCMIClient, _ id: UInt32) throws { try client.sensorEnable(id, on) }
    /// "45500 x10^-3 degC".
    static func value(_ client: SCMIClient, _ id: UInt32) throws -> String {
        let found = try descriptor(client, id)
        return "\(try client.sensorRead(id)) x10^\(found.unitExponent) \(found.unitName)"
    }
    /// "x10^-3 degC, every 1x10^0 s" (the interval from CONFIG_GET when this agent may read it).
    static func described(_ client: SCMIClient, _ id: UInt32) throws -> String {
        let found = try descriptor(client, id)
        let interval = try attempt({ try client.sensorConfigGet(id) }) { "every \($0.intervalSeconds)x10^\($0.intervalExponent) s" }
        return "x10^\(found.unitExponent) \(found.unitName), \(interval)"
    }
    static var events: [(name: String, subscribe: (SCMIClient, UInt32, Bool) throws -> Void)] { [
        ("trip-point", { try $0.subscribe(SensorMessage.tripPointNotify, resource: $1, enable: $2) }),
        ("update", { try $0.subscribe(SensorMessage.continuousUpdateNotify, resource: $1, enable: $2) }),
    ] }

    struct Read: SCMICall {
        static var configuration: CommandConfiguration { CallSensor.get }
        @OptionGroup var connection: CallConnection
        @OptionGroup var resource: CallResourceID<CallSensor>
        @Flag(help: "Asynchronous: SENSOR_READING_COMPLETE follows on the eventq (see --listen).") var async = false

        func send(_ client: SCMIClient) throws {
            let id = try resource.resolved(client)
            guard async else { return print(try CallSensor.value(client, id)) }
            try client.sensorReadAsynchronously(id)
            print("ok; SENSOR_READING_COMPLETE follows on the eventq")
        }
    }

    struct TripPoint: SCMICall {
        static let configuration = CommandConfiguration(
            commandName: "trip-point",
            abstract: "SENSOR_TRIP_POINT_CONFIG: arm (or disarm: off) one of this agent's trip points.",
            discussion: "SENSOR_TRIP_POINT_EVENT arrives when the polled value crosses it in that direction, "
                + "once subscribed with `notify on ID trip-point` (see --listen).")
        enum Direction: String, ExpressibleByArgument, CaseIterable { case up, down, both, off }

        @OptionGroup var connection: CallConnection
        @OptionGroup var resource: CallResourceID<CallSensor>
        @Argument(help: "The trip point's id (0 to the sensor's count - 1).") var trip: CallNumber<UInt8>
        @Argument(help: "The value, in the sensor's unit and exponent (as `read` prints it).") var value: CallNumber<Int64>
        @Argument(help: "Which crossings raise an event.") var direction: Direction = .both

        func send(_ client: SCMIClient) throws {
            let id = try resource.resolved(client)
            let control: TripPointDirection =
                switch direction {
                case .up: .up
                case .down: .down
                case .both: .both
                case .off: .off
                }
            try client.sensorTripPointConfig(id, trip: trip.value, value: value.value, direction: control)
            print("ok; sensor \(id) trip point \(trip.value) at \(value.value) \(direction.rawValue)")
        }
    }
}

// MARK: - raw

struct CallRaw: SCMICall {
    static let configuration = CommandConfiguration(
        commandName: "raw", abstract: "Send a message as hex bytes: the header, then the parameters (little-endian).")
    @OptionGroup var connection: CallConnection
    @Argument(help: "Hex bytes, at least the 4 header bytes (spaces allowed between words).") var hex: [String]

    func validate() throws {
        let bytes = hex.joined().replacingOccurrences(of: " ", with: "")
        guard bytes.count % 2 == 0, bytes.count >= 8 else { throw ValidationError("raw wants hex bytes, at least the 4 header bytes") }
    }

    func send(_ client: SCMIClient) throws {
        let text = hex.joined().replacingOccurrences(of: " ", with: "")
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { throw ValidationError("'\(text[index..<next])' is not a hex byte") }
            bytes.append(byte)
            index = next
        }
        let reply = try client.raw(bytes)
        print(reply.map { String(format: "%02x", $0) }.joined())
        if reply.count >= 8 {
            func word(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(reply[at + $1]) << (8 * $1) } }
            let header = MessageHeader(rawValue: word(0))
            let status = SCMIStatus(rawValue: Int32(bitPattern: word(4)))
            print("status \(status)")
            if !status.isSuccess { throw SCMIClientError.status(status, protocolID: header.protocolID, messageID: header.messageID) }
        }
    }
}

// MARK: - answers

/// A value, or the SCMI status name when this agent may not read it.
func attempt<T>(_ body: () throws -> T, _ show: (T) -> String) throws -> String {
    do {
        return show(try body())
    } catch let error as SCMIClientError {
        guard let status = error.status else { throw error }
        return status.name
    }
}

private func describeValues<Value>(_ values: ValueDescription<Value>) -> String {
    switch values {
    case .discrete(let list): "discrete: " + list.map(\.description).joined(separator: " ")
    case .range(let min, let max, let step): "range: \(min)..\(max) step \(step)"
    }
}
