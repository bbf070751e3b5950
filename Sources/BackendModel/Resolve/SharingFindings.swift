import DeviceTree
import ResourceTables

/// What the tables give away that someone else needs (docs/binding.md §3, "Sharing"):
/// one host device handed to two guests (`basedev-shared`), and an exported resource
/// that host devices no guest is given depend on (`resource-used-by-host`).
struct SharingFindings {
    let backend: BackendDescription
    let tables: PlatformTables
    /// Each protocol's id table: the host resource behind each id (nil: an entry that did not
    /// resolve), and the id of each resource. Empty for a protocol without entries.
    let clocks: IDTable<SpecifierKey>
    let regulators: IDTable<DeviceTreeNode>
    let resets: IDTable<SpecifierKey>
    let powerDomains: IDTable<SpecifierKey>
    /// Firmware performance domains, which host nodes name by `clocks` or `power-domains`.
    let performanceDomains: IDTable<SpecifierKey>

    var clockKeys: [SpecifierKey?] { clocks.keys }
    var regulatorKeys: [DeviceTreeNode?] { regulators.keys }
    var resetKeys: [SpecifierKey?] { resets.keys }
    var powerDomainKeys: [SpecifierKey?] { powerDomains.keys }
    var performanceKeys: [SpecifierKey?] { performanceDomains.keys }

    /// Most host users listed in one finding; the rest are counted.
    static let listedUsers = 4

    /// Reports the findings; returns the voltage domain ids that host devices use,
    /// which serve keeps on like `regulator-always-on` rails (docs/binding.md §5.2).
    /// `hostUses`: what `hostUses(backend:devices:holders:…)` found with the same devices,
    /// agents and id tables, when it was worked out ahead (on another thread), else nil.
    func report(into findings: inout DiagnosticCollector, hostUses: HostUses? = nil) -> Set<UInt32> {
        let holders = DeviceHolders(tables.agents)
        reportSharedBasedevs(holders: holders, into: &findings)
        let uses = hostUses ?? Self.hostUses(
            in: backend.node.tree, backend: backend, devices: tables.devices, holders: holders, clocks: clocks, regulators: regulators, resets: resets,
            powerDomains: powerDomains, performanceDomains: performanceDomains)
        return reportHostUsers(uses, holders: holders, into: &findings)
    }

    /// A host node that is the base device of two devices held by different agents.
    private func reportSharedBasedevs(holders: DeviceHolders, into findings: inout DiagnosticCollector) {
        // Position in backend.devices, index into tables.agents. Sparse: a base device is one
        // node in hundreds, and a slot of 24 bytes for every node was 3.8 MB at 100,000 devices.
        var firstHolder = SparseNodeMap<(device: Int, agent: Int)>()
        // By position, reading only the fields needed: copying a whole DeviceDescription per
        // device retains each of its arrays.
        for position in backend.devices.indices {
            guard let basedev = backend.devices[position].basedevNode, let agents = holders[backend.devices[position].id],
                let agent = agents.first
            else { continue }
            guard let first = firstHolder[basedev] else {
                firstHolder[basedev] = (position, agent)
                continue
            }
            guard let other = agents.first(where: { $0 != first.agent }) else { continue }
            let (firstName, otherName) = (tables.agents[first.agent].name, tables.agents[other].name)
            findings.add(
                .basedevShared, at: backend.devices[position].node, property: "arm,scmi-basedev",
                "\(basedev.path) is also the base device of \(backend.devices[first.device].path), held by \(firstName); this device is held by \(otherName): "
                    + "two guests would drive the same hardware",
                hint: "give \(basedev.path) to one device and let the agents share that device (arm,scmi-devices)")
        }
    }

    /// Exported resources that enabled host nodes outside the backend use, when no agent
    /// holds a device whose base device those nodes are. A provider's link to its own
    /// parent (a clock controller's `clocks`, a regulator's `vin-supply`, a power domain's
    /// parent) is not counted: the provider's consumers are the devices that depend on it.
    ///
    /// The walk over the host nodes, which needs only the devices' references, the agents and
    /// the id tables: `TableResolver` runs it beside reading the entries' facts, which the
    /// findings' wording needs. `devices` in any order. The walk goes over `tree`: the backend's
    /// tree, or a twin of it for another thread (FlattenedDeviceTree.twin()).
    static func hostUses(
        in tree: FlattenedDeviceTree, backend: BackendDescription, devices: [DeviceEntry], holders: DeviceHolders, clocks: IDTable<SpecifierKey>,
        regulators: IDTable<DeviceTreeNode>, resets: IDTable<SpecifierKey>, powerDomains: IDTable<SpecifierKey>,
        performanceDomains: IDTable<SpecifierKey>
    ) -> HostUses {
        var exported = ReferenceFlags()
        var givenHostNodes = NodeSet()
        for position in backend.devices.indices where holders.holds(backend.devices[position].id) {
            if let basedev = backend.devices[position].basedevNode { givenHostNodes.insert(basedev) }
        }
        for position in devices.indices where holders.holds(devices[position].id) {
            for reference in devices[position].resources { exported.insert(reference) }
        }
        guard !exported.isEmpty else { return HostUses() }
        // The exported id of each host resource. A derived table gives each resource one id, so
        // its own index answers, the id then checked against `exported`. An explicit table may
        // give one resource several ids: the lowest exported one is wanted, which needs an index
        // of the exported ids alone, built at the first host node that names a resource of its
        // kind (explicit tables are written by hand, and short).
        func index<Key: TableKey>(_ table: IDTable<Key>, _ protocolID: ProtocolID) -> IDTable<Key> {
            guard table.isExplicit else { return table }
            var ids = IDTable<Key>(explicitCount: table.count)
            for (id, key) in table.keys.enumerated() {
                if let key, exported.contains(ResourceReference(protocolID, UInt32(id))) { ids.assign(key, to: UInt32(id)) }
            }
            return ids
        }
        var clockIDs: IDTable<SpecifierKey>?
        var regulatorIDs: IDTable<DeviceTreeNode>?
        var resetIDs: IDTable<SpecifierKey>?
        var powerDomainIDs: IDTable<SpecifierKey>?
        var performanceIDs: IDTable<SpecifierKey>?
        func built<Key: TableKey>(_ memo: inout IDTable<Key>?, _ table: IDTable<Key>, _ protocolID: ProtocolID) -> IDTable<Key> {
            if memo == nil { memo = index(table, protocolID) }
            return memo!
        }
        /// `id`, when it is exported.
        func exportedID(_ id: UInt32?, _ protocolID: ProtocolID) -> UInt32? {
            guard let id, exported.contains(ResourceReference(protocolID, id)) else { return nil }
            return id
        }

        var users: [ResourceReference: [DeviceTreeNode]] = [:]
        func use(_ reference: ResourceReference, by node: DeviceTreeNode) {
            if users[reference]?.last != node { users[reference, default: []].append(node) }
        }
        func specifiers(of node: DeviceTreeNode, _ property: String, _ cellsName: String, _ ids: IDTable<SpecifierKey>, _ protocolID: ProtocolID) {
            guard !ids.isEmpty, !node.hasProperty(cellsName), case .success(let list)? = node.specifiers(of: property, cellsName: cellsName, allowingHoles: true)
            else { return }
            for specifier in list {
                if let id = exportedID(ids.existingID(provider: specifier.provider, cells: specifier.cells), protocolID) {
                    use(ResourceReference(protocolID, id), by: node)
                }
            }
        }
        let backendNode = tree.node(at: backend.node.index)
        // Which resource properties a node has, from one pass over its property names (as the
        // reader finds them): most host nodes have none, and are left after that pass.
        var kinds = ScannedProperties()
        // Before that pass, whether any of its property name ids is a resource property's: a
        // comparison of integers per property, where the scan makes a property value of each.
        var resourceNameIDs = [Bool](repeating: false, count: tree.propertyNameCount)
        for id in resourceNameIDs.indices {
            switch ScannedProperty(name: tree.propertyName(id: Int32(id))) {
            case .clocks, .resets, .powerDomains, .supply: resourceNameIDs[id] = true
            default: continue
            }
        }
        tree.forEachNode { node in
            guard node != backendNode, !node.isDescendant(of: backendNode), !givenHostNodes.contains(node),
                node.propertyPositions.contains(where: { resourceNameIDs[Int(tree.propertyNameID(at: $0))] }), node.isEnabled
            else { return }
            let scan = ResourceScan(node, kinds: &kinds)
            guard scan.namesResources else { return }
            if scan.clocks { specifiers(of: node, "clocks", "#clock-cells", built(&clockIDs, clocks, .clock), .clock) }
            if scan.resets { specifiers(of: node, "resets", "#reset-cells", built(&resetIDs, resets, .reset), .reset) }
            if scan.powerDomains {
                specifiers(of: node, "power-domains", "#power-domain-cells", built(&powerDomainIDs, powerDomains, .powerDomain), .powerDomain)
            }
            if scan.clocks { specifiers(of: node, "clocks", "#clock-cells", built(&performanceIDs, performanceDomains, .performance), .performance) }
            if scan.powerDomains {
                specifiers(of: node, "power-domains", "#power-domain-cells", built(&performanceIDs, performanceDomains, .performance), .performance)
            }
            guard !scan.supplies.isEmpty, !isRegulator(node) else { return }
            let regulatorIDs = built(&regulatorIDs, regulators, .voltage)
            guard !regulatorIDs.isEmpty else { return }
            for name in scan.supplies {
                guard let phandle = node.property(name)?.u32, let regulator = node.tree.node(withPhandle: phandle),
                    let id = exportedID(regulatorIDs.existingID(for: regulator), .voltage)
                else { continue }
                use(ResourceReference(.voltage, id), by: node)
            }
        }
        return HostUses(users: users)
    }

    /// Reports the resources of `uses` (`hostUses`) with the agents they are exported to.
    private func reportHostUsers(_ uses: HostUses, holders: DeviceHolders, into findings: inout DiagnosticCollector) -> Set<UInt32> {
        let users = uses.users
        // Which agents hold each resource reported: worked out for those alone, since a set
        // per exported resource was a large part of `check` on trees of 100,000 devices.
        var reported = ReferenceFlags()
        for reference in users.keys { reported.insert(reference) }
        var exportedTo: [ResourceReference: Set<Int>] = [:]  // resource → agent indices
        // By position: `for device in` would copy each entry, retaining its strings and list.
        for position in tables.devices.indices where !reported.isEmpty {
            guard let agents = holders[tables.devices[position].id] else { continue }
            for reference in tables.devices[position].resources where reported.contains(reference) {
                exportedTo[reference, default: []].formUnion(agents)
            }
        }
        var keptOn = Set<UInt32>()
        for (reference, nodes) in users.sorted(by: { ($0.key.protocolID, $0.key.id) < ($1.key.protocolID, $1.key.id) }) {
            guard let (what, hostNode) = describe(reference) else { continue }
            let listed = nodes.prefix(Self.listedUsers).map(\.path).joined(separator: ", ")
            let more = nodes.count > Self.listedUsers ? " and \(nodes.count - Self.listedUsers) more" : ""
            let agents = (exportedTo[reference] ?? []).sorted().map { tables.agents[$0].name }.joined(separator: ", ")
            // A rail the host needs is never switched off; a clock has no such guard.
            let consequence = reference.protocolID == .voltage ? "the host depends on it, so serve never switches it off" : "the host depends on it"
            if reference.protocolID == .voltage { keptOn.insert(reference.id) }
            findings.add(
                .resourceUsedByHost, at: hostNode,
                "\(what) is exported to \(agents), and host devices no agent is given also use it: \(listed)\(more); \(consequence)",
                hint: "keep it for the host (take it out of the guests' devices), or make sure a guest that switches it off or slows it harms none of them")
        }
        return keptOn
    }

    /// `clock 3 (gpu-core, <0x106>)` and the host node the resource comes from.
    private func describe(_ reference: ResourceReference) -> (String, DeviceTreeNode)? {
        let id = Int(reference.id)
        func cells(_ key: SpecifierKey) -> String { key.cells.isEmpty ? "" : ", <" + key.cells.map(hex).joined(separator: " ") + ">" }
        switch reference.protocolID {
        case .clock:
            guard id < clockKeys.count, let key = clockKeys[id], let entry = Self.entry(reference.id, in: tables.clocks, id: \.id) else { return nil }
            return ("clock \(id) (\(printable(entry.name))\(cells(key)))", key.provider)
        case .voltage:
            guard id < regulatorKeys.count, let regulator = regulatorKeys[id], let entry = Self.entry(reference.id, in: tables.voltageDomains, id: \.id)
            else { return nil }
            return ("voltage domain \(id) (\(printable(entry.name)))", regulator)
        case .reset:
            guard id < resetKeys.count, let key = resetKeys[id] else { return nil }
            return ("reset domain \(id) (\(key.provider.baseName)\(cells(key)))", key.provider)
        case .powerDomain:
            guard id < powerDomainKeys.count, let key = powerDomainKeys[id] else { return nil }
            return ("power domain \(id) (\(key.provider.baseName)\(cells(key)))", key.provider)
        case .performance:
            guard id < performanceKeys.count, let key = performanceKeys[id] else { return nil }
            return ("performance domain \(id) (\(key.provider.baseName)\(cells(key)))", key.provider)
        default:
            return nil
        }
    }

    /// The entry with `id`: at index `id` unless an entry before it did not resolve.
    private static func entry<Entry>(_ id: UInt32, in entries: [Entry], id key: KeyPath<Entry, UInt32>) -> Entry? {
        if Int(id) < entries.count, entries[Int(id)][keyPath: key] == id { return entries[Int(id)] }
        return entries.first { $0[keyPath: key] == id }
    }
}

/// The agents that hold each device: for a device id, the indices into the agents' list of
/// the agents whose `devices` name it, in that order. Kept as one array of agent indices,
/// each device's run found by id through a `DeviceIDMap`, rather than a dictionary of
/// arrays: one allocation in all instead of one per device, and no hashing of dense ids.
/// The host nodes outside the backend that use each exported resource, in tree order.
struct HostUses: Sendable {
    var users: [ResourceReference: [DeviceTreeNode]] = [:]

    /// These uses without those of the protocols `dropping` holds: what the walk finds
    /// when it is given an empty id table for them (a protocol without entries).
    func dropping(_ protocols: Set<ProtocolID>) -> HostUses {
        protocols.isEmpty ? self : HostUses(users: users.filter { !protocols.contains($0.key.protocolID) })
    }
}

struct DeviceHolders: Sendable {
    private var positions: DeviceIDMap
    /// Per device (by its position), where its run starts in `agents`; one more at the end.
    private var starts: [Int] = []
    private var agents: [Int] = []

    init(_ agentEntries: [AgentEntry]) {
        positions = DeviceIDMap(expectedCount: agentEntries.reduce(0) { $0 + $1.devices.count })
        var counts: [Int] = []
        for agent in agentEntries {
            for device in agent.devices {
                if let position = positions[device] {
                    counts[position] += 1
                } else {
                    positions[device] = counts.count
                    counts.append(1)
                }
            }
        }
        starts.reserveCapacity(counts.count + 1)
        var total = 0
        for count in counts {
            starts.append(total)
            total += count
        }
        starts.append(total)
        agents = Array(repeating: 0, count: total)
        var filled = Array(starts.dropLast())
        for (index, agent) in agentEntries.enumerated() {
            for device in agent.devices {
                guard let position = positions[device] else { continue }  // every one was placed above
                agents[filled[position]] = index
                filled[position] += 1
            }
        }
    }

    /// True when an agent holds the device with `id` (without the slice, which counts a reference).
    func holds(_ id: UInt32) -> Bool { positions[id] != nil }

    /// The agents holding the device with `id`; nil when none does.
    subscript(id: UInt32) -> ArraySlice<Int>? {
        guard let position = positions[id] else { return nil }
        return agents[starts[position]..<starts[position + 1]]
    }
}

/// One flag per id of the protocols whose resources host nodes can use (clock, voltage,
/// reset, power domain, performance domain): ids are dense from 0, so a flag is an array index, not a hash.
/// References of other protocols are never members.
private struct ReferenceFlags {
    private var clock: [Bool] = []
    private var voltage: [Bool] = []
    private var reset: [Bool] = []
    private var powerDomain: [Bool] = []
    private var performance: [Bool] = []
    private(set) var isEmpty = true

    mutating func insert(_ reference: ResourceReference) {
        let id = Int(reference.id)
        func set(_ flags: inout [Bool]) {
            // Appended in place (ids mostly come one more at a time): no array of falses made per id.
            if id >= flags.count { flags.append(contentsOf: repeatElement(false, count: id + 1 - flags.count)) }
            flags[id] = true
        }
        switch reference.protocolID {
        case .clock: set(&clock)
        case .voltage: set(&voltage)
        case .reset: set(&reset)
        case .powerDomain: set(&powerDomain)
        case .performance: set(&performance)
        default: return
        }
        isEmpty = false
    }

    func contains(_ reference: ResourceReference) -> Bool {
        let id = Int(reference.id)
        func get(_ flags: [Bool]) -> Bool { id < flags.count && flags[id] }
        switch reference.protocolID {
        case .clock: return get(clock)
        case .voltage: return get(voltage)
        case .reset: return get(reset)
        case .powerDomain: return get(powerDomain)
        case .performance: return get(performance)
        default: return false
        }
    }
}
