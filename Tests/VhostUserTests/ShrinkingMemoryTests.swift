import Glibc
import Testing
import VhostUser
import Virtqueue

/// A frontend whose guest-memory file holds less than its memory table claims,
/// from the start or because it shrank the file later: the backend refuses the
/// table or closes that connection, says why, and goes on serving. Touching a
/// mapped page past the end of its file raises SIGBUS, so without the guard the
/// test process itself (which hosts the backend) would die here.
///
/// After shrinking its memfd, a test frontend must not touch its own mapping of
/// it either: that would be the test's own SIGBUS, which nothing absorbs.
@Suite struct ShrinkingMemoryTests {
    let version = VhostUserFlags.version

    /// The backend closed `channel` (generous bound, never a timing check).
    func expectClosed(_ channel: VhostUserChannel) {
        #expect(throws: VhostUserError.disconnected) { _ = try channel.receive(timeoutMilliseconds: 15_000) }
    }

    /// A well-behaved frontend is served on `fixture`'s socket.
    func expectServed(_ fixture: BackendFixture, _ request: [UInt8]) throws {
        #expect(fixture.waitUntilDisconnected())
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { frontend.close() }
        #expect(try frontend.exchange(request: request, responseCapacity: 8) == request.reversed())
    }

    @Test func aRegionLargerThanItsFileClosesTheConnection() throws {
        let fixture = try BackendFixture()
        let memory = try SharedMemory(size: 4096, guestPhysicalAddress: 0x4000_0000)
        // (mmap offset, size, what the log says)
        let cases: [(UInt64, UInt64, String)] = [
            (0, 4 << 20, "memory region 0 claims mmap offset 0x0 + size 0x400000 = 4194304 bytes of its file, which has 4096 bytes"),
            (0x1000, 0x1000, "memory region 0 claims mmap offset 0x1000 + size 0x1000 = 8192 bytes of its file, which has 4096 bytes"),
        ]
        for (mmapOffset, size, message) in cases {
            let channel = try VhostUserChannel.connect(to: fixture.path)
            // REPLY_ACK negotiated: the frontend asks for an answer and gets a hang-up.
            try channel.send(request: VhostUserRequest.setProtocolFeatures.rawValue, flags: version,
                             payload: U64Payload.encode(VhostUserProtocolFeatures.replyAck))
            let region = MemoryRegionDescription(guestPhysicalAddress: memory.guestPhysicalAddress, size: size,
                                                 userAddress: memory.userAddress, mmapOffset: mmapOffset)
            try channel.send(request: VhostUserRequest.setMemTable.rawValue, flags: version | VhostUserFlags.needReply,
                             payload: MemoryTablePayload.encode([region]), fileDescriptors: [memory.fileDescriptor])
            expectClosed(channel)
            channel.close()
            #expect(fixture.log.contains(message))
            #expect(fixture.backend.status.lastError?.contains(message) == true)
            try expectServed(fixture, [1, 2, 3])
        }
        // The same file, claimed at its true size, is accepted.
        let channel = try VhostUserChannel.connect(to: fixture.path)
        defer { channel.close() }
        try channel.send(request: VhostUserRequest.setProtocolFeatures.rawValue, flags: version,
                         payload: U64Payload.encode(VhostUserProtocolFeatures.replyAck))
        try channel.send(request: VhostUserRequest.setMemTable.rawValue, flags: version | VhostUserFlags.needReply,
                         payload: MemoryTablePayload.encode([memory.regionDescription]),
                         fileDescriptors: [memory.fileDescriptor])
        let reply = try channel.receive(timeoutMilliseconds: 15_000)
        #expect(reply.header.request == VhostUserRequest.setMemTable.rawValue)
        #expect(U64Payload.decode(reply.payload) == 0)
    }

    @Test func aFileThatIsNotRegularIsRefused() throws {
        let fixture = try BackendFixture()
        let channel = try VhostUserChannel.connect(to: fixture.path)
        defer { channel.close() }
        try channel.send(request: VhostUserRequest.setProtocolFeatures.rawValue, flags: version,
                         payload: U64Payload.encode(VhostUserProtocolFeatures.replyAck))
        let notAFile = try EventNotifier.create()
        defer { close(notAFile) }
        let region = MemoryRegionDescription(guestPhysicalAddress: 0x4000_0000, size: 4096, userAddress: 0x1000,
                                             mmapOffset: 0)
        try channel.send(request: VhostUserRequest.setMemTable.rawValue, flags: version | VhostUserFlags.needReply,
                         payload: MemoryTablePayload.encode([region]), fileDescriptors: [notAFile])
        let reply = try channel.receive(timeoutMilliseconds: 15_000)
        #expect(U64Payload.decode(reply.payload) == 1)
        #expect(fixture.log.contains("memory region 0: its fd is not a regular file"))
        #expect(fixture.backend.status.isConnected)
    }

    @Test func aFileShrunkToNothingUnderRunningRingsClosesOnlyThatConnection() throws {
        let fixture = try BackendFixture()
        let otherAgent = try BackendFixture()
        let bystander = try VhostUserFrontend(socketPath: otherAgent.path, options: frontendOptions())
        defer { bystander.close() }
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { frontend.disconnect() }
        #expect(try frontend.exchange(request: [1, 2, 3], responseCapacity: 8) == [3, 2, 1])

        // A request made available, the memory taken away under it, then the kick.
        frontend.requestBuffer(slot: 0).copyBytes(from: [4, 5, 6])
        try frontend.submit(slot: 0, requestLength: 3, responseCapacity: 8)
        _ = frontend.driverQueue(0).publish()
        #expect(ftruncate(frontend.memory.fileDescriptor, 0) == 0)
        frontend.kick(queue: 0)

        expectClosed(frontend.channel)
        #expect(fixture.waitUntilDisconnected())
        #expect(fixture.log.contains("guest memory region 0 shrank under the mapping (SIGBUS at 0x"))
        #expect(fixture.backend.status.lastError?.contains("closing this connection") == true)
        #expect(fixture.device(0).closed.load(ordering: .relaxed) == 1)
        // Nothing read from the zero pages was taken for the guest's doing.
        #expect(fixture.backend.status.brokenChains == 0)
        #expect(!fixture.log.contains("queue 0 stopped"))

        // The other agent's connection never noticed; this agent's next frontend is served.
        #expect(try bystander.exchange(request: [7, 8], responseCapacity: 8) == [8, 7])
        try expectServed(fixture, [9, 10])
    }

    @Test func aFileShrunkUnderTheBuffersPublishesNothingComputedFromZeros() throws {
        let fixture = try BackendFixture()
        // Direct descriptors: the fault comes in the device's own copy of the request.
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions(indirect: false))
        defer { frontend.disconnect() }
        #expect(try frontend.exchange(request: [1, 2], responseCapacity: 8) == [2, 1])
        let queue = frontend.driverQueue(0)
        #expect(queue.usedIndexInMemory == 1)

        // Keep the pages of the rings, drop those of the buffers.
        let requestOffset = frontend.requestBuffer(slot: 0).baseAddress! - frontend.memory.base
        let kept = requestOffset & ~(Int(getpagesize()) - 1)
        let usedRingEnd = Int(queue.usedRingAddress - frontend.memory.guestPhysicalAddress)
            + SplitRing.usedRingSize(frontendOptions().queueSize)
        try #require(usedRingEnd <= kept)

        // The buffers go before the chain is made available: a ring worker still
        // finishing the first exchange (re-checking the avail ring before it
        // sleeps) may take the chain without waiting for the kick, and must
        // find the buffers gone then too.
        frontend.requestBuffer(slot: 0).copyBytes(from: [3, 4, 5])
        try frontend.submit(slot: 0, requestLength: 3, responseCapacity: 8)
        #expect(ftruncate(frontend.memory.fileDescriptor, off_t(kept)) == 0)
        _ = queue.publish()
        frontend.kick(queue: 0)

        expectClosed(frontend.channel)
        #expect(fixture.waitUntilDisconnected())
        #expect(fixture.log.contains("guest memory region 0 shrank under the mapping (SIGBUS at 0x"))
        // The chain was served from zeros, and its used entry went to the zero
        // pages too: the guest's used ring, still in the file, did not move.
        #expect(queue.usedIndexInMemory == 1)
        try expectServed(fixture, [6, 7])
    }

    @Test func aShrinkSeenWhileARingStartsClosesTheConnection() throws {
        let fixture = try BackendFixture()
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { frontend.disconnect() }
        #expect(try frontend.exchange(request: [1], responseCapacity: 8) == [1])
        #expect(ftruncate(frontend.memory.fileDescriptor, 0) == 0)
        // Restarting the ring reads the used index on the control thread: the fault
        // is taken there this time.
        try? frontend.setVringEnable(0, false)
        try? frontend.setVringEnable(0, true)
        expectClosed(frontend.channel)
        #expect(fixture.log.contains("guest memory region 0 shrank under the mapping (SIGBUS at 0x"))
        try expectServed(fixture, [2, 3])
    }

    // Exit tests (`processExitsWith:`) came with Swift 6.2's Testing.
    #if compiler(>=6.2)
    @Test func aSIGBUSOutsideGuestMemoryStillKillsTheProcess() async {
        // In a fresh process of its own (an exit test), where nothing handled
        // SIGBUS before the guard: a bus error that is not in guest memory is a
        // bug of this process, and must still kill it.
        await #expect(processExitsWith: .signal(SIGBUS)) {
            var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
            setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
            signal(SIGBUS, SIG_DFL)  // no crash reporter before the guard: the default action after it
            // Serving one memory table installs the guard.
            let fixture = try BackendFixture()
            let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
            #expect(try frontend.exchange(request: [1], responseCapacity: 8) == [1])
            // A mapping that is not guest memory, whose file then shrinks.
            let memory = try SharedMemory(size: 4096, guestPhysicalAddress: 0)
            #expect(ftruncate(memory.fileDescriptor, 0) == 0)
            memory.base.storeBytes(of: 1, as: UInt8.self)
            frontend.close()
        }
    }
    #endif
}
