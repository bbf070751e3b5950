import DeviceTree
import Foundation
import Testing

/// Which header versions open. libfdt 1.6.1 accepts versions 2..17, but for a version below 16
/// `fdt_check_full` expects full-path node names and dereferences NULL when one has no '/':
/// a v17 blob with its version field set to 2..15 killed `check` with SIGSEGV. Versions before
/// 16 are therefore refused before libfdt sees them; 16 and 17 (what dtc writes) read the same.
@Suite struct BlobVersionTests {
    static let source = """
        /dts-v1/;
        / {
            a@1 {
                p = "x";
                wide = /bits/ 64 <0x1122334455667788 2>;
                b { r = <1>; odd = [01 02 03]; wide2 = /bits/ 64 <3>; };
            };
            c: c { #clock-cells = <0>; };
            d { clocks = <&c>; };
        };
        """

    /// (path, property name, bytes) for every property, and the node paths, in tree order.
    func flatten(_ tree: FlattenedDeviceTree) -> [String] {
        var lines: [String] = []
        tree.forEachNode { node in
            lines.append(node.path)
            for property in node.properties { lines.append("\(node.path):\(property.name)=\(property.bytes)") }
        }
        return lines
    }

    @Test func versionSixteenReadsLikeSeventeen() throws {
        let modern = try FlattenedDeviceTree(bytes: try compileDTS(Self.source, dtcArguments: ["-V", "17"]))
        let sixteen = try FlattenedDeviceTree(bytes: try compileDTS(Self.source, dtcArguments: ["-V", "16"]))
        #expect(flatten(sixteen) == flatten(modern))
        let d = try #require(sixteen.node(atPath: "/d"))
        #expect(try d.specifiers(of: "clocks", cellsName: "#clock-cells")?.get().first?.provider.path == "/c")
    }

    // What `dtc -V 2` / `-V 3` still writes (full-path names, a `name` property per node) is
    // refused with the version and the fix, not read through libfdt's fragile legacy path.
    @Test(arguments: ["2", "3"]) func legacyVersionsAreRefusedWithTheFix(version: String) throws {
        let error = openingError(try compileDTS(Self.source, dtcArguments: ["-V", version]))
        #expect(error?.code == "FDT_ERR_BADVERSION")
        #expect(error?.message.contains("version \(version) predates 16") == true, "\(String(describing: error))")
        #expect(error?.message.contains("recompile the source with dtc") == true)
    }

    // The version field of a real compiled board swept over 0..20 with every last compatible
    // version up to it: each either opens (and reads like the original) or is refused as
    // FDT_ERR_BADVERSION naming the version. A crash here would kill the test process.
    @Test func everyVersionOpensOrIsRefused() throws {
        let board = try compileDTS(String(contentsOf: packageRoot().appendingPathComponent("examples/board.dts"), encoding: .utf8))
        let original = flatten(try FlattenedDeviceTree(bytes: board))
        var opened: [String] = []
        for version: UInt32 in 0...20 {
            for lastCompatible: UInt32 in 0...version {
                var bytes = board
                bytes[.version] = version
                bytes[.lastCompatibleVersion] = lastCompatible
                do {
                    let tree = try FlattenedDeviceTree(bytes: bytes)
                    #expect(flatten(tree) == original, "version \(version)/\(lastCompatible)")
                    opened.append("\(version)/\(lastCompatible)")
                } catch {
                    #expect(error.code == "FDT_ERR_BADVERSION", "version \(version)/\(lastCompatible): \(error)")
                    #expect(error.message.contains("version \(version)"), "\(error)")
                    #expect(version < 16 || lastCompatible > 17, "version \(version)/\(lastCompatible) refused: \(error)")
                }
            }
        }
        // Opens exactly when libfdt reads it safely: version >= 16 and last compatible <= 17.
        let expected = (16...20).flatMap { version in (0...min(version, 17)).map { "\(version)/\($0)" } }
        #expect(opened == expected)
    }

    // A last compatible version later than the version itself is self-contradictory.
    @Test func lastCompatibleAfterVersionIsRefused() throws {
        var bytes = try compileDTS(Self.source)
        bytes[.version] = 16
        bytes[.lastCompatibleVersion] = 17
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_BADVERSION")
        #expect(error?.message.contains("later than the version 16") == true)
    }
}
