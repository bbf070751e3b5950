// The split virtqueue's memory layout and the few rules both sides share
// (virtio 1.x "Split Virtqueues"; Linux include/uapi/linux/virtio_ring.h).
//
//   descriptor table  align 16   16·N    { le64 addr, le32 len, le16 flags, le16 next } × N
//   available ring    align 2    6+2·N   le16 flags, le16 idx, le16 ring[N], le16 used_event
//   used ring         align 4    6+8·N   le16 flags, le16 idx, { le32 id, le32 len } × N, le16 avail_event

/// Layout constants and helpers of a split virtqueue.
public enum SplitRing {
    /// Largest queue size a split ring may have.
    public static let maximumSize = 32768

    public static let descriptorSize = 16
    public static let descriptorTableAlignment: UInt64 = 16
    public static let availRingAlignment: UInt64 = 2
    public static let usedRingAlignment: UInt64 = 4

    /// Descriptor flag: the chain continues at `next`.
    public static let descriptorFlagNext: UInt16 = 1
    /// Descriptor flag: the buffer is device-writable (else device-readable).
    public static let descriptorFlagWrite: UInt16 = 2
    /// Descriptor flag: `addr`/`len` point at a table of descriptors.
    public static let descriptorFlagIndirect: UInt16 = 4

    /// Available-ring flag: the driver does not want used-buffer notifications.
    public static let availFlagNoInterrupt: UInt16 = 1
    /// Used-ring flag: the device does not want kicks.
    public static let usedFlagNoNotify: UInt16 = 1

    /// Whether `size` is a legal split-ring queue size.
    public static func isValidSize(_ size: Int) -> Bool {
        size >= 1 && size <= maximumSize && size & (size - 1) == 0
    }

    /// Bytes of the descriptor table for `size` entries.
    public static func descriptorTableSize(_ size: Int) -> Int { descriptorSize * size }
    /// Bytes of the available ring, including the trailing used_event word.
    public static func availRingSize(_ size: Int) -> Int { 6 + 2 * size }
    /// Bytes of the used ring, including the trailing avail_event word.
    public static func usedRingSize(_ size: Int) -> Int { 6 + 8 * size }

    /// Byte offsets of the three areas when laid out back to back in one block, as
    /// the driver side here does it, and the block's total size.
    public static func contiguousLayout(size: Int) -> (descriptorTable: Int, availRing: Int, usedRing: Int, total: Int) {
        let avail = descriptorTableSize(size)
        let usedUnaligned = avail + availRingSize(size)
        let used = (usedUnaligned + 3) & ~3
        return (0, avail, used, used + usedRingSize(size))
    }

    /// Linux's `vring_need_event`: after moving an index from `old` to `new`,
    /// notify iff the other side's event index lies in `[old, new)` (mod 2^16).
    @inline(__always)
    public static func needsEvent(eventIndex: UInt16, new: UInt16, old: UInt16) -> Bool {
        (new &- eventIndex &- 1) < (new &- old)
    }
}
