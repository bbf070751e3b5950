// Guest memory as the device sees it: a few regions of guest RAM mapped into this
// process, each known by two addresses — its guest-physical address (what
// descriptors carry) and the address the frontend (QEMU) has it mapped at (what
// SET_VRING_ADDR carries). Every translation is bounds-checked with arithmetic
// that cannot overflow, and a buffer must lie entirely inside one region: a
// buffer that misses or straddles two regions is refused and never touched.

/// One region of guest RAM mapped into this process.
public struct GuestMemoryRegion: @unchecked Sendable, Equatable {
    // @unchecked: a plain description of a mapping; the pointer is only dereferenced
    // through GuestMemory's bounds-checked translation.
    /// Guest-physical address of the first byte.
    public var guestPhysicalAddress: UInt64
    /// Length in bytes.
    public var size: UInt64
    /// Address of the first byte in the frontend's (QEMU's) address space.
    public var userAddress: UInt64
    /// Where the first byte is mapped in this process.
    public var base: UnsafeMutableRawPointer

    public init(guestPhysicalAddress: UInt64, size: UInt64, userAddress: UInt64, base: UnsafeMutableRawPointer) {
        self.guestPhysicalAddress = guestPhysicalAddress
        self.size = size
        self.userAddress = userAddress
        self.base = base
    }

    /// The offset of `[address, address + count)` inside a region that starts at
    /// `start`, or nil when any byte of it lies outside. Never overflows.
    @inline(__always)
    static func offset(of address: UInt64, count: UInt64, inRegionStartingAt start: UInt64, size: UInt64) -> UInt64? {
        guard address >= start else { return nil }
        let offset = address &- start
        guard offset < size, count <= size &- offset else { return nil }
        return offset
    }
}

/// Why a memory table is refused.
public enum GuestMemoryError: Error, Equatable, CustomStringConvertible {
    case emptyRegion(index: Int)
    case regionWrapsAround(index: Int)
    case regionTooLarge(index: Int)

    public var description: String {
        switch self {
        case .emptyRegion(let index): return "memory region \(index) has size 0"
        case .regionWrapsAround(let index): return "memory region \(index) wraps around the 64-bit address space"
        case .regionTooLarge(let index): return "memory region \(index) is larger than this process can address"
        }
    }
}

/// An immutable table of mapped guest regions with bounds-checked translation.
///
/// A class so that a ring can hold it cheaply: the hot path looks regions up in a
/// buffer allocated once here, never in a Swift array. `owner` keeps whatever owns
/// the mappings (VhostUser's mmap table) alive for as long as any queue holds this.
public final class GuestMemory: @unchecked Sendable {
    // Sendable: immutable after init; the mapped bytes themselves are shared with
    // the guest by design and are only accessed through bounds-checked pointers.
    private let regionStorage: UnsafeMutableBufferPointer<GuestMemoryRegion>
    private let owner: AnyObject?

    /// The regions, in the order given.
    public var regions: UnsafeBufferPointer<GuestMemoryRegion> { UnsafeBufferPointer(regionStorage) }

    public init(regions: [GuestMemoryRegion], owner: AnyObject? = nil) throws(GuestMemoryError) {
        for (index, region) in regions.enumerated() {
            if region.size == 0 { throw .emptyRegion(index: index) }
            let last = region.size - 1
            if region.guestPhysicalAddress > UInt64.max - last || region.userAddress > UInt64.max - last {
                throw .regionWrapsAround(index: index)
            }
            if region.size > UInt64(Int.max) { throw .regionTooLarge(index: index) }
        }
        regionStorage = .allocate(capacity: max(regions.count, 1))
        _ = regionStorage.initialize(from: regions)
        self.owner = owner
        regionCount = regions.count
    }

    private let regionCount: Int

    deinit {
        regionStorage.baseAddress!.deinitialize(count: regionCount)
        regionStorage.deallocate()
    }

    /// Local pointer to `count` bytes at guest-physical `address`, or nil unless all
    /// of them lie inside one region. `count` may be 0 (then `address` must still
    /// be inside a region).
    @inline(__always)
    public func pointer(guestPhysical address: UInt64, count byteCount: UInt64) -> UnsafeMutableRawPointer? {
        for index in 0..<regionCount {
            let region = regionStorage[index]
            if let offset = GuestMemoryRegion.offset(
                of: address, count: byteCount,
                inRegionStartingAt: region.guestPhysicalAddress, size: region.size)
            {
                return region.base + Int(offset)
            }
        }
        return nil
    }

    /// Local pointer to `count` bytes at frontend user address `address` (the
    /// addresses of SET_VRING_ADDR), or nil unless all lie inside one region.
    public func pointer(userAddress address: UInt64, count byteCount: UInt64) -> UnsafeMutableRawPointer? {
        for index in 0..<regionCount {
            let region = regionStorage[index]
            if let offset = GuestMemoryRegion.offset(
                of: address, count: byteCount,
                inRegionStartingAt: region.userAddress, size: region.size)
            {
                return region.base + Int(offset)
            }
        }
        return nil
    }

    /// The guest-physical address of a frontend user address, when it lies in a region.
    public func guestPhysicalAddress(ofUserAddress address: UInt64) -> UInt64? {
        for index in 0..<regionCount {
            let region = regionStorage[index]
            if let offset = GuestMemoryRegion.offset(
                of: address, count: 0, inRegionStartingAt: region.userAddress, size: region.size)
            {
                return region.guestPhysicalAddress + offset
            }
        }
        return nil
    }
}
