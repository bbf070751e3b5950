import CLibFDT
import DeviceTree
import Foundation
import Testing

/// Every way a blob can be unusable must end in a BlobError that names libfdt's code and says
/// where the problem is; none may crash, trap or read out of bounds.
@Suite struct OpeningTests {
    static let source = """
        /dts-v1/;
        / {
            model = "test";
            osc: oscillator { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <24000000>; };
            node@1 { reg = <1>; clocks = <&osc>; status = "okay"; };
        };
        """

    var valid: [UInt8] { get throws { try compileDTS(Self.source) } }

    @Test func validBlobOpens() throws {
        let tree = try FlattenedDeviceTree(bytes: valid)
        #expect(tree.nodeCount == 3)
        #expect(tree.root.property("model")?.string == "test")
    }

    // A user passing a path that does not exist (a typo) must see the path, not a crash.
    @Test func missingFileIsUnreadableAndNamesThePath() {
        let path = "/nonexistent/dir/board.dtb"
        do {
            _ = try FlattenedDeviceTree(contentsOf: path)
            Issue.record("opened a missing file")
        } catch {
            #expect(error.code == "UNREADABLE")
            #expect(error.message.contains(path))
        }
    }

    // A directory is not a blob; reading it must fail cleanly (read() on a directory is EISDIR).
    @Test func directoryIsUnreadable() {
        let directory = packageRoot().appendingPathComponent("examples").path
        do {
            _ = try FlattenedDeviceTree(contentsOf: directory)
            Issue.record("opened a directory")
        } catch {
            #expect(error.code == "UNREADABLE")
            #expect(error.message.contains(directory))
        }
    }

    // A zero-length file happens when a build step fails after creating its output.
    @Test func zeroLengthFileIsEmpty() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(getpid()).dtb").path
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try FlattenedDeviceTree(contentsOf: path)
            Issue.record("opened an empty file")
        } catch {
            #expect(error.code == "EMPTY")
        }
    }

    // Reading from a file gives the same tree as reading the bytes.
    @Test func readsFromFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ok-\(getpid()).dtb").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(try valid))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tree = try FlattenedDeviceTree(contentsOf: path)
        #expect(tree.node(atPath: "/node@1")?.property("reg")?.u32 == 1)
    }

    // A blob of 2 MB or more is read into a mapping of its own (huge pages where the kernel has
    // them), one of 5 MB over three stretches of 2 MB: every byte is read, in place, and the
    // blob's last bytes (after the last whole 2 MB) too.
    @Test func largeBlobReadsFromFileWhole() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("large-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let seed = try TestSeed(default: 0x1a7_9e)
        var random = seed.generator
        let payload = (0..<(5 << 20) + 13).map { _ in UInt8.random(in: 0...255, using: &random) }
        let payloadPath = directory.appendingPathComponent("payload.bin").path
        _ = FileManager.default.createFile(atPath: payloadPath, contents: Data(payload))
        let bytes = try compileDTS("/dts-v1/;\n/ { first { data = /incbin/(\"\(payloadPath)\"); }; last { reg = <7>; }; };\n")
        let blobPath = directory.appendingPathComponent("large.dtb").path
        _ = FileManager.default.createFile(atPath: blobPath, contents: Data(bytes))
        let tree = try FlattenedDeviceTree(contentsOf: blobPath)
        #expect(tree.byteCount == bytes.count)
        #expect(tree.node(atPath: "/first")?.property("data")?.bytes == payload, seed.comment)
        #expect(tree.node(atPath: "/last")?.property("reg")?.u32 == 7)
    }

    // Shorter than the header: libfdt would read header fields past the end.
    @Test func shorterThanHeaderIsTruncated() throws {
        let error = openingError(Array(try valid.prefix(20)))
        #expect(error?.code == "FDT_ERR_TRUNCATED")
        #expect(error?.message.contains("20 bytes") == true)
    }

    // Random bytes: someone passed a kernel image or a .dts instead of a .dtb.
    @Test func randomBytesAreBadMagic() throws {
        let seed = try TestSeed(default: 42)
        var generator = seed.generator
        let bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_BADMAGIC", seed.comment)
        #expect(error?.message.contains("magic") == true, seed.comment)
    }

    // Source text instead of a compiled blob, the most common mix-up.
    @Test func sourceTextIsBadMagic() {
        let error = openingError(Array(Self.source.utf8))
        #expect(error?.code == "FDT_ERR_BADMAGIC")
        #expect(error?.message.contains("0x2f647473") == true)  // "/dts"
    }

    // A blob with its first word damaged (or byte-swapped by a little-endian tool): the message
    // shows the value found so the user can tell which.
    @Test func badMagicNamesTheValue() throws {
        var bytes = try valid
        bytes[.magic] = 0xfeed_d00d
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_BADMAGIC")
        #expect(error?.message.contains("0xfeedd00d") == true)
    }

    // A download or copy cut short: the header promises more bytes than the file has.
    @Test func truncatedBlobSaysTotalsizeAndFileSize() throws {
        let bytes = try valid
        let cut = Array(bytes.prefix(bytes.count / 2))
        let error = openingError(cut)
        #expect(error?.code == "FDT_ERR_TRUNCATED")
        #expect(error?.message == "totalsize \(bytes.count) is larger than the file (\(cut.count) bytes)")
    }

    // A header that lies about its size: the reader would otherwise trust offsets past the end.
    @Test func totalsizeLargerThanFile() throws {
        var bytes = try valid
        bytes[.totalSize] = 4096
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_TRUNCATED")
        #expect(error?.message == "totalsize 4096 is larger than the file (\(bytes.count) bytes)")
    }

    // Padding after totalsize (dtc -p, bootloaders) is allowed.
    @Test func fileLongerThanTotalsizeOpens() throws {
        let bytes = try valid + [UInt8](repeating: 0, count: 100)
        #expect(try FlattenedDeviceTree(bytes: bytes).nodeCount == 3)
    }

    // A blob from a future format version cannot be read safely; say which version it is.
    @Test func unsupportedVersion() throws {
        var bytes = try valid
        bytes[.version] = 18
        bytes[.lastCompatibleVersion] = 18
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_BADVERSION")
        #expect(error?.message.contains("version 18") == true)
    }

    // Version older than anything libfdt reads.
    @Test func ancientVersion() throws {
        var bytes = try valid
        bytes[.version] = 1
        bytes[.lastCompatibleVersion] = 1
        #expect(openingError(bytes)?.code == "FDT_ERR_BADVERSION")
    }

    // The structure block claims to extend past totalsize: offsets inside it would be out of bounds.
    @Test func structureBlockPastTheEnd() throws {
        var bytes = try valid
        bytes[.structSize] = 0x10000
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_TRUNCATED")
        #expect(error?.message.contains("structure block") == true)
    }

    // The strings block starting past the end of the blob.
    @Test func stringsBlockPastTheEnd() throws {
        var bytes = try valid
        bytes[.stringsOffset] = bytes[.totalSize] + 8
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_TRUNCATED")
        #expect(error?.message.contains("strings block") == true)
    }

    // Strings block overlapping the structure block: property names would be read out of node
    // data, so a hand-edited or corrupt blob gives garbage names without any libfdt error.
    @Test func stringsBlockOverlappingStructureBlock() throws {
        var bytes = try valid
        bytes[.stringsOffset] = bytes[.structOffset]
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_BADLAYOUT")
        #expect(error?.message.contains("overlaps") == true)
        #expect(error?.message.contains("strings block") == true)
        #expect(error?.message.contains("structure block") == true)
    }

    // The memory reservation map placed inside the structure block, on a property value of
    // zero bytes (at an 8-aligned place, as a map must be) so that libfdt sees a well-formed
    // empty map there and would accept the blob: only the overlap check catches that
    // reservation entries would be read out of node data.
    @Test func reserveMapInsideStructureBlock() throws {
        var bytes = try compileDTS("/dts-v1/;\n/ { zeros = [" + String(repeating: "00 ", count: 24) + "]; };")
        let structOffset = Int(bytes[.structOffset])
        var offset = structOffset
        while bytes[offset..<offset + 16].contains(where: { $0 != 0 }) || offset % 8 != 0 { offset += 4 }
        bytes[.reserveMapOffset] = UInt32(offset)
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_BADLAYOUT")
        #expect(error?.message.contains("memory reservation map") == true)
        #expect(error?.message.contains("structure block") == true)
    }

    // Blocks where libfdt would load cells from misaligned addresses: the reservation map's
    // 64-bit entries and the structure block's 32-bit tags.
    @Test func misalignedBlocksAreRefused() throws {
        var map = try valid
        map[.reserveMapOffset] += 4
        let mapError = openingError(map)
        #expect(mapError?.code == "FDT_ERR_ALIGNMENT")
        #expect(mapError?.message.contains("memory reservation map") == true)
        var structure = try valid
        structure[.structOffset] += 2
        let structureError = openingError(structure)
        #expect(structureError?.code == "FDT_ERR_ALIGNMENT")
        #expect(structureError?.message.contains("structure block") == true)
    }

    // Each offset and size field set to values that would overflow a 32-bit sum or point
    // into the header: all refused before libfdt, none opens.
    @Test func headerFieldsAtTheirExtremesAreRefused() throws {
        let bytes = try valid
        let fields: [HeaderField] = [.totalSize, .structOffset, .stringsOffset, .reserveMapOffset, .stringsSize, .structSize]
        for field in fields {
            for value: UInt32 in [0, 4, 36, 0x7fff_fffc, 0x8000_0000, 0xffff_fff8, 0xffff_ffff] {
                var mutated = bytes
                mutated[field] = value
                if mutated == bytes { continue }
                do {
                    _ = try FlattenedDeviceTree(bytes: mutated)
                    // Only a size of 0 where 0 is harmless may open (an empty strings block is not).
                    Issue.record("\(field) = \(hex(value)) opened")
                } catch {
                    #expect(error.code.hasPrefix("FDT_ERR_"), "\(field) = \(hex(value)): \(error)")
                }
            }
        }
    }

    // The last property name runs off the end of the strings block (not NUL-terminated there).
    @Test func propertyNameNotTerminated() throws {
        var bytes = try valid
        bytes[.stringsSize] -= 1
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_TRUNCATED" || error?.code == "FDT_ERR_BADOFFSET")
        #expect(error?.message.contains("property at structure offset") == true)
    }

    // A property whose name offset points outside the strings block.
    @Test func propertyNameOffsetOutOfRange() throws {
        var bytes = try valid
        // First FDT_PROP in the structure block: tag, len, nameoff.
        let structOffset = Int(bytes[.structOffset])
        var offset = structOffset
        while readBE32(bytes, offset) != 3 { offset += 4 }
        writeBE32(&bytes, offset + 8, 0xfff0)
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_BADOFFSET" || error?.code == "FDT_ERR_TRUNCATED")
        #expect(error?.message.contains("structure offset 0x\(String(offset - structOffset, radix: 16))") == true)
    }

    // The node name of the last node cut off by the end of the structure block.
    @Test func nodeNameNotTerminated() throws {
        let bytes = try compileDTS("/dts-v1/;\n/ { abcdefghijklmnop { }; };")
        var cut = bytes
        // Root BEGIN_NODE (4) + "" padded (4); child BEGIN_NODE (4) then its name: end the
        // structure block inside the name.
        cut[.structSize] = 4 + 4 + 4 + 8
        let error = openingError(cut)
        #expect(error != nil)
        #expect(error?.code.hasPrefix("FDT_ERR_") == true)
    }

    // An unknown tag in the structure block (bit flip in a node header).
    @Test func corruptTagIsBadStructure() throws {
        var bytes = try valid
        let structOffset = Int(bytes[.structOffset])
        // The first node after the root: find the second FDT_BEGIN_NODE.
        var offset = structOffset + 8
        while readBE32(bytes, offset) != 1 { offset += 4 }
        writeBE32(&bytes, offset, 0x77)
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_BADSTRUCTURE")
        #expect(error?.message.contains("structure offset 0x\(String(offset - structOffset, radix: 16))") == true)
    }

    // A node that is never closed: END_NODE replaced by NOP.
    @Test func unbalancedNodesAreBadStructure() throws {
        var bytes = try valid
        let structOffset = Int(bytes[.structOffset])
        var offset = structOffset
        while readBE32(bytes, offset) != 2 { offset += 4 }
        writeBE32(&bytes, offset, 4)  // FDT_NOP
        let error = openingError(bytes)
        #expect(error?.code == "FDT_ERR_BADSTRUCTURE")
        #expect(error?.message.contains("unclosed") == true)
    }

    // Every possible cut of a blob, with `totalsize` rewritten to match the cut, so the header
    // check passes and libfdt must find the missing structure or strings itself.
    @Test func everyConsistentTruncationIsRejected() throws {
        let bytes = try valid
        for length in 40..<bytes.count {
            var cut = Array(bytes.prefix(length))
            cut[.totalSize] = UInt32(length)
            let error = openingError(cut)
            #expect(error?.code.hasPrefix("FDT_ERR_") == true, "cut at \(length)")
        }
    }

    // A real board (juno-scmi) corrupted at random: a larger tree with every feature dtc emits.
    @Test func mutatedRealBoardNeverCrashes() throws {
        let path = packageRoot().deletingLastPathComponent().appendingPathComponent("shared/corpus/real/juno-scmi.dtb").path
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let seed = try TestSeed(default: 99)
        var generator = seed.generator
        var rejected = 0
        for _ in 0..<500 {
            var mutated = bytes
            for _ in 0..<8 {
                let position = Int.random(in: 0..<mutated.count, using: &generator)
                mutated[position] = UInt8.random(in: 0...255, using: &generator)
            }
            do {
                let tree = try FlattenedDeviceTree(bytes: mutated)
                // A mutated name is a defect to report, never a trap: spell every one.
                for defect in tree.defects { _ = (defect.node.path, defect.problem) }
                tree.forEachNode { node in
                    _ = node.compatible
                    for property in node.properties { _ = property.stringList; _ = property.u64Array }
                    _ = node.specifiers(of: "clocks", cellsName: "#clock-cells", allowingHoles: true)
                    _ = node.specifiers(of: "interrupts-extended", cellsName: "#interrupt-cells")
                }
            } catch {
                rejected += 1
                #expect(error.code.hasPrefix("FDT_ERR_"), "\(error); \(seed)")
            }
        }
        #expect(rejected > 0, seed.comment)
    }

    // Thousands of single-byte and header corruptions of a valid blob: every one either opens
    // (and then every accessor works) or throws an FDT_ERR_* error. Never a trap.
    @Test func mutatedBlobsNeverCrash() throws {
        let bytes = try valid
        let seed = try TestSeed(default: 7)
        var generator = seed.generator
        var opened = 0, rejected = 0
        for round in 0..<3000 {
            var mutated = bytes
            let flips = 1 + round % 4
            for _ in 0..<flips {
                let position = round % 3 == 0
                    ? Int.random(in: 0..<40, using: &generator)
                    : Int.random(in: 0..<mutated.count, using: &generator)
                mutated[position] = UInt8.random(in: 0...255, using: &generator)
            }
            do {
                let tree = try FlattenedDeviceTree(bytes: mutated)
                opened += 1
                for defect in tree.defects { _ = (defect.node.path, defect.problem) }
                tree.forEachNode { node in
                    _ = node.path
                    _ = node.compatible
                    _ = node.isEnabled
                    for property in node.properties {
                        _ = property.stringList
                        _ = property.u32Array
                    }
                    _ = node.specifiers(of: "clocks", cellsName: "#clock-cells")
                }
            } catch {
                rejected += 1
                #expect(error.code.hasPrefix("FDT_ERR_"), "\(error); \(seed)")
                #expect(!error.message.isEmpty, seed.comment)
            }
        }
        #expect(opened > 0, seed.comment)
        #expect(rejected > 0, seed.comment)
    }
}
