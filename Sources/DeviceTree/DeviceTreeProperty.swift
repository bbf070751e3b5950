#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One property of a node: a name and a raw big-endian value, with typed views that check the
/// value's shape instead of guessing. Every typed accessor returns nil when the value does not
/// have that shape, so a malformed blob can never make a reader trap or read out of bounds.
///
/// The value is a view into the blob (no copy) unless the property was built from an array.
public struct DeviceTreeProperty: Sendable {
    public let name: String
    let storage: BlobStorage
    let start: Int
    /// Length of the value in bytes.
    public let count: Int
    /// The tree's number for `name` (`0..<tree.propertyNameCount`), the same for every property
    /// of that name in the tree; -1 for a free-standing property. Lets a reader that looks up
    /// something per name (a schema) do it once per distinct name instead of once per property.
    package let nameID: Int32

    /// A free-standing property, e.g. for tests or for values computed outside a blob.
    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.storage = BlobStorage(copying: bytes)
        self.start = 0
        self.count = bytes.count
        self.nameID = -1
    }

    init(name: String, storage: BlobStorage, start: Int, count: Int, nameID: Int32 = -1) {
        self.name = name
        self.storage = storage
        self.start = start
        self.count = count
        self.nameID = nameID
    }

    /// The raw value.
    public var bytes: [UInt8] { storage.array(offset: start, length: count) }

    /// Calls `body` with the raw value without copying it.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base + start, count: count))
    }

    /// True for a property without a value (a flag such as `arm,scmi-trusted;`).
    public var isEmpty: Bool { count == 0 }

    /// The value as one cell: exactly 4 bytes.
    public var u32: UInt32? {
        count == 4 ? storage.bigEndianUInt32(at: start) : nil
    }

    /// The value as one 64-bit number: exactly 8 bytes (`/bits/ 64 <…>` or two cells, high first).
    public var u64: UInt64? {
        count == 8 ? storage.bigEndianUInt64(at: start) : nil
    }

    /// Number of whole 32-bit cells, or nil when the length is not a multiple of 4.
    public var cellCount: Int? { count % 4 == 0 ? count / 4 : nil }

    /// The `index`-th cell; nil when the value is not cells or is too short.
    public func cell(_ index: Int) -> UInt32? {
        guard let cells = cellCount, index >= 0, index < cells else { return nil }
        return storage.bigEndianUInt32(at: start + 4 * index)
    }

    /// The value as cells: a length that is a multiple of 4 (an empty value is an empty array).
    public var u32Array: [UInt32]? {
        guard let cells = cellCount else { return nil }
        var result = [UInt32]()
        result.reserveCapacity(cells)
        for index in 0..<cells { result.append(storage.bigEndianUInt32(at: start + 4 * index)) }
        return result
    }

    /// The value as 64-bit numbers: a length that is a multiple of 8.
    public var u64Array: [UInt64]? {
        guard count % 8 == 0 else { return nil }
        var result = [UInt64]()
        result.reserveCapacity(count / 8)
        for index in 0..<(count / 8) { result.append(storage.bigEndianUInt64(at: start + 8 * index)) }
        return result
    }

    /// The value as exactly one string: NUL-terminated, the terminator is the last byte and there
    /// is no NUL before it. Bytes that are not UTF-8 become U+FFFD, so a reader that wants
    /// printable ASCII still sees that something is off; check `bytes` for the exact value.
    public var string: String? {
        guard count >= 1, storage.byte(at: start + count - 1) == 0 else { return nil }
        if count > 1, memchr(storage.base + start, 0, count - 1) != nil { return nil }
        return decode(start, count - 1)
    }

    /// The value as a string list (`compatible`, `clock-output-names`): every string
    /// NUL-terminated; nil when the last one is not. An empty value is an empty list.
    public var stringList: [String]? {
        if count == 0 { return [] }
        guard storage.byte(at: start + count - 1) == 0 else { return nil }
        // The strings are counted first so that the list is allocated once (`clock-names` of
        // a device is read for every device of a large tree).
        let end = start + count
        var strings = 0
        var position = start
        while position < end {
            position += nulOffset(from: position, end: end) + 1
            strings += 1
        }
        var result = [String]()
        result.reserveCapacity(strings)
        position = start
        while position < end {
            let length = nulOffset(from: position, end: end)
            result.append(decode(position, length))
            position += length + 1
        }
        return result
    }

    /// How far from `position` the next NUL is; the caller knows one lies before `end`.
    private func nulOffset(from position: Int, end: Int) -> Int {
        UnsafeRawPointer(memchr(storage.base + position, 0, end - position)!) - (storage.base + position)
    }

    /// The `index`-th string of a string list (`clock-output-names[cell]`) without decoding the
    /// others; nil when the list is malformed or too short. Use this (or decode `stringList`
    /// once and keep it) instead of `stringList[index]` in a loop over a long list.
    public func string(at index: Int) -> String? {
        guard index >= 0, count > 0, storage.byte(at: start + count - 1) == 0 else { return nil }
        var remaining = index
        var position = start
        let end = start + count
        while position < end {
            let length = nulOffset(from: position, end: end)  // the last byte is NUL
            if remaining == 0 { return decode(position, length) }
            remaining -= 1
            position += length + 1
        }
        return nil
    }

    /// True when the value is exactly `string` as one NUL-terminated string: what
    /// `self.string == string` answers for an ASCII `string`, compared as bytes in the blob.
    public func isString(_ string: String) -> Bool {
        var string = string
        return string.withUTF8 { wanted in
            count == wanted.count + 1 && storage.byte(at: start + wanted.count) == 0
                && (wanted.isEmpty || memcmp(storage.base + start, wanted.baseAddress!, wanted.count) == 0)
        }
    }

    /// True when the value is a string list (as `stringList` accepts it) with `string` among its
    /// entries. Compared as bytes in the blob, decoding and allocating nothing: what
    /// `stringList?.contains(string)` answers for the ASCII names bindings use (`"fixed-clock"`).
    public func stringListContains(_ string: String) -> Bool {
        guard count > 0, storage.byte(at: start + count - 1) == 0 else { return false }
        var string = string
        return string.withUTF8 { wanted in
            var position = start
            let end = start + count
            while position < end {
                let nul = memchr(storage.base + position, 0, end - position)!  // the last byte is NUL
                let length = UnsafeRawPointer(nul) - (storage.base + position)
                if length == wanted.count, length == 0 || memcmp(storage.base + position, wanted.baseAddress!, length) == 0 {
                    return true
                }
                position += length + 1
            }
            return false
        }
    }

    /// Number of strings in a string list, nil when the list is malformed.
    public var stringCount: Int? {
        if count == 0 { return 0 }
        guard storage.byte(at: start + count - 1) == 0 else { return nil }
        var strings = 0
        for offset in start..<(start + count) where storage.byte(at: offset) == 0 { strings += 1 }
        return strings
    }

    private func decode(_ offset: Int, _ length: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(start: storage.base + offset, count: length), as: UTF8.self)
    }
}

extension DeviceTreeProperty: Equatable {
    public static func == (lhs: DeviceTreeProperty, rhs: DeviceTreeProperty) -> Bool {
        guard lhs.name == rhs.name, lhs.count == rhs.count else { return false }
        return lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in left.elementsEqual(right) } }
    }
}

extension DeviceTreeProperty: CustomStringConvertible {
    /// `name = <0x1 0x2>`, `name = "a", "b"` or `name = [01 02]`, roughly as dtc would print it.
    public var description: String {
        if isEmpty { return "\(name);" }
        if let strings = stringList, !strings.isEmpty,
           strings.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } }) {
            return "\(name) = " + strings.map { "\"\($0)\"" }.joined(separator: ", ") + ";"
        }
        if let cells = u32Array {
            return "\(name) = <" + cells.map { "0x" + String($0, radix: 16) }.joined(separator: " ") + ">;"
        }
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
        return "\(name) = [" + hex.joined(separator: " ") + "];"
    }
}
