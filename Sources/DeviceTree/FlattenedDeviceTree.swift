import CLibFDT

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A flattened devicetree blob that libfdt has fully checked, indexed once for fast reading.
///
/// Opening runs, in order: non-empty, at least a header, every header field vetted in Swift
/// (`checkHeader`: version, sizes, offsets, alignment, overlap), then `fdt_check_header` and
/// `fdt_check_full`, so every later libfdt call works on a blob whose offsets and strings are
/// known to be in bounds. Then one pass over the structure block records every node (name,
/// parent/child links, subtree extent) and every property (name, value range), a
/// (parent, name) → child table and a phandle index. Nothing per node grows with the depth:
/// paths are built on demand, so memory and time stay linear in the blob even for a tree
/// nested 100,000 deep.
public final class FlattenedDeviceTree: Sendable {
    let storage: BlobStorage
    let nodes: [NodeRecord]
    let properties: [PropertyRecord]
    /// Distinct property names; `PropertyRecord.nameID` indexes this.
    let propertyNames: [String]
    let propertyNameIDs: [String: Int32]
    /// Per name id: where its UTF-8 lies in `propertyNameBytes`, for comparing names as bytes.
    let propertyNameSpans: [(start: Int32, count: Int32)]
    let propertyNameBytes: [UInt8]
    let phandles: PhandleTable
    /// Phandles that more than one node claims, each with every claimant in tree order.
    let duplicatedPhandles: [UInt32: [Int32]]
    /// (parent, name) → first such child, for `node(atPath:)` and `child(named:)`.
    let children: ChildTable
    /// Repeated and badly spelled names, in the order found (see `defects`).
    let defectRecords: [DefectRecord]
    /// Where the structure block starts in the blob (node names are read there).
    let structOffset: Int
    /// The id of the name `status` for `DeviceTreeNode.isEnabled`, asked of most nodes read:
    /// -1 when no property has that name, -2 when more than one id has its bytes (names that
    /// are not UTF-8 can split a name's ids; then the lookup compares names).
    let statusNameID: Int32

    /// Size of the version-17 header that `fdt_check_header` reads.
    static let headerSize = 40
    static let magic: UInt32 = 0xd00d_feed

    /// Checks and indexes a blob. The bytes are copied (into 8-byte aligned memory).
    public convenience init(bytes: [UInt8]) throws(BlobError) {
        try self.init(storage: BlobStorage(copying: bytes))
    }

    /// Reads and checks the blob at `path`; an unreadable file is `UNREADABLE` naming the path.
    public convenience init(contentsOf path: String) throws(BlobError) {
        try self.init(storage: try Self.readFile(path))
    }

    init(storage: BlobStorage) throws(BlobError) {
        guard storage.count > 0 else {
            throw BlobError(code: "EMPTY", message: "the file is empty (0 bytes), not a flattened devicetree")
        }
        guard storage.count >= Self.headerSize else {
            throw BlobError(
                code: "FDT_ERR_TRUNCATED",
                message: "the file is \(storage.count) bytes, shorter than the \(Self.headerSize)-byte devicetree header")
        }
        try Self.checkHeader(storage)
        // From version 17 the index's walk makes `fdt_check_full`'s checks itself, tag by tag in
        // the same order (IndexBuilder.walk), instead of libfdt walking the whole block first:
        // that walk re-read every tag and searched every property name's end, a tenth of
        // checking a large tree. Version 16 blobs (rare) keep libfdt's check and the layout one.
        let checkedWhileWalking = Header(storage).version >= 17
        if !checkedWhileWalking {
            let full = fdt_check_full(storage.base, storage.count)
            if full != 0 { throw Self.structureError(storage, full) }
            try Self.checkVersion16StructureBlock(storage)
        }

        var builder = IndexBuilder(storage: storage)
        try builder.walk(checkingStructure: checkedWhileWalking)
        self.storage = storage
        self.nodes = builder.nodes
        self.properties = builder.properties
        self.propertyNames = builder.propertyNames
        self.propertyNameIDs = builder.propertyNameIDs
        var spans: [(start: Int32, count: Int32)] = []
        var bytes: [UInt8] = []
        for name in builder.propertyNames {
            spans.append((Int32(bytes.count), Int32(name.utf8.count)))
            bytes.append(contentsOf: name.utf8)
        }
        self.propertyNameSpans = spans
        self.propertyNameBytes = bytes
        self.phandles = builder.phandles
        self.duplicatedPhandles = builder.duplicatedPhandles
        self.children = builder.children
        self.defectRecords = builder.defects
        self.structOffset = Int(Header(storage).structOffset)
        let statusIDs = builder.propertyNames.indices.filter { builder.propertyNames[$0].utf8.elementsEqual("status".utf8) }
        self.statusNameID = statusIDs.count > 1 ? -2 : statusIDs.first.map(Int32.init) ?? -1
    }

    /// The same tree under another object: the same index (its arrays shared, not copied) and
    /// the same bytes (borrowed from this tree's storage, which the twin keeps alive). Every
    /// node and property value retains its tree or its storage, and when two threads read one
    /// tree at once, each retain waits for the other CPU to give the reference count's cache
    /// line back: `check`'s structural pass, reading the tree beside the resolution, made the
    /// resolution half again as slow. A thread given the twin's nodes counts on a line of its
    /// own. A twin's node is the same node as this tree's at its position (`isSameTree(as:)`).
    package func twin() -> FlattenedDeviceTree { FlattenedDeviceTree(twinOf: self) }

    /// True for this tree and its twins: the same bytes (a storage owns its bytes, and a twin's
    /// borrows them), so a position names the same node in each.
    package func isSameTree(as other: FlattenedDeviceTree) -> Bool {
        self === other || storage.base == other.storage.base
    }

    private init(twinOf tree: FlattenedDeviceTree) {
        storage = BlobStorage(borrowing: tree.storage)
        nodes = tree.nodes
        properties = tree.properties
        propertyNames = tree.propertyNames
        propertyNameIDs = tree.propertyNameIDs
        propertyNameSpans = tree.propertyNameSpans
        propertyNameBytes = tree.propertyNameBytes
        phandles = tree.phandles
        duplicatedPhandles = tree.duplicatedPhandles
        children = tree.children
        defectRecords = tree.defectRecords
        structOffset = tree.structOffset
        statusNameID = tree.statusNameID
    }

    /// Size of the blob in bytes (the file size it was opened from).
    public var byteCount: Int { storage.count }

    /// Number of distinct property names (`DeviceTreeProperty.nameID` is below it).
    package var propertyNameCount: Int { propertyNames.count }

    /// Number of nodes, root included.
    public var nodeCount: Int { nodes.count }

    public var root: DeviceTreeNode { DeviceTreeNode(tree: self, index: 0) }

    /// The node at an absolute path (`/firmware/scmi-vio-backend`), or at an alias
    /// (`serial0`, `serial0/child`) resolved through `/aliases` when the path does not start
    /// with `/`. Trailing slashes are ignored. Each component is one hash lookup of
    /// (parent, name), so a lookup costs the length of the path, whatever the tree's size.
    /// Where siblings share a name (a corrupt blob), the first in tree order is found.
    public func node(atPath path: String) -> DeviceTreeNode? {
        if !path.hasPrefix("/") { return node(atAliasPath: path) }
        var utf8 = Substring(path).utf8.dropFirst()
        while utf8.last == UInt8(ascii: "/") { utf8 = utf8.dropLast() }
        if utf8.isEmpty { return root }
        var current: Int32 = 0
        for component in utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            guard let child = child(of: current, named: Array(component)) else { return nil }
            current = child
        }
        return DeviceTreeNode(tree: self, index: current)
    }

    /// The first child of `parent` whose name is exactly `name`'s bytes.
    func child(of parent: Int32, named name: [UInt8]) -> Int32? {
        let base = storage.base + Int(Header(storage).structOffset)
        return name.withUnsafeBytes { name in
            children.find(parent: parent, name: name) { candidate in
                let record = nodes[Int(candidate)]
                return record.parent == parent && Int(record.nameLength) == name.count
                    && (name.isEmpty || memcmp(base + Int(record.offset) + 4, name.baseAddress!, name.count) == 0)
            }
        }
    }

    /// The name of node `index` as it lies in the blob (after its FDT_BEGIN_NODE tag), without
    /// the NUL; valid as long as the tree.
    @inline(__always)
    func nameBytes(of index: Int) -> UnsafeRawBufferPointer {
        let record = nodes[index]
        return UnsafeRawBufferPointer(start: storage.base + structOffset + Int(record.offset) + 4, count: Int(record.nameLength))
    }

    /// The name of node `index` decoded (bytes that are not UTF-8 become U+FFFD).
    func name(of index: Int) -> String { String(decoding: nameBytes(of: index), as: UTF8.self) }

    private func node(atAliasPath path: String) -> DeviceTreeNode? {
        let alias = path.prefix { $0 != "/" }
        let rest = path.dropFirst(alias.count)
        guard !alias.isEmpty,
              let target = node(atPath: "/aliases")?.property(String(alias))?.string,
              target.hasPrefix("/")
        else { return nil }
        return node(atPath: target + rest)
    }

    /// The node whose `phandle` (or `linux,phandle`) is `phandle`; when several nodes claim it,
    /// the first in tree order (as libfdt's `fdt_node_offset_by_phandle`). 0 and 0xffffffff
    /// are never phandles.
    public func node(withPhandle phandle: UInt32) -> DeviceTreeNode? {
        phandles[phandle].map { DeviceTreeNode(tree: self, index: $0) }
    }

    /// Phandle values that more than one node claims, each with its claimants in tree order.
    /// A valid-looking blob can still have them; consumers should report them.
    public var duplicatePhandles: [UInt32: [DeviceTreeNode]] {
        // Nearly always none: then no dictionary of that type is made (its first one costs a
        // run-time conformance lookup, a measurable part of checking a small board).
        guard !duplicatedPhandles.isEmpty else { return [:] }
        return duplicatedPhandles.mapValues { $0.map { DeviceTreeNode(tree: self, index: $0) } }
    }

    /// The first position in `range` (of `properties`) whose name is `name`. Names are compared
    /// as UTF-8 bytes: a lookup by a literal is a length check and a `memcmp` per property
    /// instead of a String comparison, which for names of 16 bytes or more (`arm,scmi-devname`)
    /// takes Swift's slow path. (Canonically equivalent spellings with different bytes differ
    /// here; dtc writes only ASCII names.)
    ///
    /// Every reader of the model looks properties up this way, many times per node, so the
    /// loop reads the three tables through buffer pointers (no bounds check or reference
    /// counting per step) and tests a name's length and first byte before comparing the rest.
    ///
    /// The name's UTF-8 is read in place when the string has it contiguous (nearly always):
    /// `withUTF8` needs a mutable copy, which costs counting a reference per lookup.
    func propertyPosition(named name: String, in range: Range<Int>) -> Int? {
        if let found = name.utf8.withContiguousStorageIfAvailable({ propertyPosition(utf8: $0, in: range) }) { return found }
        var name = name
        return name.withUTF8 { propertyPosition(utf8: $0, in: range) }
    }

    /// `propertyPosition(named:in:)` for a name given as its UTF-8.
    private func propertyPosition(utf8 wanted: UnsafeBufferPointer<UInt8>, in range: Range<Int>) -> Int? {
        properties.withUnsafeBufferPointer { properties in
            propertyNameSpans.withUnsafeBufferPointer { spans in
                propertyNameBytes.withUnsafeBufferPointer { names in
                    for position in range {
                        let span = spans[Int(properties[position].nameID)]
                        guard Int(span.count) == wanted.count else { continue }
                        if wanted.isEmpty { return position }
                        let start = names.baseAddress! + Int(span.start)
                        if start.pointee == wanted[0], memcmp(start, wanted.baseAddress!, wanted.count) == 0 { return position }
                    }
                    return nil
                }
            }
        }
    }

    /// Every node whose `compatible` list contains `compatible`, in tree order: a node is
    /// listed when any of its `compatible` properties (a corrupt blob may repeat it) is a
    /// well-formed string list with that entry. One pass over the property index comparing
    /// bytes in the blob (`stringListContains`): no string is decoded, so asking for the one
    /// backend node of a large tree costs a fraction of what indexing every compatible would.
    /// (Entries are compared as bytes; for the ASCII names bindings use that is what String
    /// equality answers.)
    public func nodes(withCompatible compatible: String) -> [DeviceTreeNode] {
        guard let nameID = propertyNameID(exactly: "compatible") else { return [] }
        var found: [DeviceTreeNode] = []
        for position in nodes.indices {
            for property in properties[propertyPositions(of: position)] where property.nameID == nameID {
                let value = DeviceTreeProperty(
                    name: "compatible", storage: storage, start: Int(property.valueOffset), count: valueLength(of: property))
                if value.stringListContains(compatible) {
                    found.append(DeviceTreeNode(tree: self, index: Int32(position)))
                    break
                }
            }
        }
        return found
    }

    /// The id of the property name whose bytes are exactly `name`'s UTF-8, nil when no
    /// property of the tree has that name. (`propertyNameIDs` is keyed by decoded names,
    /// where canonically equivalent spellings meet; the bytes decide here.)
    package func propertyNameID(exactly name: String) -> Int32? {
        var name = name
        return name.withUTF8 { wanted -> Int32? in
            func isExactly(_ id: Int) -> Bool {
                let span = propertyNameSpans[id]
                return Int(span.count) == wanted.count && propertyNameBytes.withUnsafeBytes { names in
                    wanted.isEmpty || memcmp(names.baseAddress! + Int(span.start), wanted.baseAddress!, wanted.count) == 0
                }
            }
            if let known = propertyNameIDs[String(decoding: wanted, as: UTF8.self)], isExactly(Int(known)) { return known }
            return propertyNames.indices.first(where: isExactly).map(Int32.init)
        }
    }

    /// Calls `body` for every node, root first, in tree (depth-first, blob) order.
    public func forEachNode(_ body: (DeviceTreeNode) throws -> Void) rethrows {
        for index in nodes.indices { try body(DeviceTreeNode(tree: self, index: Int32(index))) }
    }

    /// Every node in tree order.
    /// The node at `position` in tree order (`DeviceTreeNode.index`); the caller keeps it
    /// below `nodeCount`.
    package func node(at position: Int) -> DeviceTreeNode {
        precondition(position >= 0 && position < nodes.count, "node position out of range")
        return DeviceTreeNode(tree: self, index: Int32(position))
    }

    public var allNodes: [DeviceTreeNode] {
        nodes.indices.map { DeviceTreeNode(tree: self, index: Int32($0)) }
    }
}

/// What the index keeps per node: a fixed size, whatever the depth (no path, no name). Offsets are
/// libfdt structure offsets; links are indices into `FlattenedDeviceTree.nodes` (-1 for none).
///
/// Links tree order gives are not kept: a node's first child is the next node when its subtree
/// is not empty, and its next sibling is where its subtree ends when that is still inside the
/// parent's (`firstChild(of:)`, `nextSibling(of:)`). Keeping those and a child count made a
/// record 44 bytes where it is 32: for a tree of 160,000 nodes, 1.9 MB more to write and fault
/// in. The property count stays although it could be derived too (the properties end where
/// the next node's begin): every property lookup needs it, and reading the next record there
/// cost more instructions over a `check` than its 4 bytes a node cost in faults.
struct NodeRecord: Sendable {
    var offset: Int32
    var parent: Int32
    /// Position in `properties` of the node's first property (or where it would be).
    var firstProperty: Int32
    var propertyCount: Int32 = 0
    var phandle: UInt32 = 0
    /// Number of ancestors (0 for the root).
    var depth: Int32
    /// One past the last descendant: the subtree is `index..<subtreeEnd` in tree order.
    var subtreeEnd: Int32 = 0
    /// The name's length in bytes in the blob (it starts 4 bytes after `offset`). The name is
    /// not kept as a `String`: a record of plain integers is copied and stored without
    /// reference counting, and a name is decoded only when asked for (`nameBytes(of:)`).
    var nameLength: Int32
}

extension FlattenedDeviceTree {
    /// Positions in `properties` of node `index`'s properties.
    @inline(__always)
    func propertyPositions(of index: Int) -> Range<Int> {
        let record = nodes[index]
        return Int(record.firstProperty)..<Int(record.firstProperty + record.propertyCount)
    }

    /// The first child of node `index` in tree order, -1 for a leaf: the next node, when it is
    /// inside this node's subtree.
    @inline(__always)
    func firstChild(of index: Int) -> Int32 {
        index + 1 < Int(nodes[index].subtreeEnd) ? Int32(index + 1) : -1
    }

    /// The next child of node `index`'s parent, -1 for the last: the node after this one's
    /// subtree, when it is still inside the parent's.
    @inline(__always)
    func nextSibling(of index: Int) -> Int32 {
        let record = nodes[index]
        guard record.parent >= 0, record.subtreeEnd < nodes[Int(record.parent)].subtreeEnd else { return -1 }
        return record.subtreeEnd
    }
}

/// What the index keeps per property: its name (as an id) and where the value starts in the
/// blob. The length is not kept: it is the FDT_PROP tag's second cell, 8 bytes before the value
/// (`valueLength(of:)`), which the walk checked; 8 bytes a property instead of 12 is a quarter
/// less memory, and fewer pages to fault in, for the largest table of the index.
struct PropertyRecord: Sendable {
    var nameID: Int32
    var valueOffset: Int32
}

extension FlattenedDeviceTree {
    /// The length of a property's value, read from its tag in the blob.
    @inline(__always)
    func valueLength(of record: PropertyRecord) -> Int {
        Int(storage.bigEndianUInt32(at: Int(record.valueOffset) - 8))
    }
}

extension FlattenedDeviceTree {
    /// Reads a whole file straight into aligned memory (no intermediate array).
    static func readFile(_ path: String) throws(BlobError) -> BlobStorage {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw unreadable(path, errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw unreadable(path, errno) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw BlobError(code: "UNREADABLE", message: "cannot read \(path): not a regular file")
        }
        // The size may change under us; read until EOF, growing as needed. (Memory advised for
        // huge pages took a tenth of the faults, but on this project's VM two runs in five then
        // waited 30-40 ms for the kernel to find and clear 2 MB pages: the allocator's pages.)
        var capacity = max(Int(status.st_size), 0) + 1
        var memory = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        var count = 0
        while true {
            if count == capacity {
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 8)
                bigger.copyMemory(from: memory, byteCount: count)
                memory.deallocate()
                memory = bigger
                capacity *= 2
            }
            let got = read(descriptor, memory + count, capacity - count)
            if got < 0 {
                let code = errno
                if code == EINTR { continue }
                memory.deallocate()
                throw unreadable(path, code)
            }
            if got == 0 { break }
            count += got
        }
        return BlobStorage(adopting: memory, count: count)
    }

    private static func unreadable(_ path: String, _ code: Int32) -> BlobError {
        BlobError(code: "UNREADABLE", message: "cannot read \(path): \(String(cString: strerror(code)))")
    }

    /// Vets every header field libfdt trusts, in Swift, before any libfdt call sees the blob.
    ///
    /// libfdt 1.6.1's own `fdt_check_header` is not enough: it accepts versions 2..15, and for
    /// those `fdt_check_full` expects full-path node names and dereferences NULL (SIGSEGV) when
    /// a name has no '/' — which is what a v17 blob with its version field changed looks like.
    /// So this refuses what libfdt cannot read safely and checks each offset and size against
    /// `totalsize` in 64-bit arithmetic (no field can overflow a sum), the alignment libfdt
    /// assumes when it loads cells (reservation map 8, structure block 4), and that the blocks
    /// do not overlap. `fdt_check_header` runs afterwards as a second opinion.
    ///
    /// Version policy: 16 and later, with a last compatible version of at most 17 (what libfdt
    /// reads) and no later than the version itself. dtc has written 17 by default since 2007;
    /// older layouts exist only as `dtc -V 2/3` output, and recompiling the source fixes them.
    static func checkHeader(_ storage: BlobStorage) throws(BlobError) {
        let magic = storage.bigEndianUInt32(at: 0)
        guard magic == Self.magic else {
            throw BlobError(
                code: "FDT_ERR_BADMAGIC",
                message: "bad magic \(hex(magic)) at offset 0 (a flattened devicetree starts with 0xd00dfeed)")
        }
        let header = Header(storage)
        guard header.version >= Self.oldestVersion else {
            throw BlobError(
                code: "FDT_ERR_BADVERSION",
                message: "version \(header.version) predates \(Self.oldestVersion): layouts before 16 (full-path node names) are not read; "
                    + "recompile the source with dtc, which writes version 17")
        }
        guard header.lastCompatibleVersion <= Self.newestVersion else {
            throw BlobError(
                code: "FDT_ERR_BADVERSION",
                message: "version \(header.version), last compatible version \(header.lastCompatibleVersion) is not supported "
                    + "(the blob needs a reader of version \(header.lastCompatibleVersion) or later; libfdt reads up to \(Self.newestVersion))")
        }
        guard header.lastCompatibleVersion <= header.version else {
            throw BlobError(
                code: "FDT_ERR_BADVERSION",
                message: "last compatible version \(header.lastCompatibleVersion) is later than the version \(header.version) itself")
        }
        let total = Int(header.totalSize)
        guard total <= storage.count else {
            throw BlobError(
                code: "FDT_ERR_TRUNCATED",
                message: "totalsize \(total) is larger than the file (\(storage.count) bytes)")
        }
        // libfdt keeps offsets in `int`; a larger blob would make them negative.
        guard total <= Int(Int32.max), total >= header.size else {
            throw BlobError(
                code: "FDT_ERR_TRUNCATED",
                message: "totalsize \(total) cannot hold the \(header.size)-byte version \(header.version) header")
        }
        let reserveMap = Int(header.reserveMapOffset)
        guard reserveMap >= header.size, reserveMap <= total - 16 else {
            throw BlobError(
                code: "FDT_ERR_TRUNCATED",
                message: "the memory reservation map at \(hex(reserveMap)) is outside \(hex(header.size))..<\(hex(total)) "
                    + "(the header to totalsize less one 16-byte entry): \(header.layout)")
        }
        guard reserveMap % 8 == 0 else {
            throw BlobError(
                code: "FDT_ERR_ALIGNMENT",
                message: "the memory reservation map at \(hex(reserveMap)) is not 8-byte aligned: \(header.layout)")
        }
        let structStart = Int(header.structOffset)
        guard structStart >= header.size, structStart < total,
              header.version < 17 || Int(header.structSize) <= total - structStart
        else {
            throw BlobError(
                code: "FDT_ERR_TRUNCATED",
                message: "the structure block does not lie between the header and totalsize: \(header.layout)")
        }
        guard structStart % 4 == 0 else {
            throw BlobError(
                code: "FDT_ERR_ALIGNMENT",
                message: "the structure block at \(hex(structStart)) is not 4-byte aligned (its tags are 32-bit cells): \(header.layout)")
        }
        let stringsStart = Int(header.stringsOffset)
        guard stringsStart >= header.size, stringsStart <= total, Int(header.stringsSize) <= total - stringsStart else {
            throw BlobError(
                code: "FDT_ERR_TRUNCATED",
                message: "the strings block does not lie between the header and totalsize: \(header.layout)")
        }
        // The map ends with an all-zero entry; libfdt's `fdt_num_mem_rsv` walks to it.
        var reservations = 0
        while true {
            let entry = reserveMap + 16 * reservations
            guard entry <= total - 16 else {
                throw BlobError(
                    code: "FDT_ERR_TRUNCATED",
                    message: "the memory reservation map at \(hex(reserveMap)) has no terminating zero entry before totalsize \(total)")
            }
            if storage.bigEndianUInt64(at: entry) == 0 && storage.bigEndianUInt64(at: entry + 8) == 0 { break }
            reservations += 1
        }
        var blocks = [
            Block(name: "header", start: 0, size: header.size),
            Block(name: "memory reservation map", start: reserveMap, size: 16 * (reservations + 1)),
            Block(name: "strings block", start: stringsStart, size: Int(header.stringsSize)),
        ]
        // Before version 17 the structure block's size is known only after walking it.
        if header.version >= 17 { blocks.append(Block(name: "structure block", start: structStart, size: Int(header.structSize))) }
        try checkDisjoint(blocks)

        let result = fdt_check_header(storage.base)
        guard result != 0 else { return }
        throw BlobError(libfdt: result, "the header is invalid: \(header.layout)")
    }

    static let oldestVersion: UInt32 = 16
    static let newestVersion: UInt32 = 17

    /// A region of the blob, for the overlap check.
    struct Block {
        var name: String
        var start: Int
        var size: Int
    }

    /// libfdt checks that each block lies inside the blob but not that the blocks are apart:
    /// a strings block overlapping the structure block would make node data double as property
    /// names. Rejected as FDT_ERR_BADLAYOUT, naming both blocks. Four blocks: pairwise is fine.
    static func checkDisjoint(_ blocks: [Block]) throws(BlobError) {
        for (first, a) in blocks.enumerated() {
            for b in blocks[(first + 1)...] where a.size > 0 && b.size > 0 {
                if a.start < b.start + b.size && b.start < a.start + a.size {
                    throw BlobError(
                        code: "FDT_ERR_BADLAYOUT",
                        message: "the \(b.name) (\(hex(b.start))+\(hex(b.size))) overlaps the \(a.name) (\(hex(a.start))+\(hex(a.size)))")
                }
            }
        }
    }

    /// A version 16 blob does not record its structure block's size: once libfdt has checked
    /// the block, walk its tags to FDT_END and check that the block misses the others.
    static func checkVersion16StructureBlock(_ storage: BlobStorage) throws(BlobError) {
        let header = Header(storage)
        guard header.version < 17 else { return }
        var next: Int32 = 0
        while fdt_next_tag(storage.base, next, &next) != UInt32(FDT_END) {
            guard next >= 0 else { throw BlobError(libfdt: next, "walking the structure block") }
        }
        let reservations = max(Int(fdt_num_mem_rsv(storage.base)), 0)
        try checkDisjoint([
            Block(name: "header", start: 0, size: header.size),
            Block(name: "memory reservation map", start: Int(header.reserveMapOffset), size: 16 * (reservations + 1)),
            Block(name: "strings block", start: Int(header.stringsOffset), size: Int(header.stringsSize)),
            Block(name: "structure block", start: Int(header.structOffset), size: Int(next)),
        ])
    }

    /// An `fdt_check_full` failure, with the structure-block offset where walking the tags
    /// stops making sense (when it can be found) so the user knows where the corruption is.
    static func structureError(_ storage: BlobStorage, _ result: Int32) -> BlobError {
        let header = Header(storage)
        var nextOffset: Int32 = 0
        var depth = 0
        var failure: String? = nil
        walk: while true {
            let offset = nextOffset
            let tag = fdt_next_tag(storage.base, offset, &nextOffset)
            if nextOffset < 0 {
                failure = "tag at structure offset \(hex(offset)) (blob offset \(hex(Int(header.structOffset) + Int(offset)))) runs past the structure block or is unknown"
                break
            }
            switch tag {
            case UInt32(FDT_BEGIN_NODE): depth += 1
            case UInt32(FDT_END_NODE):
                depth -= 1
                if depth < 0 { failure = "unbalanced end of node at structure offset \(hex(offset))"; break walk }
            case UInt32(FDT_PROP):
                var nameLength: Int32 = 0
                var namePointer: UnsafePointer<CChar>? = nil
                if fdt_getprop_by_offset(storage.base, offset, &namePointer, &nameLength) == nil {
                    failure = "property at structure offset \(hex(offset)) has a name outside the strings block or not NUL-terminated"
                    break walk
                }
            case UInt32(FDT_END):
                if depth != 0 { failure = "structure block ends at offset \(hex(offset)) inside \(depth) unclosed node(s)" }
                break walk
            default: break
            }
        }
        let context = failure ?? "the structure block is corrupt (\(header.layout))"
        return BlobError(libfdt: result, context)
    }
}

/// The header fields (the caller has checked the blob holds 40 bytes; version 16 fields end at 36).
struct Header {
    var totalSize, structOffset, stringsOffset, reserveMapOffset, version, lastCompatibleVersion: UInt32
    var structSize, stringsSize: UInt32

    init(_ storage: BlobStorage) {
        totalSize = storage.bigEndianUInt32(at: 4)
        structOffset = storage.bigEndianUInt32(at: 8)
        stringsOffset = storage.bigEndianUInt32(at: 12)
        reserveMapOffset = storage.bigEndianUInt32(at: 16)
        version = storage.bigEndianUInt32(at: 20)
        lastCompatibleVersion = storage.bigEndianUInt32(at: 24)
        stringsSize = storage.bigEndianUInt32(at: 32)
        structSize = storage.bigEndianUInt32(at: 36)
    }

    /// Bytes of header this version has: 36 for version 16 (no `size_dt_struct`), else 40.
    var size: Int { version >= 17 ? 40 : 36 }

    var layout: String {
        "totalsize \(totalSize), reserve map at \(hex(reserveMapOffset)), "
            + "structure block \(hex(structOffset))" + (version >= 17 ? "+\(hex(structSize))" : "")
            + ", strings block \(hex(stringsOffset))+\(hex(stringsSize))"
    }
}

func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }
