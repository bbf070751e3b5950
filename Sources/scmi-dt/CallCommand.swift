import ArgumentParser

struct Call: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "call", abstract: "Send SCMI commands to a running serve as a vhost-user frontend.")
    func run() throws {
        throw ValidationError("'call' is not built yet")
    }
}
