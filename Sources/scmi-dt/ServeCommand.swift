import ArgumentParser

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the SCMI platform of a blob as a vhost-user backend.")
    func run() throws {
        throw ValidationError("'serve' is not built yet")
    }
}
