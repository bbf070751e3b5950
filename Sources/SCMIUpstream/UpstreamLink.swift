// The mediator's side of `serve --upstream` (docs/host.md, "Upstream"): serve
// is an agent of the SCMI platform that owns the resources (the firmware) and
// sends it the arbitrated state of every upstream resource. This file is the
// seam between the firmware transports (vhost-user, Linux raw mode) and what
// is sent over them: a link carries one SCMI command at a time and brings back
// its reply, and hands over the firmware's notifications. It knows nothing of
// resources or arbitration; UpstreamHost knows nothing of sockets or files.

import SCMIClient

/// Where the firmware is: `raw:DIR` or `vhost-user:PATH` (serve --upstream).
public enum UpstreamAddress: Hashable, Sendable, CustomStringConvertible {
    /// Linux's SCMI raw mode directory (debugfs `scmi/N/raw`): `message`,
    /// `message_async`, `notification`.
    case raw(directory: String)
    /// A vhost-user SCMI device's socket; serve is its frontend.
    case vhostUser(path: String)

    /// Parses `raw:DIR` or `vhost-user:PATH`; nil for anything else or an empty path.
    public init?(parsing text: String) {
        if text.hasPrefix("raw:"), text.count > 4 {
            self = .raw(directory: String(text.dropFirst(4)))
        } else if text.hasPrefix("vhost-user:"), text.count > 11 {
            self = .vhostUser(path: String(text.dropFirst(11)))
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .raw(let directory): "raw:" + directory
        case .vhostUser(let path): "vhost-user:" + path
        }
    }
}

/// Why a command did not come back from the firmware.
public enum UpstreamError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No reply within the timeout.
    case timedOut(milliseconds: Int)
    /// The firmware is gone (socket closed, file error); the link must be made again.
    case disconnected(String)
    /// A reply that is not the reply to this command (wrong header or token, too short).
    case malformed(String)

    public var description: String {
        switch self {
        case .timedOut(let milliseconds): "no reply within \(milliseconds) ms"
        case .disconnected(let why): "upstream gone: " + why
        case .malformed(let why): "malformed reply: " + why
        }
    }
}

/// One connection to the firmware. Used by one thread at a time for commands
/// (the owner serialises them); notifications are taken on another thread.
public protocol UpstreamLink: AnyObject, Sendable {
    /// Sends `request` (header + parameters) and returns the reply as it came
    /// (header, status, return values), or throws when none came within
    /// `timeoutMilliseconds` or the link failed. A delayed response, when the
    /// command has one, is a notification (`receive`).
    func exchange(_ request: [UInt8], timeoutMilliseconds: Int) throws(UpstreamError) -> [UInt8]

    /// Waits up to `timeoutMilliseconds` for messages the firmware sends on
    /// its own (notifications, delayed responses) and gives each to `body`
    /// (header + payload). Returns how many; throws when the link failed.
    func receive(timeoutMilliseconds: Int, _ body: ([UInt8]) -> Void) throws(UpstreamError) -> Int

    /// Ends the connection; later calls throw `.disconnected`.
    func close()
}

/// SCMIClient's byte pipe over a link, for the Base handshake and the fact
/// reading at start (UpstreamLink commands are otherwise sent by UpstreamHost).
public struct UpstreamClientTransport: SCMITransport {
    public let link: any UpstreamLink
    public let timeoutMilliseconds: Int

    public init(link: any UpstreamLink, timeoutMilliseconds: Int) {
        self.link = link
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8] {
        let reply = try link.exchange(request, timeoutMilliseconds: timeoutMilliseconds)
        return Array(reply.prefix(responseCapacity))
    }
}
