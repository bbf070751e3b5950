import DeviceTree

/// One `--agent NAME=DEV,DEV[,trusted]`: a guest and the chosen devices it may use at start.
public struct AgentRequest: Sendable, Equatable {
    public var name: String
    public var devices: [String]
    public var trusted: Bool

    /// Parses `NAME=DEV,DEV[,trusted]` (DEV a label or a path, as given to `--device`).
    public init(parsing text: String) throws(ScaffoldError) {
        guard let equals = text.firstIndex(of: "=") else { throw .badAgent(text, "expected NAME=DEV,DEV[,trusted]") }
        name = String(text[..<equals])
        var devices = text[text.index(after: equals)...].split(separator: ",").map(String.init)
        trusted = devices.last == "trusted"
        if trusted { devices.removeLast() }
        guard Self.isSafeName(name) else {
            throw .badAgent(text, "the agent name must be 1 to 15 letters, digits, '.', '_' or '-', not starting with '.' or '-' (it names the agent's socket)")
        }
        self.devices = devices
    }

    /// docs/binding.md §4: an agent name is one safe file name.
    static func isSafeName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...15).contains(bytes.count), bytes[0] != UInt8(ascii: "."), bytes[0] != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x2e || $0 == 0x5f || $0 == 0x2d }
    }
}

/// Why `scaffold` cannot write an overlay for the request. Each names what the user typed.
public enum ScaffoldError: Error, Equatable, CustomStringConvertible, Sendable {
    case noDevices
    case unknownLabel(String, hasSymbols: Bool)
    case notANode(String)
    case disabled(String)
    case noResources(String)
    case chosenTwice(String, String)
    case agentDeviceNotChosen(agent: String, device: String)
    case agentTwice(String)
    case badAgent(String, String)

    public var description: String {
        switch self {
        case .noDevices:
            "choose at least one device with --device LABEL|PATH (scmi-dt inventory lists them)"
        case .unknownLabel(let label, let hasSymbols):
            hasSymbols
                ? "no node has the label '\(label)' (the blob's __symbols__ does not name it); scmi-dt inventory lists the devices"
                : "the blob has no __symbols__ (it was not built with dtc -@), so label '\(label)' cannot be found: name the device by its path"
        case .notANode(let path):
            "\(path) is not a node of the blob; scmi-dt inventory lists the devices"
        case .disabled(let device):
            "\(device) is disabled (status, or a disabled parent); a backend device for it would have no host device behind it"
        case .noResources(let device):
            "\(device) has no clocks, supplies, resets or power domains: nothing to give a guest"
        case .chosenTwice(let first, let second):
            "\(second) is the same device as \(first): choose each device once"
        case .agentDeviceNotChosen(let agent, let device):
            "agent \(agent) names \(device), which is not one of the --device choices"
        case .agentTwice(let agent):
            "agent \(agent) is given twice"
        case .badAgent(let text, let problem):
            "--agent \(text): \(problem)"
        }
    }
}

/// The overlay source `scaffold` writes and what it tells the user on standard error.
public struct ScaffoldOutput: Sendable {
    public var source: String
    /// Facts the host tree lacks, placeholders written, defaults chosen: one line each.
    public var notes: [String]
    /// The chosen devices' host paths, in devid order.
    public var devicePaths: [String]
}

/// Writes the `/plugin/;` source of an `arm,scmi-vio-backend` node for chosen devices of a board
/// (docs/board.md). Everything it writes is a fact read from the tree or a commented placeholder,
/// never a guessed value, so that `check` on the board plus this overlay has no error.
public struct BoardScaffold {
    let inventory: BoardInventory
    let tree: FlattenedDeviceTree
    let blobName: String

    /// Node index → position in `inventory.consumers`, so that choosing every device is linear.
    let consumerIndex: [Int: Int]

    public init(inventory: BoardInventory, tree: FlattenedDeviceTree, blobName: String) {
        self.inventory = inventory
        self.tree = tree
        self.blobName = blobName
        consumerIndex = Dictionary(inventory.consumers.enumerated().map { ($1.node.index, $0) }) { first, _ in first }
    }

    /// One chosen device: its consumer entry and how it is written.
    struct Choice {
        var consumer: Consumer
        var id: Int
        var name: String
        /// References a backend can take (the rest are written as commented placeholders).
        var exported: [Reference]
        var placeholders: [(Reference, String)]
    }

    public func write(devices: [String], agents: [AgentRequest]) throws(ScaffoldError) -> ScaffoldOutput {
        guard !devices.isEmpty else { throw .noDevices }
        var choices: [Choice] = []
        var chosenBy: [Int: String] = [:]
        var names = Set<String>()
        var notes: [String] = []
        for reference in devices {
            let consumer = try find(reference)
            if let first = chosenBy[consumer.node.index] { throw .chosenTwice(first, reference) }
            chosenBy[consumer.node.index] = reference
            var choice = Choice(consumer: consumer, id: choices.count, name: uniqueName(consumer, &names, id: choices.count), exported: [], placeholders: [])
            for entry in consumer.references {
                if let problem = problem(of: entry) { choice.placeholders.append((entry, problem)) } else { choice.exported.append(entry) }
            }
            for (entry, problem) in choice.placeholders {
                notes.append("\(consumer.path): \(entry.property)\(entry.kind == .supply ? "" : "[\(entry.index)]") is left out (commented): \(problem)")
            }
            if choice.exported.isEmpty {
                notes.append("\(consumer.path): none of its resources can be exported; the device is written without any (edit it by hand)")
            }
            choices.append(choice)
        }
        var agentLines: [String] = []
        var agentNames = Set<String>()
        let deviceIndex = Dictionary(uniqueKeysWithValues: devices.enumerated().map { ($1, $0) })
        for (position, agent) in agents.enumerated() {
            guard agentNames.insert(agent.name).inserted else { throw .agentTwice(agent.name) }
            var members: [String] = []
            for device in agent.devices {
                guard let index = deviceIndex[device] ?? resolveIndex(device, choices) else {
                    throw .agentDeviceNotChosen(agent: agent.name, device: device)
                }
                members.append("&scmi_dev\(index)")
            }
            agentLines.append(agentNode(id: position + 1, name: agent.name, devices: members, trusted: agent.trusted))
        }
        if agents.isEmpty {
            agentLines.append(agentNode(id: 1, name: "vm1", devices: choices.map { "&scmi_dev\($0.id)" }, trusted: false))
            notes.append("no --agent given: one agent, vm1, may use every device (socket vm1.sock with serve --socket-dir)")
        }
        let (clockNotes, clockComments) = rateNotes(choices)
        notes += clockNotes
        return ScaffoldOutput(
            source: render(choices, agentLines: agentLines, clockComments: clockComments, devices: devices),
            notes: notes, devicePaths: choices.map(\.consumer.path))
    }

    /// The consumer named by a label or a path.
    private func find(_ reference: String) throws(ScaffoldError) -> Consumer {
        let name = reference.hasPrefix("&") ? String(reference.dropFirst()) : reference
        let node: DeviceTreeNode
        if name.hasPrefix("/") {
            guard let found = tree.node(atPath: name) else { throw .notANode(reference) }
            node = found
        } else {
            guard let path = tree.node(atPath: "/__symbols__")?.property(name)?.string, let found = tree.node(atPath: path) else {
                throw .unknownLabel(name, hasSymbols: inventory.hasSymbols)
            }
            node = found
        }
        if let position = consumerIndex[node.index] { return inventory.consumers[position] }
        var current: DeviceTreeNode? = node
        while let checked = current {
            if !checked.isEnabled { throw .disabled(reference) }
            current = checked.parent
        }
        throw .noResources(reference)
    }

    /// An agent's device given by another spelling (a path for a label, `&x` for `x`).
    private func resolveIndex(_ device: String, _ choices: [Choice]) -> Int? {
        guard let consumer = try? find(device) else { return nil }
        return choices.first { $0.consumer.node == consumer.node }?.id
    }

    /// `arm,scmi-devname`: the label, else the node name; 1 to 63 printable bytes, unique.
    private func uniqueName(_ consumer: Consumer, _ names: inout Set<String>, id: Int) -> String {
        var name = String(String(decoding: (consumer.label ?? consumer.node.name).utf8.filter { $0 >= 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }, as: UTF8.self).prefix(56))
        if name.isEmpty { name = "device" }
        if !names.insert(name).inserted {
            name += "-\(id)"
            names.insert(name)
        }
        return name
    }

    /// Why the backend could not export `reference` through the host node (nil: it can).
    /// docs/binding.md §3 and §5.2: every entry must resolve, and an exported regulator needs
    /// both level bounds, min ≤ max ≤ 2147483647 µV.
    private func problem(of reference: Reference) -> String? {
        if let problem = reference.problem { return problem }
        if reference.kind == .clock, let provider = reference.provider, provider.compatible.contains("fixed-clock"),
            (provider.property("clock-frequency")?.u32 ?? 0) == 0
        {
            return "\(provider.path) is a fixed-clock without a non-zero clock-frequency"
        }
        guard reference.kind == .supply, let regulator = reference.provider else { return nil }
        guard let min = regulator.property("regulator-min-microvolt")?.u32,
            let max = regulator.property("regulator-max-microvolt")?.u32
        else {
            return "\(regulator.path) has no regulator-min-microvolt/regulator-max-microvolt; PLACEHOLDER: add its real levels to the regulator to export it"
        }
        guard min <= max, max <= UInt32(Int32.max) else { return "\(regulator.path) has invalid levels (\(min)..\(max) µV)" }
        return nil
    }

    /// `&label` when the base has labels, else a path reference (`&{/path}`).
    private func reference(to node: DeviceTreeNode, label: String?) -> String {
        if let label, inventory.hasSymbols { return "&" + label }
        return "&{" + node.path + "}"
    }

    /// The `<&provider cells…>` of one entry.
    private func entry(_ reference: Reference) -> String {
        let target = self.reference(to: reference.provider!, label: reference.providerLabel)
        return "<" + ([target] + reference.cells.map { "0x" + String($0, radix: 16) }).joined(separator: " ") + ">"
    }

    private func agentNode(id: Int, name: String, devices: [String], trusted: Bool) -> String {
        var lines = ["agent@\(String(id, radix: 16)) {", "\treg = <\(id)>;", "\tarm,scmi-agent-name = \"\(name)\";"]
        if !devices.isEmpty { lines.append("\tarm,scmi-devices = <" + devices.joined(separator: " ") + ">;") }
        if trusted { lines.append("\tarm,scmi-trusted;") }
        lines.append("};")
        return lines.joined(separator: "\n")
    }

    /// One note and one commented placeholder per clock provider whose rates the tree does not
    /// give (not a fixed clock, no assigned-clock-rates for the clock used). A protocol node of
    /// the host's SCMI firmware gets one note instead: the firmware gives its facts.
    private func rateNotes(_ choices: [Choice]) -> ([String], [String]) {
        var seen = Set<Int>()
        var notes: [String] = []
        var comments: [String] = []
        let providers = Dictionary(uniqueKeysWithValues: inventory.clockProviders.map { ($0.provider.node.index, $0) })
        for choice in choices {
            for reference in choice.exported {
                guard let node = reference.provider else { continue }
                if let protocolID = SCMIPlatformNode.firmwareProtocol(of: node) {
                    if seen.insert(node.index).inserted { notes.append(Self.firmwareNote(node, protocolID)) }
                    continue
                }
                guard reference.kind == .clock, let provider = providers[node.index] else { continue }
                if provider.fixedRate != nil || provider.assignedRates[reference.cells] != nil { continue }
                guard seen.insert(node.index).inserted else { continue }
                notes.append("\(provider.provider.path): the tree gives no rates for its clocks; scmi-dt serves 1 Hz to 4294967295 Hz until you describe them (placeholder written)")
                comments.append("/* PLACEHOLDER rates for \(provider.provider.path) (the tree gives none):\n * \(self.reference(to: node, label: provider.provider.label)) { arm,scmi-rate-range = <MIN MAX STEP>; };\n */")
            }
        }
        return (notes, comments)
    }

    /// What `scaffold` says of a provider that is a protocol node of the host's SCMI firmware.
    static func firmwareNote(_ node: DeviceTreeNode, _ protocolID: UInt32) -> String {
        let what = protocolID == 0x13 ? "performance domains (the backend's protocol@13 serves them)" : "resources"
        return "\(node.path): the host's SCMI firmware owns these \(what) and knows their rates and levels, so nothing is asked of the tree; "
            + "serve --upstream makes guests' requests reach the firmware (without it serve only keeps them in its model)"
    }

    private func render(_ choices: [Choice], agentLines: [String], clockComments: [String], devices: [String]) -> String {
        var protocols = Set<Int>()
        for choice in choices {
            for reference in choice.exported {
                // The firmware's performance domains, whether named as clocks or power domains.
                if let provider = reference.provider, SCMIPlatformNode.firmwareProtocol(of: provider) == 0x13, reference.kind != .supply {
                    protocols.insert(0x13)
                    continue
                }
                switch reference.kind {
                case .clock: protocols.insert(0x14)
                case .supply: protocols.insert(0x17)
                case .reset: protocols.insert(0x16)
                case .powerDomain: protocols.insert(0x11)
                }
            }
        }
        var out = """
            /*
             * arm,scmi-vio-backend overlay for \(blobName), written by scmi-dt scaffold for
             * \(devices.joined(separator: " ")).
             * Check it:  scmi-dt check \(blobName) --overlay THIS.dtso
             * Compile:   dtc -@ -I dts -O dtb -o THIS.dtbo THIS.dtso
             */
            /dts-v1/;
            /plugin/;

            &{/} {
            \tfirmware {
            \t\tscmi-vio-backend {
            \t\t\tcompatible = "arm,scmi-vio-backend";
            \t\t\t#address-cells = <1>;
            \t\t\t#size-cells = <0>;

            """
        for id in protocols.sorted() {
            let hex = String(id, radix: 16)
            out += "\t\t\tprotocol@\(hex) { reg = <0x\(hex)>; };\n"
        }
        out += "\n\t\t\tdevices {\n\t\t\t\t#address-cells = <1>;\n\t\t\t\t#size-cells = <0>;\n"
        for choice in choices { out += "\n" + indent(device(choice), "\t\t\t\t") }
        out += "\t\t\t};\n\n\t\t\tagents {\n\t\t\t\t#address-cells = <1>;\n\t\t\t\t#size-cells = <0>;\n"
        for agent in agentLines { out += "\n" + indent(agent, "\t\t\t\t") }
        out += "\t\t\t};\n\t\t};\n\t};\n};\n"
        for comment in clockComments { out += "\n" + comment + "\n" }
        return out
    }

    /// A `device@N`: the host node as base device when every resource can be exported, else
    /// the exportable ones listed and the rest commented out with the reason.
    private func device(_ choice: Choice) -> String {
        let consumer = choice.consumer
        var lines = [
            "/* \(consumer.path)\(consumer.compatible.first.map { " (\($0))" } ?? "") */",
            "scmi_dev\(choice.id): device@\(String(choice.id, radix: 16)) {",
            "\tarm,scmi-devid = <\(choice.id)>;",
            "\tarm,scmi-devname = \"\(choice.name)\";",
        ]
        if choice.placeholders.isEmpty {
            lines.append("\tarm,scmi-basedev = <\(reference(to: consumer.node, label: consumer.label))>;")
        } else {
            lines.append("\t/* not arm,scmi-basedev: some of the host node's resources cannot be exported (below) */")
            for kind in Reference.Kind.allCases where kind != .supply {
                let entries = choice.exported.filter { $0.kind == kind }
                if !entries.isEmpty { lines.append("\t\(kind.property) = " + entries.map(entry).joined(separator: ", ") + ";") }
            }
            for supply in choice.exported where supply.kind == .supply {
                lines.append("\t\(supply.property) = \(entry(supply));")
            }
            for (reference, problem) in choice.placeholders {
                let index = reference.kind == .supply ? "" : "[\(reference.index)]"
                lines.append("\t/* \(reference.property)\(index) left out: \(problem.replacing("*/", with: "* /")) */")
            }
        }
        lines.append("};")
        return lines.joined(separator: "\n")
    }

    private func indent(_ text: String, _ prefix: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { prefix + $0 }.joined(separator: "\n") + "\n"
    }
}
