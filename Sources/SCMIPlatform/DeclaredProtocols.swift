// Power domain 0x11, performance 0x13, sensor 0x15 and reset 0x16: declared
// in the binding and enabled by a blob's protocol nodes, but not served yet
// (docs/binding.md §5.3–5.6, docs/serve.md §7). Each answers honestly that it has no resources, so a
// guest that probes it finds an empty protocol instead of an error.

enum DeclaredProtocol {
    /// The version each reports: one Linux 6.12 speaks (docs/protocol.md §3).
    static func version(_ protocolID: ProtocolID) -> UInt32 {
        switch protocolID {
        case .powerDomain: 0x30000
        case .performance: 0x30000
        case .sensor: 0x30000
        case .reset: 0x30000
        default: 0x10000
        }
    }

    /// PROTOCOL_ATTRIBUTES words: the resource count (0) and the protocol's
    /// other words, all 0 (no statistics or sensor shared memory, no async).
    static func attributeWords(_ protocolID: ProtocolID) -> Int {
        switch protocolID {
        case .powerDomain, .performance, .sensor: 4  // count/flags, address low, address high, length
        default: 1  // reset: the count
        }
    }

    /// PROTOCOL_VERSION, _ATTRIBUTES and _MESSAGE_ATTRIBUTES.
    static let implemented: UInt32 = 0x7
}

extension AgentSession {
    /// Every other message is about a resource, and none exists: NOT_FOUND
    /// (also what an undefined message id gets).
    func handleDeclaredProtocol(_ protocolID: ProtocolID, _ messageID: UInt8, _ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        switch CommonMessage(rawValue: messageID) {
        case .protocolVersion?:
            return answerVersion(DeclaredProtocol.version(protocolID), payload, &reply)
        case .protocolAttributes?:
            guard payload.count == 0 else { return .protocolError }
            for _ in 0 ..< DeclaredProtocol.attributeWords(protocolID) { reply.append(UInt32(0)) }
            return .success
        case .protocolMessageAttributes?:
            return answerMessageAttributes(implemented: DeclaredProtocol.implemented, payload, &reply)
        case nil:
            return .notFound
        }
    }
}
