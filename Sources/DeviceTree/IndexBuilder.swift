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
/// order with their name and parent (never a path: a path per node is quadratic in the depth),
/// properties with interned names, the (parent, name) → child table, the phandle table, and
/// the defects dtc would have refused to write (repeated or badly spelled names).
/// Everything here is linear in the blob: one walk of the tags, one hash per node and per
/// property, no recursion (a 100,000-deep tree is an ordinary loop).
struct IndexBuilder {
    let storage: BlobStorage
    var nodes: [NodeRecord] = []
    var properties: [PropertyRecord] = []
    var propertyNames: [String] = []
    var propertyNameIDs: [String: Int32] = [:]
    var phandles: PhandleTable = .sparse([:])
    var duplicatedPhandles: [UInt32: [Int32]] = [:]
    var children = ChildTable()
    var defects: [DefectRecord] = []

    /// Name id per offset in the strings block, so each distinct name is decoded once.
    private var nameIDAtStringOffset: [Int32]
    private var phandleNameID: Int32 = -1
    private var linuxPhandleNameID: Int32 = -1
    /// Per name id: the last node seen with a property of that name (a repeat within one node
    /// is a duplicate), and whether the name has a character dtc rejects.
    private var lastNodeWithName: [Int32] = []
    private var nameIsMisspelled: [Bool] = []

    init(storage: BlobStorage) {
        self.storage = storage
        let stringsSize = Int(Header(storage).stringsSize)  // checkHeader: inside the blob
        nameIDAtStringOffset = [Int32](repeating: -1, count: stringsSize)
    }

    /// One pass over the tags of the structure block (`nextTag`, libfdt's `fdt_next_tag` with
    /// the same bounds), after `fdt_check_full` has accepted the whole block; the node name and
    /// the property header inside each tag's range `offset..<next` are read directly. This is
    /// about three times faster than `fdt_next_node` + `fdt_first/next_property_offset` +
    /// `fdt_getprop_by_offset`, each of which re-walks the same tags.
    ///
    /// As with libfdt's property iteration, a node's properties are the ones between its
    /// FDT_BEGIN_NODE and its first child; a (malformed) property after a child is ignored.
    ///
    /// `checkingStructure`: make `fdt_check_full`'s checks during the walk rather than relying
    /// on libfdt having made them (`checkStructure`). For a version 17 blob whose header
    /// `checkHeader` accepted (which covers check_full's header and reservation-map checks),
    /// this fails on exactly the blobs check_full fails on, with its error code, at the same
    /// tag; that tag comes before any other the walk could refuse.
    mutating func walk(checkingStructure: Bool = false) throws(BlobError) {
        let header = Header(storage)
        let structStart = Int(header.structOffset)
        // Where libfdt's fdt_offset_ptr stops a tag: size_dt_struct from v17, else totalsize.
        let structLimit = header.version >= 17 ? Int(header.structSize) : Int(header.totalSize) - structStart
        // The nodes not yet closed, root first.
        var openNodes: [Int32] = []
        var collectingProperties = false
        var linuxPhandle: UInt32 = 0
        var next: Int32 = 0
        // Room for as many nodes and properties as the block can hold, so that neither table
        // is copied while growing: a node takes at least 12 bytes (FDT_BEGIN_NODE, a name
        // padded to 4 bytes, FDT_END_NODE), a property at least 12 (its tag, length and name
        // offset). A generated tree of 100,000 devices fills a tenth of the node table and half
        // of the property table; the rest is address space only, as pages never written are
        // never faulted in. (size_dt_struct exists from v17; it is bounded by the blob after
        // checkHeader, but never trust it for more than the file holds.)
        let structBytes = header.version >= 17 ? min(Int(header.structSize), storage.count) : storage.count
        nodes.reserveCapacity(structBytes / 12 + 1)
        properties.reserveCapacity(structBytes / 12)
        var structure = StructureCheck()
        tags: while true {
            let offset = next
            let tag: UInt32
            (tag, next) = nextTag(at: offset, structStart: structStart, structLimit: structLimit)
            if checkingStructure { try checkStructure(tag, at: offset, next: next, structStart: structStart, &structure) }
            guard next >= 0 else { throw BlobError(libfdt: next, "reading the tag at structure offset \(hex(offset))") }
            switch tag {
            case UInt32(FDT_BEGIN_NODE):
                if let current = openNodes.last, collectingProperties { finishNode(current, linuxPhandle: linuxPhandle) }
                let index = Int32(nodes.count)
                let parent = openNodes.last ?? -1
                let name = try nodeName(at: offset, end: next, structStart: structStart)
                nodes.append(NodeRecord(
                    offset: offset, parent: parent, firstProperty: Int32(properties.count),
                    depth: Int32(openNodes.count), nameLength: Int32(name.count)))
                if parent >= 0, !Self.isWellFormedNodeName(name) {
                    defects.append(DefectRecord(kind: .nodeNameCharacters, node: index))
                }
                openNodes.append(index)
                collectingProperties = true
                linuxPhandle = 0
            case UInt32(FDT_PROP):
                guard collectingProperties, let current = openNodes.last else { continue }
                let tagStart = structStart + Int(offset)
                let length = storage.bigEndianUInt32(at: tagStart + 4)
                let nameOffset = storage.bigEndianUInt32(at: tagStart + 8)
                let valueOffset = tagStart + 12
                guard length <= UInt32(Int32.max), valueOffset + Int(length) <= structStart + Int(next) else {
                    throw BlobError(code: "FDT_ERR_BADSTRUCTURE", message: "\(path(of: current)): the property at structure offset \(hex(offset)) is longer than its tag")
                }
                // The name's id, decoded on the first meeting of its offset only.
                let known = Int(nameOffset) < nameIDAtStringOffset.count ? nameIDAtStringOffset[Int(nameOffset)] : -1
                let nameID = known >= 0 ? known : try internName(at: nameOffset, node: current)
                let position = Int32(properties.count)
                properties.append(PropertyRecord(nameID: nameID, valueOffset: Int32(truncatingIfNeeded: valueOffset)))
                if lastNodeWithName[Int(nameID)] == current {
                    defects.append(DefectRecord(kind: .duplicateProperty, node: current, other: position))
                }
                lastNodeWithName[Int(nameID)] = current
                if nameIsMisspelled[Int(nameID)] {
                    defects.append(DefectRecord(kind: .propertyNameCharacters, node: current, other: position))
                }
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
                nodes[Int(current)].subtreeEnd = Int32(nodes.count)
                collectingProperties = false
                if openNodes.isEmpty { break tags }
            case UInt32(FDT_END):
                break tags
            default:
                continue  // FDT_NOP
            }
        }
        // The walk stops when the root closes; check_full reads on, and only FDT_END may follow.
        while checkingStructure && !structure.ended {
            let offset = next
            let tag: UInt32
            (tag, next) = nextTag(at: offset, structStart: structStart, structLimit: structLimit)
            try checkStructure(tag, at: offset, next: next, structStart: structStart, &structure)
        }
        guard !nodes.isEmpty else {
            throw BlobError(code: "FDT_ERR_BADSTRUCTURE", message: "the structure block has no root node")
        }
        buildChildTable()
        buildPhandleTable()
    }

    /// Where `checkStructure` is in the tags: libfdt's `fdt_check_full` state.
    struct StructureCheck {
        var depth = 0
        /// The root has closed: only FDT_END may follow.
        var expectEnd = false
        /// FDT_END was read with every node closed: the block checks out.
        var ended = false
    }

    /// `fdt_check_full`'s loop body for one tag (`nextTag`'s result), in its order: a tag that
    /// cannot be read, anything after the root but FDT_END, a root with a name, an unbalanced
    /// end, a property whose name `fdt_get_string` cannot read, an FDT_END inside a node.
    /// Throws `structureError` with check_full's code, as opening did when libfdt checked first.
    private func checkStructure(
        _ tag: UInt32, at offset: Int32, next: Int32, structStart: Int, _ state: inout StructureCheck
    ) throws(BlobError) {
        func fail(_ code: Int32) -> BlobError { FlattenedDeviceTree.structureError(storage, code) }
        if next < 0 { throw fail(next) }
        if state.expectEnd && tag != UInt32(FDT_END) { throw fail(-FDT_ERR_BADSTRUCTURE) }
        switch tag {
        case UInt32(FDT_BEGIN_NODE):
            state.depth += 1
            if state.depth == 1 && storage.byte(at: structStart + Int(offset) + 4) != 0 { throw fail(-FDT_ERR_BADSTRUCTURE) }
        case UInt32(FDT_END_NODE):
            if state.depth == 0 { throw fail(-FDT_ERR_BADSTRUCTURE) }
            state.depth -= 1
            if state.depth == 0 { state.expectEnd = true }
        case UInt32(FDT_PROP):
            // The name offset is the tag's third cell (nextTag found the tag whole).
            let nameOffset = storage.bigEndianUInt32(at: structStart + Int(offset) + 8)
            let known = Int(nameOffset) < nameIDAtStringOffset.count && nameIDAtStringOffset[Int(nameOffset)] >= 0
            if !known {
                var result: Int32 = 0
                if fdt_get_string(storage.base, Int32(bitPattern: nameOffset), &result) == nil { throw fail(result) }
            }
        case UInt32(FDT_END):
            if state.depth != 0 { throw fail(-FDT_ERR_BADSTRUCTURE) }
            state.ended = true
        default:
            break  // FDT_NOP
        }
    }

    /// libfdt's `fdt_next_tag` in Swift, with its bounds: the tag at structure offset `offset`
    /// and the offset of the next one, or FDT_END and a negative libfdt error when the tag or
    /// what it spans does not fit in the structure block's `structLimit` bytes. libfdt checks
    /// a node name one byte per call of `fdt_offset_ptr`; here it is one `memchr`. (Versions
    /// before 16, whose properties may be padded to 8 bytes, were refused by `checkHeader`.)
    @inline(__always)
    private func nextTag(at offset: Int32, structStart: Int, structLimit: Int) -> (UInt32, Int32) {
        let start = Int(offset)
        guard start >= 0, start + 4 <= structLimit else { return (UInt32(FDT_END), -FDT_ERR_TRUNCATED) }
        let tag = storage.bigEndianUInt32(at: structStart + start)
        var end = start + 4
        switch tag {
        case UInt32(FDT_BEGIN_NODE):
            let name = storage.base + structStart + end
            guard end < structLimit, let nul = memchr(name, 0, structLimit - end) else {
                return (UInt32(FDT_END), -FDT_ERR_BADSTRUCTURE)
            }
            end += UnsafeRawPointer(nul) - UnsafeRawPointer(name) + 1
        case UInt32(FDT_PROP):
            guard end + 8 <= structLimit else { return (UInt32(FDT_END), -FDT_ERR_BADSTRUCTURE) }
            let length = Int(storage.bigEndianUInt32(at: structStart + end))
            end += 8 + length
            guard end <= structLimit else { return (UInt32(FDT_END), -FDT_ERR_BADSTRUCTURE) }
        case UInt32(FDT_END), UInt32(FDT_END_NODE), UInt32(FDT_NOP):
            break
        default:
            return (UInt32(FDT_END), -FDT_ERR_BADSTRUCTURE)
        }
        return (tag, Int32((end + 3) & ~3))
    }

    /// The node's name bytes: the NUL-terminated string after the tag (libfdt has checked that
    /// it ends before `end`). A view into the blob.
    private func nodeName(at offset: Int32, end: Int32, structStart: Int) throws(BlobError) -> UnsafeRawBufferPointer {
        let start = storage.base + structStart + Int(offset) + 4
        let limit = Int(end - offset) - 4
        guard limit > 0, let nul = memchr(start, 0, limit) else {
            throw BlobError(code: "FDT_ERR_TRUNCATED", message: "the node name at structure offset \(hex(offset)) is not NUL-terminated")
        }
        return UnsafeRawBufferPointer(start: start, count: UnsafeRawPointer(nul) - start)
    }

    /// Path of a node already indexed, for messages while walking (O(depth); only on failure).
    private func path(of index: Int32) -> String {
        let structure = storage.base + Int(Header(storage).structOffset)
        var names: [String] = []
        var node = index
        while node > 0 {
            let record = nodes[Int(node)]
            names.append(String(decoding: UnsafeRawBufferPointer(start: structure + Int(record.offset) + 4, count: Int(record.nameLength)), as: UTF8.self))
            node = record.parent
        }
        return "/" + names.reversed().joined(separator: "/")
    }

    /// Every node but the root into the child table, in tree order: a node whose name an
    /// earlier sibling already has is a duplicate (lookups find that earlier sibling).
    private mutating func buildChildTable() {
        children = ChildTable(capacity: nodes.count)
        let nodes = self.nodes
        let base = storage.base + Int(Header(storage).structOffset)
        for index in nodes.indices.dropFirst() {
            let record = nodes[index]
            let name = UnsafeRawBufferPointer(start: base + Int(record.offset) + 4, count: Int(record.nameLength))
            let first = children.insert(Int32(index), parent: record.parent, name: name) { other in
                nodes[Int(other)].parent == record.parent && nodes[Int(other)].nameLength == record.nameLength
                    && memcmp(base + Int(nodes[Int(other)].offset) + 4, name.baseAddress!, name.count) == 0
            }
            if let first { defects.append(DefectRecord(kind: .duplicateNode, node: Int32(index), other: first)) }
        }
    }

    /// A node's properties are complete (the last one read is its last): count them, and settle
    /// its phandle (`phandle`, else `linux,phandle`).
    private mutating func finishNode(_ index: Int32, linuxPhandle: UInt32) {
        nodes[Int(index)].propertyCount = Int32(properties.count) - nodes[Int(index)].firstProperty
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

    /// The id of the property name at `nameOffset` in the strings block, an offset not met
    /// before (`walk` looks in `nameIDAtStringOffset` first). libfdt's `fdt_get_string` checks
    /// that the name lies, terminated, inside the block.
    private mutating func internName(at nameOffset: UInt32, node: Int32) throws(BlobError) -> Int32 {
        var length: Int32 = 0
        guard nameOffset <= UInt32(Int32.max), let pointer = fdt_get_string(storage.base, Int32(nameOffset), &length), length >= 0 else {
            throw BlobError(libfdt: length < 0 ? length : -FDT_ERR_BADOFFSET,
                            "\(path(of: node)): a property name at strings offset \(hex(nameOffset)) cannot be read")
        }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: Int(length))
        let name = String(decoding: bytes, as: UTF8.self)
        let id: Int32
        if let known = propertyNameIDs[name], Self.sameBytes(propertyNames[Int(known)], bytes) {
            id = known
        } else {
            // A new name, or one whose bytes were not UTF-8 and decode like a different name's:
            // such names get their own id so that duplicates are judged on the real bytes.
            id = Int32(propertyNames.count)
            propertyNames.append(name)
            if propertyNameIDs[name] == nil { propertyNameIDs[name] = id }
            lastNodeWithName.append(-1)
            nameIsMisspelled.append(!Self.isWellFormedPropertyName(bytes))
            if name == "phandle" { phandleNameID = id }
            if name == "linux,phandle" { linuxPhandleNameID = id }
        }
        if Int(nameOffset) < nameIDAtStringOffset.count { nameIDAtStringOffset[Int(nameOffset)] = id }
        return id
    }

    /// True when `string`'s UTF-8 is exactly `bytes` (false for bytes that were not UTF-8).
    private static func sameBytes(_ string: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        string.utf8.elementsEqual(bytes)
    }
}

// MARK: - Names dtc accepts

extension IndexBuilder {
    /// Per byte: 1 when dtc accepts it in a node name (NODECHARS less '@'), 2 in a property
    /// name (PROPCHARS). dtc's sets, not the Devicetree Specification's stricter ones: dtc also
    /// takes '*' in property names, and what dtc compiles must not be an error here.
    static let nameCharacters: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for byte in Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-".utf8) { table[Int(byte)] |= 1 | 2 }
        for byte in Array("*#?".utf8) { table[Int(byte)] |= 2 }
        return table
    }()

    /// A non-root node name as dtc writes it: not empty, characters from `[A-Za-z0-9,._+-]`,
    /// at most one '@' (the unit address after it uses the same characters).
    static func isWellFormedNodeName(_ name: UnsafeRawBufferPointer) -> Bool {
        // What `nodeNameProblem(name) == nil` answers, in one pass that words nothing: every
        // node of the tree goes through here, so the set `nameCharacters` marks with 1 is
        // written as two 64-bit masks (bytes 0-63 and 64-127), one shift and test a byte
        // instead of a load from a global table.
        guard !name.isEmpty else { return false }
        let low: UInt64 = 0x03FF_7800_0000_0000  // + , - . 0-9
        let high: UInt64 = 0x07FF_FFFE_87FF_FFFE  // A-Z _ a-z
        var ats = 0
        for byte in name {
            let accepted = byte < 64 ? (low >> UInt64(byte)) & 1 : byte < 128 ? (high >> UInt64(byte - 64)) & 1 : 0
            if accepted == 0 {
                guard byte == UInt8(ascii: "@") else { return false }
                ats += 1
            }
        }
        return ats <= 1
    }

    static func isWellFormedPropertyName(_ name: UnsafeRawBufferPointer) -> Bool {
        propertyNameProblem(name) == nil
    }

    /// Why a non-root node name is not one dtc writes, in words; nil when it is.
    static func nodeNameProblem(_ name: UnsafeRawBufferPointer) -> String? {
        if name.isEmpty { return "the node name is empty" }
        var at: Int? = nil
        for (position, byte) in name.enumerated() {
            if byte == UInt8(ascii: "@") {
                if at != nil { return "the node name has a second '@' at position \(position)" }
                at = position
            } else if nameCharacters[Int(byte)] & 1 == 0 {
                return "the node name has \(describe(byte)) at position \(position); node names use only A-Z a-z 0-9 , . _ + - and one @"
            }
        }
        return nil
    }

    /// Why a property name is not one dtc writes, in words; nil when it is.
    static func propertyNameProblem(_ name: UnsafeRawBufferPointer) -> String? {
        if name.isEmpty { return "the property name is empty" }
        for (position, byte) in name.enumerated() where nameCharacters[Int(byte)] & 2 == 0 {
            return "the property name has \(describe(byte)) at position \(position); property names use only A-Z a-z 0-9 , . _ + ? # * -"
        }
        return nil
    }

    /// A byte for a message: printable ASCII quoted, anything else as hex.
    private static func describe(_ byte: UInt8) -> String {
        byte > 0x20 && byte < 0x7f && byte != UInt8(ascii: "'") ? "'\(Character(Unicode.Scalar(byte)))'" : "byte \(hex(byte))"
    }
}

// MARK: - Child table

/// (parent, name bytes) → the first child of that parent with that name, as an open-addressing
/// hash table (linear probing, at most three quarters full) with no per-node allocation. A slot's word
/// holds the node index + 1 in its low half (0: empty) and the top 32 bits of the node's hash
/// in its high half, so a probe compares names only when those bits match: inserting a node
/// whose name is new, the common case, reads no other node. Names are compared as the blob's
/// bytes (Swift's String equality would merge canonically equivalent names).
///
/// The hash is a multiply-mix over the name eight bytes at a time, seeded at random per
/// process: about a tenth of SipHash's cost on node names, and a blob still cannot choose
/// names that collide, so probing stays short whatever the input.
struct ChildTable: Sendable {
    private var slots: [UInt64] = []
    private var mask = 0
    private var seed: UInt64 = 0

    init() {}

    /// Room for `count` nodes at a load of at most three quarters: with the hash bits in the
    /// slot, a probe past an occupied slot costs a compare of two words in the same cache line.
    init(capacity count: Int) {
        var size = 16
        while 3 * size < 4 * count { size *= 2 }
        slots = [UInt64](repeating: 0, count: size)
        mask = size - 1
        seed = Self.processSeed
    }

    private static let processSeed = UInt64.random(in: .min ... .max)

    @inline(__always)
    private static func mix(_ state: UInt64, _ word: UInt64) -> UInt64 {
        let product = (state ^ word) &* 0x9E37_79B9_7F4A_7C15
        return (product << 27) | (product >> 37)
    }

    /// The hash of (parent, name): the name's whole 8-byte words, then its last 1 to 8 bytes
    /// as one word (overlapping the previous one when the length is not a multiple of 8), then
    /// its length.
    @inline(__always)
    private func hash(parent: Int32, name: UnsafeRawBufferPointer) -> UInt64 {
        var state = Self.mix(seed, UInt64(UInt32(bitPattern: parent)))
        let count = name.count
        if count >= 8 {
            var position = 0
            while position + 8 < count {
                state = Self.mix(state, name.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                position += 8
            }
            state = Self.mix(state, name.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
        } else if count > 0 {
            var word: UInt64 = 0
            for position in 0..<count { word |= UInt64(name[position]) << (8 * UInt64(position)) }
            state = Self.mix(state, word)
        }
        // The length in a last multiplication, whose top half depends on every bit before it
        // (the tag), folded into the bottom half (where a probe starts).
        let product = (state ^ UInt64(count)) &* 0x9E37_79B9_7F4A_7C15
        return product ^ (product >> 32)
    }

    /// Adds `node` unless a node for which `isSameName` holds is there; returns that one.
    mutating func insert(
        _ node: Int32, parent: Int32, name: UnsafeRawBufferPointer, isSameName: (Int32) -> Bool
    ) -> Int32? {
        let hash = hash(parent: parent, name: name)
        let tag = hash & 0xFFFF_FFFF_0000_0000
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = slots[slot]
            if word == 0 { break }
            if word & 0xFFFF_FFFF_0000_0000 == tag {
                let other = Int32(truncatingIfNeeded: word) - 1
                if isSameName(other) { return other }
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = tag | UInt64(UInt32(bitPattern: node + 1))
        return nil
    }

    /// The first node for which `isSameName` holds, hashed as (parent, name).
    func find(parent: Int32, name: UnsafeRawBufferPointer, isSameName: (Int32) -> Bool) -> Int32? {
        guard !slots.isEmpty else { return nil }
        let hash = hash(parent: parent, name: name)
        let tag = hash & 0xFFFF_FFFF_0000_0000
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = slots[slot]
            if word == 0 { return nil }
            if word & 0xFFFF_FFFF_0000_0000 == tag {
                let other = Int32(truncatingIfNeeded: word) - 1
                if isSameName(other) { return other }
            }
            slot = (slot + 1) & mask
        }
    }
}

/// One defect found while indexing: what, at which node, and a second index (the property's
/// position for property defects, the earlier sibling for a duplicate node).
struct DefectRecord: Sendable {
    enum Kind: UInt8, Sendable {
        case duplicateProperty, duplicateNode, nodeNameCharacters, propertyNameCharacters
    }
    var kind: Kind
    var node: Int32
    var other: Int32 = -1
}
