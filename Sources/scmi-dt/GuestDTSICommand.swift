import ArgumentParser

struct GuestDTSI: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "guest-dtsi", abstract: "Print the guest-side arm,scmi-virtio node for one agent.")
    func run() throws {
        throw ValidationError("'guest-dtsi' is not built yet")
    }
}
