import CLinuxShim
import Glibc

/// One `recvmsg` of `UnixSocket.receive(_:into:fileDescriptorCapacity:)`.
public struct ReceivedChunk: Sendable {
    /// Bytes received; 0 means the peer closed the connection.
    public var byteCount: Int
    /// Descriptors received with the bytes (close-on-exec). The caller owns them.
    public var fileDescriptors: [Int32]
    /// More descriptors came than fit: the extra ones were closed, or the kernel
    /// truncated the control data (MSG_CTRUNC). `fileDescriptors` still holds the
    /// ones that fit, for the caller to close.
    public var overflowed: Bool
}

/// File descriptor passing over Unix stream sockets (SCM_RIGHTS), with no framing.
extension UnixSocket {
    /// Sends `bytes` with `fileDescriptors` attached to them, in one `sendmsg` with
    /// MSG_NOSIGNAL (a vanished peer is EPIPE, not SIGPIPE); EINTR is retried.
    /// Returns the bytes sent, which may be fewer than given (the descriptors went
    /// with the first of them). At most 253 descriptors (the kernel's limit).
    public static func send(_ socket: Int32, _ bytes: UnsafeRawBufferPointer, attaching fileDescriptors: [Int32])
        throws(LinuxIOError) -> Int
    {
        var control = [UInt8](repeating: 0, count: max(shim_cmsg_space_for_fds(fileDescriptors.count), 1))
        while true {
            let count = control.withUnsafeMutableBytes { controlBytes in
                fileDescriptors.withUnsafeBufferPointer { fdBuffer in
                    var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                    var message = msghdr()
                    return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                        message.msg_iov = vectorPointer
                        message.msg_iovlen = 1
                        if !fileDescriptors.isEmpty {
                            message.msg_control = controlBytes.baseAddress
                            message.msg_controllen = shim_cmsg_put_fds(controlBytes.baseAddress, fdBuffer.baseAddress,
                                                                       fileDescriptors.count)
                        }
                        return sendmsg(socket, &message, Int32(MSG_NOSIGNAL))
                    }
                }
            }
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw .lastError("sendmsg")
        }
    }

    /// One `recvmsg` (MSG_CMSG_CLOEXEC; EINTR retried) into `buffer`, collecting the
    /// descriptors of every SCM_RIGHTS message that came with the bytes, up to
    /// `fileDescriptorCapacity`.
    public static func receive(_ socket: Int32, into buffer: UnsafeMutableRawBufferPointer,
                               fileDescriptorCapacity capacity: Int) throws(LinuxIOError) -> ReceivedChunk
    {
        var control = [UInt8](repeating: 0, count: shim_cmsg_space_for_fds(capacity))
        var received = [Int32](repeating: -1, count: capacity)
        var dropped = 0
        var truncated = false
        var found = 0
        let count: Int = control.withUnsafeMutableBytes { controlBytes in
            var vector = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                var message = msghdr()
                message.msg_iov = vectorPointer
                message.msg_iovlen = 1
                message.msg_control = controlBytes.baseAddress
                message.msg_controllen = controlBytes.count
                var result: Int
                repeat {
                    result = recvmsg(socket, &message, Int32(MSG_CMSG_CLOEXEC))
                } while result < 0 && errno == EINTR
                if result >= 0 {
                    truncated = message.msg_flags & Int32(MSG_CTRUNC) != 0
                    found = received.withUnsafeMutableBufferPointer {
                        shim_cmsg_take_fds(&message, $0.baseAddress, capacity, &dropped)
                    }
                }
                return result
            }
        }
        if count < 0 { throw .lastError("recvmsg") }
        return ReceivedChunk(byteCount: count, fileDescriptors: Array(received[0..<found]),
                             overflowed: truncated || dropped > 0)
    }
}
