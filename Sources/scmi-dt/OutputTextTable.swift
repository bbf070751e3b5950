import BackendModel

/// Left-aligned text columns: a header row and data rows, padded to the widest cell.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    mutating func add(_ cells: String...) { rows.append(cells) }

    /// Cells hold names from the blob: controls in them are escaped so a row stays one line.
    func rendered(indent: String = "  ") -> String {
        let rows = self.rows.map { $0.map(TerminalText.escapingControls) }
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = indent
            for (index, cell) in cells.enumerated() {
                let isLast = index == cells.count - 1
                text += isLast ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }
            return text
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// `24 MHz`, `32768 Hz`, `1.2 GHz` only when exact: rates are shown without rounding.
func formatHertz(_ hz: UInt64) -> String {
    for (unit, scale) in [("GHz", UInt64(1_000_000_000)), ("MHz", 1_000_000), ("kHz", 1_000)] where hz >= scale && hz % scale == 0 {
        return "\(hz / scale) \(unit)"
    }
    return "\(hz) Hz"
}

/// `1800000 µV` as `1.8 V` when exact in mV, else µV.
func formatMicrovolts(_ microvolts: Int32) -> String {
    if microvolts != 0 && microvolts % 1000 == 0 {
        let millivolts = microvolts / 1000
        if millivolts % 1000 == 0 { return "\(millivolts / 1000) V" }
        return "\(millivolts) mV"
    }
    return "\(microvolts) µV"
}
