import Glibc
import LinuxIO
import Synchronization
import Testing

/// A fresh directory under /tmp, removed by `cleanup()`.
private struct ScratchDirectory {
    let path: String
    init() throws {
        var template = Array("/tmp/linuxio-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw LinuxIOError.lastError("mkdtemp")
        }
        path = String(cString: made)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func cleanup() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { unlink(file(name)) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}

/// Writes all of `bytes` to `fd`.
private func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { write(fd.rawValue, $0.baseAddress, $0.count) } == bytes.count
}

/// Reads up to `count` bytes from `fd`.
private func readSome(_ fd: FileDescriptor, _ count: Int) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: count)
    let n = buffer.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress, $0.count) }
    return n > 0 ? Array(buffer[0..<n]) : []
}

@Suite struct UnixSocketTests {
    @Test func listenConnectAcceptCarryBytesBothWays() throws {
        let directory = try ScratchDirectory()
        defer { directory.cleanup() }
        let path = directory.file("s.sock")
        let listener = try UnixSocket.listen(on: path)
        defer { listener.closeQuietly() }
        let client = try UnixSocket.connect(to: path, timeout: .seconds(5))
        defer { client.closeQuietly() }
        let server = try UnixSocket.accept(listener)
        defer { server.closeQuietly() }
        #expect(fcntl(server.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(client.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(writeAll(client, [1, 2, 3]))
        #expect(readSome(server, 16) == [1, 2, 3])
        #expect(writeAll(server, [4]))
        #expect(readSome(client, 16) == [4])
    }

    @Test func aStaleSocketFileIsReplaced() throws {
        let directory = try ScratchDirectory()
        defer { directory.cleanup() }
        let path = directory.file("stale.sock")
        // Bound, never listened on, closed: the file stays, connecting is refused.
        let stale = try UnixSocket.makeSocket()
        var address = try UnixSocket.address(for: path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        try stale.close()
        #expect(access(path, F_OK) == 0)
        let listener = try UnixSocket.listen(on: path)
        defer { listener.closeQuietly() }
        let client = try UnixSocket.connect(to: path)
        client.closeQuietly()
    }

    @Test func aLiveSocketIsRefusedAndOtherFilesAreKept() throws {
        let directory = try ScratchDirectory()
        defer { directory.cleanup() }
        let path = directory.file("live.sock")
        let listener = try UnixSocket.listen(on: path)
        defer { listener.closeQuietly() }
        #expect(throws: LinuxIOError.socketInUse(path)) { _ = try UnixSocket.listen(on: path) }
        #expect(LinuxIOError.socketInUse(path).description == "another process is already listening on \(path)")

        let plain = directory.file("plain")
        close(open(plain, O_CREAT | O_WRONLY, 0o600))
        #expect(throws: LinuxIOError.pathIsNotASocket(plain)) { _ = try UnixSocket.listen(on: plain) }
        #expect(access(plain, F_OK) == 0)

        let long = String(repeating: "x", count: 200)
        #expect(throws: LinuxIOError.socketPathTooLong(long)) { _ = try UnixSocket.listen(on: long) }
        #expect(throws: LinuxIOError.socketPathTooLong("")) { _ = try UnixSocket.connect(to: "") }
    }

    @Test func bindFailuresNameThePath() throws {
        let path = "/nonexistent-linuxio-directory/s.sock"
        do {
            _ = try UnixSocket.listen(on: path)
            Issue.record("listen on \(path) succeeded")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.description.hasPrefix("bind(\(path)) failed: "), "\(error)")
        }
    }

    @Test func connectingToNothingIsRefusedOrMissing() throws {
        let directory = try ScratchDirectory()
        defer { directory.cleanup() }
        let path = directory.file("absent.sock")
        do {
            _ = try UnixSocket.connect(to: path, timeout: .milliseconds(100))
            Issue.record("connect succeeded")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.description.hasPrefix("connect(\(path)) failed: "))
        }
    }

    /// A listener that never accepts, with its backlog full: a connect with a timeout
    /// fails with EAGAIN instead of blocking (the stale-socket probe relies on it).
    @Test func connectWithATimeoutToAFullBacklogFailsWithEAGAIN() throws {
        let directory = try ScratchDirectory()
        defer { directory.cleanup() }
        let path = directory.file("full.sock")
        let listener = try UnixSocket.listen(on: path, backlog: 0)
        defer { listener.closeQuietly() }
        var queued: [FileDescriptor] = []
        defer { closeAll(queued) }
        var failure: LinuxIOError?
        for _ in 0..<64 {
            do {
                queued.append(try UnixSocket.connect(to: path, timeout: .milliseconds(50)))
            } catch {
                failure = error
                break
            }
        }
        #expect(failure?.errno == EAGAIN, "\(String(describing: failure))")
        // And listen() on that path calls the busy listener live.
        #expect(throws: LinuxIOError.socketInUse(path)) { _ = try UnixSocket.listen(on: path) }
    }

    @Test func receiveTimeoutMakesARecvFailWithEAGAIN() throws {
        let directory = try ScratchDirectory()
        defer { directory.cleanup() }
        let path = directory.file("t.sock")
        let listener = try UnixSocket.listen(on: path)
        defer { listener.closeQuietly() }
        let client = try UnixSocket.connect(to: path)
        defer { client.closeQuietly() }
        let server = try UnixSocket.accept(listener)
        defer { server.closeQuietly() }
        UnixSocket.setTimeout(client, SO_RCVTIMEO, .milliseconds(20))
        var byte: UInt8 = 0
        #expect(recv(client.rawValue, &byte, 1, 0) == -1 && errno == EAGAIN)
    }
}

@Suite struct EventNotifierTests {
    @Test func signalsAddUpAndDrainClearsThem() throws {
        let fd = try EventNotifier.make(nonblocking: true)
        defer { fd.closeQuietly() }
        #expect(EventNotifier.isNonblocking(fd.rawValue))
        #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(EventNotifier.consume(fd) == nil)  // nothing yet, non-blocking
        EventNotifier.signal(fd)
        EventNotifier.signal(fd.rawValue)
        EventNotifier.signal(fd)
        #expect(EventNotifier.consume(fd) == 3)
        #expect(EventNotifier.consume(fd) == nil)
    }

    @Test func waitTimesOutThenSeesASignalFromAnotherThread() throws {
        let raw = try EventNotifier.create()
        defer { closeQuietly(raw) }
        #expect(!EventNotifier.isNonblocking(raw))
        #expect(!EventNotifier.wait(raw, timeoutMilliseconds: 10))
        let thread = try NativeThread(name: "signaller") { EventNotifier.signal(raw) }
        #expect(EventNotifier.wait(raw, timeoutMilliseconds: 10_000))
        thread.join()
        #expect(!EventNotifier.wait(FileDescriptor(rawValue: raw), timeoutMilliseconds: 0))
    }
}

@Suite struct MemoryFileTests {
    @Test func aMemoryFileHasItsSizeAndMapsShared() throws {
        let size = 3 * 4096
        let fd = try MemoryFile.create(name: "linuxio-test", size: size)
        defer { fd.closeQuietly() }
        #expect(try MemoryFile.size(of: fd) == size)
        #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        let first = try MemoryFile.map(fd, size: size)
        let second = try MemoryFile.map(fd, size: size)
        defer {
            munmap(first, size)
            munmap(second, size)
        }
        #expect(first != second)
        #expect(second.load(fromByteOffset: 8192, as: UInt64.self) == 0)  // zero-filled
        first.storeBytes(of: 0x1122_3344_5566_7788, toByteOffset: 8192, as: UInt64.self)
        #expect(second.load(fromByteOffset: 8192, as: UInt64.self) == 0x1122_3344_5566_7788)
        var readBack: UInt64 = 0
        #expect(pread(fd.rawValue, &readBack, 8, 8192) == 8 && readBack == 0x1122_3344_5566_7788)
    }

    /// Failures name the call. (Never a closed descriptor's number: tests run in parallel
    /// and another one may have opened it again.)
    @Test func mappingAnEventfdFailsAndClosingNothingIsEBADF() throws {
        let event = try EventNotifier.make()
        defer { event.closeQuietly() }
        do {
            _ = try MemoryFile.map(event, size: 4096)
            Issue.record("an eventfd was mapped")
        } catch {
            #expect(error.description.hasPrefix("mmap of the memfd failed: "))
        }
        #expect(throws: LinuxIOError.system(call: "close", errno: EBADF)) { try FileDescriptor(rawValue: -1).close() }
    }
}

@Suite struct NativeThreadTests {
    @Test func aThreadRunsItsBodyUnderItsNameAndJoins() throws {
        let ran = Atomic<Int>(0)
        let name = Mutex("")
        let isCurrentInside = Atomic<Bool>(false)
        let holder = Mutex<NativeThread?>(nil)
        let thread = try NativeThread(name: "linuxio-worker-long-name") {
            let comm = open("/proc/thread-self/comm", O_RDONLY)
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = buffer.withUnsafeMutableBytes { read(comm, $0.baseAddress, $0.count) }
            close(comm)
            name.withLock { $0 = String(decoding: buffer[0..<max(count, 0)], as: UTF8.self) }
            // Wait until the creator published the thread object, then ask it.
            while holder.withLock({ $0 == nil }) { usleep(1000) }
            isCurrentInside.store(holder.withLock { $0!.isCurrent }, ordering: .relaxed)
            ran.add(1, ordering: .relaxed)
        }
        holder.withLock { $0 = thread }
        #expect(!thread.isCurrent)
        thread.join()
        thread.join()  // a second join is a no-op
        let runs = ran.load(ordering: .relaxed)
        let wasCurrent = isCurrentInside.load(ordering: .relaxed)
        let seenName = name.withLock { $0 }
        #expect(runs == 1)
        #expect(wasCurrent)
        #expect(seenName == "linuxio-worker-\n")  // 15 bytes kept; comm ends in a newline
        holder.withLock { $0 = nil }
    }
}

@Suite struct DescriptorPassingTests {
    /// A connected pair of Unix stream sockets.
    private func pair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw LinuxIOError.lastError("socketpair")
        }
        return (fds[0], fds[1])
    }

    @Test func anEventfdSentByScmRightsIsTheSameCounter() throws {
        let (a, b) = try pair()
        defer { closeAll([a, b]) }
        let event = try EventNotifier.create(nonblocking: true)
        defer { closeQuietly(event) }
        let sent = try [UInt8]([7, 8, 9]).withUnsafeBytes { bytes throws(LinuxIOError) in
            try UnixSocket.send(a, bytes, attaching: [event])
        }
        #expect(sent == 3)
        var buffer = [UInt8](repeating: 0, count: 8)
        let chunk = try buffer.withUnsafeMutableBytes { bytes throws(LinuxIOError) in
            try UnixSocket.receive(b, into: bytes, fileDescriptorCapacity: 4)
        }
        defer { closeAll(chunk.fileDescriptors) }
        #expect(chunk.byteCount == 3 && Array(buffer[0..<3]) == [7, 8, 9])
        #expect(!chunk.overflowed)
        #expect(chunk.fileDescriptors.count == 1)
        let received = try #require(chunk.fileDescriptors.first)
        #expect(received != event)
        #expect(fcntl(received, F_GETFD) & FD_CLOEXEC != 0)
        EventNotifier.signal(received)
        #expect(EventNotifier.consume(event) == 1)
    }

    @Test func descriptorsBeyondTheCapacityAreClosedAndReported() throws {
        let (a, b) = try pair()
        defer { closeAll([a, b]) }
        let events = try (0..<3).map { _ throws(LinuxIOError) in try EventNotifier.create() }
        defer { closeAll(events) }
        _ = try [UInt8]([1]).withUnsafeBytes { bytes throws(LinuxIOError) in
            try UnixSocket.send(a, bytes, attaching: events)
        }
        var buffer = [UInt8](repeating: 0, count: 1)
        let chunk = try buffer.withUnsafeMutableBytes { bytes throws(LinuxIOError) in
            try UnixSocket.receive(b, into: bytes, fileDescriptorCapacity: 2)
        }
        closeAll(chunk.fileDescriptors)
        #expect(chunk.overflowed)
        #expect(chunk.fileDescriptors.count <= 2)
    }

    @Test func aClosedPeerReadsAsZeroBytesAndSendingToItIsEPIPE() throws {
        let (a, b) = try pair()
        closeQuietly(b)
        defer { closeQuietly(a) }
        var buffer = [UInt8](repeating: 0, count: 1)
        let chunk = try buffer.withUnsafeMutableBytes { bytes throws(LinuxIOError) in
            try UnixSocket.receive(a, into: bytes, fileDescriptorCapacity: 1)
        }
        #expect(chunk.byteCount == 0 && chunk.fileDescriptors.isEmpty)
        #expect(throws: LinuxIOError.system(call: "sendmsg", errno: EPIPE)) {
            _ = try [UInt8]([1]).withUnsafeBytes { bytes throws(LinuxIOError) in try UnixSocket.send(a, bytes, attaching: []) }
        }
    }

    /// The mode, group and owner asked for are the socket file's before anyone can connect,
    /// whatever the umask; a non-socket file is named as such by connect.
    @Test func aSocketGetsItsAccessAndAFileIsNotASocket() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("s.sock")
        let previous = umask(0o022)
        defer { umask(previous) }
        let listener = try UnixSocket.listen(on: path, access: SocketAccess(mode: 0o620, group: getgid()))
        defer { listener.closeQuietly() }
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o620)
        #expect(info.st_gid == getgid())
        try UnixSocket.connect(to: path).closeQuietly()

        let file = scratch.file("plain")
        let created = creat(file, 0o644)
        #expect(created >= 0)
        closeQuietly(created)
        #expect(throws: LinuxIOError.pathIsNotASocket(file)) { try UnixSocket.connect(to: file) }
    }

    /// systemd's NOTIFY_SOCKET may be a path or an abstract name (`@…`); both get the datagram.
    @Test func datagramsReachAPathAndAnAbstractName() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanup() }
        let abstractName = "linuxio-\(getpid())-notify"
        for (target, bindBytes) in [(scratch.file("notify"), Array(scratch.file("notify").utf8)), ("@" + abstractName, [0] + Array(abstractName.utf8))] {
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            defer { closeQuietly(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bindBytes) }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + bindBytes.count + (bindBytes.first == 0 ? 0 : 1))
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            #expect(bound == 0, "bind \(target)")
            try UnixDatagram.send("READY=1", to: target)
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            #expect(n == 7 && String(decoding: buffer[0..<max(n, 0)], as: UTF8.self) == "READY=1", "\(target)")
        }
        #expect(throws: LinuxIOError.self) { try UnixDatagram.send("READY=1", to: scratch.file("nobody")) }
    }
}
