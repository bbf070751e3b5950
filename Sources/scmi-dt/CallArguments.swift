import ArgumentParser
import Foundation
import SCMIClient

// What `call`'s arguments may say: resources and agents by name or id, rates and levels
// with their units. Names are resolved on the connection, with the agent's own view of the
// platform (the names its ATTRIBUTES and BASE_DISCOVER_AGENT answers give).

/// A clock, voltage domain or agent on the command line: an id (decimal or 0x-hex) or a name.
/// A number is an id when the platform has that id; otherwise it is tried as a name, so a
/// resource whose name is a number is still reachable. (For agents a number is always an id:
/// agent ids are sparse, and telling which exist costs a question per id.)
struct CallReference: ExpressibleByArgument, Sendable, CustomStringConvertible {
    let text: String
    /// The text read as a number, if it is one.
    let number: UInt32?

    init?(argument: String) {
        guard !argument.isEmpty else { return nil }
        text = argument
        number = argument.hasPrefix("0x") ? UInt32(argument.dropFirst(2), radix: 16) : UInt32(argument)
    }

    var description: String { text }

    /// The id among `count` resources named by `name(id)`; `kind` ("clock") for the error.
    func resolve(kind: String, count: Int, name: (UInt32) throws -> String) throws -> UInt32 {
        if let number, number < count { return number }
        var names: [String] = []
        for id in 0..<UInt32(count) {
            let candidate = try name(id)
            if candidate == text { return id }
            names.append("\(candidate) (\(id))")
        }
        if let number { return number }  // out of range: the platform answers NOT_FOUND, as asked
        throw ValidationError("no \(kind) '\(text)' for this agent; its \(kind)s: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
    }

    /// The agent this names. Agent ids are 1...254 and need not be dense, so a name is
    /// looked up by asking BASE_DISCOVER_AGENT about each id until every agent was seen.
    func agent(on client: SCMIClient) throws -> UInt32 {
        if let number { return number }
        let count = try client.baseAttributes().agents
        var names: [String] = []
        for id in UInt32(1)...254 where names.count < count {
            let found: AgentIdentity
            do {
                found = try client.discoverAgent(id)
            } catch let error as SCMIClientError where error.status != nil {
                continue  // no agent has this id (NOT_FOUND), or this agent may not ask
            }
            if found.name == text { return found.id }
            names.append("\(found.name) (\(found.id))")
        }
        throw ValidationError("no agent '\(text)'; the platform's agents: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
    }
}

/// A decimal number with an optional unit, exactly: "600MHz", "1.2GHz", "0.9V", "900mV".
/// `units` maps each accepted suffix (compared without case, "µ" and "u" alike) to its power
/// of ten in the base unit; a bare number is in the base unit. nil when the text is not such
/// a number, has more decimals than the unit allows, or exceeds `limit`.
func parseQuantity(_ text: String, units: [String: Int], limit: UInt64) -> (negative: Bool, magnitude: UInt64)? {
    var body = Substring(text.trimmingCharacters(in: .whitespaces))
    let negative = body.hasPrefix("-")
    if negative { body = body.dropFirst() }
    if body.hasPrefix("0x") {  // an exact value in the base unit, as call always took
        guard let value = UInt64(body.dropFirst(2), radix: 16), value <= limit else { return nil }
        return (negative, value)
    }
    let numberEnd = body.firstIndex { !$0.isASCII || !($0.isNumber || $0 == ".") } ?? body.endIndex
    let number = body[..<numberEnd]
    let suffix = body[numberEnd...].trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "µ", with: "u")
    guard let exponent = suffix.isEmpty ? 0 : units[suffix] else { return nil }
    let parts = number.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, let whole = parts.first, !whole.isEmpty || parts.count == 2 else { return nil }
    let fraction = parts.count == 2 ? parts[1] : ""
    guard !(whole.isEmpty && fraction.isEmpty), fraction.count <= exponent,
        whole.allSatisfy(\.isNumber), fraction.allSatisfy(\.isNumber)
    else { return nil }
    // Exact in integers: "1.25" MHz is 125 followed by 6 - 2 zeros.
    let digits = String(whole) + fraction
    guard var value = UInt64(digits.isEmpty ? "0" : digits) else { return nil }
    for _ in 0..<(exponent - fraction.count) {
        let (next, overflow) = value.multipliedReportingOverflow(by: 10)
        guard !overflow else { return nil }
        value = next
    }
    guard value <= limit else { return nil }
    return (negative, value)
}

/// A clock rate: Hz, or with kHz, MHz or GHz ("600MHz", "1.2GHz", "32768").
struct CallRate: ExpressibleByArgument, Sendable {
    let hertz: UInt64

    init?(argument: String) {
        guard let (negative, value) = parseQuantity(argument, units: ["hz": 0, "khz": 3, "mhz": 6, "ghz": 9], limit: UInt64.max),
            !negative
        else { return nil }
        hertz = value
    }
}

/// A voltage level: µV, or with uV, mV or V ("0.9V", "900mV", "900000").
struct CallLevel: ExpressibleByArgument, Sendable {
    let microvolts: Int32

    init?(argument: String) {
        guard let (negative, value) = parseQuantity(argument, units: ["uv": 0, "mv": 3, "v": 6], limit: UInt64(Int32.max)) else {
            return nil
        }
        microvolts = negative ? -Int32(value) : Int32(value)
    }
}
