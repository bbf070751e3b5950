#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An immutable, 8-byte aligned copy of a blob's bytes.
///
/// libfdt (1.6 and later) refuses blobs that are not 8-byte aligned, and every node, property and
/// value handed out points into these bytes, so they live as long as anything refers to them.
/// `@unchecked Sendable`: the bytes are written once in `init` and never mutated afterwards.
final class BlobStorage: @unchecked Sendable {
    let base: UnsafeRawPointer
    let count: Int
    /// The length of the mapping at `base` when the bytes are in a `HugePageBuffer`'s mapping,
    /// 0 when they came from `UnsafeMutableRawPointer.allocate`.
    private let mappedLength: Int
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
        mappedLength = 0
        owner = nil
    }

    /// Takes ownership of `memory` (allocated with alignment 8), of which `count` bytes are the blob.
    init(adopting memory: UnsafeMutableRawPointer, count: Int) {
        base = UnsafeRawPointer(memory)
        self.count = count
        mappedLength = 0
        owner = nil
    }

    /// Takes ownership of `buffer`'s mapping, of which the first `count` bytes are the blob.
    init(adopting buffer: HugePageBuffer, count: Int) {
        base = UnsafeRawPointer(buffer.start)
        self.count = count
        mappedLength = buffer.length
        owner = nil
    }

    /// The bytes of `other`, under a reference count of their own (`FlattenedDeviceTree.twin()`).
    init(borrowing other: BlobStorage) {
        base = other.base
        count = other.count
        mappedLength = 0
        owner = other
    }

    deinit {
        guard owner == nil else { return }
        if mappedLength > 0 {
            munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
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

/// Memory of a mapping of its own for reading a large blob into, aligned to 2 MB and marked
/// for transparent huge pages (`madvise(MADV_HUGEPAGE)`, which the usual `madvise` policy of
/// the kernel waits for): reading the 20 MB blob of a 100,000-device tree then takes nine
/// faults of 2 MB and some hundreds of 4 KB for its tail instead of 4,800 of 4 KB, each a trap
/// into the kernel. On a 2-CPU VM, reading that file into fresh memory took 10-11.5 ms with
/// 4 KB pages and 2.5-3.5 ms this way. The kernel zeroes the same bytes either way, and only
/// the whole 2 MB stretches the blob covers become huge pages, so resident memory is what the
/// blob fills. Where the kernel has no huge pages the advice is ignored and this is an
/// ordinary mapping.
struct HugePageBuffer {
    static let hugePageSize = 2 << 20

    let start: UnsafeMutableRawPointer
    /// The mapping's length: the capacity asked for, rounded up to whole pages.
    let length: Int

    /// A mapping of at least `capacity` bytes, nil when `capacity` is under 2 MB (no huge page
    /// would fit; the allocator serves those better) or when the kernel refuses the mapping.
    init?(capacity: Int) {
        guard capacity >= Self.hugePageSize else { return nil }
        let page = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)
        let length = (capacity + page - 1) / page * page
        // Map 2 MB more than needed and unmap what lies before the first 2 MB boundary and
        // after the buffer: mmap only promises page alignment.
        let span = length + Self.hugePageSize
        guard let mapped = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != MAP_FAILED
        else { return nil }
        let address = Int(bitPattern: mapped)
        let aligned = (address + Self.hugePageSize - 1) & ~(Self.hugePageSize - 1)
        if aligned > address { munmap(mapped, aligned - address) }
        let end = aligned + length
        if address + span > end { munmap(UnsafeMutableRawPointer(bitPattern: end), address + span - end) }
        start = UnsafeMutableRawPointer(bitPattern: aligned)!
        self.length = length
        _ = madvise(start, length, MADV_HUGEPAGE)
    }

    /// Unmaps the buffer (when it was not handed to a `BlobStorage`).
    func release() { munmap(start, length) }
}
