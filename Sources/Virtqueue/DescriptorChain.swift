// One descriptor chain as the device receives it: the guest's buffers, already
// translated into local memory and checked, readable ones first.

/// One buffer of a chain, translated to local memory and bounds-checked.
public struct DescriptorSegment {
    public let base: UnsafeMutableRawPointer
    public let length: Int
}

/// A chain taken from the available ring.
///
/// It does not own its segments: they live in storage the queue allocated once
/// and reuses for every chain, so a chain is valid only until the queue takes the
/// next one. Handlers read it during `handle` and keep nothing.
public struct DescriptorChain: @unchecked Sendable {
    // @unchecked: it only points into queue-owned storage; see the lifetime rule above.

    /// The head descriptor index: the `id` that goes back on the used ring.
    public let headIndex: UInt16
    /// The device-readable buffers (the request), in chain order.
    public let readableSegments: UnsafeBufferPointer<DescriptorSegment>
    /// The device-writable buffers (room for the response), in chain order.
    public let writableSegments: UnsafeBufferPointer<DescriptorSegment>
    /// Total bytes of the readable buffers.
    public let readableLength: Int
    /// Total bytes of the writable buffers.
    public let writableLength: Int

    init(headIndex: UInt16, segments: UnsafeBufferPointer<DescriptorSegment>, readableCount: Int,
         readableLength: Int, writableLength: Int)
    {
        self.headIndex = headIndex
        self.readableSegments = UnsafeBufferPointer(rebasing: segments[0..<readableCount])
        self.writableSegments = UnsafeBufferPointer(rebasing: segments[readableCount...])
        self.readableLength = readableLength
        self.writableLength = writableLength
    }

    /// Copies the readable bytes, in order, into `buffer`; stops when it is full.
    /// Returns the number of bytes copied: `min(buffer.count, readableLength)`.
    public func gatherReadable(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let destination = buffer.baseAddress else { return 0 }
        var copied = 0
        for segment in readableSegments {
            let room = buffer.count - copied
            if room == 0 { break }
            let step = min(room, segment.length)
            (destination + copied).copyMemory(from: segment.base, byteCount: step)
            copied += step
        }
        return copied
    }

    /// Copies `bytes`, in order, into the writable buffers; stops when they are
    /// full. Returns the number of bytes written: `min(bytes.count, writableLength)`.
    public func scatterWritable(from bytes: UnsafeRawBufferPointer) -> Int {
        guard let source = bytes.baseAddress else { return 0 }
        var written = 0
        for segment in writableSegments {
            let remaining = bytes.count - written
            if remaining == 0 { break }
            let step = min(remaining, segment.length)
            segment.base.copyMemory(from: source + written, byteCount: step)
            written += step
        }
        return written
    }
}

/// Why a chain could not be used. The chain still goes back on the used ring,
/// with length 0, so the guest never waits for it.
public enum ChainError: UInt8, Error, Sendable, CaseIterable, CustomStringConvertible {
    /// The head index in the available ring is not below the queue size.
    case headOutOfRange
    /// A descriptor's `next` is not below the queue (or indirect table) size.
    case nextOutOfRange
    /// A buffer lies outside every memory region, or straddles two.
    case bufferOutsideMemory
    /// The chain visits more descriptors than the queue (or table) has: a loop.
    case chainTooLong
    /// A device-readable buffer follows a device-writable one.
    case readableAfterWritable
    /// An indirect descriptor while VIRTIO_RING_F_INDIRECT_DESC is not negotiated.
    case indirectNotNegotiated
    /// An indirect descriptor inside an indirect table.
    case nestedIndirect
    /// An indirect descriptor that also has NEXT set.
    case indirectWithNext
    /// An indirect table whose length is 0, not a multiple of 16, or too large.
    case badIndirectTableLength

    public var description: String {
        switch self {
        case .headOutOfRange: return "head descriptor index beyond the queue size"
        case .nextOutOfRange: return "descriptor 'next' beyond the queue or indirect table size"
        case .bufferOutsideMemory: return "buffer outside guest memory or straddling two regions"
        case .chainTooLong: return "descriptor chain longer than the queue (loop)"
        case .readableAfterWritable: return "device-readable descriptor after a device-writable one"
        case .indirectNotNegotiated: return "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC"
        case .nestedIndirect: return "indirect descriptor inside an indirect table"
        case .indirectWithNext: return "indirect descriptor with NEXT set"
        case .badIndirectTableLength: return "indirect table length not a non-zero multiple of 16 within bounds"
        }
    }

    /// This cause as one bit of a `ChainErrorSet`.
    public var bit: UInt32 { 1 << UInt32(rawValue) }
}

/// A set of `ChainError`s as bits, for logging each cause once without allocating.
public struct ChainErrorSet: Sendable, Equatable {
    public var rawValue: UInt32
    public init(rawValue: UInt32 = 0) { self.rawValue = rawValue }
    public mutating func insert(_ error: ChainError) { rawValue |= error.bit }
    public func contains(_ error: ChainError) -> Bool { rawValue & error.bit != 0 }
    public var isEmpty: Bool { rawValue == 0 }
    public var errors: [ChainError] { ChainError.allCases.filter(contains) }
    public func subtracting(_ other: ChainErrorSet) -> ChainErrorSet { ChainErrorSet(rawValue: rawValue & ~other.rawValue) }
    public mutating func formUnion(_ other: ChainErrorSet) { rawValue |= other.rawValue }
}
