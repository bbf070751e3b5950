// Mutable state shared by every agent that no protocol owns: permissions,
// flat and sized at start, indexed [agent × deviceCount + device], so that no
// message ever grows them. Each protocol unit's own state (its arbiters,
// Arbitration.swift) lives in SCMIPlatform.storage and is reached through
// AgentSession.state(_:_:), which takes this state as the proof that the lock
// is held (UnitResources.swift).
// Lives inside SCMIPlatform's Mutex; every method runs with the lock held.

struct SharedState: Sendable {
    let agentCount: Int
    let deviceCount: Int

    /// Protocol mask (protocolBit) per (agent, device).
    var permissions: [UInt32]

    /// Who subscribed to which notification (Notifications.swift).
    var subscriptions: Subscriptions

    /// Nobody has asked for anything (docs/serve.md §4): the devicetree's permissions.
    init(catalog: Catalog, subscriptions: Subscriptions) {
        agentCount = catalog.agents.count
        deviceCount = catalog.devices.count
        permissions = catalog.agents.flatMap(\.initialPermissions)
        self.subscriptions = subscriptions
    }

    // MARK: Permissions

    /// Whether `agent` may currently use protocol `bit` on a device in `holders`
    /// (docs/binding.md §4: the resource belongs to a device the agent may use).
    func mayUse(agent: Int, protocolBit bit: UInt32, holders: [Int]) -> Bool {
        let row = agent * deviceCount
        for device in holders where permissions[row + device] & bit != 0 { return true }
        return false
    }

    mutating func setPermissions(agent: Int, device: Int, mask: UInt32) {
        permissions[agent * deviceCount + device] = mask
    }

    func permissions(agent: Int, device: Int) -> UInt32 {
        permissions[agent * deviceCount + device]
    }
}
