import CLibFDT
import DeviceTree
import Foundation
import Testing

/// Real arm64 board blobs from Debian's kernel package (`../shared/corpus/real` from the
/// package root): trees nobody here wrote. Every node, path and
/// phandle our index builds is cross-checked against libfdt's own lookups.
@Suite struct RealBoardTests {
    static let corpus = packageRoot().deletingLastPathComponent().appendingPathComponent("shared/corpus/real")

    static var blobs: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []
        return names.filter { $0.hasSuffix(".dtb") }.sorted()
    }

    @Test func corpusIsPresent() {
        #expect(Self.blobs.count >= 5, "expected the real boards in \(Self.corpus.path)")
    }

    @Test(arguments: blobs) func everyNodeMatchesLibfdt(name: String) throws {
        let path = Self.corpus.appendingPathComponent(name).path
        let tree = try FlattenedDeviceTree(contentsOf: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var nodes = 0, withPhandle = 0
        try bytes.withUnsafeBytes { raw throws in
            // Data's buffer is not guaranteed 8-byte aligned; copy for libfdt.
            let aligned = UnsafeMutableRawBufferPointer.allocate(byteCount: raw.count, alignment: 8)
            defer { aligned.deallocate() }
            aligned.copyMemory(from: raw)
            let fdt = UnsafeRawPointer(aligned.baseAddress!)
            try tree.forEachNode { node in
                nodes += 1
                // libfdt's path for our offset equals our path. (Not fdt_path_offset: it lets
                // "/timer" match "/timer@2a810000" when that comes first.)
                var buffer = [CChar](repeating: 0, count: 1024)
                #expect(fdt_get_path(fdt, node.offset, &buffer, Int32(buffer.count)) == 0)
                let libfdtPath = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                #expect(libfdtPath == node.path, "\(name)")
                #expect(tree.node(atPath: node.path) == node)
                if let phandle = node.phandle {
                    withPhandle += 1
                    #expect(tree.node(withPhandle: phandle) == node)
                    #expect(fdt_node_offset_by_phandle(fdt, phandle) == node.offset)
                }
                var count: Int32 = 0
                var property = fdt_first_property_offset(fdt, node.offset)
                while property >= 0 { count += 1; property = fdt_next_property_offset(fdt, property) }
                #expect(Int(count) == node.properties.count)
                for child in node.children { #expect(child.parent == node) }
                _ = try #require(Optional(node.compatible))
            }
        }
        #expect(nodes == tree.nodeCount)
        #expect(nodes > 100)
        #expect(withPhandle > 10)
        #expect(tree.duplicatePhandles.isEmpty)
    }

    // Every clocks / resets / power-domains list on a shipping board resolves: the walker
    // agrees with the kernel's reading of these trees.
    @Test(arguments: blobs) func phandleArraysResolve(name: String) throws {
        let tree = try FlattenedDeviceTree(contentsOf: Self.corpus.appendingPathComponent(name).path)
        var resolved = 0, holes = 0
        // Not consumers: these hold paths or fixup lists under the same property names.
        let metadata: Set<String> = ["/__symbols__", "/__fixups__", "/__local_fixups__", "/aliases"]
        let arrays = [("clocks", "#clock-cells"), ("resets", "#reset-cells"), ("power-domains", "#power-domain-cells")]
        tree.forEachNode { node in
            guard !metadata.contains(node.path) else { return }
            for (property, cells) in arrays {
                guard let result = node.specifiers(of: property, cellsName: cells, allowingHoles: true) else { continue }
                switch result {
                case .success(let entries):
                    resolved += entries.count
                    holes += node.property(property)!.cellCount! - entries.reduce(0) { $0 + 1 + $1.cells.count }
                    for entry in entries { #expect(entry.provider.hasProperty(cells)) }
                case .failure(let error):
                    Issue.record("\(name): \(node.path):\(property): \(error)")
                }
            }
        }
        #expect(resolved > 10)
        if name == "sm8550-qrd.dtb" { #expect(holes > 0) }  // its clock controllers use <0> placeholders
    }

    @Test func scmiClientNodesAreFoundByCompatible() throws {
        for name in ["juno-scmi.dtb", "imx95-19x19-evk.dtb", "rk3588-evb1-v10.dtb"] {
            let tree = try FlattenedDeviceTree(contentsOf: Self.corpus.appendingPathComponent(name).path)
            let scmi = tree.nodes(withCompatible: "arm,scmi") + tree.nodes(withCompatible: "arm,scmi-smc")
            #expect(!scmi.isEmpty, "\(name)")
            #expect(scmi.allSatisfy { $0.compatible.contains { $0.hasPrefix("arm,scmi") } })
        }
    }
}
