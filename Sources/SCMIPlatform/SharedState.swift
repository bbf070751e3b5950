// Mutable state shared by every agent that no protocol owns: permissions, as
// bit planes sized at start (PermissionTable), so that no message ever grows
// them. Each protocol unit's own state (its arbiters,
// Arbitration.swift) lives in SCMIPlatform.storage and is reached through
// AgentSession.state(_:_:), which takes this state as the proof that the lock
// is held (UnitResources.swift).
// Lives inside SCMIPlatform's Mutex; every method runs with the lock held.

struct SharedState: Sendable {
    let agentCount: Int
    let deviceCount: Int

    /// Which protocols each agent may use on each device.
    private(set) var permissions: PermissionTable

    /// Who subscribed to which notification (Notifications.swift).
    var subscriptions: Subscriptions

    /// Per agent: its asynchronous commands handed to the host-action thread
    /// and not yet done (HostTurns.swift), for the BUSY bound.
    var hostJobs: [Int]

    /// Nobody has asked for anything (docs/serve.md §4): the devicetree's permissions.
    init(catalog: Catalog, subscriptions: Subscriptions) {
        agentCount = catalog.agents.count
        deviceCount = catalog.devices.count
        permissions = PermissionTable(agentCount: agentCount, deviceCount: deviceCount, protocols: catalog.enabledProtocols)
        self.subscriptions = subscriptions
        hostJobs = Array(repeating: 0, count: agentCount)
        for agent in catalog.agents.indices { restoreInitialPermissions(agent: agent, catalog.agents[agent]) }
    }

    // MARK: Permissions

    /// Whether `agent` may currently use protocol `bit` on a device in `holders`
    /// (docs/binding.md §4: the resource belongs to a device the agent may use).
    func mayUse(agent: Int, protocolBit bit: UInt32, holders: [Int]) -> Bool {
        permissions.mayUse(agent: agent, protocolBit: bit, holders: holders)
    }

    mutating func setPermissions(agent: Int, device: Int, mask: UInt32) {
        permissions.setMask(agent: agent, device: device, mask: mask)
    }

    func permissions(agent: Int, device: Int) -> UInt32 {
        permissions.mask(agent: agent, device: device)
    }

    /// What the devicetree gave `agent` and nothing else (BASE_RESET_AGENT_CONFIGURATION).
    mutating func restoreInitialPermissions(agent: Int, _ info: AgentInfo) {
        permissions.clear(agent: agent)
        for device in info.initialDevices {
            permissions.setMask(agent: agent, device: Int(device), mask: info.protocolMask)
        }
    }
}

/// Which protocols each agent may use on each device, as bits: one plane per protocol the
/// platform enables (Base excluded), each plane one bit per (agent, device). 64 agents and
/// 100,000 devices with clock and voltage enabled take 1.6 MB, where a protocol mask per
/// (agent, device) took 25.6 MB. Sized once; reading and changing a permission only
/// touches bits, so no message allocates.
struct PermissionTable: Sendable {
    let agentCount: Int
    let deviceCount: Int
    /// Per bit position of `protocolBit` (0 for 0x10 … 31 for 0x2F): its plane, or -1.
    private let planeOfBit: [Int8]
    /// The protocol bit of each plane.
    private let bitOfPlane: [UInt32]
    /// Plane-major: bit `(plane × agentCount + agent) × deviceCount + device`.
    private var words: [UInt64]

    init(agentCount: Int, deviceCount: Int, protocols: UInt32) {
        self.agentCount = agentCount
        self.deviceCount = deviceCount
        var planeOfBit = [Int8](repeating: -1, count: 32)
        var bitOfPlane: [UInt32] = []
        for position in 0 ..< 32 where protocols & (1 << UInt32(position)) != 0 {
            planeOfBit[position] = Int8(bitOfPlane.count)
            bitOfPlane.append(1 << UInt32(position))
        }
        self.planeOfBit = planeOfBit
        self.bitOfPlane = bitOfPlane
        words = [UInt64](repeating: 0, count: (bitOfPlane.count * agentCount * deviceCount + 63) / 64)
    }

    /// The plane of a one-bit `protocolBit`, or nil for a protocol the platform does not enable.
    @inline(__always) private func plane(of bit: UInt32) -> Int? {
        guard bit != 0 else { return nil }
        let plane = Int(planeOfBit[bit.trailingZeroBitCount])
        return plane < 0 ? nil : plane
    }

    @inline(__always) private func isSet(_ index: Int) -> Bool {
        words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    @inline(__always) private mutating func set(_ index: Int, _ on: Bool) {
        if on { words[index >> 6] |= 1 << UInt64(index & 63) } else { words[index >> 6] &= ~(1 << UInt64(index & 63)) }
    }

    /// Whether `agent` may use protocol `bit` on any device of `holders`.
    func mayUse(agent: Int, protocolBit bit: UInt32, holders: [Int]) -> Bool {
        guard let plane = plane(of: bit) else { return false }
        let row = (plane * agentCount + agent) * deviceCount
        for device in holders where isSet(row + device) { return true }
        return false
    }

    /// The protocol mask (`protocolBit`s) `agent` has on `device`.
    func mask(agent: Int, device: Int) -> UInt32 {
        var mask: UInt32 = 0
        for plane in bitOfPlane.indices where isSet((plane * agentCount + agent) * deviceCount + device) {
            mask |= bitOfPlane[plane]
        }
        return mask
    }

    /// Sets `agent`'s protocols on `device` to `mask` (bits of protocols not enabled are ignored).
    mutating func setMask(agent: Int, device: Int, mask: UInt32) {
        for plane in bitOfPlane.indices {
            set((plane * agentCount + agent) * deviceCount + device, mask & bitOfPlane[plane] != 0)
        }
    }

    /// Takes every protocol on every device from `agent`.
    mutating func clear(agent: Int) {
        for plane in bitOfPlane.indices {
            let row = (plane * agentCount + agent) * deviceCount
            for device in 0 ..< deviceCount { set(row + device, false) }
        }
    }
}
