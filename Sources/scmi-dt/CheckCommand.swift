import ArgumentParser
import BackendModel

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the arm,scmi-vio-backend node of one or more blobs against the binding.",
        discussion: """
            Each finding names the blob, the node, the property, a rule id and a hint. \
            A .dts argument is compiled with dtc first. Exit status: 0 without errors \
            (warnings allowed unless --werror), 1 with errors, 2 when an input is not a \
            usable flattened devicetree. Rule ids: docs/rules.md.
            """)

    @Argument(help: "Blobs (.dtb) or devicetree sources (.dts) to check.")
    var blobs: [String]

    @OptionGroup var sources: SourceOptions

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Flag(help: "Treat warnings as errors (exit 1 when there is any warning).")
    var werror = false

    func run() throws {
        var all: [Diagnostic] = []
        var unusable = false
        for blob in blobs {
            let result = BackendChecker.check(blobAt: blob, sources: sources.sources)
            all += result.diagnostics
            unusable = unusable || result.isUnusable
            keptUntilExit.append(result)
        }
        switch format {
        case .json:
            print(all.json)
        case .text:
            for diagnostic in all { print(diagnostic.renderedWithHint) }
            print(all.summary + (blobs.count > 1 ? " in \(blobs.count) files" : ""))
        }
        if unusable { throw ExitCode(2) }
        let failing = all.contains { $0.severity == .error || (werror && $0.severity == .warning) }
        if failing { throw ExitCode(1) }
    }
}

/// Every check's result (tree, model, tables), never freed: the process exits right after
/// printing, and the kernel takes the memory back at once, whereas freeing a model of
/// 100,000 devices object by object is a measurable part of `check`'s time.
nonisolated(unsafe) private var keptUntilExit: [CheckResult] = []
