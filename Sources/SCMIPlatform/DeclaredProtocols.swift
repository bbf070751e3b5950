// Reset 0x16: declared
// in the binding and enabled by a blob's protocol nodes, but not served yet
// (docs/binding.md §5.3–5.6, docs/serve.md §7). Each answers honestly that it has no resources, so a
// guest that probes it finds an empty protocol instead of an error: PROTOCOL_VERSION,
// _ATTRIBUTES and _MESSAGE_ATTRIBUTES, and NOT_FOUND for every other message,
// which is about a resource (also what an undefined message id gets).

enum DeclaredProtocol {
    /// It reports a version Linux 6.12 speaks (docs/protocol.md §3);
    /// PROTOCOL_ATTRIBUTES: the count alone (0).
    static let reset = ProtocolUnit(.reset, version: 0x30000, attributes: { _, _, reply in
        reply.append(UInt32(0))
        return .success
    }, messages: [])
}
