import DeviceTree
import ResourceTables

/// Reads the backend node into a `BackendDescription`, reporting the semantic
/// rules of docs/binding.md §1–§4 (uniqueness, unit addresses, phandle
/// targets). Malformed values were already reported by the schema; they read
/// as nil here and are skipped without a second finding.
struct BackendReader {
    let backend: DeviceTreeNode
    var findings: DiagnosticCollector

    static let defaultVendor = "SCMI-VIO-BE"

    /// Children of `devices` from which two threads read them (`parallelReadThreshold`;
    /// tests set it to compare a parallel reading with a sequential one).
    let parallelFrom: Int

    init(backend: DeviceTreeNode, file: String, parallelFrom: Int = BackendReader.parallelReadThreshold) {
        self.backend = backend
        self.findings = DiagnosticCollector(file: file)
        self.parallelFrom = parallelFrom
    }

    mutating func read() -> BackendDescription {
        findings.checkAddressCells(of: backend)
        let protocols = readProtocols()
        let enabled = Set(protocols.map(\.id))
        let (devices, deviceIDs) = readDevices(enabledProtocols: enabled)
        let agentsNode = backend.child(named: "agents")
        var agents: [AgentDescription] = []
        var implicit = false
        if let agentsNode, agentsNode.isEnabled {
            agents = readAgents(agentsNode, deviceIDs: deviceIDs, enabledProtocols: enabled)
        } else {
            implicit = true
            findings.add(
                .agentsImplicit, at: backend,
                "no agents node: one implicit agent (id 1, \"agent1\") gets every device and protocol, and so does every connection",
                hint: "add an agents node with one agent@N per guest")
        }
        return BackendDescription(
            node: backend,
            vendor: backend.property("arm,scmi-vendor")?.string ?? Self.defaultVendor,
            subVendor: backend.property("arm,scmi-sub-vendor")?.string ?? "",
            implementationVersion: backend.property("arm,scmi-impl-version")?.u32 ?? 1,
            protocols: protocols, devices: devices, agents: agents, agentsAreImplicit: implicit)
    }

    // MARK: - Protocols (section 2)

    private mutating func readProtocols() -> [ProtocolDescription] {
        var byID: [ProtocolID: ProtocolDescription] = [:]
        var seen: [UInt32: DeviceTreeNode] = [:]
        for node in backend.children where node.hasBaseName("protocol") {
            guard let reg = node.property("reg")?.u32 else { continue }  // schema: required, one cell
            findings.checkUnitAddress(of: node, equals: reg, property: "reg")
            if let first = seen[reg] {
                findings.add(.protocolDuplicate, at: node, property: "reg", "protocol \(hex(reg)) is already described by \(first.path)")
                continue
            }
            seen[reg] = node
            guard checkProtocolID(reg, at: node) else { continue }
            let id = ProtocolID(UInt8(reg))
            // A disabled protocol node turns the protocol off.
            guard node.isEnabled else { continue }
            byID[id] = readTable(of: node, id: id)
        }
        return byID.values.sorted { $0.id < $1.id }
    }

    /// True when `reg` names a protocol this backend serves; otherwise reports why not.
    private mutating func checkProtocolID(_ reg: UInt32, at node: DeviceTreeNode) -> Bool {
        if reg <= 0xFF, ProtocolID.servable.contains(ProtocolID(UInt8(reg))) { return true }
        switch reg {
        case 0x10:
            findings.add(
                .protocolBase, at: node, property: "reg", "protocol 0x10 (Base) is always implemented and must not be listed",
                hint: "delete this node")
        case 0x12, 0x18, 0x19, 0x80...0xFF:
            let name = [0x12: "system power", 0x18: "powercap", 0x19: "pin control"][reg].map { " (\($0))" } ?? " (vendor)"
            findings.add(
                .protocolUnimplemented, at: node, property: "reg", "protocol \(hex(reg))\(name) is not implemented by this backend",
                hint: "served protocols: 0x11, 0x13, 0x14, 0x15, 0x16, 0x17")
        default:
            findings.add(
                .protocolUnknown, at: node, property: "reg", "\(formatNumber(reg)) is not an SCMI protocol",
                hint: "SCMI protocol ids are 0x10..0x19 and 0x80..0xff; this backend serves 0x11, 0x13, 0x14, 0x15, 0x16, 0x17")
        }
        return false
    }

    /// The explicit table of a protocol node: its enabled children with a `reg`.
    private mutating func readTable(of node: DeviceTreeNode, id: ProtocolID) -> ProtocolDescription {
        let expectedKind = TableKind(protocol: id)
        var entries: [TableEntryNode] = []
        var firstWithID: [UInt32: DeviceTreeNode] = [:]
        let children = node.children
        if !children.isEmpty { findings.checkAddressCells(of: node) }
        for child in children where child.isEnabled {
            guard let kind = TableKind.allCases.first(where: { child.hasBaseName($0.nodeName) }) else { continue }  // schema: node-unknown
            if kind != expectedKind {
                findings.add(
                    .tableChildKind, at: child,
                    "a \(kind.nodeName) node does not belong in protocol \(id) (\(id.name)), whose entries are \(expectedKind.nodeName)@N",
                    hint: "move it under protocol@\(String(kind.protocolID.rawValue, radix: 16))")
                continue
            }
            guard let reg = child.property("reg")?.u32 else { continue }
            findings.checkUnitAddress(of: child, equals: reg, property: "reg")
            if let first = firstWithID[reg] {
                findings.add(.tableIDDuplicate, at: child, property: "reg", "id \(reg) is already taken by \(first.path)")
                continue
            }
            firstWithID[reg] = child
            entries.append(TableEntryNode(node: child, id: reg))
        }
        entries.sort { $0.id < $1.id }
        checkDense(entries, of: node)
        return ProtocolDescription(node: node, id: id, entries: entries, hasExplicitTable: !entries.isEmpty)
    }

    /// Explicit ids must be 0..N-1; names the missing ones (as ranges, at most a few).
    private mutating func checkDense(_ entries: [TableEntryNode], of node: DeviceTreeNode) {
        var missing: [String] = []
        var next: UInt64 = 0
        var gaps = 0
        for entry in entries {
            let id = UInt64(entry.id)
            if id > next {
                gaps += 1
                if missing.count < 6 { missing.append(id - 1 == next ? String(next) : "\(next)..\(id - 1)") }
            }
            next = id + 1
        }
        guard gaps > 0 else { return }
        let list = missing.joined(separator: ", ") + (gaps > missing.count ? ", …" : "")
        findings.add(
            .tableIDGap, at: node, "table ids must be dense from 0; missing: \(list)",
            hint: "renumber the entries 0..\(entries.count - 1)")
    }

    // MARK: - Devices (section 3)

    /// Reads the children of `devices`. Each device's own values and resources depend on no
    /// other device, so a large backend's are read by two threads, about a half each, straight into
    /// the array returned (`DeviceReader`). What does depend on the devices before — a repeated
    /// id or name, which drops the later device — is decided afterwards in tree order by
    /// `admit`, which also puts each device's findings where a one-by-one reading put them.
    private mutating func readDevices(enabledProtocols: Set<ProtocolID>) -> ([DeviceDescription], NodeMap<UInt32>) {
        guard let devicesNode = backend.child(named: "devices"), devicesNode.isEnabled else { return ([], NodeMap()) }
        findings.checkAddressCells(of: devicesNode)
        let children = devicesNode.children
        var idOfNode = NodeMap<UInt32>()
        let file = findings.file
        let devices = [DeviceDescription](unsafeUninitializedCapacity: children.count) { buffer, count in
            count = 0
            guard let slots = buffer.baseAddress else { return }
            // The other thread starts a little later and makes its own nodes: it takes a little less.
            let split = children.count >= parallelFrom ? children.count * 17 / 32 : children.count
            // The other thread reads nodes of a twin of the tree, whose reference count is its own
            // (FlattenedDeviceTree.twin()); a twin's node is the same node.
            let secondHalf = split == children.count ? nil : BackgroundWork { [backend, slots = DeviceSlots(slots + split), twin = backend.tree.twin()] in
                var reader = DeviceReader(backend: twin.node(at: backend.index), file: file)
                return reader.read(children[split...].lazy.map { twin.node(at: $0.index) }, into: slots.base)
            }
            var reader = DeviceReader(backend: backend, file: file)
            var parts = [(part: reader.read(children[..<split], into: slots), at: slots)]
            if let secondHalf { parts.append((secondHalf.wait(), slots + split)) }
            var admission = DeviceAdmission(
                expectedCount: children.count, namesMayRepeat: DeviceNameIndex.mayRepeat(parts.map(\.part.nameHashes)))
            for (part, read) in parts { admission.admit(part, at: read, slots: slots, count: &count, findings: &findings) }
            idOfNode = admission.idOfNode
        }
        return (devices, idOfNode)
    }

    /// Children of `devices` from which two threads read them: about where a thread costs less
    /// than the half of the reading it takes over.
    static let parallelReadThreshold = 2048

    static let idListProtocols: [String: ProtocolID] = [
        "arm,scmi-clock-ids": .clock, "arm,scmi-voltage-ids": .voltage, "arm,scmi-reset-ids": .reset,
        "arm,scmi-power-domain-ids": .powerDomain, "arm,scmi-sensor-ids": .sensor, "arm,scmi-perf-domain-ids": .performance,
    ]

    // MARK: - Agents (section 4)

    private mutating func readAgents(
        _ agentsNode: DeviceTreeNode, deviceIDs: NodeMap<UInt32>, enabledProtocols: Set<ProtocolID>
    ) -> [AgentDescription] {
        findings.checkAddressCells(of: agentsNode)
        var agents: [AgentDescription] = []
        var nodeWithID: [UInt32: DeviceTreeNode] = [:]
        var nodeWithName: [String: DeviceTreeNode] = [:]
        let devicesNode = backend.child(named: "devices")
        // Which agent (by its place in `agents`) listed each device node last: a device's id is
        // its node's alone, so this tells a repeated entry without hashing every id of a list
        // that may be a thousand devices long.
        var listedBy = NodeMap<Int32>()
        for node in agentsNode.children where node.hasBaseName("agent") && node.isEnabled {
            guard let id = node.property("reg")?.u32, let name = node.property("arm,scmi-agent-name")?.string else { continue }
            findings.checkUnitAddress(of: node, equals: id, property: "reg")
            if let other = nodeWithID[id] {
                findings.add(.agentIDDuplicate, at: node, property: "reg", "agent id \(id) is already used by \(other.path)")
                continue
            }
            if let other = nodeWithName[name] {
                findings.add(.agentNameDuplicate, at: node, property: "arm,scmi-agent-name", "agent name \"\(printable(name))\" is already used by \(other.path)")
                continue
            }
            nodeWithID[id] = node
            nodeWithName[name] = node

            var devices: [UInt32] = []
            switch node.phandles(of: "arm,scmi-devices") {
            case .none:
                break
            case .failure(let error)?:
                findings.report(error, at: node, property: "arm,scmi-devices", shapeAlreadyReported: true)
            case .success(let targets)?:
                for (index, target) in targets.enumerated() {
                    let device = target.provider
                    guard let devicesNode, device.parent == devicesNode, device.hasBaseName("device") else {
                        findings.add(
                            .agentDeviceInvalid, at: node, property: "arm,scmi-devices",
                            "entry \(index) points at \(device.path), which is not a device@ node of this backend",
                            hint: "list labels of nodes under \(backend.path)/devices")
                        continue
                    }
                    guard device.isEnabled else {
                        findings.add(
                            .agentDeviceDisabled, at: node, property: "arm,scmi-devices",
                            "entry \(index) points at the disabled device \(device.path); it is ignored")
                        continue
                    }
                    guard let id = deviceIDs[device], listedBy[device] != Int32(agents.count) else { continue }
                    listedBy[device] = Int32(agents.count)
                    devices.append(id)
                }
            }

            var protocols: [ProtocolID]?
            if let values = node.property("arm,scmi-protocols")?.u32Array, !values.isEmpty {
                var listed: [ProtocolID] = []
                for value in values {
                    guard value <= 0xFF, ProtocolID.servable.contains(ProtocolID(UInt8(value))) else { continue }  // schema: enum
                    let id = ProtocolID(UInt8(value))
                    guard enabledProtocols.contains(id) else {
                        findings.add(
                            .agentProtocolDisabled, at: node, property: "arm,scmi-protocols",
                            "protocol \(id) (\(id.name)) is not enabled in this backend",
                            hint: "add protocol@\(String(value, radix: 16)) to the backend or remove it here")
                        continue
                    }
                    if !listed.contains(id) { listed.append(id) }
                }
                protocols = listed.sorted()
            }
            agents.append(
                AgentDescription(
                    node: node, id: id, name: name, devices: devices, protocols: protocols,
                    trusted: node.hasProperty("arm,scmi-trusted")))
        }
        return agents
    }
}

extension DiagnosticCollector {
    /// Reports why a phandle-array property could not be walked, naming the entry.
    /// `cellsName` (`#clock-cells`) is given for specifier lists; with it the hint
    /// says how the entry before the bad one was sized, since one cell too many
    /// there is read as the next phandle (docs/binding-choices.md).
    mutating func report(
        _ error: SpecifierError, at node: DeviceTreeNode, property: String, cellsName: String? = nil, shapeAlreadyReported: Bool
    ) {
        switch error {
        case .notCells:
            if !shapeAlreadyReported {
                add(.propertyType, at: node, property: property, "is not a list of 32-bit cells (its length is not a multiple of 4)")
            }
        case .zeroPhandle(let index):
            add(.phandleZero, at: node, property: property, error.description, hint: misreadCellHint(node, property, cellsName, index))
        case .dangling(let index, _):
            add(
                .phandleDangling, at: node, property: property, error.description,
                hint: "the referenced node is missing or has no phandle" + (misreadCellHint(node, property, cellsName, index).map { "; or " + $0 } ?? ""))
        case .missingCellsProperty(let index, let provider, let cellsName):
            let what = describeNonProvider(provider)
            let hint =
                misreadCellHint(node, property, cellsName, index).map { $0 + "; " + provider.path + " is " + (what ?? "not a provider") }
                ?? what.map { "\(provider.path) is \($0), not a provider; point \(property) at a node with \(cellsName)" }
                ?? "add \(cellsName) to \(provider.path) if it is a provider, or point \(property) at the provider"
            add(.providerCellsMissing, at: node, property: property, error.description, hint: hint)
        case .badCellsProperty(_, let provider, let cellsName):
            add(
                .providerCellsInvalid, at: node, property: property, error.description,
                hint: "\(cellsName) in \(provider.path) must be one cell, e.g. <1>")
        case .truncated:
            add(.specifierTruncated, at: node, property: property, error.description)
        }
    }

    /// For entry `index` > 0 of a specifier list: how many cells the entry before it
    /// took, and that the value after them was read as this entry's phandle.
    private func misreadCellHint(_ node: DeviceTreeNode, _ property: String, _ cellsName: String?, _ index: Int) -> String? {
        guard index > 0, let cellsName, let value = node.property(property) else { return nil }
        var position = 0
        var previous: (provider: DeviceTreeNode, cells: Int)?
        for _ in 0..<index {
            guard let phandle = value.cell(position), let provider = node.tree.node(withPhandle: phandle),
                let cells = provider.property(cellsName)?.u32, cells <= SpecifierError.maximumCells
            else { return nil }
            previous = (provider, Int(cells))
            position += 1 + Int(cells)
        }
        guard let previous, let read = value.cell(position) else { return nil }
        let cells = previous.cells == 1 ? "1 cell" : "\(previous.cells) cells"
        return "entry \(index - 1) names \(previous.provider.path), which has \(cellsName) = <\(previous.cells)>, so it took \(cells) "
            + "and the next value, \(hex(read)), was read as the phandle of entry \(index); "
            + "if \(hex(read)) belongs to entry \(index - 1), remove it"
    }

    /// What a node without the expected `#…-cells` is, when it is recognisably not
    /// a provider of that kind: an OPP table, a CPU, a regulator, another kind of provider.
    private func describeNonProvider(_ node: DeviceTreeNode) -> String? {
        let compatible = node.compatible
        if compatible.contains("operating-points-v2") { return "an OPP table (compatible \"operating-points-v2\")" }
        if node.property("device_type")?.string == "cpu" { return "a CPU node" }
        if isRegulator(node) { return "a regulator (a supply, named with <name>-supply)" }
        if let other = node.properties.first(where: { $0.name.hasPrefix("#") && $0.name.hasSuffix("-cells") && !$0.name.hasSuffix("address-cells") && !$0.name.hasSuffix("size-cells") }) {
            return "a provider of another kind (it has \(other.name))"
        }
        if node.properties.contains(where: { $0.name == "opp-hz" }) { return "an OPP entry" }
        return nil
    }
}

/// What `ResourceScan`, `DeviceScan` and `readResources` make of a property, decided by its name alone.
enum ScannedProperty {
    case other, clocks, resets, powerDomains, supply
    case status, devid, devname, reg, basedev, clockNames, resetNames, powerDomainNames
    case idList(ProtocolID)

    init(name: String) {
        switch name {
        case "clocks": self = .clocks
        case "resets": self = .resets
        case "power-domains": self = .powerDomains
        case "status": self = .status
        case "arm,scmi-devid": self = .devid
        case "arm,scmi-devname": self = .devname
        case "reg": self = .reg
        case "arm,scmi-basedev": self = .basedev
        case "clock-names": self = .clockNames
        case "reset-names": self = .resetNames
        case "power-domain-names": self = .powerDomainNames
        default:
            if name.utf8.count > 7 && name.hasSuffix("-supply") {
                self = .supply
            } else if let protocolID = BackendReader.idListProtocols[name] {
                self = .idList(protocolID)
            } else {
                self = .other
            }
        }
    }
}

/// `ScannedProperty` per property name id of one tree, each worked out the first time the
/// name is met: a tree of 100,000 devices has a handful of distinct names, and comparing
/// each property's name with every name the scans know was a measurable part of `check`.
struct ScannedProperties {
    private var known: [ScannedProperty?] = []
    private var supplies: [SupplyName?] = []

    /// A `*-supply` property name and what is made of it.
    struct SupplyName {
        var propertyName: String
        /// The supply's name: the property's without `-supply` (`vdd`).
        var consumerName: String
        /// The decoded name spells the name's bytes (it was UTF-8), so the first property of
        /// its name id is the one a lookup by `propertyName` finds.
        var isExact: Bool
    }

    /// The kind of the properties with name id `nameID` in `tree`.
    mutating func kind(nameID: Int32, in tree: FlattenedDeviceTree) -> ScannedProperty {
        kind(id: Int(nameID)) { tree.propertyName(id: nameID) }
    }

    private mutating func kind(id: Int, name: () -> String) -> ScannedProperty {
        if id < known.count, let kind = known[id] { return kind }
        let kind = ScannedProperty(name: name())
        if id >= known.count { known += [ScannedProperty?](repeating: nil, count: id + 1 - known.count) }
        known[id] = kind
        return kind
    }

    /// The supply named by name id `nameID` of `tree`, a `.supply` kind.
    mutating func supplyName(nameID: Int32, in tree: FlattenedDeviceTree) -> SupplyName {
        let id = Int(nameID)
        if id < supplies.count, let supply = supplies[id] { return supply }
        let name = tree.propertyName(id: nameID)
        let supply = SupplyName(
            propertyName: name, consumerName: String(name.dropLast("-supply".count)), isExact: tree.propertyNameID(exactly: name) == nameID)
        if id >= supplies.count { supplies += [SupplyName?](repeating: nil, count: id + 1 - supplies.count) }
        supplies[id] = supply
        return supply
    }
}

/// Which resource properties a node has, found in one pass over its properties.
struct ResourceScan {
    var clocks = false
    var resets = false
    var powerDomains = false
    /// `*-supply` property names, in property order.
    var supplies: [String] = []

    var namesResources: Bool { clocks || resets || powerDomains || !supplies.isEmpty }

    init(_ node: DeviceTreeNode, kinds: inout ScannedProperties) {
        let tree = node.tree
        for position in node.propertyPositions {
            let nameID = tree.propertyNameID(at: position)
            switch kinds.kind(nameID: nameID, in: tree) {
            case .clocks: clocks = true
            case .resets: resets = true
            case .powerDomains: powerDomains = true
            case .supply: supplies.append(tree.propertyName(id: nameID))
            default: continue
            }
        }
    }
}

/// Where a node's resource properties are among its property positions: the first of each
/// name, which is the one a lookup by name finds.
struct ResourcePositions {
    var clocks: Int?
    var clockNames: Int?
    var resets: Int?
    var resetNames: Int?
    var powerDomains: Int?
    var powerDomainNames: Int?
    var hasSupplies = false

    var namesResources: Bool { clocks != nil || resets != nil || powerDomains != nil || hasSupplies }

    mutating func note(_ kind: ScannedProperty, at position: Int) {
        switch kind {
        case .clocks: if clocks == nil { clocks = position }
        case .clockNames: if clockNames == nil { clockNames = position }
        case .resets: if resets == nil { resets = position }
        case .resetNames: if resetNames == nil { resetNames = position }
        case .powerDomains: if powerDomains == nil { powerDomains = position }
        case .powerDomainNames: if powerDomainNames == nil { powerDomainNames = position }
        case .supply: hasSupplies = true
        default: break
        }
    }
}

/// The phandle-array properties a node names resources with.
enum SpecifierList: Int {
    case clocks, resets, powerDomains

    var propertyName: String {
        switch self {
        case .clocks: "clocks"
        case .resets: "resets"
        case .powerDomains: "power-domains"
        }
    }

    /// The provider's property that gives the argument count of an entry.
    var cellsName: String {
        switch self {
        case .clocks: "#clock-cells"
        case .resets: "#reset-cells"
        case .powerDomains: "#power-domain-cells"
        }
    }
}

/// The argument count of the last provider met per specifier list: the devices of a large
/// tree name the same few providers over and over (every clock one clock controller), and
/// looking its `#clock-cells` up by name again for every entry was a measurable part of
/// `check`. Only a count that was read is kept; a provider without one is asked again, so
/// its error is reported as before.
struct ProviderCells {
    private var provider = [-1, -1, -1]
    private var cells = [0, 0, 0]

    mutating func count(of node: DeviceTreeNode, _ list: SpecifierList, entry index: Int) throws(SpecifierError) -> Int {
        if provider[list.rawValue] == node.index { return cells[list.rawValue] }
        let count = try node.argumentCount(list.cellsName, entry: index)
        provider[list.rawValue] = node.index
        cells[list.rawValue] = count
        return count
    }
}

/// A device node's own properties, read in one pass over its positions in the tree's index
/// (making no `DeviceTreeProperty` for a property read as a number). Where a corrupt blob
/// repeats a name, the last one counts.
struct DeviceScan {
    var isEnabled = true
    var devid: UInt32?
    var devname: String?
    var reg: UInt32?
    var hasBasedev = false
    var clockNames: [String] = []
    /// Where `clockNames` was read, for `readResources` to reuse it.
    var clockNamesRead: (position: Int, list: [String])? { clockNamesPosition.map { ($0, clockNames) } }
    private var clockNamesPosition: Int?
    var explicitIDs: [(protocolID: ProtocolID, property: String, ids: [UInt32])] = []

    init(_ node: DeviceTreeNode, kinds: inout ScannedProperties) {
        let tree = node.tree
        for position in node.propertyPositions {
            let nameID = tree.propertyNameID(at: position)
            switch kinds.kind(nameID: nameID, in: tree) {
            case .status:
                let status = tree.property(at: position)
                isEnabled = status.isString("okay") || status.isString("ok")  // as DeviceTreeNode.isEnabled
            case .devid: devid = tree.u32Value(at: position)
            case .devname: devname = tree.property(at: position).string
            case .reg: reg = tree.u32Value(at: position)
            case .basedev: hasBasedev = true
            case .clockNames:
                clockNames = tree.property(at: position).stringList ?? []
                clockNamesPosition = position
            case .idList(let protocolID):
                guard let ids = tree.property(at: position).u32Array, !ids.isEmpty else { continue }
                explicitIDs.append((protocolID, tree.propertyName(id: nameID), ids))
            default:
                continue
            }
        }
    }
}

/// The device names read so far, each with the position of the first device of that name, for
/// telling a repeated `arm,scmi-devname` as String equality judges it (what a `[String: Int]`
/// did, at a SipHash of the name per device).
///
/// ASCII names (nearly all) go to an open-addressing table of positions (linear probing, at
/// most half full, sized for every child of `devices`), hashed as bytes with `TableHash`;
/// a slot holds the top 32 bits of the hash beside the position + 1, so names are compared
/// only when those match. For ASCII text String equality is byte equality, so the table and a
/// dictionary agree. A name with any other character may be canonically equivalent to another
/// spelling, even to an ASCII one (U+212A KELVIN SIGN and "K"): the first such name moves
/// every name to a dictionary for the rest of the read.
struct DeviceNameIndex {
    private var slots: [UInt64]
    private var general: [String: Int]?

    /// Room for `expectedCount` names (the children of `devices`: no more can be recorded) at
    /// most half full, so that a probe always ends at an empty slot.
    init(expectedCount: Int) {
        var size = 16
        while size < 2 * expectedCount { size *= 2 }
        slots = Array(repeating: 0, count: size)
    }

    /// The position of the first device named like `name`, or nil after recording `name` at
    /// `position`, the next position (every name recorded is a device appended, so positions
    /// `0..<position` are recorded). `names` gives the name of a device already recorded.
    mutating func recordingNew(_ name: String, at position: Int, names: (Int) -> String) -> Int? {
        if general == nil {
            if let hash = Self.asciiHash(name) {
                let tag = hash & 0xFFFF_FFFF_0000_0000
                let mask = slots.count - 1
                var slot = Int(truncatingIfNeeded: hash >> 32) & mask
                while slots[slot] != 0 {
                    let other = Int(UInt32(truncatingIfNeeded: slots[slot])) - 1
                    if slots[slot] & 0xFFFF_FFFF_0000_0000 == tag, names(other) == name { return other }
                    slot = (slot + 1) & mask
                }
                slots[slot] = tag | UInt64(position + 1)
                return nil
            }
            var all = [String: Int](minimumCapacity: 2 * position + 2)
            for earlier in 0..<position { all[names(earlier)] = earlier }
            general = all
        }
        if let other = general![name] { return other }
        general![name] = position
        return nil
    }

    /// The hash of an ASCII name's bytes (eight at a time, then the last one to seven, then
    /// the length, through `TableHash`), or nil when the name is not ASCII.
    /// Whether two of the names of `hashes` (by `asciiHash`, 0 for a name that is not ASCII) may
    /// be the same: false only when every name is ASCII and no two hashes are equal. It takes one
    /// tight pass, whose lookups the CPU overlaps; `recordingNew` for each device among the rest of
    /// its admission waited for one cache miss at a time (18 ms of 100,000 devices on our VM).
    static func mayRepeat(_ hashes: [[UInt64]]) -> Bool {
        var size = 16
        while size < 2 * hashes.reduce(0, { $0 + $1.count }) { size *= 2 }
        var table = [UInt64](repeating: 0, count: size)
        let mask = size - 1
        for list in hashes {
            for hash in list {
                if hash == 0 { return true }
                var slot = Int(truncatingIfNeeded: hash >> 32) & mask
                while table[slot] != 0 {
                    if table[slot] == hash { return true }
                    slot = (slot + 1) & mask
                }
                table[slot] = hash
            }
        }
        return false
    }

    static func asciiHash(_ name: String) -> UInt64? {
        func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
            let raw = UnsafeRawBufferPointer(bytes)
            var state = TableHash.seed
            var high: UInt64 = 0
            var position = 0
            while position + 8 <= raw.count {
                let word = raw.loadUnaligned(fromByteOffset: position, as: UInt64.self)
                high |= word
                state = TableHash.combine(state, word)
                position += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while position < raw.count {
                tail |= UInt64(raw[position]) << shift
                shift += 8
                position += 1
            }
            guard (high | tail) & 0x8080_8080_8080_8080 == 0 else { return nil }
            return TableHash.finish(TableHash.combine(TableHash.combine(state, tail), UInt64(raw.count)))
        }
        if let result = name.utf8.withContiguousStorageIfAvailable(hash) { return result }
        var copy = name
        return copy.withUTF8(hash)
    }
}
