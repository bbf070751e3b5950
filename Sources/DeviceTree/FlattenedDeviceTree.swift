import CLibFDT
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A flattened devicetree blob that libfdt has fully checked, indexed once for fast reading.
///
/// Opening runs, in order: non-empty, at least a header, magic, `totalsize` within the file,
/// `fdt_check_header` and `fdt_check_full`, so every later libfdt call works on a blob whose
/// offsets and strings are known to be in bounds. Then one pass over the structure block records
/// every node (name, path built from the parent, parent/child links) and every property
/// (name, value range), and a phandle index. Paths and compatibles are indexed on first use.
public final class FlattenedDeviceTree: Sendable {
    let storage: BlobStorage
    let nodes: [NodeRecord]
    let properties: [PropertyRecord]
    /// Distinct property names; `PropertyRecord.nameID` indexes this.
    let propertyNames: [String]
    let propertyNameIDs: [String: Int32]
    let phandles: PhandleTable
    /// Phandles that more than one node claims, each with every claimant in tree order.
    let duplicatedPhandles: [UInt32: [Int32]]
    private let pathIndex = Mutex<[String: Int32]?>(nil)
    private let compatibleIndex = Mutex<[String: [Int32]]?>(nil)

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
        let fdt = storage.base
        let full = fdt_check_full(fdt, storage.count)
        if full != 0 { throw Self.structureError(storage, full) }
        try Self.checkBlocksDisjoint(storage)

        var builder = IndexBuilder(storage: storage)
        try builder.walk()
        self.storage = storage
        self.nodes = builder.nodes
        self.properties = builder.properties
        self.propertyNames = builder.propertyNames
        self.propertyNameIDs = builder.propertyNameIDs
        self.phandles = builder.phandles
        self.duplicatedPhandles = builder.duplicatedPhandles
    }

    /// Size of the blob in bytes (the file size it was opened from).
    public var byteCount: Int { storage.count }

    /// Number of nodes, root included.
    public var nodeCount: Int { nodes.count }

    public var root: DeviceTreeNode { DeviceTreeNode(tree: self, index: 0) }

    /// The node at an absolute path (`/firmware/scmi-vio-backend`), or at an alias
    /// (`serial0`, `serial0/child`) resolved through `/aliases` when the path does not start
    /// with `/`. Trailing slashes are ignored. The path index is built on first use.
    public func node(atPath path: String) -> DeviceTreeNode? {
        if !path.hasPrefix("/") { return node(atAliasPath: path) }
        var normalized = Substring(path)
        while normalized.count > 1, normalized.hasSuffix("/") { normalized = normalized.dropLast() }
        let index = pathIndex.withLock { index -> Int32? in
            if index == nil {
                var built = [String: Int32](minimumCapacity: nodes.count)
                for (position, record) in nodes.enumerated() where built[record.path] == nil {
                    built[record.path] = Int32(position)
                }
                index = built
            }
            return index![String(normalized)]
        }
        return index.map { DeviceTreeNode(tree: self, index: $0) }
    }

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
        duplicatedPhandles.mapValues { $0.map { DeviceTreeNode(tree: self, index: $0) } }
    }

    /// Every node whose `compatible` list contains `compatible`, in tree order.
    public func nodes(withCompatible compatible: String) -> [DeviceTreeNode] {
        let indices = compatibleIndex.withLock { index -> [Int32] in
            if index == nil { index = buildCompatibleIndex() }
            return index![compatible] ?? []
        }
        return indices.map { DeviceTreeNode(tree: self, index: $0) }
    }

    /// Calls `body` for every node, root first, in tree (depth-first, blob) order.
    public func forEachNode(_ body: (DeviceTreeNode) throws -> Void) rethrows {
        for index in nodes.indices { try body(DeviceTreeNode(tree: self, index: Int32(index))) }
    }

    /// Every node in tree order.
    public var allNodes: [DeviceTreeNode] {
        nodes.indices.map { DeviceTreeNode(tree: self, index: Int32($0)) }
    }

    private func buildCompatibleIndex() -> [String: [Int32]] {
        var index = [String: [Int32]]()
        guard let nameID = propertyNameIDs["compatible"] else { return index }
        for (position, record) in nodes.enumerated() {
            let first = Int(record.firstProperty)
            for property in properties[first..<(first + Int(record.propertyCount))] where property.nameID == nameID {
                let value = DeviceTreeProperty(
                    name: "compatible", storage: storage,
                    start: Int(property.valueOffset), count: Int(property.length))
                for entry in Set(value.stringList ?? []) { index[entry, default: []].append(Int32(position)) }
            }
        }
        return index
    }
}

/// What the index keeps per node. Offsets are libfdt structure offsets; links are indices
/// into `FlattenedDeviceTree.nodes` (-1 for none).
struct NodeRecord: Sendable {
    var offset: Int32
    var parent: Int32
    var firstChild: Int32 = -1
    var nextSibling: Int32 = -1
    var childCount: Int32 = 0
    var firstProperty: Int32
    var propertyCount: Int32 = 0
    var phandle: UInt32 = 0
    var name: String
    var path: String
}

/// What the index keeps per property: its name (as an id) and the value's place in the blob.
struct PropertyRecord: Sendable {
    var nameID: Int32
    var valueOffset: Int32
    var length: Int32
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
        // The size may change under us; read until EOF, growing as needed.
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

    /// Magic, `totalsize` and then libfdt's header check, each with a message naming the field.
    static func checkHeader(_ storage: BlobStorage) throws(BlobError) {
        let magic = storage.bigEndianUInt32(at: 0)
        guard magic == Self.magic else {
            throw BlobError(
                code: "FDT_ERR_BADMAGIC",
                message: "bad magic \(hex(magic)) at offset 0 (a flattened devicetree starts with 0xd00dfeed)")
        }
        let total = Int(storage.bigEndianUInt32(at: 4))
        guard total <= storage.count else {
            throw BlobError(
                code: "FDT_ERR_TRUNCATED",
                message: "totalsize \(total) is larger than the file (\(storage.count) bytes)")
        }
        let result = fdt_check_header(storage.base)
        guard result != 0 else { return }
        let header = Header(storage)
        let what: String
        switch -result {
        case FDT_ERR_BADVERSION:
            what = "version \(header.version), last compatible version \(header.lastCompatibleVersion) is not supported (libfdt reads versions 2..17)"
        case FDT_ERR_TRUNCATED, FDT_ERR_BADLAYOUT, FDT_ERR_BADSTRUCTURE:
            what = "the header's block layout is invalid: \(header.layout)"
        default:
            what = "the header is invalid: \(header.layout)"
        }
        throw BlobError(libfdt: result, what)
    }

    /// libfdt checks that each block lies inside the blob but not that the blocks are apart:
    /// a strings block overlapping the structure block would make node data double as property
    /// names. Rejected as FDT_ERR_BADLAYOUT, naming both blocks.
    static func checkBlocksDisjoint(_ storage: BlobStorage) throws(BlobError) {
        let header = Header(storage)
        let reservations = max(Int(fdt_num_mem_rsv(storage.base)), 0)
        var blocks: [(name: String, start: Int, size: Int)] = [
            ("header", 0, Int(fdt_header_size(storage.base))),
            ("memory reservation map", Int(header.reserveMapOffset), (reservations + 1) * 16),
            ("strings block", Int(header.stringsOffset), header.version >= 3 ? Int(header.stringsSize) : 0),
        ]
        if header.version >= 17 { blocks.append(("structure block", Int(header.structOffset), Int(header.structSize))) }
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

/// The v17 header fields, for messages (read with bounds already checked by the caller).
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

    var layout: String {
        "totalsize \(totalSize), reserve map at \(hex(reserveMapOffset)), "
            + "structure block \(hex(structOffset))" + (version >= 17 ? "+\(hex(structSize))" : "")
            + ", strings block \(hex(stringsOffset))" + (version >= 3 ? "+\(hex(stringsSize))" : "")
    }
}

func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }
