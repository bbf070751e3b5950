import ArgumentParser
import BackendModel
import BoardInventory

struct Inventory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "List what a board's devicetree offers (clocks, regulators, resets, power domains, OPPs, sensors) and who uses it.",
        discussion: """
            Works on any board blob (no backend node needed), including the running host's own, \
            /sys/firmware/fdt (readable by root only). Exit status as check: 2 when the input is \
            not a usable flattened devicetree.
            """)

    @Argument(help: "The blob (.dtb) or devicetree source (.dts).")
    var blob: String

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @OptionGroup var sources: SourceOptions

    func run() throws {
        let tree = try sources.loadOrExit(blob)
        let inventory = BoardInventory(tree: tree.tree)
        switch format {
        case .text: print(InventoryText.render(inventory), terminator: "")
        case .json: print(InventoryJSON.render(inventory, blob: blob).rendered())
        }
    }
}

/// The text form of `inventory`: one section per kind, one line per node.
enum InventoryText {
    static func render(_ inventory: BoardInventory) -> String {
        var out = ""
        func section(_ title: String, _ count: Int, _ lines: [String]) {
            out += "\(title) (\(count))\n"
            for line in lines { out += "  " + line + "\n" }
        }
        section("clock providers", inventory.clockProviders.count, inventory.clockProviders.map { clock in
            var line = name(clock.provider) + " #clock-cells=\(clock.provider.cells)"
            if !clock.outputNames.isEmpty { line += " outputs=" + clock.outputNames.joined(separator: ",") }
            if let rate = clock.fixedRate { line += " rate=\(formatHertz(rate))" }
            let assigned = clock.assignedRates.sorted { $0.key.lexicographicallyPrecedes($1.key) }
            if !assigned.isEmpty {
                line += " assigned=" + assigned.map { entry in
                    (entry.key.isEmpty ? "" : "<" + entry.key.map { String($0) }.joined(separator: " ") + ">:") + formatHertz(entry.value)
                }.joined(separator: ", ")
            }
            return line
        })
        section("regulators", inventory.regulators.count, inventory.regulators.map { regulator in
            var line = labelled(regulator.path, regulator.label)
            if let name = regulator.name { line += " name=\"\(TerminalText.escapingControls(name))\"" }
            if let min = regulator.minMicrovolts, let max = regulator.maxMicrovolts {
                line += " \(formatMicrovolts(Int32(clamping: min)))..\(formatMicrovolts(Int32(clamping: max)))"
            } else {
                line += " levels=unknown"
            }
            if regulator.alwaysOn { line += " always-on" }
            if regulator.bootOn { line += " boot-on" }
            if let supply = regulator.supplyPath { line += " supply=\(supply)" }
            return line
        })
        section("reset providers", inventory.resetProviders.count, inventory.resetProviders.map { name($0) + " #reset-cells=\($0.cells)" })
        section("power-domain providers", inventory.powerDomainProviders.count, inventory.powerDomainProviders.map { name($0) + " #power-domain-cells=\($0.cells)" })
        section("OPP tables", inventory.oppTables.count, inventory.oppTables.map { table in
            labelled(table.path, table.label) + " " + table.frequencies.map(formatHertz).joined(separator: ",")
        })
        section("sensor providers", inventory.sensorProviders.count, inventory.sensorProviders.map { name($0.provider) + " \($0.kind.rawValue)" })
        section("SCMI platforms", inventory.scmiPlatforms.count, inventory.scmiPlatforms.map { platform in
            name(platform.provider) + " protocols=" + platform.protocols.map { "0x" + String($0, radix: 16) }.joined(separator: ",")
        })
        out += "consumers (\(inventory.consumers.count))\n"
        for consumer in inventory.consumers {
            out += "  " + labelled(consumer.path, consumer.label) + (consumer.compatible.first.map { " (\($0))" } ?? "") + "\n"
            for reference in consumer.references {
                var line = "    " + reference.property + (reference.property.hasSuffix("-supply") ? "" : "[\(reference.index)]")
                if let name = reference.name, reference.kind != .supply { line += " \"\(TerminalText.escapingControls(name))\"" }
                if let problem = reference.problem {
                    line += ": unresolved: " + problem
                } else {
                    line += " -> " + labelled(reference.providerPath ?? "?", reference.providerLabel) + cells(of: reference.cells)
                    if let resource = reference.resourceName { line += " \"\(TerminalText.escapingControls(resource))\"" }
                }
                out += line + "\n"
            }
        }
        return out
    }

    private static func name(_ provider: Provider) -> String {
        labelled(provider.path, provider.label) + (provider.compatible.first.map { " (\($0))" } ?? "")
    }

    static func labelled(_ path: String, _ label: String?) -> String {
        TerminalText.escapingControls(label.map { "\(path) [&\($0)]" } ?? path)
    }

    private static func cells(of cells: [UInt32]) -> String {
        cells.isEmpty ? "" : " <" + cells.map { String($0) }.joined(separator: " ") + ">"
    }
}

/// The JSON form of `inventory` (keys in a fixed order).
enum InventoryJSON {
    static func render(_ inventory: BoardInventory, blob: String) -> JSONValue {
        func provider(_ provider: Provider, _ extra: [(String, JSONValue)] = []) -> JSONValue {
            .object([
                ("path", .string(provider.path)), ("label", .optional(provider.label)),
                ("compatible", .array(provider.compatible.map(JSONValue.string))), ("cells", .number(provider.cells)),
            ] + extra)
        }
        let clocks = inventory.clockProviders.map { clock in
            provider(clock.provider, [
                ("output-names", .array(clock.outputNames.map(JSONValue.string))),
                ("fixed-rate", clock.fixedRate.map { .number($0) } ?? .null),
                ("assigned-rates", .array(clock.assignedRates.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { entry in
                    .object([("cells", .array(entry.key.map { .number($0) })), ("hz", .number(entry.value))])
                })),
            ])
        }
        let regulators = inventory.regulators.map { regulator in
            JSONValue.object([
                ("path", .string(regulator.path)), ("label", .optional(regulator.label)), ("name", .optional(regulator.name)),
                ("min-microvolt", regulator.minMicrovolts.map { .number($0) } ?? .null),
                ("max-microvolt", regulator.maxMicrovolts.map { .number($0) } ?? .null),
                ("always-on", .bool(regulator.alwaysOn)), ("boot-on", .bool(regulator.bootOn)), ("supply", .optional(regulator.supplyPath)),
            ])
        }
        let consumers = inventory.consumers.map { consumer in
            JSONValue.object([
                ("path", .string(consumer.path)), ("label", .optional(consumer.label)),
                ("compatible", .array(consumer.compatible.map(JSONValue.string))),
                ("references", .array(consumer.references.map { reference in
                    .object([
                        ("kind", .string(reference.kind.rawValue)), ("property", .string(reference.property)),
                        ("index", .number(reference.index)), ("name", .optional(reference.name)),
                        ("provider", .optional(reference.providerPath)), ("provider-label", .optional(reference.providerLabel)),
                        ("cells", .array(reference.cells.map { .number($0) })), ("resource-name", .optional(reference.resourceName)),
                        ("problem", .optional(reference.problem)),
                    ])
                })),
            ])
        }
        return .object([
            ("file", .string(blob)),
            ("symbols", .bool(inventory.hasSymbols)),
            ("clock-providers", .array(clocks)),
            ("regulators", .array(regulators)),
            ("reset-providers", .array(inventory.resetProviders.map { provider($0) })),
            ("power-domain-providers", .array(inventory.powerDomainProviders.map { provider($0) })),
            ("opp-tables", .array(inventory.oppTables.map { table in
                .object([("path", .string(table.path)), ("label", .optional(table.label)), ("frequencies", .array(table.frequencies.map { .number($0) }))])
            })),
            ("sensor-providers", .array(inventory.sensorProviders.map { provider($0.provider, [("kind", .string($0.kind.rawValue))]) })),
            ("scmi-platforms", .array(inventory.scmiPlatforms.map { provider($0.provider, [("protocols", .array($0.protocols.map { .number($0) }))]) })),
            ("consumers", .array(consumers)),
        ])
    }
}
