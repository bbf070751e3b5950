import Glibc
import Logging
import ResourceTables
import SCMIPlatform
import Synchronization
import TestKit
import Testing
import VhostUser
import Virtqueue
@testable import VirtioSCMI

/// Notifications and delayed responses from the real engine through the real
/// device to a real frontend's eventq (split rings in memfd memory, eventfds,
/// the vhost-user socket): two agents sharing clock 0, each behind its own
/// backend, each connection with its own session and outbox as serve makes them.
@Suite struct EventQueueTests {
    static let counter = Atomic<Int>(0)

    static let tables = PlatformTables(
        vendor: "TEST", protocols: [.clock],
        clocks: [ClockEntry(id: 0, name: "core", providerPath: "/ccu", specifier: [0],
                            rates: .range(min: 1_000_000, max: 100_000_000, step: 1_000_000), initialRate: 24_000_000)],
        devices: [DeviceEntry(id: 1, name: "dev", path: "/d", resources: [ResourceReference(.clock, 0)])],
        agents: [AgentEntry(id: 1, name: "a", devices: [1], protocols: [.clock], trusted: false),
                 AgentEntry(id: 2, name: "b", devices: [1], protocols: [.clock], trusted: false)])

    /// The same board with a constant sensor polled every 2 ms, used by both agents.
    static let sensorTables: PlatformTables = {
        var tables = EventQueueTests.tables
        tables.protocols = [.clock, .sensor]
        tables.sensors = [SensorEntry(id: 0, name: "temp", type: .temperature, unitExponent: -3, source: .constant(42_000),
                                      intervalMilliseconds: 2)]
        tables.devices[0].resources.append(ResourceReference(.sensor, 0))
        for index in tables.agents.indices { tables.agents[index].protocols.append(.sensor) }
        return tables
    }()

    final class Fixture {
        let platform: SCMIPlatform
        var paths: [String] = []
        var backends: [VhostUserBackend] = []

        /// With `trace`, the devices log as `serve --trace` does, into `log`.
        let log = LogRecorder()

        init(tables: PlatformTables = EventQueueTests.tables, trace: Bool = false) throws {
            platform = SCMIPlatform(tables: tables)
            let logger = trace ? log.logger : Logger(label: "eventq-test")
            for agentID: UInt32 in [1, 2] {
                let path = "/tmp/scmi-dt-eventq-\(getpid())-\(EventQueueTests.counter.add(1, ordering: .relaxed).newValue).sock"
                let platform = platform
                let backend = try VhostUserBackend(
                    socketPath: path, device: SCMIVirtioDevice.description, logger: Logger(label: "eventq-test"),
                    makeHandler: {
                        SCMIChainHandler(session: platform.makeSession(agentID: agentID)!, agentName: "agent\(agentID)",
                                         logger: logger, trace: trace, outbox: try? SCMIOutbox())
                    })
                try backend.start()
                paths.append(path)
                backends.append(backend)
            }
        }

        deinit { backends.forEach { $0.stop() } }

        /// A frontend for agent `agentID` (1 or 2) with P2A and no eventq buffers yet.
        func frontend(_ agentID: UInt32, queueSize: Int = 128) throws -> VhostUserFrontend {
            var options = VhostUserFrontendOptions()
            options.queueSize = queueSize
            options.slotCount = 4
            options.bufferSize = 256
            options.startsEventQueue = true
            options.eventBufferCount = 0
            options.wantedDeviceFeatures = SCMIVirtioDevice.p2aChannels
            return try VhostUserFrontend(socketPath: paths[Int(agentID) - 1], options: options)
        }

        func delivery(_ agentID: UInt32) -> EventDeliverySnapshot {
            platform.eventDelivery().first { $0.agentID == agentID }!
        }
    }

    static func words(_ values: UInt32...) -> [UInt8] { bytes(values) }

    static func bytes(_ values: [UInt32]) -> [UInt8] {
        values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    }

    static func command(_ messageID: UInt8, token: UInt16, _ parameters: UInt32...) -> [UInt8] {
        command(0x14, messageID, token: token, parameters)
    }

    static func command(_ protocolID: UInt8, _ messageID: UInt8, token: UInt16, _ parameters: [UInt32]) -> [UInt8] {
        bytes([MessageHeader(protocolID: protocolID, messageID: messageID, token: token).rawValue] + parameters)
    }

    static func rateChanged(by agent: UInt32, rate: UInt32) -> [UInt8] {
        bytes([MessageHeader(protocolID: 0x14, messageID: 0, type: .notification).rawValue, agent, 0, rate, 0])
    }

    /// Sends one command and checks its synchronous status.
    static func expectStatus(_ frontend: VhostUserFrontend, _ request: [UInt8], _ status: SCMIStatus) throws {
        let reply = try frontend.exchange(request: request, responseCapacity: 64)
        #expect(reply.count >= 8 && Int32(bitPattern: UInt32(reply[4]) | UInt32(reply[5]) << 8 | UInt32(reply[6]) << 16 | UInt32(reply[7]) << 24) == status.rawValue)
    }

    static func bytes(_ frontend: VhostUserFrontend, at offset: Int, _ count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: frontend.scratch(offset: offset).pointer, count: count))
    }

    /// Agent 1 subscribes and sends an asynchronous CLOCK_RATE_SET without
    /// waiting for its reply: the eventq gets CLOCK_RATE_CHANGED (agent 1
    /// caused it) then CLOCK_RATE_SET_COMPLETE with the command's token, one
    /// per buffer, in order; by the time the delayed response is in the eventq
    /// the synchronous SUCCESS is already on the cmdq's used ring.
    @Test func deliveryOrderAndDelayedResponseAfterTheSynchronousReply() throws {
        let fixture = try Fixture()
        let a = try fixture.frontend(1)
        defer { a.close() }
        try Self.expectStatus(a, Self.command(0x9, token: 1, 0, 1), .success)
        let first = try #require(a.postEventBuffer(offset: 0, length: 136))
        let second = try #require(a.postEventBuffer(offset: 256, length: 136))

        let request = Self.command(0x5, token: 0x77, 1, 0, 48_000_000, 0)
        let slot = a.requestBuffer(slot: 0)
        request.withUnsafeBytes { slot.copyMemory(from: $0) }
        try a.submit(slot: 0, requestLength: request.count, responseCapacity: 64)
        a.kick()

        let (used, _) = a.usedElementsAndCalls(queue: 1, count: 2)
        #expect(a.driverQueue(0).usedIndexInMemory == 2)  // the NOTIFY and the RATE_SET replies
        let delayed = Self.words(MessageHeader(protocolID: 0x14, messageID: 0x5, type: .delayedResponse, token: 0x77).rawValue,
                                 0, 0, 48_000_000, 0)
        let changed = Self.rateChanged(by: 1, rate: 48_000_000)
        #expect(used == [UsedElement(id: UInt32(first), length: UInt32(changed.count)),
                         UsedElement(id: UInt32(second), length: UInt32(delayed.count))])
        #expect(Self.bytes(a, at: 0, changed.count) == changed)
        #expect(Self.bytes(a, at: 256, delayed.count) == delayed)
        try a.waitForCompletions()
        var status: Int32 = 1
        _ = a.collect { _, response in status = response.loadUnaligned(fromByteOffset: 4, as: Int32.self) }
        #expect(status == 0)
        #expect(fixture.delivery(1).notificationsSent == 2)
        #expect(fixture.delivery(1).asyncPending == 0)
    }

    /// serve --trace logs each message it writes into an eventq buffer: the
    /// notification by name, the delayed response with its command's token
    /// (the same as on the command's own line) and its status.
    @Test func traceNamesEachEventQueueMessage() throws {
        let fixture = try Fixture(trace: true)
        let a = try fixture.frontend(1)
        defer { a.close() }
        try Self.expectStatus(a, Self.command(0x9, token: 1, 0, 1), .success)
        _ = try #require(a.postEventBuffer(offset: 0, length: 136))
        _ = try #require(a.postEventBuffer(offset: 256, length: 136))
        try Self.expectStatus(a, Self.command(0x5, token: 0x77, 1, 0, 48_000_000, 0), .success)
        _ = a.usedElementsAndCalls(queue: 1, count: 2)

        #expect(fixture.log.contains("agent 1 agent1: CLOCK CLOCK_RATE_SET (0x14/0x5 token 119) -> SUCCESS (0), "))
        #expect(fixture.log.contains("agent 1 agent1: notification CLOCK CLOCK_RATE_CHANGED (0x14/0x0), on the eventq"))
        #expect(fixture.log.contains("agent 1 agent1: delayed response CLOCK CLOCK_RATE_SET (0x14/0x5 token 119) -> SUCCESS (0), on the eventq"))
        // A synchronous set has no delayed response, so no line for it.
        try Self.expectStatus(a, Self.command(0x5, token: 0x78, 0, 0, 24_000_000, 0), .success)
        _ = try #require(a.postEventBuffer(offset: 512, length: 136))
        _ = a.usedElementsAndCalls(queue: 1, count: 1)
        #expect(!fixture.log.contains("delayed response CLOCK CLOCK_RATE_SET (0x14/0x5 token 120)"))
        #expect(fixture.log.lines.withLock { $0.filter { $0.contains("on the eventq") }.count } == 3)
    }

    /// A buffer too short for the message goes back with length 0: a
    /// notification is then dropped (counted), a delayed response waits for
    /// the next buffer.
    @Test func bufferTooShort() throws {
        let fixture = try Fixture()
        let a = try fixture.frontend(1)
        let b = try fixture.frontend(2)
        defer { a.close(); b.close() }
        try Self.expectStatus(a, Self.command(0x9, token: 1, 0, 1), .success)
        let short = try #require(a.postEventBuffer(offset: 0, length: 8))
        try Self.expectStatus(b, Self.command(0x5, token: 2, 0, 0, 48_000_000, 0), .success)
        #expect(a.usedElementsAndCalls(queue: 1, count: 1).used == [UsedElement(id: UInt32(short), length: 0)])
        #expect(fixture.delivery(1).dropped == 1)

        try Self.expectStatus(a, Self.command(0x9, token: 3, 0, 0), .success)  // unsubscribed
        let tooShort = try #require(a.postEventBuffer(offset: 256, length: 8))
        try Self.expectStatus(a, Self.command(0x5, token: 4, 1, 0, 50_000_000, 0), .success)
        #expect(a.usedElementsAndCalls(queue: 1, count: 1).used == [UsedElement(id: UInt32(tooShort), length: 0)])
        #expect(fixture.delivery(1).asyncPending == 1)
        let long = try #require(a.postEventBuffer(offset: 512, length: 136))
        #expect(a.usedElementsAndCalls(queue: 1, count: 1).used == [UsedElement(id: UInt32(long), length: 20)])
        #expect(Self.bytes(a, at: 512, 8) == Self.words(
            MessageHeader(protocolID: 0x14, messageID: 0x5, type: .delayedResponse, token: 4).rawValue, 0))
        #expect(fixture.delivery(1).dropped == 1)
        #expect(fixture.delivery(1).asyncPending == 0)
    }

    /// Agent 1 posts no eventq buffers while agent 2 changes the rate 100
    /// times: agent 2 receives all 100 of its own notifications; agent 1's
    /// pile-up stops at 64 (36 dropped, oldest first), and when it posts
    /// buffers it gets the 64 newest, in order.
    @Test func noBuffersBoundedPileUpWhileAnotherConnectionReceives() throws {
        let fixture = try Fixture()
        let a = try fixture.frontend(1)
        let b = try fixture.frontend(2, queueSize: 256)
        defer { a.close(); b.close() }
        try Self.expectStatus(a, Self.command(0x9, token: 1, 0, 1), .success)
        try Self.expectStatus(b, Self.command(0x9, token: 1, 0, 1), .success)
        for index in 0..<100 { _ = b.postEventBuffer(offset: index * 136, length: 136) }
        // 25 MHz ... 124 MHz would leave the range; alternate within it.
        let rates: [UInt32] = (0..<100).map { index in
            let megahertz: Int = (index % 2 == 0 ? 50 : 60) + index % 7
            return UInt32(megahertz) * 1_000_000
        }
        for (token, rate) in rates.enumerated() {
            try Self.expectStatus(b, Self.command(0x5, token: UInt16(token), 0, 0, rate, 0), .success)
        }
        let received = b.usedElementsAndCalls(queue: 1, count: 100).used
        #expect(received.count == 100 && received.allSatisfy { $0.length == 20 })
        #expect(Self.bytes(b, at: 99 * 136, 20) == Self.rateChanged(by: 2, rate: rates[99]))
        // Only changes of the physical rate notify: every one here is one (consecutive rates differ).
        var delivery = fixture.delivery(1)
        #expect(delivery.waiting == 64)
        #expect(delivery.dropped == 36)
        #expect(delivery.subscriptions.count == 1)

        for index in 0..<64 { _ = a.postEventBuffer(offset: index * 136, length: 136) }
        let caughtUp = a.usedElementsAndCalls(queue: 1, count: 64).used
        #expect(caughtUp.count == 64)
        #expect(Self.bytes(a, at: 0, 20) == Self.rateChanged(by: 2, rate: rates[36]))
        #expect(Self.bytes(a, at: 63 * 136, 20) == Self.rateChanged(by: 2, rate: rates[99]))
        delivery = fixture.delivery(1)
        #expect(delivery.waiting == 0 && delivery.notificationsSent == 64)
    }

    /// The end of agent 2's connection withdraws its rate: agent 1 is told.
    @Test func disconnectIsNotifiedToTheOthers() throws {
        let fixture = try Fixture()
        let a = try fixture.frontend(1)
        defer { a.close() }
        try Self.expectStatus(a, Self.command(0x9, token: 1, 0, 1), .success)
        _ = a.postEventBuffer(offset: 0, length: 136)
        _ = a.postEventBuffer(offset: 256, length: 136)
        let b = try fixture.frontend(2)
        try Self.expectStatus(b, Self.command(0x5, token: 2, 0, 0, 90_000_000, 0), .success)
        b.disconnect()
        let used = a.usedElementsAndCalls(queue: 1, count: 2).used
        #expect(used.count == 2)
        #expect(Self.bytes(a, at: 0, 20) == Self.rateChanged(by: 2, rate: 90_000_000))
        #expect(Self.bytes(a, at: 256, 20) == Self.rateChanged(by: 2, rate: 24_000_000))
    }

    /// Agent 1 subscribes to a sensor's updates and posts no eventq buffers
    /// while the poller sends one every 2 ms: the waiting updates stop at
    /// 64 and the rest are dropped, oldest first. An asynchronous reading
    /// asked meanwhile is not dropped: once buffers come, its
    /// SENSOR_READING_COMPLETE arrives among the updates.
    @Test func sensorUpdatesPileUpBoundedAndTheReadingStillArrives() throws {
        let fixture = try Fixture(tables: Self.sensorTables)
        let a = try fixture.frontend(1, queueSize: 256)
        defer { a.close() }
        func sensorCommand(_ messageID: UInt8, token: UInt16, _ parameters: UInt32...) -> [UInt8] {
            Self.bytes([MessageHeader(protocolID: 0x15, messageID: messageID, token: token).rawValue] + parameters)
        }
        try Self.expectStatus(a, sensorCommand(0xB, token: 1, 0, 1), .success)
        #expect(eventually { fixture.delivery(1).dropped > 100 })
        #expect(fixture.delivery(1).waiting == 64)
        try Self.expectStatus(a, sensorCommand(0x6, token: 0x99, 0, 1), .success)
        #expect(eventually { fixture.delivery(1).asyncPending == 1 })
        #expect(fixture.delivery(1).waiting == 65)

        var offsets: [UInt32: Int] = [:]
        for index in 0..<100 { offsets[UInt32(try #require(a.postEventBuffer(offset: index * 136, length: 136)))] = index * 136 }
        let received = a.usedElementsAndCalls(queue: 1, count: 66).used
        #expect(received.count >= 66)
        let update = Self.words(MessageHeader(protocolID: 0x15, messageID: 0x1, type: .notification).rawValue, 0, 0, 42_000, 0, 0, 0)
        let complete = Self.words(MessageHeader(protocolID: 0x15, messageID: 0x6, type: .delayedResponse, token: 0x99).rawValue,
                                  0, 0, 42_000, 0, 0, 0)
        let messages = received.map { Self.bytes(a, at: offsets[$0.id] ?? 0, Int($0.length)) }
        #expect(messages.filter { $0 == complete }.count == 1)
        #expect(messages.allSatisfy { $0 == update || $0 == complete })
        #expect(fixture.delivery(1).asyncPending == 0)
    }
}
