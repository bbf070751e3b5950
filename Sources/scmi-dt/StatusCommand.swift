import ArgumentParser
import Foundation
import SCMIPlatform
import ServeRuntime

#if canImport(Glibc)
import Glibc
#endif

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the physical state, agents and connections of a running serve.",
        discussion: """
            Asks the control socket of a running serve: --control PATH (serve --control PATH), or the
            one in --socket-dir DIR (serve --socket-dir DIR listens on DIR/control), else the
            installed service's, /run/scmi-dt/control. --format json is the stable interface for
            scripts: snake_case keys, described in docs/serve.md.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(help: "The control socket of the running serve.")
    var control: String?

    @Option(name: .customLong("socket-dir"), help: "The --socket-dir of the running serve: its control socket is DIR/control.")
    var socketDirectory: String?

    @Option(help: "text or json.")
    var format: Format = .text

    @Option(help: "Give up after this many seconds without a complete report.")
    var timeout: Double = 10

    func validate() throws {
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
        if control != nil && socketDirectory != nil { throw ValidationError("give --control PATH or --socket-dir DIR, not both") }
    }

    func run() throws {
        let control = control ?? ControlSocket.path(inSocketDirectory: socketDirectory ?? ControlSocket.serviceSocketDirectory)
        let data: Data
        do {
            data = try StatusClient.fetch(from: control, timeout: .milliseconds(Int64(timeout * 1000)))
        } catch {
            switch error {
            case .notAccepted:
                throw failure("status: \(control) did not accept within \(timeout) s (is serve stuck, or flooded with clients?)")
            case .cannotConnect(let reason):
                throw failure("status: \(reason) (is `scmi-dt serve --control \(control)` running?)")
            case .timedOut:
                throw failure("status: no complete report from \(control) within \(timeout) s (is serve stuck?)")
            case .readFailed(let code):
                throw failure("status: reading from \(control): \(String(cString: strerror(code)))")
            }
        }
        if format == .json {
            FileHandle.standardOutput.write(data)
            print()
            return
        }
        let report: StatusReport
        do {
            report = try JSONDecoder().decode(StatusReport.self, from: data)
        } catch {
            throw failure("status: the control socket answered something that is not a status report: \(error)")
        }
        print(StatusText.render(report), terminator: "")
    }
}

/// `message` on standard error; exit status 2 (nothing to ask, or a garbled answer).
private func failure(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return ExitCode(2)
}

/// The operator's text view of a status report.
enum StatusText {
    private static func list(_ items: [String]) -> String { items.isEmpty ? "-" : items.joined(separator: ", ") }

    /// One agent's request: "vm-ivi: on 400 MHz" (either part may be absent),
    /// the switch in the unit's words ("asserted" for a reset domain), then its limits
    /// when it narrowed them: "limits 400 MHz..1 GHz".
    private static func request(_ agent: String, _ on: String?, _ value: String?, _ limits: String? = nil) -> String {
        agent + ":" + [on, value, limits.map { "limits " + $0 }].compactMap { $0.map { " " + $0 } }.joined()
    }

    /// A value in its unit's words: "400 MHz", "1.8 V"; a unit this view
    /// does not know as the number and the unit.
    private static func valueFormat(_ unit: String) -> (Int64) -> String {
        switch unit {
        case "Hz": { formatHertz(UInt64(clamping: $0)) }
        case "uV": { formatMicrovolts(Int32(clamping: $0)) }
        case "kHz": { formatHertz(UInt64(clamping: $0) &* 1000) }
        default: { "\($0) \(unit)" }
        }
    }

    static func render(_ report: StatusReport) -> String {
        var out = "blob: \(report.blob)\n"

        for table in report.platform.tables where !table.resources.isEmpty {
            guard let words = table.vocabulary else { continue }
            let format = valueFormat(words.unit)
            let state = { (on: Bool) in on ? words.onWord : words.offWord }
            // Power and reset domains are only switched: no value column.
            let hasValues = table.resources.contains { $0.value != nil }
            out += "\n\(words.plural) (physical state; each agent's request)\n"
            let hasHost = table.resources.contains { $0.host != nil }
            var rows = [["id", "name", "state"] + (hasValues ? [words.quantity] : []) + ["requests"] + (hasHost ? ["host"] : [])]
            for resource in table.resources {
                let requests = resource.requests.map {
                    request($0.agentName, $0.on.map(state), $0.value.map(format), $0.limits.map { format($0.min) + ".." + format($0.max) })
                }
                rows.append([String(resource.id), resource.name, resource.on.map(state) ?? "-"]
                    + (hasValues ? [resource.value.map(format) ?? "-"] : []) + [list(requests)] + (hasHost ? [resource.host ?? "-"] : []))
            }
            out += TextTable.render(rows)
        }
        if let failures = report.hostFailures {
            // serve --host-hook or --upstream: the last failed action of each resource whose latest action failed.
            out += "\nhost failures (latest per resource)\n"
            out += failures.isEmpty ? "none\n" : failures.map { $0 + "\n" }.joined()
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
        out += "\nnotifications and delayed responses (per connection)\n"
        var eventRows = [["agent", "p2a", "subscriptions", "sent", "waiting", "dropped", "async pending"]]
        for connection in report.connections {
            guard let events = connection.events else { continue }
            let subscriptions = events.subscriptions.map { "\($0.event) \($0.resource)" }
            eventRows.append([
                connection.agent, events.p2aNegotiated ? "yes" : "no",
                subscriptions.isEmpty ? "-" : subscriptions.joined(separator: ", "),
                String(events.notificationsSent), String(events.waiting), String(events.dropped), String(events.asyncPending),
            ])
        }
        out += TextTable.render(eventRows)
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
