import DeviceTree
import ResourceTables

/// The host's SCMI firmware as a board describes it (docs/binding.md §5.7): a *host SCMI
/// platform node* is a node other than the backend with one of `compatibles`; its
/// `protocol@N` children provide clocks, power, performance and reset domains by
/// specifier cell, and the `regulator@N` nodes under its `protocol@17/regulators` are
/// its voltage domains, by `reg`. A resource found there belongs to the firmware: the
/// firmware, not the devicetree, knows its rates and levels.
enum HostFirmware {
    /// The compatibles of the SCMI transports Linux knows a platform by.
    static let compatibles = [
        "arm,scmi", "arm,scmi-smc", "arm,scmi-smc-param", "arm,scmi-virtio", "arm,scmi-optee", "qcom,scmi-smc", "nxp,imx95-scmi",
    ]

    /// True when `node` is a host SCMI platform node (never the backend, whose own
    /// compatible is not in the list, nor any node it contains).
    static func isPlatform(_ node: DeviceTreeNode) -> Bool {
        compatibles.contains { node.isCompatible(with: $0) }
    }

    /// The platform node and protocol of a `protocol@N` node of a host SCMI platform
    /// node; nil for any other node. The protocol is the node's `reg`.
    static func protocolNode(_ node: DeviceTreeNode) -> (platform: DeviceTreeNode, protocolID: ProtocolID)? {
        guard node.hasBaseName("protocol"), let platform = node.parent, isPlatform(platform), let reg = node.property("reg")?.u32, reg <= 0xFF
        else { return nil }
        return (platform, ProtocolID(rawValue: UInt8(reg)))
    }

    /// The firmware origin of a resource named by `provider` and `cells` in protocol
    /// `protocolID`: the provider must be that protocol's node of a platform node, and the
    /// specifier one cell, the firmware's id.
    static func origin(provider: DeviceTreeNode, cells: [UInt32], protocolID: ProtocolID, paths: NodePaths) -> FirmwareOrigin? {
        guard let platform = platform(provider: provider, cells: cells, protocolID: protocolID) else { return nil }
        return FirmwareOrigin(platformPath: paths.path(of: platform), protocolID: protocolID, firmwareID: cells[0])
    }

    /// The platform node of `origin(provider:cells:protocolID:paths:)`, when there is one.
    static func platform(provider: DeviceTreeNode, cells: [UInt32], protocolID: ProtocolID) -> DeviceTreeNode? {
        guard cells.count == 1, let (platform, found) = protocolNode(provider), found == protocolID else { return nil }
        return platform
    }

    /// True when `provider` with `cells` names a firmware performance domain: the protocol@13
    /// node of a platform node and one cell. Boards name one as a clock (juno's
    /// `clocks = <&scmi_dvfs 2>`) or as a power domain (i.MX95's `power-domains = <&scmi_perf 8>`);
    /// either way it is a performance domain, never a clock or a power domain.
    static func isPerformanceProvider(_ provider: DeviceTreeNode, cells: [UInt32]) -> Bool {
        platform(provider: provider, cells: cells, protocolID: .performance) != nil
    }

    /// The firmware origin of a regulator: a `regulator@N` directly under a platform
    /// node's `protocol@17/regulators`, whose `reg` is the firmware's voltage domain id.
    static func origin(regulator: DeviceTreeNode, paths: NodePaths) -> FirmwareOrigin? {
        guard let (platform, reg) = platform(regulator: regulator) else { return nil }
        return FirmwareOrigin(platformPath: paths.path(of: platform), protocolID: .voltage, firmwareID: reg)
    }

    /// The platform node and voltage domain id of `origin(regulator:paths:)`, when there are.
    static func platform(regulator: DeviceTreeNode) -> (platform: DeviceTreeNode, firmwareID: UInt32)? {
        guard regulator.hasBaseName("regulator"), let regulators = regulator.parent, regulators.name == "regulators",
            let parent = regulators.parent, let (platform, found) = protocolNode(parent), found == .voltage,
            let reg = regulator.property("reg")?.u32
        else { return nil }
        return (platform, reg)
    }
}
