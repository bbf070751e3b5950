import DeviceTree
import Testing

/// Walking phandle arrays (`clocks`, `resets`, …) against each provider's `#…-cells`, including
/// every way a hand-written tree gets them wrong.
@Suite struct SpecifierTests {
    static let providers = """
        osc: osc { #clock-cells = <0>; };
        gcc: gcc { #clock-cells = <1>; };
        pll: pll { #clock-cells = <2>; };
        nocells: nocells { };
        twocells: twocells { #clock-cells = <1 1>; };
        huge: huge { #clock-cells = <100>; };
        bytecells: bytecells { #clock-cells = [01]; };
        """

    func consumer(_ property: String) throws -> DeviceTreeNode {
        let source = "/dts-v1/;\n/ {\n\(Self.providers)\n consumer { \(property) };\n};"
        let tree = try FlattenedDeviceTree(bytes: try compileDTS(source))
        return try #require(tree.node(atPath: "/consumer"))
    }

    func clocks(_ property: String) throws -> Result<[PhandleSpecifier], SpecifierError>? {
        try consumer(property).specifiers(of: "clocks", cellsName: "#clock-cells")
    }

    @Test func absentPropertyIsNil() throws {
        #expect(try clocks("other = <1>;") == nil)
    }

    @Test func mixedCellCounts() throws {
        let node = try consumer("clocks = <&gcc 12>, <&osc>, <&pll 1 2>;")
        let result = try #require(node.specifiers(of: "clocks", cellsName: "#clock-cells"))
        let entries = try result.get()
        #expect(entries.map(\.index) == [0, 1, 2])
        #expect(entries.map(\.provider.name) == ["gcc", "osc", "pll"])
        #expect(entries.map(\.cells) == [[12], [], [1, 2]])
        #expect(entries[0].phandle == entries[0].provider.phandle)
    }

    @Test func emptyPropertyHasNoEntries() throws {
        #expect(try clocks("clocks;")?.get() == [])
    }

    // `clocks = <0>` is a placeholder some trees use; the binding forbids it in the backend.
    @Test func zeroPhandle() throws {
        #expect(try clocks("clocks = <&osc>, <0 5>;") == .failure(.zeroPhandle(index: 1)))
    }

    // Linux's reading of `<0>`: an empty one-cell entry; the index still counts it.
    @Test func holesWhenAllowed() throws {
        let node = try consumer("clocks = <&gcc 1>, <0>, <&osc>;")
        let entries = try #require(node.specifiers(of: "clocks", cellsName: "#clock-cells", allowingHoles: true)).get()
        #expect(entries.map(\.index) == [0, 2])
        #expect(entries.map(\.provider.name) == ["gcc", "osc"])
    }

    // A phandle that no node has: a deleted node, or a raw number typed by hand.
    @Test func danglingPhandle() throws {
        #expect(try clocks("clocks = <&gcc 1>, <0x9f>;") == .failure(.dangling(index: 1, phandle: 0x9f)))
    }

    // The last specifier is missing its argument cell: would read past the property otherwise.
    @Test func truncatedLastSpecifier() throws {
        let node = try consumer("clocks = <&osc>, <&pll 1>;")
        let pll = try #require(node.tree.node(atPath: "/pll")?.phandle)
        #expect(node.specifiers(of: "clocks", cellsName: "#clock-cells")
            == .failure(.truncated(index: 1, phandle: pll, expected: 2, available: 1)))
    }

    // The provider does not say how many cells follow: the rest of the list cannot be split.
    @Test func providerWithoutCellsProperty() throws {
        let node = try consumer("clocks = <&nocells>;")
        let provider = try #require(node.tree.node(atPath: "/nocells"))
        #expect(node.specifiers(of: "clocks", cellsName: "#clock-cells")
            == .failure(.missingCellsProperty(index: 0, provider: provider, cellsName: "#clock-cells")))
    }

    // `#clock-cells = <1 1>` (two cells) or a 1-byte value are not a cell count.
    @Test func cellsPropertyNotOneCell() throws {
        for name in ["twocells", "bytecells"] {
            let node = try consumer("clocks = <&\(name) 1 1>;")
            let provider = try #require(node.tree.node(atPath: "/\(name)"))
            #expect(node.specifiers(of: "clocks", cellsName: "#clock-cells")
                == .failure(.badCellsProperty(index: 0, provider: provider, cellsName: "#clock-cells")))
        }
    }

    // An absurd cell count would swallow the rest of the list as arguments.
    @Test func absurdCellCount() throws {
        let node = try consumer("clocks = <&huge 1>;")
        let provider = try #require(node.tree.node(atPath: "/huge"))
        #expect(node.specifiers(of: "clocks", cellsName: "#clock-cells")
            == .failure(.badCellsProperty(index: 0, provider: provider, cellsName: "#clock-cells")))
    }

    @Test func valueNotCells() throws {
        #expect(try clocks("clocks = [00 00 00 01 02];") == .failure(.notCells))
    }

    @Test func otherCellsNames() throws {
        let source = """
            /dts-v1/;
            / {
                rst: rst { #reset-cells = <1>; #clock-cells = <0>; };
                consumer { resets = <&rst 3>, <&rst 4>; clocks = <&rst>; };
            };
            """
        let tree = try FlattenedDeviceTree(bytes: try compileDTS(source))
        let node = try #require(tree.node(atPath: "/consumer"))
        #expect(try node.specifiers(of: "resets", cellsName: "#reset-cells")?.get().map(\.cells) == [[3], [4]])
        #expect(try node.specifiers(of: "clocks", cellsName: "#clock-cells")?.get().count == 1)
    }

    @Test func plainPhandleLists() throws {
        let node = try consumer("devs = <&osc &gcc>; bad = <&osc 0>; vdd-supply = <&pll>;")
        #expect(try node.phandles(of: "devs")?.get().map(\.provider.name) == ["osc", "gcc"])
        #expect(node.phandles(of: "bad") == .failure(.zeroPhandle(index: 1)))
        #expect(try node.phandles(of: "vdd-supply")?.get().map(\.provider.name) == ["pll"])
        #expect(node.phandles(of: "missing") == nil)
    }

    @Test func errorsDescribeTheEntry() throws {
        #expect(SpecifierError.dangling(index: 2, phandle: 0x9f).description
            == "entry 2 refers to phandle 0x9f, which no node has")
        let node = try consumer("")
        let provider = try #require(node.tree.node(atPath: "/nocells"))
        #expect(SpecifierError.missingCellsProperty(index: 0, provider: provider, cellsName: "#clock-cells")
            .description.contains("/nocells"))
    }
}
