// Mutable state shared by every agent: permissions, and one arbiter per
// arbitrated property (Arbitration.swift), which holds each agent's requests
// and the physical state derived from them (docs/serve.md §4, "Arbitration
// between agents"). Flat arrays sized at start, indexed [agent × deviceCount +
// device] and, in the arbiters, [resource × agentCount + agent], so that no
// message ever grows them.
// Lives inside SCMIPlatform's Mutex; every method runs with the lock held.

struct SharedState: Sendable {
    let agentCount: Int
    let deviceCount: Int

    /// Protocol mask (protocolBit) per (agent, device).
    var permissions: [UInt32]

    /// Clock enable ("on while anyone wants it on") and rate (highest wins).
    var clockEnable: SwitchArbiter
    var clockRate: HighestRequestArbiter<UInt64>

    /// Voltage domain on/off and level, arbitrated the same ways.
    var voltageEnable: SwitchArbiter
    var voltageLevel: HighestRequestArbiter<Int32>

    /// Nobody has asked for anything (docs/serve.md §4: every agent's CONFIG_GET says
    /// off); clocks start off at their initial rate, voltage domains at their
    /// initial level and on when the host regulator is always-on or boot-on.
    init(catalog: Catalog) {
        agentCount = catalog.agents.count
        deviceCount = catalog.devices.count
        permissions = catalog.agents.flatMap(\.initialPermissions)

        // Clocks have no initial enable state in the binding (5.1): off.
        clockEnable = SwitchArbiter(initial: catalog.clocks.map { _ in false }, agentCount: agentCount)
        clockRate = HighestRequestArbiter(initial: catalog.clocks.map(\.initialRate), agentCount: agentCount, placeholder: 0)
        // With no request, the host regulator's initial state (always-on /
        // boot-on, docs/binding.md §5.2) and level.
        // An always-on rail is on whatever agents ask; coupled rails start within their spreads.
        voltageEnable = SwitchArbiter(
            initial: catalog.voltageDomains.map(\.initiallyOn), agentCount: agentCount, pinnedOn: catalog.voltageDomains.map(\.alwaysOn))
        voltageLevel = HighestRequestArbiter(initial: catalog.voltageDomains.map(\.initialLevel), agentCount: agentCount, placeholder: 0)
        catalog.voltageCouplings.settle(&voltageLevel) { _, _ in }
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
