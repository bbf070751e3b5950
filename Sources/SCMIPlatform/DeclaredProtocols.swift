// Performance 0x13 and sensor 0x15: declared
// in the binding and enabled by a blob's protocol nodes, but not served yet
// (docs/binding.md §5.3–5.6, docs/serve.md §7). Each answers honestly that it has no resources, so a
// guest that probes it finds an empty protocol instead of an error: PROTOCOL_VERSION,
// _ATTRIBUTES and _MESSAGE_ATTRIBUTES, and NOT_FOUND for every other message,
// which is about a resource (also what an undefined message id gets).

enum DeclaredProtocol {
    /// Each reports a version Linux 6.12 speaks (docs/protocol.md §3).
    /// PROTOCOL_ATTRIBUTES: the resource count (0) and the protocol's other
    /// words, all 0 (no statistics or sensor shared memory, no async):
    /// count/flags, address low, address high, length.
    static let performance = ProtocolUnit(.performance, version: 0x30000, attributes: fourZeroWords, messages: [])
    static let sensor = ProtocolUnit(.sensor, version: 0x30000, attributes: fourZeroWords, messages: [])

    private static let fourZeroWords: MessageHandler = { _, _, reply in
        for _ in 0 ..< 4 { reply.append(UInt32(0)) }
        return .success
    }
}
