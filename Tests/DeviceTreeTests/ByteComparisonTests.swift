import DeviceTree
import Testing

/// The readers `check` uses to avoid decoding: a string, a string list and a phandle array's
/// length answered from the blob's bytes must agree with the decoding readers on every value.
@Suite struct ByteComparisonTests {
    static let source = """
        /dts-v1/;
        / {
            osc: osc { #clock-cells = <0>; };
            gcc: gcc { #clock-cells = <1>; };
            nocells: nocells { };
            values {
                okay = "okay";
                ok = "ok";
                empty-string = "";
                flag;
                list = "fixed-clock", "", "syscon";
                inner-nul = [6f 6b 00 6f 6b 00];
                unterminated = [6f 6b 61 79];
                longer = "okay!";
            };
            consumer {
                clocks = <&gcc 12>, <&osc>, <&gcc 3>;
                dangling = <&osc>, <0x777>;
                truncated = <&gcc>;
                missing-cells = <&nocells>;
                odd = [00 00 01];
            };
        };
        """

    let tree: FlattenedDeviceTree

    init() throws { tree = try FlattenedDeviceTree(bytes: try compileDTS(Self.source)) }

    @Test func isStringAgreesWithString() throws {
        let values = try #require(tree.node(atPath: "/values"))
        for property in values.properties {
            for candidate in ["okay", "ok", "", "okay!", "fixed-clock", "oka"] {
                #expect(property.isString(candidate) == (property.string == candidate), "\(property.name) vs \(candidate)")
            }
        }
    }

    @Test func stringListContainsAgreesWithStringList() throws {
        let values = try #require(tree.node(atPath: "/values"))
        for property in values.properties {
            for candidate in ["fixed-clock", "syscon", "", "ok", "okay", "fixed"] {
                #expect(
                    property.stringListContains(candidate) == (property.stringList?.contains(candidate) ?? false),
                    "\(property.name) vs \(candidate)")
            }
        }
    }

    @Test func disabledUnlessStatusIsExactlyOkayOrOk() throws {
        let source = """
            /dts-v1/;
            / { a { status = "okay"; }; b { status = "ok"; }; c { status = "okay", "ok"; }; d { status = [6f 6b]; }; e { }; };
            """
        let tree = try FlattenedDeviceTree(bytes: try compileDTS(source))
        let enabled = ["a", "b", "c", "d", "e"].map { tree.node(atPath: "/" + $0)?.isEnabled }
        #expect(enabled == [true, true, false, false, true])
    }

    /// A repeated `status` (a corrupt blob): the first decides, as for `property("status")`.
    /// A tree with no `status` at all has every node enabled.
    @Test func firstOfRepeatedStatusDecides() throws {
        let writer = try FlattenedDeviceTreeWriter()
        try writer.beginNode("")
        for (name, statuses) in [("a", ["disabled", "okay"]), ("b", ["okay", "disabled"]), ("c", ["ok", "ok"])] {
            try writer.beginNode(name)
            try writer.property("other", string: "okay")
            for status in statuses { try writer.property("status", string: status) }
            try writer.endNode()
        }
        try writer.endNode()
        let tree = try FlattenedDeviceTree(bytes: try writer.finish())
        #expect(["a", "b", "c"].map { tree.node(atPath: "/" + $0)?.isEnabled } == [false, true, true])
        let plain = try FlattenedDeviceTree(bytes: try compileDTS("/dts-v1/;\n/ { a { other = \"disabled\"; }; };"))
        #expect(plain.node(atPath: "/a")?.isEnabled == true)
    }

    @Test func specifierCountWalksAsSpecifiers() throws {
        let consumer = try #require(tree.node(atPath: "/consumer"))
        for name in ["clocks", "dangling", "truncated", "missing-cells", "odd", "absent"] {
            let walked = consumer.specifiers(of: name, cellsName: "#clock-cells").map { $0.map(\.count) }
            #expect(consumer.specifierCount(of: name, cellsName: "#clock-cells") == walked, "\(name)")
        }
        #expect(consumer.specifierCount(of: "clocks", cellsName: "#clock-cells") == .success(3))
    }

    @Test func propertyListReadsEveryPropertyInOrder() throws {
        let values = try #require(tree.node(atPath: "/values"))
        #expect(values.properties.map(\.name) == ["okay", "ok", "empty-string", "flag", "list", "inner-nul", "unterminated", "longer"])
        #expect(values.properties.count == 8)
        #expect(values.properties[4].stringList == ["fixed-clock", "", "syscon"])
    }
}
