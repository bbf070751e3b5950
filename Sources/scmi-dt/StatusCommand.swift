import ArgumentParser
import Foundation
import SCMIPlatform

#if canImport(Glibc)
import Glibc
#endif

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the physical state, agents and connections of a running serve.",
        discussion: "Asks the control socket that `scmi-dt serve --control PATH` opened."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(help: "The control socket of the running serve.")
    var control: String

    @Option(help: "text or json.")
    var format: Format = .text

    func run() throws {
        let fd: Int32
        do {
            fd = try UnixSocket.connect(to: control)
        } catch {
            throw CleanExit.message("status: \(error) (is `scmi-dt serve --control \(control)` running?)").asFailure()
        }
        let data = UnixSocket.readToEnd(fd)
        close(fd)
        if format == .json {
            FileHandle.standardOutput.write(data)
            print()
            return
        }
        let report: StatusReport
        do {
            report = try JSONDecoder().decode(StatusReport.self, from: data)
        } catch {
            throw CleanExit.message("status: the control socket answered something that is not a status report: \(error)").asFailure()
        }
        print(StatusText.render(report), terminator: "")
    }
}

extension CleanExit {
    /// A message on standard error with exit status 2 (the input or environment is unusable).
    fileprivate func asFailure() -> Error {
        FileHandle.standardError.write(Data((description + "\n").utf8))
        return ExitCode(2)
    }
}

/// The operator's text view of a status report.
enum StatusText {
    static func render(_ report: StatusReport) -> String {
        var out = "blob: \(report.blob)\n"

        if !report.platform.clocks.isEmpty {
            out += "\nclocks (physical state; each agent's request)\n"
            var rows = [["id", "name", "state", "rate", "requests"]]
            for clock in report.platform.clocks {
                let requests = clock.requests.map { request -> String in
                    var parts: [String] = []
                    if let enabled = request.enabled { parts.append(enabled ? "on" : "off") }
                    if let rate = request.rateHz { parts.append(formatHertz(rate)) }
                    return "\(request.agentName): " + parts.joined(separator: " ")
                }
                rows.append([String(clock.id), clock.name, clock.enabled ? "on" : "off", formatHertz(clock.rateHz), requests.isEmpty ? "-" : requests.joined(separator: ", ")])
            }
            out += TextTable.render(rows)
        }
        if !report.platform.voltageDomains.isEmpty {
            out += "\nvoltage domains (physical state; each agent's request)\n"
            var rows = [["id", "name", "state", "level", "requests"]]
            for domain in report.platform.voltageDomains {
                let requests = domain.requests.map { request -> String in
                    var parts: [String] = []
                    if let on = request.on { parts.append(on ? "on" : "off") }
                    if let level = request.levelMicrovolts { parts.append(formatMicrovolts(level)) }
                    return "\(request.agentName): " + parts.joined(separator: " ")
                }
                rows.append([String(domain.id), domain.name, domain.on ? "on" : "off", formatMicrovolts(domain.levelMicrovolts), requests.isEmpty ? "-" : requests.joined(separator: ", ")])
            }
            out += TextTable.render(rows)
        }
        out += "\nagents\n"
        var rows = [["id", "name", "trusted", "protocols", "devices (protocols)"]]
        for agent in report.platform.agents {
            let protocols = agent.protocols.map { "0x" + String($0, radix: 16) }.joined(separator: " ")
            let devices = agent.permissions.map { permission in
                "\(permission.deviceName)(" + permission.protocols.map { String($0, radix: 16) }.joined(separator: ",") + ")"
            }
            rows.append([String(agent.id), agent.name, agent.trusted ? "yes" : "no", protocols.isEmpty ? "-" : protocols, devices.isEmpty ? "-" : devices.joined(separator: " ")])
        }
        out += TextTable.render(rows)
        out += "\nconnections\n"
        var connectionRows = [["agent", "socket", "frontend", "chains (this connection)", "broken", "refused", "last error"]]
        for connection in report.connections {
            connectionRows.append([
                connection.agent, connection.socket, connection.connected ? "connected" : "waiting",
                "\(connection.chainsServed) (\(connection.chainsServedThisConnection))", String(connection.brokenChains),
                String(connection.connectionsRefused), connection.lastError ?? "-",
            ])
        }
        out += TextTable.render(connectionRows)
        return out
    }
}

extension TextTable {
    /// A table from rows whose first row is the heading.
    static func render(_ rows: [[String]]) -> String {
        var table = TextTable()
        table.header = rows.first ?? []
        table.rows = Array(rows.dropFirst())
        return table.rendered() + "\n"
    }
}
