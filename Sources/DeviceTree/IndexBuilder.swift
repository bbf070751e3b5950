import CLibFDT

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Phandle → node index (-1 for none).
enum PhandleTable: Sendable {
    case dense([Int32])
    case sparse([UInt32: Int32])

    subscript(phandle: UInt32) -> Int32? {
        switch self {
        case .dense(let table):
            let index = Int(phandle) < table.count ? table[Int(phandle)] : -1
            return index >= 0 ? index : nil
        case .sparse(let table):
            return table[phandle]
        }
    }
}

/// The one pass over a checked blob that builds `FlattenedDeviceTree`'s index: nodes in tree
/// order with paths built from their parent's (never `fdt_get_path`, which is quadratic over a
/// whole tree), properties with interned names, and the phandle table.
struct IndexBuilder {
    let storage: BlobStorage
    var nodes: [NodeRecord] = []
    var properties: [PropertyRecord] = []
    var propertyNames: [String] = []
    var propertyNameIDs: [String: Int32] = [:]
    var phandles: PhandleTable = .sparse([:])
    var duplicatedPhandles: [UInt32: [Int32]] = [:]

    /// Name id per offset in the strings block, so each distinct name is decoded once.
    private var nameIDAtStringOffset: [Int32]
    private var phandleNameID: Int32 = -1
    private var linuxPhandleNameID: Int32 = -1

    init(storage: BlobStorage) {
        self.storage = storage
        let header = Header(storage)
        let stringsSize = header.version >= 3 ? Int(header.stringsSize) : 0
        nameIDAtStringOffset = [Int32](repeating: -1, count: stringsSize <= storage.count ? stringsSize : 0)
    }

    /// One pass of `fdt_next_tag` over the structure block. libfdt bounds-checks every tag
    /// (and `fdt_check_full` has already accepted the whole block), so the node name and the
    /// property header inside each tag's range `offset..<next` are read directly. This is about
    /// three times faster than `fdt_next_node` + `fdt_first/next_property_offset` +
    /// `fdt_getprop_by_offset`, each of which re-walks the same tags.
    ///
    /// As with libfdt's property iteration, a node's properties are the ones between its
    /// FDT_BEGIN_NODE and its first child; a (malformed) property after a child is ignored.
    mutating func walk() throws(BlobError) {
        let fdt = storage.base
        let header = Header(storage)
        let structStart = Int(header.structOffset)
        let legacyLayout = header.version < 0x10   // full-path names, 8-byte aligned large values
        var lastChild: [Int32] = []
        var openNodes: [Int32] = []
        var collectingProperties = false
        var linuxPhandle: UInt32 = 0
        var next: Int32 = 0
        // A guess from the block size (size_dt_struct exists from v17; it is bounded by the blob
        // after fdt_check_header, but never trust it for more than the file holds).
        let structBytes = header.version >= 17 ? min(Int(header.structSize), storage.count) : storage.count
        nodes.reserveCapacity(structBytes / 96)
        properties.reserveCapacity(structBytes / 20)
        tags: while true {
            let offset = next
            let tag = fdt_next_tag(fdt, offset, &next)
            guard next >= 0 else { throw BlobError(libfdt: next, "reading the tag at structure offset \(hex(offset))") }
            switch tag {
            case UInt32(FDT_BEGIN_NODE):
                if let current = openNodes.last, collectingProperties { finishNode(current, linuxPhandle: linuxPhandle) }
                let index = Int32(nodes.count)
                let parent = openNodes.last ?? -1
                let name = try nodeName(at: offset, end: next, structStart: structStart, legacy: legacyLayout)
                let path: String
                if parent < 0 { path = "/" } else {
                    let parentPath = nodes[Int(parent)].path
                    path = parentPath == "/" ? "/" + name : parentPath + "/" + name
                }
                nodes.append(NodeRecord(
                    offset: offset, parent: parent, firstProperty: Int32(properties.count), name: name, path: path))
                lastChild.append(-1)
                if parent >= 0 {
                    let previous = lastChild[Int(parent)]
                    if previous < 0 { nodes[Int(parent)].firstChild = index } else { nodes[Int(previous)].nextSibling = index }
                    lastChild[Int(parent)] = index
                    nodes[Int(parent)].childCount += 1
                }
                openNodes.append(index)
                collectingProperties = true
                linuxPhandle = 0
            case UInt32(FDT_PROP):
                guard collectingProperties, let current = openNodes.last else { continue }
                let tagStart = structStart + Int(offset)
                let length = storage.bigEndianUInt32(at: tagStart + 4)
                let nameOffset = storage.bigEndianUInt32(at: tagStart + 8)
                var valueOffset = tagStart + 12
                if legacyLayout {
                    var checkedLength: Int32 = 0
                    guard let value = fdt_getprop_by_offset(fdt, offset, nil, &checkedLength) else {
                        throw BlobError(libfdt: checkedLength, "\(nodes[Int(current)].path): the property at structure offset \(hex(offset)) cannot be read")
                    }
                    valueOffset = UnsafeRawPointer(value) - storage.base
                }
                guard length <= UInt32(Int32.max), valueOffset + Int(length) <= structStart + Int(next) else {
                    throw BlobError(code: "FDT_ERR_BADSTRUCTURE", message: "\(nodes[Int(current)].path): the property at structure offset \(hex(offset)) is longer than its tag")
                }
                let nameID = try internName(at: nameOffset, node: current)
                properties.append(PropertyRecord(
                    nameID: nameID, valueOffset: Int32(truncatingIfNeeded: valueOffset), length: Int32(length)))
                nodes[Int(current)].propertyCount += 1
                if length == 4, nameID == phandleNameID || nameID == linuxPhandleNameID {
                    let phandle = storage.bigEndianUInt32(at: valueOffset)
                    // The first of duplicated properties counts, as for `property(_:)`.
                    if nameID == phandleNameID {
                        if nodes[Int(current)].phandle == 0 { nodes[Int(current)].phandle = phandle }
                    } else if linuxPhandle == 0 {
                        linuxPhandle = phandle
                    }
                }
            case UInt32(FDT_END_NODE):
                guard let current = openNodes.popLast() else {
                    throw BlobError(code: "FDT_ERR_BADSTRUCTURE", message: "unbalanced end of node at structure offset \(hex(offset))")
                }
                if collectingProperties { finishNode(current, linuxPhandle: linuxPhandle) }
                collectingProperties = false
                if openNodes.isEmpty { break tags }
            case UInt32(FDT_END):
                break tags
            default:
                continue  // FDT_NOP
            }
        }
        guard !nodes.isEmpty else {
            throw BlobError(code: "FDT_ERR_BADSTRUCTURE", message: "the structure block has no root node")
        }
        buildPhandleTable()
    }

    /// The node's name: for v16+ blobs the NUL-terminated string after the tag (libfdt has
    /// checked it ends before `end`); for older blobs, where it is a full path, libfdt's leaf.
    private func nodeName(at offset: Int32, end: Int32, structStart: Int, legacy: Bool) throws(BlobError) -> String {
        if legacy {
            var length: Int32 = 0
            guard let name = fdt_get_name(storage.base, offset, &length), length >= 0 else {
                throw BlobError(libfdt: length, "the node at structure offset \(hex(offset)) has no readable name")
            }
            return String(decoding: UnsafeRawBufferPointer(start: name, count: Int(length)), as: UTF8.self)
        }
        let start = storage.base + structStart + Int(offset) + 4
        let limit = Int(end - offset) - 4
        guard limit > 0, let nul = memchr(start, 0, limit) else {
            throw BlobError(code: "FDT_ERR_TRUNCATED", message: "the node name at structure offset \(hex(offset)) is not NUL-terminated")
        }
        return String(decoding: UnsafeRawBufferPointer(start: start, count: UnsafeRawPointer(nul) - start), as: UTF8.self)
    }

    /// A node's properties are complete: settle its phandle (`phandle`, else `linux,phandle`).
    private mutating func finishNode(_ index: Int32, linuxPhandle: UInt32) {
        if !isPhandle(nodes[Int(index)].phandle) { nodes[Int(index)].phandle = linuxPhandle }
        if !isPhandle(nodes[Int(index)].phandle) { nodes[Int(index)].phandle = 0 }
    }

    /// Phandle → node, the first claimant in tree order winning; later ones are recorded as
    /// duplicates. A flat array when the phandles are dense (dtc numbers them 1, 2, 3, …),
    /// a dictionary otherwise.
    private mutating func buildPhandleTable() {
        var largest: UInt32 = 0
        for node in nodes where node.phandle > largest { largest = node.phandle }
        let dense = Int(largest) <= 4 * nodes.count + 1024
        var table = dense ? [Int32](repeating: -1, count: Int(largest) + 1) : []
        var sparse = [UInt32: Int32]()
        for (position, node) in nodes.enumerated() where node.phandle != 0 {
            let index = Int32(position)
            let first = dense ? table[Int(node.phandle)] : (sparse[node.phandle] ?? -1)
            if first >= 0 {
                duplicatedPhandles[node.phandle, default: [first]].append(index)
            } else if dense {
                table[Int(node.phandle)] = index
            } else {
                sparse[node.phandle] = index
            }
        }
        phandles = dense ? .dense(table) : .sparse(sparse)
    }

    private func isPhandle(_ value: UInt32) -> Bool { value != 0 && value != 0xffff_ffff }

    /// The id of the property name at `nameOffset` in the strings block (decoded once per
    /// distinct offset; libfdt's `fdt_get_string` checks it lies, terminated, inside the block).
    private mutating func internName(at nameOffset: UInt32, node: Int32) throws(BlobError) -> Int32 {
        let cached = Int(nameOffset) < nameIDAtStringOffset.count ? nameIDAtStringOffset[Int(nameOffset)] : -1
        if cached >= 0 { return cached }
        var length: Int32 = 0
        guard nameOffset <= UInt32(Int32.max), let pointer = fdt_get_string(storage.base, Int32(nameOffset), &length), length >= 0 else {
            throw BlobError(libfdt: length < 0 ? length : -FDT_ERR_BADOFFSET,
                            "\(nodes[Int(node)].path): a property name at strings offset \(hex(nameOffset)) cannot be read")
        }
        let name = String(decoding: UnsafeRawBufferPointer(start: pointer, count: Int(length)), as: UTF8.self)
        let id: Int32
        if let known = propertyNameIDs[name] {
            id = known
        } else {
            id = Int32(propertyNames.count)
            propertyNames.append(name)
            propertyNameIDs[name] = id
            if name == "phandle" { phandleNameID = id }
            if name == "linux,phandle" { linuxPhandleNameID = id }
        }
        if Int(nameOffset) < nameIDAtStringOffset.count { nameIDAtStringOffset[Int(nameOffset)] = id }
        return id
    }
}
