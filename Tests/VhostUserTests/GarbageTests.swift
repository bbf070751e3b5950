import Glibc
import Testing
import VhostUser
import Virtqueue

/// Frontends that break the protocol: the backend answers or closes, never
/// crashes, never waits forever, and serves the next frontend.
@Suite struct GarbageTests {
    func header(_ request: UInt32, flags: UInt32 = VhostUserFlags.version, size: UInt32) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 12)
        bytes.withUnsafeMutableBytes { VhostUserHeader(request: request, flags: flags, size: size).write(to: $0) }
        return bytes
    }

    /// The backend closed this connection (generous timeout; the backend's own
    /// payload timeout is 2 s).
    func expectClosed(_ channel: VhostUserChannel) {
        #expect(throws: VhostUserError.disconnected) { _ = try channel.receive(timeoutMilliseconds: 15_000) }
    }

    /// The backend survived and serves a normal frontend.
    func expectBackendServes(_ fixture: BackendFixture) throws {
        #expect(fixture.waitUntilDisconnected())
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        #expect(try frontend.exchange(request: [1, 2, 3], responseCapacity: 8) == [3, 2, 1])
        frontend.close()
    }

    func getFeatures(_ channel: VhostUserChannel) throws -> UInt64? {
        try channel.send(request: VhostUserRequest.getFeatures.rawValue, flags: VhostUserFlags.version)
        return U64Payload.decode(try channel.receiveReply(to: .getFeatures, payloadSize: 8, timeoutMilliseconds: 10_000))
    }

    /// A raw connection that negotiated REPLY_ACK.
    func replyAckChannel(_ fixture: BackendFixture) throws -> VhostUserChannel {
        let channel = try VhostUserChannel.connect(to: fixture.path)
        try channel.send(request: VhostUserRequest.setProtocolFeatures.rawValue, flags: VhostUserFlags.version,
                         payload: U64Payload.encode(VhostUserProtocolFeatures.replyAck))
        return channel
    }

    func ack(_ channel: VhostUserChannel, _ request: UInt32) throws -> UInt64? {
        let message = try channel.receive(timeoutMilliseconds: 10_000)
        #expect(message.header.request == request)
        #expect(message.header.flags == 0x5)
        return U64Payload.decode(message.payload)
    }

    @Test func aBadVersionClosesTheConnection() throws {
        let fixture = try BackendFixture()
        let channel = try VhostUserChannel.connect(to: fixture.path)
        try channel.sendRaw(header(VhostUserRequest.getFeatures.rawValue, flags: 0x2, size: 0))
        expectClosed(channel)
        #expect(fixture.log.contains("header version 2"))
        try expectBackendServes(fixture)
    }

    @Test func unknownFlagBitsAndRepliesAsRequestsCloseTheConnection() throws {
        let fixture = try BackendFixture()
        let first = try VhostUserChannel.connect(to: fixture.path)
        try first.sendRaw(header(VhostUserRequest.getFeatures.rawValue, flags: 0x1 | 0x10, size: 0))
        expectClosed(first)
        #expect(fixture.waitUntilDisconnected())
        let second = try VhostUserChannel.connect(to: fixture.path)
        try second.sendRaw(header(VhostUserRequest.getFeatures.rawValue, flags: 0x5, size: 0))
        expectClosed(second)
        try expectBackendServes(fixture)
    }

    @Test func anOversizedPayloadIsRefusedWithoutWaitingForIt() throws {
        let fixture = try BackendFixture()
        let channel = try VhostUserChannel.connect(to: fixture.path)
        try channel.sendRaw(header(VhostUserRequest.setMemTable.rawValue, size: 0x10_0000))
        expectClosed(channel)
        #expect(fixture.log.contains("payload of 1048576 bytes"))
        try expectBackendServes(fixture)
    }

    @Test func aTruncatedHeaderFollowedByHangingUp() throws {
        let fixture = try BackendFixture()
        let channel = try VhostUserChannel.connect(to: fixture.path)
        try channel.sendRaw([1, 0, 0, 0, 1])
        channel.close()
        try expectBackendServes(fixture)
    }

    @Test func aTruncatedHeaderOrAMissingPayloadIsNotWaitedForForever() throws {
        let fixture = try BackendFixture()
        let channel = try VhostUserChannel.connect(to: fixture.path)
        try channel.sendRaw([1, 0, 0, 0, 1])  // and then silence
        expectClosed(channel)
        #expect(fixture.log.contains("timed out waiting for the rest of a message header"))
        try expectBackendServes(fixture)

        let second = try VhostUserChannel.connect(to: fixture.path)
        try second.sendRaw(header(VhostUserRequest.setFeatures.rawValue, size: 8))  // no payload follows
        expectClosed(second)
        #expect(fixture.log.contains("timed out waiting for a 8-byte payload"))
        try expectBackendServes(fixture)
    }

    @Test func anUnknownRequestWithoutNeedReplyIsIgnored() throws {
        let fixture = try BackendFixture()
        let channel = try VhostUserChannel.connect(to: fixture.path)
        try channel.sendRaw(header(999, size: 3) + [7, 7, 7])
        try channel.sendRaw(header(VhostUserRequest.sendRARP.rawValue, size: 0))
        #expect(try getFeatures(channel) == VirtioFeatures.transportOffered)
        #expect(fixture.log.contains("request 999 is not supported here: ignored"))
        #expect(fixture.backend.status.isConnected)
    }

    @Test func anUnknownOrUnnegotiatedRequestWithNeedReplyIsAnsweredWithFailure() throws {
        let fixture = try BackendFixture()
        let channel = try replyAckChannel(fixture)
        try channel.sendRaw(header(999, flags: VhostUserFlags.version | VhostUserFlags.needReply, size: 0))
        #expect(try ack(channel, 999) == 1)
        // A known request that was not negotiated (LOG_SHMFD), carrying an fd.
        let fd = try EventNotifier.create()
        try channel.send(request: VhostUserRequest.setLogBase.rawValue,
                         flags: VhostUserFlags.version | VhostUserFlags.needReply,
                         payload: [UInt8](repeating: 0, count: 16), fileDescriptors: [fd])
        close(fd)
        #expect(try ack(channel, VhostUserRequest.setLogBase.rawValue) == 1)
        #expect(try getFeatures(channel) == VirtioFeatures.transportOffered)
    }

    @Test func semanticallyWrongRequestsAreRefusedAndTheConnectionLives() throws {
        let fixture = try BackendFixture()
        let channel = try replyAckChannel(fixture)
        let needReply = VhostUserFlags.version | VhostUserFlags.needReply
        func refused(_ request: VhostUserRequest, _ payload: [UInt8], fds: [Int32] = []) throws -> Bool {
            try channel.send(request: request.rawValue, flags: needReply, payload: payload, fileDescriptors: fds)
            return try ack(channel, request.rawValue) == 1
        }
        #expect(try refused(.setFeatures, U64Payload.encode(VirtioFeatures.ringPacked)))
        #expect(try refused(.setProtocolFeatures, U64Payload.encode(VhostUserProtocolFeatures.backendRequests)))
        #expect(try refused(.setVringNum, VringState(index: 0, number: 100).payload))
        #expect(try refused(.setVringNum, VringState(index: 0, number: 2048).payload))
        #expect(try refused(.setVringNum, VringState(index: 7, number: 64).payload))
        #expect(try refused(.setVringBase, VringState(index: 0, number: 70000).payload))
        #expect(try refused(.setVringEnable, VringState(index: 0, number: 2).payload))
        #expect(try refused(.setVringKick, U64Payload.encode(0x100)))  // polling mode
        #expect(try refused(.setVringCall, U64Payload.encode(0)))  // an fd was promised
        #expect(try refused(.setVringCall, U64Payload.encode(0x1000)))  // reserved bits
        // A memory table whose fds do not match its regions.
        let table = MemoryTablePayload.encode([MemoryRegionDescription(
            guestPhysicalAddress: 0, size: 4096, userAddress: 0, mmapOffset: 0)])
        #expect(try refused(.setMemTable, table))
        // Ring addresses outside the memory table.
        let memory = try SharedMemory(size: 65536, guestPhysicalAddress: 0x4000_0000)
        #expect(try !refused(.setMemTable, MemoryTablePayload.encode([memory.regionDescription]),
                             fds: [memory.fileDescriptor]))
        #expect(try refused(.setVringAddr, VringAddress(index: 0, descriptorTable: 0x10, usedRing: 0x20,
                                                        availRing: 0x30).payload))
        // Valid requests still succeed afterwards.
        #expect(try !refused(.setVringNum, VringState(index: 1, number: 64).payload))
        #expect(try getFeatures(channel) == VirtioFeatures.transportOffered)
        #expect(fixture.backend.status.errors >= 12)
    }

    @Test func aKnownRequestWithTheWrongPayloadSizeClosesTheConnection() throws {
        let fixture = try BackendFixture()
        let channel = try VhostUserChannel.connect(to: fixture.path)
        try channel.sendRaw(header(VhostUserRequest.setFeatures.rawValue, size: 4) + [1, 2, 3, 4])
        expectClosed(channel)
        #expect(fixture.log.contains("SET_FEATURES with a 4-byte payload"))
        try expectBackendServes(fixture)
        let second = try VhostUserChannel.connect(to: fixture.path)
        try second.sendRaw(header(VhostUserRequest.getFeatures.rawValue, size: 8) + [UInt8](repeating: 0, count: 8))
        expectClosed(second)
        try expectBackendServes(fixture)
    }

    @Test func fileDescriptorsWhereNoneBelongAreClosedAndTooManyCloseTheConnection() throws {
        let fixture = try BackendFixture()
        let channel = try VhostUserChannel.connect(to: fixture.path)
        let fd = try EventNotifier.create()
        defer { close(fd) }
        try channel.send(request: VhostUserRequest.getFeatures.rawValue, flags: VhostUserFlags.version,
                         fileDescriptors: [fd])
        #expect(U64Payload.decode(try channel.receiveReply(to: .getFeatures, payloadSize: 8, timeoutMilliseconds: 10_000))
                == VirtioFeatures.transportOffered)
        #expect(fixture.log.contains("GET_FEATURES carried 1 unexpected fds: closed"))
        // 32 fds on a request that takes one: refused (all closed), connection alive.
        try channel.send(request: VhostUserRequest.setVringCall.rawValue, flags: VhostUserFlags.version,
                         payload: U64Payload.encode(0), fileDescriptors: [Int32](repeating: fd, count: 32))
        #expect(try getFeatures(channel) == VirtioFeatures.transportOffered)
        #expect(fixture.log.contains("32 fds attached where one was expected"))
        // 33: more than the backend receives on one message: the connection closes.
        try channel.send(request: VhostUserRequest.setVringCall.rawValue, flags: VhostUserFlags.version,
                         payload: U64Payload.encode(0), fileDescriptors: [Int32](repeating: fd, count: 33))
        expectClosed(channel)
        #expect(fixture.log.contains("more than 32 file descriptors"))
        try expectBackendServes(fixture)
    }
}
