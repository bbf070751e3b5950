// Payload layouts (docs/protocol.md §21). All little-endian, fixed sizes; decoding
// checks the exact size the request calls for.

/// Little-endian field reader over a payload; the caller checked the size.
struct PayloadReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func u32() -> UInt32 {
        var value: UInt32 = 0
        for shift in 0..<4 { value |= UInt32(bytes[offset + shift]) << (8 * shift) }
        offset += 4
        return value
    }

    mutating func u64() -> UInt64 {
        var value: UInt64 = 0
        for shift in 0..<8 { value |= UInt64(bytes[offset + shift]) << (8 * shift) }
        offset += 8
        return value
    }
}

/// Little-endian field writer building a payload.
struct PayloadWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ value: UInt32) {
        for shift in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * shift))) }
    }

    mutating func u64(_ value: UInt64) {
        for shift in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * shift))) }
    }
}

/// A single u64 (features, acks, queue counts).
public enum U64Payload {
    public static let size = 8
    public static func encode(_ value: UInt64) -> [UInt8] {
        var writer = PayloadWriter()
        writer.u64(value)
        return writer.bytes
    }
    public static func decode(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == size else { return nil }
        var reader = PayloadReader(bytes)
        return reader.u64()
    }
}

/// `vring state`: an index and a number (size, base, enable).
public struct VringState: Sendable, Equatable {
    public static let size = 8
    public var index: UInt32
    public var number: UInt32

    public init(index: UInt32, number: UInt32) {
        self.index = index
        self.number = number
    }

    public init?(payload: [UInt8]) {
        guard payload.count == Self.size else { return nil }
        var reader = PayloadReader(payload)
        index = reader.u32()
        number = reader.u32()
    }

    public var payload: [UInt8] {
        var writer = PayloadWriter()
        writer.u32(index)
        writer.u32(number)
        return writer.bytes
    }
}

/// `vring address`: the three ring addresses in the frontend's address space.
public struct VringAddress: Sendable, Equatable {
    public static let size = 40
    public var index: UInt32
    public var flags: UInt32
    public var descriptorTable: UInt64
    public var usedRing: UInt64
    public var availRing: UInt64
    public var logGuestAddress: UInt64

    public init(index: UInt32, flags: UInt32 = 0, descriptorTable: UInt64, usedRing: UInt64, availRing: UInt64,
                logGuestAddress: UInt64 = 0)
    {
        self.index = index
        self.flags = flags
        self.descriptorTable = descriptorTable
        self.usedRing = usedRing
        self.availRing = availRing
        self.logGuestAddress = logGuestAddress
    }

    public init?(payload: [UInt8]) {
        guard payload.count == Self.size else { return nil }
        var reader = PayloadReader(payload)
        index = reader.u32()
        flags = reader.u32()
        descriptorTable = reader.u64()
        usedRing = reader.u64()
        availRing = reader.u64()
        logGuestAddress = reader.u64()
    }

    public var payload: [UInt8] {
        var writer = PayloadWriter()
        writer.u32(index)
        writer.u32(flags)
        writer.u64(descriptorTable)
        writer.u64(usedRing)
        writer.u64(availRing)
        writer.u64(logGuestAddress)
        return writer.bytes
    }
}

/// One region of a memory table.
public struct MemoryRegionDescription: Sendable, Equatable {
    public static let size = 32
    public var guestPhysicalAddress: UInt64
    public var size: UInt64
    public var userAddress: UInt64
    public var mmapOffset: UInt64

    public init(guestPhysicalAddress: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64) {
        self.guestPhysicalAddress = guestPhysicalAddress
        self.size = size
        self.userAddress = userAddress
        self.mmapOffset = mmapOffset
    }
}

/// `memory table`: u32 count, u32 padding, then the regions (one fd each).
public enum MemoryTablePayload {
    /// The exact size a table of `count` regions has.
    public static func size(regionCount count: Int) -> Int { 8 + MemoryRegionDescription.size * count }

    /// The region count the payload announces, when it is within limits and the
    /// payload has exactly the matching size.
    public static func decode(_ bytes: [UInt8]) -> [MemoryRegionDescription]? {
        guard bytes.count >= 8 else { return nil }
        var reader = PayloadReader(bytes)
        let count = Int(reader.u32())
        _ = reader.u32()
        guard count >= 1, count <= VhostUserLimits.maximumMemoryRegions, bytes.count == size(regionCount: count) else {
            return nil
        }
        return (0..<count).map { _ in
            MemoryRegionDescription(guestPhysicalAddress: reader.u64(), size: reader.u64(),
                                    userAddress: reader.u64(), mmapOffset: reader.u64())
        }
    }

    public static func encode(_ regions: [MemoryRegionDescription]) -> [UInt8] {
        var writer = PayloadWriter()
        writer.u32(UInt32(regions.count))
        writer.u32(0)
        for region in regions {
            writer.u64(region.guestPhysicalAddress)
            writer.u64(region.size)
            writer.u64(region.userAddress)
            writer.u64(region.mmapOffset)
        }
        return writer.bytes
    }
}

/// The u64 of SET_VRING_KICK/CALL/ERR: bits 7:0 ring index, bit 8 "no fd".
public struct VringDescriptorWord: Sendable, Equatable {
    public static let noFileDescriptorBit: UInt64 = 1 << 8
    public var index: UInt32
    public var hasNoFileDescriptor: Bool

    public init(index: UInt32, hasNoFileDescriptor: Bool = false) {
        self.index = index
        self.hasNoFileDescriptor = hasNoFileDescriptor
    }

    /// Nil when bits other than the index and "no fd" are set.
    public init?(_ value: UInt64) {
        guard value & ~(0xFF | Self.noFileDescriptorBit) == 0 else { return nil }
        index = UInt32(value & 0xFF)
        hasNoFileDescriptor = value & Self.noFileDescriptorBit != 0
    }

    public var value: UInt64 { UInt64(index) | (hasNoFileDescriptor ? Self.noFileDescriptorBit : 0) }
}
