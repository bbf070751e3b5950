import ArgumentParser

struct Tables: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tables", abstract: "Print the resolved protocol, clock, voltage, device and agent tables.")
    func run() throws {
        throw ValidationError("'tables' is not built yet")
    }
}
