import Glibc
import LinuxIO

/// One received message. The receiver owns `fileDescriptors` and must close every
/// one it does not keep.
public struct VhostUserMessage: Sendable {
    public var header: VhostUserHeader
    public var payload: [UInt8]
    public var fileDescriptors: [Int32]

    /// The request code, when it is one the protocol defines.
    public var request: VhostUserRequest? { VhostUserRequest(rawValue: header.request) }

    /// Human-readable request name, also for undefined codes.
    public var requestName: String { request?.description ?? "request \(header.request)" }
}

/// A connected vhost-user socket: framing, fd passing (SCM_RIGHTS), timeouts.
///
/// Reading is strict: a header must say version 1 with no unknown flag bits and a
/// payload of at most 4096 bytes, and the payload must follow within
/// `payloadTimeoutMilliseconds` — a peer never makes us wait forever for bytes
/// it announced. Sends use MSG_NOSIGNAL, so a vanished peer is an error, not SIGPIPE.
public final class VhostUserChannel: @unchecked Sendable {
    // @unchecked: the fd is immutable; each side uses its channel from one thread
    // at a time (the backend's control thread, or the frontend's user), except
    // `shutdownForStop()`, which is safe from any thread.

    public let fileDescriptor: Int32
    private var isClosed = false
    /// How long the rest of a message may take once its first byte arrived.
    public var payloadTimeoutMilliseconds: Int32 = 2000

    /// Takes ownership of a connected stream socket.
    public init(adopting fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    deinit { close() }

    /// Connects to a listening vhost-user socket.
    public static func connect(to path: String) throws -> VhostUserChannel {
        VhostUserChannel(adopting: try UnixSocket.connect(to: path).rawValue)
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        closeQuietly(fileDescriptor)
    }

    // MARK: Sending

    /// Sends one message (header and payload in one sendmsg, fds attached).
    public func send(request: UInt32, flags: UInt32, payload: [UInt8] = [], fileDescriptors: [Int32] = []) throws {
        var bytes = [UInt8](repeating: 0, count: VhostUserLimits.headerSize)
        bytes.withUnsafeMutableBytes {
            VhostUserHeader(request: request, flags: flags, size: UInt32(payload.count)).write(to: $0)
        }
        bytes += payload
        try sendRaw(bytes, fileDescriptors: fileDescriptors)
    }

    /// Sends arbitrary bytes (tests use it for garbage), fds attached to the first
    /// byte (up to the kernel's 253, more than a receiver here accepts).
    public func sendRaw(_ bytes: [UInt8], fileDescriptors: [Int32] = []) throws {
        guard fileDescriptors.count <= 253 else {
            throw VhostUserError.invalidArgument("more than 253 fds")
        }
        var sent = 0
        if !fileDescriptors.isEmpty || bytes.isEmpty {
            sent = try sendWithFileDescriptors(bytes, fileDescriptors)
        }
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes {
                Glibc.send(fileDescriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw errno == EPIPE || errno == ECONNRESET ? VhostUserError.disconnected : .lastError("send")
            }
            sent += count
        }
    }

    private func sendWithFileDescriptors(_ bytes: [UInt8], _ fds: [Int32]) throws -> Int {
        do {
            return try bytes.withUnsafeBytes { bytes throws(LinuxIOError) in
                try UnixSocket.send(fileDescriptor, bytes, attaching: fds)
            }
        } catch let error as LinuxIOError {
            throw error.errno == EPIPE || error.errno == ECONNRESET ? VhostUserError.disconnected : Self.converting(error)
        }
    }

    /// A LinuxIO failure as this module's error (same text).
    private static func converting(_ error: LinuxIOError) -> VhostUserError {
        if case .system(let call, let code) = error { return .system(call: call, errno: code) }
        return .protocolViolation("\(error)")
    }

    // MARK: Receiving

    /// Receives one message. Waits up to `timeoutMilliseconds` (< 0: forever) for
    /// it to begin. Throws `.disconnected` on EOF, `.protocolViolation` on framing
    /// garbage (after closing any fds it carried), `.timedOut` when a started
    /// message does not complete in time.
    public func receive(timeoutMilliseconds: Int32 = -1) throws -> VhostUserMessage {
        guard waitReadable(fileDescriptor, timeoutMilliseconds: timeoutMilliseconds) else {
            throw VhostUserError.timedOut("a vhost-user message")
        }
        var headerBytes = [UInt8](repeating: 0, count: VhostUserLimits.headerSize)
        var fds: [Int32] = []
        let first = try receiveFirstChunk(into: &headerBytes, fds: &fds)
        do {
            if first == 0 { throw VhostUserError.disconnected }
            if first < headerBytes.count {
                try readExactly(into: &headerBytes, from: first, what: "the rest of a message header")
            }
            let header = headerBytes.withUnsafeBytes { VhostUserHeader(bytes: $0) }
            guard header.version == VhostUserFlags.version else {
                throw VhostUserError.protocolViolation("header version \(header.version), expected 1")
            }
            guard header.flags & ~VhostUserFlags.known == 0 else {
                throw VhostUserError.protocolViolation("unknown header flag bits 0x\(String(header.flags, radix: 16))")
            }
            guard header.size <= VhostUserLimits.maximumPayloadSize else {
                throw VhostUserError.protocolViolation(
                    "payload of \(header.size) bytes announced (at most \(VhostUserLimits.maximumPayloadSize))")
            }
            var payload = [UInt8](repeating: 0, count: Int(header.size))
            if !payload.isEmpty { try readExactly(into: &payload, from: 0, what: "a \(header.size)-byte payload") }
            return VhostUserMessage(header: header, payload: payload, fileDescriptors: fds)
        } catch {
            closeAll(fds)
            throw error
        }
    }

    /// The first recvmsg of a message: up to 12 header bytes plus any fds.
    private func receiveFirstChunk(into header: inout [UInt8], fds: inout [Int32]) throws -> Int {
        let capacity = VhostUserLimits.maximumFileDescriptors
        let chunk: ReceivedChunk
        do {
            chunk = try header.withUnsafeMutableBytes { data throws(LinuxIOError) in
                try UnixSocket.receive(fileDescriptor, into: data, fileDescriptorCapacity: capacity)
            }
        } catch let error as LinuxIOError {
            throw error.errno == ECONNRESET ? VhostUserError.disconnected : Self.converting(error)
        }
        fds = chunk.fileDescriptors
        if chunk.overflowed {
            closeAll(fds)
            fds = []
            throw VhostUserError.protocolViolation("more than \(capacity) file descriptors on one message")
        }
        return chunk.byteCount
    }

    /// Fills `buffer[start...]` with plain recv calls, each preceded by a bounded wait.
    private func readExactly(into buffer: inout [UInt8], from start: Int, what: String) throws {
        var filled = start
        while filled < buffer.count {
            guard waitReadable(fileDescriptor, timeoutMilliseconds: payloadTimeoutMilliseconds) else {
                throw VhostUserError.timedOut(what)
            }
            let count = buffer.withUnsafeMutableBytes {
                recv(fileDescriptor, $0.baseAddress! + filled, $0.count - filled, Int32(MSG_DONTWAIT))
            }
            if count == 0 { throw VhostUserError.disconnected }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw errno == ECONNRESET ? VhostUserError.disconnected : .lastError("recv")
            }
            filled += count
        }
    }

    // MARK: Replies (frontend side)

    /// Receives the reply to `request`, checking what QEMU checks: same request
    /// code, flags exactly version 1 | REPLY, the expected payload size, no fds.
    public func receiveReply(to request: VhostUserRequest, payloadSize: Int, timeoutMilliseconds: Int32) throws
        -> [UInt8]
    {
        let message = try receive(timeoutMilliseconds: timeoutMilliseconds)
        closeAll(message.fileDescriptors)
        guard message.header.request == request.rawValue else {
            throw VhostUserError.protocolViolation("reply to \(request) carries \(message.requestName)")
        }
        guard message.header.flags == VhostUserFlags.version | VhostUserFlags.reply else {
            throw VhostUserError.protocolViolation(
                "reply to \(request) has flags 0x\(String(message.header.flags, radix: 16)), expected 0x5")
        }
        guard message.payload.count == payloadSize, message.fileDescriptors.isEmpty else {
            throw VhostUserError.protocolViolation(
                "reply to \(request) has \(message.payload.count) bytes and \(message.fileDescriptors.count) fds")
        }
        return message.payload
    }
}
