// Base protocol 0x10, version 2.0 (docs/protocol.md §6): discovery, the
// agents, and the trusted agents' permission commands (docs/binding.md §4).

enum BaseProtocol {
    static let id = ProtocolID.base
    static let version: UInt32 = 0x20000

    /// Every message but BASE_NOTIFY_ERRORS (no notifications without an eventq).
    static let unit = ProtocolUnit(
        id, version: version,
        attributes: { session, _, reply in
            // Bits 7:0 protocols this agent may use (Base excluded), 15:8 declared agents.
            let protocols = UInt32(min(session.info.protocolList.count, 0xFF))
            let agents = UInt32(min(session.platform.catalog.agents.count, 0xFF))
            reply.append(protocols | agents << 8)
            return .success
        },
        messages: [
            .handle(BaseMessage.discoverVendor, size: .exactly(0)) { session, _, reply in
                reply.appendName(session.platform.catalog.vendorName, .short)
                return .success
            },
            .handle(BaseMessage.discoverSubVendor, size: .exactly(0)) { session, _, reply in
                reply.appendName(session.platform.catalog.subVendorName, .short)
                return .success
            },
            .handle(BaseMessage.discoverImplementationVersion, size: .exactly(0)) { session, _, reply in
                reply.append(session.platform.catalog.implementationVersion)
                return .success
            },
            .handle(BaseMessage.discoverListProtocols, size: .exactly(4)) { $0.discoverListProtocols($1, &$2) },
            .handle(BaseMessage.discoverAgent, size: .exactly(4)) { $0.discoverAgent($1, &$2) },
            // Optional, and a notification needs the eventq, which is not
            // offered (docs/protocol.md §15: answer NOT_SUPPORTED).
            .notSupported(BaseMessage.notifyErrors),
            .handle(BaseMessage.setDevicePermissions, size: .exactly(12)) { session, payload, _ in session.setDevicePermissions(payload) },
            .handle(BaseMessage.setProtocolPermissions, size: .exactly(16)) { session, payload, _ in session.setProtocolPermissions(payload) },
            .handle(BaseMessage.resetAgentConfiguration, size: .exactly(8)) { session, payload, _ in session.resetAgentConfiguration(payload) },
        ])

    /// BASE_DISCOVER_AGENT's "the caller itself".
    static let callingAgent: UInt32 = 0xFFFF_FFFF
}

extension AgentSession {
    /// The protocols this agent may use, from `skip` on, as bytes packed four
    /// to a word; exactly 4 + 4·ceil(n/4) bytes after the status (Linux checks
    /// the length), and as many as the response space holds.
    fileprivate func discoverListProtocols(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        let list = info.protocolList
        let skip = payload.word(0)
        guard skip <= UInt32(list.count) else { return .invalidParameters }
        let first = Int(skip)
        let remaining = list.count - first
        guard reply.fits(4) else { return .commsError }
        let room = (reply.freeBytes - 4) / 4 * 4
        let count = min(remaining, room)
        guard count > 0 || remaining == 0 else { return .commsError }
        reply.append(UInt32(count))
        var index = 0
        while index < count {
            var word: UInt32 = 0
            for byte in 0 ..< 4 where index + byte < count {
                word |= UInt32(list[first + index + byte]) << (8 * UInt32(byte))
            }
            reply.append(word)
            index += 4
        }
        return .success
    }

    /// 0 is the platform (named by the vendor), 0xFFFFFFFF the caller, any
    /// declared agent itself; anything else NOT_FOUND.
    fileprivate func discoverAgent(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        let catalog = platform.catalog
        let asked = payload.word(0)
        if asked == 0 {
            reply.append(UInt32(0))
            reply.appendName(catalog.vendorName, .short)
        } else if asked == BaseProtocol.callingAgent {
            reply.append(info.id)
            reply.appendName(info.shortName, .short)
        } else if let index = catalog.agentIndex(id: asked) {
            reply.append(asked)
            reply.appendName(catalog.agents[index].shortName, .short)
        } else {
            return .notFound
        }
        return .success
    }

    /// Adds (flags bit 0 = 1) or removes every (device, protocol) pair of one
    /// device for an agent: all the protocols that agent may use.
    fileprivate func setDevicePermissions(_ payload: Payload) -> SCMIStatus {
        guard info.trusted else { return .denied }
        let catalog = platform.catalog
        guard let target = catalog.agentIndex(id: payload.word(0)),
              let device = catalog.deviceIndex(id: payload.word(1))
        else { return .notFound }
        let flags = payload.word(2)
        guard flags & ~1 == 0 else { return .invalidParameters }
        let mask = flags & 1 != 0 ? catalog.agents[target].protocolMask : 0
        platform.state.withLock { $0.setPermissions(agent: target, device: device, mask: mask) }
        return .success
    }

    /// Adds or removes one (device, protocol) pair. Base cannot be given or
    /// taken: DENIED, as SCP-firmware answers. A protocol the agent cannot use
    /// at all (not enabled, or outside its arm,scmi-protocols) does not exist
    /// for it: NOT_FOUND.
    fileprivate func setProtocolPermissions(_ payload: Payload) -> SCMIStatus {
        guard info.trusted else { return .denied }
        let catalog = platform.catalog
        guard let target = catalog.agentIndex(id: payload.word(0)),
              let device = catalog.deviceIndex(id: payload.word(1))
        else { return .notFound }
        let command = payload.word(2), flags = payload.word(3)
        guard command & ~0xFF == 0, flags & ~1 == 0 else { return .invalidParameters }
        let protocolID = UInt8(command)
        guard protocolID != BaseProtocol.id.rawValue else { return .denied }
        let bit = protocolBit(protocolID)
        guard bit != 0, catalog.agents[target].protocolMask & bit != 0 else { return .notFound }
        platform.state.withLock { state in
            let current = state.permissions(agent: target, device: device)
            state.setPermissions(agent: target, device: device, mask: flags & 1 != 0 ? current | bit : current & ~bit)
        }
        return .success
    }

    /// Withdraws every request the agent holds; flags bit 0 also restores the
    /// permissions the devicetree gave it.
    fileprivate func resetAgentConfiguration(_ payload: Payload) -> SCMIStatus {
        guard info.trusted else { return .denied }
        let catalog = platform.catalog
        guard let target = catalog.agentIndex(id: payload.word(0)) else { return .notFound }
        let flags = payload.word(1)
        guard flags & ~1 == 0 else { return .invalidParameters }
        let by = info.id
        platform.withdrawRequests(agent: target, cause: .agentReset(by: by)) { state in
            if flags & 1 != 0 { state.restoreInitialPermissions(agent: target, catalog.agents[target]) }
        }
        return .success
    }
}
