// Recording an agent's request and deriving the physical state from every
// agent's requests (docs/serve.md §4, "Arbitration between agents"). Every function
// here runs with the state lock held and reports each change it makes.

extension SCMIPlatform {
    /// Records `agent`'s enable request for `clock` and settles the clock.
    func requestClockEnable(_ state: inout SharedState, clock: Int, agent: Int, _ request: SwitchRequest) {
        state.clockEnableRequests[clock * state.agentCount + agent] = request
        settleClockEnable(&state, clock: clock, agent: agent, cause: .request)
    }

    /// Records `agent`'s rate request for `clock` and settles the clock.
    func requestClockRate(_ state: inout SharedState, clock: Int, agent: Int, rate: UInt64) {
        let slot = clock * state.agentCount + agent
        state.clockRateRequests[slot] = rate
        state.clockHasRateRequest[slot] = true
        settleClockRate(&state, clock: clock, agent: agent, cause: .request)
    }

    func requestVoltageEnable(_ state: inout SharedState, domain: Int, agent: Int, _ request: SwitchRequest) {
        state.voltageEnableRequests[domain * state.agentCount + agent] = request
        settleVoltageEnable(&state, domain: domain, agent: agent, cause: .request)
    }

    func requestVoltageLevel(_ state: inout SharedState, domain: Int, agent: Int, level: Int32) {
        let slot = domain * state.agentCount + agent
        state.voltageLevelRequests[slot] = level
        state.voltageHasLevelRequest[slot] = true
        settleVoltageLevel(&state, domain: domain, agent: agent, cause: .request)
    }

    /// Withdraws every request `agent` holds (disconnect, or
    /// BASE_RESET_AGENT_CONFIGURATION) and settles each resource it touched.
    func withdrawRequests(_ state: inout SharedState, agent: Int, cause: ChangeCause) {
        for clock in catalog.clocks.indices {
            let slot = clock * state.agentCount + agent
            if state.clockEnableRequests[slot] != .none {
                state.clockEnableRequests[slot] = .none
                settleClockEnable(&state, clock: clock, agent: agent, cause: cause)
            }
            if state.clockHasRateRequest[slot] {
                state.clockHasRateRequest[slot] = false
                settleClockRate(&state, clock: clock, agent: agent, cause: cause)
            }
        }
        for domain in catalog.voltageDomains.indices {
            let slot = domain * state.agentCount + agent
            if state.voltageEnableRequests[slot] != .none {
                state.voltageEnableRequests[slot] = .none
                settleVoltageEnable(&state, domain: domain, agent: agent, cause: cause)
            }
            if state.voltageHasLevelRequest[slot] {
                state.voltageHasLevelRequest[slot] = false
                settleVoltageLevel(&state, domain: domain, agent: agent, cause: cause)
            }
        }
    }

    // MARK: Settling one resource

    /// A clock runs while any agent has it on. Clocks have no initial enable
    /// state in the binding (5.1), so with no request they are off.
    private func settleClockEnable(_ state: inout SharedState, clock: Int, agent: Int, cause: ChangeCause) {
        let on = state.derivedSwitch(state.clockEnableRequests, resource: clock, initial: false)
        guard on != state.clockEnabled[clock] else { return }
        state.clockEnabled[clock] = on
        let id = UInt32(clock), who = catalog.agents[agent].id
        report(on ? .clockEnabled(clock: id, agent: who, cause: cause) : .clockDisabled(clock: id, agent: who, cause: cause))
    }

    private func settleClockRate(_ state: inout SharedState, clock: Int, agent: Int, cause: ChangeCause) {
        let rate = state.derivedRate(clock: clock, initial: catalog.clocks[clock].initialRate)
        let old = state.clockRate[clock]
        guard rate != old else { return }
        state.clockRate[clock] = rate
        report(.clockRate(clock: UInt32(clock), from: old, to: rate, agent: catalog.agents[agent].id, cause: cause))
    }

    /// On while any agent has it on; with no request at all, the host
    /// regulator's initial state (always-on / boot-on, docs/binding.md §5.2).
    private func settleVoltageEnable(_ state: inout SharedState, domain: Int, agent: Int, cause: ChangeCause) {
        let initial = catalog.voltageDomains[domain].initiallyOn
        let on = state.derivedSwitch(state.voltageEnableRequests, resource: domain, initial: initial)
        guard on != state.voltageOn[domain] else { return }
        state.voltageOn[domain] = on
        let id = UInt32(domain), who = catalog.agents[agent].id
        report(on ? .voltageOn(domain: id, agent: who, cause: cause) : .voltageOff(domain: id, agent: who, cause: cause))
    }

    private func settleVoltageLevel(_ state: inout SharedState, domain: Int, agent: Int, cause: ChangeCause) {
        let level = state.derivedLevel(domain: domain, initial: catalog.voltageDomains[domain].initialLevel)
        let old = state.voltageLevel[domain]
        guard level != old else { return }
        state.voltageLevel[domain] = level
        report(.voltageLevel(domain: UInt32(domain), from: old, to: level, agent: catalog.agents[agent].id, cause: cause))
    }
}
