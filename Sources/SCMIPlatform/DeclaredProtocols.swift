// Power domain 0x11, performance 0x13, sensor 0x15 and reset 0x16: declared
// in the binding and enabled by a blob's protocol nodes, but not served yet
// (docs/binding.md §5.3–5.6, docs/serve.md §7). Each answers honestly that it has no resources, so a
// guest that probes it finds an empty protocol instead of an error.

enum DeclaredProtocol {
    /// The version each reports: one Linux 6.12 speaks (docs/protocol.md §3).
    static func version(_ protocolID: UInt8) -> UInt32 {
        switch protocolID {
        case 0x11: 0x30000  // power domain
        case 0x13: 0x30000  // performance
        case 0x15: 0x30000  // sensor
        case 0x16: 0x30000  // reset
        default: 0x10000
        }
    }

    /// PROTOCOL_ATTRIBUTES words: the resource count (0) and the protocol's
    /// other words, all 0 (no statistics or sensor shared memory, no async).
    static func attributeWords(_ protocolID: UInt8) -> Int {
        switch protocolID {
        case 0x11, 0x13, 0x15: 4  // count/flags, address low, address high, length
        default: 1  // reset: the count
        }
    }

    /// PROTOCOL_VERSION, _ATTRIBUTES and _MESSAGE_ATTRIBUTES.
    static let implemented: UInt32 = 0x7
}

extension AgentSession {
    /// Every other message is about a resource, and none exists: NOT_FOUND
    /// (also what an undefined message id gets).
    func handleDeclaredProtocol(_ protocolID: UInt8, _ messageID: UInt8, _ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        switch messageID {
        case CommonMessage.protocolVersion:
            return answerVersion(DeclaredProtocol.version(protocolID), payload, &reply)
        case CommonMessage.protocolAttributes:
            guard payload.count == 0 else { return .protocolError }
            for _ in 0 ..< DeclaredProtocol.attributeWords(protocolID) { reply.append(UInt32(0)) }
            return .success
        case CommonMessage.protocolMessageAttributes:
            return answerMessageAttributes(implemented: DeclaredProtocol.implemented, payload, &reply)
        default:
            return .notFound
        }
    }
}
