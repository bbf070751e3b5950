/// An immutable, 8-byte aligned copy of a blob's bytes.
///
/// libfdt (1.6 and later) refuses blobs that are not 8-byte aligned, and every node, property and
/// value handed out points into these bytes, so they live as long as anything refers to them.
/// `@unchecked Sendable`: the bytes are written once in `init` and never mutated afterwards.
final class BlobStorage: @unchecked Sendable {
    let base: UnsafeRawPointer
    let count: Int
    /// The storage that owns these bytes when this one borrows them (`init(borrowing:)`): kept
    /// alive by this one, and the one that frees them.
    private let owner: BlobStorage?

    init(copying bytes: [UInt8]) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 8), alignment: 8)
        bytes.withUnsafeBytes { source in
            if let from = source.baseAddress { memory.copyMemory(from: from, byteCount: source.count) }
        }
        base = UnsafeRawPointer(memory)
        count = bytes.count
        owner = nil
    }

    /// Takes ownership of `memory` (allocated with alignment 8), of which `count` bytes are the blob.
    init(adopting memory: UnsafeMutableRawPointer, count: Int) {
        base = UnsafeRawPointer(memory)
        self.count = count
        owner = nil
    }

    /// The bytes of `other`, under a reference count of their own (`FlattenedDeviceTree.twin()`).
    init(borrowing other: BlobStorage) {
        base = other.base
        count = other.count
        owner = other
    }

    deinit {
        guard owner == nil else { return }
        UnsafeMutableRawPointer(mutating: base).deallocate()
    }

    /// The byte at `offset`; the caller keeps `offset` inside `0..<count`.
    @inline(__always) func byte(at offset: Int) -> UInt8 {
        base.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// A big-endian 32-bit cell at `offset` (any alignment); the caller keeps it inside the bytes.
    @inline(__always) func bigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// A big-endian 64-bit value at `offset` (any alignment); the caller keeps it inside the bytes.
    @inline(__always) func bigEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The bytes `offset..<offset+length` as an array.
    func array(offset: Int, length: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: base + offset, count: length))
    }
}
