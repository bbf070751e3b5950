import DeviceTree
import Testing

/// Reading a dtc-compiled tree: names, paths, links, lookups, typed properties.
@Suite struct NodeTests {
    static let source = """
        /dts-v1/;
        / {
            #address-cells = <1>;
            #size-cells = <0>;
            aliases { clk0 = "/clocks/osc@0"; };
            clocks {
                osc: osc@0 { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <24000000>; };
                gcc: controller@fe200000 {
                    compatible = "acme,gcc", "syscon";
                    #clock-cells = <1>;
                    clock-output-names = "a", "b", "c";
                };
                pll: pll { compatible = "acme,pll"; #clock-cells = <2>; };
            };
            firmware {
                backend: scmi-vio-backend {
                    compatible = "arm,scmi-vio-backend";
                    devices {
                        dev1: device@1 { arm,scmi-devid = <1>; arm,scmi-devname = "USB"; clocks = <&gcc 12>, <&osc>, <&pll 1 2>; };
                        device@2 { status = "disabled"; };
                        device@3 { status = "ok"; };
                        device@4 { status = "fail"; };
                    };
                };
            };
            legacy { linux,phandle = <0x40>; };
            values {
                empty;
                one = <7>;
                two = <1 2>;
                wide = /bits/ 64 <0x100000002 3>;
                str = "hello";
                strs = "a", "", "bc";
                bytes = [01 02 03];
                unterminated = [61 62];
                inner-nul = [61 00 62 00];
                compatible = [61 62];
            };
        };
        """

    let tree: FlattenedDeviceTree

    init() throws { tree = try FlattenedDeviceTree(bytes: try compileDTS(Self.source)) }

    /// A twin (another object over the same index and bytes, for a second thread) reads the
    /// same nodes and values, and keeps the bytes alive when the tree it came from is gone.
    @Test func aTwinReadsTheSameTreeAndOutlivesIt() throws {
        var original: FlattenedDeviceTree? = try FlattenedDeviceTree(bytes: try compileDTS(Self.source))
        let twin = original!.twin()
        func summary(_ tree: FlattenedDeviceTree) -> [String] {
            (0..<tree.nodeCount).map { position in
                let node = tree.node(at: position)
                return node.path + " " + node.properties.map { "\($0.name)=\($0.bytes)" }.joined(separator: ";")
            }
        }
        let expected = summary(original!)
        #expect(twin !== original)
        original = nil
        #expect(summary(twin) == expected)
        #expect(twin.node(atPath: "/clocks/controller@fe200000")?.property("clock-output-names")?.stringList == ["a", "b", "c"])
    }

    /// A twin's node is the same node as the tree's at its position: equal, ordered and nested
    /// alike; a tree read again from the same bytes is another tree.
    @Test func aTwinsNodesAreTheTreesNodes() throws {
        let twin = tree.twin()
        let gcc = try #require(tree.node(atPath: "/clocks/controller@fe200000"))
        let twinGCC = twin.node(at: gcc.index)
        #expect(twinGCC == gcc && gcc == twinGCC && Set([gcc, twinGCC]).count == 1)
        let osc = try #require(twin.node(atPath: "/clocks/osc@0"))
        #expect(osc < gcc && !(gcc < osc))
        #expect(gcc.isDescendant(of: twin.node(atPath: "/clocks")!) && twinGCC.isDescendant(of: tree.node(atPath: "/clocks")!))
        let other = try FlattenedDeviceTree(bytes: try compileDTS(Self.source))
        #expect(other.node(at: gcc.index) != gcc && !other.node(at: gcc.index).isDescendant(of: tree.root))
    }

    @Test func rootHasEmptyNameAndSlashPath() {
        #expect(tree.root.name == "")
        #expect(tree.root.path == "/")
        #expect(tree.root.parent == nil)
        #expect(tree.root.unitAddress == nil)
    }

    @Test func namesAndUnitAddresses() throws {
        let gcc = try #require(tree.node(atPath: "/clocks/controller@fe200000"))
        #expect(gcc.name == "controller@fe200000")
        #expect(gcc.baseName == "controller")
        #expect(gcc.unitAddress == "fe200000")
        let pll = try #require(tree.node(atPath: "/clocks/pll"))
        #expect(pll.baseName == "pll")
        #expect(pll.unitAddress == nil)
    }

    /// The byte-level name tests answer what comparing the decoded names would.
    @Test func nameTestsCompareTheNameBytes() throws {
        let gcc = try #require(tree.node(atPath: "/clocks/controller@fe200000"))
        #expect(gcc.hasName("controller@fe200000"))
        #expect(!gcc.hasName("controller"))
        #expect(gcc.hasBaseName("controller"))
        #expect(!gcc.hasBaseName("control"))
        #expect(!gcc.hasBaseName("controller@fe2"))
        let pll = try #require(tree.node(atPath: "/clocks/pll"))
        #expect(pll.hasBaseName("pll") && pll.hasName("pll"))
        #expect(!pll.hasBaseName("pl"))
        #expect(tree.root.hasName("") && tree.root.hasBaseName(""))
        #expect(gcc.withNameBytes { Array($0) } == Array("controller@fe200000".utf8))
        var names: [String] = []
        tree.forEachNode { node in if node.hasBaseName("device") { names.append(node.name) } }
        #expect(names == ["device@1", "device@2", "device@3", "device@4"])
    }

    @Test func pathsAreBuiltFromParents() throws {
        let device = try #require(tree.node(atPath: "/firmware/scmi-vio-backend/devices/device@1"))
        #expect(device.path == "/firmware/scmi-vio-backend/devices/device@1")
        #expect(device.parent?.path == "/firmware/scmi-vio-backend/devices")
        #expect(device.parent?.parent?.parent?.parent == tree.root)
        #expect(device.depth == 4)
    }

    @Test func pathLookupMissesAndTrailingSlash() {
        #expect(tree.node(atPath: "/clocks/nothing") == nil)
        #expect(tree.node(atPath: "/clocks/osc") == nil)  // unit address is part of the name
        #expect(tree.node(atPath: "/clocks/")?.path == "/clocks")
        #expect(tree.node(atPath: "/") == tree.root)
    }

    @Test func aliasesResolve() {
        #expect(tree.node(atPath: "clk0")?.path == "/clocks/osc@0")
        #expect(tree.node(atPath: "nope") == nil)
    }

    @Test func childrenInBlobOrder() throws {
        let devices = try #require(tree.node(atPath: "/firmware/scmi-vio-backend/devices"))
        #expect(devices.children.map(\.name) == ["device@1", "device@2", "device@3", "device@4"])
        #expect(devices.child(named: "device@3")?.path == "/firmware/scmi-vio-backend/devices/device@3")
        #expect(devices.child(named: "device@9") == nil)
        #expect(tree.root.children.map(\.name) == ["aliases", "clocks", "firmware", "legacy", "values"])
    }

    @Test func forEachNodeVisitsAllInTreeOrder() {
        var paths: [String] = []
        tree.forEachNode { paths.append($0.path) }
        #expect(paths.count == tree.nodeCount)
        #expect(paths.first == "/")
        #expect(paths[1] == "/aliases")
        #expect(paths[2] == "/clocks")
        #expect(paths[3] == "/clocks/osc@0")
        #expect(paths.last == "/values")
        #expect(Set(paths).count == paths.count)
    }

    @Test func phandles() throws {
        let gcc = try #require(tree.node(atPath: "/clocks/controller@fe200000"))
        let phandle = try #require(gcc.phandle)
        #expect(tree.node(withPhandle: phandle) == gcc)
        #expect(tree.root.phandle == nil)
        #expect(tree.node(withPhandle: 0) == nil)
        #expect(tree.node(withPhandle: 0xffff_ffff) == nil)
        #expect(tree.node(withPhandle: 0x9999) == nil)
    }

    @Test func legacyLinuxPhandleAndPrecedence() throws {
        let legacy = try #require(tree.node(atPath: "/legacy"))
        #expect(legacy.phandle == 0x40)
        #expect(tree.node(withPhandle: 0x40) == legacy)
    }

    @Test func compatibleIndexInTreeOrder() throws {
        #expect(tree.nodes(withCompatible: "fixed-clock").map(\.path) == ["/clocks/osc@0"])
        #expect(tree.nodes(withCompatible: "syscon").map(\.path) == ["/clocks/controller@fe200000"])
        #expect(tree.nodes(withCompatible: "arm,scmi-vio-backend").count == 1)
        #expect(tree.nodes(withCompatible: "arm,scmi").isEmpty)
        let gcc = try #require(tree.node(atPath: "/clocks/controller@fe200000"))
        #expect(gcc.compatible == ["acme,gcc", "syscon"])
        // A malformed compatible (not NUL-terminated) is treated as absent, never a crash.
        #expect(tree.node(atPath: "/values")?.compatible == [])
    }

    @Test func enabledStatus() throws {
        let devices = try #require(tree.node(atPath: "/firmware/scmi-vio-backend/devices"))
        #expect(devices.children.map(\.isEnabled) == [true, false, true, false])
    }

    @Test func descendants() throws {
        let backend = try #require(tree.nodes(withCompatible: "arm,scmi-vio-backend").first)
        let device = try #require(tree.node(atPath: "/firmware/scmi-vio-backend/devices/device@1"))
        #expect(device.isDescendant(of: backend))
        #expect(device.isDescendant(of: tree.root))
        #expect(!backend.isDescendant(of: device))
        #expect(!device.isDescendant(of: device))
        #expect(!(tree.node(atPath: "/clocks/pll")!.isDescendant(of: backend)))
    }

    @Test func propertiesInBlobOrder() throws {
        let values = try #require(tree.node(atPath: "/values"))
        #expect(values.properties.map(\.name) == [
            "empty", "one", "two", "wide", "str", "strs", "bytes", "unterminated", "inner-nul", "compatible",
        ])
        #expect(values.hasProperty("empty"))
        #expect(!values.hasProperty("absent"))
        #expect(values.property("absent") == nil)
        #expect(!values.hasProperty("phandle"))
    }

    @Test func typedAccessorsOnWellFormedValues() throws {
        let values = try #require(tree.node(atPath: "/values"))
        #expect(values.property("empty")?.isEmpty == true)
        #expect(values.property("empty")?.u32Array == [])
        #expect(values.property("one")?.u32 == 7)
        #expect(values.property("two")?.u32Array == [1, 2])
        #expect(values.property("two")?.u64Array == [0x1_0000_0002])
        #expect(values.property("wide")?.u64Array == [0x1_0000_0002, 3])
        #expect(values.property("str")?.string == "hello")
        #expect(values.property("strs")?.stringList == ["a", "", "bc"])
        #expect(values.property("str")?.stringList == ["hello"])
        #expect(values.property("bytes")?.bytes == [1, 2, 3])
        let strs = try #require(values.property("strs"))
        #expect((0..<3).map { strs.string(at: $0) } == ["a", "", "bc"])
        #expect(strs.string(at: 3) == nil)
        #expect(strs.string(at: -1) == nil)
        #expect(strs.stringCount == 3)
        #expect(values.property("unterminated")?.string(at: 0) == nil)
        #expect(values.property("unterminated")?.stringCount == nil)
        #expect(values.property("empty")?.string(at: 0) == nil)
        #expect(values.property("empty")?.stringCount == 0)
    }

    // A value of the wrong shape must read as "not that type" (nil), never as a truncated or
    // padded number: a checker relies on nil to report the property.
    @Test func typedAccessorsRejectWrongLengths() throws {
        let values = try #require(tree.node(atPath: "/values"))
        #expect(values.property("empty")?.u32 == nil)
        #expect(values.property("empty")?.string == nil)
        #expect(values.property("empty")?.stringList == [])
        #expect(values.property("two")?.u32 == nil)
        #expect(values.property("one")?.u64Array == nil)
        #expect(values.property("bytes")?.u32 == nil)
        #expect(values.property("bytes")?.u32Array == nil)
        #expect(values.property("bytes")?.u64Array == nil)
        #expect(values.property("strs")?.string == nil)          // three strings, not one
        #expect(values.property("unterminated")?.string == nil)
        #expect(values.property("unterminated")?.stringList == nil)
        #expect(values.property("inner-nul")?.string == nil)
        #expect(values.property("one")?.string == nil)           // 00 00 00 07: inner NULs
    }

    @Test func freeStandingPropertyAccessors() {
        #expect(DeviceTreeProperty(name: "x", bytes: [0, 0, 0, 1, 0, 0, 0, 2]).u32Array == [1, 2])
        #expect(DeviceTreeProperty(name: "x", bytes: [0, 0, 1]).u32 == nil)
        #expect(DeviceTreeProperty(name: "x", bytes: [0, 0, 0, 0, 0]).u32Array == nil)
        #expect(DeviceTreeProperty(name: "x", bytes: [0x41, 0]).string == "A")
        #expect(DeviceTreeProperty(name: "x", bytes: [0]).string == "")
        #expect(DeviceTreeProperty(name: "x", bytes: [0x41]).string == nil)
        #expect(DeviceTreeProperty(name: "x", bytes: [0x41, 0, 0x42]).stringList == nil)
        #expect(DeviceTreeProperty(name: "x", bytes: [0xff, 0]).string == "\u{FFFD}")
        #expect(DeviceTreeProperty(name: "x", bytes: [1, 2]).cell(0) == nil)
        #expect(DeviceTreeProperty(name: "x", bytes: [0, 0, 0, 9]).cell(1) == nil)
    }
}
