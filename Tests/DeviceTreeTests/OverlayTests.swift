import DeviceTree
import Testing

/// `applying(_:)`: libfdt's fdt_overlay_apply behind a typed API, with targets and labels
/// named before libfdt runs.
@Suite struct OverlayTests {
    static let base = """
        /dts-v1/;
        / {
            soc {
                uart0: serial@1000 { compatible = "acme,uart"; };
                usb@2000 { compatible = "acme,usb"; };
            };
        };
        """

    func overlay(_ source: String, name: String = "test.dtbo") throws -> DeviceTreeOverlay {
        try DeviceTreeOverlay(tree: FlattenedDeviceTree(bytes: compileDTS(source, dtcArguments: ["-@"])), name: name)
    }

    @Test func labelsPathsAndProvenance() throws {
        let base = try FlattenedDeviceTree(bytes: compileDTS(Self.base, dtcArguments: ["-@"]))
        let first = try overlay("""
            /dts-v1/;
            /plugin/;
            &uart0 { status = "okay"; extra { uart = <&uart0>; usb = <&{/soc/usb@2000}>; }; };
            """, name: "first.dtbo")
        let second = try overlay("/dts-v1/;\n/plugin/;\n&{/soc} { added { }; };\n", name: "second.dtbo")
        let (tree, provenance) = try base.applying([first, second])
        let extra = try #require(tree.node(atPath: "/soc/serial@1000/extra"))
        let uart = try #require(tree.node(atPath: "/soc/serial@1000"))
        let usb = try #require(tree.node(atPath: "/soc/usb@2000"))
        #expect(extra.phandles(of: "uart").flatMap { try? $0.get() }?.first?.provider == uart)
        // The path reference gave the usb node a phandle; no temporary symbol is left behind.
        #expect(usb.phandle != nil)
        #expect(extra.phandles(of: "usb").flatMap { try? $0.get() }?.first?.provider == usb)
        let symbols = try #require(tree.node(atPath: "/__symbols__"))
        #expect(!symbols.properties.contains { $0.name.hasPrefix("/") })
        #expect(tree.node(atPath: "/soc/added") != nil)
        #expect(provenance.origin(path: "/soc/serial@1000/extra", property: nil) == "first.dtbo")
        #expect(provenance.origin(path: "/soc/serial@1000", property: "status") == "first.dtbo")
        #expect(provenance.origin(path: "/soc/serial@1000", property: "compatible") == nil)
        #expect(provenance.origin(path: "/soc/added", property: nil) == "second.dtbo")
        #expect(provenance.origin(path: "/soc", property: nil) == nil)
    }

    /// libfdt 1.6 resolves `/t-phy` to an earlier sibling `t-phy@1a0c4000` (a real MediaTek
    /// board has both): targets and references are resolved exactly here instead.
    @Test func pathsWithoutUnitAddressReachTheRightNode() throws {
        let base = try FlattenedDeviceTree(bytes: compileDTS("""
            /dts-v1/;
            / {
                t-phy@1a0c4000 { usb-phy@1a0c4800 { }; };
                t-phy { sata-phy@1a243000 { }; };
            };
            """))
        let (tree, _) = try base.applying([overlay("""
            /dts-v1/;
            /plugin/;
            &{/t-phy/sata-phy@1a243000} { marked; };
            &{/t-phy} { user { phy = <&{/t-phy/sata-phy@1a243000}>; }; };
            """)])
        let sata = try #require(tree.node(atPath: "/t-phy/sata-phy@1a243000"))
        #expect(sata.hasProperty("marked"))
        #expect(tree.node(atPath: "/t-phy@1a0c4000/user") == nil)
        let user = try #require(tree.node(atPath: "/t-phy/user"))
        #expect(user.phandles(of: "phy").flatMap { try? $0.get() }?.first?.provider == sata)
    }

    @Test func failuresNameWhatIsMissing() throws {
        let labelled = try FlattenedDeviceTree(bytes: compileDTS(Self.base, dtcArguments: ["-@"]))
        let plain = try FlattenedDeviceTree(bytes: compileDTS(Self.base))
        let cases: [(FlattenedDeviceTree, String, String, String)] = [
            (plain, "&{/soc/none@0} { x = <1>; };", "FDT_ERR_NOTFOUND", "targets /soc/none@0, which the base tree does not have"),
            (plain, "&uart0 { x = <1>; };", "FDT_ERR_NOTFOUND", "no __symbols__ node: rebuild the base with dtc -@"),
            (labelled, "&nothing { x = <1>; };", "FDT_ERR_NOTFOUND", "label 'nothing'"),
            (plain, "&{/} { x = <&{/soc/none@0}>; };", "FDT_ERR_NOTFOUND", "refers to /soc/none@0"),
        ]
        for (base, body, code, message) in cases {
            let error = try #require(throws: BlobError.self) { try base.applying([overlay("/dts-v1/;\n/plugin/;\n" + body)]) }
            #expect(error.code == code, "\(body)")
            #expect(error.message.contains(message) && error.message.contains("test.dtbo"), "\(error)")
        }
        let notOverlay = try FlattenedDeviceTree(bytes: compileDTS(Self.base))
        let error = try #require(throws: BlobError.self) { try DeviceTreeOverlay(tree: notOverlay, name: "plain.dtb") }
        #expect(error.code == "FDT_ERR_BADOVERLAY")
    }

    /// An overlay larger than the room first given: the buffer grows until libfdt fits it.
    @Test func largeOverlayGrowsTheBuffer() throws {
        let base = try FlattenedDeviceTree(bytes: compileDTS(Self.base))
        let nodes = (0..<2000).map { "node\($0) { value = <\($0)>; text = \"node-\($0)-with-a-long-text\"; };" }.joined(separator: "\n")
        let (tree, _) = try base.applying([overlay("/dts-v1/;\n/plugin/;\n&{/soc} {\n\(nodes)\n};\n")])
        #expect(tree.node(atPath: "/soc/node1999")?.property("value")?.u32 == 1999)
        #expect(tree.nodeCount == base.nodeCount + 2000)
    }

    /// Hostile overlays: seeded byte mutations of a real overlay (labels, path references,
    /// local references). Each either applies or is a BlobError; none may crash the process.
    @Test func mutatedOverlaysAreErrorsNotCrashes() throws {
        let seed = try TestSeed(default: 0x0e1a7)
        var random = seed.generator
        let base = try FlattenedDeviceTree(bytes: compileDTS(Self.base, dtcArguments: ["-@"]))
        let good = try compileDTS("""
            /dts-v1/;
            /plugin/;
            &uart0 { local: child { other = <&local>; uart = <&uart0>; usb = <&{/soc/usb@2000}>; }; };
            &{/soc} { sibling { ref = <&local>; }; };
            """, dtcArguments: ["-@"])
        var applied = 0
        for _ in 0..<400 {
            var bytes = good
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let position = Int(random.next() % UInt64(bytes.count))
                bytes[position] = UInt8(truncatingIfNeeded: random.next())
            }
            do {
                let overlay = try DeviceTreeOverlay(tree: FlattenedDeviceTree(bytes: bytes), name: "mutated.dtbo")
                _ = try base.applying([overlay])
                applied += 1
            } catch {
                #expect(!error.code.isEmpty, Comment(rawValue: seed.description))
            }
        }
        // Some mutations only change values: those still apply.
        #expect(applied > 0, Comment(rawValue: seed.description))
    }
}

