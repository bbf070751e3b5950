import ResourceTables
import SCMIPlatform

/// Every served resource's host binding (docs/serve.md, "Host bindings"), kept by the
/// server for `status`: only the bindings, not the tables they were decided from
/// (those hold the indexed tree, which serve does not keep).
struct HostBindingMap: Sendable {
    /// Per protocol, its table's ids, ascending: the resources that have a binding.
    private var ids: [ProtocolID: [UInt32]] = [:]
    /// The binding of a resource no host SCMI platform provides: most of them, so only the
    /// others are kept one by one (`firmware`), not a dictionary entry per resource.
    private let local: HostBinding
    private var firmware: [ResourceReference: HostBinding] = [:]

    init(_ tables: PlatformTables, upstreamGiven: Bool, hookGiven: Bool) {
        local = HostBinding.decide(origin: nil, upstreamGiven: upstreamGiven, hookGiven: hookGiven)
        for protocolID in tables.protocols {
            ids[protocolID] = Self.ids(tables, protocolID).sorted()
        }
        for (reference, origin) in tables.firmwareOrigins {
            firmware[reference] = HostBinding.decide(origin: origin, upstreamGiven: upstreamGiven, hookGiven: hookGiven)
        }
    }

    /// The ids of a protocol's table (a table may skip ids).
    private static func ids(_ tables: PlatformTables, _ protocolID: ProtocolID) -> [UInt32] {
        switch protocolID {
        case .clock: tables.clocks.map(\.id)
        case .voltage: tables.voltageDomains.map(\.id)
        case .powerDomain: tables.powerDomains.map(\.id)
        case .performance: tables.performanceDomains.map(\.id)
        case .sensor: tables.sensors.map(\.id)
        case .reset: tables.resetDomains.map(\.id)
        default: []
        }
    }

    func binding(_ protocolID: ProtocolID, _ id: UInt32) -> HostBinding? {
        guard let known = ids[protocolID], Self.contains(known, id) else { return nil }
        return firmware[ResourceReference(protocolID, id)] ?? local
    }

    /// Whether ascending `sorted` holds `id` (binary search).
    private static func contains(_ sorted: [UInt32], _ id: UInt32) -> Bool {
        var low = 0, high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low < sorted.count && sorted[low] == id
    }

    /// `snapshot` with each resource's binding filled in.
    func marking(_ snapshot: PlatformSnapshot) -> PlatformSnapshot {
        var snapshot = snapshot
        for table in snapshot.tables.indices {
            let protocolID = ProtocolID(rawValue: snapshot.tables[table].protocolID)
            for resource in snapshot.tables[table].resources.indices {
                snapshot.tables[table].resources[resource].host = binding(protocolID, snapshot.tables[table].resources[resource].id)?.rawValue
            }
        }
        return snapshot
    }

    /// "2 firmware resources (clock 0 1 of /firmware/scmi)" when resources of a host SCMI
    /// platform are served and no upstream is given: what start logs, once; nil otherwise.
    static func firmwareWithoutUpstream(_ tables: PlatformTables, upstreamGiven: Bool) -> String? {
        guard !upstreamGiven, !tables.firmwareOrigins.isEmpty else { return nil }
        let references = tables.firmwareOrigins.keys.sorted { ($0.protocolID, $0.id) < ($1.protocolID, $1.id) }
        var groups: [(ProtocolID, [UInt32])] = []
        for reference in references {
            if groups.last?.0 == reference.protocolID { groups[groups.count - 1].1.append(reference.id) } else { groups.append((reference.protocolID, [reference.id])) }
        }
        let platforms = Set(tables.firmwareOrigins.values.map(\.platformNodePath.description)).sorted()
        let list = groups.map { "\($0.0.name) " + $0.1.map(String.init).joined(separator: " ") }.joined(separator: ", ")
        let count = references.count
        return "\(count) firmware resource\(count == 1 ? "" : "s") (\(list) of \(platforms.joined(separator: ", ")))"
    }
}
