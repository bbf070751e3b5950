import Glibc
import LinuxIO
import Logging
import Testing
import VhostUser
import Virtqueue

@Suite struct ConnectionTests {
    @Test func aFrontendCanReconnectAfterDisconnecting() throws {
        let fixture = try BackendFixture()
        let first = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        #expect(try first.exchange(request: [1], responseCapacity: 4) == [1])
        first.close()
        #expect(fixture.waitUntilDisconnected())
        #expect(fixture.device(0).closed.load(ordering: .relaxed) == 1)

        let second = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { second.close() }
        #expect(try second.exchange(request: [1, 2], responseCapacity: 4) == [2, 1])
        #expect(fixture.deviceCount == 2)  // a fresh device per connection
        #expect(fixture.device(1).calls.load(ordering: .relaxed) == 1)
        let status = fixture.backend.status
        #expect(status.connectionsAccepted == 2 && status.chainsServed == 2 && status.chainsServedThisConnection == 1)
        #expect(status.connectedSince != nil)
    }

    @Test func aFrontendVanishingMidBatchLeavesTheBackendServing() throws {
        let fixture = try BackendFixture()
        for _ in 0..<3 {
            let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions(slots: 64))
            for slot in 0..<frontend.slotCount {
                frontend.requestBuffer(slot: slot).copyBytes(from: [UInt8](repeating: UInt8(slot), count: 100))
                try frontend.submit(slot: slot, requestLength: 100, responseCapacity: 200)
            }
            frontend.kick()
            frontend.disconnect()  // no GET_VRING_BASE, no goodbye; memory and fds go away
            #expect(fixture.waitUntilDisconnected())
        }
        #expect(fixture.deviceCount == 3)
        for index in 0..<3 { #expect(fixture.device(index).closed.load(ordering: .relaxed) == 1) }
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { frontend.close() }
        #expect(try frontend.exchange(request: [4, 5, 6], responseCapacity: 8) == [6, 5, 4])
    }

    @Test func aSecondFrontendIsRefusedWhileTheFirstKeepsWorking() throws {
        let fixture = try BackendFixture()
        let first = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { first.close() }
        #expect(try first.exchange(request: [1, 2], responseCapacity: 4) == [2, 1])

        let intruder = try VhostUserChannel.connect(to: fixture.path)  // the kernel accepts the connect
        try? intruder.send(request: VhostUserRequest.getFeatures.rawValue, flags: VhostUserFlags.version)
        #expect(throws: VhostUserError.disconnected) { _ = try intruder.receive(timeoutMilliseconds: 15_000) }
        #expect(fixture.backend.status.connectionsRefused == 1)
        #expect(fixture.log.contains("refusing a second frontend"))

        #expect(try first.exchange(request: [3, 4, 5], responseCapacity: 4) == [5, 4, 3])
        #expect(throws: VhostUserError.closedDuringNegotiation) {
            _ = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        }
        #expect(fixture.backend.status.connectionsRefused == 2)
        #expect(try first.exchange(request: [6], responseCapacity: 4) == [6])
        #expect(fixture.deviceCount == 1)
        #expect(fixture.backend.status.isConnected)
    }

    @Test func stopClosesTheConnectionAndRemovesTheSocketFile() throws {
        let fixture = try BackendFixture()
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        #expect(try frontend.exchange(request: [9], responseCapacity: 4) == [9])
        #expect(access(fixture.path, F_OK) == 0)
        fixture.backend.stop()
        #expect(access(fixture.path, F_OK) != 0)
        #expect(!fixture.backend.status.isConnected)
        #expect(fixture.device(0).closed.load(ordering: .relaxed) == 1)
        #expect(throws: (any Error).self) { _ = try frontend.query(.getFeatures, replySize: 8) }
        #expect(throws: (any Error).self) { _ = try VhostUserChannel.connect(to: fixture.path) }
        fixture.backend.stop()  // idempotent
        frontend.disconnect()
    }

    @Test func staleSocketFilesAreReplacedButLiveOnesAndOtherFilesAreNot() throws {
        let fixture = try BackendFixture()
        // Live listener on the path.
        #expect(throws: LinuxIOError.socketInUse(fixture.path)) {
            _ = try VhostUserBackend(socketPath: fixture.path, device: VhostUserDeviceDescription(queueCount: 2),
                                     logger: fixture.log.logger, makeHandler: { ReversingDevice() })
        }
        // A stale socket file (nobody listens any more) is taken over.
        fixture.backend.stop()
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(fixture.path.utf8) + [0]) }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(stale)
        #expect(access(fixture.path, F_OK) == 0)
        let replacement = try VhostUserBackend(socketPath: fixture.path, device: VhostUserDeviceDescription(queueCount: 2),
                                               logger: fixture.log.logger, makeHandler: { ReversingDevice() })
        try replacement.start()
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        #expect(try frontend.exchange(request: [1, 2], responseCapacity: 4) == [2, 1])
        frontend.close()
        replacement.stop()
        // A regular file is never removed.
        let file = open(fixture.path, O_CREAT | O_WRONLY, 0o600)
        close(file)
        defer { unlink(fixture.path) }
        #expect(throws: LinuxIOError.pathIsNotASocket(fixture.path)) {
            _ = try VhostUserBackend(socketPath: fixture.path, device: VhostUserDeviceDescription(queueCount: 2),
                                     logger: fixture.log.logger, makeHandler: { ReversingDevice() })
        }
        #expect(throws: LinuxIOError.socketPathTooLong(String(repeating: "x", count: 200))) {
            _ = try VhostUserBackend(socketPath: String(repeating: "x", count: 200),
                                     device: VhostUserDeviceDescription(queueCount: 2),
                                     logger: fixture.log.logger, makeHandler: { ReversingDevice() })
        }
    }

    @Test func severalBackendsServeTheirFrontendsIndependently() throws {
        let fixtures = try (0..<3).map { _ in try BackendFixture() }
        let frontends = try fixtures.map { try VhostUserFrontend(socketPath: $0.path, options: frontendOptions()) }
        defer { for frontend in frontends { frontend.close() } }
        for round in 0..<20 {
            for (index, frontend) in frontends.enumerated() {
                #expect(try frontend.exchange(request: [UInt8(index), UInt8(round)], responseCapacity: 4)
                        == [UInt8(round), UInt8(index)])
            }
        }
        // Breaking one agent's ring does not disturb the others.
        frontends[0].driverQueue(0).storeAvailIndex(1000)
        frontends[0].kick(queue: 0)
        #expect(frontends[0].waitForError(queue: 0, timeoutMilliseconds: 10_000))
        for (index, frontend) in frontends.enumerated().dropFirst() {
            #expect(try frontend.exchange(request: [UInt8(index)], responseCapacity: 4) == [UInt8(index)])
        }
    }
}

@Suite struct FrontendTests {
    @Test func aFrontendWaitingForAnswersNoticesTheBackendGoingAway() throws {
        let fixture = try BackendFixture()
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        defer { frontend.disconnect() }
        frontend.driverQueue(0).storeAvailIndex(999)  // a broken queue never answers
        frontend.kick(queue: 0)
        #expect(frontend.waitForError(queue: 0, timeoutMilliseconds: 10_000))
        fixture.backend.stop()
        try frontend.submit(slot: 0, requestLength: 0, responseCapacity: 8)
        #expect(throws: VhostUserError.disconnected) { try frontend.waitForCompletions(timeoutMilliseconds: 20_000) }
    }

    @Test func aFrontendRefusesABackendWithoutVersion1AndReportsRejections() throws {
        // A backend that does not offer VIRTIO_F_VERSION_1 cannot be driven; a raw
        // listener plays that backend.
        let path = "/tmp/scmi-dt-vu-\(getpid())-fake.sock"
        unlink(path)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        listen(listener, 1)
        defer {
            close(listener)
            unlink(path)
        }
        let fake = try NativeTestThread {
            let fd = accept(listener, nil, nil)
            let channel = VhostUserChannel(adopting: fd)
            if let message = try? channel.receive(timeoutMilliseconds: 10_000) {
                try? channel.send(request: message.header.request, flags: 0x5, payload: U64Payload.encode(1 << 30))
            }
            _ = try? channel.receive(timeoutMilliseconds: 10_000)
        }
        #expect(throws: VhostUserError.missingFeature("VIRTIO_F_VERSION_1")) {
            _ = try VhostUserFrontend(socketPath: path, options: frontendOptions())
        }
        fake.join()
    }
}

/// A plain thread for a test's fake peer.
final class NativeTestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }
    init(_ body: @escaping @Sendable () -> Void) throws {
        let box = Unmanaged.passRetained(Box(body))
        guard pthread_create(&thread, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, box.toOpaque()) == 0 else { throw VhostUserError.lastErrorForTests }
    }
    func join() { pthread_join(thread, nil) }
}

extension VhostUserError {
    static var lastErrorForTests: VhostUserError { .system(call: "pthread_create", errno: errno) }
}
