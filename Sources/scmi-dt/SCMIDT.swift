import ArgumentParser

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
}
