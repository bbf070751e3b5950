import DeviceTree
import Dispatch
import ResourceTables

/// A resource a device names, keyed as docs/binding.md §5 says resources are distinct.
struct SpecifierKey: Hashable, TableKey {
    var provider: DeviceTreeNode
    var cells: [UInt32]

    init(_ specifier: ResourceSpecifier) {
        provider = specifier.provider
        cells = specifier.cells
    }

    func tableHash(seed: UInt64) -> UInt64 {
        var state = TableHash.combine(seed, UInt64(provider.index))
        for cell in cells { state = TableHash.combine(state, UInt64(cell)) }
        return TableHash.finish(TableHash.combine(state, UInt64(cells.count)))
    }

    var densePlace: DensePlace? { DensePlace(node: provider.index, cells: cells) }
}

/// Turns a `BackendDescription` into `PlatformTables`: assigns ids (explicit
/// or derived, section 5), maps every device's resources to ids, then reads
/// each table entry's facts from its host node.
struct TableResolver {
    let backend: BackendDescription
    let schema: NodeSchema
    /// Spells the entries' host node paths (see `NodePath`).
    private let paths: NodePaths
    var findings: DiagnosticCollector
    /// Checks host-node properties (rates, steps) against the table entries' schemas.
    var hostValidator: StructuralValidator

    private var clocks = IDTable<SpecifierKey>()
    private var voltages = IDTable<DeviceTreeNode>()
    private var resets = IDTable<SpecifierKey>()
    private var powerDomains = IDTable<SpecifierKey>()
    /// Firmware performance domains (section 5.7): a host SCMI platform's protocol@13 named by a
    /// device's `clocks` or `power-domains`, or by a perf-domain entry.
    private var performance = IDTable<SpecifierKey>()
    /// The first consumer name met for each resource (section 5.1 names).
    private var clockConsumers = ConsumerNames()
    private var resetConsumers = ConsumerNames()
    private var powerDomainConsumers = ConsumerNames()
    private var performanceConsumers = ConsumerNames()
    /// Explicit table entry node of each id, per protocol.
    private var entryNodes: [ProtocolID: [DeviceTreeNode]] = [:]
    private var enabled = ProtocolFlags()
    /// Whether each clock provider is a 0 Hz fixed-clock placeholder, asked once per provider:
    /// thousands of devices name the clocks of a handful of controllers.
    private var placeholderMemo = NodeMap<Bool>()

    /// Where work that may run beside the resolution goes (a serial queue, on a large tree),
    /// or nil to do it all on the calling thread.
    let lane: DispatchQueue?

    init(backend: BackendDescription, schema: NodeSchema, file: String, lane: DispatchQueue? = nil) {
        self.lane = lane
        self.backend = backend
        self.schema = schema
        self.paths = NodePaths(backend.node.tree)
        self.findings = DiagnosticCollector(file: file)
        self.hostValidator = StructuralValidator(file: file)
    }

    var diagnostics: [Diagnostic] { findings.diagnostics + hostValidator.diagnostics }

    mutating func resolve() -> PlatformTables {
        for description in backend.protocols { enabled.insert(description.id) }
        readExplicitTables()
        // A device passed by value to these mutating methods is copied (a score of references
        // retained and released): the compiler keeps the element alive across a call that may
        // change `self`. `resolveDirectResources` therefore reads it in place, through a pointer.
        let described = backend.devices
        var devices: [DeviceEntry] = []
        devices.reserveCapacity(described.count)
        described.withUnsafeBufferPointer { buffer in
            for index in buffer.indices { devices.append(resolveDirectResources(of: buffer.baseAddress! + index, at: index)) }
        }
        // After every derived id is given: explicit ids are checked against the whole table. Most
        // devices have none, and asking that first spares the call its copy of the device.
        for index in described.indices where !described[index].explicitIDs.isEmpty {
            resolveExplicitIDs(of: described[index], into: &devices[index])
        }
        clockConsumers.share(among: clocks)
        resetConsumers.share(among: resets)
        powerDomainConsumers.share(among: powerDomains)
        performanceConsumers.share(among: performance)

        let protocols = backend.protocols.map(\.id)
        let agents: [AgentEntry]
        if backend.agentsAreImplicit {
            agents = [AgentEntry(id: 1, name: "agent1", devices: devices.map(\.id).sorted(), protocols: protocols, trusted: false)]
        } else {
            agents = backend.agents.map {
                AgentEntry(id: $0.id, name: $0.name, devices: $0.devices, protocols: $0.protocols ?? protocols, trusted: $0.trusted)
            }.sorted { $0.id < $1.id }
        }
        // Which host nodes use exported resources: a walk over every node of the tree that needs
        // only the ids given above, so on a large tree it runs on the lane while the entries'
        // facts are read here. Its findings are made below, in the same place as before.
        let hostUses = lane.map { lane in
            BackgroundWork(on: lane) { [backend, devices, clocks, voltages, resets, powerDomains, performance, twin = backend.node.tree.twin()] in
                SharingFindings.hostUses(
                    in: twin, backend: backend, devices: devices, holders: DeviceHolders(agents), clocks: clocks, regulators: voltages,
                    resets: resets, powerDomains: powerDomains, performanceDomains: performance)
            }
        }

        var facts = ResourceFacts(backend: backend, paths: paths, schema: schema, findings: findings, hostValidator: hostValidator)
        let clockEntries = enabled.contains(.clock) ? facts.clockEntries(clocks.keys, entryNodes: entryNodes[.clock] ?? [], devices: backend.devices, consumers: clockConsumers) : []
        let voltageEntries = enabled.contains(.voltage) ? facts.voltageEntries(voltages.keys, entryNodes: entryNodes[.voltage] ?? []) : []
        let resetEntries = enabled.contains(.reset) ? facts.providerEntries(resets.keys, entryNodes: entryNodes[.reset] ?? [], kind: "reset domain", consumers: resetConsumers) : []
        let powerEntries = enabled.contains(.powerDomain) ? facts.providerEntries(
                powerDomains.keys, entryNodes: entryNodes[.powerDomain] ?? [], kind: "power domain", consumers: powerDomainConsumers) : []
        let sensorEntries = enabled.contains(.sensor) ? facts.sensorEntries(entryNodes[.sensor] ?? []) : []
        let perfEntries = enabled.contains(.performance) ? facts.performanceEntries(
                performance.keys, entryNodes: entryNodes[.performance] ?? [], consumers: performanceConsumers) : []
        findings = facts.findings
        hostValidator = facts.hostValidator

        var tables = PlatformTables(
            vendor: backend.vendor, subVendor: backend.subVendor, implementationVersion: backend.implementationVersion,
            protocols: protocols, clocks: clockEntries, voltageDomains: voltageEntries, powerDomains: powerEntries,
            performanceDomains: perfEntries, sensors: sensorEntries, resetDomains: resetEntries,
            devices: Self.sortedByID(devices), agents: agents, agentsAreImplicit: backend.agentsAreImplicit,
            firmwareOrigins: firmwareOrigins(
                clocks: clockEntries, voltages: voltageEntries, resets: resetEntries, powerDomains: powerEntries, performance: perfEntries,
                sensors: sensorEntries))
        let usedByHost = SharingFindings(
            backend: backend, tables: tables, clocks: clockEntries.isEmpty ? IDTable() : clocks, regulators: voltageEntries.isEmpty ? IDTable() : voltages,
            resets: resetEntries.isEmpty ? IDTable() : resets, powerDomains: powerEntries.isEmpty ? IDTable() : powerDomains,
            performanceDomains: perfEntries.isEmpty ? IDTable() : performance
        ).report(
            into: &findings,
            hostUses: hostUses?.wait().dropping(
                Set([(ProtocolID.clock, clockEntries.isEmpty), (.voltage, voltageEntries.isEmpty), (.reset, resetEntries.isEmpty),
                    (.powerDomain, powerEntries.isEmpty), (.performance, perfEntries.isEmpty)].filter(\.1).map(\.0))))
        // The host's own constraint: a rail its devices use stays on (docs/binding.md §5.2).
        for index in tables.voltageDomains.indices where usedByHost.contains(tables.voltageDomains[index].id) {
            tables.voltageDomains[index].alwaysOn = true
            tables.voltageDomains[index].initiallyOn = true
        }
        return tables
    }

    /// The devices by id. Usually they are in id order already (boards number them as they
    /// list them), and one look says so without moving each entry.
    private static func sortedByID(_ devices: [DeviceEntry]) -> [DeviceEntry] {
        var ordered = true
        for index in devices.indices.dropFirst() where devices[index - 1].id >= devices[index].id {
            ordered = false
            break
        }
        return ordered ? devices : devices.sorted { $0.id < $1.id }
    }

    // MARK: - Firmware origins (section 5.7)

    /// Which served entries belong to a host SCMI platform node, by id.
    private mutating func firmwareOrigins(
        clocks clockEntries: [ClockEntry], voltages voltageEntries: [VoltageDomainEntry], resets resetEntries: [ProviderResourceEntry],
        powerDomains powerEntries: [ProviderResourceEntry], performance performanceEntries: [PerformanceDomainEntry],
        sensors sensorEntries: [SensorEntry]
    ) -> [ResourceReference: FirmwareOrigin] {
        var origins: [ResourceReference: FirmwareOrigin] = [:]
        func note(_ protocolID: ProtocolID, _ ids: [UInt32], _ keys: [SpecifierKey?]) {
            for id in ids {
                guard let key = keys[Int(id)], let origin = HostFirmware.origin(provider: key.provider, cells: key.cells, protocolID: protocolID, paths: paths)
                else { continue }
                origins[ResourceReference(protocolID, id)] = origin
            }
        }
        note(.clock, clockEntries.map(\.id), clocks.keys)
        note(.reset, resetEntries.map(\.id), resets.keys)
        note(.powerDomain, powerEntries.map(\.id), powerDomains.keys)
        note(.performance, performanceEntries.map(\.id), performance.keys)
        // By index: `for entry in` would copy each entry, retaining every array and string in it.
        for index in voltageEntries.indices {
            let id = voltageEntries[index].id
            guard let regulator = voltages.keys[Int(id)], let origin = HostFirmware.origin(regulator: regulator, paths: paths) else { continue }
            origins[ResourceReference(.voltage, id)] = origin
        }
        let sensorNodes = entryNodes[.sensor] ?? []
        for entry in sensorEntries where entry.source == .host && Int(entry.id) < sensorNodes.count {
            if let origin = firmwareSensor(of: sensorNodes[Int(entry.id)]) { origins[ResourceReference(.sensor, entry.id)] = origin }
        }
        // A label is the board's choice of name, which the firmware's name does not replace.
        for reference in origins.keys {
            let nodes = entryNodes[reference.protocolID] ?? []
            if Int(reference.id) < nodes.count, nodes[Int(reference.id)].hasProperty("label") { origins[reference]?.labelled = true }
        }
        return origins
    }

    /// A performance domain entry's `power-domains` or `clocks` (the first given): the
    /// firmware's domain when it names the protocol@13 node of a host SCMI platform node.
    private mutating func performanceKey(of node: DeviceTreeNode) -> SpecifierKey? {
        for (property, cellsName) in [("power-domains", "#power-domain-cells"), ("clocks", "#clock-cells")] where node.hasProperty(property) {
            return singleSpecifier(of: node, property, cellsName: cellsName)
        }
        return nil
    }

    /// A sensor entry's `arm,scmi-sensor = <&protocol15 id>`: one phandle of the protocol@15
    /// node of a host SCMI platform node and one cell, the firmware's sensor id; anything
    /// else is `sensor-firmware-invalid`, naming what it points at.
    private mutating func firmwareSensor(of node: DeviceTreeNode) -> FirmwareOrigin? {
        let cells = node.property("arm,scmi-sensor")?.u32Array ?? []
        let target = cells.count == 2 ? node.tree.node(withPhandle: cells[0]) : nil
        if let target, let origin = HostFirmware.origin(provider: target, cells: [cells[1]], protocolID: .sensor, paths: paths) { return origin }
        let problem: String
        if cells.count != 2 {
            problem = "is \(cells.count) cells; it must be one phandle and one sensor id"
        } else if let target {
            problem = "points at \(target.path), which is not the protocol@15 node of a host SCMI platform node (compatible \"arm,scmi\", …)"
        } else {
            problem = "points at phandle \(cells[0]), which no node has"
        }
        findings.add(
            .sensorFirmwareInvalid, at: node, property: "arm,scmi-sensor", problem,
            hint: "point it at the firmware's sensor protocol node: arm,scmi-sensor = <&scmi_sensor ID>")
        return nil
    }

    // MARK: - Ids

    /// Binds the explicit tables' ids to their host resources.
    private mutating func readExplicitTables() {
        for description in backend.protocols where description.hasExplicitTable {
            let count = description.entries.count
            entryNodes[description.id] = description.entries.map(\.node)
            switch description.id {
            case .clock:
                clocks = IDTable(explicitCount: count)
                for entry in description.entries {
                    if let key = singleSpecifier(of: entry.node, "clocks", cellsName: "#clock-cells") { clocks.assign(key, to: entry.id) }
                }
            case .reset:
                resets = IDTable(explicitCount: count)
                for entry in description.entries {
                    if let key = singleSpecifier(of: entry.node, "resets", cellsName: "#reset-cells") { resets.assign(key, to: entry.id) }
                }
            case .powerDomain:
                powerDomains = IDTable(explicitCount: count)
                for entry in description.entries {
                    if let key = singleSpecifier(of: entry.node, "power-domains", cellsName: "#power-domain-cells") {
                        powerDomains.assign(key, to: entry.id)
                    }
                }
            case .voltage:
                voltages = IDTable(explicitCount: count)
                for entry in description.entries {
                    if let regulator = findings.resolveSupply(of: entry.node, property: "arm,scmi-supply", inBackend: true) {
                        voltages.assign(regulator, to: entry.id)
                    }
                }
            case .performance:
                performance = IDTable(explicitCount: count)
                for entry in description.entries {
                    if let key = performanceKey(of: entry.node) { performance.assign(key, to: entry.id) }
                }
            default:
                break  // sensors have no device-side keys
            }
        }
    }

    /// The one specifier a table entry's `clocks`/`resets`/`power-domains` holds.
    private mutating func singleSpecifier(of node: DeviceTreeNode, _ property: String, cellsName: String) -> SpecifierKey? {
        switch node.specifiers(of: property, cellsName: cellsName) {
        case .success(let list)? where list.count == 1:
            return SpecifierKey(ResourceSpecifier(provider: list[0].provider, cells: list[0].cells))
        case .failure(let error)?:
            findings.report(error, at: node, property: property, cellsName: cellsName, shapeAlreadyReported: true)
            return nil
        default:
            return nil  // absent or not one entry: the schema said so
        }
    }

    /// Direct and base-device resources, in section 3 order, as SCMI ids.
    /// `device` (and its resources) are read field by field where they lie: see `resolve()`.
    /// `position`: the device's in `backend.devices`, where a consumer name is found again (`ConsumerSource`).
    private mutating func resolveDirectResources(of device: UnsafePointer<DeviceDescription>, at position: Int) -> DeviceEntry {
        let deviceNode = device.pointee.node
        // The base device's resources, copied once and only when there are some: they are kept out
        // of line (`DeviceDescription.basedev`), which no key path reaches, and few devices have them.
        var basedev = device.pointee.basedev
        // At most one reference per specifier, supply and explicit id: one allocation for the list.
        var references = ReferenceList(
            capacity: device.pointee.direct.referenceCount + (basedev?.referenceCount ?? 0) + device.pointee.explicitIDs.count)
        var unreachable: [ProtocolID: String] = [:]

        func add(_ reference: ResourceReference) { references.append(reference) }
        /// A clock or power domain whose provider is a host SCMI platform's protocol@13 is the
        /// firmware's performance domain (section 5.7), whichever property names it.
        func addPerformance(
            _ specifier: ResourceSpecifier, _ resources: UnsafePointer<NodeResources>, _ property: String, _ index: Int, _ names: [String],
            _ list: ConsumerSource.NamesList, viaBasedev: Bool
        ) {
            guard enabled.contains(.performance) else {
                unreachable[.performance] = unreachable[.performance] ?? (viaBasedev ? "arm,scmi-basedev" : property)
                return
            }
            if let id = performance.id(for: specifier) {
                add(ResourceReference(.performance, id))
                Self.noteConsumer(&performanceConsumers, id, resources, names, ConsumerSource(device: UInt32(position + 1), entry: UInt32(index), list: list, viaBasedev: viaBasedev))
            } else {
                reportNotInTable(deviceNode, .performance, property, index, specifier.description, viaBasedev: viaBasedev, from: resources.pointee.node)
            }
        }

        // The device's own resources, then its base device's: lent to this function, where a
        // `let` of either would copy the struct and retain each of its arrays.
        func addResources(_ resources: UnsafePointer<NodeResources>, viaBasedev: Bool) {
            let property = { (name: String) in viaBasedev ? "arm,scmi-basedev" : name }
            for (index, clock) in resources.pointee.clocks.enumerated() {
                if HostFirmware.isPerformanceProvider(clock.provider, cells: clock.cells) {
                    addPerformance(clock, resources, "clocks", index, resources.pointee.clockNames, .clocks, viaBasedev: viaBasedev)
                    continue
                }
                guard enabled.contains(.clock) else { unreachable[.clock] = unreachable[.clock] ?? property("clocks"); continue }
                if isPlaceholder(clock.provider) {
                    findings.add(
                        .fixedClockPlaceholder, at: deviceNode, property: property("clocks"),
                        "\(resources.pointee.node.path):clocks entry \(index) is \(clock.provider.path), a fixed-clock of 0 Hz (a placeholder); it is not exported",
                        hint: "nothing to do if \(resources.pointee.node.baseName) runs without it; otherwise point its clocks at the real clock")
                    continue
                }
                if let id = clocks.id(for: clock) {
                    add(ResourceReference(.clock, id))
                    Self.noteConsumer(
                        &clockConsumers, id, resources, resources.pointee.clockNames,
                        ConsumerSource(device: UInt32(position + 1), entry: UInt32(index), list: .clocks, viaBasedev: viaBasedev))
                } else {
                    reportNotInTable(deviceNode, .clock, "clocks", index, clock.description, viaBasedev: viaBasedev, from: resources.pointee.node)
                }
            }
            for supply in resources.pointee.supplies {
                guard enabled.contains(.voltage) else {
                    unreachable[.voltage] = unreachable[.voltage] ?? property(supply.name + "-supply")
                    continue
                }
                if let id = voltages.id(for: supply.regulator) {
                    add(ResourceReference(.voltage, id))
                } else {
                    reportNotInTable(deviceNode, .voltage, supply.name + "-supply", 0, supply.regulator.path, viaBasedev: viaBasedev, from: resources.pointee.node)
                }
            }
            for (index, reset) in resources.pointee.resets.enumerated() {
                guard enabled.contains(.reset) else { unreachable[.reset] = unreachable[.reset] ?? property("resets"); continue }
                if let id = resets.id(for: reset) {
                    add(ResourceReference(.reset, id))
                    Self.noteConsumer(
                        &resetConsumers, id, resources, resources.pointee.resetNames,
                        ConsumerSource(device: UInt32(position + 1), entry: UInt32(index), list: .resets, viaBasedev: viaBasedev))
                } else {
                    reportNotInTable(deviceNode, .reset, "resets", index, reset.description, viaBasedev: viaBasedev, from: resources.pointee.node)
                }
            }
            for (index, domain) in resources.pointee.powerDomains.enumerated() {
                if HostFirmware.isPerformanceProvider(domain.provider, cells: domain.cells) {
                    addPerformance(domain, resources, "power-domains", index, resources.pointee.powerDomainNames, .powerDomains, viaBasedev: viaBasedev)
                    continue
                }
                guard enabled.contains(.powerDomain) else {
                    unreachable[.powerDomain] = unreachable[.powerDomain] ?? property("power-domains")
                    continue
                }
                if let id = powerDomains.id(for: domain) {
                    add(ResourceReference(.powerDomain, id))
                    Self.noteConsumer(
                        &powerDomainConsumers, id, resources, resources.pointee.powerDomainNames,
                        ConsumerSource(device: UInt32(position + 1), entry: UInt32(index), list: .powerDomains, viaBasedev: viaBasedev))
                } else {
                    reportNotInTable(deviceNode, .powerDomain, "power-domains", index, domain.description, viaBasedev: viaBasedev, from: resources.pointee.node)
                }
            }
        }
        addResources(device.pointer(to: \.direct)!, viaBasedev: false)
        // Lent as `&` rather than through `withUnsafePointer(to:)`, whose closure would capture
        // this function's state in boxes checked for exclusive access at every use.
        if basedev != nil { addResources(&basedev!, viaBasedev: true) }
        for (protocolID, property) in unreachable.isEmpty ? [] : unreachable.sorted(by: { $0.key < $1.key }) {
            findings.add(
                .resourceUnreachable, at: deviceNode, property: property,
                "the device has \(protocolID.name) resources but protocol \(protocolID) is not enabled; guests cannot reach them",
                hint: "add protocol@\(String(protocolID.rawValue, radix: 16)) { reg = <\(protocolID)>; }; to the backend")
        }
        // Judged on what the node names, not on what resolved: a broken reference is reported on its own.
        // A base device read means the node has arm,scmi-basedev, without looking it up by name.
        if !device.pointee.direct.namesResources && device.pointee.explicitIDs.isEmpty && basedev == nil
            && !deviceNode.hasProperty("arm,scmi-basedev")
        {
            findings.add(
                .deviceNoResources, at: deviceNode, "the device has no clocks, supplies, resets, power domains or ids",
                hint: "name its resources, or point arm,scmi-basedev at its host node")
        }
        return DeviceEntry(id: device.pointee.id, name: device.pointee.name, path: paths.path(of: deviceNode), resources: references.list)
    }

    /// `isPlaceholderClock`, looked up once per provider.
    private mutating func isPlaceholder(_ provider: DeviceTreeNode) -> Bool {
        if let known = placeholderMemo[provider] { return known }
        let placeholder = isPlaceholderClock(provider)
        placeholderMemo[provider] = placeholder
        return placeholder
    }

    /// Records the first consumer name of the resource with `id`: `<consumer>-<names[entry]>`,
    /// where `source` says it is (the name is made only if an entry's name needs it).
    private static func noteConsumer(
        _ consumers: inout ConsumerNames, _ id: UInt32, _ resources: UnsafePointer<NodeResources>, _ names: [String], _ source: ConsumerSource
    ) {
        let entry = Int(source.entry)
        guard !consumers.contains(id), entry < names.count, !names[entry].isEmpty, !resources.pointee.consumerName.isEmpty else { return }
        consumers.note(id, source)
    }

    private mutating func reportNotInTable(
        _ deviceNode: DeviceTreeNode, _ protocolID: ProtocolID, _ property: String, _ index: Int, _ what: String,
        viaBasedev: Bool, from node: DeviceTreeNode
    ) {
        let table = backend.protocolDescription(protocolID)?.node.path ?? "protocol@\(String(protocolID.rawValue, radix: 16))"
        if viaBasedev {
            findings.add(
                .basedevResourceNotInTable, at: deviceNode, property: "arm,scmi-basedev",
                "\(node.path):\(property) entry \(index) (\(what)) is not in the explicit table of \(table); the guest cannot control it",
                hint: "add an entry for it to \(table)")
        } else {
            findings.add(
                .resourceNotInTable, at: deviceNode, property: property,
                "entry \(index) (\(what)) is not in the explicit table of \(table)",
                hint: "add an entry for it to \(table), or use derived ids (no table children)")
        }
    }

    /// `arm,scmi-*-ids`: the protocol must be enabled and every id in its table.
    private mutating func resolveExplicitIDs(of device: DeviceDescription, into entry: inout DeviceEntry) {
        var references = ReferenceList(entry.resources)
        entry.resources = []  // `references` holds the only copy, appended to in place
        defer { entry.resources = references.list }
        for (protocolID, property, ids) in device.explicitIDs {
            guard enabled.contains(protocolID) else {
                findings.add(
                    .idListProtocolDisabled, at: device.node, property: property,
                    "protocol \(protocolID) (\(protocolID.name)) is not enabled, so its ids mean nothing",
                    hint: "add protocol@\(String(protocolID.rawValue, radix: 16)) to the backend or remove \(property)")
                continue
            }
            let count = tableCount(protocolID)
            for id in ids {
                guard Int(id) < count else {
                    findings.add(
                        .idNotInTable, at: device.node, property: property,
                        "id \(id) is not in the \(protocolID.name) table, which has \(count == 0 ? "no entries" : "ids 0..\(count - 1)")")
                    continue
                }
                references.append(ResourceReference(protocolID, id))
            }
        }
    }

    private func tableCount(_ protocolID: ProtocolID) -> Int {
        switch protocolID {
        case .clock: clocks.count
        case .voltage: voltages.count
        case .reset: resets.count
        case .powerDomain: powerDomains.count
        case .performance: performance.count
        default: backend.protocolDescription(protocolID)?.entries.count ?? 0
        }
    }
}

/// A device's references, each appended once. A device names a handful of resources, so up to
/// `linearLimit` the list itself is searched; past that a set takes over, so a device with
/// thousands of resources stays linear. The list is kept here, where appending changes it in
/// place: handing a device entry's list to a check of membership retained it at every resource.
private struct ReferenceList {
    static let linearLimit = 16
    private(set) var list: [ResourceReference]
    private var members: Set<ResourceReference> = []

    /// A list of `list`'s references (distinct), with room for `capacity` in all.
    init(_ list: [ResourceReference] = [], capacity: Int = 0) {
        self.list = list
        // Asked only for more room: reserving on a list shared with the caller would copy it.
        if capacity > list.count { self.list.reserveCapacity(capacity) }
    }

    mutating func append(_ reference: ResourceReference) {
        if list.count < Self.linearLimit {
            guard !list.contains(reference) else { return }
        } else {
            if members.isEmpty { members = Set(list) }
            guard members.insert(reference).inserted else { return }
        }
        list.append(reference)
    }
}

extension NodeResources {
    /// How many references these resources can give a device at most: one per specifier and supply.
    fileprivate var referenceCount: Int { clocks.count + supplies.count + resets.count + powerDomains.count }
}

/// A set of protocols as one bit per protocol id (0...255): asked for every resource of every
/// device, where a `Set<ProtocolID>` would run a hasher each time.
private struct ProtocolFlags {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    mutating func insert(_ protocolID: ProtocolID) {
        let bit = UInt64(1) << (protocolID.rawValue & 63)
        switch protocolID.rawValue >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    func contains(_ protocolID: ProtocolID) -> Bool {
        let bit = UInt64(1) << (protocolID.rawValue & 63)
        switch protocolID.rawValue >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }
}
