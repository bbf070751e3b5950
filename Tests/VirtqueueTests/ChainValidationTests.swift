import Testing
import Virtqueue

/// Hostile chains: each must come back on the used ring with length 0, without
/// reaching the handler and without any access outside guest memory.
@Suite struct ChainValidationTests {
    let write = SplitRing.descriptorFlagWrite
    let next = SplitRing.descriptorFlagNext
    let indirect = SplitRing.descriptorFlagIndirect

    /// Publishes `head` and serves the queue; returns the summary and the used element.
    func serveOne(_ fixture: RingFixture, head: UInt16, indirect: Bool = false) throws
        -> (ServeSummary, UsedElement?, ReversingHandler)
    {
        fixture.driver.makeAvailable(rawHead: head)
        _ = fixture.driver.publish()
        let device = try fixture.makeDevice(indirect: indirect)
        let handler = ReversingHandler()
        let summary = device.serveAvailable(handle: handler.handle, notify: {})
        return (summary, fixture.driver.popUsed(), handler)
    }

    func expectBroken(_ result: (ServeSummary, UsedElement?, ReversingHandler), head: UInt16, cause: ChainError) {
        #expect(result.0.chainsBroken == 1 && result.0.chainsServed == 0)
        #expect(result.0.brokenCauses.errors == [cause])
        #expect(result.1 == UsedElement(id: UInt32(head), length: 0))
        #expect(result.2.requests.isEmpty)
    }

    @Test func aDescriptorOutsideGuestMemory() throws {
        let fixture = RingFixture()
        let response = fixture.writable(8)
        fixture.driver.writeDescriptor(index: 0, address: fixture.unmappedAddress, length: 8, flags: next, next: 1)
        fixture.driver.writeDescriptor(index: 1, address: response.address, length: 8, flags: write, next: 0)
        expectBroken(try serveOne(fixture, head: 0), head: 0, cause: .bufferOutsideMemory)
    }

    @Test func aDescriptorRunningOffTheEndOfItsRegion() throws {
        let fixture = RingFixture(regionSizes: [65536])
        fixture.driver.writeDescriptor(index: 0, address: 0x4000_0000 + 65536 - 4, length: 8, flags: write, next: 0)
        expectBroken(try serveOne(fixture, head: 0), head: 0, cause: .bufferOutsideMemory)
    }

    @Test func aDescriptorStraddlingTwoRegions() throws {
        let fixture = RingFixture(regionSizes: [65536, 4096])  // second region right after the first
        fixture.driver.writeDescriptor(index: 0, address: 0x4000_0000 + 65536 - 8, length: 16, flags: 0, next: 0)
        expectBroken(try serveOne(fixture, head: 0), head: 0, cause: .bufferOutsideMemory)

        // The same length entirely inside the second region is fine.
        let other = RingFixture(regionSizes: [65536, 4096])
        other.pointer(0x4000_0000 + 65536).storeBytes(of: 0x11, as: UInt8.self)
        other.driver.writeDescriptor(index: 0, address: 0x4000_0000 + 65536, length: 16, flags: 0, next: 0)
        let (summary, used, handler) = try serveOne(other, head: 0)
        #expect(summary.chainsServed == 1 && used?.length == 0)
        #expect(handler.requests.first?.first == 0x11)
    }

    @Test func aDescriptorLoop() throws {
        let fixture = RingFixture()
        let request = fixture.readable([1])
        fixture.driver.writeDescriptor(index: 0, address: request.address, length: 1, flags: next, next: 1)
        fixture.driver.writeDescriptor(index: 1, address: request.address, length: 1, flags: next, next: 0)
        expectBroken(try serveOne(fixture, head: 0), head: 0, cause: .chainTooLong)
        let selfLoop = RingFixture()
        selfLoop.driver.writeDescriptor(index: 3, address: request.address, length: 1, flags: next, next: 3)
        expectBroken(try serveOne(selfLoop, head: 3), head: 3, cause: .chainTooLong)
    }

    @Test func aChainUsingEveryDescriptorIsFineButOneMoreIsALoop() throws {
        let fixture = RingFixture(size: 8)
        let byte = fixture.readable([9])
        for index in 0..<8 {
            fixture.driver.writeDescriptor(index: index, address: byte.address, length: 1,
                                           flags: index < 7 ? next : 0, next: UInt16(index + 1))
        }
        let (summary, used, handler) = try serveOne(fixture, head: 0)
        #expect(summary.chainsServed == 1 && used?.id == 0)
        #expect(handler.requests == [[9, 9, 9, 9, 9, 9, 9, 9]])

        let looping = RingFixture(size: 8)
        for index in 0..<8 {
            looping.driver.writeDescriptor(index: index, address: byte.address, length: 1, flags: next,
                                           next: UInt16((index + 1) % 8))
        }
        expectBroken(try serveOne(looping, head: 0), head: 0, cause: .chainTooLong)
    }

    @Test func headAndNextIndexesBeyondTheQueue() throws {
        let fixture = RingFixture(size: 8)
        expectBroken(try serveOne(fixture, head: 8), head: 8, cause: .headOutOfRange)
        let other = RingFixture(size: 8)
        let byte = other.readable([1])
        other.driver.writeDescriptor(index: 0, address: byte.address, length: 1, flags: next, next: 200)
        expectBroken(try serveOne(other, head: 0), head: 0, cause: .nextOutOfRange)
    }

    @Test func aReadableDescriptorAfterAWritableOne() throws {
        let fixture = RingFixture()
        let request = fixture.readable([1, 2])
        let response = fixture.writable(8)
        fixture.driver.writeDescriptor(index: 0, address: response.address, length: 8, flags: write | next, next: 1)
        fixture.driver.writeDescriptor(index: 1, address: request.address, length: 2, flags: 0, next: 0)
        expectBroken(try serveOne(fixture, head: 0), head: 0, cause: .readableAfterWritable)
    }

    /// An indirect table of `entries` written at a fresh buffer; returns its address.
    func table(_ fixture: RingFixture, _ entries: [(UInt64, UInt32, UInt16, UInt16)]) -> UInt64 {
        let area = fixture.buffer([], capacity: max(entries.count, 1) * 16)
        for (index, entry) in entries.enumerated() {
            DriverQueue.writeDescriptor(into: fixture.pointer(area.address), index: index, address: entry.0,
                                        length: entry.1, flags: entry.2, next: entry.3)
        }
        return area.address
    }

    @Test func aValidIndirectChainIsServed() throws {
        let fixture = RingFixture()
        let request = fixture.readable([1, 2, 3])
        let response = fixture.writable(8)
        let address = table(fixture, [(request.address, 3, next, 1), (response.address, 8, write, 0)])
        fixture.driver.writeDescriptor(index: 5, address: address, length: 32, flags: indirect | write, next: 0)
        let (summary, used, handler) = try serveOne(fixture, head: 5, indirect: true)
        #expect(summary.chainsServed == 1)
        #expect(used == UsedElement(id: 5, length: 3))
        #expect(handler.requests == [[1, 2, 3]])
        #expect(fixture.bytes(at: response, count: 3) == [3, 2, 1])
    }

    @Test func anIndirectDescriptorWhenNotNegotiated() throws {
        let fixture = RingFixture()
        let request = fixture.readable([1])
        let address = table(fixture, [(request.address, 1, 0, 0)])
        fixture.driver.writeDescriptor(index: 0, address: address, length: 16, flags: indirect, next: 0)
        expectBroken(try serveOne(fixture, head: 0, indirect: false), head: 0, cause: .indirectNotNegotiated)
    }

    @Test func aNestedIndirectTable() throws {
        let fixture = RingFixture()
        let request = fixture.readable([1])
        let inner = table(fixture, [(request.address, 1, 0, 0)])
        let outer = table(fixture, [(inner, 16, indirect, 0)])
        fixture.driver.writeDescriptor(index: 0, address: outer, length: 16, flags: indirect, next: 0)
        expectBroken(try serveOne(fixture, head: 0, indirect: true), head: 0, cause: .nestedIndirect)
    }

    @Test func anIndirectDescriptorWithNext() throws {
        let fixture = RingFixture()
        let request = fixture.readable([1])
        let address = table(fixture, [(request.address, 1, 0, 0)])
        fixture.driver.writeDescriptor(index: 0, address: address, length: 16, flags: indirect | next, next: 1)
        fixture.driver.writeDescriptor(index: 1, address: request.address, length: 1, flags: 0, next: 0)
        expectBroken(try serveOne(fixture, head: 0, indirect: true), head: 0, cause: .indirectWithNext)
    }

    @Test func indirectTablesOfBadLengthOrOutsideMemory() throws {
        for length: UInt32 in [0, 24, 16 * 9] {  // empty, not a multiple of 16, more entries than the queue (8)
            let fixture = RingFixture(size: 8)
            let request = fixture.readable([1])
            let address = table(fixture, Array(repeating: (request.address, 1, 0, 0), count: 9))
            fixture.driver.writeDescriptor(index: 0, address: address, length: length, flags: indirect, next: 0)
            expectBroken(try serveOne(fixture, head: 0, indirect: true), head: 0, cause: .badIndirectTableLength)
        }
        let fixture = RingFixture()
        fixture.driver.writeDescriptor(index: 0, address: fixture.unmappedAddress, length: 32, flags: indirect, next: 0)
        expectBroken(try serveOne(fixture, head: 0, indirect: true), head: 0, cause: .bufferOutsideMemory)
    }

    @Test func loopsAndBadLinksInsideAnIndirectTable() throws {
        let fixture = RingFixture()
        let request = fixture.readable([1])
        let looping = table(fixture, [(request.address, 1, next, 1), (request.address, 1, next, 0)])
        fixture.driver.writeDescriptor(index: 0, address: looping, length: 32, flags: indirect, next: 0)
        expectBroken(try serveOne(fixture, head: 0, indirect: true), head: 0, cause: .chainTooLong)

        let other = RingFixture()
        let request2 = other.readable([1])
        let escaping = table(other, [(request2.address, 1, next, 2), (request2.address, 1, 0, 0)])
        other.driver.writeDescriptor(index: 0, address: escaping, length: 32, flags: indirect, next: 0)
        expectBroken(try serveOne(other, head: 0, indirect: true), head: 0, cause: .nextOutOfRange)
    }
}
