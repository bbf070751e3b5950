import Dispatch
import Foundation
import Glibc
import SCMIClient
import SCMIUpstream
import SCMIWire
import Synchronization
import TestKit
import Testing

/// `serve --upstream raw:DIR`. No machine here has Linux's raw mode over an
/// SCMI firmware, so these tests use real files that behave like its files
/// where the link depends on it (RawModeDouble: pseudo-terminals answered by
/// the real engine), and real paths for what goes wrong before any message.
@Suite struct RawLinkTests {
    static let timeout = 10_000

    /// A directory of the test's own, removed afterwards.
    static func scratchDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("scmi-dt-rawerr-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    // MARK: Before any message

    @Test func aMissingDirectoryIsNamed() throws {
        let directory = try Self.scratchDirectory() + "/absent"
        let error = upstreamError { () throws(UpstreamError) in try connectUpstream(.raw(directory: directory), timeoutMilliseconds: 100) }
        #expect(isDisconnected(error, saying: "raw:\(directory): No such file or directory"))
        #expect(isDisconnected(error, saying: "CONFIG_ARM_SCMI_RAW_MODE_SUPPORT"))
    }

    @Test func aFileInsteadOfTheDirectoryIsNamed() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/raw"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in try RawLink(directory: file) }, saying: "raw:\(file): not a directory"))
    }

    /// A directory without raw mode's files: the first one missing is named.
    @Test func aMissingMessageFileIsNamed() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in try RawLink(directory: directory) },
                               saying: "\(directory)/message: No such file or directory"))
        #expect(FileManager.default.createFile(atPath: directory + "/message", contents: Data()))
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in try RawLink(directory: directory + "/") },
                               saying: "\(directory)/message_async: No such file or directory"))
    }

    /// A `message` the process may not write: a read-only sysfs attribute,
    /// which refuses writers whoever they are (root too, unlike a chmod).
    @Test func permissionDeniedIsNamed() throws {
        let directory = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createSymbolicLink(atPath: directory + "/message", withDestinationPath: "/sys/devices/system/cpu/online")
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in try RawLink(directory: directory) },
                               saying: "\(directory)/message: Permission denied (raw mode's files are root's)"))
    }

    // MARK: Commands

    /// A command written to `message` comes back as the engine answered it;
    /// SCMIClient works over the link; a change through the link is what
    /// another agent of the firmware reads.
    @Test func commandsReachTheFirmware() throws {
        let double = try RawModeDouble()
        defer { double.hangUp() }
        let link = try connectUpstream(.raw(directory: double.directory), timeoutMilliseconds: Self.timeout)
        defer { link.close() }
        #expect(try link.exchange(Firmware.clockRateGet(token: 5), timeoutMilliseconds: Self.timeout)
            == Firmware.rateReply(token: 5, rate: 24_000_000))
        let client = SCMIClient(transport: UpstreamClientTransport(link: link, timeoutMilliseconds: Self.timeout))
        #expect(try client.vendor() == "FW")
        try client.rateSet(0, rate: 40_000_000)
        #expect(double.asOtherAgent(Firmware.clockRateGet(token: 1)) == Firmware.rateReply(token: 1, rate: 40_000_000))
        #expect(double.commandsRead == [3, 0])
    }

    /// An asynchronous CLOCK_RATE_SET goes to `message_async`; its reply comes
    /// back from `exchange`, its delayed response through `receive`.
    @Test func aDelayedResponseArrivesThroughReceive() throws {
        let double = try RawModeDouble()
        defer { double.hangUp() }
        let link = try RawLink(directory: double.directory)
        defer { link.close() }
        let reply = try link.exchange(Firmware.clockRateSet(token: 9, rate: 80_000_000, asynchronous: true), timeoutMilliseconds: Self.timeout)
        #expect(Firmware.status(reply) == .success)
        #expect(double.commandsRead == [0, 1])
        var received: [[UInt8]] = []
        #expect(eventually {
            _ = try? link.receive(timeoutMilliseconds: 50) { received.append($0) }
            return received.contains(Firmware.rateSetComplete(token: 9, rate: 80_000_000))
        })
    }

    /// Notifications are read from `notification` by `receive` on another
    /// thread while this one sends commands: CLOCK_RATE_CHANGED after
    /// another agent changed the rate.
    @Test func notificationsArriveThroughReceive() throws {
        let double = try RawModeDouble()
        defer { double.hangUp() }
        let link = try RawLink(directory: double.directory)
        defer { link.close() }
        #expect(Firmware.status(try link.exchange(Firmware.clockRateNotify(token: 1), timeoutMilliseconds: Self.timeout)) == .success)

        let receiver = Receiver(link)
        #expect(Firmware.status(double.asOtherAgent(Firmware.clockRateSet(token: 1, rate: 66_000_000))) == .success)
        for token: UInt16 in 2...20 {
            _ = try link.exchange(Firmware.clockRateGet(token: token), timeoutMilliseconds: Self.timeout)
        }
        #expect(eventually { receiver.hasReceived([Firmware.rateChanged(by: 2, rate: 66_000_000)]) })
        #expect(receiver.stop() == nil)
    }

    // MARK: Faults

    /// Nothing comes back within the timeout: `.timedOut`. The reply that
    /// comes later is dropped, and the next command gets its own.
    @Test func aLateReplyIsNeverTakenForTheNextCommands() throws {
        let double = try RawModeDouble()
        defer { double.hangUp() }
        let link = try RawLink(directory: double.directory)
        defer { link.close() }
        double.set(.silent)
        #expect(upstreamError { () throws(UpstreamError) in
            try link.exchange(Firmware.clockRateSet(token: 1, rate: 20_000_000), timeoutMilliseconds: 100)
        } == .timedOut(milliseconds: 100))
        #expect(eventually { double.heldCount == 1 })
        double.set(.answer)
        double.answerHeld()
        #expect(try link.exchange(Firmware.clockRateGet(token: 2), timeoutMilliseconds: Self.timeout)
            == Firmware.rateReply(token: 2, rate: 20_000_000))
    }

    /// A reply with another token (and no command waiting for it), or
    /// without a status: `.malformed`; the link works for the next command.
    @Test(arguments: [RawModeDouble.Behaviour.wrongToken, .shortReply])
    func aReplyThatDoesNotAnswerTheCommandIsMalformed(_ behaviour: RawModeDouble.Behaviour) throws {
        let double = try RawModeDouble()
        defer { double.hangUp() }
        let link = try RawLink(directory: double.directory)
        defer { link.close() }
        double.set(behaviour)
        #expect(isMalformed(upstreamError { () throws(UpstreamError) in
            try link.exchange(Firmware.clockRateGet(token: 3), timeoutMilliseconds: Self.timeout)
        }))
        double.set(.answer)
        #expect(try link.exchange(Firmware.clockRateGet(token: 4), timeoutMilliseconds: Self.timeout)
            == Firmware.rateReply(token: 4, rate: 24_000_000))
    }

    /// The files stop working (the terminals hang up, as raw mode's files
    /// do when the SCMI instance goes): `.disconnected` naming the file,
    /// from `exchange` and from `receive`, no crash.
    @Test func filesThatStopWorkingDisconnect() throws {
        let double = try RawModeDouble()
        defer { double.hangUp() }  // again: it is idempotent
        let link = try RawLink(directory: double.directory)
        defer { link.close() }
        _ = try link.exchange(Firmware.clockRateGet(token: 1), timeoutMilliseconds: Self.timeout)
        double.hangUp()
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in
            try link.exchange(Firmware.clockRateGet(token: 2), timeoutMilliseconds: Self.timeout)
        }, saying: double.directory + "/message"))
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in try link.receive(timeoutMilliseconds: Self.timeout) { _ in } },
                               saying: double.directory + "/notification"))
    }

    /// `close()` on another thread wakes a command waiting for a reply and a
    /// receive waiting for a message; later calls are `.disconnected`.
    @Test func closeWakesEveryWaiter() throws {
        let double = try RawModeDouble()
        defer { double.hangUp() }
        let link = try RawLink(directory: double.directory)
        double.set(.silent)
        let group = DispatchGroup()
        let receiveOutcome = Mutex<UpstreamError?>(nil)
        DispatchQueue.global().async(group: group) {
            let error = upstreamError { () throws(UpstreamError) in
                while true { _ = try link.receive(timeoutMilliseconds: 600_000) { _ in } }
            }
            receiveOutcome.withLock { $0 = error }
        }
        DispatchQueue.global().async(group: group) {
            _ = eventually { double.heldCount == 1 }
            link.close()
        }
        let error = upstreamError { () throws(UpstreamError) in try link.exchange(Firmware.clockRateGet(token: 1), timeoutMilliseconds: 600_000) }
        group.wait()
        #expect(isDisconnected(error, saying: "closed"))
        #expect(isDisconnected(receiveOutcome.withLock { $0 }, saying: "closed"))
        #expect(isDisconnected(upstreamError { () throws(UpstreamError) in try link.exchange(Firmware.clockRateGet(token: 2), timeoutMilliseconds: 100) }))
    }

    // MARK: Which file a command goes to

    /// Raw mode must be told of a delayed response: exactly the asynchronous
    /// commands that have one go to `message_async`.
    @Test func commandsWithADelayedResponse() {
        #expect(DelayedResponse.follows(Firmware.command(0x14, 0x5, token: 1, 1, 0, 1, 0)))  // CLOCK_RATE_SET async
        #expect(!DelayedResponse.follows(Firmware.command(0x14, 0x5, token: 1, 3, 0, 1, 0)))  // async, no delayed response wanted
        #expect(!DelayedResponse.follows(Firmware.command(0x14, 0x5, token: 1, 0, 0, 1, 0)))  // synchronous
        #expect(DelayedResponse.follows(Firmware.command(0x15, 0x6, token: 1, 0, 1)))  // SENSOR_READING_GET async
        #expect(!DelayedResponse.follows(Firmware.command(0x15, 0x6, token: 1, 0, 0)))
        #expect(DelayedResponse.follows(Firmware.command(0x16, 0x4, token: 1, 0, 0b101, 0)))  // RESET async
        #expect(!DelayedResponse.follows(Firmware.command(0x16, 0x4, token: 1, 0, 0b001, 0)))
        #expect(DelayedResponse.follows(Firmware.command(0x17, 0x7, token: 1, 0, 1, 900_000)))  // VOLTAGE_LEVEL_SET async
        #expect(!DelayedResponse.follows(Firmware.command(0x11, 0x4, token: 1, 1, 0, 0)))  // POWER_STATE_SET: a notification, not a delayed response
        #expect(!DelayedResponse.follows(Firmware.command(0x14, 0x5, token: 1)))  // no parameters
        #expect(!DelayedResponse.follows([0x05]))
    }
}
