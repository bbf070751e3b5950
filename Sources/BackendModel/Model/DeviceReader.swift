import DeviceTree

/// Reads device nodes of the backend's `devices` into `DeviceDescription`s: each one's own
/// values (`DeviceScan`) and the resources it names, its base device's too. A device's reading
/// depends on no other device, so `BackendReader` runs two of these at once on a large backend,
/// each over a part of the children, and decides afterwards which devices are kept
/// (`DeviceAdmission`). Everything here only reads the tree, which is immutable.
struct DeviceReader {
    let backend: DeviceTreeNode
    private var findings: DiagnosticCollector
    private var scannedProperties = ScannedProperties()
    private var providerCells = ProviderCells()

    init(backend: DeviceTreeNode, file: String) {
        self.backend = backend
        self.findings = DiagnosticCollector(file: file)
    }

    /// Reads the enabled `device` nodes among `nodes` that have an id and a name, in order, into
    /// `slots` (uninitialized memory with room for `nodes.count`), and says where each one's
    /// findings end.
    mutating func read(_ nodes: some Collection<DeviceTreeNode>, into slots: UnsafeMutablePointer<DeviceDescription>) -> DevicePart {
        var ends: [DevicePart.Ends] = []
        var nameHashes: [UInt64] = []
        ends.reserveCapacity(nodes.count)
        nameHashes.reserveCapacity(nodes.count)
        for node in nodes where node.hasBaseName("device") {
            // One pass over the properties: a backend may have tens of thousands of devices.
            let scan = DeviceScan(node, kinds: &scannedProperties)
            guard scan.isEnabled, let id = scan.devid, let name = scan.devname else { continue }
            findings.checkUnitAddress(of: node, equals: id, property: "arm,scmi-devid")
            if let reg = scan.reg, reg != id {
                findings.add(
                    .unitAddressMismatch, at: node, property: "reg", "reg = \(formatNumber(reg)) differs from arm,scmi-devid = \(formatNumber(id))",
                    hint: "reg, the unit address and arm,scmi-devid are the same number")
            }
            let ownValues = findings.diagnostics.count
            // Filled in place: a description is a few hundred bytes with a dozen references,
            // and building it apart and then storing it copied all of them.
            let slot = slots + ends.count
            slot.initialize(
                to: DeviceDescription(
                    node: node, id: id, name: name, clockNames: scan.clockNames, direct: NodeResources(node: node),
                    basedev: nil, explicitIDs: scan.explicitIDs))
            readDevice(into: &slot.pointee, scan: scan)
            ends.append(DevicePart.Ends(ownValues: ownValues, resources: findings.diagnostics.count))
            nameHashes.append(DeviceNameIndex.asciiHash(name) ?? 0)
        }
        return DevicePart(ends: ends, nameHashes: nameHashes, diagnostics: findings.diagnostics)
    }

    /// Reads the resources of the device `device` describes (its node, id, name, clock
    /// names and explicit ids already in place).
    private mutating func readDevice(into device: inout DeviceDescription, scan: DeviceScan) {
        let node = device.node
        readResources(of: node, into: &device.direct, inBackend: true, clockNames: scan.clockNamesRead)
        device.direct.consumerName = device.name
        let clockNames = device.clockNames
        let clocks = device.direct.clocks.count
        // Compared with the clocks that resolved; a clocks property that did not resolve was reported.
        if !clockNames.isEmpty, clocks > 0, clockNames.count != clocks {
            findings.add(
                .clockNamesCount, at: node, property: "clock-names",
                "clock-names has \(clockNames.count) \(clockNames.count == 1 ? "entry" : "entries") but clocks has \(clocks)",
                hint: "give one name per clock, in the same order")
        }
        if scan.hasBasedev, let target = findings.resolveSinglePhandle(of: node, property: "arm,scmi-basedev") {
            if target == backend || target.isDescendant(of: backend) {
                findings.add(
                    .basedevInBackend, at: node, property: "arm,scmi-basedev",
                    "points at \(target.path), inside the backend; a base device is a host device node",
                    hint: "point it at the host node of the device (e.g. &gpu)")
            } else {
                if !target.isEnabled {
                    findings.add(
                        .basedevDisabled, at: node, property: "arm,scmi-basedev",
                        "base device \(target.path) is disabled; its resources are still exported")
                }
                var resources = NodeResources(node: target)
                readResources(of: target, into: &resources, inBackend: false)
                resources.consumerName = target.baseName
                if resources.isEmpty {
                    findings.add(
                        .basedevNoResources, at: node, property: "arm,scmi-basedev",
                        "base device \(target.path) has no clocks, supplies, resets or power domains")
                }
                device.basedev = resources
            }
        }
    }

    /// Reads the clocks, supplies, resets and power domains `node` names into `resources`
    /// (made for `node`). For nodes outside the backend the shape of the values is checked
    /// here too. `clockNames`: a `clock-names` property of `node` already decoded, with its
    /// position, reused when it is the one read here.
    ///
    /// One pass over the node's properties by name id finds the first of each name (what a
    /// lookup by name finds) instead of one search per name, and the specifier lists are
    /// walked in place (`SpecifierList`).
    private mutating func readResources(
        of node: DeviceTreeNode, into resources: inout NodeResources, inBackend: Bool, clockNames: (position: Int, list: [String])? = nil
    ) {
        let tree = node.tree
        var found = ResourcePositions()
        for position in node.propertyPositions {
            found.note(scannedProperties.kind(nameID: tree.propertyNameID(at: position), in: tree), at: position)
        }
        resources.namesResources = found.namesResources
        func names(at position: Int?) -> [String] {
            guard let position else { return [] }
            if let clockNames, clockNames.position == position { return clockNames.list }
            return tree.property(at: position).stringList ?? []
        }
        if let clocks = found.clocks {
            resources.clocks = specifiers(of: node, at: clocks, .clocks, inBackend: inBackend)
            resources.clockNames = names(at: found.clockNames)
        }
        if found.hasSupplies {
            for position in node.propertyPositions {
                let nameID = tree.propertyNameID(at: position)
                guard case .supply = scannedProperties.kind(nameID: nameID, in: tree) else { continue }
                let supply = scannedProperties.supplyName(nameID: nameID, in: tree)
                let regulator: DeviceTreeNode?
                if supply.isExact {
                    // The first property of this name: what a lookup by the name finds.
                    let first = node.propertyPositions.first { tree.propertyNameID(at: $0) == nameID }!
                    regulator = findings.resolveSupply(tree.property(at: first), named: supply.propertyName, of: node, inBackend: inBackend)
                } else {
                    regulator = findings.resolveSupply(of: node, property: supply.propertyName, inBackend: inBackend)
                }
                if let regulator { resources.supplies.append(SupplyReference(name: supply.consumerName, regulator: regulator)) }
            }
        }
        if let resets = found.resets {
            resources.resets = specifiers(of: node, at: resets, .resets, inBackend: inBackend)
            resources.resetNames = names(at: found.resetNames)
        }
        if let powerDomains = found.powerDomains {
            resources.powerDomains = specifiers(of: node, at: powerDomains, .powerDomains, inBackend: inBackend)
            resources.powerDomainNames = names(at: found.powerDomainNames)
        }
    }

    /// The entries of the specifier list at `position` of `node`'s properties; [] when it
    /// does not walk, which is reported.
    private mutating func specifiers(of node: DeviceTreeNode, at position: Int, _ list: SpecifierList, inBackend: Bool) -> [ResourceSpecifier] {
        let property = node.tree.property(at: position)
        var entries: [ResourceSpecifier] = []
        let walked = node.forEachSpecifier(
            in: property,
            argumentCount: { index, provider throws(SpecifierError) in try providerCells.count(of: provider, list, entry: index) }
        ) { provider, cells in
            entries.append(ResourceSpecifier(provider: provider, cells: cells.map { property.cell($0)! }))
        }
        if case .failure(let error) = walked {
            findings.report(error, at: node, property: list.propertyName, cellsName: list.cellsName, shapeAlreadyReported: inBackend)
            return []
        }
        return entries
    }
}

/// What `DeviceReader.read` made of a part of the children of `devices`: its devices are
/// in the caller's memory, in order; here, where each one's findings end in `diagnostics`.
struct DevicePart: Sendable {
    struct Ends: Sendable {
        /// The end of the findings on the device's own values (unit address, reg).
        var ownValues: Int
        /// The end of those on its resources, which count only if the device is kept.
        var resources: Int
    }

    var ends: [Ends]
    /// Per device, its name's `DeviceNameIndex.asciiHash`, 0 for a name that is not ASCII.
    var nameHashes: [UInt64]
    var diagnostics: [Diagnostic]
}

/// The address a `DeviceReader` on another thread fills. `@unchecked Sendable`: the threads
/// are given parts of the memory that do not overlap, and the owner reads a part only after
/// `BackgroundWork.wait()` has ordered the writes before the read.
struct DeviceSlots: @unchecked Sendable {
    let base: UnsafeMutablePointer<DeviceDescription>

    init(_ base: UnsafeMutablePointer<DeviceDescription>) { self.base = base }
}

/// Keeps the devices read, in tree order, unless one before has the same id or name, as
/// `BackendReader.readDevices` reading them one by one did, and records the id of each node kept.
struct DeviceAdmission {
    private var positionOfID: DeviceIDMap
    /// nil when no two devices read have the same name (`DeviceNameIndex.mayRepeat`), as in
    /// nearly every tree: then no name need be recorded.
    private var names: DeviceNameIndex?
    private(set) var idOfNode = NodeMap<UInt32>()

    init(expectedCount: Int, namesMayRepeat: Bool) {
        positionOfID = DeviceIDMap(expectedCount: expectedCount)
        names = namesMayRepeat ? DeviceNameIndex(expectedCount: expectedCount) : nil
    }

    /// Moves the devices of `part` (at `read`) that are kept down to `slots[count...]`,
    /// destroys the others, and adds the part's findings to `findings` in tree order: a device's
    /// findings on its own values, then why it is dropped or else those on its resources.
    /// `slots[0..<count]` are the devices kept so far; `read` is at or after `slots + count`.
    mutating func admit(
        _ part: DevicePart, at read: UnsafeMutablePointer<DeviceDescription>, slots: UnsafeMutablePointer<DeviceDescription>,
        count: inout Int, findings: inout DiagnosticCollector
    ) {
        var findingsEnd = 0
        for (index, ends) in part.ends.enumerated() {
            let device = read + index
            if findingsEnd < ends.ownValues { findings.append(part.diagnostics[findingsEnd..<ends.ownValues]) }
            findingsEnd = ends.resources
            let node = device.pointee.node
            let id = device.pointee.id
            if let other = positionOfID[id] {
                findings.add(.devidDuplicate, at: node, property: "arm,scmi-devid", "device id \(id) is already used by \(slots[other].path)")
                device.deinitialize(count: 1)
                continue
            }
            if names != nil {
                let name = device.pointee.name
                if let other = names!.recordingNew(name, at: count, names: { slots[$0].name }) {
                    findings.add(
                        .devnameDuplicate, at: node, property: "arm,scmi-devname",
                        "device name \"\(printable(name))\" is already used by \(slots[other].path)")
                    device.deinitialize(count: 1)
                    continue
                }
            }
            if ends.ownValues < ends.resources { findings.append(part.diagnostics[ends.ownValues..<ends.resources]) }
            positionOfID[id] = count
            idOfNode[node] = id
            if device != slots + count { (slots + count).moveInitialize(from: device, count: 1) }
            count += 1
        }
    }
}
