import DeviceTree

/// A unit address read as a hexadecimal number (docs/binding.md, Conventions).
struct UnitAddress {
    /// nil when the text is not a hexadecimal number that fits 64 bits.
    var value: UInt64?
    /// Lower-case hex without `0x` and without leading zeros.
    var isCanonical: Bool

    /// Parses what follows the `@` of a node name, or `text` itself when it has no `@`.
    init(_ text: String) {
        // Over the UTF-8 bytes in place: a `Substring`'s view costs an index check per byte,
        // and `check` parses the unit address of every device.
        var text = text
        (value, isCanonical) = text.withUTF8 { Self.parse($0[...]) }
    }

    /// Parses what follows the `@` of a node name given as its bytes in the blob; nil when
    /// the name has no `@`. (Bytes that are not UTF-8 are never hex digits, so this is what
    /// parsing the decoded name gives.)
    init?(nameBytes bytes: UnsafeRawBufferPointer) {
        guard bytes.contains(UInt8(ascii: "@")) else { return nil }
        (value, isCanonical) = bytes.withMemoryRebound(to: UInt8.self) { Self.parse($0[...]) }
    }

    private static func parse(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> (value: UInt64?, isCanonical: Bool) {
        var digits = bytes
        if let at = digits.firstIndex(of: UInt8(ascii: "@")) { digits = digits[digits.index(after: at)...] }
        var canonical = true
        if digits.count > 2, digits.first == UInt8(ascii: "0"), digits.dropFirst().first.map({ $0 | 0x20 }) == UInt8(ascii: "x") {
            digits = digits.dropFirst(2)
            canonical = false
        }
        if digits.count > 1 && digits.first == UInt8(ascii: "0") { canonical = false }
        var value: UInt64 = 0
        var valid = !digits.isEmpty
        for byte in digits {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"):
                digit = byte - UInt8(ascii: "A") + 10
                canonical = false
            default:
                valid = false
                digit = 0
            }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 16)
            if overflow { valid = false }
            value = shifted | UInt64(digit)
        }
        return (valid ? value : nil, canonical && valid)
    }
}

extension DiagnosticCollector {
    /// Checks that `node`'s unit address equals `expected` (the value of `property`),
    /// and warns about a non-canonical spelling. Nodes without a unit address pass.
    mutating func checkUnitAddress(of node: DeviceTreeNode, equals expected: UInt32, property: String) {
        // From the name's bytes in the blob: `check` does this for every device.
        guard let address = node.withNameBytes({ UnitAddress(nameBytes: $0) }) else { return }
        // Only a finding needs the text.
        var text: String { node.unitAddress ?? "" }
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
        // Child by child until the first with a unit address (usually the first), without
        // listing the children: a `devices` node may have a hundred thousand.
        var child = node.firstChild
        while let current = child, !current.withNameBytes({ $0.contains(UInt8(ascii: "@")) }) { child = current.nextSibling }
        guard child != nil else { return }
        let missing = ["#address-cells", "#size-cells"].filter { !node.hasProperty($0) }
        guard !missing.isEmpty else { return }
        add(
            .addressCellsMissing, at: node, property: missing[0],
            "\(missing.joined(separator: " and ")) \(missing.count == 1 ? "is" : "are") required: child nodes have unit addresses",
            hint: "add #address-cells = <1>; #size-cells = <0>;")
    }
}
