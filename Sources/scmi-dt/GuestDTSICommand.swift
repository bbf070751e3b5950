import ArgumentParser
import BackendModel
import ResourceTables

struct GuestDTSI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest-dtsi",
        abstract: "Print the guest-side arm,scmi-virtio node for one agent.",
        discussion: "The output goes inside /firmware of the guest devicetree (guest/run.sh --scmi-dtsi FILE). It lists only the protocols the agent may use and, for voltage, only the domains of its devices.")

    @Argument(help: "The blob (.dtb) or devicetree source (.dts).")
    var blob: String

    @OptionGroup var sources: SourceOptions

    @Option(help: "The agent (arm,scmi-agent-name, or its id); required when the blob declares several.")
    var agent: String?

    func run() throws {
        let result = BackendChecker.check(blobAt: blob, sources: sources.sources)
        guard let tables = result.tables else {
            for diagnostic in result.diagnostics where diagnostic.severity == .error { printError(diagnostic.renderedWithHint) }
            printError(result.diagnostics.summary)
            throw ExitCode(result.isUnusable ? 2 : 1)
        }
        let names = tables.agentList
        let chosen: AgentEntry
        if let agent {
            guard let match = tables.agent(agent) else {
                throw ValidationError("no agent '\(agent)' in \(blob); its agents: \(names)")
            }
            chosen = match
        } else {
            guard tables.agents.count == 1 else {
                throw ValidationError("\(blob) declares \(tables.agents.count) agents; choose one with --agent: \(names)")
            }
            chosen = tables.agents[0]
        }
        print(GuestNode.render(tables, agent: chosen, source: blob), terminator: "")
    }
}
