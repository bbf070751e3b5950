#if canImport(Glibc)
import Glibc
#endif
import DeviceTree
import ResourceTables

/// docs/binding.md §3: what counts as a regulator node.
func isRegulator(_ node: DeviceTreeNode) -> Bool {
    node.hasProperty("regulator-name") || node.hasProperty("regulator-min-microvolt") || node.hasProperty("regulator-max-microvolt")
        || node.compatible.contains { $0.hasPrefix("regulator-") }
}

/// The i.MX95 `clock-dummy` idiom (docs/binding.md §5.1): a fixed-clock whose
/// `clock-frequency` is exactly one cell of 0, a placeholder Linux accepts.
func isPlaceholderClock(_ node: DeviceTreeNode) -> Bool {
    node.isCompatible(with: "fixed-clock") && node.property("clock-frequency")?.u32 == 0
}

extension DiagnosticCollector {
    /// A `*-supply` (or `arm,scmi-supply`) that is one phandle of a regulator node.
    mutating func resolveSupply(of node: DeviceTreeNode, property: String, inBackend: Bool) -> DeviceTreeNode? {
        guard let raw = node.property(property) else { return nil }
        return resolveSupply(raw, named: property, of: node, inBackend: inBackend)
    }

    /// `resolveSupply(of:property:inBackend:)` for the property itself, one of `node`'s that a
    /// lookup by `property` finds, already in hand.
    mutating func resolveSupply(_ raw: DeviceTreeProperty, named property: String, of node: DeviceTreeNode, inBackend: Bool) -> DeviceTreeNode? {
        guard raw.count == 4 else {
            if !inBackend {
                add(.propertyType, at: node, property: property, "is \(raw.count) bytes; a supply is exactly one phandle (4 bytes)")
            }
            return nil
        }
        guard let regulator = resolveSinglePhandle(raw, named: property, of: node) else { return nil }
        guard isRegulator(regulator) else {
            add(
                .supplyNotRegulator, at: node, property: property, "points at \(regulator.path), which is not a regulator",
                hint: "a regulator node has regulator-name, regulator-min/max-microvolt or a regulator-* compatible")
            return nil
        }
        return regulator
    }

    /// The node a one-cell phandle property names; reports 0 and dangling phandles.
    mutating func resolveSinglePhandle(of node: DeviceTreeNode, property: String) -> DeviceTreeNode? {
        guard let raw = node.property(property) else { return nil }
        return resolveSinglePhandle(raw, named: property, of: node)
    }

    /// `resolveSinglePhandle(of:property:)` for the property itself, already in hand.
    mutating func resolveSinglePhandle(_ raw: DeviceTreeProperty, named property: String, of node: DeviceTreeNode) -> DeviceTreeNode? {
        guard let phandle = raw.u32 else { return nil }
        guard phandle != 0 else {
            add(.phandleZero, at: node, property: property, "phandle is 0, which refers to no node")
            return nil
        }
        guard let target = node.tree.node(withPhandle: phandle) else {
            add(.phandleDangling, at: node, property: property, "refers to phandle \(hex(phandle)), which no node has")
            return nil
        }
        return target
    }

}
