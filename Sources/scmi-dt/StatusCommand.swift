import ArgumentParser

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the physical state, agents and connections of a running serve.")
    func run() throws {
        throw ValidationError("'status' is not built yet")
    }
}
