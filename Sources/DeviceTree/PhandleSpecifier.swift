/// One entry of a phandle-array property such as `clocks = <&gcc 12>, <&osc24m>;`:
/// the provider the phandle names and the argument cells that follow it.
public struct PhandleSpecifier: Hashable, Sendable {
    /// Entry number within the property, 0-based.
    public var index: Int
    public var phandle: UInt32
    public var provider: DeviceTreeNode
    public var cells: [UInt32]

    public init(index: Int, phandle: UInt32, provider: DeviceTreeNode, cells: [UInt32]) {
        self.index = index
        self.phandle = phandle
        self.provider = provider
        self.cells = cells
    }
}

/// Why a phandle-array property cannot be walked. Entries are numbered from 0; walking stops
/// at the first bad entry because the cells after it cannot be attributed to anything.
public enum SpecifierError: Error, Hashable, Sendable {
    /// The value's length is not a multiple of 4.
    case notCells
    /// Entry `index` has phandle 0, which names no node.
    case zeroPhandle(index: Int)
    /// Entry `index` names a phandle that no node has.
    case dangling(index: Int, phandle: UInt32)
    /// The provider of entry `index` lacks its `#…-cells` property.
    case missingCellsProperty(index: Int, provider: DeviceTreeNode, cellsName: String)
    /// The provider's `#…-cells` is not exactly one cell, or is larger than `maximumCells`.
    case badCellsProperty(index: Int, provider: DeviceTreeNode, cellsName: String)
    /// Entry `index` needs `expected` argument cells after its phandle but only `available` remain.
    case truncated(index: Int, phandle: UInt32, expected: Int, available: Int)

    /// Largest `#…-cells` value accepted; real bindings use at most 4, and a huge value would
    /// only make a corrupt blob swallow the rest of the property.
    public static let maximumCells: UInt32 = 8
}

extension SpecifierError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .notCells:
            "the value is not a list of 32-bit cells (its length is not a multiple of 4)"
        case .zeroPhandle(let index):
            "entry \(index) has phandle 0, which refers to no node"
        case .dangling(let index, let phandle):
            "entry \(index) refers to phandle \(hex(phandle)), which no node has"
        case .missingCellsProperty(let index, let provider, let cellsName):
            "entry \(index) refers to \(provider.path), which has no \(cellsName)"
        case .badCellsProperty(let index, let provider, let cellsName):
            "entry \(index) refers to \(provider.path), whose \(cellsName) is not one cell of at most \(SpecifierError.maximumCells)"
        case .truncated(let index, let phandle, let expected, let available):
            "entry \(index) (phandle \(hex(phandle))) needs \(expected) cell(s) after the phandle but only \(available) remain"
        }
    }
}

extension DeviceTreeNode {
    /// Walks a phandle-array property (`clocks`, `resets`, `power-domains`): each entry is a
    /// phandle followed by as many cells as the provider's `cellsName` (`#clock-cells`) says.
    /// nil when the property is absent.
    ///
    /// `allowingHoles`: Linux reads a 0 phandle as an empty entry of one cell (real boards use
    /// `<0>` as a placeholder, e.g. for clocks a bootloader fills in); with it set such entries
    /// are skipped (their index is used up), without it they are `.zeroPhandle`, which the
    /// backend binding requires for its own nodes.
    public func specifiers(
        of property: String, cellsName: String, allowingHoles: Bool = false
    ) -> Result<[PhandleSpecifier], SpecifierError>? {
        collectSpecifiers(of: property, allowingHoles: allowingHoles) { index, provider throws(SpecifierError) in
            try provider.argumentCount(cellsName, entry: index)
        }
    }

    /// How many entries `specifiers(of:cellsName:)` gives, or its error, found by the same walk
    /// without building the entries: for a check that only counts them (a schema's maxItems).
    public func specifierCount(of property: String, cellsName: String) -> Result<Int, SpecifierError>? {
        self.property(property).map { specifierCount(of: $0, cellsName: cellsName) }
    }

    /// `specifierCount(of:cellsName:)` for a property already in hand (one of this node's, such
    /// as `property(at:)` gives), saving the lookup by name.
    package func specifierCount(of property: DeviceTreeProperty, cellsName: String) -> Result<Int, SpecifierError> {
        var count = 0
        return walkSpecifiers(
            of: property, allowingHoles: false,
            argumentCount: { index, provider throws(SpecifierError) in try provider.argumentCount(cellsName, entry: index) }
        ) { _, _, _, _, _ in
            count += 1
        }.map { count }
    }

    /// This node's `cellsName` (`#clock-cells`) as the argument count of entry `index` of a
    /// specifier list naming it as provider; the error says why it cannot be.
    package func argumentCount(_ cellsName: String, entry index: Int) throws(SpecifierError) -> Int {
        guard let cellsProperty = property(cellsName) else {
            throw .missingCellsProperty(index: index, provider: self, cellsName: cellsName)
        }
        guard let cells = cellsProperty.u32, cells <= SpecifierError.maximumCells else {
            throw .badCellsProperty(index: index, provider: self, cellsName: cellsName)
        }
        return Int(cells)
    }

    /// Walks `property`, one of this node's, as `specifiers(of:cellsName:allowingHoles:)` does,
    /// calling `entry` with each entry's provider and the positions of its argument cells in
    /// the property, without building a list: for a reader that makes its own entries (one
    /// allocation each instead of three). `argumentCount` gives an entry's argument count from
    /// its index and provider (`argumentCount(_:entry:)`, or a cache of it).
    package func forEachSpecifier(
        in property: DeviceTreeProperty, allowingHoles: Bool = false,
        argumentCount: (Int, DeviceTreeNode) throws(SpecifierError) -> Int,
        entry: (DeviceTreeNode, Range<Int>) -> Void
    ) -> Result<Void, SpecifierError> {
        walkSpecifiers(of: property, allowingHoles: allowingHoles, argumentCount: argumentCount) { _, _, provider, _, cells in
            entry(provider, cells)
        }
    }

    /// Walks a property that is a plain list of phandles (`arm,scmi-devices`, `vdd-supply`,
    /// `arm,scmi-basedev`): every cell is one phandle with no arguments.
    /// nil when the property is absent.
    public func phandles(of property: String) -> Result<[PhandleSpecifier], SpecifierError>? {
        collectSpecifiers(of: property, allowingHoles: false) { _, _ throws(SpecifierError) -> Int in 0 }
    }

    /// Every entry `walkSpecifiers` meets, as a `PhandleSpecifier`.
    private func collectSpecifiers(
        of propertyName: String, allowingHoles: Bool, argumentCount: (Int, DeviceTreeNode) throws(SpecifierError) -> Int
    ) -> Result<[PhandleSpecifier], SpecifierError>? {
        var result = [PhandleSpecifier]()
        return walkSpecifiers(of: propertyName, allowingHoles: allowingHoles, argumentCount: argumentCount) {
            index, phandle, provider, property, cells in
            result.append(PhandleSpecifier(index: index, phandle: phandle, provider: provider, cells: cells.map { property.cell($0)! }))
        }.map { $0.map { result } }
    }

    /// Walks the entries of a phandle-array property, calling `entry` with each one's index,
    /// phandle, provider, the property and the positions of its argument cells; stops at the
    /// first bad entry with its error. nil when the property is absent.
    private func walkSpecifiers(
        of propertyName: String,
        allowingHoles: Bool,
        argumentCount: (Int, DeviceTreeNode) throws(SpecifierError) -> Int,
        entry: (Int, UInt32, DeviceTreeNode, DeviceTreeProperty, Range<Int>) -> Void
    ) -> Result<Void, SpecifierError>? {
        guard let property = property(propertyName) else { return nil }
        return walkSpecifiers(of: property, allowingHoles: allowingHoles, argumentCount: argumentCount, entry: entry)
    }

    /// `walkSpecifiers(of:allowingHoles:argumentCount:entry:)` over `property` itself.
    private func walkSpecifiers(
        of property: DeviceTreeProperty,
        allowingHoles: Bool,
        argumentCount: (Int, DeviceTreeNode) throws(SpecifierError) -> Int,
        entry: (Int, UInt32, DeviceTreeNode, DeviceTreeProperty, Range<Int>) -> Void
    ) -> Result<Void, SpecifierError> {
        guard let total = property.cellCount else { return .failure(.notCells) }
        var position = 0
        var index = 0
        do throws(SpecifierError) {
            while position < total {
                defer { index += 1 }
                let phandle = property.cell(position)!
                if phandle == 0, allowingHoles {
                    position += 1
                    continue
                }
                guard phandle != 0 else { throw .zeroPhandle(index: index) }
                guard let provider = tree.node(withPhandle: phandle) else {
                    throw .dangling(index: index, phandle: phandle)
                }
                let expected = try argumentCount(index, provider)
                let available = total - position - 1
                guard expected <= available else {
                    throw .truncated(index: index, phandle: phandle, expected: expected, available: available)
                }
                entry(index, phandle, provider, property, (position + 1)..<(position + 1 + expected))
                position += 1 + expected
            }
        } catch {
            return .failure(error)
        }
        return .success(())
    }
}
