import ArgumentParser
import BackendModel
import ResourceTables
import SCMIUpstream
import ServeRuntime

struct Tables: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tables",
        abstract: "Print the resolved protocol, clock, voltage, device and agent tables.",
        discussion: "The tables are what `serve` exposes: SCMI ids and the host resources behind them. A blob with errors prints its diagnostics instead (exit 1; 2 when it is not a usable devicetree).")

    @Argument(help: "The blob (.dtb) or devicetree source (.dts).")
    var blob: String

    @OptionGroup var sources: SourceOptions

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(
        name: .customLong("host-hook"),
        help: ArgumentHelp("Show the HOST column as `serve --host-hook PROGRAM` would bind it; PROGRAM is not run.", valueName: "PROGRAM"))
    var hostHook: String?

    @OptionGroup var upstream: UpstreamOptions

    func run() throws {
        let result = BackendChecker.check(blobAt: blob, sources: sources.sources)
        guard var tables = result.tables, let backend = result.backend else {
            for diagnostic in result.diagnostics where diagnostic.severity == .error { printError(diagnostic.renderedWithHint) }
            printError(result.diagnostics.summary)
            throw ExitCode(result.isUnusable ? 2 : 1)
        }
        var view: UpstreamView?
        if let address = upstream.address {
            let merged = try Self.learn(tables, from: address, timeoutNanoseconds: upstream.timeoutNanoseconds)
            tables = merged.tables.tables
            view = UpstreamView(address: address, identity: merged.identity, sources: merged.tables.sources)
        }
        switch format {
        case .text: print(TablesText.render(tables, backendPath: backend.path, hookGiven: hostHook != nil, upstream: view))
        case .json: print(TablesJSON.render(tables, backendPath: backend.path, hookGiven: hostHook != nil, upstream: view).rendered())
        }
    }

    /// The Base handshake and the firmware's facts merged into `tables`, the
    /// warnings on standard error; an unreachable firmware exits 2, refused
    /// resources 1 (FirmwareFactsError.exitStatus), each named on standard error.
    /// The link is closed, unless `keepingLink` (serve's: it goes on using it).
    static func learn(
        _ tables: PlatformTables, from address: UpstreamAddress, timeoutNanoseconds: Int64, keepingLink: Bool = false
    ) throws -> (tables: MergedTables, identity: FirmwareIdentity, link: (any UpstreamLink)?) {
        let timeout = Int(max(timeoutNanoseconds / 1_000_000, 1))
        do throws(FirmwareFactsError) {
            let link: any UpstreamLink
            do {
                link = try connectUpstream(address, timeoutMilliseconds: timeout)
            } catch {
                throw .unreachable("cannot reach the firmware: " + error.description)
            }
            var kept = false
            defer { if !kept { link.close() } }
            let facts = try FirmwareFacts.read(tables, over: link, timeoutMilliseconds: timeout)
            let merged = try facts.merged(into: tables)
            for warning in merged.warnings { printError("warning: upstream " + address.description + ": " + warning) }
            kept = keepingLink
            return (merged, facts.identity, keepingLink ? link : nil)
        } catch {
            let lines = switch error {
            case .unreachable(let why): [why]
            case .refused(let problems): problems
            }
            for line in lines { printError("error: upstream " + address.description + ": " + line) }
            throw ExitCode(error.exitStatus)
        }
    }
}

/// What `tables --upstream` adds: where the firmware is, who it is, and where
/// each upstream resource's facts came from.
struct UpstreamView {
    let address: UpstreamAddress
    let identity: FirmwareIdentity
    let sources: [ResourceReference: FactSources]

    /// `name firmware, rates firmware`; `devicetree` for a resource that is not the firmware's.
    func text(_ protocolID: ProtocolID, _ id: UInt32) -> String {
        guard let sources = sources[ResourceReference(protocolID, id)] else { return "devicetree" }
        var parts = ["name " + sources.name.rawValue]
        if let values = sources.values, let key = Self.valuesKey(protocolID) { parts.append(key + " " + values.rawValue) }
        return parts.joined(separator: ", ")
    }

    /// `{"name": "firmware", "rates": "firmware"}`: every fact the resource has, devicetree's when the firmware gave none.
    func json(_ protocolID: ProtocolID, _ id: UInt32) -> JSONValue {
        let sources = sources[ResourceReference(protocolID, id)]
        var members: [(String, JSONValue)] = [("name", .string((sources?.name ?? .devicetree).rawValue))]
        if let key = Self.valuesKey(protocolID) { members.append((key, .string((sources?.values ?? .devicetree).rawValue))) }
        return .object(members)
    }

    /// What a protocol's facts besides the name are called.
    static func valuesKey(_ protocolID: ProtocolID) -> String? {
        switch protocolID {
        case .clock: "rates"
        case .voltage, .performance: "levels"
        case .sensor: "unit"
        default: nil
        }
    }

    /// `upstream vhost-user:/run/fw.sock: firmware "ARM" (Base 0x20000, implementation 0x104), serve is its agent 1 "mediator"`.
    var summary: String {
        "upstream \(address): firmware \"\(identity.vendor)\" (Base 0x\(String(identity.baseVersion, radix: 16)), implementation 0x"
            + String(identity.implementationVersion, radix: 16) + "), serve is its agent \(identity.agentID) \"\(identity.agentName)\""
    }
}

/// The aligned text form of `tables`.
enum TablesText {
    /// `hookGiven`: bind as `serve --host-hook` would (the HOST column; tables has no upstream).
    /// `upstream`: the firmware's facts are merged in; each resource table gets a FACTS FROM column.
    static func render(_ tables: PlatformTables, backendPath: String, hookGiven: Bool = false, upstream: UpstreamView? = nil) -> String {
        let host = { (protocolID: ProtocolID, id: UInt32) in
            hostColumn(tables, protocolID, id, hookGiven: hookGiven, upstreamGiven: upstream != nil)
        }
        /// With an upstream, the FACTS FROM column after the others, one cell per entry.
        func sourced(_ table: TextTable, _ protocolID: ProtocolID, _ ids: [UInt32]) -> String {
            guard let upstream else { return table.rendered() }
            var table = table
            table.header.append("FACTS FROM")
            for (row, id) in zip(table.rows.indices, ids) { table.rows[row].append(upstream.text(protocolID, id)) }
            return table.rendered()
        }
        var sections: [String] = []
        sections.append(
            "backend \(backendPath): vendor \"\(tables.vendor)\", sub-vendor \"\(tables.subVendor)\", "
                + "implementation version 0x\(String(tables.implementationVersion, radix: 16))")
        if let upstream { sections[0] += "\n" + upstream.summary }

        var protocols = TextTable("ID", "NAME", "ENTRIES")
        protocols.add("0x10", "base", "-")
        for id in tables.protocols { protocols.add(id.description, id.name, String(tables.resourceCount(of: id))) }
        sections.append("protocols\n" + protocols.rendered())

        if tables.protocols.contains(.clock) {
            var clocks = TextTable("ID", "NAME", "RATES", "INITIAL", "PROVIDER", "RATES FROM", "HOST")
            for clock in tables.clocks {
                clocks.add(
                    String(clock.id), clock.name, rates(clock.rates), formatHertz(clock.initialRate), provider(clock.providerPath, clock.specifier),
                    clock.ratesSource, host(.clock, clock.id))
            }
            sections.append("clocks (protocol 0x14)\n" + sourced(clocks, .clock, tables.clocks.map(\.id)))
        }
        if tables.protocols.contains(.voltage) {
            var voltages = TextTable("ID", "NAME", "LEVELS", "INITIAL", "STATE", "REGULATOR", "LEVELS FROM", "HOST LIMITS", "HOST")
            for domain in tables.voltageDomains {
                voltages.add(
                    String(domain.id), domain.name, levels(domain.levels), formatMicrovolts(domain.initialLevel),
                    domain.initiallyOn ? "on" : "off", domain.regulatorPath, domain.levelsSource, hostLimits(domain), host(.voltage, domain.id))
            }
            sections.append("voltage domains (protocol 0x17)\n" + sourced(voltages, .voltage, tables.voltageDomains.map(\.id)))
        }
        if tables.protocols.contains(.powerDomain) {
            sections.append("power domains (protocol 0x11)\n" + sourced(providerTable(tables.powerDomains, .powerDomain, host), .powerDomain, tables.powerDomains.map(\.id)))
        }
        if tables.protocols.contains(.performance) {
            var domains = TextTable("ID", "NAME", "LEVELS", "OPP TABLE", "HOST")
            for domain in tables.performanceDomains {
                domains.add(
                    String(domain.id), domain.name, domain.levels.map { formatHertz($0.hz) }.joined(separator: ", "),
                    domain.oppTablePath.isEmpty ? "-" : domain.oppTablePath,
                    host(.performance, domain.id))
            }
            sections.append("performance domains (protocol 0x13)\n" + sourced(domains, .performance, tables.performanceDomains.map(\.id)))
        }
        if tables.protocols.contains(.sensor) {
            var sensors = TextTable("ID", "NAME", "TYPE", "SCALE", "INTERVAL", "SOURCE", "HOST")
            for sensor in tables.sensors {
                let source: String
                switch sensor.source {
                case .constant(let value): source = "constant \(value)"
                case .path(let path): source = path
                case .host: source = "host"
                }
                sensors.add(String(sensor.id), sensor.name, sensorType(sensor), "10^\(sensor.unitExponent)", "\(sensor.intervalMilliseconds) ms", source,
                    host(.sensor, sensor.id))
            }
            sections.append("sensors (protocol 0x15)\n" + sourced(sensors, .sensor, tables.sensors.map(\.id)))
        }
        if tables.protocols.contains(.reset) {
            sections.append("reset domains (protocol 0x16)\n" + sourced(providerTable(tables.resetDomains, .reset, host), .reset, tables.resetDomains.map(\.id)))
        }

        var devices = TextTable("ID", "NAME", "RESOURCES", "PATH")
        for device in tables.devices { devices.add(String(device.id), device.name, resources(device.resources), device.path) }
        sections.append("devices\n" + devices.rendered())

        var agents = TextTable("ID", "NAME", "TRUSTED", "PROTOCOLS", "DEVICES")
        for agent in tables.agents {
            agents.add(
                String(agent.id), agent.name, agent.trusted ? "yes" : "no", agent.protocols.map(\.description).joined(separator: " "),
                agent.devices.isEmpty ? "-" : agent.devices.map(String.init).joined(separator: " "))
        }
        sections.append("agents" + (tables.agentsAreImplicit ? " (implicit: no agents node)" : "") + "\n" + agents.rendered())
        return sections.joined(separator: "\n\n")
    }

    /// The type's name, or `unit N` for a firmware sensor whose unit no type has.
    static func sensorType(_ sensor: SensorEntry) -> String {
        sensor.unitType == sensor.type.unitType ? sensor.type.rawValue : "unit \(sensor.unitType)"
    }

    static func rates(_ rates: ClockRates) -> String {
        switch rates {
        case .discrete(let list): list.map(formatHertz).joined(separator: ", ")
        case .range(let minimum, let maximum, let step): "\(formatHertz(minimum)) .. \(formatHertz(maximum)) step \(formatHertz(step))"
        }
    }

    static func levels(_ levels: VoltageLevels) -> String {
        switch levels {
        case .discrete(let list): list.map(formatMicrovolts).joined(separator: ", ")
        case .range(let minimum, let maximum, let step):
            "\(formatMicrovolts(minimum)) .. \(formatMicrovolts(maximum)) step \(formatMicrovolts(step))"
        }
    }

    /// `always on, coupled with 3 within 10 mV`, or `-`.
    static func hostLimits(_ domain: VoltageDomainEntry) -> String {
        var limits: [String] = []
        if domain.alwaysOn { limits.append("always on") }
        for coupling in domain.couplings { limits.append("coupled with \(coupling.partner) within \(formatMicrovolts(coupling.maxSpread))") }
        return limits.isEmpty ? "-" : limits.joined(separator: ", ")
    }

    /// `/clock-controller@fd7c0000 <0x106>`: cells in hexadecimal, as sources write them.
    static func provider(_ path: String, _ specifier: [UInt32]) -> String {
        specifier.isEmpty ? path : path + " <" + specifier.map { "0x" + String($0, radix: 16) }.joined(separator: " ") + ">"
    }

    /// `clock 0 1, voltage 0`: ids grouped by protocol, in the device's order.
    static func resources(_ references: [ResourceReference]) -> String {
        if references.isEmpty { return "-" }
        var groups: [(ProtocolID, [UInt32])] = []
        for reference in references {
            if let index = groups.firstIndex(where: { $0.0 == reference.protocolID }) {
                groups[index].1.append(reference.id)
            } else {
                groups.append((reference.protocolID, [reference.id]))
            }
        }
        return groups.map { $0.0.name + " " + $0.1.map(String.init).joined(separator: " ") }.joined(separator: ", ")
    }

    private static func providerTable(
        _ entries: [ProviderResourceEntry], _ protocolID: ProtocolID, _ host: (ProtocolID, UInt32) -> String
    ) -> TextTable {
        var table = TextTable("ID", "NAME", "PROVIDER", "HOST")
        for entry in entries { table.add(String(entry.id), entry.name, provider(entry.providerPath, entry.specifier), host(protocolID, entry.id)) }
        return table
    }

    /// `model`, `hook`, `upstream`, and for a firmware resource also where the firmware has it:
    /// `model, firmware 0x14:12 /firmware/scmi`.
    static func hostColumn(_ tables: PlatformTables, _ protocolID: ProtocolID, _ id: UInt32, hookGiven: Bool, upstreamGiven: Bool) -> String {
        let origin = tables.firmwareOrigin(protocolID, id)
        let binding = HostBinding.decide(origin: origin, upstreamGiven: upstreamGiven, hookGiven: hookGiven).rawValue
        return origin.map { binding + ", firmware " + $0.description } ?? binding
    }
}

/// Each resource's `host` (its binding) and `firmware` (where the host's SCMI
/// firmware has it, or null) in the JSON form of `tables`; with an upstream,
/// also `sources`, where each fact came from.
struct HostMembers {
    let tables: PlatformTables
    let hookGiven: Bool
    var upstream: UpstreamView? = nil

    func adding(to entry: JSONValue, _ protocolID: ProtocolID, _ id: UInt32) -> JSONValue {
        guard case .object(var members) = entry else { return entry }
        let origin = tables.firmwareOrigin(protocolID, id)
        members.append(("host", .string(HostBinding.decide(origin: origin, upstreamGiven: upstream != nil, hookGiven: hookGiven).rawValue)))
        members.append((
            "firmware",
            origin.map {
                .object([("platform", .string($0.platformNodePath.description)), ("protocol", .number($0.protocolID.rawValue)), ("id", .number($0.firmwareID))])
            } ?? .null
        ))
        if let upstream { members.append(("sources", upstream.json(protocolID, id))) }
        return .object(members)
    }
}

/// The JSON form of `tables`: stable keys, numbers as numbers, paths as strings.
enum TablesJSON {
    /// `hookGiven`: bind as `serve --host-hook` would (each resource's `host`);
    /// `upstream`: as `serve --upstream` would, with an `upstream` member and each resource's `sources`.
    static func render(_ tables: PlatformTables, backendPath: String, hookGiven: Bool = false, upstream: UpstreamView? = nil) -> JSONValue {
        let host = HostMembers(tables: tables, hookGiven: hookGiven, upstream: upstream)
        var root: [(String, JSONValue)] = [
            (
                "backend",
                .object([
                    ("path", .string(backendPath)), ("vendor", .string(tables.vendor)), ("sub_vendor", .string(tables.subVendor)),
                    ("implementation_version", .number(tables.implementationVersion)),
                ])
            ),
            ("protocols", .array(tables.protocols.map { .object([("id", .number($0.rawValue)), ("name", .string($0.name)), ("entries", .number(tables.resourceCount(of: $0)))]) })),
            ("clocks", .array(tables.clocks.map { host.adding(to: clock($0), .clock, $0.id) })),
            ("voltage_domains", .array(tables.voltageDomains.map { host.adding(to: voltage($0), .voltage, $0.id) })),
            ("power_domains", .array(tables.powerDomains.map { host.adding(to: providerEntry($0), .powerDomain, $0.id) })),
            ("performance_domains", .array(tables.performanceDomains.map { host.adding(to: performance($0), .performance, $0.id) })),
            ("sensors", .array(tables.sensors.map { host.adding(to: sensor($0), .sensor, $0.id) })),
            ("reset_domains", .array(tables.resetDomains.map { host.adding(to: providerEntry($0), .reset, $0.id) })),
            ("devices", .array(tables.devices.map(device))),
            ("agents", .array(tables.agents.map(agent))),
            ("agents_implicit", .bool(tables.agentsAreImplicit)),
        ]
        if let upstream {
            root.append((
                "upstream",
                .object([
                    ("address", .string(upstream.address.description)), ("vendor", .string(upstream.identity.vendor)),
                    ("sub_vendor", .string(upstream.identity.subVendor)), ("base_version", .number(upstream.identity.baseVersion)),
                    ("implementation_version", .number(upstream.identity.implementationVersion)),
                    ("agent_id", .number(upstream.identity.agentID)), ("agent_name", .string(upstream.identity.agentName)),
                    ("protocols", .array(upstream.identity.protocols.map { .number($0.rawValue) })),
                ])
            ))
        }
        return .object(root)
    }

    static func clock(_ clock: ClockEntry) -> JSONValue {
        let rates: JSONValue
        switch clock.rates {
        case .discrete(let list): rates = .object([("discrete", .array(list.map { .number($0) }))])
        case .range(let minimum, let maximum, let step):
            rates = .object([("min", .number(minimum)), ("max", .number(maximum)), ("step", .number(step))])
        }
        return .object([
            ("id", .number(clock.id)), ("name", .string(clock.name)), ("provider", .string(clock.providerPath)),
            ("specifier", .array(clock.specifier.map { .number($0) })), ("rates", rates), ("initial_rate", .number(clock.initialRate)),
            ("rates_source", .string(clock.ratesSource)),
        ])
    }

    static func voltage(_ domain: VoltageDomainEntry) -> JSONValue {
        let levels: JSONValue
        switch domain.levels {
        case .discrete(let list): levels = .object([("discrete", .array(list.map { .number($0) }))])
        case .range(let minimum, let maximum, let step):
            levels = .object([("min", .number(minimum)), ("max", .number(maximum)), ("step", .number(step))])
        }
        return .object([
            ("id", .number(domain.id)), ("name", .string(domain.name)), ("regulator", .string(domain.regulatorPath)),
            ("levels_microvolts", levels), ("initial_microvolts", .number(domain.initialLevel)), ("initially_on", .bool(domain.initiallyOn)),
            ("levels_source", .string(domain.levelsSource)), ("always_on", .bool(domain.alwaysOn)),
            ("min_microvolts", .number(domain.minimumLevel)), ("max_microvolts", .number(domain.maximumLevel)),
            (
                "coupled_with",
                .array(domain.couplings.map { .object([("id", .number($0.partner)), ("max_spread_microvolts", .number($0.maxSpread))]) })
            ),
        ])
    }

    static func providerEntry(_ entry: ProviderResourceEntry) -> JSONValue {
        .object([
            ("id", .number(entry.id)), ("name", .string(entry.name)), ("provider", .string(entry.providerPath)),
            ("specifier", .array(entry.specifier.map { .number($0) })),
        ])
    }

    static func performance(_ domain: PerformanceDomainEntry) -> JSONValue {
        .object([
            ("id", .number(domain.id)), ("name", .string(domain.name)), ("opp_table", domain.oppTablePath.isEmpty ? .null : .string(domain.oppTablePath)),
            (
                "levels",
                .array(
                    domain.levels.map {
                        .object([
                            ("hz", .number($0.hz)), ("microvolts", $0.microvolts.map { .number($0) } ?? .null), ("level", $0.level.map { .number($0) } ?? .null),
                            ("microwatts", $0.microwatts.map { .number($0) } ?? .null),
                            ("clock_latency_ns", $0.latencyNanoseconds.map { .number($0) } ?? .null),
                        ])
                    })
            ),
        ])
    }

    static func sensor(_ sensor: SensorEntry) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .number(sensor.id)), ("name", .string(sensor.name)), ("type", .string(sensor.type.rawValue)), ("unit_type", .number(sensor.unitType)),
            ("unit_exponent", .number(sensor.unitExponent)), ("interval_ms", .number(sensor.intervalMilliseconds)),
        ]
        switch sensor.source {
        case .constant(let value): members.append(("value", .number(value)))
        case .path(let path): members.append(("path", .string(path)))
        case .host: break  // `firmware` says where the reading is
        }
        return .object(members)
    }

    static func device(_ device: DeviceEntry) -> JSONValue {
        .object([
            ("id", .number(device.id)), ("name", .string(device.name)), ("path", .string(device.path)),
            ("resources", .array(device.resources.map { .object([("protocol", .number($0.protocolID.rawValue)), ("id", .number($0.id))]) })),
        ])
    }

    static func agent(_ agent: AgentEntry) -> JSONValue {
        .object([
            ("id", .number(agent.id)), ("name", .string(agent.name)), ("trusted", .bool(agent.trusted)),
            ("protocols", .array(agent.protocols.map { .number($0.rawValue) })), ("devices", .array(agent.devices.map { .number($0) })),
        ])
    }
}
