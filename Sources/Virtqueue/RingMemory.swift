import CLinuxShim

// Little-endian field access on ring memory shared with the guest.
//
// Ordering, as the virtio spec and Linux's virtio_ring.c require:
// - the driver publishes entries, then `avail.idx`; the device loads `avail.idx`
//   with acquire ordering before reading the entries and descriptors it covers;
// - the device writes used elements, then stores `used.idx` with release ordering;
// - around the event-index handshakes a store must be ordered before a later load
//   (store `used.idx`, then read `used_event`; store `avail_event`, then re-read
//   `avail.idx`): only a full barrier does that (`shim_full_barrier`, the
//   equivalent of Linux's virtio_mb / smp_mb).
// The 16-bit indexes are accessed with real atomic loads/stores (C11 __atomic on
// the naturally aligned words) so they are never torn or cached in registers.

extension UnsafeMutableRawPointer {
    @inline(__always) func loadLE16(at offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inline(__always) func loadLE32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inline(__always) func loadLE64(at offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    @inline(__always) func storeLE16(_ value: UInt16, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self)
    }
    @inline(__always) func storeLE32(_ value: UInt32, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }
    @inline(__always) func storeLE64(_ value: UInt64, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }

    /// Atomic 16-bit load with acquire ordering (offset must keep 2-byte alignment).
    @inline(__always) func loadAcquireLE16(at offset: Int) -> UInt16 {
        UInt16(littleEndian: shim_load_acquire_u16(self + offset))
    }
    /// Atomic 16-bit load, no ordering beyond the access itself.
    @inline(__always) func loadRelaxedLE16(at offset: Int) -> UInt16 {
        UInt16(littleEndian: shim_load_relaxed_u16(self + offset))
    }
    /// Atomic 16-bit store with release ordering.
    @inline(__always) func storeReleaseLE16(_ value: UInt16, at offset: Int) {
        shim_store_release_u16(self + offset, value.littleEndian)
    }
    /// Atomic 16-bit store, no ordering beyond the access itself.
    @inline(__always) func storeRelaxedLE16(_ value: UInt16, at offset: Int) {
        shim_store_relaxed_u16(self + offset, value.littleEndian)
    }
}

/// Store→load barrier (see the file comment).
@inline(__always) func fullMemoryBarrier() { shim_full_barrier() }

/// One descriptor as read (once) from a descriptor table.
struct RawDescriptor {
    var address: UInt64
    var length: UInt32
    var flags: UInt16
    var next: UInt16

    @inline(__always) init(table: UnsafeMutableRawPointer, index: Int) {
        let offset = index &* SplitRing.descriptorSize
        address = table.loadLE64(at: offset)
        length = table.loadLE32(at: offset + 8)
        flags = table.loadLE16(at: offset + 12)
        next = table.loadLE16(at: offset + 14)
    }

    var hasNext: Bool { flags & SplitRing.descriptorFlagNext != 0 }
    var isWritable: Bool { flags & SplitRing.descriptorFlagWrite != 0 }
    var isIndirect: Bool { flags & SplitRing.descriptorFlagIndirect != 0 }
}
