import ArgumentParser
import Foundation
import SCMIClient
import SCMIPlatform
import VhostUser

struct Call: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Send SCMI commands to a running serve as a vhost-user frontend.",
        discussion: """
            Connects to an agent's socket like QEMU would (memfd "guest" memory, its own
            virtqueue and eventfds), sends the commands and prints the decoded answers.
            Several commands run on one connection when separated by a lone `+`:
              scmi-dt call --socket S clock.enable 2 + clock.rate-set 2 500000000
            The agent's requests last as long as the connection (serve withdraws them when
            a frontend goes away, as for a guest that powers off): --hold keeps it open.

            Commands:
              base.info                           version, vendor, agent, protocols
              base.agent [ID]                     BASE_DISCOVER_AGENT (default: this agent)
              base.allow-device AGENT DEVICE      grant a device (trusted agents only)
              base.deny-device AGENT DEVICE       revoke a device
              base.allow-protocol AGENT DEVICE PROTOCOL / base.deny-protocol …
              base.reset-agent AGENT [keep|permissions]
              clock.list                          every clock: name, rates, state, rate
              clock.rates ID | clock.rate-get ID | clock.state ID
              clock.rate-set ID HZ [down|up|nearest]
              clock.enable ID | clock.disable ID
              voltage.list | voltage.levels ID | voltage.level-get ID | voltage.state ID
              voltage.level-set ID MICROVOLTS | voltage.on ID | voltage.off ID
              raw HEX                             send header + parameters (LE bytes)
            Exit status: 0 success, 1 the platform answered with an SCMI error, 2 no connection.
            """
    )

    @Option(help: "The agent's vhost-user socket (serve --socket or --socket-dir DIR/NAME.sock).")
    var socket: String

    @Argument(help: "The command, e.g. base.info, clock.rate-set.")
    var command: String

    @Argument(help: "The command's arguments; `+` starts another command on the same connection.")
    var arguments: [String] = []

    @Option(help: "Keep the connection, and so this agent's requests, open this many seconds after the commands.")
    var hold: Double = 0

    func run() throws {
        let frontend: VhostUserFrontend
        do {
            frontend = try VhostUserFrontend(socketPath: socket)
        } catch {
            FileHandle.standardError.write(Data("call: cannot reach \(socket): \(error)\n".utf8))
            throw ExitCode(2)
        }
        defer { frontend.close() }
        let client = SCMIClient(transport: FrontendTransport(frontend: frontend))
        do {
            let commands = commands()
            for (name, words) in commands {
                if commands.count > 1 { print("> \(([name] + words).joined(separator: " "))") }
                try CallRunner(client: client, arguments: words).run(name)
            }
            if hold > 0 { Thread.sleep(forTimeInterval: hold) }
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

extension Call {
    /// `command args… + command args…` split into commands.
    func commands() -> [(String, [String])] {
        var result: [(String, [String])] = []
        var current = [command] + arguments
        while !current.isEmpty {
            let end = current.firstIndex(of: "+") ?? current.endIndex
            if end > current.startIndex {
                result.append((current[current.startIndex], Array(current[(current.startIndex + 1)..<end])))
            }
            current = end < current.endIndex ? Array(current[(end + 1)...]) : []
        }
        return result
    }
}

/// The client's byte pipe over a vhost-user frontend's cmdq.
struct FrontendTransport: SCMITransport {
    let frontend: VhostUserFrontend
    mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8] {
        try frontend.exchange(request: request, responseCapacity: responseCapacity)
    }
}

/// Parses one `call` command line and prints its decoded answer.
struct CallRunner {
    let client: SCMIClient
    let arguments: [String]

    private func number<T: FixedWidthInteger>(_ index: Int, _ what: String, as: T.Type = T.self) throws -> T {
        guard index < arguments.count else { throw ValidationError("missing \(what)") }
        let text = arguments[index]
        let value = text.hasPrefix("0x") ? T(text.dropFirst(2), radix: 16) : T(text)
        guard let value else { throw ValidationError("\(what) '\(text)' is not a number") }
        return value
    }

    private func id(_ index: Int = 0) throws -> UInt32 { try number(index, "id") }

    func run(_ command: String) throws {
        switch command {
        case "base.info": try baseInfo()
        case "base.agent":
            let agent = try client.discoverAgent(arguments.isEmpty ? 0xFFFF_FFFF : try number(0, "agent id"))
            print("agent \(agent.id) \"\(agent.name)\"")
        case "base.allow-device", "base.deny-device":
            try client.setDevicePermissions(agent: try number(0, "agent id"), device: try number(1, "device id"), allow: command == "base.allow-device")
            print("ok")
        case "base.allow-protocol", "base.deny-protocol":
            try client.setProtocolPermissions(
                agent: try number(0, "agent id"), device: try number(1, "device id"), protocolID: try number(2, "protocol id"),
                allow: command == "base.allow-protocol")
            print("ok")
        case "base.reset-agent":
            try client.resetAgentConfiguration(agent: try number(0, "agent id"), resetPermissions: arguments.dropFirst().first == "permissions")
            print("ok")
        case "clock.list": try clockList()
        case "clock.rates": print(describe(try client.describeRates(try id())))
        case "clock.rate-get": print("\(try client.rateGet(try id())) Hz")
        case "clock.rate-set":
            let clock = try id()
            let rate: UInt64 = try number(1, "rate in Hz")
            let rounding: RateRounding
            switch arguments.count > 2 ? arguments[2] : "down" {
            case "down": rounding = .down
            case "up": rounding = .up
            case "nearest", "auto": rounding = .nearest
            case let other: throw ValidationError("rounding '\(other)' is not down, up or nearest")
            }
            try client.rateSet(clock, rate: rate, rounding: rounding)
            print("ok; clock \(clock) now runs at \(try client.rateGet(clock)) Hz")
        case "clock.enable": try client.enable(clock: try id()); print("ok")
        case "clock.disable": try client.disable(clock: try id()); print("ok")
        case "clock.state": print(try client.clockConfigGet(try id()) ? "on" : "off")
        case "voltage.list": try voltageList()
        case "voltage.levels": print(describe(try client.describeLevels(try id())))
        case "voltage.level-get": print("\(try client.levelGet(try id())) uV")
        case "voltage.level-set":
            let domain = try id()
            try client.levelSet(domain, microvolts: try number(1, "level in microvolts"))
            print("ok; domain \(domain) now at \(try client.levelGet(domain)) uV")
        case "voltage.on": try client.voltageOn(try id()); print("ok")
        case "voltage.off": try client.voltageOff(try id()); print("ok")
        case "voltage.state": print(try client.voltageConfigGet(try id()) & 0x7 != 0 ? "on" : "off")
        case "raw": try raw()
        default:
            throw ValidationError("unknown command '\(command)' (see scmi-dt call --help)")
        }
    }

    private func baseInfo() throws {
        let info = try client.baseInfo()
        let me = try client.discoverAgent()
        print("SCMI \(info.version >> 16).\(info.version & 0xFFFF)  vendor \"\(info.vendor)\"  sub-vendor \"\(info.subVendor)\"  implementation 0x\(String(info.implementationVersion, radix: 16))")
        print("agent \(me.id) \"\(me.name)\" of \(info.agentCount)")
        let protocols = info.protocols.map { "0x\(String($0, radix: 16)) \(MessageNames.protocolName($0))" }
        print("protocols (\(info.protocolCount)): " + (protocols.isEmpty ? "none" : protocols.joined(separator: ", ")))
    }

    /// A value, or the SCMI status name when this agent may not read it.
    private func attempt<T>(_ body: () throws -> T, _ show: (T) -> String) throws -> String {
        do {
            return show(try body())
        } catch let error as SCMIClientError {
            guard let status = error.status else { throw error }
            return status.name
        }
    }

    private func clockList() throws {
        var rows = [["id", "name", "state", "rate Hz", "rates"]]
        for clock in 0..<UInt32(try client.clockCount()) {
            let attributes = try client.clockAttributes(clock)
            let name = attributes.hasExtendedName ? try client.clockName(clock) : attributes.name
            rows.append([
                String(clock), name,
                try attempt({ try client.clockConfigGet(clock) }) { $0 ? "on" : "off" },
                try attempt({ try client.rateGet(clock) }) { String($0) },
                describe(try client.describeRates(clock)),
            ])
        }
        print(TextTable.render(rows), terminator: "")
    }

    private func voltageList() throws {
        var rows = [["id", "name", "state", "level uV", "levels"]]
        for domain in 0..<UInt32(try client.voltageDomainCount()) {
            let attributes = try client.voltageDomainAttributes(domain)
            let name = attributes.hasExtendedName ? try client.voltageDomainName(domain) : attributes.name
            rows.append([
                String(domain), name,
                try attempt({ try client.voltageConfigGet(domain) }) { $0 & 0x7 != 0 ? "on" : "off" },
                try attempt({ try client.levelGet(domain) }) { String($0) },
                describe(try client.describeLevels(domain)),
            ])
        }
        print(TextTable.render(rows), terminator: "")
    }

    private func describe(_ rates: RateDescription) -> String {
        switch rates {
        case .discrete(let list): "discrete: " + list.map(String.init).joined(separator: " ")
        case .range(let min, let max, let step): "range: \(min)..\(max) step \(step)"
        }
    }

    private func describe(_ levels: LevelDescription) -> String {
        switch levels {
        case .discrete(let list): "discrete: " + list.map(String.init).joined(separator: " ")
        case .range(let min, let max, let step): "range: \(min)..\(max) step \(step)"
        }
    }

    private func raw() throws {
        let hex = arguments.joined().replacingOccurrences(of: " ", with: "")
        guard hex.count % 2 == 0, hex.count >= 8 else { throw ValidationError("raw wants hex bytes, at least the 4 header bytes") }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { throw ValidationError("'\(hex[index..<next])' is not a hex byte") }
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
