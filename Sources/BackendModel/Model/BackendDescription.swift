import DeviceTree
import ResourceTables

/// What the backend node says, read into types but not yet resolved to SCMI
/// ids: `check` builds it, the resolvers turn it into `PlatformTables`.

/// A host resource named by a provider node and specifier cells (`<&ccu 12>`).
public struct ResourceSpecifier: Hashable, Sendable, CustomStringConvertible {
    public var provider: DeviceTreeNode
    public var cells: [UInt32]

    public init(provider: DeviceTreeNode, cells: [UInt32]) {
        self.provider = provider
        self.cells = cells
    }

    public var description: String {
        provider.path + (cells.isEmpty ? "" : " <" + cells.map { String($0) }.joined(separator: " ") + ">")
    }
}

/// `vdd-supply = <&reg>`: the supply's name (`vdd`) and the regulator node.
public struct SupplyReference: Hashable, Sendable {
    public var name: String
    public var regulator: DeviceTreeNode
}

/// The resources one node names directly: a device node or its base device.
///
/// The `Bool` is declared last: a stored property is laid out at the next offset its
/// alignment allows, so a flag between the arrays and the string cost 7 bytes of padding,
/// where at the end it takes the first byte of the tail (which an enclosing struct may use
/// for a small field of its own; see `DeviceDescription`).
///
/// The lists stay stored properties although resets and power domains are rare: the resolver
/// reads them through `UnsafePointer<NodeResources>.pointee`, where a computed property copies
/// the whole struct first. Kept out of line behind accessors they saved 24 bytes a device and
/// cost more instructions in those copies than the saved pages cost in faults.
public struct NodeResources: Sendable {
    /// The node they were read from.
    public var node: DeviceTreeNode
    public var clocks: [ResourceSpecifier] = []
    public var supplies: [SupplyReference] = []
    public var resets: [ResourceSpecifier] = []
    public var powerDomains: [ResourceSpecifier] = []
    /// How the node names itself in derived resource names: the device's
    /// `arm,scmi-devname`, or a host node's name without its unit address.
    public var consumerName = ""
    /// `clock-names`, `reset-names`, `power-domain-names`, entry for entry.
    public var clockNames: [String] = []
    public var resetNames: [String] = []
    public var powerDomainNames: [String] = []
    /// The node has a clocks, resets, power-domains or *-supply property (resolved or not).
    public var namesResources = false

    public var isEmpty: Bool { clocks.isEmpty && supplies.isEmpty && resets.isEmpty && powerDomains.isEmpty }
}

/// One device of the backend. A backend may hold 100,000 of them, read into one array, so the
/// layout counts: 152 bytes where it was 248. The base device, which few devices have, is kept
/// out of line (`basedevStorage`); and `id`, a 4-byte field, follows `direct`, whose last field
/// is a `Bool`, so that it fills that struct's tail instead of padding after `node`.
public struct DeviceDescription: Sendable {
    public var node: DeviceTreeNode
    /// `arm,scmi-devname`.
    public var name: String
    public var clockNames: [String]
    public var direct: NodeResources
    /// `arm,scmi-devid`.
    public var id: UInt32
    /// `arm,scmi-*-ids`, in property order.
    public var explicitIDs: [(protocolID: ProtocolID, property: String, ids: [UInt32])]
    /// `basedev` as an array of none or one: 8 bytes per device, nothing allocated when empty,
    /// where the optional inline cost every device 96 bytes.
    private var basedevStorage: [NodeResources]

    /// From `arm,scmi-basedev`, when it resolves to a usable host node.
    public var basedev: NodeResources? {
        get { basedevStorage.first }
        set { basedevStorage = newValue.map { [$0] } ?? [] }
    }

    /// The base device's node, read where it lies: `basedev?.node` copies the whole
    /// `NodeResources` (a dozen references retained) first.
    var basedevNode: DeviceTreeNode? { basedevStorage.isEmpty ? nil : basedevStorage[0].node }

    init(
        node: DeviceTreeNode, id: UInt32, name: String, clockNames: [String], direct: NodeResources, basedev: NodeResources?,
        explicitIDs: [(protocolID: ProtocolID, property: String, ids: [UInt32])]
    ) {
        self.node = node
        self.name = name
        self.clockNames = clockNames
        self.direct = direct
        self.id = id
        self.explicitIDs = explicitIDs
        self.basedevStorage = basedev.map { [$0] } ?? []
    }

    public var path: String { node.path }
}

public struct AgentDescription: Sendable {
    public var node: DeviceTreeNode
    public var id: UInt32
    public var name: String
    /// Device ids from `arm,scmi-devices`, in listed order, without disabled or unresolvable ones.
    public var devices: [UInt32]
    /// `arm,scmi-protocols` as written; nil: every enabled protocol.
    public var protocols: [ProtocolID]?
    public var trusted: Bool
}

/// A table child of a protocol node (`clock@3`, `regulator@0`, …).
public struct TableEntryNode: Sendable {
    public var node: DeviceTreeNode
    public var id: UInt32
}

public struct ProtocolDescription: Sendable {
    public var node: DeviceTreeNode
    public var id: ProtocolID
    /// Enabled table children with a usable `reg`, sorted by id; empty: the table is derived.
    public var entries: [TableEntryNode]
    public var hasExplicitTable: Bool
}

/// The typed backend: identity, protocols, devices and agents.
public struct BackendDescription: Sendable {
    public var node: DeviceTreeNode
    public var vendor: String
    public var subVendor: String
    public var implementationVersion: UInt32
    /// Enabled, implemented protocols, sorted by id.
    public var protocols: [ProtocolDescription]
    /// Enabled devices with a usable id and name, in tree order.
    public var devices: [DeviceDescription]
    /// Declared agents in tree order; empty when `agentsAreImplicit`.
    public var agents: [AgentDescription]
    public var agentsAreImplicit: Bool

    public var path: String { node.path }

    public func protocolDescription(_ id: ProtocolID) -> ProtocolDescription? {
        protocols.first { $0.id == id }
    }
}
