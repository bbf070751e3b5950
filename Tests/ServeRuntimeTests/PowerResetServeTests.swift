import SCMIClient
import SCMIPlatform
import ServeRuntime
import Testing

/// Power and reset domains through serve on the example board, with the real
/// frontend and client: vm-ivi (gpu) and vm-cluster (display) share the GPU's
/// power domain and reset line; the display's are vm-cluster's alone.
@Suite struct PowerResetServeTests {
    /// Ids in examples/board.dts (derived tables, in device order).
    static let sharedPowerDomain: UInt32 = 0, clusterPowerDomain: UInt32 = 1
    static let sharedReset: UInt32 = 0, clusterReset: UInt32 = 1

    func report(_ serve: InProcessServe) throws -> PlatformSnapshot {
        try StatusClient.report(from: serve.controlPath, timeout: .seconds(10)).platform
    }

    @Test func twoAgentsShareAPowerDomain() throws {
        let serve = try InProcessServe()
        let ivi = try serve.connect("vm-ivi"), cluster = try serve.connect("vm-cluster")
        defer { cluster.leave() }
        let shared = Self.sharedPowerDomain
        #expect(try ivi.client.powerDomainCount() == 2)
        #expect(try ivi.client.powerDomainAttributes(shared).supportsSyncSet)
        #expect(try ivi.client.powerStateGet(shared) == PowerState.off)

        try ivi.client.powerStateSet(shared, state: PowerState.on)
        try cluster.client.powerStateSet(shared, state: PowerState.on)
        try ivi.client.powerStateSet(shared, state: PowerState.off)
        // Each agent reads back its own request; the domain stays on for vm-cluster.
        #expect(try ivi.client.powerStateGet(shared) == PowerState.off)
        #expect(try cluster.client.powerStateGet(shared) == PowerState.on)
        var row = try #require(try report(serve).resources(of: .powerDomain).first { $0.id == shared })
        #expect(row.on == true)
        #expect(row.requests.map(\.agentName) == ["vm-ivi", "vm-cluster"] && row.requests.map(\.on) == [false, true])

        // The display's domain is vm-cluster's: vm-ivi may name it, not use it.
        #expect(statusOf { try ivi.client.powerStateSet(Self.clusterPowerDomain, state: PowerState.on) } == .denied)
        #expect(statusOf { _ = try ivi.client.powerStateGet(Self.clusterPowerDomain) } == .denied)
        #expect(statusOf { try ivi.client.powerStateSet(shared, state: 0x4000_0001) } == .invalidParameters)
        ivi.leave()

        // vm-cluster leaves: its vote is withdrawn and the domain goes off.
        try cluster.client.powerStateSet(Self.clusterPowerDomain, state: PowerState.on)
        cluster.leave()
        #expect(try eventually { try report(serve).resources(of: .powerDomain).allSatisfy { $0.on == false && $0.requests.isEmpty } })
        row = try #require(try report(serve).resources(of: .powerDomain).first { $0.id == shared })
        #expect(row.on == false)
    }

    @Test func twoAgentsShareAResetLine() throws {
        let serve = try InProcessServe()
        let ivi = try serve.connect("vm-ivi"), cluster = try serve.connect("vm-cluster")
        defer { ivi.leave() }
        let shared = Self.sharedReset
        #expect(try cluster.client.resetDomainCount() == 2)
        #expect(try cluster.client.resetDomainAttributes(shared).latencyMicroseconds == 0xFFFF_FFFF)
        func asserted() throws -> Bool? { try report(serve).resources(of: .reset).first { $0.id == shared }?.on }

        try cluster.client.reset(shared, .assert)
        #expect(try asserted() == true)
        // vm-ivi's pulse leaves the line asserted: vm-cluster holds it.
        try ivi.client.reset(shared, .pulse)
        #expect(try asserted() == true)
        #expect(statusOf { try ivi.client.reset(Self.clusterReset, .assert) } == .denied)

        // vm-cluster goes away holding the line: the assertion is released.
        cluster.leave()
        #expect(try eventually { try asserted() == false })
        try ivi.client.reset(shared, .assert)
        #expect(try asserted() == true)
        try ivi.client.reset(shared, .deassert)
        #expect(try asserted() == false)
    }

    /// vm-cluster subscribes to the shared power domain and reset line; vm-ivi
    /// switches the domain on, pulses the line asynchronously and leaves:
    /// vm-cluster hears the state change, the issued reset and the withdrawal
    /// (caused by vm-ivi), decoded as `call --listen` prints them; vm-ivi's
    /// RESET_COMPLETE arrives on its own eventq. vm-ivi's performance domain
    /// tells it of its own level and limits.
    @Test func subscribersHearPowerResetAndPerformanceChanges() throws {
        let serve = try InProcessServe()
        let cluster = try Agent(socketPath: serve.socket("vm-cluster"), receivesEvents: true)
        defer { cluster.leave() }
        #expect(try cluster.client.powerDomainAttributes(Self.sharedPowerDomain).notifiesStateChanges)
        let resetAttributes = try cluster.client.resetDomainAttributes(Self.sharedReset)
        #expect(resetAttributes.notifiesResets && resetAttributes.supportsAsyncReset)
        try cluster.client.subscribe(PowerDomainMessage.stateNotify, resource: Self.sharedPowerDomain, enable: true)
        try cluster.client.subscribe(ResetMessage.notify, resource: Self.sharedReset, enable: true)
        #expect(statusOf { try cluster.client.subscribe(PerformanceMessage.notifyLevel, resource: 0, enable: true) } == .notSupported)

        let ivi = try Agent(socketPath: serve.socket("vm-ivi"), receivesEvents: true)
        #expect(statusOf { try ivi.client.subscribe(ResetMessage.notify, resource: Self.clusterReset, enable: true) } == .denied)
        try ivi.client.subscribe(PerformanceMessage.notifyLevel, resource: 0, enable: true)
        try ivi.client.subscribe(PerformanceMessage.notifyLimits, resource: 0, enable: true)
        try ivi.client.powerStateSet(Self.sharedPowerDomain, state: PowerState.on)
        #expect(PlatformMessageText.describe(try #require(cluster.nextEvent())) == "notification POWER_STATE_CHANGED agent=1 domain=0 state=on")
        try ivi.client.reset(Self.sharedReset, .pulse, asynchronous: true)
        #expect(PlatformMessageText.describe(try #require(cluster.nextEvent())) == "notification RESET_ISSUED agent=1 domain=0 reset_state=0")
        let complete = PlatformMessageText.describe(try #require(ivi.nextEvent()))
        #expect(complete.hasPrefix("delayed response RESET token ") && complete.hasSuffix(": SUCCESS (0) domain=0"))

        try ivi.client.performanceLevelSet(0, level: 1_400_000)
        #expect(PlatformMessageText.describe(try #require(ivi.nextEvent())) == "notification PERFORMANCE_LEVEL_CHANGED agent=1 domain=0 level=1400000")
        try ivi.client.performanceLimitsSet(0, min: 600_000, max: 1_000_000)
        #expect(PlatformMessageText.describe(try #require(ivi.nextEvent()))
                == "notification PERFORMANCE_LIMITS_CHANGED agent=1 domain=0 range_max=1000000 range_min=600000")
        #expect(PlatformMessageText.describe(try #require(ivi.nextEvent())) == "notification PERFORMANCE_LEVEL_CHANGED agent=1 domain=0 level=1000000")

        let events = try #require(serve.server.statusReport().connections.first { $0.agent == "vm-cluster" }?.events)
        #expect(events.subscriptions.map(\.event) == ["POWER_STATE_CHANGED", "RESET_ISSUED"])
        ivi.leave()
        #expect(PlatformMessageText.describe(try #require(cluster.nextEvent()))
                == "notification POWER_STATE_CHANGED agent=1 domain=0 state=off")
    }
}
