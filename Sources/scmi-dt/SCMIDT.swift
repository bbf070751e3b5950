import ArgumentParser
import BackendModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `scmi-dt`: check, tabulate and serve the arm,scmi-vio-backend node of a devicetree.
@main
struct SCMIDT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scmi-dt",
        abstract: "Check, tabulate and serve an arm,scmi-vio-backend devicetree over vhost-user.",
        discussion: """
            Shell completion: scmi-dt --generate-completion-script bash|zsh|fish (make install puts
            the scripts where each shell finds them).
            """,
        version: scmiDTVersion,
        subcommands: [Inventory.self, Scaffold.self, Check.self, Tables.self, GuestDTSI.self, Serve.self, Status.self, Call.self]
    )

    /// `scmi-dt check FILE...` runs without ArgumentParser (`Check.plainBlobs`); everything
    /// else goes through it.
    static func main() {
        let arguments = CommandLine.arguments
        if arguments.count > 2, arguments[1] == "check", let blobs = Check.plainBlobs(arguments[2...]) {
            terminate(Check.check(blobs, sources: BlobSources(), format: .text, werror: false))
        }
        main(nil)
    }
}

/// The C library's `exit` (it flushes standard output), which inside `SCMIDT` the
/// `ParsableCommand.exit(withError:)` method would shadow.
private func terminate(_ status: Int32) -> Never {
    #if canImport(Glibc)
    Glibc.exit(status)
    #elseif canImport(Musl)
    Musl.exit(status)
    #endif
}
