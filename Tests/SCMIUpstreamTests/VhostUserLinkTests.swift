import Dispatch
import SCMIClient
import SCMIUpstream
import SCMIWire
import Synchronization
import TestKit
import Testing

/// `serve --upstream vhost-user:PATH` against real vhost-user backends (socket,
/// memfd memory, eventfds, rings) serving the real engine, as a second
/// `scmi-dt serve` would: commands, the eventq, timeouts, garbage, the end.
@Suite struct VhostUserLinkTests {
    static let timeout = 10_000

    /// A command goes to the firmware's engine and its reply comes back as
    /// the engine wrote it; SCMIClient works over the link; a rate set through
    /// the link is the rate another agent of the firmware reads.
    @Test func commandsReachTheFirmware() throws {
        let firmware = try VhostUserFirmware()
        let link = try connectUpstream(.vhostUser(path: firmware.upstreamPath), timeoutMilliseconds: Self.timeout)
        defer { link.close() }
        #expect(try link.exchange(Firmware.clockRateGet(token: 7), timeoutMilliseconds: Self.timeout)
            == Firmware.rateReply(token: 7, rate: 24_000_000))
        let client = SCMIClient(transport: UpstreamClientTransport(link: link, timeoutMilliseconds: Self.timeout))
        #expect(try client.vendor() == "FW")
        try client.rateSet(0, rate: 48_000_000)
        let other = try Agent(socketPath: firmware.paths[1])
        defer { other.leave() }
        #expect(try other.client.rateGet(0) == 48_000_000)
    }

    /// With P2A negotiated, the firmware's messages come through `receive` on
    /// another thread while this one sends commands: CLOCK_RATE_CHANGED when
    /// another agent changes the rate, and the delayed response of an
    /// asynchronous CLOCK_RATE_SET with its token (the rate it set becomes
    /// the clock's, so this agent is told of that change too).
    @Test func notificationsAndDelayedResponsesArriveThroughReceive() throws {
        let firmware = try VhostUserFirmware()
        let link = try VhostUserLink(socketPath: firmware.upstreamPath, timeoutMilliseconds: Self.timeout)
        defer { link.close() }
        #expect(link.receivesMessages)
        #expect(Firmware.status(try link.exchange(Firmware.clockRateNotify(token: 1), timeoutMilliseconds: Self.timeout)) == .success)

        let receiver = Receiver(link)

        let other = try Agent(socketPath: firmware.paths[1])
        defer { other.leave() }
        try other.client.rateSet(0, rate: 60_000_000)
        for token: UInt16 in 2...20 {  // commands while the receiver waits
            _ = try link.exchange(Firmware.clockRateGet(token: token), timeoutMilliseconds: Self.timeout)
        }
        let reply = try link.exchange(Firmware.clockRateSet(token: 21, rate: 90_000_000, asynchronous: true), timeoutMilliseconds: Self.timeout)
        #expect(Firmware.status(reply) == .success)

        let expected = [Firmware.rateChanged(by: 2, rate: 60_000_000), Firmware.rateSetComplete(token: 21, rate: 90_000_000),
                        Firmware.rateChanged(by: 1, rate: 90_000_000)]
        #expect(eventually { receiver.hasReceived(expected) })
        #expect(receiver.stop() == nil)
    }

    /// A device with the cmdq alone (GET_QUEUE_NUM says 1) is served
    /// without an eventq: commands work, and `receive` has nothing to give.
    @Test func aDeviceWithoutAnEventQueueServesCommands() throws {
        let firmware = try FaultyFirmware(queueCount: 1)
        let link = try VhostUserLink(socketPath: firmware.path, timeoutMilliseconds: Self.timeout)
        defer { link.close() }
        #expect(!link.receivesMessages)
        #expect(try link.exchange(Firmware.clockRateGet(token: 1), timeoutMilliseconds: Self.timeout)
            == Firmware.rateReply(token: 1, rate: 24_000_000))
        #expect(try link.receive(timeoutMilliseconds: 10) { _ in } == 0)
    }

    /// A firmware that holds a command past the timeout: `.timedOut`. When it
    /// answers later, that reply (to another command, with another token) is
    /// dropped: the next command gets its own reply, which shows the late
    /// command did take effect at the firmware.
    @Test func aLateReplyIsNeverTakenForTheNextCommands() throws {
        let firmware = try FaultyFirmware()
        let link = try connectUpstream(.vhostUser(path: firmware.path), timeoutMilliseconds: Self.timeout)
        defer { link.close() }
        firmware.device.set(.hold)
        #expect(upstreamError { () throws(UpstreamError) in
            try link.exchange(Firmware.clockRateSet(token: 1, rate: 50_000_000), timeoutMilliseconds: 100)
        } == .timedOut(milliseconds: 100))
        #expect(eventually { firmware.device.heldCount.load(ordering: .acquiring) == 1 })
        firmware.device.set(.none)
        firmware.device.releaseHeld()
        #expect(eventually { firmware.device.lateAnswers.load(ordering: .acquiring) == 1 })
        #expect(try link.exchange(Firmware.clockRateGet(token: 2), timeoutMilliseconds: Self.timeout)
            == Firmware.rateReply(token: 2, rate: 50_000_000))
    }

    /// A firmware that never answers: every command times out, each keeping
    /// its slot, until none is left; then the link says it is unusable
    /// (`.disconnected`: the upstream host makes a new one), without hanging.
    @Test func aFirmwareThatNeverAnswersUsesUpTheLink() throws {
        let firmware = try FaultyFirmware()
        let link = try connectUpstream(.vhostUser(path: firmware.path), timeoutMilliseconds: Self.timeout)
        defer { link.close() }
        firmware.device.set(.hold)
        var timeouts = 0
        var last: UpstreamError?
        for token: UInt16 in 1...200 {
            last = upstreamError { () throws(UpstreamError) in try link.exchange(Firmware.clockRateGet(token: token), timeoutMilliseconds: 10) }
            guard last == .timedOut(milliseconds: 10) else { break }
            timeouts += 1
        }
        #expect(timeouts > 0 && timeouts < 200)
        #expect(isDisconnected(last, saying: "slots"))
    }

    /// Replies that do not answer the command — another token, another
    /// message id, no status, a delayed response's type — are `.malformed`,
    /// and the link keeps working for the next command.
    @Test(arguments: [FaultyDevice.Fault.wrongToken, .wrongMessage, .shortReply, .wrongType])
    func aReplyThatDoesNotAnswerTheCommandIsMalformed(_ fault: FaultyDevice.Fault) throws {
        let firmware = try FaultyFirmware()
        let link = try connectUpstream(.vhostUser(path: firmware.path), timeoutMilliseconds: Self.timeout)
        defer { link.close() }
        firmware.device.set(fault)
        #expect(isMalformed(upstreamError { () throws(UpstreamError) in
            try link.exchange(Firmware.clockRateGet(token: 3), timeoutMilliseconds: Self.timeout)
        }))
        firmware.device.set(.none)
        #expect(try link.exchange(Firmware.clockRateGet(token: 4), timeoutMilliseconds: Self.timeout)
            == Firmware.rateReply(token: 4, rate: 24_000_000))
    }

    /// The firmware stops while a command waits for its reply: `.disconnected`
    /// (not `.timedOut` after ten minutes), no crash, and every later call too.
    @Test func theFirmwareStoppingEndsAWaitingCommand() throws {
        let firmware = try FaultyFirmware()
        let link = try connectUpstream(.vhostUser(path: firmware.path), timeoutMilliseconds: Self.timeout)
        defer { link.close() }
        firmware.device.set(.hold)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            _ = eventually { firmware.device.heldCount.load(ordering: .acquiring) == 1 }
            firmware.backend.stop()
        }
        let error = upstreamError { () throws(UpstreamError) in try link.exchange(Firmware.clockRateGet(token: 1), timeoutMilliseconds: 600_000) }
        group.wait()
        // The backend gives the held chain back empty as it stops, or the
        // socket closes first: either way the command is not answered.
        #expect(isDisconnected(error))
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in try link.exchange(Firmware.clockRateGet(token: 2), timeoutMilliseconds: 100) }))
    }

    /// The firmware stops while `receive` waits on the eventq: `.disconnected`.
    @Test func theFirmwareStoppingEndsAWaitingReceive() throws {
        let firmware = try VhostUserFirmware()
        let link = try connectUpstream(.vhostUser(path: firmware.upstreamPath), timeoutMilliseconds: Self.timeout)
        defer { link.close() }
        _ = try link.exchange(Firmware.clockRateNotify(token: 1), timeoutMilliseconds: Self.timeout)
        let group = DispatchGroup()
        let outcome = Mutex<UpstreamError?>(nil)
        DispatchQueue.global().async(group: group) {
            let error = upstreamError { () throws(UpstreamError) in
                while true { _ = try link.receive(timeoutMilliseconds: 600_000) { _ in } }
            }
            outcome.withLock { $0 = error }
        }
        // Whether or not the receiver already waits, it must end.
        firmware.backends[0].stop()
        group.wait()
        #expect(isDisconnected(outcome.withLock { $0 }))
    }

    /// `close()` ends the connection as a guest's shutdown does: the firmware
    /// withdraws the link's requests (the other agent reads the initial rate
    /// again), and the link's later calls are `.disconnected`.
    @Test func closeLeavesTheFirmware() throws {
        let firmware = try VhostUserFirmware()
        let link = try connectUpstream(.vhostUser(path: firmware.upstreamPath), timeoutMilliseconds: Self.timeout)
        #expect(Firmware.status(try link.exchange(Firmware.clockRateSet(token: 1, rate: 70_000_000), timeoutMilliseconds: Self.timeout)) == .success)
        let other = try Agent(socketPath: firmware.paths[1])
        defer { other.leave() }
        #expect(try other.client.rateGet(0) == 70_000_000)
        link.close()
        #expect(eventually { (try? other.client.rateGet(0)) == 24_000_000 })
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in try link.exchange(Firmware.clockRateGet(token: 2), timeoutMilliseconds: 100) }, saying: "closed"))
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in try link.receive(timeoutMilliseconds: 100) { _ in } }, saying: "closed"))
    }

    /// Nothing listening at the path: `.disconnected` naming it.
    @Test func connectingToNothingNamesThePath() {
        let path = Firmware.socketPath("absent")
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in
            try connectUpstream(.vhostUser(path: path), timeoutMilliseconds: 1000)
        }, saying: path))
    }
}
