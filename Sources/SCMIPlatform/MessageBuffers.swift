// Bounds-checked little-endian access to the raw bytes of one message. The
// guest owns these bytes: every read and write is checked against the buffer,
// and nothing here allocates.

/// The parameters of a request (the bytes after the header), read as
/// little-endian words.
struct Payload {
    let bytes: UnsafeRawBufferPointer

    var count: Int { bytes.count }

    /// Word `index` (byte offset 4·index), or 0 past the end. Handlers check
    /// `count` against the command's size first, so the fallback never
    /// answers a guest; it only keeps a mistake from reading out of bounds.
    func word(_ index: Int) -> UInt32 {
        guard index >= 0 else { return 0 }
        return LittleEndian.word(bytes, at: index &* 4) ?? 0
    }

    func int32(_ index: Int) -> Int32 { Int32(bitPattern: word(index)) }

    /// Two words, low then high, as SCMI sends 64-bit rates.
    func uint64(lowWord index: Int) -> UInt64 {
        UInt64(word(index)) | UInt64(word(index + 1)) << 32
    }
}

/// The response being built in the guest's writable space: header and status
/// are written last by `finish`; handlers append the return values after them.
///
/// An append that does not fit is dropped and remembered, and `finish` turns a
/// successful reply that overflowed into COMMS_ERROR (docs/serve.md §3: "a response
/// buffer too small for the answer: header + status COMMS_ERROR").
struct Reply {
    private let space: UnsafeMutableRawBufferPointer
    private(set) var length = SCMILimits.minResponse
    private(set) var overflowed = false
    /// 8 + the transport's largest payload.
    private let limit: Int

    /// `space` must hold at least 8 bytes; it is used up to 8 + `maxPayload`
    /// bytes (the transport's, TransportCapabilities).
    init(space: UnsafeMutableRawBufferPointer, maxPayload: Int = SCMILimits.maxPayload) {
        self.space = space
        self.limit = min(space.count, SCMILimits.minResponse + maxPayload)
    }

    /// Bytes left for return values.
    var freeBytes: Int { max(0, limit - length) }

    /// Whether `byteCount` more bytes of return values fit.
    func fits(_ byteCount: Int) -> Bool { byteCount <= freeBytes }

    mutating func append(_ value: UInt32) {
        guard fits(4) else { overflowed = true; return }
        LittleEndian.store(value, into: space, at: length)
        length += 4
    }

    mutating func append(_ value: Int32) { append(UInt32(bitPattern: value)) }

    /// A 64-bit value as SCMI sends rates: low word, then high word.
    mutating func append(_ value: UInt64) {
        append(UInt32(truncatingIfNeeded: value))
        append(UInt32(truncatingIfNeeded: value >> 32))
    }

    /// `width` bytes from `bytes`, which holds exactly `width` bytes (names are
    /// padded when the catalog is built).
    mutating func append(bytes: [UInt8], from start: Int = 0, width: Int) {
        guard start >= 0, width >= 0, start <= bytes.count - width else { overflowed = true; return }
        guard fits(width) else { overflowed = true; return }
        bytes.withUnsafeBytes { source in
            let destination = UnsafeMutableRawBufferPointer(rebasing: space[length ..< length + width])
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start ..< start + width]))
        }
        length += width
    }

    /// Writes header and status and says how many bytes the response has.
    /// A failed status (or an overflow, which becomes COMMS_ERROR) leaves the
    /// status word as the whole payload (docs/protocol.md §16).
    mutating func finish(header: MessageHeader, status: SCMIStatus) -> (length: Int, status: SCMIStatus) {
        var status = status
        if status.isSuccess && overflowed { status = .commsError }
        if !status.isSuccess { length = SCMILimits.minResponse }
        LittleEndian.store(header.rawValue, into: space, at: 0)
        LittleEndian.store(UInt32(bitPattern: status.rawValue), into: space, at: 4)
        return (length, status)
    }
}

// MARK: - Reply shapes several protocols share

/// A value a DESCRIBE reply lists: a word, a signed word, or a 64-bit value
/// sent low word first.
protocol ReplyValue {
    static var byteCount: Int { get }
    func write(to reply: inout Reply)
}

extension UInt32: ReplyValue {
    static var byteCount: Int { 4 }
    func write(to reply: inout Reply) { reply.append(self) }
}

extension Int32: ReplyValue {
    static var byteCount: Int { 4 }
    func write(to reply: inout Reply) { reply.append(self) }
}

extension UInt64: ReplyValue {
    static var byteCount: Int { 8 }
    func write(to reply: inout Reply) { reply.append(self) }
}

extension Reply {
    /// A paginated DESCRIBE reply (CLOCK_DESCRIBE_RATES, VOLTAGE_DESCRIBE_LEVELS):
    /// `list` from index `first` on, as many values as the response space
    /// holds, the rest counted in bits 31:16 of the leading word. An index
    /// past the end is OUT_OF_RANGE (scmi-tests test_c007).
    @inline(__always)
    mutating func appendDescribePage<Value: ReplyValue>(_ list: UnsafeBufferPointer<Value>, from first: UInt32) -> SCMIStatus {
        let values = list.baseAddress
        return appendDescribePage(count: list.count, byteCount: Value.byteCount, from: first) { index, reply in
            values.unsafelyUnwrapped[index].write(to: &reply)
        }
    }

    /// The same page over `count` entries of `byteCount` bytes each, entry
    /// `index` written by `write` (entries that depend on the session:
    /// sensor descriptors with or without P2A).
    @inline(__always)
    mutating func appendDescribePage(count total: Int, byteCount: Int, from first: UInt32,
                                     _ write: (_ index: Int, inout Reply) -> Void) -> SCMIStatus {
        guard first < UInt32(total) else { return .outOfRange }
        let start = Int(first)
        let remaining = total - start
        guard fits(4 + byteCount) else { return .commsError }
        let count = min(remaining, (freeBytes - 4) / byteCount)
        append(DescribePage(returned: count, remaining: remaining - count).word)
        for offset in 0 ..< count { write(start + offset, &self) }
        return .success
    }

    /// A range as a DESCRIBE reply: exactly one {min, max, step} triplet with
    /// 0 remaining; only index 0 exists.
    @inline(__always)
    mutating func appendDescribeTriplet<Value: ReplyValue>(_ minimum: Value, _ maximum: Value, _ step: Value, from first: UInt32) -> SCMIStatus {
        guard first == 0 else { return .outOfRange }
        append(DescribePage.triplet.word)
        minimum.write(to: &self)
        maximum.write(to: &self)
        step.write(to: &self)
        return .success
    }

    /// A name in its fixed field: 16 bytes (the short name of *_ATTRIBUTES and
    /// discovery) or 64 (*_NAME_GET); the catalog pads names to both widths.
    @inline(__always)
    mutating func appendName(_ bytes: [UInt8], _ field: NameField) {
        append(bytes: bytes, width: field.width)
    }

    /// A resource's name in its fixed field, written from the name itself:
    /// its first `field.capacity` UTF-8 bytes, then NULs (as NameField.encode).
    /// A native string's bytes are contiguous, so nothing is allocated.
    @inline(__always)
    mutating func appendName(_ names: ResourceNames, _ field: NameField) {
        guard fits(field.width) else { overflowed = true; return }
        let destination = UnsafeMutableRawBufferPointer(rebasing: space[length ..< length + field.width])
        destination.initializeMemory(as: UInt8.self, repeating: 0)
        var text = names.text
        text.withUTF8 { bytes in
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes).prefix(field.capacity)))
        }
        length += field.width
    }

    /// A *_NAME_GET reply: flags 0, then the whole (extended) name.
    @inline(__always)
    mutating func appendExtendedNameReply(_ names: ResourceNames) -> SCMIStatus {
        append(UInt32(0))
        appendName(names, .extended)
        return .success
    }
}

/// A resource's values as a DESCRIBE reply pages them (rates, levels): a
/// discrete list in memory the catalog slice owns, so that paging it takes no
/// reference count per message (an Array's buffer is retained and released
/// each time), or a range.
enum DescribedValues<Value: ReplyValue>: @unchecked Sendable {
    case discrete(UnsafeBufferPointer<Value>)
    case range(min: Value, max: Value, step: Value)

    /// The lowest and highest value described (an empty list: nil).
    var bounds: (lowest: Value, highest: Value)? {
        switch self {
        case .discrete(let list): list.isEmpty ? nil : (list[0], list[list.count - 1])
        case .range(let minimum, let maximum, _): (minimum, maximum)
        }
    }

    /// Frees a discrete list (the catalog slice goes with its platform).
    func release() {
        if case .discrete(let list) = self { UnsafeMutableBufferPointer(mutating: list).deallocate() }
    }
}

extension DescribedValues where Value: BinaryInteger & Hashable {
    /// `list` sorted without duplicates, in memory of its own (release()):
    /// what the engine can serve whatever a hand-built table holds.
    init(normalizing list: [Value]) {
        self = .discrete(UnsafeBufferPointer(immortalCopyOf: Array(Set(list)).sorted()))
    }

    /// A range with min ≤ max and step ≥ 1, whatever a hand-built table holds.
    init(normalizing low: Value, _ high: Value, step: Value) {
        self = .range(min: Swift.min(low, high), max: Swift.max(low, high), step: Swift.max(step, 1))
    }
}

/// A resource that answers a paginated DESCRIBE command.
protocol DescribedResource: CatalogResource {
    associatedtype Value: ReplyValue
    var described: DescribedValues<Value> { get }
}

/// A resource's name as its replies carry it: written into the 16-byte field
/// of *_ATTRIBUTES and the 64-byte field of *_NAME_GET from the name itself
/// (Reply.appendName), where padded copies kept per resource would cost some
/// 200 bytes each (1.5 MB for a 10,000-device board).
struct ResourceNames: Sendable {
    let text: String
    /// The name does not fit the 15 bytes of the short field.
    let isExtended: Bool

    init(_ name: String) {
        text = name
        isExtended = !NameField.short.fits(name)
    }
}

/// A resource with a name that *_NAME_GET answers.
protocol NamedResource: CatalogResource {
    var names: ResourceNames { get }
}

extension AgentSession {
    /// A paginated DESCRIBE reply (CLOCK_DESCRIBE_RATES, VOLTAGE_DESCRIBE_LEVELS):
    /// +0 resource id, +4 first index.
    @inline(__always)
    func describe<Model: ResourceModel>(_ model: Model.Type, _ payload: Payload, _ reply: inout Reply) -> SCMIStatus
    where Model.Resource: DescribedResource {
        guard let index = resourceIndex(model, payload.word(0)) else { return .notFound }
        let first = payload.word(1)
        let resources = resources(model)
        switch resources.baseAddress.unsafelyUnwrapped[index].described {
        case .discrete(let list): return reply.appendDescribePage(list, from: first)
        case .range(let minimum, let maximum, let step): return reply.appendDescribeTriplet(minimum, maximum, step, from: first)
        }
    }

    /// A *_NAME_GET reply (CLOCK_NAME_GET, VOLTAGE_DOMAIN_NAME_GET): +0 resource id.
    func nameGet<Model: ResourceModel>(_ model: Model.Type, _ payload: Payload, _ reply: inout Reply) -> SCMIStatus
    where Model.Resource: NamedResource {
        guard let index = resourceIndex(model, payload.word(0)) else { return .notFound }
        return reply.appendExtendedNameReply(resources(model)[index].names)
    }

    /// PROTOCOL_ATTRIBUTES' resource count in bits 15:0 (CLOCK, VOLTAGE, …).
    /// Bits 15:0 the resource count; with `reportsPendingAsync` (clock,
    /// sensor), bits 23:16 the asynchronous commands an agent may have
    /// pending: SCMIPlatform.maxPendingAsync with P2A, else 0.
    func resourceCount<Model: ResourceModel>(_ model: Model.Type, _ reply: inout Reply, reportsPendingAsync: Bool = false) -> SCMIStatus {
        var word = UInt32(min(resources(model).count, 0xFFFF))
        if reportsPendingAsync, deliversDelayedResponses { word |= UInt32(SCMIPlatform.maxPendingAsync) << 16 }
        reply.append(word)
        return .success
    }

    /// PROTOCOL_ATTRIBUTES of a protocol that may locate a shared-memory
    /// region (performance statistics, sensor values): the count with `flags`
    /// above bit 15, then address low, high and length, all 0 (none on virtio).
    func resourceCountWithoutSharedMemory<Model: ResourceModel>(_ model: Model.Type, flags: UInt32 = 0, _ reply: inout Reply) -> SCMIStatus {
        reply.append(UInt32(min(resources(model).count, 0xFFFF)) | flags)
        for _ in 0 ..< 3 { reply.append(UInt32(0)) }
        return .success
    }
}
