import ArgumentParser
import DeviceTree
import Foundation

/// Writes large, valid `arm,scmi-vio-backend` trees for benchmarks and scale tests, and
/// measures how long DeviceTree takes to open and walk a blob.
@main
struct GenTree: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scmi-dt-gen-tree",
        abstract: "Generate a large valid arm,scmi-vio-backend devicetree blob (no dtc needed).",
        subcommands: [Generate.self, Nest.self, Walk.self],
        defaultSubcommand: Generate.self)
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a generated backend tree.")

    @Option(help: "SCMI devices under devices { }.") var devices = 10_000
    @Option(help: "Host clocks (half outputs of one #clock-cells=<1> controller, half fixed clocks).") var clocks = 5_000
    @Option(help: "Host regulators.") var regulators = 2_000
    @Option(help: "Agents (1..254).") var agents = 64
    @Option(name: [.short, .customLong("output")], help: "Where to write the .dtb.") var output: String

    func validate() throws {
        guard devices >= 1, devices <= 1_000_000 else { throw ValidationError("--devices must be 1..1000000") }
        guard clocks >= 1 else { throw ValidationError("--clocks must be at least 1") }
        guard regulators >= 1 else { throw ValidationError("--regulators must be at least 1") }
        guard (1...254).contains(agents) else { throw ValidationError("--agents must be 1..254 (SCMI agent ids)") }
    }

    func run() throws {
        let plan = BackendTreePlan(devices: devices, clocks: clocks, regulators: regulators, agents: agents)
        let blob = try BackendTreeWriter(plan: plan).write()
        try Data(blob).write(to: URL(fileURLWithPath: output))
        print("\(output): \(blob.count) bytes, \(devices) devices, \(clocks) clocks, \(regulators) regulators, \(agents) agents")
    }
}

/// Copy a blob with a chain of nested host nodes added under its root: the input for depth
/// tests (`check` must stay linear in time and memory however deep a tree is nested).
struct Nest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a blob, adding a chain of nested host nodes /level/level/... under the root.")

    @Option(help: "How many nested nodes to add.") var depth = 10_000
    @Option(help: "The chain's node name.") var name = "level"
    @Argument(help: "The blob to copy (e.g. examples/board.dtb).") var input: String
    @Option(name: [.short, .customLong("output")], help: "Where to write the .dtb.") var output: String

    func validate() throws {
        guard depth >= 0, depth <= 10_000_000 else { throw ValidationError("--depth must be 0..10000000") }
    }

    func run() throws {
        let tree = try FlattenedDeviceTree(contentsOf: input)
        let out = try FlattenedDeviceTreeWriter(initialCapacity: tree.byteCount + depth * 16 + 64)
        try out.copy(tree.root) { node throws(BlobError) in
            guard node == tree.root else { return }
            for _ in 0..<depth { try out.beginNode(name) }
            for _ in 0..<depth { try out.endNode() }
        }
        let blob = try out.finish()
        try Data(blob).write(to: URL(fileURLWithPath: output))
        print("\(output): \(blob.count) bytes, \(tree.nodeCount + depth) nodes, nested \(depth) deep under /")
    }
}

/// Open a blob and touch everything BackendModel would: every node's path and properties,
/// every phandle array. Prints the best of `--repeat` runs; a yardstick for `scmi-dt check`.
struct Walk: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time opening and walking blobs with DeviceTree.")

    @Option(help: "Runs per blob; the fastest is printed.") var `repeat` = 5
    @Flag(help: "Only open (check and index) the blob, do not walk it.") var openOnly = false
    @Argument(help: "Blobs to walk.") var blobs: [String]

    func run() throws {
        for path in blobs {
            var best = Duration.seconds(3600)
            var summary = ""
            for _ in 0..<max(`repeat`, 1) {
                let clock = ContinuousClock()
                var nodes = 0, properties = 0, references = 0, problems = 0
                let elapsed = try clock.measure {
                    let tree = try FlattenedDeviceTree(contentsOf: path)
                    if openOnly { return }
                    // Roughly what a binding checker reads: every node's status, compatible and
                    // properties, each phandle array resolved, a few typed lookups per node.
                    tree.forEachNode { node in
                        nodes += 1
                        _ = node.path
                        _ = node.isEnabled
                        _ = node.compatible
                        _ = node.property("reg")?.u32
                        _ = node.property("arm,scmi-devname")?.string
                        for property in node.properties {
                            properties += 1
                            if property.name.hasSuffix("-supply"), case .success(let entries)? = node.phandles(of: property.name) {
                                references += entries.count
                            }
                        }
                        for (name, cells) in [("clocks", "#clock-cells"), ("resets", "#reset-cells")] {
                            switch node.specifiers(of: name, cellsName: cells, allowingHoles: true) {
                            case .success(let entries)?: references += entries.count
                            case .failure?: problems += 1
                            case nil: break
                            }
                        }
                    }
                    _ = tree.nodes(withCompatible: "arm,scmi-vio-backend")
                }
                best = min(best, elapsed)
                summary = "\(nodes) nodes, \(properties) properties, \(references) phandle references, \(problems) unresolvable"
            }
            let milliseconds = Double(best.components.attoseconds) / 1e15 + Double(best.components.seconds) * 1e3
            print("\(path): open+walk \(String(format: "%.2f", milliseconds)) ms (\(summary))")
        }
    }
}
