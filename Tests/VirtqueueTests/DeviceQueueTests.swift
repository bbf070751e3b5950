import Testing
import Virtqueue

@Suite struct DeviceQueueTests {
    @Test func aRequestAndItsAnswerTravelThroughTheRing() throws {
        let fixture = RingFixture()
        let request = fixture.readable(Array("hello".utf8))
        let response = fixture.writable(16)
        let head = fixture.add([request, response])
        #expect(fixture.driver.publish())
        let device = try fixture.makeDevice()
        let handler = ReversingHandler()
        var notified = 0
        let summary = device.serveAvailable(handle: handler.handle, notify: { notified += 1 })
        #expect(summary.chainsServed == 1 && summary.chainsBroken == 0 && notified == 1)
        #expect(handler.requests == [Array("hello".utf8)])
        #expect(handler.writableLengths == [16])
        let used = try #require(fixture.driver.popUsed())
        #expect(used == UsedElement(id: UInt32(head), length: 5))
        #expect(fixture.bytes(at: response, count: 5) == Array("olleh".utf8))
        #expect(fixture.driver.popUsed() == nil)
        #expect(fixture.driver.freeCount == fixture.size)
    }

    @Test func buffersSplitOverManyDescriptorsAreGatheredAndScatteredInOrder() throws {
        let fixture = RingFixture()
        let parts = [fixture.readable([1, 2]), fixture.readable([3]), fixture.readable([4, 5, 6])]
        let answers = [fixture.writable(1), fixture.writable(2), fixture.writable(10)]
        _ = fixture.add(parts + answers)
        _ = fixture.driver.publish()
        let device = try fixture.makeDevice()
        let handler = ReversingHandler()
        _ = device.serveAvailable(handle: handler.handle, notify: {})
        #expect(handler.requests == [[1, 2, 3, 4, 5, 6]])
        #expect(fixture.bytes(at: answers[0]) == [6])
        #expect(fixture.bytes(at: answers[1]) == [5, 4])
        #expect(fixture.bytes(at: answers[2], count: 3) == [3, 2, 1])
        #expect(fixture.driver.popUsed()?.length == 6)
    }

    @Test func gatherAndScatterStopAtTheirLimits() throws {
        let fixture = RingFixture()
        _ = fixture.add([fixture.readable([1, 2, 3, 4]), fixture.readable([5, 6]), fixture.writable(2), fixture.writable(1)])
        _ = fixture.driver.publish()
        let device = try fixture.makeDevice()
        var gathered: [UInt8] = []
        var scattered = -1
        _ = device.serveAvailable(handle: { chain in
            var small = [UInt8](repeating: 0, count: 5)
            let count = small.withUnsafeMutableBytes { chain.gatherReadable(into: $0) }
            gathered = Array(small[0..<count])
            let long: [UInt8] = [9, 9, 9, 9, 9, 9]
            scattered = long.withUnsafeBytes { chain.scatterWritable(from: $0) }
            return 1000  // more than the chain can hold: must be clamped
        }, notify: {})
        #expect(gathered == [1, 2, 3, 4, 5])
        #expect(scattered == 3)
        #expect(fixture.driver.popUsed()?.length == 3)
    }

    @Test func zeroLengthAndOneByteRequestsReachTheHandler() throws {
        let fixture = RingFixture()
        let empty = DriverSegment(address: fixture.unmappedAddress, length: 0, writable: false)  // never touched
        _ = fixture.add([empty, fixture.writable(8)])
        _ = fixture.add([fixture.readable([0x42]), fixture.writable(8)])
        _ = fixture.add([fixture.writable(8)])  // no readable part at all
        _ = fixture.driver.publish()
        let device = try fixture.makeDevice()
        let handler = ReversingHandler()
        let summary = device.serveAvailable(handle: handler.handle, notify: {})
        #expect(summary.chainsServed == 3 && summary.chainsBroken == 0)
        #expect(handler.requests == [[], [0x42], []])
        #expect(fixture.driver.popUsed()?.length == 0)
        #expect(fixture.driver.popUsed()?.length == 1)
        #expect(fixture.driver.popUsed()?.length == 0)
    }

    @Test func everyChainTakenGoesBackExactlyOnceEvenWhenBroken() throws {
        let fixture = RingFixture(size: 16)
        var heads: [UInt16] = []
        for index in 0..<6 {
            if index % 2 == 0 {
                heads.append(fixture.add([fixture.readable([UInt8(index)]), fixture.writable(4)]))
            } else {  // a buffer outside guest memory
                heads.append(fixture.add([DriverSegment(address: fixture.unmappedAddress, length: 4, writable: false),
                                          fixture.writable(4)]))
            }
        }
        _ = fixture.driver.publish()
        let device = try fixture.makeDevice()
        let handler = ReversingHandler()
        var notifications = 0
        let summary = device.serveAvailable(handle: handler.handle, notify: { notifications += 1 })
        #expect(summary.chainsServed == 3 && summary.chainsBroken == 3)
        #expect(summary.brokenCauses.errors == [.bufferOutsideMemory])
        #expect(notifications == 1)  // one batch, one notification
        #expect(handler.requests == [[0], [2], [4]])
        #expect(fixture.driver.usedIndexInMemory == 6)
        var returned: [UsedElement] = []
        while let element = fixture.driver.popUsed() { returned.append(element) }
        #expect(returned.map(\.id) == heads.map(UInt32.init))  // in order, each once
        #expect(returned.map(\.length) == [1, 0, 1, 0, 1, 0])
        // Nothing more is served on a second pass.
        let again = device.serveAvailable(handle: handler.handle, notify: { notifications += 1 })
        #expect(again == ServeSummary())
        #expect(fixture.driver.usedIndexInMemory == 6)
    }

    @Test func theUsedIndexIsReadBackFromMemoryAtSetup() throws {
        // A first backend serves three chains; a second one (reconnect, or the
        // guest's rings after reboot) must continue from used.idx 3, not 0.
        let fixture = RingFixture()
        let handler = ReversingHandler()
        for byte in [1, 2, 3] as [UInt8] { _ = fixture.add([fixture.readable([byte]), fixture.writable(4)]) }
        _ = fixture.driver.publish()
        let first = try fixture.makeDevice()
        _ = first.serveAvailable(handle: handler.handle, notify: {})
        #expect(first.nextAvailIndex == 3)
        while fixture.driver.popUsed() != nil {}

        let second = try fixture.makeDevice(nextAvailIndex: first.nextAvailIndex)
        #expect(second.usedIndex == 3)
        let head = fixture.add([fixture.readable([4]), fixture.writable(4)])
        _ = fixture.driver.publish()
        _ = second.serveAvailable(handle: handler.handle, notify: {})
        #expect(fixture.driver.usedIndexInMemory == 4)
        #expect(fixture.driver.popUsed() == UsedElement(id: UInt32(head), length: 1))
        #expect(handler.requests == [[1], [2], [3], [4]])
    }

    @Test func anAvailIndexJumpingPastTheQueueSizeStopsTheQueue() throws {
        let fixture = RingFixture(size: 8)
        _ = fixture.add([fixture.readable([1]), fixture.writable(4)])
        fixture.driver.storeAvailIndex(9)  // 9 pending on an 8-entry queue
        let device = try fixture.makeDevice()
        let handler = ReversingHandler()
        let summary = device.serveAvailable(handle: handler.handle, notify: {})
        #expect(summary.queueError == .availIndexJump(nextAvail: 0, availIndex: 9, size: 8))
        #expect(handler.requests.isEmpty)
        #expect(fixture.driver.usedIndexInMemory == 0)
        // Even once the index looks sane again, the queue stays stopped until set up anew.
        fixture.driver.storeAvailIndex(1)
        #expect(device.serveAvailable(handle: handler.handle, notify: {}).queueError != nil)
        #expect(handler.requests.isEmpty)
        // Exactly N pending is still legal.
        let fresh = RingFixture(size: 8)
        for _ in 0..<4 { _ = fresh.add([fresh.readable([7]), fresh.writable(1)]) }
        _ = fresh.driver.publish()
        let second = try fresh.makeDevice()
        _ = second.serveAvailable(handle: handler.handle, notify: {})
        while fresh.driver.popUsed() != nil {}
        for _ in 0..<4 { _ = fresh.add([fresh.readable([8]), fresh.writable(1)]) }
        _ = fresh.driver.publish()  // 4 more: used 4, avail 8
        #expect(second.serveAvailable(handle: handler.handle, notify: {}).chainsServed == 4)
    }

    @Test func theChainBudgetLeavesTheRestForTheNextCall() throws {
        let fixture = RingFixture(size: 16)
        for byte in 0..<5 as Range<UInt8> { _ = fixture.add([fixture.readable([byte]), fixture.writable(1)]) }
        _ = fixture.driver.publish()
        let device = try fixture.makeDevice()
        let handler = ReversingHandler()
        let first = device.serveAvailable(chainBudget: 2, handle: handler.handle, notify: {})
        #expect(first.chainsServed == 2 && first.budgetExhausted)
        #expect(fixture.driver.usedIndexInMemory == 2)  // what was served is published
        let rest = device.serveAvailable(handle: handler.handle, notify: {})
        #expect(rest.chainsServed == 3 && !rest.budgetExhausted)
        #expect(handler.requests == [[0], [1], [2], [3], [4]])
    }

    @Test func ringsOutsideMemoryOrMisalignedAreRefusedAtSetup() throws {
        let fixture = RingFixture(size: 8)
        var configuration = fixture.configuration()
        configuration.size = 12
        #expect(throws: QueueSetupError.invalidSize(12)) { try DeviceQueue(configuration: configuration, memory: fixture.memory) }
        configuration = fixture.configuration()
        configuration.descriptorTableAddress += 8
        #expect(throws: QueueSetupError.misaligned(.descriptorTable, address: configuration.descriptorTableAddress)) {
            try DeviceQueue(configuration: configuration, memory: fixture.memory)
        }
        configuration = fixture.configuration()
        configuration.usedRingAddress = 0x4000_0000 + 65536 - 64  // runs off the end of the region
        #expect(throws: QueueSetupError.outsideMemory(.usedRing, address: configuration.usedRingAddress,
                                                      length: SplitRing.usedRingSize(8))) {
            try DeviceQueue(configuration: configuration, memory: fixture.memory)
        }
        configuration = fixture.configuration()
        configuration.addressSpace = .frontendUser  // guest-physical addresses are not user addresses here
        #expect(throws: QueueSetupError.self) { try DeviceQueue(configuration: configuration, memory: fixture.memory) }
    }
}
