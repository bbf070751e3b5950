import CLibFDT

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A devicetree overlay (`/plugin;` source compiled with `dtc -@`): a vetted blob whose
/// fragments each carry an `__overlay__` node and a target (`target-path`, or a `target`
/// phandle that `__fixups__` resolves by label).
public struct DeviceTreeOverlay: Sendable {
    /// How messages name the overlay (its file, as the user wrote it).
    public let name: String
    let tree: FlattenedDeviceTree

    /// Vets `tree` as an overlay: not one is `FDT_ERR_BADOVERLAY`, saying how to make one.
    public init(tree: FlattenedDeviceTree, name: String) throws(BlobError) {
        self.name = name
        self.tree = tree
        guard tree.root.children.contains(where: { $0.child(named: "__overlay__") != nil }) else {
            throw BlobError(
                code: "FDT_ERR_BADOVERLAY",
                message: "overlay \(name) is a devicetree but not an overlay: no fragment has an __overlay__ node "
                    + "(write the source with /plugin/; and compile it with dtc -@)")
        }
    }
}

/// Where applied overlays wrote: for a node or property of the merged tree, the overlay that
/// created or last set it (nil for what the base blob had).
public struct OverlayProvenance: Sendable {
    private var createdNodes: [String: String] = [:]
    private var writtenProperties: [String: String] = [:]

    public init() {}

    /// The overlay that wrote `property` of the node at `path` (or, without a property or when
    /// the base set it, the overlay that created the node or one of its ancestors).
    public func origin(path: String, property: String?) -> String? {
        if let property, let overlay = writtenProperties[path + "\u{0}" + property] { return overlay }
        var current = Substring(path)
        while !current.isEmpty {
            if let overlay = createdNodes[String(current)] { return overlay }
            guard let slash = current.lastIndex(of: "/"), slash != current.startIndex else { break }
            current = current[..<slash]
        }
        return nil
    }

    public var isEmpty: Bool { createdNodes.isEmpty && writtenProperties.isEmpty }

    mutating func record(node path: String, created: Bool, properties: [String], overlay: String) {
        if created { createdNodes[path] = overlay }
        for property in properties { writtenProperties[path + "\u{0}" + property] = overlay }
    }
}

extension FlattenedDeviceTree {
    /// This tree with `overlays` applied in order by libfdt's `fdt_overlay_apply`, re-vetted,
    /// and where each overlay wrote.
    ///
    /// Before libfdt sees an overlay, every fragment's target and every `__fixups__` entry is
    /// resolved here, exactly, against this tree's index: a missing one is named (libfdt only
    /// says FDT_ERR_NOTFOUND), a base without `__symbols__` gets a fix-it, and the reference
    /// cells are written into the overlay, so libfdt merges, renumbers the overlay's own
    /// phandles and records its symbols but resolves nothing by path itself. That matters
    /// because libfdt 1.6 matches a path component without a unit address against the first
    /// sibling of that name with one (`/t-phy` finds `t-phy@1a0c4000`), it resolves labels only
    /// through `__symbols__` (so not dtc's path references, `&{/soc/usb@0}`, which it writes as
    /// fixups keyed by the path), and it refuses a target without a phandle: here such a node
    /// gets the next free phandle.
    public func applying(_ overlays: [DeviceTreeOverlay]) throws(BlobError) -> (tree: FlattenedDeviceTree, provenance: OverlayProvenance) {
        var tree = self
        var provenance = OverlayProvenance()
        for overlay in overlays {
            let plan = try OverlayPlan(base: tree, overlay: overlay)
            tree = try plan.apply()
            plan.record(into: &provenance)
        }
        return (tree, provenance)
    }
}

/// One overlay checked against one base: the resolved targets and references.
struct OverlayPlan {
    let base: FlattenedDeviceTree
    let overlay: DeviceTreeOverlay
    /// Each fragment's `__overlay__` node and the base path it merges into.
    var fragments: [(overlayNode: DeviceTreeNode, target: String)] = []
    /// One place in the overlay that refers to a base node: a cell to write its phandle into.
    struct Use {
        var node: DeviceTreeNode
        var property: String
        var offset: Int
    }
    /// Every `__fixups__` entry: its name, the base node it names, the cells that refer to it.
    var references: [(name: String, target: DeviceTreeNode, uses: [Use])] = []
    /// Fragments whose `target-path` libfdt would resolve to another node (or not at all):
    /// they get `target = <phandle>` instead.
    var retargets: [(fragment: DeviceTreeNode, target: DeviceTreeNode)] = []

    init(base: FlattenedDeviceTree, overlay: DeviceTreeOverlay) throws(BlobError) {
        self.base = base
        self.overlay = overlay
        let name = overlay.name
        let symbols = base.node(atPath: "/__symbols__")
        try Self.checkLocalFixups(overlay)
        if let fixups = overlay.tree.node(atPath: "/__fixups__") {
            for property in fixups.properties {
                let label = property.name
                let uses = try Self.uses(of: property, overlay)
                let use = property.string(at: 0) ?? "?"
                let target: DeviceTreeNode
                if label.hasPrefix("/") {
                    guard let node = base.node(atPath: label) else {
                        throw BlobError(
                            code: "FDT_ERR_NOTFOUND",
                            message: "overlay \(name) refers to \(label) (at \(use)), which the base tree does not have")
                    }
                    target = node
                } else {
                    guard let symbols else {
                        throw BlobError(
                            code: "FDT_ERR_NOTFOUND",
                            message: "overlay \(name) refers to label '\(label)' (at \(use)) but the base blob has no __symbols__ node: "
                                + "rebuild the base with dtc -@, or write a path reference &{/path/to/node} instead of &\(label) in the overlay")
                    }
                    guard let path = symbols.property(label)?.string, path.hasPrefix("/"), let node = base.node(atPath: path) else {
                        throw BlobError(
                            code: "FDT_ERR_NOTFOUND",
                            message: "overlay \(name) refers to label '\(label)' (at \(use)), which the base tree's __symbols__ does not name")
                    }
                    target = node
                }
                references.append((label, target, uses))
            }
        }
        for fragment in overlay.tree.root.children {
            guard let content = fragment.child(named: "__overlay__") else { continue }
            let target: DeviceTreeNode
            if let phandle = fragment.property("target")?.u32 {
                if phandle == 0xffff_ffff {
                    let use = fragment.path
                    guard let reference = references.first(where: { $0.uses.contains { $0.node.path == use && $0.property == "target" } }) else {
                        throw BlobError(
                            code: "FDT_ERR_BADOVERLAY",
                            message: "overlay \(name): \(fragment.name)'s target is an unresolved reference with no __fixups__ entry")
                    }
                    target = reference.target
                } else {
                    guard let node = base.node(withPhandle: phandle) else {
                        throw BlobError(
                            code: "FDT_ERR_NOTFOUND",
                            message: "overlay \(name): \(fragment.name) targets phandle 0x\(String(phandle, radix: 16)), which no node of the base tree has")
                    }
                    target = node
                }
            } else if let path = fragment.property("target-path") {
                guard let text = path.string, let node = base.node(atPath: text) else {
                    throw BlobError(
                        code: "FDT_ERR_NOTFOUND",
                        message: "overlay \(name): \(fragment.name) targets \(path.string ?? "a malformed target-path"), which the base tree does not have")
                }
                target = node
                if fdt_path_offset(base.storage.base, text) != node.offset { retargets.append((fragment, node)) }
            } else {
                throw BlobError(code: "FDT_ERR_BADOVERLAY", message: "overlay \(name): \(fragment.name) has neither target nor target-path")
            }
            fragments.append((content, target.path))
        }
    }

    /// Every `__local_fixups__` entry must name a property of the overlay and offsets with a
    /// whole cell inside its value. libfdt 1.6 copies the cell at each offset without checking
    /// it against the property's length: a hostile offset read and wrote outside the blob.
    static func checkLocalFixups(_ overlay: DeviceTreeOverlay) throws(BlobError) {
        guard let local = overlay.tree.node(atPath: "/__local_fixups__") else { return }
        var stack: [(fixups: DeviceTreeNode, node: DeviceTreeNode)] = [(local, overlay.tree.root)]
        while let (fixups, node) = stack.popLast() {
            for property in fixups.properties {
                guard let target = node.property(property.name), let offsets = property.u32Array else {
                    throw badOverlay(overlay, "__local_fixups__ names \(property.name) of \(node.path), which the overlay does not have, or its offsets are not cells")
                }
                if let offset = offsets.first(where: { Int($0) > target.count - 4 }) {
                    throw badOverlay(overlay, "__local_fixups__ names offset \(offset) of \(node.path):\(property.name), which is \(target.count) bytes")
                }
            }
            for child in fixups.children {
                guard let match = node.child(named: child.name) else {
                    throw badOverlay(overlay, "__local_fixups__ names \(child.name) under \(node.path), which the overlay does not have")
                }
                stack.append((child, match))
            }
        }
    }

    /// The uses of one `__fixups__` entry, each `path:property:offset`, which must name a whole
    /// cell of the overlay.
    static func uses(of property: DeviceTreeProperty, _ overlay: DeviceTreeOverlay) throws(BlobError) -> [Use] {
        guard let texts = property.stringList, !texts.isEmpty else {
            throw badOverlay(overlay, "__fixups__ entry \(property.name) is not a list of strings")
        }
        var uses: [Use] = []
        for text in texts {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, let offset = Int(parts[2]), offset >= 0, offset % 4 == 0, parts[0].hasPrefix("/"),
                let node = overlay.tree.node(atPath: String(parts[0])),
                let target = node.property(String(parts[1])), offset <= target.count - 4
            else {
                throw badOverlay(overlay, "__fixups__ entry \(property.name) has the use \"\(text)\", which names no cell of the overlay")
            }
            uses.append(Use(node: node, property: String(parts[1]), offset: offset))
        }
        return uses
    }

    static func badOverlay(_ overlay: DeviceTreeOverlay, _ message: String) -> BlobError {
        BlobError(code: "FDT_ERR_BADOVERLAY", message: "overlay \(overlay.name): \(message)")
    }

    /// Applies the overlay to a writable copy of the base, growing the copy until it fits.
    func apply() throws(BlobError) -> FlattenedDeviceTree {
        var size = base.storage.count + overlay.tree.storage.count * 2 + 16 * (references.count + retargets.count) + 1024
        // The merged tree holds at most the base, the overlay's content and the new phandles,
        // which the first size already allows for; a few doublings cover libfdt's own slack, and
        // a bound keeps a hostile overlay from making this allocate without end.
        let largest = size * 8
        while true {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
            var adopted = false
            defer { if !adopted { buffer.deallocate() } }
            let result = attempt(into: buffer, size: size)
            if result == -FDT_ERR_NOSPACE, size < largest, size < Int(Int32.max) / 2 {
                size *= 2
                continue
            }
            guard result == 0 else {
                throw BlobError(libfdt: result, "overlay \(overlay.name) does not apply to the base tree")
            }
            let total = Int(UInt32(bigEndian: buffer.load(fromByteOffset: 4, as: UInt32.self)))
            adopted = true
            return try FlattenedDeviceTree(storage: BlobStorage(adopting: buffer, count: total))
        }
    }

    /// One try in a buffer of `size` bytes: 0, or a negative libfdt error.
    private func attempt(into buffer: UnsafeMutableRawPointer, size: Int) -> Int32 {
        var result = fdt_open_into(base.storage.base, buffer, Int32(size))
        guard result == 0 else { return result }
        var phandles: [Int: UInt32] = [:]
        result = assignPhandles(buffer, &phandles)
        guard result == 0 else { return result }
        // libfdt changes the overlay while applying it (and leaves it damaged on failure): give
        // it a fresh writable copy each try, with room for the retargeted fragments.
        let overlaySize = overlay.tree.storage.count + 32 * retargets.count + 64
        let overlayCopy = UnsafeMutableRawPointer.allocate(byteCount: overlaySize, alignment: 8)
        defer { overlayCopy.deallocate() }
        result = fdt_open_into(overlay.tree.storage.base, overlayCopy, Int32(overlaySize))
        guard result == 0 else { return result }
        result = resolveReferences(overlayCopy, phandles)
        guard result == 0 else { return result }
        result = fdt_overlay_apply(buffer, overlayCopy)
        guard result == 0 else { return result }
        return fdt_pack(buffer)
    }

    /// Gives every referenced base node without a phandle the next free one. Nodes are
    /// changed from the last in the blob to the first, so the structure offsets of those still
    /// to change (taken from the index) do not move.
    private func assignPhandles(_ fdt: UnsafeMutableRawPointer, _ phandles: inout [Int: UInt32]) -> Int32 {
        var targets = references.map(\.target) + retargets.map(\.target)
        for node in targets { if let phandle = node.phandle { phandles[node.index] = phandle } }
        targets = Array(Set(targets.filter { $0.phandle == nil })).sorted { $0.offset > $1.offset }
        guard !targets.isEmpty else { return 0 }
        var maximum: UInt32 = 0
        let found = fdt_find_max_phandle(fdt, &maximum)
        guard found == 0 else { return found }
        // Ascending phandles in tree order, assigned from the last node back.
        guard maximum < 0xffff_fffe - UInt32(targets.count) else { return -FDT_ERR_NOPHANDLES }
        for (position, node) in targets.enumerated() {
            let phandle = maximum + UInt32(targets.count - position)
            var value = phandle.bigEndian
            let set = fdt_setprop(fdt, node.offset, "phandle", &value, 4)
            guard set == 0 else { return set }
            phandles[node.index] = phandle
        }
        return 0
    }

    /// Writes each reference's phandle into the overlay's cells, retargets the fragments libfdt
    /// would misplace, and removes the `__fixups__` entries so that libfdt resolves nothing.
    /// In-place writes first (offsets from the index stay valid), then the changes that resize,
    /// from the last fragment back.
    private func resolveReferences(_ overlay: UnsafeMutableRawPointer, _ phandles: [Int: UInt32]) -> Int32 {
        for reference in references {
            guard var value = phandles[reference.target.index]?.bigEndian else { return -FDT_ERR_INTERNAL }
            for use in reference.uses {
                let result = fdt_setprop_inplace_namelen_partial(
                    overlay, use.node.offset, use.property, Int32(use.property.utf8.count), UInt32(use.offset), &value, 4)
                guard result == 0 else { return result }
            }
        }
        for (fragment, target) in retargets.sorted(by: { $0.fragment.offset > $1.fragment.offset }) {
            guard var value = phandles[target.index]?.bigEndian else { return -FDT_ERR_INTERNAL }
            var result = fdt_setprop(overlay, fragment.offset, "target", &value, 4)
            guard result == 0 else { return result }
            result = fdt_delprop(overlay, fragment.offset, "target-path")
            guard result == 0 else { return result }
        }
        guard !references.isEmpty else { return 0 }
        let fixups = fdt_subnode_offset(overlay, 0, "__fixups__")
        guard fixups >= 0 else { return fixups }
        for reference in references {
            let result = fdt_delprop(overlay, fixups, reference.name)
            guard result == 0 else { return result }
        }
        return 0
    }

    /// Records what each fragment wrote: nodes it created (absent from the base) and every
    /// property it set, at their paths in the merged tree.
    func record(into provenance: inout OverlayProvenance) {
        for (content, target) in fragments {
            var stack: [(DeviceTreeNode, String)] = [(content, target)]
            while let (node, path) = stack.popLast() {
                let created = node != content && base.node(atPath: path) == nil
                provenance.record(
                    node: path, created: created, properties: node.properties.map(\.name), overlay: overlay.name)
                for child in node.children {
                    stack.append((child, (path == "/" ? "" : path) + "/" + child.name))
                }
            }
        }
    }
}
