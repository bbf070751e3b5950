import ArgumentParser
import Foundation
import SCMIClient

// What `call`'s arguments may say: agents by name or id. Names are resolved on the
// connection, with the agent's own view of the platform (BASE_DISCOVER_AGENT's answers).

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
