import ResourceTables
import SCMIClient
import SCMIPlatform
import SCMIUpstream
import TestKit
import Testing

/// The mediator's UpstreamHost against a real engine as the firmware
/// (docs/host.md, "Upstream").
@Suite struct UpstreamHostTests {
    /// Every kind of change reaches the firmware on the firmware's id, and
    /// the firmware's status shows it there and nowhere else.
    @Test func changesReachTheFirmwareUnderItsIds() throws {
        let mediator = try Mediator()
        let (vm, _) = mediator.guest(MediatorBoard.vmA)
        let firmware = mediator.firmware

        try vm.rateSet(0, rate: 800_000_000)
        try vm.enable(clock: 0)
        #expect(firmware.resource(.clock, 2).value == 800_000_000)
        #expect(firmware.resource(.clock, 2).on == true)
        #expect(firmware.resource(.clock, 2).requests.map(\.agentID) == [FirmwareBoard.mediator])
        #expect(firmware.resource(.clock, 0).requests.isEmpty)

        try vm.voltageOn(0)
        try vm.levelSet(0, microvolts: 1_000_000)
        #expect(firmware.resource(.voltage, 1).on == true && firmware.resource(.voltage, 1).value == 1_000_000)
        #expect(firmware.resource(.voltage, 0).requests.isEmpty)

        try vm.powerStateSet(0, state: PowerState.on)
        #expect(firmware.resource(.powerDomain, 1).on == true)
        #expect(firmware.resource(.powerDomain, 0).on == false)

        try vm.performanceLevelSet(0, level: 1_500_000)
        #expect(firmware.resource(.performance, 0).value == 1_500_000)

        try vm.reset(0, .assert)
        #expect(firmware.resource(.reset, 1).on == true)
        try vm.reset(0, .deassert)
        #expect(firmware.resource(.reset, 1).on == false)
        #expect(firmware.resource(.reset, 0).requests.isEmpty)

        // Switching off goes the same way.
        try vm.disable(clock: 0)
        #expect(firmware.resource(.clock, 2).on == false)
        // The model clock never reaches the firmware.
        let before = mediator.firmware.link.commands.count
        try vm.rateSet(1, rate: 2_000_000)
        #expect(mediator.firmware.link.commands.count == before)
        #expect(mediator.platform.snapshot().resources(of: .clock)[1].value == 2_000_000)
    }

    /// Two agents of the mediator: arbitration happens there, and only a
    /// change of the arbitrated state is one command to the firmware.
    @Test func arbitrationIsAppliedOnce() throws {
        let mediator = try Mediator()
        let (a, _) = mediator.guest(MediatorBoard.vmA), (b, _) = mediator.guest(MediatorBoard.vmB)
        let link = mediator.firmware.link
        link.clearCommands()

        try a.rateSet(0, rate: 1_200_000_000)
        try b.rateSet(0, rate: 800_000_000)  // lower: the physical rate stays
        try b.enable(clock: 0)
        try a.enable(clock: 0)  // already on
        let rateSet = MessageHeader(ClockMessage.rateSet).messageID, configSet = MessageHeader(ClockMessage.configSet).messageID
        #expect(link.commands.map(\.messageID) == [rateSet, configSet])
        #expect(mediator.firmware.resource(.clock, 2).value == 1_200_000_000)

        // vm-a lets go: the rate falls to vm-b's, one more command.
        try a.rateSet(0, rate: 400_000_000)
        #expect(link.commands.map(\.messageID) == [rateSet, configSet, rateSet])
        #expect(mediator.firmware.resource(.clock, 2).value == 800_000_000)
    }

    /// The firmware refuses: the guest gets the firmware's status, the
    /// mediator rolls back, and status keeps the failure.
    @Test func aFirmwareRefusalReachesTheGuestAndRollsBack() throws {
        let mediator = try Mediator()
        let (vm, _) = mediator.guest(MediatorBoard.vmA)

        // Clock 2 is the firmware's clock 1, which the mediator's agent may not use there.
        #expect(statusOf { try vm.rateSet(2, rate: 200_000_000) } == .denied)
        let row = mediator.platform.snapshot().resources(of: .clock)[2]
        #expect(row.value == 100_000_000 && row.requests.isEmpty)
        #expect(mediator.firmware.resource(.clock, 1).value == 100_000_000)
        #expect(mediator.host.lastFailures == ["clock 2 \"secure\": rate 200000000: the firmware answered DENIED (-3)"])
        #expect(mediator.log.contains("clock 2 \"secure\" rate 200000000 (firmware id 1; agent 1, request): the firmware answered DENIED (-3) after"))
        // Reading it is the firmware's business too.
        #expect(statusOf { _ = try vm.rateGet(2) } == .denied)
        #expect(statusOf { try vm.enable(clock: 2) } == .denied)
        #expect(try vm.clockConfigGet(2) == false)

        // A success on another resource leaves that line alone.
        try vm.rateSet(0, rate: 800_000_000)
        #expect(mediator.host.lastFailures.count == 1)
    }

    /// A reply that does not come, or is not a reply: GENERIC_ERROR, rolled back.
    @Test func noAnswerOrGarbageIsGenericError() throws {
        let mediator = try Mediator()
        let (vm, _) = mediator.guest(MediatorBoard.vmA)
        let link = mediator.firmware.link

        link.failNext(.timedOut(milliseconds: 1000))
        #expect(statusOf { try vm.rateSet(0, rate: 800_000_000) } == .genericError)
        #expect(mediator.platform.snapshot().resources(of: .clock)[0].requests.isEmpty)
        #expect(mediator.host.lastFailures == ["clock 0 \"cpu\": rate 800000000: no reply within 1000 ms"])

        link.failNext(.malformed("token 7, expected 3"))
        #expect(statusOf { try vm.enable(clock: 0) } == .genericError)
        #expect(try vm.clockConfigGet(0) == false)
        #expect(mediator.log.contains("error: upstream in-process: malformed reply: token 7, expected 3"))

        // Neither takes the link down: the next command goes through, and clears the line.
        try vm.rateSet(0, rate: 800_000_000)
        #expect(mediator.host.isConnected)
        #expect(mediator.host.lastFailures.isEmpty)
        #expect(mediator.firmware.resource(.clock, 2).value == 800_000_000)
    }

    /// CLOCK_RATE_GET, VOLTAGE_LEVEL_GET, PERFORMANCE_LEVEL_GET and
    /// SENSOR_READING_GET of upstream resources report the firmware's values.
    @Test func hardwareReadsAreTheFirmwares() throws {
        let mediator = try Mediator()
        let (vm, _) = mediator.guest(MediatorBoard.vmA)
        let host = mediator.firmware.hostOS()

        // The host's own OS moves them at the firmware: the mediator's model did not.
        try host.rateSet(2, rate: 1_200_000_000)
        try host.levelSet(1, microvolts: 1_100_000)
        try host.performanceLevelSet(0, level: 1_000_000)
        #expect(try vm.rateGet(0) == 1_200_000_000)
        #expect(try vm.levelGet(0) == 1_100_000)
        #expect(try vm.performanceLevelGet(0) == 1_000_000)
        #expect(try vm.sensorRead(0) == 42_000)
        #expect(mediator.platform.snapshot().resources(of: .clock)[0].value == 400_000_000)
        // The model clock reads the model.
        #expect(try vm.rateGet(1) == 1_000_000)
    }

    /// The firmware's notifications reach subscribed guests with the
    /// mediator's ids; those of the mediator's own commands do not (the
    /// engine notified them already).
    @Test func firmwareNotificationsArePassedOnTranslated() throws {
        let mediator = try Mediator()
        let (a, aLink) = mediator.guest(MediatorBoard.vmA)
        let (b, _) = mediator.guest(MediatorBoard.vmB)
        try a.subscribe(ClockMessage.rateNotify, resource: 0, enable: true)
        try a.subscribe(PowerDomainMessage.stateNotify, resource: 0, enable: true)
        let host = mediator.firmware.hostOS()
        let rateChanged = MessageHeader(protocolID: ProtocolID.clock.rawValue, messageID: ClockNotification.rateChanged.rawValue, type: .notification)

        // vm-b's change: one CLOCK_RATE_CHANGED, the engine's, naming vm-b.
        try b.rateSet(0, rate: 800_000_000)
        // The host OS's change at the firmware: passed on, from the platform (agent 0), clock 0.
        try host.rateSet(2, rate: 1_200_000_000)
        var seen: [(header: MessageHeader, words: [UInt32])] = []
        #expect(try eventually {
            seen += try notifications(aLink)
            return seen.count >= 2
        })
        #expect(seen.map(\.header) == [rateChanged, rateChanged])
        #expect(seen.map(\.words) == [[MediatorBoard.vmB, 0, 800_000_000, 0], [0, 0, 1_200_000_000, 0]])

        // A power domain the host OS switches on: POWER_STATE_CHANGED for domain 0.
        try host.powerStateSet(1, state: PowerState.on)
        seen = []
        #expect(try eventually {
            seen += try notifications(aLink)
            return !seen.isEmpty
        })
        #expect(seen.map(\.words) == [[0, 0, PowerState.on]])
        #expect(seen.count == 1)
        // The guests' own state did not move: vm-a never asked for the domain.
        #expect(mediator.platform.snapshot().resources(of: .powerDomain)[0].on == false)
    }

    /// The firmware goes away: its resources answer GENERIC_ERROR, the model
    /// clock keeps working; when it is back, the mediator reconnects and the
    /// firmware gets the physical state again.
    @Test func linkLossFailsUpstreamResourcesUntilReconnectReapplies() throws {
        let mediator = try Mediator()
        let (vm, vmLink) = mediator.guest(MediatorBoard.vmA)
        let firmware = mediator.firmware
        try vm.rateSet(0, rate: 800_000_000)
        try vm.enable(clock: 0)
        try vm.voltageOn(0)

        firmware.disappear()
        // The firmware ended the mediator's session: its requests there are gone.
        #expect(firmware.resource(.clock, 2).requests.isEmpty)
        #expect(firmware.resource(.clock, 2).value == 400_000_000)
        #expect(statusOf { try vm.rateSet(0, rate: 1_200_000_000) } == .genericError)
        #expect(statusOf { _ = try vm.rateGet(0) } == .genericError)
        #expect(try eventually { !mediator.host.isConnected })
        #expect(statusOf { try vm.powerStateSet(0, state: PowerState.on) } == .genericError)
        #expect(mediator.host.lastFailures.contains("power-domain 0 \"gpu-pd\": on: upstream in-process is down"))
        try vm.rateSet(1, rate: 2_000_000)
        #expect(try vm.rateGet(1) == 2_000_000)
        #expect(mediator.log.contains("warning: upstream in-process lost"))

        firmware.comeBack()
        #expect(try eventually { mediator.host.isConnected })
        #expect(try eventually { firmware.resource(.clock, 2).value == 800_000_000 })
        #expect(firmware.resource(.clock, 2).on == true)
        #expect(firmware.resource(.voltage, 1).on == true)
        #expect(firmware.resource(.powerDomain, 1).on == false)
        // What serve changed (or tried to) is sent again, nothing else: clock 0's rate and
        // enable, voltage 0's level and on, power domain 0's off (tried while away).
        #expect(mediator.log.contains("notice: upstream in-process is back: 5 commands re-applied the physical state"))
        #expect(firmware.resource(.performance, 0).requests.isEmpty)
        // Guests use it again; the subscriptions at the firmware were made again.
        try vm.subscribe(ClockMessage.rateNotify, resource: 0, enable: true)
        try firmware.hostOS().rateSet(2, rate: 1_200_000_000)
        #expect(try eventually { try notifications(vmLink).contains { $0.words == [0, 0, 1_200_000_000, 0] } })
        try vm.rateSet(0, rate: 1_200_000_000)
        #expect(try vm.rateGet(0) == 1_200_000_000)
    }

    /// A guest that leaves has its requests withdrawn, and the firmware is
    /// told, before end() returns (what serve's orderly stop relies on).
    @Test func aDepartingGuestsWithdrawalReachesTheFirmware() throws {
        let mediator = try Mediator()
        let (vm, vmLink) = mediator.guest(MediatorBoard.vmA)
        try vm.rateSet(0, rate: 1_200_000_000)
        try vm.enable(clock: 0)
        try vm.powerStateSet(0, state: PowerState.on)
        vmLink.close()
        #expect(mediator.firmware.resource(.clock, 2).on == false)
        #expect(mediator.firmware.resource(.clock, 2).value == 400_000_000)
        #expect(mediator.firmware.resource(.powerDomain, 1).on == false)
    }
}
