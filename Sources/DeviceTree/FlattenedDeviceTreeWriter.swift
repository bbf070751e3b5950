import CLibFDT

/// Builds a blob with libfdt's sequential-write functions (`fdt_create`, `fdt_begin_node`,
/// `fdt_property`, `fdt_end_node`, `fdt_finish`), growing its buffer whenever libfdt says
/// `FDT_ERR_NOSPACE`. Unlike dtc it handles any number of sibling nodes in linear time, which is
/// what the large-tree generator and tests need.
///
/// Call `beginNode("")` for the root, nest `beginNode`/`endNode`, add properties in between,
/// then `finish()`. Misuse (unbalanced nodes, a NUL inside a name) throws.
/// Not Sendable: one owner writes one blob.
public final class FlattenedDeviceTreeWriter {
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    private var reserveMapFinished = false
    private var depth = 0
    private var finished = false

    /// Starts a blob; `reservations` become the memory reservation block.
    public init(initialCapacity: Int = 4096, reservations: [(address: UInt64, size: UInt64)] = []) throws(BlobError) {
        capacity = min(max(initialCapacity, 256), Int(Int32.max))
        buffer = Self.zeroedBuffer(capacity)
        try call("fdt_create") { fdt_create($0, Int32(capacity)) }
        for reservation in reservations {
            try call("fdt_add_reservemap_entry") { fdt_add_reservemap_entry($0, reservation.address, reservation.size) }
        }
    }

    deinit { buffer.deallocate() }

    /// Opens a node; the root's name is `""`.
    public func beginNode(_ name: String) throws(BlobError) {
        try finishReserveMap()
        let cName = try cString(name, what: "node name")
        try call("fdt_begin_node(\(name))") { fdt_begin_node($0, cName) }
        depth += 1
    }

    public func endNode() throws(BlobError) {
        guard depth > 0 else { throw BlobError(code: "FDT_ERR_BADSTATE", message: "endNode() without an open node") }
        try call("fdt_end_node") { fdt_end_node($0) }
        depth -= 1
    }

    /// A property with a raw value.
    public func property(_ name: String, bytes: [UInt8]) throws(BlobError) {
        guard depth > 0 else {
            throw BlobError(code: "FDT_ERR_BADSTATE", message: "property \(name) outside of any node")
        }
        guard bytes.count <= Int(Int32.max) else {
            throw BlobError(code: "FDT_ERR_BADVALUE", message: "property \(name) is too long")
        }
        let cName = try cString(name, what: "property name")
        // libfdt copies `length` bytes from the value pointer, which must be valid even for 0.
        let value: [UInt8] = bytes.isEmpty ? [0] : bytes
        let length = Int32(bytes.count)
        try call("fdt_property(\(name))") { fdt in
            value.withUnsafeBytes { fdt_property(fdt, cName, $0.baseAddress, length) }
        }
    }

    /// A property without a value (`arm,scmi-trusted;`).
    public func property(_ name: String) throws(BlobError) { try property(name, bytes: []) }

    public func property(_ name: String, u32 value: UInt32) throws(BlobError) {
        try property(name, u32Array: [value])
    }

    public func property(_ name: String, u32Array values: [UInt32]) throws(BlobError) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 4)
        for value in values { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
        try property(name, bytes: bytes)
    }

    public func property(_ name: String, u64Array values: [UInt64]) throws(BlobError) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 8)
        for value in values { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
        try property(name, bytes: bytes)
    }

    /// One NUL-terminated string.
    public func property(_ name: String, string: String) throws(BlobError) {
        try property(name, strings: [string])
    }

    /// A string list, each string NUL-terminated.
    public func property(_ name: String, strings: [String]) throws(BlobError) {
        var bytes = [UInt8]()
        for string in strings {
            bytes.append(contentsOf: string.utf8)
            bytes.append(0)
        }
        try property(name, bytes: bytes)
    }

    /// Writes `node` and its whole subtree as they are: names, and properties with their
    /// bytes in blob order. A loop over tree order with a stack of open nodes, not recursion,
    /// so a tree nested 100,000 deep copies like a flat one. `beforeClosing` runs just before
    /// each copied node is closed, to add children to it (a node's properties come before its
    /// children, so only nodes can be added there). Names are copied as they decode: a name
    /// whose bytes are not UTF-8 is written with U+FFFD in their place.
    public func copy(
        _ node: DeviceTreeNode, beforeClosing: (DeviceTreeNode) throws(BlobError) -> Void = { _ throws(BlobError) in }
    ) throws(BlobError) {
        let tree = node.tree
        var open: [DeviceTreeNode] = []
        for index in node.index..<Int(tree.nodes[node.index].subtreeEnd) {
            let current = DeviceTreeNode(tree: tree, index: Int32(index))
            while let last = open.last, last.depth >= current.depth {
                try beforeClosing(last)
                try endNode()
                open.removeLast()
            }
            try beginNode(current.name)
            for property in current.properties { try self.property(property.name, bytes: property.bytes) }
            open.append(current)
        }
        while let last = open.popLast() {
            try beforeClosing(last)
            try endNode()
        }
    }

    /// Closes the blob and returns its bytes (exactly `totalsize` of them).
    public func finish() throws(BlobError) -> [UInt8] {
        guard !finished else { throw BlobError(code: "FDT_ERR_BADSTATE", message: "finish() called twice") }
        guard depth == 0 else {
            throw BlobError(code: "FDT_ERR_BADSTATE", message: "finish() with \(depth) node(s) still open")
        }
        try finishReserveMap()
        try call("fdt_finish") { fdt_finish($0) }
        finished = true
        let total = Int(UInt32(bigEndian: buffer.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        return Array(UnsafeRawBufferPointer(start: buffer, count: min(total, capacity)))
    }

    private func finishReserveMap() throws(BlobError) {
        guard !reserveMapFinished else { return }
        try call("fdt_finish_reservemap") { fdt_finish_reservemap($0) }
        reserveMapFinished = true
    }

    /// Runs one libfdt write call, doubling the buffer (`fdt_resize`) while it reports NOSPACE.
    private func call(_ what: String, _ body: (UnsafeMutableRawPointer) -> Int32) throws(BlobError) {
        guard !finished else { throw BlobError(code: "FDT_ERR_BADSTATE", message: "\(what) after finish()") }
        while true {
            let result = body(buffer)
            if result >= 0 { return }
            guard result == -FDT_ERR_NOSPACE, capacity < Int(Int32.max) else {
                throw BlobError(libfdt: result, what)
            }
            let newCapacity = min(capacity * 2, Int(Int32.max))
            let newBuffer = Self.zeroedBuffer(newCapacity)
            let resized = fdt_resize(buffer, newBuffer, Int32(newCapacity))
            guard resized == 0 else {
                newBuffer.deallocate()
                throw BlobError(libfdt: resized, "\(what): growing the buffer")
            }
            buffer.deallocate()
            buffer = newBuffer
            capacity = newCapacity
        }
    }

    /// libfdt's sequential writer copies a name or value without clearing the padding after
    /// it, and `fdt_resize` leaves the new buffer's gap as it finds it: zeroed memory keeps
    /// those bytes 0, so the same tree always gives the same blob.
    private static func zeroedBuffer(_ count: Int) -> UnsafeMutableRawPointer {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 8)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        return memory
    }

    private func cString(_ string: String, what: String) throws(BlobError) -> [CChar] {
        guard !string.utf8.contains(0) else {
            throw BlobError(code: "FDT_ERR_BADVALUE", message: "\(what) \"\(string)\" contains a NUL byte")
        }
        return string.utf8CString.map { $0 }
    }
}
