import ArgumentParser
import BackendModel
import BoardInventory
import Foundation

struct Scaffold: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaffold",
        abstract: "Write a devicetree overlay that adds an arm,scmi-vio-backend node for chosen devices of a board.",
        discussion: """
            The overlay (/plugin/; source) has the protocols the devices need, one device@N per \
            device with arm,scmi-basedev pointing at its host node, and the agents. Facts the host \
            tree lacks (a clock's rates, a regulator's levels) become commented placeholders, each \
            reported on standard error. Check the result with `scmi-dt check BLOB --overlay FILE`.
            """)

    @Argument(help: "The board blob (.dtb) or devicetree source (.dts).")
    var blob: String

    @Option(name: .customLong("device"), help: "A device by label or absolute path (scmi-dt inventory lists them); repeatable, in devid order.")
    var devices: [String] = []

    @Option(name: .customLong("agent"), help: "NAME=DEV,DEV[,trusted]: a guest and the chosen devices it may use; repeatable. Default: one agent vm1 with every device.")
    var agents: [String] = []

    @Option(name: .shortAndLong, help: "Write the overlay to FILE instead of standard output.")
    var output: String?

    @OptionGroup var sources: SourceOptions

    func run() throws {
        let loaded = try sources.loadOrExit(blob)
        let written: ScaffoldOutput
        do throws(ScaffoldError) {
            let requests = try agents.map { text throws(ScaffoldError) in try AgentRequest(parsing: text) }
            let scaffold = BoardScaffold(inventory: BoardInventory(tree: loaded.tree), tree: loaded.tree, blobName: blob)
            written = try scaffold.write(devices: devices, agents: requests)
        } catch {
            printError("scaffold: \(TerminalText.escapingControls(error.description))")
            throw ExitCode(1)
        }
        for note in written.notes { printError("note: " + TerminalText.escapingControls(note)) }
        if let output {
            do {
                try Data(written.source.utf8).write(to: URL(fileURLWithPath: output))
            } catch {
                printError("scaffold: cannot write \(output): \(error.localizedDescription)")
                throw ExitCode(1)
            }
        } else {
            print(written.source, terminator: "")
        }
    }
}
