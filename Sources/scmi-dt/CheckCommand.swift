import ArgumentParser

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Check the arm,scmi-vio-backend node of one or more blobs against the binding.")
    func run() throws {
        throw ValidationError("'check' is not built yet")
    }
}
