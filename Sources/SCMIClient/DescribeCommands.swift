import SCMIWire

// The paginated DESCRIBE commands (CLOCK_DESCRIBE_RATES,
// VOLTAGE_DESCRIBE_LEVELS, and later PERFORMANCE_DESCRIBE_LEVELS) from the
// agent's side, once for every protocol: a discrete list in pages, or one
// {min, max, step} triplet (docs/protocol.md §14).

/// What a DESCRIBE command answers, all pages read.
public enum ValueDescription<Value: DescribedValue>: Sendable, Equatable {
    case discrete([Value])
    case range(min: Value, max: Value, step: Value)
}

/// A value a DESCRIBE reply lists, read from its words: a 64-bit rate (low
/// word first) or a signed 32-bit level.
public protocol DescribedValue: Sendable, Equatable, CustomStringConvertible {
    /// Words one value takes in a reply.
    static var wordCount: Int { get }
    /// The value whose first word is word `index` of `values`.
    static func read(_ values: ReturnValues, word index: Int) throws -> Self
}

extension UInt64: DescribedValue {
    public static var wordCount: Int { 2 }
    public static func read(_ values: ReturnValues, word index: Int) throws -> UInt64 { try values.uint64(index) }
}

extension Int32: DescribedValue {
    public static var wordCount: Int { 1 }
    public static func read(_ values: ReturnValues, word index: Int) throws -> Int32 { try values.int32(index) }
}

extension SCMIClient {
    /// Every value of resource `id`, following the pages of a discrete list;
    /// a range must be exactly one triplet with 0 remaining.
    func describe<Message: SCMIMessage, Value: DescribedValue>(
        _ message: Message, _ id: UInt32, responseCapacity: Int
    ) throws -> ValueDescription<Value> {
        var list: [Value] = []
        var total: Int? = nil
        while true {
            let values = try call(message, parameters: [id, UInt32(list.count)], responseCapacity: responseCapacity)
            let page = DescribePage(word: try values.word(0))
            let returned = page.returned, remaining = page.remaining
            let width = Value.wordCount
            if page.isTriplet {
                guard list.isEmpty, returned == 3, remaining == 0 else {
                    throw values.malformed("a range must be exactly one {min, max, step} triplet with 0 remaining")
                }
                return .range(min: try .read(values, word: 1), max: try .read(values, word: 1 + width),
                              step: try .read(values, word: 1 + 2 * width))
            }
            let expected = total ?? returned + remaining
            total = expected
            guard returned > 0, list.count + returned + remaining == expected else {
                throw values.malformed("pages disagree: " + String(list.count) + " read, " + String(returned)
                    + " returned, " + String(remaining) + " remaining, " + String(expected) + " in all")
            }
            for index in 0 ..< returned { list.append(try .read(values, word: 1 + width * index)) }
            if remaining == 0 { return .discrete(list) }
        }
    }
}
