import Glibc
import Testing
import VhostUser
import Virtqueue

/// A guest writing nonsense into its ring, seen through a running backend: each
/// broken chain comes back with length 0, the log names the cause once, and the
/// connection keeps serving.
@Suite struct HostileRingTests {
    let next = SplitRing.descriptorFlagNext
    let write = SplitRing.descriptorFlagWrite
    let indirect = SplitRing.descriptorFlagIndirect

    /// Makes `head` available, kicks, waits for it on the used ring.
    func serveRaw(_ frontend: VhostUserFrontend, head: UInt16) throws -> UsedElement? {
        let queue = frontend.driverQueue(0)
        queue.makeAvailable(rawHead: head)
        frontend.kick()
        try frontend.waitForCompletions(timeoutMilliseconds: 10_000)
        return queue.popUsed()
    }

    func connect(_ fixture: BackendFixture, indirect: Bool = true) throws -> VhostUserFrontend {
        try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions(indirect: indirect))
    }

    @Test func brokenChainsComeBackEmptyAndAreLoggedOncePerCause() throws {
        let fixture = try BackendFixture()
        let frontend = try connect(fixture)
        defer { frontend.close() }
        let queue = frontend.driverQueue(0)
        let scratch = frontend.scratch(offset: 0)
        let outside: UInt64 = 0x7_0000_0000
        let end = VhostUserFrontend.guestMemoryBase + UInt64(frontend.memory.size)

        // (descriptors to write, expected log cause)
        let cases: [([(UInt64, UInt32, UInt16)], String)] = [
            ([(outside, 16, write)], "outside guest memory"),
            ([(end - 8, 16, write)], "outside guest memory"),  // runs off the end of the region
            ([(scratch.guestAddress, 8, write), (scratch.guestAddress, 8, 0)], "readable descriptor after"),
        ]
        for (descriptors, cause) in cases {
            var indexes: [UInt16] = []
            for _ in descriptors { indexes.append(queue.takeFreeDescriptor()!) }
            for (position, descriptor) in descriptors.enumerated() {
                let last = position == descriptors.count - 1
                queue.writeDescriptor(index: Int(indexes[position]), address: descriptor.0, length: descriptor.1,
                                      flags: descriptor.2 | (last ? 0 : next),
                                      next: last ? 0 : indexes[position + 1])
            }
            #expect(try serveRaw(frontend, head: indexes[0]) == UsedElement(id: UInt32(indexes[0]), length: 0))
            for index in indexes { queue.releaseDescriptor(index) }
            #expect(fixture.log.contains(cause))
        }
        // A loop.
        let a = queue.takeFreeDescriptor()!, b = queue.takeFreeDescriptor()!
        queue.writeDescriptor(index: Int(a), address: scratch.guestAddress, length: 4, flags: next, next: b)
        queue.writeDescriptor(index: Int(b), address: scratch.guestAddress, length: 4, flags: next, next: a)
        #expect(try serveRaw(frontend, head: a)?.length == 0)
        #expect(fixture.log.contains("longer than the queue"))
        // A nested indirect table.
        DriverQueue.writeDescriptor(into: scratch.pointer, index: 0, address: scratch.guestAddress + 64, length: 16,
                                    flags: indirect, next: 0)
        queue.writeDescriptor(index: Int(a), address: scratch.guestAddress, length: 16, flags: indirect, next: 0)
        #expect(try serveRaw(frontend, head: a)?.length == 0)
        #expect(fixture.log.contains("indirect descriptor inside an indirect table"))
        // A head beyond the queue.
        #expect(try serveRaw(frontend, head: 300) == UsedElement(id: 300, length: 0))
        queue.releaseDescriptor(a)
        queue.releaseDescriptor(b)

        // The same cause again is not logged again.
        let before = fixture.log.lines.withLock { $0.filter { $0.contains("outside guest memory") }.count }
        for _ in 0..<5 {
            let index = queue.takeFreeDescriptor()!
            queue.writeDescriptor(index: Int(index), address: outside, length: 16, flags: write, next: 0)
            #expect(try serveRaw(frontend, head: index)?.length == 0)
            queue.releaseDescriptor(index)
        }
        #expect(fixture.log.lines.withLock { $0.filter { $0.contains("outside guest memory") }.count } == before)
        #expect(fixture.eventually { fixture.backend.status.brokenChains == 11 })

        // The device never saw any of it, and the connection still serves.
        #expect(fixture.device(0).calls.load(ordering: .relaxed) == 0)
        #expect(try frontend.exchange(request: [1, 2, 3], responseCapacity: 8) == [3, 2, 1])
    }

    @Test func indirectDescriptorsAreRefusedWhenNotNegotiated() throws {
        let fixture = try BackendFixture()
        let frontend = try connect(fixture, indirect: false)
        defer { frontend.close() }
        let queue = frontend.driverQueue(0)
        let scratch = frontend.scratch(offset: 0)
        DriverQueue.writeDescriptor(into: scratch.pointer, index: 0, address: scratch.guestAddress + 256, length: 8,
                                    flags: write, next: 0)
        let head = queue.takeFreeDescriptor()!
        queue.writeDescriptor(index: Int(head), address: scratch.guestAddress, length: 16, flags: indirect, next: 0)
        #expect(try serveRaw(frontend, head: head)?.length == 0)
        #expect(fixture.log.contains("without VIRTIO_RING_F_INDIRECT_DESC"))
        queue.releaseDescriptor(head)
        #expect(try frontend.exchange(request: [7, 8], responseCapacity: 8) == [8, 7])
    }

    @Test func anAvailIndexJumpStopsTheQueueAndSignalsTheErrorNotifier() throws {
        let fixture = try BackendFixture()
        let frontend = try connect(fixture)
        #expect(try frontend.exchange(request: [1], responseCapacity: 4) == [1])
        frontend.driverQueue(0).storeAvailIndex(1 + 257)  // 257 pending on a 256-entry queue
        frontend.kick(queue: 0)
        #expect(frontend.waitForError(queue: 0, timeoutMilliseconds: 10_000))
        #expect(fixture.backend.status.lastError?.contains("available index jumped") == true)
        #expect(fixture.log.contains("queue 0 stopped"))
        #expect(frontend.driverQueue(0).usedIndexInMemory == 1)
        frontend.close()
        // The next guest gets a fresh start.
        let next = try connect(fixture)
        defer { next.close() }
        #expect(try next.exchange(request: [2, 3], responseCapacity: 4) == [3, 2])
    }
}
