// The encodings engine and client share (docs/protocol.md §1, §4, §14):
// little-endian words, NUL-padded name fields, and the first word of a paged
// DESCRIBE reply. The word and page codecs never allocate, so the engine's
// hot path can use them.

/// Little-endian 32-bit words in raw bytes, as every SCMI field is sent.
public enum LittleEndian {
    /// The word at byte `offset`, or nil when it does not lie inside `bytes`.
    @inlinable
    public static func word(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= bytes.count &- 4 else { return nil }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// The word at byte `offset` of `bytes`, or nil when it does not lie inside.
    @inlinable
    public static func word(_ bytes: [UInt8], at offset: Int) -> UInt32? {
        bytes.withUnsafeBytes { word($0, at: offset) }
    }

    /// Writes `value` at byte `offset`; false (nothing written) when it does not fit.
    @inlinable
    @discardableResult
    public static func store(_ value: UInt32, into bytes: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool {
        guard offset >= 0, offset <= bytes.count &- 4 else { return false }
        bytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
        return true
    }

    /// Appends `value`'s four bytes, low byte first.
    @inlinable
    public static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// `words` as bytes, each low byte first.
    public static func bytes(of words: [UInt32]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 * words.count)
        for word in words { append(word, to: &bytes) }
        return bytes
    }
}

/// An SCMI name field (docs/protocol.md §4): NUL-terminated and NUL-padded to
/// a fixed width, so it holds at most width − 1 bytes of UTF-8.
public enum NameField: Int, Sendable, CaseIterable {
    /// 16 bytes: BASE_DISCOVER_VENDOR, CLOCK_ATTRIBUTES, … (15 bytes of text).
    case short = 16
    /// 64 bytes: the *_NAME_GET commands (63 bytes of text).
    case extended = 64

    /// Bytes on the wire.
    public var width: Int { rawValue }
    /// Bytes of text it holds.
    public var capacity: Int { rawValue - 1 }

    /// Whether `text` fits whole (else the short field sets the protocol's
    /// "extended name" attribute and the name is read with *_NAME_GET).
    public func fits(_ text: String) -> Bool { text.utf8.count <= capacity }

    /// `text` as the field: its first `capacity` UTF-8 bytes, then NULs up to
    /// `width`.
    public func encode(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8.prefix(capacity))
        bytes.append(contentsOf: repeatElement(0, count: width - bytes.count))
        return bytes
    }

    /// The text of a field: up to the first NUL, at most `width` bytes; bytes
    /// that are not UTF-8 become U+FFFD.
    public func decode<Bytes: Collection>(_ field: Bytes) -> String where Bytes.Element == UInt8 {
        String(decoding: field.prefix(width).prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// The first return word of a paged DESCRIBE reply (CLOCK_DESCRIBE_RATES,
/// VOLTAGE_DESCRIBE_LEVELS; docs/protocol.md §10, §13, §14): bits 11:0 the
/// entries in this reply, bit 12 the format (0 a list, 1 one {min, max, step}
/// triplet), 15:13 reserved, 31:16 the entries remaining after this reply.
public struct DescribePage: Hashable, Sendable {
    /// Entries in this reply (0…0xFFF on the wire).
    public var returned: Int
    /// Entries after this reply (0…0xFFFF on the wire).
    public var remaining: Int
    /// Bit 12: the reply is one {min, max, step} triplet, not a list.
    public var isTriplet: Bool

    public static let returnedMask: UInt32 = 0xFFF
    public static let tripletFormat: UInt32 = 1 << 12

    public init(returned: Int, remaining: Int, isTriplet: Bool = false) {
        self.returned = returned
        self.remaining = remaining
        self.isTriplet = isTriplet
    }

    /// A triplet: three values, none remaining, format bit set.
    public static let triplet = DescribePage(returned: 3, remaining: 0, isTriplet: true)

    /// Reads the word; reserved bits 15:13 are ignored.
    public init(word: UInt32) {
        returned = Int(word & Self.returnedMask)
        remaining = Int(word >> 16)
        isTriplet = word & Self.tripletFormat != 0
    }

    /// The word, each count clamped to its field.
    public var word: UInt32 {
        UInt32(clamping: min(max(returned, 0), Int(Self.returnedMask)))
            | (isTriplet ? Self.tripletFormat : 0)
            | UInt32(clamping: min(max(remaining, 0), 0xFFFF)) << 16
    }
}
