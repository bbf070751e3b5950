// `serve --upstream ADDRESS`: the link to the firmware, whichever transport
// the address names (docs/host.md, "Upstream").

/// Connects to the firmware at `address`: opens Linux's raw-mode files
/// (`RawLink`) or negotiates as a vhost-user frontend (`VhostUserLink`, which
/// waits up to `timeoutMilliseconds` for each answer of the backend while it
/// negotiates). Whatever fails is `.disconnected` with the place named.
public func connectUpstream(_ address: UpstreamAddress, timeoutMilliseconds: Int) throws(UpstreamError) -> any UpstreamLink {
    switch address {
    case .raw(let directory): try RawLink(directory: directory)
    case .vhostUser(let path): try VhostUserLink(socketPath: path, timeoutMilliseconds: timeoutMilliseconds)
    }
}
