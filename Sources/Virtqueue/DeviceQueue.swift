// The device side of a split virtqueue: take chains from the available ring,
// return them on the used ring, decide when the driver wants a notification.
//
// Everything the guest wrote is untrusted: indexes are bounded, every buffer is
// translated through `GuestMemory` (one region, no overflow), chain walks are
// bounded by the queue size, and each descriptor is read once into a local copy
// so a guest rewriting it concurrently cannot make us use unchecked values.

/// Which address space the three ring addresses are in.
public enum RingAddressSpace: Sendable {
    /// Guest-physical addresses (what a driver in the guest knows).
    case guestPhysical
    /// Addresses in the frontend's own address space (what vhost-user's
    /// SET_VRING_ADDR carries).
    case frontendUser
}

/// What a device queue needs to start.
public struct DeviceQueueConfiguration: Sendable, Equatable {
    /// Queue size N: a power of 2, at most 32768.
    public var size: Int
    public var descriptorTableAddress: UInt64
    public var availRingAddress: UInt64
    public var usedRingAddress: UInt64
    public var addressSpace: RingAddressSpace
    /// Where to resume reading the available ring (vhost-user SET_VRING_BASE).
    public var nextAvailIndex: UInt16
    /// VIRTIO_RING_F_EVENT_IDX negotiated.
    public var eventIndex: Bool
    /// VIRTIO_RING_F_INDIRECT_DESC negotiated.
    public var indirectDescriptors: Bool
    /// VIRTIO_F_NOTIFY_ON_EMPTY negotiated.
    public var notifyOnEmpty: Bool

    public init(size: Int, descriptorTableAddress: UInt64, availRingAddress: UInt64, usedRingAddress: UInt64,
                addressSpace: RingAddressSpace, nextAvailIndex: UInt16 = 0, eventIndex: Bool = false,
                indirectDescriptors: Bool = false, notifyOnEmpty: Bool = false)
    {
        self.size = size
        self.descriptorTableAddress = descriptorTableAddress
        self.availRingAddress = availRingAddress
        self.usedRingAddress = usedRingAddress
        self.addressSpace = addressSpace
        self.nextAvailIndex = nextAvailIndex
        self.eventIndex = eventIndex
        self.indirectDescriptors = indirectDescriptors
        self.notifyOnEmpty = notifyOnEmpty
    }
}

/// The three areas of a split ring.
public enum RingArea: String, Sendable {
    case descriptorTable = "descriptor table"
    case availRing = "available ring"
    case usedRing = "used ring"
}

/// Why a queue cannot start.
public enum QueueSetupError: Error, Equatable, CustomStringConvertible {
    case invalidSize(Int)
    case misaligned(RingArea, address: UInt64)
    case outsideMemory(RingArea, address: UInt64, length: Int)

    public var description: String {
        switch self {
        case .invalidSize(let size):
            return "queue size \(size) is not a power of 2 between 1 and \(SplitRing.maximumSize)"
        case .misaligned(let area, let address):
            return "\(area.rawValue) at 0x\(String(address, radix: 16)) is misaligned"
        case .outsideMemory(let area, let address, let length):
            return "\(area.rawValue) at 0x\(String(address, radix: 16)) (\(length) bytes) is not inside one memory region"
        }
    }
}

/// A fault of the whole queue: the queue stops taking chains until it is set up again.
public enum QueueError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `avail.idx` moved more than the queue size past the next index to read.
    case availIndexJump(nextAvail: UInt16, availIndex: UInt16, size: Int)

    public var description: String {
        switch self {
        case .availIndexJump(let next, let avail, let size):
            return "available index jumped to \(avail) while \(next) was next (more than the queue size \(size) pending)"
        }
    }
}

/// A chain taken from the available ring: usable, or broken (to be returned with length 0).
public enum ChainOutcome {
    case chain(DescriptorChain)
    case broken(headIndex: UInt16, ChainError)

    public var headIndex: UInt16 {
        switch self {
        case .chain(let chain): return chain.headIndex
        case .broken(let head, _): return head
        }
    }
}

/// What one `serveAvailable` call did.
public struct ServeSummary: Sendable, Equatable {
    /// Chains handed to the handler.
    public var chainsServed = 0
    /// Chains that were broken and returned with length 0 without reaching the handler.
    public var chainsBroken = 0
    /// The causes of the broken chains.
    public var brokenCauses = ChainErrorSet()
    /// How often `notify` was called.
    public var notifications = 0
    /// Set when the queue went (or was) into its error state.
    public var queueError: QueueError?
    /// The chain budget ran out with chains still available: call again.
    public var budgetExhausted = false
    public init() {}
}

/// Device side of one split virtqueue.
///
/// Not thread-safe: one thread owns it at a time (VhostUser's ring worker while
/// the ring runs, the control thread while it is stopped).
public final class DeviceQueue: @unchecked Sendable {
    // @unchecked Sendable: handed between threads only across a thread join.

    public let size: Int
    public let memory: GuestMemory
    public let configuration: DeviceQueueConfiguration
    private let indexMask: Int
    private let descriptorTable: UnsafeMutableRawPointer
    private let availRing: UnsafeMutableRawPointer
    private let usedRing: UnsafeMutableRawPointer
    private let usedEventOffset: Int  // in the avail ring
    private let availEventOffset: Int  // in the used ring

    /// The next available-ring index to read (what GET_VRING_BASE reports).
    public private(set) var nextAvailIndex: UInt16
    /// The next used-ring index to write (not yet visible to the driver until published).
    public private(set) var usedIndex: UInt16
    /// The used index the driver has been shown.
    public private(set) var publishedUsedIndex: UInt16
    private var hasNotified = false
    /// Set once the driver broke the queue as a whole.
    public private(set) var error: QueueError?

    /// Segment storage shared by every chain this queue hands out: up to N direct
    /// descriptors plus an indirect table of up to N entries.
    private let segments: UnsafeMutableBufferPointer<DescriptorSegment>

    /// Validates the ring areas against `memory` and reads back the used index the
    /// ring already has (after a guest reboot or a backend reconnect it is not 0).
    public init(configuration: DeviceQueueConfiguration, memory: GuestMemory) throws(QueueSetupError) {
        let size = configuration.size
        guard SplitRing.isValidSize(size) else { throw .invalidSize(size) }
        func area(_ which: RingArea, _ address: UInt64, _ length: Int, _ alignment: UInt64) throws(QueueSetupError)
            -> UnsafeMutableRawPointer
        {
            guard address % alignment == 0 else { throw .misaligned(which, address: address) }
            let pointer: UnsafeMutableRawPointer?
            switch configuration.addressSpace {
            case .guestPhysical: pointer = memory.pointer(guestPhysical: address, count: UInt64(length))
            case .frontendUser: pointer = memory.pointer(userAddress: address, count: UInt64(length))
            }
            guard let pointer else { throw .outsideMemory(which, address: address, length: length) }
            guard UInt(bitPattern: pointer) % UInt(alignment) == 0 else { throw .misaligned(which, address: address) }
            return pointer
        }
        descriptorTable = try area(.descriptorTable, configuration.descriptorTableAddress,
                                   SplitRing.descriptorTableSize(size), SplitRing.descriptorTableAlignment)
        availRing = try area(.availRing, configuration.availRingAddress,
                             SplitRing.availRingSize(size), SplitRing.availRingAlignment)
        usedRing = try area(.usedRing, configuration.usedRingAddress,
                            SplitRing.usedRingSize(size), SplitRing.usedRingAlignment)
        self.size = size
        self.memory = memory
        self.configuration = configuration
        indexMask = size - 1
        usedEventOffset = 4 + 2 * size
        availEventOffset = 4 + 8 * size
        nextAvailIndex = configuration.nextAvailIndex
        let usedIndex = usedRing.loadAcquireLE16(at: 2)
        self.usedIndex = usedIndex
        publishedUsedIndex = usedIndex
        segments = .allocate(capacity: 2 * size)
        // We never ask the driver to hold back kicks through used.flags; clear a
        // NO_NOTIFY a previous backend may have left behind.
        usedRing.storeRelaxedLE16(0, at: 0)
    }

    deinit { segments.deallocate() }

    // MARK: Taking chains

    /// Chains the driver has made available and we have not taken, or nil when the
    /// available index is beyond what a correct driver can produce (the queue
    /// then enters its error state).
    public func availableCount() -> Int? {
        if error != nil { return nil }
        let availIndex = availRing.loadAcquireLE16(at: 2)
        let pending = Int(availIndex &- nextAvailIndex)
        if pending > size {
            error = .availIndexJump(nextAvail: nextAvailIndex, availIndex: availIndex, size: size)
            return nil
        }
        return pending
    }

    /// Takes the next available chain. The caller MUST give it back with
    /// `complete(headIndex:length:)` (length 0 for a broken one) before taking more
    /// than N chains, and before it stops using the queue; `serveAvailable` does all
    /// of that. Only call after `availableCount()` said a chain is there.
    /// The returned chain is valid until the next call.
    public func nextChain() -> ChainOutcome {
        let slot = Int(nextAvailIndex) & indexMask
        let head = availRing.loadLE16(at: 4 + 2 * slot)
        nextAvailIndex &+= 1
        return walkChain(head: head)
    }

    /// Puts a chain on the used ring (not yet visible: see `publishUsed`).
    public func complete(headIndex: UInt16, length: UInt32) {
        let element = 4 + 8 * (Int(usedIndex) & indexMask)
        usedRing.storeLE32(UInt32(headIndex), at: element)
        usedRing.storeLE32(length, at: element + 4)
        usedIndex &+= 1
    }

    /// Makes completed chains visible to the driver (one `used.idx` store for the
    /// whole batch) and says whether the driver wants a notification for them.
    public func publishUsed() -> Bool {
        let old = publishedUsedIndex
        let new = usedIndex
        guard new != old else { return false }
        usedRing.storeReleaseLE16(new, at: 2)
        publishedUsedIndex = new
        fullMemoryBarrier()  // the used.idx store before the used_event / flags load
        if configuration.eventIndex {
            let usedEvent = availRing.loadRelaxedLE16(at: usedEventOffset)
            defer { hasNotified = true }
            return !hasNotified || SplitRing.needsEvent(eventIndex: usedEvent, new: new, old: old)
        }
        let flags = availRing.loadRelaxedLE16(at: 0)
        if flags & SplitRing.availFlagNoInterrupt == 0 { return true }
        if configuration.notifyOnEmpty, availRing.loadAcquireLE16(at: 2) == nextAvailIndex { return true }
        return false
    }

    /// Before sleeping: ask for a kick for the next chain (EVENT_IDX: publish
    /// `avail_event`), then look again. Returns true when chains arrived meanwhile,
    /// so the caller must not sleep.
    public func prepareForKick() -> Bool {
        if configuration.eventIndex {
            usedRing.storeRelaxedLE16(nextAvailIndex, at: availEventOffset)
            fullMemoryBarrier()  // the avail_event store before the avail.idx load
        }
        return availRing.loadAcquireLE16(at: 2) != nextAvailIndex
    }

    // MARK: The default path

    /// Serves every available chain: each usable chain goes to `handle`, which
    /// returns how many bytes it wrote into the chain's writable part; each broken
    /// chain is skipped. Either way every chain taken goes back on the used ring
    /// exactly once (length clamped to the writable size; 0 when broken), in the
    /// order served. Completed chains are published once per pass over the
    /// available entries and `notify` is called when the driver wants it. Before
    /// returning it re-arms kicks and re-checks, so nothing made available before
    /// the return is left behind (unless `chainBudget` ran out: see the summary).
    /// `broken` hears about each broken chain before it is published.
    ///
    /// With `armingKicks` false it returns as soon as the ring is empty, kicks
    /// left as they were: with EVENT_IDX the driver then sees a stale avail_event
    /// and does not kick, which is what a caller that keeps polling the ring wants
    /// (it must call `prepareForKick` itself before it sleeps).
    public func serveAvailable(chainBudget: Int = .max, armingKicks: Bool = true, handle: (DescriptorChain) -> UInt32,
                               broken: (ChainError) -> Void = { _ in }, notify: () -> Void) -> ServeSummary
    {
        var summary = ServeSummary()
        var budget = chainBudget
        while true {
            guard let pending = availableCount() else {
                summary.queueError = error
                return summary
            }
            if pending == 0 {
                if armingKicks && prepareForKick() { continue }
                return summary
            }
            if budget <= 0 {
                summary.budgetExhausted = true
                return summary
            }
            let batch = min(pending, budget)
            budget -= batch
            for _ in 0..<batch {
                switch nextChain() {
                case .chain(let chain):
                    let written = handle(chain)
                    complete(headIndex: chain.headIndex, length: min(written, UInt32(truncatingIfNeeded: chain.writableLength)))
                    summary.chainsServed += 1
                case .broken(let head, let cause):
                    broken(cause)
                    complete(headIndex: head, length: 0)
                    summary.chainsBroken += 1
                    summary.brokenCauses.insert(cause)
                }
            }
            if publishUsed() {
                notify()
                summary.notifications += 1
            }
        }
    }

    /// `serveAvailable` for a device that may keep a chain and complete it later:
    /// `handle` returns the bytes written, or nil when it keeps the chain (the
    /// caller then owes one `complete(headIndex:length:)` for it, before taking
    /// more than N chains in all). Everything else is as in `serveAvailable`.
    /// A separate copy so that the synchronous path keeps its exact code.
    public func serveAvailable(chainBudget: Int = .max, holding handle: (DescriptorChain) -> UInt32?,
                               broken: (ChainError) -> Void = { _ in }, notify: () -> Void) -> ServeSummary
    {
        var summary = ServeSummary()
        var budget = chainBudget
        while true {
            guard let pending = availableCount() else {
                summary.queueError = error
                return summary
            }
            if pending == 0 {
                if prepareForKick() { continue }
                return summary
            }
            if budget <= 0 {
                summary.budgetExhausted = true
                return summary
            }
            let batch = min(pending, budget)
            budget -= batch
            for _ in 0..<batch {
                switch nextChain() {
                case .chain(let chain):
                    summary.chainsServed += 1
                    guard let written = handle(chain) else { continue }
                    complete(headIndex: chain.headIndex, length: min(written, UInt32(truncatingIfNeeded: chain.writableLength)))
                case .broken(let head, let cause):
                    broken(cause)
                    complete(headIndex: head, length: 0)
                    summary.chainsBroken += 1
                    summary.brokenCauses.insert(cause)
                }
            }
            if publishUsed() {
                notify()
                summary.notifications += 1
            }
        }
    }

    /// Walks the chain with head `headIndex` again (a chain the caller took
    /// earlier and kept): every descriptor is read and checked anew, so a guest
    /// that rewrote it meanwhile gets a broken chain, never an unchecked buffer.
    /// Like `nextChain`, the result is valid until the next walk.
    public func rewalkChain(headIndex: UInt16) -> ChainOutcome {
        walkChain(head: headIndex)
    }

    // MARK: Walking a chain

    private struct WalkState {
        var count = 0
        var readableCount = 0
        var readableLength = 0
        var writableLength = 0
        var sawWritable = false
    }

    private func walkChain(head: UInt16) -> ChainOutcome {
        guard Int(head) < size else { return .broken(headIndex: head, .headOutOfRange) }
        var state = WalkState()
        var index = Int(head)
        var steps = 0
        while true {
            steps += 1
            if steps > size { return .broken(headIndex: head, .chainTooLong) }
            let descriptor = RawDescriptor(table: descriptorTable, index: index)
            if descriptor.isIndirect {
                guard configuration.indirectDescriptors else { return .broken(headIndex: head, .indirectNotNegotiated) }
                guard !descriptor.hasNext else { return .broken(headIndex: head, .indirectWithNext) }
                if let failure = walkIndirectTable(descriptor, into: &state) { return .broken(headIndex: head, failure) }
                break
            }
            if let failure = append(descriptor, to: &state) { return .broken(headIndex: head, failure) }
            guard descriptor.hasNext else { break }
            index = Int(descriptor.next)
            guard index < size else { return .broken(headIndex: head, .nextOutOfRange) }
        }
        return .chain(DescriptorChain(
            headIndex: head, segments: UnsafeBufferPointer(rebasing: segments[0..<state.count]),
            readableCount: state.readableCount, readableLength: state.readableLength,
            writableLength: state.writableLength))
    }

    private func walkIndirectTable(_ indirect: RawDescriptor, into state: inout WalkState) -> ChainError? {
        let length = Int(indirect.length)
        let entries = length / SplitRing.descriptorSize
        guard length > 0, length % SplitRing.descriptorSize == 0, entries <= size else { return .badIndirectTableLength }
        guard let table = memory.pointer(guestPhysical: indirect.address, count: UInt64(length)) else {
            return .bufferOutsideMemory
        }
        var index = 0
        var steps = 0
        while true {
            steps += 1
            if steps > entries { return .chainTooLong }
            let descriptor = RawDescriptor(table: table, index: index)
            if descriptor.isIndirect { return .nestedIndirect }
            if let failure = append(descriptor, to: &state) { return failure }
            guard descriptor.hasNext else { return nil }
            index = Int(descriptor.next)
            guard index < entries else { return .nextOutOfRange }
        }
    }

    @inline(__always)
    private func append(_ descriptor: RawDescriptor, to state: inout WalkState) -> ChainError? {
        if descriptor.isWritable {
            state.sawWritable = true
        } else if state.sawWritable {
            return .readableAfterWritable
        }
        // A zero-length buffer carries no bytes; it is never touched, so there is
        // nothing to translate or keep.
        guard descriptor.length > 0 else { return nil }
        guard let base = memory.pointer(guestPhysical: descriptor.address, count: UInt64(descriptor.length)) else {
            return .bufferOutsideMemory
        }
        // Bounded by construction: at most N direct plus N indirect descriptors.
        segments[state.count] = DescriptorSegment(base: base, length: Int(descriptor.length))
        state.count += 1
        if descriptor.isWritable {
            state.writableLength += Int(descriptor.length)
        } else {
            state.readableCount += 1
            state.readableLength += Int(descriptor.length)
        }
        return nil
    }
}
