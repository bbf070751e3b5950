import Dispatch
import Foundation
import ResourceTables
import SCMIPlatform
import Testing

/// Several guests sharing host clocks and regulators (docs/serve.md §4, "Arbitration
/// between agents"), and the permissions a trusted agent changes (docs/binding.md §4).
@Suite struct ArbitrationTests {
    // Clock 0 and voltage domain 0 belong to USB and GPU: vm-ivi (USB, GPU)
    // and vm-cluster (GPU) share them.

    @Test func clockRunsWhileAnyAgentHasItOn() {
        let (platform, log) = makeBoard()
        let ivi = session(platform, Board.ivi), cluster = session(platform, Board.cluster)
        #expect(ivi.send(P.clock, 0x7, [0, 1, 0]).status == .success)
        #expect(log.all == [.clockEnabled(clock: 0, agent: 1, cause: .request)])
        #expect(cluster.send(P.clock, 0x7, [0, 1, 0]).status == .success)
        #expect(ivi.send(P.clock, 0x7, [0, 0, 0]).status == .success)
        // Still on for vm-cluster; each agent reads back its own request.
        #expect(log.all.count == 1)
        #expect(platform.snapshot().resources(of: .clock)[0].on == true)
        #expect(ivi.send(P.clock, 0xB, [0, 0]).word(1) == 0)
        #expect(cluster.send(P.clock, 0xB, [0, 0]).word(1) == 1)
        #expect(cluster.send(P.clock, 0x7, [0, 0, 0]).status == .success)
        #expect(log.all == [
            .clockEnabled(clock: 0, agent: 1, cause: .request),
            .clockDisabled(clock: 0, agent: 2, cause: .request),
        ])
        #expect(platform.snapshot().resources(of: .clock)[0].on == false)
    }

    func setRate(_ session: AgentSession, _ clock: UInt32, _ rate: UInt64) -> SCMIStatus {
        session.send(P.clock, 0x5, [0, clock, UInt32(truncatingIfNeeded: rate), UInt32(truncatingIfNeeded: rate >> 32)]).status
    }

    func rate(_ session: AgentSession, _ clock: UInt32) -> UInt64 {
        session.send(P.clock, 0x6, [clock]).uint64(0)
    }

    @Test func highestRateRequestWins() {
        let (platform, log) = makeBoard()
        let ivi = session(platform, Board.ivi), cluster = session(platform, Board.cluster)
        #expect(setRate(ivi, 0, 48_000_000) == .success)
        #expect(setRate(cluster, 0, 96_000_000) == .success)
        #expect(rate(ivi, 0) == 96_000_000 && rate(cluster, 0) == 96_000_000)
        #expect(setRate(cluster, 0, 24_000_000) == .success)
        #expect(rate(cluster, 0) == 48_000_000)  // vm-ivi's request is now the highest
        #expect(setRate(cluster, 0, 24_000_000) == .success)  // no change, no report
        #expect(log.all == [
            .clockRate(clock: 0, from: 24_000_000, to: 48_000_000, agent: 1, cause: .request),
            .clockRate(clock: 0, from: 48_000_000, to: 96_000_000, agent: 2, cause: .request),
            .clockRate(clock: 0, from: 96_000_000, to: 48_000_000, agent: 2, cause: .request),
        ])
        let requests = platform.snapshot().resources(of: .clock)[0].requests
        #expect(requests.map(\.agentID) == [1, 2])
        #expect(requests.map(\.value) == [48_000_000, 24_000_000])
    }

    @Test func endWithdrawsEveryRequestAtOnce() {
        let (platform, log) = makeBoard()
        let ivi = session(platform, Board.ivi), cluster = session(platform, Board.cluster)
        #expect(setRate(ivi, 0, 48_000_000) == .success)
        #expect(setRate(cluster, 0, 96_000_000) == .success)
        #expect(cluster.send(P.clock, 0x7, [0, 1, 0]).status == .success)
        #expect(cluster.send(P.voltage, 0x7, [0, 0, 1_000_000]).status == .success)
        #expect(cluster.send(P.voltage, 0x5, [0, 7]).status == .success)
        log.clear()

        cluster.end()
        #expect(rate(ivi, 0) == 48_000_000)
        #expect(log.all == [
            .clockDisabled(clock: 0, agent: 2, cause: .disconnect),
            .clockRate(clock: 0, from: 96_000_000, to: 48_000_000, agent: 2, cause: .disconnect),
            .voltageOff(domain: 0, agent: 2, cause: .disconnect),
            .voltageLevel(domain: 0, from: 1_000_000, to: 800_000, agent: 2, cause: .disconnect),
        ])
        let snapshot = platform.snapshot()
        #expect(snapshot.resources(of: .clock)[0].requests.map(\.agentID) == [1])
        #expect(snapshot.resources(of: .voltage)[0].requests.isEmpty)

        // The last agent leaving returns the clock to its initial rate.
        ivi.end()
        #expect(platform.snapshot().resources(of: .clock)[0].value == 24_000_000)
        // Ending twice changes nothing more.
        log.clear()
        ivi.end()
        #expect(log.all.isEmpty)
    }

    @Test func voltageSharedBetweenAgents() {
        let (platform, _) = makeBoard()
        let ivi = session(platform, Board.ivi), cluster = session(platform, Board.cluster)
        #expect(ivi.send(P.voltage, 0x7, [0, 0, 900_000]).status == .success)
        #expect(cluster.send(P.voltage, 0x7, [0, 0, 1_100_000]).status == .success)
        #expect(ivi.send(P.voltage, 0x8, [0]).word(0) == 1_100_000)
        #expect(ivi.send(P.voltage, 0x5, [0, 7]).status == .success)
        #expect(cluster.send(P.voltage, 0x5, [0, 0]).status == .success)
        #expect(platform.snapshot().resources(of: .voltage)[0].on == true)
        #expect(cluster.send(P.voltage, 0x6, [0]).word(0) == 0)
        #expect(ivi.send(P.voltage, 0x6, [0]).word(0) == 7)
        ivi.end()
        let domain = platform.snapshot().resources(of: .voltage)[0]
        #expect(domain.on == false)  // vm-cluster asked for off and is the only one left
        #expect(domain.value == 1_100_000)
    }

    // An always-on host regulator: off only while the agents asking say off;
    // with no request left it returns to its initial state.
    @Test func initiallyOnDomainReturnsToOnWhenRequestsAreWithdrawn() {
        let (platform, log) = makeBoard()
        let admin = session(platform, Board.admin)
        #expect(admin.send(P.base, 0x9, [3, 3, 1]).status == .success)
        #expect(admin.send(P.voltage, 0x5, [1, 0]).status == .success)
        #expect(platform.snapshot().resources(of: .voltage)[1].on == false)
        admin.end()
        #expect(platform.snapshot().resources(of: .voltage)[1].on == true)
        #expect(log.all == [
            .voltageOff(domain: 1, agent: 3, cause: .request),
            .voltageOn(domain: 1, agent: 3, cause: .disconnect),
        ])
    }

    @Test func trustedAgentGrantsAndRevokesADevice() {
        let (platform, _) = makeBoard()
        let admin = session(platform, Board.admin), cluster = session(platform, Board.cluster)
        #expect(cluster.send(P.clock, 0x6, [2]).status == .denied)
        #expect(admin.send(P.base, 0x9, [Board.cluster, 3, 1]).status == .success)
        #expect(rate(cluster, 2) == 1_000_000)
        #expect(cluster.send(P.voltage, 0x8, [2]).status == .success)
        #expect(admin.send(P.base, 0x9, [Board.cluster, 3, 0]).status == .success)
        #expect(cluster.send(P.clock, 0x6, [2]).status == .denied)
        #expect(cluster.send(P.voltage, 0x8, [2]).status == .denied)
    }

    @Test func trustedAgentRevokesOneProtocolOfADevice() {
        let (platform, _) = makeBoard()
        let admin = session(platform, Board.admin), ivi = session(platform, Board.ivi)
        // Take clock control of the GPU from vm-ivi.
        #expect(admin.send(P.base, 0xA, [Board.ivi, 2, 0x14, 0]).status == .success)
        #expect(ivi.send(P.clock, 0x6, [1]).status == .denied)  // GPU only
        #expect(ivi.send(P.clock, 0x6, [0]).status == .success)  // the USB has it too
        #expect(ivi.send(P.voltage, 0x8, [0]).status == .success)  // voltage on the GPU is still allowed
        let permissions = platform.snapshot().agents[0].permissions
        #expect(permissions.map(\.deviceID) == [1, 2])
        #expect(permissions.map(\.protocols) == [[0x14, 0x17], [0x17]])
        #expect(admin.send(P.base, 0xA, [Board.ivi, 2, 0x14, 1]).status == .success)
        #expect(ivi.send(P.clock, 0x6, [1]).status == .success)
    }

    @Test func permissionsSurviveANewSession() {
        let (platform, _) = makeBoard()
        let admin = session(platform, Board.admin)
        let first = session(platform, Board.cluster)
        #expect(admin.send(P.base, 0x9, [Board.cluster, 3, 1]).status == .success)
        #expect(admin.send(P.base, 0x9, [Board.cluster, 2, 0]).status == .success)
        first.end()
        let second = session(platform, Board.cluster)
        #expect(second.send(P.clock, 0x6, [2]).status == .success)
        #expect(second.send(P.clock, 0x6, [1]).status == .denied)
    }

    @Test func resetAgentConfigurationWithdrawsRequestsAndOptionallyPermissions() {
        let (platform, log) = makeBoard()
        let admin = session(platform, Board.admin), ivi = session(platform, Board.ivi)
        #expect(admin.send(P.base, 0x9, [Board.ivi, 3, 1]).status == .success)
        #expect(ivi.send(P.clock, 0x7, [2, 1, 0]).status == .success)
        #expect(setRate(ivi, 2, 7_000_000) == .success)
        log.clear()

        #expect(admin.send(P.base, 0xB, [Board.ivi, 0]).status == .success)
        #expect(log.all == [
            .clockDisabled(clock: 2, agent: 1, cause: .agentReset(by: 3)),
            .clockRate(clock: 2, from: 7_000_000, to: 1_000_000, agent: 1, cause: .agentReset(by: 3)),
        ])
        #expect(ivi.send(P.clock, 0xB, [2, 0]).word(1) == 0)
        // Flags 0 kept the granted DSP; flags 1 restores the devicetree's USB + GPU.
        #expect(ivi.send(P.clock, 0x6, [2]).status == .success)
        #expect(admin.send(P.base, 0xB, [Board.ivi, 1]).status == .success)
        #expect(ivi.send(P.clock, 0x6, [2]).status == .denied)
        #expect(ivi.send(P.clock, 0x6, [0]).status == .success)
    }

    // A revoked agent keeps what it asked for until it goes away or is reset.
    @Test func revokingADeviceDoesNotWithdrawRequests() {
        let (platform, _) = makeBoard()
        let admin = session(platform, Board.admin), cluster = session(platform, Board.cluster)
        #expect(cluster.send(P.clock, 0x7, [1, 1, 0]).status == .success)
        #expect(admin.send(P.base, 0x9, [Board.cluster, 2, 0]).status == .success)
        #expect(platform.snapshot().resources(of: .clock)[1].on == true)
        #expect(cluster.send(P.clock, 0x7, [1, 0, 0]).status == .denied)
        cluster.end()
        #expect(platform.snapshot().resources(of: .clock)[1].on == false)
    }

    @Test func describeNamesTheResource() {
        let (platform, _) = makeBoard()
        let text = platform.describe(.clockRate(clock: 0, from: 24_000_000, to: 48_000_000, agent: 1, cause: .request))
        #expect(text == "clock 0 \"usb-core\" rate 24000000 Hz -> 48000000 Hz (agent 1, request)")
        let off = platform.describe(.voltageOff(domain: 2, agent: 2, cause: .disconnect))
        #expect(off == "voltage domain 2 \"vdd-io\" off (agent 2, disconnect)")
    }

    @Test func snapshotEncodesAsJSON() throws {
        let (platform, _) = makeBoard()
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.clock, 0x7, [0, 1, 0]).status == .success)
        let snapshot = platform.snapshot()
        #expect(snapshot.resources(of: .clock).map(\.name) == ["usb-core", "gpu-core-clock-of-the-board", "dsp-many", "big-range"])
        #expect(snapshot.agents.map(\.name) == ["vm-ivi", "vm-cluster", "vm-admin"])
        #expect(snapshot.agents[2].trusted && snapshot.agents[2].permissions.isEmpty)
        #expect(snapshot.agents[1].protocols == [0x14, 0x16, 0x17])
        let data = try JSONEncoder().encode(snapshot)
        #expect(try JSONDecoder().decode(PlatformSnapshot.self, from: data) == snapshot)
    }

    // Agents on several threads at once: every vote lands, and the physical
    // state is what the last votes say.
    @Test func concurrentAgentsKeepConsistentState() {
        let (platform, log) = makeBoard()
        let sessions = [session(platform, Board.ivi), session(platform, Board.cluster)]
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            let agent = sessions[index]
            for round in 0 ..< 2_000 {
                _ = agent.send(P.clock, 0x7, [0, UInt32((round + 1) & 1), 0])
                _ = agent.send(P.clock, 0x5, [0, 0, round % 3 == 0 ? 96_000_000 : 24_000_000, 0])
                _ = agent.send(P.clock, 0x6, [0])
            }
        }
        // The last round (1999) of both asks for off and 24 MHz.
        let clock = platform.snapshot().resources(of: .clock)[0]
        #expect(clock.on == false)
        #expect(clock.value == 24_000_000)
        // Every report alternates on/off: never two enables in a row.
        var lastEnable: Bool? = nil
        for change in log.all {
            switch (change.protocolID, change.what) {
            case (.clock, .switched(on: true)): #expect(lastEnable != true); lastEnable = true
            case (.clock, .switched(on: false)): #expect(lastEnable != false); lastEnable = false
            default: break
            }
        }
    }
}
