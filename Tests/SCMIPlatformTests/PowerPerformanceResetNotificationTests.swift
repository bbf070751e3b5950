import ResourceTables
import SCMIPlatform
import Testing

// Notifications and delayed responses of the power domain, performance and
// reset protocols (docs/serve.md, "Notifications and delayed responses"):
// what subscribers with P2A get in their sinks when another agent, or a
// disconnect, changes a shared resource; and what a session without P2A is told.

/// POWER_STATE_NOTIFY and POWER_STATE_CHANGED on Board.powerAndReset: domain 0
/// shared by vm-ivi and vm-cluster, domain 1 vm-ivi's alone.
@Suite struct PowerDomainNotificationTests {
    let platform = makeBoard(Board.powerAndReset).0
    static let on: UInt32 = 0x0
    static let off: UInt32 = 0x4000_0000
    static let changed = notificationHeader(P.power, 0x0)

    @Test func offeredOnlyWithP2A() {
        let plain = session(platform, Board.ivi)
        #expect(plain.send(P.power, 0x3, [0]).word(0) & 1 << 31 == 0)
        #expect(plain.send(P.power, 0x2, [0x6]).status == .notFound)
        #expect(plain.send(P.power, 0x6, [0, 1]).status == .notSupported)
        let (ivi, _) = p2aSession(platform, Board.ivi)
        #expect(ivi.send(P.power, 0x3, [0]).word(0) == 1 << 31 | 1 << 29)
        #expect(ivi.send(P.power, 0x2, [0x6]).status == .success)
        // The change-requested notification stays out, with P2A too; and so does an asynchronous set.
        #expect(ivi.send(P.power, 0x2, [0x7]).status == .notFound)
        #expect(ivi.send(P.power, 0x7, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.power, 0x4, [1, 0, Self.on]).status == .notSupported)
    }

    @Test func subscribingChecksIdPermissionFlagsAndSize() {
        let (cluster, _) = p2aSession(platform, Board.cluster)
        #expect(cluster.send(P.power, 0x6, [1, 1]).status == .denied)  // the USB's domain
        #expect(cluster.send(P.power, 0x6, [2, 1]).status == .notFound)
        #expect(cluster.send(P.power, 0x6, [0, 2]).status == .invalidParameters)
        #expect(cluster.send(P.power, 0x6, [0]).status == .protocolError)
        #expect(cluster.send(P.power, 0x6, [0, 1, 0]).status == .protocolError)
        #expect(platform.eventDelivery().first { $0.agentID == Board.cluster }?.subscriptions.isEmpty == true)
    }

    /// Both subscribe to domain 0; vm-cluster switches it on: both hear it,
    /// naming vm-cluster. vm-ivi's vote changes nothing physical: silence.
    /// vm-cluster leaves while only its vote holds it on: vm-ivi hears OFF,
    /// caused by the leaving agent.
    @Test func everySubscriberHearsAPhysicalChange() {
        let (ivi, iviSink) = p2aSession(platform, Board.ivi)
        let (cluster, clusterSink) = p2aSession(platform, Board.cluster)
        for agent in [ivi, cluster] { #expect(agent.send(P.power, 0x6, [0, 1]).status == .success) }
        #expect(cluster.send(P.power, 0x4, [0, 0, Self.on]).status == .success)
        let expected: [[UInt32]] = [[Self.changed, Board.cluster, 0, Self.on]]
        #expect(iviSink.take() == expected)
        #expect(clusterSink.take() == expected)
        #expect(ivi.send(P.power, 0x4, [0, 0, Self.off]).status == .success)
        #expect(iviSink.take().isEmpty && clusterSink.take().isEmpty)
        cluster.end()
        #expect(iviSink.take() == [[Self.changed, Board.cluster, 0, Self.off]])
        // Unsubscribed: nothing more.
        #expect(ivi.send(P.power, 0x6, [0, 0]).status == .success)
        #expect(ivi.send(P.power, 0x4, [0, 0, Self.on]).status == .success)
        #expect(iviSink.take().isEmpty)
    }
}

/// PERFORMANCE_NOTIFY_LIMITS / _LEVEL on PerformanceProtocolTests.tables:
/// domain 0 (levels 200_000 … 1_500_000 kHz) shared by vm-ivi and vm-cluster.
@Suite struct PerformanceNotificationTests {
    let platform = makeBoard(PerformanceProtocolTests.tables).0
    static let limitsChanged = notificationHeader(P.perf, 0x0)
    static let levelChanged = notificationHeader(P.perf, 0x1)

    @Test func offeredOnlyWithP2A() {
        let plain = session(platform, Board.ivi)
        #expect(plain.send(P.perf, 0x3, [0]).word(0) & (1 << 29 | 1 << 28) == 0)
        let (ivi, _) = p2aSession(platform, Board.ivi)
        #expect(ivi.send(P.perf, 0x3, [0]).word(0) == 1 << 31 | 1 << 30 | 1 << 29 | 1 << 28)
        for id: UInt32 in [0x9, 0xA] { #expect(ivi.send(P.perf, 0x2, [id]).status == .success) }
        #expect(ivi.send(P.perf, 0x2, [0xB]).status == .notFound)  // fast channels: never
        #expect(ivi.send(P.perf, 0x9, [1, 1]).status == .denied)  // the DSP's domain
        #expect(ivi.send(P.perf, 0xA, [1, 1]).status == .denied)
        #expect(ivi.send(P.perf, 0xA, [2, 1]).status == .notFound)
        #expect(ivi.send(P.perf, 0x9, [0, 0x8000_0001]).status == .invalidParameters)
        #expect(ivi.send(P.perf, 0xA, [0, 1, 0]).status == .protocolError)
    }

    /// The level is everyone's news; limits are only their owner's.
    @Test func levelChangesGoToEveryoneLimitsOnlyToTheirAgent() {
        let (ivi, iviSink) = p2aSession(platform, Board.ivi)
        let (cluster, clusterSink) = p2aSession(platform, Board.cluster)
        for agent in [ivi, cluster] {
            #expect(agent.send(P.perf, 0x9, [0, 1]).status == .success)
            #expect(agent.send(P.perf, 0xA, [0, 1]).status == .success)
        }
        #expect(cluster.send(P.perf, 0x7, [0, 1_000_000]).status == .success)
        let level: [[UInt32]] = [[Self.levelChanged, Board.cluster, 0, 1_000_000]]
        #expect(iviSink.take() == level)
        #expect(clusterSink.take() == level)
        // vm-cluster narrows its own limits below its request: it hears its new
        // limits, then both hear the level its moved request gives.
        #expect(cluster.send(P.perf, 0x5, [0, 800_000, 300_000]).status == .success)
        #expect(clusterSink.take() == [
            [Self.limitsChanged, Board.cluster, 0, 800_000, 300_000],
            [Self.levelChanged, Board.cluster, 0, 800_000],
        ])
        #expect(iviSink.take() == [[Self.levelChanged, Board.cluster, 0, 800_000]])
        // The same limits again change nothing: silence.
        #expect(cluster.send(P.perf, 0x5, [0, 800_000, 300_000]).status == .success)
        #expect(clusterSink.take().isEmpty)
        // Refused limits notify nothing.
        #expect(cluster.send(P.perf, 0x5, [0, 300_000, 800_000]).status == .invalidParameters)
        #expect(clusterSink.take().isEmpty && iviSink.take().isEmpty)
        // vm-cluster leaves: the level falls back to the lowest, vm-ivi is told who caused it.
        cluster.end()
        #expect(iviSink.take() == [[Self.levelChanged, Board.cluster, 0, 200_000]])
    }
}

/// RESET_NOTIFY, RESET_ISSUED and asynchronous RESET on Board.powerAndReset:
/// reset domain 0 shared by vm-ivi and vm-cluster, domain 1 vm-ivi's alone.
@Suite struct ResetNotificationTests {
    static let issued = notificationHeader(P.reset, 0x0)
    static let deassert: UInt32 = 0
    static let pulse: UInt32 = 1 << 0
    static let assert: UInt32 = 1 << 1
    static let async: UInt32 = 1 << 2

    static func complete(token: UInt16) -> UInt32 {
        MessageHeader(protocolID: P.reset, messageID: 0x4, type: .delayedResponse, token: token).rawValue
    }

    @Test func offeredOnlyWithP2A() {
        let platform = makeBoard(Board.powerAndReset).0
        let plain = session(platform, Board.ivi)
        #expect(plain.send(P.reset, 0x3, [0]).word(0) == 0)
        #expect(plain.send(P.reset, 0x4, [0, Self.pulse | Self.async, 0]).status == .notSupported)
        let (ivi, _) = p2aSession(platform, Board.ivi)
        #expect(ivi.send(P.reset, 0x3, [0]).word(0) == 1 << 31 | 1 << 30)
        #expect(ivi.send(P.reset, 0x3, [1]).word(0) == 1 << 31 | 1 << 30 | 1 << 29)
        #expect(ivi.send(P.reset, 0x2, [0x5]).status == .success)
        #expect(ivi.send(P.reset, 0x5, [1, 1]).status == .success)
        let (cluster, _) = p2aSession(platform, Board.cluster)
        #expect(cluster.send(P.reset, 0x5, [1, 1]).status == .denied)
        #expect(cluster.send(P.reset, 0x5, [2, 1]).status == .notFound)
        #expect(cluster.send(P.reset, 0x5, [0, 1 << 4]).status == .invalidParameters)
        #expect(cluster.send(P.reset, 0x5, [0, 1, 0]).status == .protocolError)
    }

    /// An assert and a pulse are issued resets: the other subscriber hears
    /// them, the agent that reset does not; a deassert, and the release of an
    /// assertion on disconnect, issue nothing.
    @Test func resetIssuedGoesToTheOthers() {
        let platform = makeBoard(Board.powerAndReset).0
        let (ivi, iviSink) = p2aSession(platform, Board.ivi)
        let (cluster, clusterSink) = p2aSession(platform, Board.cluster)
        for agent in [ivi, cluster] { #expect(agent.send(P.reset, 0x5, [0, 1]).status == .success) }
        #expect(cluster.send(P.reset, 0x4, [0, Self.assert, 0]).status == .success)
        #expect(iviSink.take() == [[Self.issued, Board.cluster, 0, 0]])
        #expect(cluster.send(P.reset, 0x4, [0, Self.deassert, 0]).status == .success)
        #expect(ivi.send(P.reset, 0x4, [0, Self.pulse, 0]).status == .success)
        #expect(clusterSink.take() == [[Self.issued, Board.ivi, 0, 0]])
        #expect(iviSink.take().isEmpty)
        // Refused resets are not issued.
        #expect(cluster.send(P.reset, 0x4, [0, Self.assert | Self.pulse, 0]).status == .invalidParameters)
        #expect(cluster.send(P.reset, 0x4, [1, Self.assert, 0]).status == .denied)
        #expect(iviSink.take().isEmpty)
        #expect(cluster.send(P.reset, 0x4, [0, Self.assert, 0]).status == .success)
        _ = iviSink.take()
        cluster.end()
        #expect(iviSink.take().isEmpty)
        #expect(platform.snapshot().resources(of: .reset)[0].on == false)
    }

    /// SUCCESS at once, then RESET_COMPLETE {domain} with the command's token;
    /// an asynchronous reset refused by its checks is answered at once with no
    /// delayed response; sixteen waiting make the seventeenth BUSY.
    @Test func asynchronousResetCompletesOnTheEventq() {
        let platform = makeBoard(Board.powerAndReset).0
        let (ivi, sink) = p2aSession(platform, Board.ivi)
        #expect(ivi.send(P.reset, 0x4, [1, Self.pulse | Self.async, 0], token: 0x33).status == .success)
        #expect(sink.waitFor(1))
        #expect(sink.take() == [[Self.complete(token: 0x33), 0, 1]])
        #expect(platform.snapshot().resources(of: .reset)[1].on == false)
        #expect(ivi.send(P.reset, 0x4, [1, Self.assert | Self.async, 0], token: 0x34).status == .success)
        #expect(sink.waitFor(1))
        #expect(sink.take() == [[Self.complete(token: 0x34), 0, 1]])
        #expect(platform.snapshot().resources(of: .reset)[1].on == true)
        #expect(ivi.send(P.reset, 0x4, [1, Self.async | 1 << 3, 0]).status == .invalidParameters)
        #expect(ivi.send(P.reset, 0x4, [1, Self.async, 5]).status == .invalidParameters)
        #expect(ivi.send(P.reset, 0x4, [1, Self.async, 1 << 31]).status == .notSupported)
        #expect(ivi.send(P.reset, 0x4, [7, Self.async, 0]).status == .notFound)
        let (cluster, clusterSink) = p2aSession(platform, Board.cluster)
        #expect(cluster.send(P.reset, 0x4, [1, Self.pulse | Self.async, 0]).status == .denied)
        #expect(sink.take().isEmpty && clusterSink.take().isEmpty)
        // Nobody drains this sink: sixteen wait, the seventeenth is BUSY.
        for token in 0 ..< 16 {
            #expect(ivi.send(P.reset, 0x4, [1, Self.pulse | Self.async, 0], token: UInt16(token)).status == .success)
        }
        #expect(ivi.send(P.reset, 0x4, [1, Self.pulse | Self.async, 0]).status == .busy)
        #expect(sink.waitFor(16))
        #expect(sink.delayedResponsesWaiting == 16)
        #expect(ivi.send(P.reset, 0x4, [1, Self.pulse, 0]).status == .success)
    }

    /// The host refuses the reset after the command was accepted: the
    /// synchronous answer was SUCCESS, RESET_COMPLETE carries the host's status
    /// (and nothing after it), and nobody is told of an issued reset.
    @Test func aResetThatFailsLaterReportsInTheDelayedResponse() {
        let host = RefusingHost(.reset, resource: 0)
        let platform = SCMIPlatform(tables: Board.powerAndReset, host: host) { _ in }
        let (ivi, iviSink) = p2aSession(platform, Board.ivi)
        let (cluster, clusterSink) = p2aSession(platform, Board.cluster)
        #expect(cluster.send(P.reset, 0x5, [0, 1]).status == .success)
        #expect(ivi.send(P.reset, 0x4, [0, Self.pulse | Self.async, 0], token: 9).status == .success)
        #expect(iviSink.waitFor(1))
        #expect(iviSink.take() == [[Self.complete(token: 9), UInt32(bitPattern: SCMIStatus.hardwareError.rawValue)]])
        #expect(clusterSink.take().isEmpty)
        #expect(platform.snapshot().resources(of: .reset)[0].on == false)
    }
}
