// What both firmware transports share: the check that a reply answers its
// command, the commands that a delayed response follows, deadlines and poll().

import Glibc
import SCMIWire

/// The checks every link makes on a reply before handing it over.
enum ReplyCheck {
    /// The header word at the start of `bytes`; nil when there are fewer than 4.
    static func header(of bytes: [UInt8]) -> MessageHeader? {
        guard bytes.count >= 4 else { return nil }
        return MessageHeader(rawValue: word(bytes, at: 0))
    }

    /// Whether `reply` is the synchronous reply to `request`: type 0 and the
    /// same protocol, message id and token (the firmware echoes the command's
    /// header; reserved bits are not compared).
    static func echoes(_ reply: MessageHeader, _ request: MessageHeader) -> Bool {
        reply.type == .command && reply.protocolID == request.protocolID && reply.messageID == request.messageID
            && reply.token == request.token
    }

    /// Throws `.malformed` unless `reply` holds a header and a status and its
    /// header echoes `request`.
    static func verify(_ reply: [UInt8], answers request: MessageHeader) throws(UpstreamError) {
        guard let header = header(of: reply) else {
            throw .malformed("\(reply.count) bytes, shorter than a header, for \(request)")
        }
        guard echoes(header, request) else {
            throw .malformed("header \(header) does not echo the command's \(request)")
        }
        guard reply.count >= SCMILimits.minResponse else {
            throw .malformed("\(reply.count) bytes, no status word, for \(request)")
        }
    }

    /// The little-endian word at byte `offset`, 0 past the end.
    static func word(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else { return 0 }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }
}

/// The commands that a delayed response follows (docs/protocol.md §27): an
/// asynchronous CLOCK_RATE_SET that did not ask to skip it, an asynchronous
/// SENSOR_READING_GET, RESET or VOLTAGE_LEVEL_SET. Linux's raw mode must be
/// told (the command goes to `message_async`), or it drops the delayed
/// response as unexpected.
public enum DelayedResponse {
    /// Whether `request` (header + parameters) is answered twice.
    public static func follows(_ request: [UInt8]) -> Bool {
        guard let header = ReplyCheck.header(of: request), header.type == .command else { return false }
        /// Parameter word `index` (after the header).
        func parameter(_ index: Int) -> UInt32 { ReplyCheck.word(request, at: 4 + 4 * index) }
        switch (header.protocolID, header.messageID) {
        case (0x14, 0x5): return parameter(0) & 0b11 == 0b01  // CLOCK_RATE_SET: async, delayed response wanted
        case (0x15, 0x6): return parameter(1) & 0b1 != 0  // SENSOR_READING_GET: async
        case (0x16, 0x4): return parameter(1) & 0b100 != 0  // RESET: async
        case (0x17, 0x7): return parameter(1) & 0b1 != 0  // VOLTAGE_LEVEL_SET: async
        default: return false
        }
    }
}

/// A point in time a wait must not pass.
struct Deadline {
    let end: ContinuousClock.Instant

    init(milliseconds: Int) {
        end = .now + .milliseconds(max(0, milliseconds))
    }

    /// Milliseconds left for poll(), rounded up so that a wait never ends
    /// early; 0 once passed.
    var remainingMilliseconds: Int32 {
        let left = end - .now
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        return Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    var hasPassed: Bool { ContinuousClock.now >= end }
}

/// poll() on `fds` for input, up to `timeoutMilliseconds`; the `revents` of
/// each (all 0 on a timeout or an interrupted call: the caller looks again).
func pollInput(_ fds: [Int32], timeoutMilliseconds: Int32) -> [Int16] {
    var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let ready = poll(&entries, nfds_t(entries.count), timeoutMilliseconds)
    guard ready > 0 else { return [Int16](repeating: 0, count: fds.count) }
    return entries.map(\.revents)
}

/// Text of an errno value.
func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
