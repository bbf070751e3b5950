/// The types dt-schema's own core schemas give the standard (non-vendor)
/// properties this binding uses. A binding file does not restate them — dt-schema
/// forbids a `$ref` on `*-supply`, and `reg`, `clocks`, `#…-cells` are typed by
/// its core — so the validator needs this small table to decode their bytes.
public enum CoreProperties {
    public static func type(of name: String) -> PropertyValueType? {
        switch name {
        case "reg", "ranges": return .cells
        case "compatible", "clock-output-names": return .stringArray
        case "status", "label", "regulator-name": return .string
        case "phandle", "linux,phandle", "clock-frequency", "clock-mult", "clock-div": return .uint32
        case "clocks", "assigned-clocks": return .phandleArray(cellsName: "#clock-cells")
        case "resets": return .phandleArray(cellsName: "#reset-cells")
        case "power-domains": return .phandleArray(cellsName: "#power-domain-cells")
        case "assigned-clock-rates": return .uint32Array
        case "operating-points-v2": return .phandle
        default: break
        }
        if name.hasPrefix("#") && name.hasSuffix("-cells") { return .uint32 }
        if name.hasSuffix("-supply") { return .phandle }
        if name.hasSuffix("-names") { return .stringArray }
        if name.hasSuffix("-microvolt") { return .uint32Array }
        return nil
    }

    /// The `#…-cells` property that sizes the specifiers of a phandle-array property.
    public static func cellsName(of property: String) -> String? {
        if case .phandleArray(let cellsName)? = type(of: property) { return cellsName }
        return nil
    }
}
