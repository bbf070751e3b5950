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
    /// Before libfdt sees an overlay, every fragment's target and every `__fixups__` label is
    /// looked up here, so that a missing one is named (libfdt only says FDT_ERR_NOTFOUND) and a
    /// base without `__symbols__` gets a fix-it. A fixup keyed by a path (`&{/soc/usb@0}` in the
    /// source; dtc writes the path as the label) is something libfdt 1.6 looks up in
    /// `__symbols__` only: for those the node gets a phandle if it has none and a temporary
    /// `__symbols__` entry (removed after applying) names it by its own path.
    public func applying(_ overlays: [DeviceTreeOverlay]) throws(BlobError) -> (tree: FlattenedDeviceTree, provenance: OverlayProvenance) {
        var tree = self
        var provenance = OverlayProvenance()
        for overlay in overlays {
            let plan = try OverlayPlan(base: tree, overlay: overlay)
            tree = try plan.apply()
            plan.record(into: &provenance, merged: tree)
        }
        return (tree, provenance)
    }
}

/// One overlay checked against one base: the resolved targets and fixups.
struct OverlayPlan {
    let base: FlattenedDeviceTree
    let overlay: DeviceTreeOverlay
    /// Each fragment's `__overlay__` node and the base path it merges into.
    var fragments: [(overlayNode: DeviceTreeNode, target: String)] = []
    /// Fixups keyed by a path: the base paths that need a phandle and a temporary symbol.
    var pathFixups: [String] = []

    init(base: FlattenedDeviceTree, overlay: DeviceTreeOverlay) throws(BlobError) {
        self.base = base
        self.overlay = overlay
        let name = overlay.name
        let symbols = base.node(atPath: "/__symbols__")
        // Label → one place that uses it, for messages.
        var labelUse: [String: String] = [:]
        try Self.checkLocalFixups(overlay)
        if let fixups = overlay.tree.node(atPath: "/__fixups__") {
            for property in fixups.properties {
                let label = property.name
                try Self.checkFixupUses(property, overlay)
                let use = property.string(at: 0) ?? "?"
                labelUse[label] = use
                if label.hasPrefix("/") {
                    guard base.node(atPath: label) != nil else {
                        throw BlobError(
                            code: "FDT_ERR_NOTFOUND",
                            message: "overlay \(name) refers to \(label) (at \(use)), which the base tree does not have")
                    }
                    pathFixups.append(label)
                    continue
                }
                guard let symbols else {
                    throw BlobError(
                        code: "FDT_ERR_NOTFOUND",
                        message: "overlay \(name) refers to label '\(label)' (at \(use)) but the base blob has no __symbols__ node: "
                            + "rebuild the base with dtc -@, or write a path reference &{/path/to/node} instead of &\(label) in the overlay")
                }
                guard let path = symbols.property(label)?.string, base.node(atPath: path) != nil else {
                    throw BlobError(
                        code: "FDT_ERR_NOTFOUND",
                        message: "overlay \(name) refers to label '\(label)' (at \(use)), which the base tree's __symbols__ does not name")
                }
            }
        }
        for fragment in overlay.tree.root.children {
            guard let content = fragment.child(named: "__overlay__") else { continue }
            let target: String
            if let path = fragment.property("target-path") {
                guard let text = path.string, base.node(atPath: text) != nil else {
                    throw BlobError(
                        code: "FDT_ERR_NOTFOUND",
                        message: "overlay \(name): \(fragment.name) targets \(path.string ?? "a malformed target-path"), which the base tree does not have")
                }
                // An alias target resolves to the node's real path.
                target = base.node(atPath: text)!.path
            } else if let phandle = fragment.property("target")?.u32 {
                if phandle == 0xffff_ffff {
                    let use = "/" + fragment.name + ":target:0"
                    guard let label = labelUse.first(where: { $0.value == use })?.key ?? Self.label(using: use, in: overlay.tree) else {
                        throw BlobError(
                            code: "FDT_ERR_BADOVERLAY",
                            message: "overlay \(name): \(fragment.name)'s target is an unresolved reference with no __fixups__ entry")
                    }
                    target = label.hasPrefix("/") ? label : (symbols?.property(label)?.string ?? label)
                } else {
                    guard let node = base.node(withPhandle: phandle) else {
                        throw BlobError(
                            code: "FDT_ERR_NOTFOUND",
                            message: "overlay \(name): \(fragment.name) targets phandle 0x\(String(phandle, radix: 16)), which no node of the base tree has")
                    }
                    target = node.path
                }
            } else {
                throw BlobError(code: "FDT_ERR_BADOVERLAY", message: "overlay \(name): \(fragment.name) has neither target nor target-path")
            }
            fragments.append((content, target))
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

    /// Each use of a `__fixups__` label, `path:property:offset`, must name a property of the
    /// overlay with a whole cell at that offset (libfdt would answer FDT_ERR_NOSPACE).
    static func checkFixupUses(_ property: DeviceTreeProperty, _ overlay: DeviceTreeOverlay) throws(BlobError) {
        guard let uses = property.stringList, !uses.isEmpty else {
            throw badOverlay(overlay, "__fixups__ entry \(property.name) is not a list of strings")
        }
        for use in uses {
            let parts = use.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, let offset = Int(parts[2]), offset >= 0,
                let node = overlay.tree.node(atPath: String(parts[0])), parts[0].hasPrefix("/"),
                let target = node.property(String(parts[1])), offset <= target.count - 4
            else {
                throw badOverlay(overlay, "__fixups__ entry \(property.name) has the use \"\(use)\", which names no cell of the overlay")
            }
        }
    }

    static func badOverlay(_ overlay: DeviceTreeOverlay, _ message: String) -> BlobError {
        BlobError(code: "FDT_ERR_BADOVERLAY", message: "overlay \(overlay.name): \(message)")
    }

    /// The label whose fixup list contains `use` (a fixup property lists several uses).
    private static func label(using use: String, in overlay: FlattenedDeviceTree) -> String? {
        overlay.node(atPath: "/__fixups__")?.properties.first { ($0.stringList ?? []).contains(use) }?.name
    }

    /// Applies the overlay to a writable copy of the base, growing the copy until it fits.
    func apply() throws(BlobError) -> FlattenedDeviceTree {
        var size = base.storage.count + overlay.tree.storage.count * 2 + pathFixups.reduce(1024) { $0 + 2 * $1.utf8.count + 64 }
        // The merged tree holds at most the base, the overlay's content and the symbols, which the
        // first size already allows for; a few doublings cover libfdt's own slack, and a bound
        // keeps a hostile overlay from making this allocate without end.
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
        result = addPathSymbols(buffer)
        guard result == 0 else { return result }
        // libfdt changes the overlay while applying it (and leaves it damaged on failure):
        // give it a fresh writable copy each try.
        let overlayCount = overlay.tree.storage.count
        let overlayCopy = UnsafeMutableRawPointer.allocate(byteCount: overlayCount, alignment: 8)
        defer { overlayCopy.deallocate() }
        overlayCopy.copyMemory(from: overlay.tree.storage.base, byteCount: overlayCount)
        result = fdt_overlay_apply(buffer, overlayCopy)
        guard result == 0 else { return result }
        result = removePathSymbols(buffer)
        guard result == 0 else { return result }
        return fdt_pack(buffer)
    }

    /// For each path fixup: a phandle on the node (the next free one) and a `__symbols__`
    /// property named by the path whose value is the path.
    private func addPathSymbols(_ fdt: UnsafeMutableRawPointer) -> Int32 {
        guard !pathFixups.isEmpty else { return 0 }
        var symbols = fdt_subnode_offset(fdt, 0, "__symbols__")
        if symbols == -FDT_ERR_NOTFOUND { symbols = fdt_add_subnode(fdt, 0, "__symbols__") }
        guard symbols >= 0 else { return symbols }
        for path in pathFixups {
            let node = fdt_path_offset(fdt, path)
            guard node >= 0 else { return node }
            if fdt_get_phandle(fdt, node) == 0 {
                var maximum: UInt32 = 0
                let found = fdt_find_max_phandle(fdt, &maximum)
                guard found == 0 else { return found }
                guard maximum < 0xffff_fffe else { return -FDT_ERR_NOPHANDLES }
                var value = (maximum + 1).bigEndian
                let set = fdt_setprop(fdt, node, "phandle", &value, 4)
                guard set == 0 else { return set }
            }
            // Offsets move as the tree grows: look the symbols node up again.
            symbols = fdt_subnode_offset(fdt, 0, "__symbols__")
            guard symbols >= 0 else { return symbols }
            let set = fdt_setprop(fdt, symbols, path, path, Int32(path.utf8.count + 1))
            guard set == 0 else { return set }
        }
        return 0
    }

    /// Removes the temporary path symbols, and `__symbols__` itself if that leaves it empty.
    private func removePathSymbols(_ fdt: UnsafeMutableRawPointer) -> Int32 {
        guard !pathFixups.isEmpty else { return 0 }
        let symbols = fdt_subnode_offset(fdt, 0, "__symbols__")
        guard symbols >= 0 else { return symbols }
        for path in pathFixups {
            let removed = fdt_delprop(fdt, symbols, path)
            guard removed == 0 || removed == -FDT_ERR_NOTFOUND else { return removed }
        }
        if fdt_first_property_offset(fdt, symbols) == -FDT_ERR_NOTFOUND && fdt_first_subnode(fdt, symbols) < 0 {
            return fdt_del_node(fdt, symbols)
        }
        return 0
    }

    /// Records what each fragment wrote: nodes it created (absent from the base) and every
    /// property it set, at their paths in the merged tree.
    func record(into provenance: inout OverlayProvenance, merged: FlattenedDeviceTree) {
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
