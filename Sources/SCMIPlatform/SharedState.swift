// Mutable state shared by every agent: permissions, each agent's requests, and
// the physical state derived from them (docs/serve.md §4, "Arbitration between agents").
// Flat arrays sized at start, indexed [resource × agentCount + agent] and
// [agent × deviceCount + device], so that no message ever grows them.
// Lives inside SCMIPlatform's Mutex; every method runs with the lock held.

/// One agent's request for something that is on or off.
enum SwitchRequest: UInt8, Sendable {
    case none, off, on
}

struct SharedState: Sendable {
    let agentCount: Int
    let deviceCount: Int

    /// Protocol mask (protocolBit) per (agent, device).
    var permissions: [UInt32]

    var clockEnableRequests: [SwitchRequest]
    var clockRateRequests: [UInt64]
    var clockHasRateRequest: [Bool]
    var clockEnabled: [Bool]
    var clockRate: [UInt64]

    var voltageEnableRequests: [SwitchRequest]
    var voltageLevelRequests: [Int32]
    var voltageHasLevelRequest: [Bool]
    var voltageOn: [Bool]
    var voltageLevel: [Int32]

    /// Nobody has asked for anything (docs/serve.md §4: every agent's CONFIG_GET says
    /// off); clocks start off at their initial rate, voltage domains at their
    /// initial level and on when the host regulator is always-on or boot-on.
    init(catalog: Catalog) {
        agentCount = catalog.agents.count
        deviceCount = catalog.devices.count
        permissions = catalog.agents.flatMap(\.initialPermissions)

        let clockSlots = catalog.clocks.count * agentCount
        clockEnableRequests = Array(repeating: .none, count: clockSlots)
        clockRateRequests = Array(repeating: 0, count: clockSlots)
        clockHasRateRequest = Array(repeating: false, count: clockSlots)
        clockEnabled = Array(repeating: false, count: catalog.clocks.count)
        clockRate = catalog.clocks.map(\.initialRate)

        let voltageSlots = catalog.voltageDomains.count * agentCount
        voltageEnableRequests = Array(repeating: .none, count: voltageSlots)
        voltageLevelRequests = Array(repeating: 0, count: voltageSlots)
        voltageHasLevelRequest = Array(repeating: false, count: voltageSlots)
        voltageOn = catalog.voltageDomains.map(\.initiallyOn)
        voltageLevel = catalog.voltageDomains.map(\.initialLevel)
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

    // MARK: Derivation

    /// On while any agent has it on; with no request at all, `initial`.
    func derivedSwitch(_ requests: [SwitchRequest], resource: Int, initial: Bool) -> Bool {
        var anyRequest = false
        let first = resource * agentCount
        for slot in first ..< first + agentCount {
            switch requests[slot] {
            case .on: return true
            case .off: anyRequest = true
            case .none: break
            }
        }
        return anyRequest ? false : initial
    }

    /// The highest requested rate, or `initial` when no agent requested one.
    func derivedRate(clock: Int, initial: UInt64) -> UInt64 {
        var highest: UInt64? = nil
        let first = clock * agentCount
        for slot in first ..< first + agentCount where clockHasRateRequest[slot] {
            highest = max(highest ?? 0, clockRateRequests[slot])
        }
        return highest ?? initial
    }

    /// The highest requested level, or `initial` when no agent requested one.
    func derivedLevel(domain: Int, initial: Int32) -> Int32 {
        var highest: Int32? = nil
        let first = domain * agentCount
        for slot in first ..< first + agentCount where voltageHasLevelRequest[slot] {
            highest = max(highest ?? Int32.min, voltageLevelRequests[slot])
        }
        return highest ?? initial
    }
}
