import ResourceTables
import SCMIPlatform
import Synchronization
import Testing

// Subscriptions, notifications and delayed responses in the engine: what a
// session with P2A (TransportCapabilities.virtioWithP2A) gets in its sink,
// and what one without it is told.

/// Keeps what the engine posts, as a transport's queue would before delivery
/// (VirtioSCMI's outbox is tested through a real ring in VirtioSCMITests).
final class RecordingSink: PlatformMessageSink {
    private let messages = Mutex<[(bytes: [UInt8], kind: PlatformMessageKind)]>([])
    /// Signalled at each post: delayed responses come from the host-action thread.
    private let posted = Gate()

    func post(_ message: UnsafeRawBufferPointer, kind: PlatformMessageKind) -> Bool {
        posted.change { messages.withLock { $0.append((Array(message), kind)) } }
        return true
    }

    /// Waits until at least `count` messages are held (not taken yet); false if they never come.
    @discardableResult
    func waitFor(_ count: Int) -> Bool {
        posted.wait { messages.withLock { $0.count } >= count }
    }

    var delayedResponsesWaiting: Int { messages.withLock { $0.filter { $0.kind == .delayedResponse }.count } }
    var deliveryCounters: DeliveryCounters { DeliveryCounters(sent: 0, waiting: messages.withLock { $0.count }, dropped: 0) }

    /// Every message so far as words, oldest first, and forgets them.
    func take() -> [[UInt32]] {
        messages.withLock { all in
            defer { all.removeAll() }
            return all.map { message in
                stride(from: 0, to: message.bytes.count, by: 4).map { offset in
                    (0..<4).reduce(UInt32(0)) { $0 | UInt32(message.bytes[offset + $1]) << (8 * $1) }
                }
            }
        }
    }
}

/// A session of `agentID` whose transport delivers notifications into a new sink.
func p2aSession(_ platform: SCMIPlatform, _ agentID: UInt32) -> (AgentSession, RecordingSink) {
    let agent = session(platform, agentID)
    let sink = RecordingSink()
    agent.useTransport(.virtioWithP2A, sink: sink)
    return (agent, sink)
}

/// The first word of notification `id` of protocol `protocolID`.
func notificationHeader(_ protocolID: UInt8, _ id: UInt8) -> UInt32 {
    MessageHeader(protocolID: protocolID, messageID: id, type: .notification).rawValue
}

@Suite struct NotificationTests {
    let platform = makeBoard().0

    func p2aSession(_ agentID: UInt32) -> (AgentSession, RecordingSink) { SCMIPlatformTests.p2aSession(platform, agentID) }

    static func notification(_ protocolID: UInt8, _ id: UInt8) -> UInt32 { notificationHeader(protocolID, id) }

    @Test func withoutP2ANothingIsOffered() {
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.clock, 0x9, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.clock, 0xA, [0, 1]).status == .notSupported)
        #expect(ivi.send(P.clock, 0x2, [0x9]).status == .notFound)
        #expect(ivi.send(P.clock, 0x2, [0xA]).status == .notFound)
        #expect(ivi.send(P.clock, 0x1).word(0) == 4)  // no pending async requests
        #expect(ivi.send(P.clock, 0x3, [0]).word(0) & 0xC000_0000 == 0)
        #expect(ivi.send(P.clock, 0x5, [1, 0, 48_000_000, 0]).status == .notSupported)
        #expect(ivi.send(P.voltage, 0x3, [0]).word(0) & 0x8000_0000 == 0)
        #expect(ivi.send(P.voltage, 0x7, [0, 1, 900_000]).status == .notSupported)
    }

    @Test func withP2AEverythingIsOffered() {
        let (ivi, _) = p2aSession(Board.ivi)
        #expect(ivi.send(P.clock, 0x1).word(0) == 4 | 16 << 16)
        #expect(ivi.send(P.clock, 0x2, [0x9]).status == .success)
        #expect(ivi.send(P.clock, 0x2, [0xA]).status == .success)
        #expect(ivi.send(P.clock, 0x3, [0]).word(0) & 0xC000_0000 == 0xC000_0000)
        #expect(ivi.send(P.voltage, 0x3, [0]).word(0) & 0x8000_0000 != 0)
        #expect(ivi.send(P.voltage, 0x1).word(0) == 3)  // voltage has no pending-async field
    }

    /// vm-ivi subscribes to clock 0's rate changes; vm-cluster (which shares
    /// clock 0 through the GPU) raises it: vm-ivi is told who did it and the
    /// new rate; vm-cluster, not subscribed, gets nothing.
    @Test func subscriberHearsAnotherAgentsRateChange() {
        let (ivi, iviSink) = p2aSession(Board.ivi)
        let (cluster, clusterSink) = p2aSession(Board.cluster)
        #expect(ivi.send(P.clock, 0x9, [0, 1]).status == .success)
        #expect(cluster.send(P.clock, 0x5, [0, 0, 48_000_000, 0]).status == .success)
        #expect(iviSink.take() == [[Self.notification(P.clock, 0x0), Board.cluster, 0, 48_000_000, 0]])
        #expect(clusterSink.take().isEmpty)
        // A request that leaves the physical rate where it is notifies nothing.
        #expect(ivi.send(P.clock, 0x5, [0, 0, 24_000_000, 0]).status == .success)
        #expect(iviSink.take().isEmpty)
        // Unsubscribed: nothing more.
        #expect(ivi.send(P.clock, 0x9, [0, 0]).status == .success)
        #expect(cluster.send(P.clock, 0x5, [0, 0, 96_000_000, 0]).status == .success)
        #expect(iviSink.take().isEmpty)
    }

    /// CLOCK_RATE_CHANGE_REQUESTED goes to the other subscribers for every
    /// request that stands, before the CLOCK_RATE_CHANGED it causes; the
    /// requesting agent, subscribed too, gets only the latter.
    @Test func rateChangeRequestedGoesToTheOthers() {
        let (ivi, iviSink) = p2aSession(Board.ivi)
        let (cluster, clusterSink) = p2aSession(Board.cluster)
        for agent in [ivi, cluster] {
            #expect(agent.send(P.clock, 0x9, [0, 1]).status == .success)
            #expect(agent.send(P.clock, 0xA, [0, 1]).status == .success)
        }
        // 50 MHz rounds down to 48 MHz: the request recorded is 48 MHz.
        #expect(cluster.send(P.clock, 0x5, [0, 0, 50_000_000, 0]).status == .success)
        #expect(iviSink.take() == [
            [Self.notification(P.clock, 0x1), Board.cluster, 0, 48_000_000, 0],
            [Self.notification(P.clock, 0x0), Board.cluster, 0, 48_000_000, 0],
        ])
        #expect(clusterSink.take() == [[Self.notification(P.clock, 0x0), Board.cluster, 0, 48_000_000, 0]])
    }

    @Test func subscribingChecksTheResourceAndFlags() {
        let (ivi, _) = p2aSession(Board.ivi)
        #expect(ivi.send(P.clock, 0x9, [2, 1]).status == .denied)  // DSP's clock
        #expect(ivi.send(P.clock, 0xA, [3, 1]).status == .denied)
        #expect(ivi.send(P.clock, 0x9, [9, 1]).status == .notFound)
        #expect(ivi.send(P.clock, 0x9, [0, 3]).status == .invalidParameters)
        #expect(ivi.send(P.clock, 0x9, [0]).status == .protocolError)
        let delivery = platform.eventDelivery().first { $0.agentID == Board.ivi }
        #expect(delivery?.p2aNegotiated == true)
        #expect(delivery?.subscriptions.isEmpty == true)
    }

    /// CLOCK_RATE_SET async: SUCCESS now, then CLOCK_RATE_SET_COMPLETE with
    /// the command's token and the physical rate; 16 may wait, the 17th is
    /// BUSY; bit 1 waives the delayed response.
    @Test func asynchronousRateSetAndBusyPastSixteen() {
        let (cluster, sink) = p2aSession(Board.cluster)
        #expect(cluster.send(P.clock, 0x5, [1, 1, 300_000_000, 0], token: 0x2A).status == .success)
        let delayed = MessageHeader(protocolID: P.clock, messageID: 0x5, type: .delayedResponse, token: 0x2A).rawValue
        #expect(sink.waitFor(1))
        #expect(sink.take() == [[delayed, 0, 1, 300_000_000, 0]])
        // Asynchronous without a delayed response: carried out all the same,
        // before the next asynchronous command on the clock, which reads its rate.
        #expect(cluster.send(P.clock, 0x5, [3, 1, 600_000_000, 0]).status == .success)
        #expect(cluster.send(P.clock, 0x5, [1, 1, 600_000_000, 0], token: 0x2B).status == .success)
        #expect(sink.waitFor(1))
        #expect(sink.take() == [[MessageHeader(protocolID: P.clock, messageID: 0x5, type: .delayedResponse, token: 0x2B).rawValue,
                                 0, 1, 600_000_000, 0]])
        // Nobody drains this sink: sixteen wait, the seventeenth is BUSY.
        for token in 0..<16 {
            #expect(cluster.send(P.clock, 0x5, [1, 1, 400_000_000, 0], token: UInt16(token)).status == .success)
        }
        #expect(cluster.send(P.clock, 0x5, [1, 1, 500_000_000, 0]).status == .busy)
        #expect(cluster.send(P.clock, 0x5, [3, 1, 500_000_000, 0]).status == .busy)
        #expect(cluster.send(P.voltage, 0x7, [0, 1, 900_000]).status == .busy)
        // Synchronous still works.
        #expect(cluster.send(P.clock, 0x5, [0, 1, 500_000_000, 0]).status == .success)
        #expect(sink.waitFor(16))
        #expect(sink.delayedResponsesWaiting == 16)
    }

    @Test func asynchronousVoltageLevelSet() {
        let (ivi, sink) = p2aSession(Board.ivi)
        #expect(ivi.send(P.voltage, 0x7, [0, 1, 900_000], token: 7).status == .success)
        let delayed = MessageHeader(protocolID: P.voltage, messageID: 0x7, type: .delayedResponse, token: 7).rawValue
        #expect(sink.waitFor(1))
        #expect(sink.take() == [[delayed, 0, 0, 900_000]])
        // A failing request is answered at once; no delayed response follows.
        #expect(ivi.send(P.voltage, 0x7, [0, 1, 2_000_000]).status == .outOfRange)
        #expect(sink.take().isEmpty)
    }

    /// When vm-cluster's connection ends, its rate request is withdrawn and
    /// vm-ivi is told (agent 2 caused it, the rate is back to the initial
    /// one); vm-ivi's own end drops its subscriptions and its sink.
    @Test func disconnectNotifiesTheOthersAndDropsSubscriptions() {
        let (ivi, iviSink) = p2aSession(Board.ivi)
        let (cluster, _) = p2aSession(Board.cluster)
        #expect(ivi.send(P.clock, 0x9, [0, 1]).status == .success)
        #expect(ivi.send(P.clock, 0x9, [1, 1]).status == .success)
        #expect(cluster.send(P.clock, 0x5, [0, 0, 96_000_000, 0]).status == .success)
        _ = iviSink.take()
        cluster.end()
        #expect(iviSink.take() == [[Self.notification(P.clock, 0x0), Board.cluster, 0, 24_000_000, 0]])
        var delivery = platform.eventDelivery().first { $0.agentID == Board.ivi }
        #expect(delivery?.subscriptions.map(\.resource) == [0, 1])
        #expect(delivery?.subscriptions.first?.event == "CLOCK_RATE_CHANGED")
        ivi.end()
        delivery = platform.eventDelivery().first { $0.agentID == Board.ivi }
        #expect(delivery?.subscriptions.isEmpty == true)
        #expect(delivery?.p2aNegotiated == false)
        // A new session of vm-cluster changes the rate: nobody is subscribed any more.
        let (again, _) = p2aSession(Board.cluster)
        #expect(again.send(P.clock, 0x5, [0, 0, 48_000_000, 0]).status == .success)
        #expect(iviSink.take().isEmpty)
    }

    /// A transport that loses P2A (renegotiated without it) loses the subscriptions.
    @Test func losingP2ADropsSubscriptions() {
        let (ivi, _) = p2aSession(Board.ivi)
        #expect(ivi.send(P.clock, 0x9, [0, 1]).status == .success)
        ivi.useTransport(.virtioWithoutP2A, sink: nil)
        #expect(platform.eventDelivery().first { $0.agentID == Board.ivi }?.subscriptions.isEmpty == true)
        #expect(ivi.send(P.clock, 0x9, [0, 1]).status == .notSupported)
    }
}
