// Base protocol 0x10, version 2.0 (docs/protocol.md §6): discovery, the
// agents, and the trusted agents' permission commands (docs/binding.md §4).

enum BaseProtocol {
    static let id = ProtocolID.base
    static let version: UInt32 = 0x20000

    /// Every message but BASE_NOTIFY_ERRORS (no notifications without an eventq).
    static let implemented: UInt32 = 0xFFF & ~(1 << 0x8)

    /// BASE_DISCOVER_AGENT's "the caller itself".
    static let callingAgent: UInt32 = 0xFFFF_FFFF
}

extension AgentSession {
    func handleBase(_ messageID: UInt8, _ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        let catalog = platform.catalog
        guard let message = BaseMessage(rawValue: messageID) else { return .notFound }
        switch message {
        case .protocolVersion:
            return answerVersion(BaseProtocol.version, payload, &reply)
        case .protocolAttributes:
            // Bits 7:0 protocols this agent may use (Base excluded), 15:8 declared agents.
            guard payload.count == 0 else { return .protocolError }
            let protocols = UInt32(min(info.protocolList.count, 0xFF))
            let agents = UInt32(min(catalog.agents.count, 0xFF))
            reply.append(protocols | agents << 8)
            return .success
        case .protocolMessageAttributes:
            return answerMessageAttributes(implemented: BaseProtocol.implemented, payload, &reply)
        case .discoverVendor:
            guard payload.count == 0 else { return .protocolError }
            reply.append(bytes: catalog.vendorName, width: NameField.short.width)
            return .success
        case .discoverSubVendor:
            guard payload.count == 0 else { return .protocolError }
            reply.append(bytes: catalog.subVendorName, width: NameField.short.width)
            return .success
        case .discoverImplementationVersion:
            guard payload.count == 0 else { return .protocolError }
            reply.append(catalog.implementationVersion)
            return .success
        case .discoverListProtocols:
            return discoverListProtocols(payload, &reply)
        case .discoverAgent:
            return discoverAgent(payload, &reply)
        case .notifyErrors:
            // Optional, and a notification needs the eventq, which is not
            // offered (docs/protocol.md §15: answer NOT_SUPPORTED).
            return .notSupported
        case .setDevicePermissions:
            return setDevicePermissions(payload)
        case .setProtocolPermissions:
            return setProtocolPermissions(payload)
        case .resetAgentConfiguration:
            return resetAgentConfiguration(payload)
        }
    }

    /// The protocols this agent may use, from `skip` on, as bytes packed four
    /// to a word; exactly 4 + 4·ceil(n/4) bytes after the status (Linux checks
    /// the length), and as many as the response space holds.
    private func discoverListProtocols(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard payload.count == 4 else { return .protocolError }
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
    private func discoverAgent(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard payload.count == 4 else { return .protocolError }
        let catalog = platform.catalog
        let asked = payload.word(0)
        if asked == 0 {
            reply.append(UInt32(0))
            reply.append(bytes: catalog.vendorName, width: NameField.short.width)
        } else if asked == BaseProtocol.callingAgent {
            reply.append(info.id)
            reply.append(bytes: info.shortName, width: NameField.short.width)
        } else if let index = catalog.agentIndex(id: asked) {
            reply.append(asked)
            reply.append(bytes: catalog.agents[index].shortName, width: NameField.short.width)
        } else {
            return .notFound
        }
        return .success
    }

    /// Adds (flags bit 0 = 1) or removes every (device, protocol) pair of one
    /// device for an agent: all the protocols that agent may use.
    private func setDevicePermissions(_ payload: Payload) -> SCMIStatus {
        guard payload.count == 12 else { return .protocolError }
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
    private func setProtocolPermissions(_ payload: Payload) -> SCMIStatus {
        guard payload.count == 16 else { return .protocolError }
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
    private func resetAgentConfiguration(_ payload: Payload) -> SCMIStatus {
        guard payload.count == 8 else { return .protocolError }
        guard info.trusted else { return .denied }
        let catalog = platform.catalog
        guard let target = catalog.agentIndex(id: payload.word(0)) else { return .notFound }
        let flags = payload.word(1)
        guard flags & ~1 == 0 else { return .invalidParameters }
        let by = info.id
        platform.state.withLock { state in
            platform.withdrawRequests(&state, agent: target, cause: .agentReset(by: by))
            if flags & 1 != 0 {
                let initial = catalog.agents[target].initialPermissions
                for device in initial.indices {
                    state.setPermissions(agent: target, device: device, mask: initial[device])
                }
            }
        }
        return .success
    }
}
