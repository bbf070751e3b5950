import ResourceTables

/// Writes the guest side of one agent: the `scmi` node Linux's arm,scmi
/// binding wants (docs/protocol.md §19), to be placed inside the
/// guest's `/firmware` (what guest/run.sh --scmi-dtsi takes).
public enum GuestNode {
    /// Labels a guest's consumers reference: `clocks = <&scmi_clk 3>`.
    static let labels: [ProtocolID: String] = [
        .powerDomain: "scmi_pd", .performance: "scmi_perf", .clock: "scmi_clk", .sensor: "scmi_sensor", .reset: "scmi_reset",
        .voltage: "scmi_voltage",
    ]

    /// The node text for `agent`. `source` names the blob in the header comment.
    public static func render(_ tables: PlatformTables, agent: AgentEntry, source: String) -> String {
        let devicesByID = Dictionary(tables.devices.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let agentDevices = agent.devices.compactMap { devicesByID[$0] }
        // Which devices of this agent grant each resource.
        var grantedBy: [ResourceReference: [String]] = [:]
        for device in agentDevices {
            for reference in device.resources { grantedBy[reference, default: []].append(device.name) }
        }

        var out: [String] = []
        out.append("/*")
        out.append(" * SCMI node for agent \"\(comment(agent.name))\" (id \(agent.id)) of \(comment(source)),")
        out.append(" * written by `scmi-dt guest-dtsi`. It goes inside /firmware of the guest")
        out.append(" * devicetree (run.sh --scmi-dtsi). Reference resources by SCMI id:")
        out.append(" * clocks = <&scmi_clk ID>, resets = <&scmi_reset ID>, power-domains = <&scmi_pd ID>,")
        out.append(" * vdd-supply = <&LABEL> (labels below).")
        let deviceList = agentDevices.map { "\(comment($0.name)) (\($0.id))" }.joined(separator: ", ")
        out.append(" * Devices this agent may use: " + (deviceList.isEmpty ? "none" : deviceList))
        out.append(" */")
        out.append("scmi {")
        out.append("\tcompatible = \"arm,scmi-virtio\";")
        out.append("\t#address-cells = <1>;")
        out.append("\t#size-cells = <0>;")

        for id in agent.protocols {
            let names = entryNames(tables, id)
            let hexID = String(id.rawValue, radix: 16)
            func idComments(indent: String) -> [String] {
                names.enumerated().map { index, name in
                    let reference = ResourceReference(id, UInt32(index))
                    let users = grantedBy[reference].map { "used by " + $0.map(comment).joined(separator: ", ") } ?? "not usable by \(comment(agent.name))"
                    return "\(indent)/* \(index): \(comment(name)) (\(users)) */"
                }
            }
            out.append("")
            if id == .voltage {
                let usable = tables.voltageDomains.filter { grantedBy[ResourceReference(.voltage, $0.id)] != nil }
                guard !usable.isEmpty else {
                    out.append("\t/* protocol@17 (voltage) left out: \(comment(agent.name)) may use no voltage domain */")
                    continue
                }
                out.append("\t\(labels[id]!): protocol@\(hexID) {")
                out.append("\t\treg = <0x\(hexID)>;")
                out.append("")
                out.append("\t\tregulators {")
                out.append("\t\t\t#address-cells = <1>;")
                out.append("\t\t\t#size-cells = <0>;")
                var used = Set(labels.values)
                for domain in tables.voltageDomains where grantedBy[ResourceReference(.voltage, domain.id)] == nil {
                    out.append("\t\t\t/* \(domain.id): \(comment(domain.name)) (not usable by \(comment(agent.name))) */")
                }
                for domain in usable {
                    let label = uniqueLabel("scmi_" + labelText(domain.name), id: domain.id, used: &used)
                    out.append("")
                    out.append("\t\t\t\(label): regulator@\(String(domain.id, radix: 16)) {")
                    out.append("\t\t\t\treg = <\(domain.id)>;")
                    out.append("\t\t\t\tregulator-name = \(dtsString(domain.name));")
                    out.append("\t\t\t};")
                }
                out.append("\t\t};")
                out.append("\t};")
                continue
            }
            // A protocol with no resources at all is left out: Linux would
            // probe it, and its notification core refuses a protocol with no
            // sources ("Protocol:NN - Events Registration Failed - err:-22").
            guard !names.isEmpty else {
                out.append("\t/* protocol@\(hexID) (\(id.name)) left out: the board has none, and Linux refuses a protocol without resources */")
                continue
            }
            out.append("\t\(labels[id]!): protocol@\(hexID) {")
            out.append("\t\treg = <0x\(hexID)>;")
            switch id {
            case .clock: out.append("\t\t#clock-cells = <1>;")
            case .sensor: out.append("\t\t#thermal-sensor-cells = <1>;")
            case .reset: out.append("\t\t#reset-cells = <1>;")
            default: out.append("\t\t#power-domain-cells = <1>;")  // 0x11, and 0x13 as performance domains
            }
            out += idComments(indent: "\t\t")
            out.append("\t};")
        }
        out.append("};")
        return out.joined(separator: "\n") + "\n"
    }

    /// The names of a protocol's table, by id.
    static func entryNames(_ tables: PlatformTables, _ id: ProtocolID) -> [String] {
        switch id {
        case .clock: tables.clocks.map(\.name)
        case .voltage: tables.voltageDomains.map(\.name)
        case .powerDomain: tables.powerDomains.map(\.name)
        case .performance: tables.performanceDomains.map(\.name)
        case .sensor: tables.sensors.map(\.name)
        case .reset: tables.resetDomains.map(\.name)
        default: []
        }
    }

    /// Text safe inside a C comment, on one line.
    static func comment(_ text: String) -> String {
        printable(text).replacingOccurrences(of: "*/", with: "* /")
    }

    /// A dtc string literal.
    static func dtsString(_ text: String) -> String {
        var out = "\""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return out + "\""
    }

    /// `vcc-1v8` → `vcc_1v8`: a dtc label is [a-zA-Z_][a-zA-Z0-9_]*.
    static func labelText(_ name: String) -> String {
        var out = ""
        for scalar in name.lowercased().unicodeScalars {
            let keep = (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9")
            if keep {
                out.unicodeScalars.append(scalar)
            } else if !out.hasSuffix("_") {
                out += "_"
            }
        }
        while out.hasSuffix("_") { out.removeLast() }
        return out.isEmpty ? "vreg" : out
    }

    private static func uniqueLabel(_ label: String, id: UInt32, used: inout Set<String>) -> String {
        var candidate = label
        if used.contains(candidate) { candidate = label + "_\(id)" }
        while used.contains(candidate) { candidate += "_" }
        used.insert(candidate)
        return candidate
    }
}
