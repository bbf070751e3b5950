import Glibc
import Virtqueue

/// The guest RAM regions of one SET_MEM_TABLE, mmapped from the fds QEMU passed.
/// Use it through the `GuestMemory` that `map` returns, which owns it.
///
/// Each region is mapped from offset 0 of its fd for `mmap_offset + size` bytes
/// (libvhost-user's way: no alignment demand on `mmap_offset`, fine with huge
/// pages) and used from `mmap_offset` on. The fds are closed once mapped; the
/// mappings go away when the last holder (the connection, a running ring's
/// `GuestMemory`) lets go of this object.
final class MappedMemoryTable: @unchecked Sendable {
    // @unchecked: immutable after init; unmapped only in deinit.

    private struct Mapping {
        let start: UnsafeMutableRawPointer
        let length: Int
    }

    private let mappings: [Mapping]

    /// Maps every region and returns the translation over them, which keeps the
    /// mappings alive. Closes every fd, also on failure; on failure nothing stays mapped.
    static func map(regions: [MemoryRegionDescription], fileDescriptors: [Int32]) throws -> GuestMemory {
        var guestRegions: [GuestMemoryRegion] = []
        let table = try MappedMemoryTable(regions: regions, fileDescriptors: fileDescriptors, guestRegions: &guestRegions)
        do {
            return try GuestMemory(regions: guestRegions, owner: table)
        } catch {
            throw VhostUserError.protocolViolation(error.description)
        }
    }

    private init(regions: [MemoryRegionDescription], fileDescriptors: [Int32],
                 guestRegions: inout [GuestMemoryRegion]) throws
    {
        defer { closeAll(fileDescriptors) }
        guard regions.count == fileDescriptors.count else {
            throw VhostUserError.protocolViolation(
                "memory table with \(regions.count) regions but \(fileDescriptors.count) fds")
        }
        var mappings: [Mapping] = []
        do {
            for (index, region) in regions.enumerated() {
                let (total, overflow) = region.mmapOffset.addingReportingOverflow(region.size)
                guard region.size > 0, !overflow, total <= UInt64(Int.max) else {
                    throw VhostUserError.protocolViolation(
                        "memory region \(index): size 0x\(String(region.size, radix: 16)) at mmap offset 0x\(String(region.mmapOffset, radix: 16)) does not fit")
                }
                guard let start = mmap(nil, Int(total), PROT_READ | PROT_WRITE, MAP_SHARED, fileDescriptors[index], 0),
                      start != MAP_FAILED
                else {
                    throw VhostUserError.lastError("mmap of memory region \(index) (\(total) bytes)")
                }
                mappings.append(Mapping(start: start, length: Int(total)))
                guestRegions.append(GuestMemoryRegion(
                    guestPhysicalAddress: region.guestPhysicalAddress, size: region.size,
                    userAddress: region.userAddress, base: start + Int(region.mmapOffset)))
            }
        } catch {
            for mapping in mappings { munmap(mapping.start, mapping.length) }
            throw error
        }
        self.mappings = mappings
    }

    deinit {
        for mapping in mappings { munmap(mapping.start, mapping.length) }
    }
}
