import ResourceTables

// Clock management 0x14, version 3.0 — the highest Linux 6.12's clock.c speaks
// (docs/protocol.md §10): every command clk-scmi sends for that version.

enum ClockProtocol: ResourceModel {
    static let id = ProtocolID.clock
    static let version: UInt32 = 0x30000

    /// 0x0–0x8 and CONFIG_GET, and with P2A the two notify commands; not the
    /// parent or permission commands.
    static let unit = ProtocolUnit(
        id, version: version,
        // Bits 15:0 clocks, 23:16 max pending async rate changes: 16 with P2A,
        // else 0, since a delayed response needs the eventq (docs/protocol.md §15).
        attributes: { session, _, reply in session.resourceCount(ClockProtocol.self, &reply, reportsPendingAsync: true) },
        messages: [
            .handle(ClockMessage.attributes, size: .exactly(4)) { $0.clockAttributes($1, &$2) },
            .handle(ClockMessage.describeRates, size: .exactly(8)) { $0.describe(ClockProtocol.self, $1, &$2) },
            .handle(ClockMessage.rateSet, size: .exactly(16)) { session, payload, _ in session.rateSet(payload) },
            .handle(ClockMessage.rateGet, size: .exactly(4)) { $0.rateGet($1, &$2) },
            .handle(ClockMessage.configSet, size: .either(8, 12)) { session, payload, _ in session.clockConfigSet(payload) },
            .handle(ClockMessage.nameGet, size: .exactly(4)) { $0.nameGet(ClockProtocol.self, $1, &$2) },
            .handle(ClockMessage.configGet, size: .exactly(8)) { $0.clockConfigGet($1, &$2) },
            // No clock advertises parents (CLOCK_ATTRIBUTES bit 28 = 0).
            .notSupported(ClockMessage.possibleParentsGet),
            .notSupported(ClockMessage.parentSet),
            .notSupported(ClockMessage.parentGet),
            // Not advertised (CLOCK_ATTRIBUTES bit 1 = 0): permissions change at
            // run time through a trusted agent's BASE_SET_*_PERMISSIONS, but
            // Linux asks once at probe and, when told "no", drops the clock's
            // enable/rate operations for good. Without this command Linux keeps
            // them, and a clock the agent may not use answers DENIED per command.
            .notSupported(ClockMessage.getPermissions),
        ],
        resources: ResourceHooks(ClockProtocol.self),
        events: events,
        subscribe: { session, event, payload in session.subscribe(ClockProtocol.self, event: event, payload) })

    /// CLOCK_RATE_CHANGED {agent, clock_id, rate_low, rate_high} to every
    /// subscriber when the physical rate changes (the withdrawing agent on a
    /// disconnect); CLOCK_RATE_CHANGE_REQUESTED {agent, clock_id, rate} to the
    /// other subscribers whenever an agent's rate request stands (sent by rateSet).
    static let events = [
        NotificationEvent(ClockNotification.rateChanged, subscribedBy: ClockMessage.rateNotify, to: .everyone) { change, message in
            guard case .value(_, let rate) = change.what else { return false }
            message.append(change.agent)
            message.append(change.resource)
            message.append(UInt64(rate))
            return true
        },
        NotificationEvent(ClockNotification.rateChangeRequested, subscribedBy: ClockMessage.rateChangeRequestedNotify, to: .others),
    ]
    static let rateChangeRequestedEvent = 1

    // MARK: The unit's resources

    /// One clock as the catalog holds it.
    struct Resource: DescribedResource, NamedResource {
        let name: String
        let names: ResourceNames
        /// The rates, as CLOCK_DESCRIBE_RATES pages them and CLOCK_RATE_SET rounds to.
        let described: DescribedValues<UInt64>
        let initialRate: UInt64
        let devices: [Int]
        /// The host clock: its provider's path and specifier cells.
        let hostKey: String
    }

    /// Enable ("on while anyone wants it on") and rate ("highest wins").
    typealias State = SwitchedValueState<UInt64>

    static let vocabulary = ResourceVocabulary(
        noun: "clock", plural: "clocks", tableKey: "clocks", switchKey: "enabled", valueKey: "rate_hz",
        onWord: "enabled", offWord: "disabled", quantity: "rate", unit: "Hz")

    static func catalog(_ tables: PlatformTables, holders: [[Int]]) -> [Resource] {
        tables.clocks.enumerated().map { index, entry in
            let described: DescribedValues<UInt64> =
                switch entry.rates {
                case .discrete(let list): DescribedValues(normalizing: list)
                case .range(let low, let high, let step): DescribedValues(normalizing: low, high, step: step)
                }
            return Resource(name: entry.name, names: ResourceNames(entry.name), described: described,
                            initialRate: entry.initialRate, devices: holders[index],
                            hostKey: providerKey(entry.providerPath, entry.specifier))
        }
    }

    /// Clocks have no initial enable state in the binding (5.1): off, at their initial rate.
    static func initialState(_ clocks: UnsafeBufferPointer<Resource>, agentCount: Int) -> State {
        State(initiallyOn: clocks.map { _ in false }, initialValue: clocks.map(\.initialRate), agentCount: agentCount)
    }

    static func release(_ clock: Resource) { clock.described.release() }

    /// CLOCK_ATTRIBUTES bits.
    static let attributeEnabled: UInt32 = 1 << 0
    static let attributeExtendedName: UInt32 = 1 << 29
    /// Rate-change-requested and rate-changed notifications (with P2A).
    static let attributeRateChangeRequestedNotifications: UInt32 = 1 << 30
    static let attributeRateChangedNotifications: UInt32 = 1 << 31

    /// CLOCK_RATE_SET flags.
    static let flagAsync: UInt32 = 1 << 0
    static let flagIgnoreDelayedResponse: UInt32 = 1 << 1
    static let flagRoundUp: UInt32 = 1 << 2
    static let flagRoundAuto: UInt32 = 1 << 3

    enum Rounding { case down, up, nearest }

    /// The described rate closest to `rate` in the direction asked, or nil when
    /// `rate` lies outside min...max (OUT_OF_RANGE). In a range the valid rates
    /// are min + k·step and max itself.
    static func round(_ rate: UInt64, in rates: DescribedValues<UInt64>, _ rounding: Rounding) -> UInt64? {
        guard let bounds = rates.bounds, rate >= bounds.lowest, rate <= bounds.highest else { return nil }
        let down: UInt64, up: UInt64
        switch rates {
        case .discrete(let list):
            // First rate ≥ `rate`; it exists because rate ≤ highest.
            var low = 0, high = list.count
            while low < high {
                let middle = low + (high - low) / 2
                if list[middle] < rate { low = middle + 1 } else { high = middle }
            }
            guard low < list.count else { return nil }
            if list[low] == rate || low == 0 { return list[low] }
            down = list[low - 1]
            up = list[low]
        case .range(let minimum, let maximum, let step):
            down = minimum + (rate - minimum) / step * step
            if down == rate { return rate }
            let (next, overflow) = down.addingReportingOverflow(step)
            up = overflow || next > maximum ? maximum : next
        }
        switch rounding {
        case .down: return down
        case .up: return up
        case .nearest: return rate - down <= up - rate ? down : up
        }
    }
}

extension AgentSession {
    fileprivate func clockIndex(_ id: UInt32) -> Int? { resourceIndex(ClockProtocol.self, id) }

    fileprivate var clocks: UnsafeBufferPointer<ClockProtocol.Resource> { resources(ClockProtocol.self) }

    /// +4 attributes, +8 name[16], +24 enable_delay (0: unknown). The enabled
    /// bit is this agent's own request, like CONFIG_GET (docs/serve.md §4).
    fileprivate func clockAttributes(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = clockIndex(payload.word(0)) else { return .notFound }
        let names = clocks[index].names
        let on = platform.state.withLock { state(ClockProtocol.self, &$0).pointee.enable.request(resource: index, agent: agent) == .on }
        var attributes: UInt32 = on ? ClockProtocol.attributeEnabled : 0
        if names.isExtended { attributes |= ClockProtocol.attributeExtendedName }
        if deliversNotifications {
            attributes |= ClockProtocol.attributeRateChangedNotifications | ClockProtocol.attributeRateChangeRequestedNotifications
        }
        reply.append(attributes)
        reply.appendName(names, .short)
        reply.append(UInt32(0))
        return .success
    }

    /// +0 flags, +4 clock_id, +8 rate (64 bits). Rounds down unless the flags
    /// ask for up (bit 2) or nearest (bit 3, "auto"); this agent's request is
    /// then arbitrated with the others' (the highest wins). Asynchronous (bit
    /// 0, with P2A only): SUCCESS once the checks pass (BUSY while 16
    /// asynchronous commands are pending), then carried out by the host-action
    /// thread in its turn; CLOCK_RATE_SET_COMPLETE {clock_id, physical rate},
    /// or the host's status with the request rolled back, follows on the
    /// eventq unless bit 1 waives it.
    fileprivate func rateSet(_ payload: Payload) -> SCMIStatus {
        guard let index = clockIndex(payload.word(1)) else { return .notFound }
        let flags = payload.word(0)
        let rate = payload.uint64(lowWord: 2)
        guard flags & ClockProtocol.flagAsync != 0 else { return rateSet(index, flags, rate, turnHeld: false) }
        let clock = clocks.baseAddress.unsafelyUnwrapped + index
        return submit(ClockProtocol.self, index, payload) { shared in
            rateCheck(shared, clock, flags, rate, arriving: true).status
        } run: { session, job in
            session.finishRateSet(job)
        }
    }

    /// What CLOCK_RATE_SET answers before arbitration, and the rate it asks
    /// for rounded as the flags say. `arriving`: also the checks of an
    /// asynchronous command when it arrives (P2A, BUSY); the host-action
    /// thread checks the rest again when it carries the command out.
    private func rateCheck(
        _ shared: borrowing SharedState, _ clock: UnsafePointer<ClockProtocol.Resource>, _ flags: UInt32, _ rate: UInt64, arriving: Bool
    ) -> (status: SCMIStatus, rounded: UInt64) {
        guard mayUse(shared, ClockProtocol.id, holders: clock.pointee.devices) else { return (.denied, 0) }
        guard flags & ~UInt32(0xF) == 0 else { return (.invalidParameters, 0) }
        if arriving && flags & ClockProtocol.flagAsync != 0 {
            // An asynchronous change ends in a delayed response on the eventq;
            // without VIRTIO_SCMI_F_P2A_CHANNELS there is none, and the virtio
            // spec requires NOT_SUPPORTED (docs/protocol.md §15). PROTOCOL_ATTRIBUTES
            // then says 0 pending async changes, so Linux never asks.
            guard deliversDelayedResponses else { return (.notSupported, 0) }
            guard asyncSlotFree(shared) else { return (.busy, 0) }
        }
        let rounding: ClockProtocol.Rounding =
            flags & ClockProtocol.flagRoundAuto != 0 ? .nearest
            : flags & ClockProtocol.flagRoundUp != 0 ? .up : .down
        guard let rounded = ClockProtocol.round(rate, in: clock.pointee.described, rounding) else { return (.outOfRange, 0) }
        return (.success, rounded)
    }

    /// CLOCK_RATE_SET carried out: now (synchronous), or by the host-action
    /// thread with the clock's turn held (asynchronous).
    private func rateSet(_ index: Int, _ flags: UInt32, _ rate: UInt64, turnHeld: Bool) -> SCMIStatus {
        let clock = clocks.baseAddress.unsafelyUnwrapped + index
        var requested: UInt64 = 0
        var previous: UInt64? = nil
        return change(ClockProtocol.self, index, turnHeld: turnHeld) { state, shared in
            let checked = rateCheck(shared, clock, flags, rate, arriving: !turnHeld)
            guard checked.status.isSuccess else { return (checked.status, nil) }
            requested = checked.rounded
            previous = state.value.requested(resource: index, agent: agent)
            return (.success, state.value.request(requested, resource: index, agent: agent).map(ClockProtocol.State.what))
        } undo: { state in
            state.value.restore(previous, resource: index, agent: agent)
        } accepted: {
            platform.notify(event: eventIndex(ClockProtocol.self, ClockProtocol.rateChangeRequestedEvent),
                            resource: index, causing: agent) { message in
                message.append(info.id)
                message.append(UInt32(index))
                message.append(requested)
            }
        }
    }

    /// An asynchronous CLOCK_RATE_SET on the host-action thread: carried out,
    /// then CLOCK_RATE_SET_COMPLETE unless its flags waive it.
    fileprivate func finishRateSet(_ job: HostJob) {
        let flags = job.parameters.0, index = Int(job.parameters.1)
        let status = rateSet(index, flags, UInt64(job.parameters.2) | UInt64(job.parameters.3) << 32, turnHeld: true)
        completeValueSet(job, ClockProtocol.self, index, flags & ClockProtocol.flagIgnoreDelayedResponse == 0 ? status : nil) { $0.append($1) }
    }

    /// The physical rate as two words: the arbitrated one, or the hardware's (physicalValue).
    fileprivate func rateGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = clockIndex(payload.word(0)) else { return .notFound }
        return physicalValue(ClockProtocol.self, index, holders: clocks[index].devices, &reply) { $0.append($1) }
    }

    /// v3 form: +0 clock_id, +4 attributes (1:0 state: 0 off, 1 on, 2 reserved,
    /// 3 unchanged; 23:16 OEM config type), +8 oem_config_val. The 8-byte
    /// v1/v2 form (+4 bit 0 enable) is accepted too.
    fileprivate func clockConfigSet(_ payload: Payload) -> SCMIStatus {
        guard let index = clockIndex(payload.word(0)) else { return .notFound }
        let attributes = payload.word(1)
        let holders = clocks[index].devices
        let isVersion3 = payload.count == 12
        var previous = SwitchRequest.none
        return change(ClockProtocol.self, index) { state, shared in
            guard mayUse(shared, ClockProtocol.id, holders: holders) else { return (.denied, nil) }
            let request: SwitchRequest
            if isVersion3 {
                guard attributes & 0xFF00_FFFC == 0 else { return (.invalidParameters, nil) }
                // No OEM configuration types are offered (attributes bit 27 = 0).
                guard attributes & 0x00FF_0000 == 0 else { return (.notSupported, nil) }
                switch attributes & 0x3 {
                case 0: request = .off
                case 1: request = .on
                case 3: return (.success, nil)  // state unchanged, and no OEM type to set
                default: return (.invalidParameters, nil)
                }
            } else {
                guard attributes & ~UInt32(1) == 0 else { return (.invalidParameters, nil) }
                request = attributes & 1 != 0 ? .on : .off
            }
            previous = state.enable.request(resource: index, agent: agent)
            return (.success, state.enable.request(request, resource: index, agent: agent).map { .switched(on: $0) })
        } undo: { state in
            _ = state.enable.request(previous, resource: index, agent: agent)
        }
    }

    /// +0 clock_id, +4 flags (7:0 OEM type) → +4 attributes 0, +8 config (bit 0:
    /// this agent's own request), +12 oem_config_val 0.
    fileprivate func clockConfigGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = clockIndex(payload.word(0)) else { return .notFound }
        let flags = payload.word(1)
        let holders = clocks[index].devices
        let on: Bool? = platform.state.withLock { locked in
            mayUse(locked, ClockProtocol.id, holders: holders)
                ? state(ClockProtocol.self, &locked).pointee.enable.request(resource: index, agent: agent) == .on : nil
        }
        guard let on else { return .denied }
        guard flags & ~UInt32(0xFF) == 0 else { return .invalidParameters }
        guard flags == 0 else { return .notSupported }
        reply.append(UInt32(0))
        reply.append(UInt32(on ? 1 : 0))
        reply.append(UInt32(0))
        return .success
    }
}
