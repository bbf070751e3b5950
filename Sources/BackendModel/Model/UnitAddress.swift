import DeviceTree

/// A unit address read as a hexadecimal number (binding.md conventions).
struct UnitAddress {
    /// nil when the text is not a hexadecimal number that fits 64 bits.
    var value: UInt64?
    /// Lower-case hex without `0x` and without leading zeros.
    var isCanonical: Bool

    init(_ text: String) {
        var digits = Substring(text)
        var canonical = true
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            canonical = false
        }
        if digits.count > 1 && digits.hasPrefix("0") { canonical = false }
        if digits.contains(where: { $0.isUppercase }) { canonical = false }
        value = digits.isEmpty ? nil : UInt64(digits, radix: 16)
        if value == nil { canonical = false }
        isCanonical = canonical
    }
}

extension DiagnosticCollector {
    /// Checks that `node`'s unit address equals `expected` (the value of `property`),
    /// and warns about a non-canonical spelling. Nodes without a unit address pass.
    mutating func checkUnitAddress(of node: DeviceTreeNode, equals expected: UInt32, property: String) {
        guard let text = node.unitAddress else { return }
        let address = UnitAddress(text)
        if address.value != UInt64(expected) {
            add(
                .unitAddressMismatch, at: node, property: property,
                "unit address @\(text) differs from \(property) = \(formatNumber(expected))",
                hint: "name the node \(node.baseName)@\(String(expected, radix: 16))")
        } else if !address.isCanonical {
            add(
                .unitAddressFormat, at: node, "unit address @\(text) is not canonical",
                hint: "write it as \(node.baseName)@\(String(expected, radix: 16))")
        }
    }

    /// `#address-cells` and `#size-cells` must be present when a child has a unit address.
    mutating func checkAddressCells(of node: DeviceTreeNode) {
        guard node.children.contains(where: { $0.unitAddress != nil }) else { return }
        let missing = ["#address-cells", "#size-cells"].filter { !node.hasProperty($0) }
        guard !missing.isEmpty else { return }
        add(
            .addressCellsMissing, at: node, property: missing[0],
            "\(missing.joined(separator: " and ")) \(missing.count == 1 ? "is" : "are") required: child nodes have unit addresses",
            hint: "add #address-cells = <1>; #size-cells = <0>;")
    }
}
