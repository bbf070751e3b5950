import Dispatch
import Glibc
import Logging
import SCMIPlatform
import Synchronization
import TestKit
import Testing
import VhostUser
import Virtqueue
@testable import VirtioSCMI

/// The platform → agent path through the real transport: an `SCMIOutbox` filled
/// from another thread, the SCMI device on a real vhost-user backend (socket,
/// memfd guest memory, eventfds), and a real frontend's eventq.
@Suite struct PlatformToAgentTests {
    static let counter = Atomic<Int>(0)

    /// A backend serving one SCMI agent session with an outbox.
    final class Fixture {
        let path: String
        let backend: VhostUserBackend
        let platform = SCMIPlatform(tables: SCMIChainHandlerTests.tables)
        let outbox: SCMIOutbox

        init(description: VhostUserDeviceDescription) throws {
            path = "/tmp/scmi-dt-p2a-\(getpid())-\(PlatformToAgentTests.counter.add(1, ordering: .relaxed).newValue).sock"
            let outbox = try SCMIOutbox()
            self.outbox = outbox
            let session = platform.makeSession(agentID: 1)!
            backend = try VhostUserBackend(
                socketPath: path, device: description, logger: Logger(label: "p2a-test"),
                makeHandler: {
                    SCMIChainHandler(session: session, agentName: "guest", logger: Logger(label: "p2a-test"),
                                     trace: false, outbox: outbox)
                })
            try backend.start()
        }

        deinit { backend.stop() }

        func frontend(p2a: Bool) throws -> VhostUserFrontend {
            var options = VhostUserFrontendOptions()
            options.queueSize = 64
            options.slotCount = 4
            options.bufferSize = 256
            options.startsEventQueue = true
            options.eventBufferCount = 0  // the test posts its own eventq buffers
            options.wantedDeviceFeatures = p2a ? SCMIVirtioDevice.p2aChannels : 0
            return try VhostUserFrontend(socketPath: path, options: options)
        }
    }


    static let protocolVersion = SCMIChainHandlerTests.words(SCMIChainHandlerTests.header(0x10, 0))

    /// A notification-sized message (header + 128 bytes, the virtio-scmi maximum
    /// but the status word) and a short one, posted from another thread, reach
    /// two eventq buffers byte for byte, in order, with their used lengths; the
    /// call eventfd of the eventq is written. The cmdq keeps answering.
    @Test func outboxMessagesReachEventQueueBuffers() throws {
        let fixture = try Fixture(description: SCMIVirtioDevice.description)
        let frontend = try fixture.frontend(p2a: true)
        defer { frontend.close() }
        #expect(frontend.ackedFeatures & SCMIVirtioDevice.p2aChannels != 0)

        let first = try #require(frontend.postEventBuffer(offset: 0, length: SCMIOutbox.slotSize))
        let second = try #require(frontend.postEventBuffer(offset: 256, length: SCMIOutbox.slotSize))
        let long: [UInt8] = SCMIChainHandlerTests.words(SCMIChainHandlerTests.header(0x14, 0x0, token: 0) | 3 << 8)
            + (0..<(SCMIOutbox.slotSize - 4)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        let short: [UInt8] = SCMIChainHandlerTests.words(SCMIChainHandlerTests.header(0x14, 0x1, token: 0) | 3 << 8, 0, 1)
        let outbox = fixture.outbox
        let posted = Atomic<Int>(0)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            if outbox.post(long) { posted.add(1, ordering: .relaxed) }
            if outbox.post(short) { posted.add(1, ordering: .relaxed) }
        }
        group.wait()
        #expect(posted.load(ordering: .relaxed) == 2)

        let (used, calls) = frontend.usedElementsAndCalls(queue: 1, count: 2)
        // The eventq's call eventfd was written (perhaps after both were already seen).
        #expect(calls >= 1 || frontend.waitForCall(queue: 1, timeoutMilliseconds: 10_000))
        #expect(used == [UsedElement(id: UInt32(first), length: UInt32(long.count)),
                         UsedElement(id: UInt32(second), length: UInt32(short.count))])
        let memory = frontend.scratch(offset: 0).pointer
        #expect(Array(UnsafeRawBufferPointer(start: memory, count: long.count)) == long)
        #expect(Array(UnsafeRawBufferPointer(start: memory + 256, count: SCMIOutbox.slotSize))
            == short + [UInt8](repeating: 0xEE, count: SCMIOutbox.slotSize - short.count))
        #expect(fixture.outbox.count == 0)

        // The cmdq is served on the same worker, synchronously as before.
        let reply = try frontend.exchange(request: Self.protocolVersion, responseCapacity: 64)
        #expect(Array(reply.prefix(8)) == Self.protocolVersion + [0, 0, 0, 0])

        // QEMU's stop (SET_VRING_ENABLE 0, GET_VRING_BASE per queue): each queue
        // reports where it stopped, the eventq after the two buffers it used.
        #expect(frontend.close() == [1, 2])
    }

    /// Without VIRTIO_SCMI_F_P2A_CHANNELS negotiated nothing is taken from the
    /// eventq, whatever the outbox holds: after a post and a full cmdq round trip
    /// (which the same connection serves), its buffer is untouched and unused.
    @Test func withoutP2ANothingReachesTheEventQueue() throws {
        let fixture = try Fixture(description: SCMIVirtioDevice.description)
        let frontend = try fixture.frontend(p2a: false)
        defer { frontend.close() }
        #expect(frontend.ackedFeatures & SCMIVirtioDevice.p2aChannels == 0)
        _ = try #require(frontend.postEventBuffer(offset: 0, length: 16))
        #expect(fixture.outbox.post([1, 2, 3, 4]))
        let reply = try frontend.exchange(request: Self.protocolVersion, responseCapacity: 64)
        #expect(Array(reply.prefix(8)) == Self.protocolVersion + [0, 0, 0, 0])
        #expect(frontend.driverQueue(1).usedIndexInMemory == 0)
        #expect(Array(UnsafeRawBufferPointer(start: frontend.scratch(offset: 0).pointer, count: 16))
            == [UInt8](repeating: 0xEE, count: 16))
        #expect(fixture.outbox.count == 1)
    }

    /// serve's description offers P2A; only the cmdq's chains reach the handler.
    @Test func serveOffersP2A() {
        #expect(SCMIVirtioDevice.description.offeredFeatures & SCMIVirtioDevice.p2aChannels != 0)
        #expect(SCMIVirtioDevice.description.handledQueues == [0])
    }

    /// The outbox is bounded: a notification that finds it full pushes out the
    /// oldest waiting notification (counted), never a delayed response; delayed
    /// responses past their bound and messages longer than a slot are refused;
    /// messages come out oldest first across both kinds.
    @Test func outboxIsABoundedFifo() throws {
        let outbox = try SCMIOutbox(notificationCapacity: 2, delayedResponseCapacity: 1)
        #expect(outbox.post([9], kind: .delayedResponse))
        #expect(outbox.post([1]))
        #expect(outbox.post([2, 2]))
        #expect(outbox.post([3]))  // pushes out [1]
        #expect(!outbox.post([8], kind: .delayedResponse))
        #expect(!outbox.post([UInt8](repeating: 0, count: SCMIOutbox.slotSize + 1)))
        #expect(outbox.dropped == 3)
        #expect(outbox.delayedResponsesWaiting == 1)
        #expect(EventNotifier.wait(outbox.notifier, timeoutMilliseconds: 0))  // written once, on the first post
        var seen: [[UInt8]] = []
        #expect(!outbox.deliverFirst { _, _ in .noBuffer })  // kept
        while outbox.deliverFirst({ message, _ in seen.append(Array(message)); return .delivered }) {}
        #expect(seen == [[9], [2, 2], [3]])
        #expect(outbox.count == 0)
        #expect(outbox.sent == 3)
        #expect(outbox.delayedResponsesWaiting == 0)
    }
}

