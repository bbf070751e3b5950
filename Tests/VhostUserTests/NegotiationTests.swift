import Glibc
import Testing
import VhostUser
import Virtqueue

@Suite struct NegotiationTests {
    @Test func aQEMULikeFrontendNegotiatesAndExchanges() throws {
        let fixture = try BackendFixture(deviceFeatures: 1 << 0)
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        let offered = frontend.offeredFeatures
        for bit in [VirtioFeatures.version1, VirtioFeatures.protocolFeatures, VirtioFeatures.eventIndex,
                    VirtioFeatures.indirectDescriptors, VirtioFeatures.notifyOnEmpty, 1 << 0]
        {
            #expect(offered & bit != 0)
        }
        #expect(offered & (VirtioFeatures.ringPacked | VirtioFeatures.accessPlatform | VirtioFeatures.logAll) == 0)
        #expect(frontend.protocolFeatures == VhostUserProtocolFeatures.multipleQueues | VhostUserProtocolFeatures.replyAck)
        #expect(frontend.backendQueueCount == 2)
        #expect(try frontend.exchange(request: bytes("hello"), responseCapacity: 64) == bytes("olleh"))
        #expect(fixture.backend.status.isConnected)
        #expect(fixture.backend.status.chainsServed == 1)
        let bases = frontend.close()
        #expect(bases == [1])  // GET_VRING_BASE: the next avail index after one chain
        #expect(fixture.waitUntilDisconnected())
        #expect(fixture.device(0).closed.load(ordering: .relaxed) == 1)
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func exchangesWorkWithEveryRingFeatureCombination(eventIndex: Bool, indirect: Bool) throws {
        let fixture = try BackendFixture()
        let frontend = try VhostUserFrontend(
            socketPath: fixture.path, options: frontendOptions(eventIndex: eventIndex, indirect: indirect))
        defer { frontend.close() }
        #expect((frontend.ackedFeatures & VirtioFeatures.eventIndex != 0) == eventIndex)
        #expect((frontend.ackedFeatures & VirtioFeatures.indirectDescriptors != 0) == indirect)
        for length in [0, 1, 2, 7, 128, 512] {
            let request = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            #expect(try frontend.exchange(request: request, responseCapacity: 512) == Array(request.reversed()))
        }
        // A response buffer smaller than the answer: the device writes what fits.
        #expect(try frontend.exchange(request: [1, 2, 3, 4], responseCapacity: 2) == [4, 3])
        // Many rounds of batches, more requests than slots.
        let requests = (0..<300).map { index in (0..<(index % 40)).map { UInt8(truncatingIfNeeded: index &+ $0) } }
        let answers = try frontend.exchange(requests: requests, responseCapacity: 64)
        #expect(answers == requests.map { Array($0.reversed()) })
        #expect(fixture.backend.status.brokenChains == 0)
    }

    @Test func theAllocationFreePathSubmitsKicksWaitsAndCollects() throws {
        let fixture = try BackendFixture()
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions(slots: 32))
        defer { frontend.close() }
        for round in 0..<20 {
            for slot in 0..<frontend.slotCount {
                let buffer = frontend.requestBuffer(slot: slot)
                buffer[0] = UInt8(slot)
                buffer[1] = UInt8(round)
                try frontend.submit(slot: slot, requestLength: 2, responseCapacity: 8)
            }
            frontend.kick()
            var seen = Set<Int>()
            while seen.count < frontend.slotCount {
                try frontend.waitForCompletions(timeoutMilliseconds: 10_000)
                frontend.collect { slot, response in
                    #expect(Array(response) == [UInt8(round), UInt8(slot)])
                    seen.insert(slot)
                }
            }
        }
        #expect(fixture.backend.status.chainsServed == UInt64(20 * frontend.slotCount))
    }

    @Test func aRingStoppedWithGetVringBaseResumesWhereItStopped() throws {
        // QEMU's stop/start cycle (guest reset): the backend must resume from the
        // avail index it reported and read the used index back from memory.
        let fixture = try BackendFixture()
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { frontend.close() }
        for index in 0..<5 { _ = try frontend.exchange(request: [UInt8(index)], responseCapacity: 4) }
        try frontend.setVringEnable(0, false)
        let reply = try frontend.query(.getVringBase, payload: VringState(index: 0, number: 0).payload,
                                       replySize: VringState.size)
        #expect(VringState(payload: reply) == VringState(index: 0, number: 5))
        // Restart: base, a fresh kick fd, enable.
        try frontend.send(.setVringBase, payload: VringState(index: 0, number: 5).payload)
        let kick = try EventNotifier.create()
        defer { close(kick) }
        try frontend.send(.setVringKick, payload: U64Payload.encode(0), fileDescriptors: [kick])
        try frontend.setVringEnable(0, true)
        try frontend.submit(slot: 0, requestLength: 0, responseCapacity: 4)
        frontend.requestBuffer(slot: 0)[0] = 9
        _ = frontend.driverQueue(0).publish()
        EventNotifier.signal(kick)
        try frontend.waitForCompletions(timeoutMilliseconds: 10_000)
        #expect(frontend.collect { _, _ in } == 1)
        #expect(frontend.driverQueue(0).usedIndexInMemory == 6)
    }

    @Test func aChainMadeAvailableWhileTheRingIsDisabledIsServedOnEnable() throws {
        let fixture = try BackendFixture()
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { frontend.close() }
        try frontend.setVringEnable(0, false)  // acknowledged: the worker is stopped
        frontend.requestBuffer(slot: 0).copyBytes(from: [1, 2, 3])
        try frontend.submit(slot: 0, requestLength: 3, responseCapacity: 8)
        frontend.kick()
        _ = try frontend.query(.getFeatures, replySize: 8)  // the kick is in; nothing runs the ring
        #expect(frontend.driverQueue(0).usedIndexInMemory == 0)
        try frontend.setVringEnable(0, true)  // the race of rust-vmm/vhost #247: no new kick comes
        try frontend.waitForCompletions(timeoutMilliseconds: 10_000)
        var answer: [UInt8] = []
        frontend.collect { _, response in answer = Array(response) }
        #expect(answer == [3, 2, 1])
    }

    @Test func aNewMemoryTableReplacesTheOldOneWhileRingsRun() throws {
        let fixture = try BackendFixture()
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { frontend.close() }
        #expect(try frontend.exchange(request: [1, 2], responseCapacity: 8) == [2, 1])
        let fd = dup(frontend.memory.fileDescriptor)
        try frontend.send(.setMemTable, payload: MemoryTablePayload.encode([frontend.memory.regionDescription]),
                          fileDescriptors: [fd], acknowledged: true)
        close(fd)
        #expect(try frontend.exchange(request: [3, 4], responseCapacity: 8) == [4, 3])
    }

    @Test func theEventQueueIsAcceptedAndLeftIdle() throws {
        let fixture = try BackendFixture()
        var options = frontendOptions()
        options.startsEventQueue = true
        options.eventBufferCount = 16
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: options)
        #expect(try frontend.exchange(request: [5], responseCapacity: 8) == [5])
        #expect(frontend.driverQueue(1).usedIndexInMemory == 0)
        #expect(fixture.device(0).queuesSeen.withLock { $0 } == [0])
        // Nothing was consumed: the backend reports queue 1 still at 0.
        #expect(frontend.close() == [1, 0])
    }
}
