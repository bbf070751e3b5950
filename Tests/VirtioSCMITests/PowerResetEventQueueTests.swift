import ResourceTables
import SCMIPlatform
import Testing
import VhostUser
import Virtqueue
@testable import VirtioSCMI

/// Power domain and reset notifications, and RESET_COMPLETE, from the real
/// engine through the real device to real frontends' eventqs: agents 1 and 2
/// share power domain 0 and reset domain 0 (EventQueueTests.Fixture's backends).
@Suite struct PowerResetEventQueueTests {
    static let tables = PlatformTables(
        vendor: "TEST", protocols: [.powerDomain, .reset],
        powerDomains: [ProviderResourceEntry(id: 0, name: "gpu-pd", providerPath: "/pmu", specifier: [3])],
        resetDomains: [ProviderResourceEntry(id: 0, name: "gpu-rst", providerPath: "/cru", specifier: [7])],
        devices: [DeviceEntry(id: 1, name: "gpu", path: "/d", resources: [ResourceReference(.powerDomain, 0), ResourceReference(.reset, 0)])],
        agents: [AgentEntry(id: 1, name: "a", devices: [1], protocols: [.powerDomain, .reset], trusted: false),
                 AgentEntry(id: 2, name: "b", devices: [1], protocols: [.powerDomain, .reset], trusted: false)])

    static let power: UInt8 = 0x11
    static let reset: UInt8 = 0x16
    static let on: UInt32 = 0
    static let off: UInt32 = 0x4000_0000

    static func notification(_ protocolID: UInt8, _ words: UInt32...) -> [UInt8] {
        EventQueueTests.bytes([MessageHeader(protocolID: protocolID, messageID: 0, type: .notification).rawValue] + words)
    }

    /// Agent 1 subscribes to both domains' events. Agent 2 pulses the reset
    /// asynchronously without waiting for the reply, then switches the power
    /// domain on and leaves. Agent 2's eventq gets RESET_COMPLETE after its
    /// synchronous SUCCESS is on the cmdq's used ring; agent 1's gets
    /// RESET_ISSUED, POWER_STATE_CHANGED on, and, after agent 2 left,
    /// POWER_STATE_CHANGED off caused by agent 2, one per buffer, in order.
    @Test func resetIssuedPowerChangesAndResetComplete() throws {
        let fixture = try EventQueueTests.Fixture(tables: Self.tables)
        let a = try fixture.frontend(1)
        defer { a.close() }
        try EventQueueTests.expectStatus(a, EventQueueTests.command(Self.reset, 0x5, token: 1, [0, 1]), .success)
        try EventQueueTests.expectStatus(a, EventQueueTests.command(Self.power, 0x6, token: 2, [0, 1]), .success)
        for index in 0 ..< 3 { _ = a.postEventBuffer(offset: index * 256, length: 136) }

        let b = try fixture.frontend(2)
        let completion = try #require(b.postEventBuffer(offset: 0, length: 136))
        let request = EventQueueTests.command(Self.reset, 0x4, token: 0x42, [0, 1 << 0 | 1 << 2, 0])
        let slot = b.requestBuffer(slot: 0)
        request.withUnsafeBytes { slot.copyMemory(from: $0) }
        try b.submit(slot: 0, requestLength: request.count, responseCapacity: 64)
        b.kick()
        let delayed = EventQueueTests.words(
            MessageHeader(protocolID: Self.reset, messageID: 0x4, type: .delayedResponse, token: 0x42).rawValue, 0, 0)
        #expect(b.usedElementsAndCalls(queue: 1, count: 1).used == [UsedElement(id: UInt32(completion), length: UInt32(delayed.count))])
        #expect(b.driverQueue(0).usedIndexInMemory == 1)
        #expect(EventQueueTests.bytes(b, at: 0, delayed.count) == delayed)
        try b.waitForCompletions()
        var status: Int32 = 1
        _ = b.collect { _, response in status = response.loadUnaligned(fromByteOffset: 4, as: Int32.self) }
        #expect(status == 0)

        try EventQueueTests.expectStatus(b, EventQueueTests.command(Self.power, 0x4, token: 3, [0, 0, Self.on]), .success)
        b.disconnect()

        let expected = [
            Self.notification(Self.reset, 2, 0, 0),
            Self.notification(Self.power, 2, 0, Self.on),
            Self.notification(Self.power, 2, 0, Self.off),
        ]
        let used = a.usedElementsAndCalls(queue: 1, count: 3).used
        #expect(used.map(\.length) == expected.map { UInt32($0.count) })
        for (index, message) in expected.enumerated() {
            #expect(EventQueueTests.bytes(a, at: index * 256, message.count) == message)
        }
        #expect(fixture.delivery(1).notificationsSent == 3)
    }
}
