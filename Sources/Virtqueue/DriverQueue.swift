// The driver side of a split virtqueue, as a guest's virtio driver runs it. Used
// by the vhost-user frontend (`scmi-dt call`, tests, benchmarks); it lays the ring
// out in memory it is given, hands out descriptors from a free list, publishes
// chains, and reads used elements. Raw hooks let tests write anything at all
// into the ring, including what no correct driver would.

/// One buffer of a chain the driver adds: a guest-physical address and a length.
public struct DriverSegment: Sendable, Equatable {
    public var address: UInt64
    public var length: UInt32
    /// Device-writable (room for the device's answer) rather than device-readable.
    public var writable: Bool

    public init(address: UInt64, length: UInt32, writable: Bool) {
        self.address = address
        self.length = length
        self.writable = writable
    }
}

/// One element of the used ring.
public struct UsedElement: Sendable, Equatable {
    public var id: UInt32
    public var length: UInt32
    public init(id: UInt32, length: UInt32) {
        self.id = id
        self.length = length
    }
}

/// Driver side of one split virtqueue laid out contiguously in `area`.
/// Not thread-safe: one thread drives it.
public final class DriverQueue: @unchecked Sendable {
    // @unchecked Sendable: owned by one thread at a time (the frontend's user).

    public let size: Int
    public let eventIndex: Bool
    /// Local pointers to the three areas.
    public let descriptorTable: UnsafeMutableRawPointer
    public let availRing: UnsafeMutableRawPointer
    public let usedRing: UnsafeMutableRawPointer
    /// The three areas' addresses in the address space `areaAddress` was given in.
    public let descriptorTableAddress: UInt64
    public let availRingAddress: UInt64
    public let usedRingAddress: UInt64

    private let indexMask: Int
    /// Free descriptors, as a stack linked through `freeLink`.
    private let freeLink: UnsafeMutableBufferPointer<UInt16>
    private var freeTop: Int
    public private(set) var freeCount: Int
    /// For each head this queue handed out: how many descriptors its chain uses
    /// (0 for heads the queue did not add), and the links it wrote.
    private let chainDescriptorCount: UnsafeMutableBufferPointer<UInt16>
    private let chainLink: UnsafeMutableBufferPointer<UInt16>
    /// Next avail index to fill / last one published / next used index to read.
    public private(set) var availIndex: UInt16 = 0
    private var publishedAvailIndex: UInt16 = 0
    public private(set) var lastUsedIndex: UInt16 = 0

    /// Bytes of memory a queue of `size` needs (see `SplitRing.contiguousLayout`).
    public static func memorySize(size: Int) -> Int { SplitRing.contiguousLayout(size: size).total }

    /// Lays out a fresh ring in `area` (zeroed here), which the device knows at
    /// `areaAddress` (16-byte aligned), `memorySize(size:)` bytes long.
    public init(size: Int, area: UnsafeMutableRawPointer, areaAddress: UInt64, eventIndex: Bool) {
        precondition(SplitRing.isValidSize(size), "queue size must be a power of 2 up to 32768")
        precondition(areaAddress % 16 == 0 && UInt(bitPattern: area) % 16 == 0, "ring area must be 16-byte aligned")
        let layout = SplitRing.contiguousLayout(size: size)
        area.initializeMemory(as: UInt8.self, repeating: 0, count: layout.total)
        self.size = size
        self.eventIndex = eventIndex
        indexMask = size - 1
        descriptorTable = area + layout.descriptorTable
        availRing = area + layout.availRing
        usedRing = area + layout.usedRing
        descriptorTableAddress = areaAddress + UInt64(layout.descriptorTable)
        availRingAddress = areaAddress + UInt64(layout.availRing)
        usedRingAddress = areaAddress + UInt64(layout.usedRing)
        freeLink = .allocate(capacity: size)
        chainDescriptorCount = .allocate(capacity: size)
        chainLink = .allocate(capacity: size)
        chainDescriptorCount.initialize(repeating: 0)
        chainLink.initialize(repeating: 0)
        for index in 0..<size { freeLink[index] = UInt16(truncatingIfNeeded: index + 1) }
        freeTop = 0
        freeCount = size
    }

    deinit {
        freeLink.deallocate()
        chainDescriptorCount.deallocate()
        chainLink.deallocate()
    }

    // MARK: Adding chains

    /// Adds a chain of direct descriptors (readable segments must come first for a
    /// well-formed chain; this does not check, so tests can build bad ones).
    /// Returns the head index, or nil when there are not enough free descriptors.
    public func addChain(_ chain: UnsafeBufferPointer<DriverSegment>) -> UInt16? {
        guard !chain.isEmpty, chain.count <= freeCount else { return nil }
        let head = UInt16(truncatingIfNeeded: freeTop)
        var index = freeTop
        for position in 0..<chain.count {
            let segment = chain[position]
            let isLast = position == chain.count - 1
            let next = freeLink[index]
            var flags: UInt16 = segment.writable ? SplitRing.descriptorFlagWrite : 0
            if !isLast { flags |= SplitRing.descriptorFlagNext }
            writeDescriptor(index: Int(index), address: segment.address, length: segment.length,
                            flags: flags, next: isLast ? 0 : next)
            chainLink[index] = next
            index = Int(next)
        }
        freeTop = index
        freeCount -= chain.count
        chainDescriptorCount[Int(head)] = UInt16(chain.count)
        placeInAvailRing(head: head)
        return head
    }

    /// The common request/response chain: one readable then one writable buffer.
    public func addChain(readable: DriverSegment, writable: DriverSegment) -> UInt16? {
        withUnsafeTemporaryAllocation(of: DriverSegment.self, capacity: 2) { pair in
            pair[0] = readable
            pair[1] = writable
            return addChain(UnsafeBufferPointer(pair))
        }
    }

    /// Adds a chain as one INDIRECT descriptor whose table (`chain.count` × 16
    /// bytes, written here) lives at `table` locally and `tableAddress` for the device.
    public func addIndirectChain(_ chain: UnsafeBufferPointer<DriverSegment>, table: UnsafeMutableRawPointer,
                                 tableAddress: UInt64) -> UInt16?
    {
        guard !chain.isEmpty, freeCount >= 1 else { return nil }
        for position in 0..<chain.count {
            let segment = chain[position]
            let isLast = position == chain.count - 1
            var flags: UInt16 = segment.writable ? SplitRing.descriptorFlagWrite : 0
            if !isLast { flags |= SplitRing.descriptorFlagNext }
            Self.writeDescriptor(into: table, index: position, address: segment.address, length: segment.length,
                                 flags: flags, next: isLast ? 0 : UInt16(position + 1))
        }
        let head = UInt16(truncatingIfNeeded: freeTop)
        let next = freeLink[freeTop]
        writeDescriptor(index: freeTop, address: tableAddress, length: UInt32(chain.count * SplitRing.descriptorSize),
                        flags: SplitRing.descriptorFlagIndirect, next: 0)
        chainLink[freeTop] = next
        freeTop = Int(next)
        freeCount -= 1
        chainDescriptorCount[Int(head)] = 1
        placeInAvailRing(head: head)
        return head
    }

    /// Makes every chain added since the last call visible to the device: one
    /// release store of `avail.idx`. Returns whether the device wants a kick.
    public func publish() -> Bool {
        let old = publishedAvailIndex
        let new = availIndex
        guard new != old else { return false }
        availRing.storeReleaseLE16(new, at: 2)
        publishedAvailIndex = new
        fullMemoryBarrier()  // the avail.idx store before reading avail_event / used.flags
        if eventIndex {
            let availEvent = usedRing.loadRelaxedLE16(at: 4 + 8 * size)
            return SplitRing.needsEvent(eventIndex: availEvent, new: new, old: old)
        }
        return usedRing.loadRelaxedLE16(at: 0) & SplitRing.usedFlagNoNotify == 0
    }

    // MARK: Reading used elements

    /// The next used element, or nil when the device has returned nothing new.
    /// Descriptors of chains this queue added go back to the free list.
    public func popUsed() -> UsedElement? {
        let usedIndex = usedRing.loadAcquireLE16(at: 2)
        guard usedIndex != lastUsedIndex else { return nil }
        let offset = 4 + 8 * (Int(lastUsedIndex) & indexMask)
        let element = UsedElement(id: usedRing.loadLE32(at: offset), length: usedRing.loadLE32(at: offset + 4))
        lastUsedIndex &+= 1
        if element.id < UInt32(size) { release(chainAt: Int(element.id)) }
        return element
    }

    /// Whether the device has returned elements not yet read (one acquire load:
    /// what a driver that polls the used ring looks at).
    @inline(__always) public var hasUsed: Bool { usedRing.loadAcquireLE16(at: 2) != lastUsedIndex }

    /// Before waiting for a used-buffer notification: ask for one at the next
    /// used element (EVENT_IDX: `used_event`; else clear a NO_INTERRUPT that
    /// `suppressNotifications` set). Returns true when elements arrived
    /// meanwhile, so the caller must not sleep.
    public func prepareForNotification() -> Bool {
        if eventIndex {
            availRing.storeRelaxedLE16(lastUsedIndex, at: 4 + 2 * size)
            fullMemoryBarrier()  // the used_event store before the used.idx load
        } else if availFlags & SplitRing.availFlagNoInterrupt != 0 {
            availFlags &= ~SplitRing.availFlagNoInterrupt
            fullMemoryBarrier()
        }
        return hasUsed
    }

    /// While the driver polls the used ring instead of sleeping: asks the device
    /// for no used-buffer notifications (what Linux's virtqueue_disable_cb is
    /// for), so that it writes no call eventfd per batch. With EVENT_IDX,
    /// `used_event` goes one behind the next element to read: the device
    /// publishes from at least that element on, at most N elements ahead of it,
    /// so its window `[old, new)` never holds it; without, `avail.flags`
    /// NO_INTERRUPT. `prepareForNotification` asks for notifications again (a
    /// device may still send one it decided on before it saw this).
    public func suppressNotifications() {
        if eventIndex {
            availRing.storeRelaxedLE16(lastUsedIndex &- 1, at: 4 + 2 * size)
        } else {
            availFlags |= SplitRing.availFlagNoInterrupt
        }
    }

    private func release(chainAt head: Int) {
        var count = Int(chainDescriptorCount[head])
        guard count > 0 else { return }
        chainDescriptorCount[head] = 0
        var index = head
        while count > 0 {
            let next = Int(chainLink[index])
            freeLink[index] = UInt16(truncatingIfNeeded: freeTop)
            freeTop = index
            freeCount += 1
            index = next
            count -= 1
        }
    }

    private func placeInAvailRing(head: UInt16) {
        availRing.storeLE16(head, at: 4 + 2 * (Int(availIndex) & indexMask))
        availIndex &+= 1
    }

    // MARK: Raw hooks (tests: anything a hostile driver could write)

    /// Takes one descriptor off the free list for hand-made chains; give it back
    /// with `releaseDescriptor` once the device returned the chain.
    public func takeFreeDescriptor() -> UInt16? {
        guard freeCount > 0 else { return nil }
        let index = freeTop
        freeTop = Int(freeLink[index])
        freeCount -= 1
        return UInt16(index)
    }

    public func releaseDescriptor(_ index: UInt16) {
        freeLink[Int(index)] = UInt16(truncatingIfNeeded: freeTop)
        freeTop = Int(index)
        freeCount += 1
    }

    /// Writes descriptor `index` verbatim.
    public func writeDescriptor(index: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        Self.writeDescriptor(into: descriptorTable, index: index, address: address, length: length, flags: flags, next: next)
    }

    /// Writes entry `index` of a descriptor table at `table` verbatim.
    public static func writeDescriptor(into table: UnsafeMutableRawPointer, index: Int, address: UInt64,
                                       length: UInt32, flags: UInt16, next: UInt16)
    {
        let offset = index * SplitRing.descriptorSize
        table.storeLE64(address, at: offset)
        table.storeLE32(length, at: offset + 8)
        table.storeLE16(flags, at: offset + 12)
        table.storeLE16(next, at: offset + 14)
    }

    /// Puts any head index (even an invalid one) in the next available slot; it
    /// becomes visible with `publish()`.
    public func makeAvailable(rawHead head: UInt16) { placeInAvailRing(head: head) }

    /// Stores `avail.idx` verbatim (e.g. far beyond the queue size) and returns to it.
    public func storeAvailIndex(_ value: UInt16) {
        availRing.storeReleaseLE16(value, at: 2)
        availIndex = value
        publishedAvailIndex = value
    }

    /// `avail.flags` (NO_INTERRUPT).
    public var availFlags: UInt16 {
        get { availRing.loadRelaxedLE16(at: 0) }
        set { availRing.storeRelaxedLE16(newValue, at: 0) }
    }

    /// `used.idx` as the device last published it.
    public var usedIndexInMemory: UInt16 { usedRing.loadAcquireLE16(at: 2) }
    /// `used.flags` as the device wrote them.
    public var usedFlags: UInt16 { usedRing.loadRelaxedLE16(at: 0) }
    /// `avail_event` (EVENT_IDX) as the device wrote it.
    public var availEvent: UInt16 { usedRing.loadRelaxedLE16(at: 4 + 8 * size) }
    /// `used_event` (EVENT_IDX) as this driver last wrote it.
    public var usedEvent: UInt16 { availRing.loadRelaxedLE16(at: 4 + 2 * size) }
    /// Sets `used_event` (EVENT_IDX) verbatim.
    public func storeUsedEvent(_ value: UInt16) { availRing.storeRelaxedLE16(value, at: 4 + 2 * size) }

    /// Forgets used elements without reading them: resynchronises after the
    /// device rewrote `used.idx` (tests of used-index read-back).
    public func skipUsed(to index: UInt16) { lastUsedIndex = index }
}
