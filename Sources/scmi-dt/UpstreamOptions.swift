import ArgumentParser
import SCMIUpstream
import ServeRuntime

/// `--upstream ADDRESS` and `--upstream-timeout D`: where the SCMI firmware
/// that owns the board's firmware resources is (docs/host.md §7, §8), for
/// `tables` (its facts merged in) and `serve` (its resources' changes sent to it).
struct UpstreamOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The SCMI firmware that owns the board's firmware resources: raw:DIR (Linux SCMI raw mode) or vhost-user:PATH. "
            + "tables prints the tables with its facts merged in, and where each fact came from; serve serves those and sends "
            + "the firmware the changes of its resources, answering the guest once the firmware has.",
        valueName: "address"))
    var upstream: String?

    @Option(name: .customLong("upstream-timeout"), help: "How long the firmware may take to answer one command (1s, 500ms).")
    var upstreamTimeout = "1s"

    func validate() throws {
        if let upstream, UpstreamAddress(parsing: upstream) == nil {
            throw ValidationError("--upstream '\(upstream)': give raw:DIR or vhost-user:PATH")
        }
        if parseDuration(upstreamTimeout) == nil {
            throw ValidationError("--upstream-timeout '\(upstreamTimeout)': give a positive duration such as 1s or 500ms")
        }
    }

    /// --upstream parsed; nil without it.
    var address: UpstreamAddress? { upstream.flatMap(UpstreamAddress.init(parsing:)) }

    var timeoutNanoseconds: Int64 { parseDuration(upstreamTimeout) ?? 1_000_000_000 }

    /// What a link waits for one reply (at least 1 ms).
    var timeoutMilliseconds: Int { Int(max(timeoutNanoseconds / 1_000_000, 1)) }
}
