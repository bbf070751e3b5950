import CLinuxShim
import Glibc
import LinuxIO
import Virtqueue

/// The guest RAM regions of one SET_MEM_TABLE, mmapped from the fds QEMU passed.
/// Use it through the `GuestMemory` that `map` returns, which owns it.
///
/// Each region is mapped from offset 0 of its fd for `mmap_offset + size` bytes
/// (libvhost-user's way: no alignment demand on `mmap_offset`, fine with huge
/// pages) and used from `mmap_offset` on. The fds are closed once mapped; the
/// mappings go away when the last holder (the connection, a running ring's
/// `GuestMemory`) lets go of this object.
///
/// The files belong to the frontend, which is not trusted. Touching a mapped page
/// past the end of its file raises SIGBUS, which would kill the whole process, so:
/// - a region that claims more than its file holds is refused here (`fstat`);
/// - a file that shrinks later is caught by the SIGBUS guard of CLinuxShim, with
///   which every mapping is registered: the fault replaces this table's mappings
///   by zero pages and is reported through `fault` (see `GuestMemoryFault`).
final class MappedMemoryTable: @unchecked Sendable {
    // @unchecked: immutable after init; unmapped only in deinit.

    private struct Mapping {
        let start: UnsafeMutableRawPointer
        let length: Int
        /// Its slot in the SIGBUS guard.
        let guardSlot: Int32
    }

    private let mappings: [Mapping]
    /// Where a SIGBUS in these mappings is reported.
    let fault: GuestMemoryFault

    /// Maps every region and returns the translation over them, which keeps the
    /// mappings alive, and where a later shrink of a region's file is reported.
    /// Closes every fd, also on failure; on failure nothing stays mapped.
    /// Throws `MemoryTableViolation` when the fds contradict the table.
    static func map(regions: [MemoryRegionDescription], fileDescriptors: [Int32]) throws
        -> (memory: GuestMemory, fault: GuestMemoryFault)
    {
        var guestRegions: [GuestMemoryRegion] = []
        let table = try MappedMemoryTable(regions: regions, fileDescriptors: fileDescriptors, guestRegions: &guestRegions)
        do {
            return (try GuestMemory(regions: guestRegions, owner: table), table.fault)
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
        let installError = shim_sigbus_guard_install()
        guard installError == 0 else { throw VhostUserError.system(call: "sigaction(SIGBUS)", errno: installError) }
        let fault = try GuestMemoryFault()
        var mappings: [Mapping] = []
        do {
            for (index, region) in regions.enumerated() {
                let (total, overflow) = region.mmapOffset.addingReportingOverflow(region.size)
                guard region.size > 0, !overflow, total <= UInt64(Int.max) else {
                    throw VhostUserError.protocolViolation(
                        "memory region \(index): size 0x\(String(region.size, radix: 16)) at mmap offset 0x\(String(region.mmapOffset, radix: 16)) does not fit")
                }
                let length = try Self.mappingLength(index: index, claimed: total, region: region,
                                                    fileDescriptor: fileDescriptors[index])
                guard let start = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fileDescriptors[index], 0),
                      start != MAP_FAILED
                else {
                    throw VhostUserError.lastError("mmap of memory region \(index) (\(length) bytes)")
                }
                let slot = shim_sigbus_guard_add(start, length, fault.word, fault.notifier)
                guard slot >= 0 else {
                    munmap(start, length)
                    throw VhostUserError.invalidArgument(
                        "memory region \(index): this process already watches \(SHIM_SIGBUS_GUARD_CAPACITY) mapped regions, the most it can guard against a shrinking file")
                }
                mappings.append(Mapping(start: start, length: length, guardSlot: slot))
                fault.ranges.append((start: UInt(bitPattern: start), length: UInt(length)))
                guestRegions.append(GuestMemoryRegion(
                    guestPhysicalAddress: region.guestPhysicalAddress, size: region.size,
                    userAddress: region.userAddress, base: start + Int(region.mmapOffset)))
            }
        } catch {
            Self.unmap(mappings)
            throw error
        }
        self.mappings = mappings
        self.fault = fault
    }

    deinit { Self.unmap(mappings) }

    /// Out of the guard first: once a range is unmapped, its addresses may be
    /// reused by any other mapping, whose faults are not ours to absorb.
    private static func unmap(_ mappings: [Mapping]) {
        for mapping in mappings {
            shim_sigbus_guard_remove(mapping.guardSlot)
            munmap(mapping.start, mapping.length)
        }
    }

    /// How many bytes to map for a region of `claimed` bytes (`mmap_offset +
    /// size`), after checking them against the file: every byte claimed must be
    /// in the file now, or the first access past its end would raise SIGBUS.
    ///
    /// Only regular files have a size to check against (memfd, tmpfs, hugetlbfs,
    /// plain files; QEMU's memory backends are all of these). Anything else, a
    /// character device such as /dev/dax, has no `st_size` and is refused.
    ///
    /// The length is `claimed` rounded up to the page, or for hugetlbfs to its
    /// huge page (`st_blksize`), so that the mapping, its guard range and its
    /// munmap cover the same whole pages: the guard's zero mapping over a huge-page
    /// mapping must replace whole huge pages. That rounding stays inside the file,
    /// whose size on hugetlbfs is a whole number of huge pages.
    private static func mappingLength(index: Int, claimed: UInt64, region: MemoryRegionDescription,
                                      fileDescriptor fd: Int32) throws -> Int
    {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw VhostUserError.lastError("fstat of memory region \(index)") }
        guard status.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) else {
            throw VhostUserError.invalidArgument(
                "memory region \(index): its fd is not a regular file (type 0o\(String(status.st_mode & mode_t(S_IFMT), radix: 8))), so its size cannot be checked; memfd, tmpfs, hugetlbfs and plain files are accepted")
        }
        let fileSize = UInt64(max(status.st_size, 0))
        guard claimed <= fileSize else {
            throw MemoryTableViolation(
                "memory region \(index) claims mmap offset 0x\(String(region.mmapOffset, radix: 16)) + size 0x\(String(region.size, radix: 16)) = \(claimed) bytes of its file, which has \(fileSize) bytes")
        }
        let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        var granule = pageSize
        if shim_is_hugetlbfs(fd) == 1, status.st_blksize > 0 {
            granule = max(pageSize, UInt64(status.st_blksize))
        }
        let (rounded, overflow) = claimed.addingReportingOverflow(granule - 1)
        guard !overflow, rounded / granule * granule <= UInt64(Int.max) else {
            throw VhostUserError.protocolViolation("memory region \(index) is larger than this process can map")
        }
        return Int(rounded / granule * granule)
    }
}

/// A memory table whose fds contradict it: a region larger than its file. No
/// honest frontend sends one, and refusing it while keeping the connection would
/// leave the rings on the previous table, so the connection is closed.
struct MemoryTableViolation: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where the SIGBUS guard reports that a file of one memory table shrank under
/// its mapping.
///
/// The handler (C, async-signal-safe) stores the faulting address in `word` and
/// writes 1 to the eventfd `notifier`; by then every mapping of the table reads
/// zeros and takes writes that never reach the guest. The connection's control
/// thread polls `notifier` and closes the connection; a ring worker checks
/// `hasOccurred` once per batch and stops serving.
///
/// Shared by the table (which registers `word` and `notifier` with the guard and
/// removes them before it goes) and the connection and its workers, so both stay
/// valid for as long as the handler may use them.
final class GuestMemoryFault: @unchecked Sendable {
    // @unchecked: `ranges` is filled during the table's init, before the object is
    // shared; `word` is only accessed atomically.

    /// The first faulting address; 0 until a fault.
    let word: UnsafeMutablePointer<UInt>
    /// Non-blocking eventfd; readable after a fault.
    let notifier: Int32
    /// The mapped range of each region, by region index.
    fileprivate(set) var ranges: [(start: UInt, length: UInt)] = []

    fileprivate init() throws {
        notifier = try EventNotifier.create(nonblocking: true)
        // A cache line of its own: the ring worker reads it once per batch, and
        // nothing else written often may share the line and make that a miss.
        word = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64).bindMemory(to: UInt.self, capacity: 1)
        word.initialize(to: 0)
    }

    deinit {
        UnsafeMutableRawPointer(word).deallocate()
        closeQuietly(notifier)
    }

    /// The hot path's check: one relaxed load.
    @inline(__always) var hasOccurred: Bool { shim_load_relaxed_uptr(word) != 0 }

    /// The faulting address, or nil.
    var address: UInt? {
        let value = shim_load_acquire_uptr(word)
        return value == 0 ? nil : value
    }

    /// The operator's line for a fault, or nil when none occurred.
    var report: String? {
        guard let address else { return nil }
        let region = ranges.firstIndex { address &- $0.start < $0.length }
        return "guest memory region \(region.map(String.init) ?? "?") shrank under the mapping (SIGBUS at 0x\(String(address, radix: 16))); closing this connection"
    }
}
