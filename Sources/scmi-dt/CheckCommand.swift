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
        let status = Self.check(blobs, sources: sources.sources, format: format, werror: werror)
        if status != 0 { throw ExitCode(status) }
    }

    /// Checks `blobs`, prints the findings and the summary, and returns the exit status:
    /// 2 when an input is unusable, else 1 with errors (or warnings under `werror`), else 0.
    static func check(_ blobs: [String], sources: BlobSources, format: OutputFormat, werror: Bool) -> Int32 {
        var all: [Diagnostic] = []
        var unusable = false
        for blob in blobs {
            let result = BackendChecker.check(blobAt: blob, sources: sources)
            all += result.diagnostics
            unusable = unusable || result.isUnusable
            keptUntilExit.append(result)
        }
        var output = ""
        switch format {
        case .json:
            output = all.json + "\n"
        case .text:
            output = all.renderedLines
            output += all.summary + (blobs.count > 1 ? " in \(blobs.count) files" : "") + "\n"
        }
        print(output, terminator: "")
        if unusable { return 2 }
        let failing = all.contains { $0.severity == .error || (werror && $0.severity == .warning) }
        return failing ? 1 : 0
    }

    /// The start-up short cut for the common form, `scmi-dt check FILE...` with no option:
    /// the blobs when `arguments` (what follows `check`) is one or more words none of which
    /// starts with `-`, else nil (then ArgumentParser parses them). For such arguments
    /// ArgumentParser decides exactly this (every word a blob, `help` included, text format,
    /// no --werror), but building its command tree reflects over every subcommand's
    /// properties and looks up protocol conformances at run time: about a third of checking
    /// a small board (docs/architecture.md, start-up).
    static func plainBlobs(_ arguments: ArraySlice<String>) -> [String]? {
        guard !arguments.isEmpty, arguments.allSatisfy({ !$0.hasPrefix("-") }) else { return nil }
        return Array(arguments)
    }
}

/// Every check's result (tree, model, tables), never freed: the process exits right after
/// printing, and the kernel takes the memory back at once, whereas freeing a model of
/// 100,000 devices object by object is a measurable part of `check`'s time.
nonisolated(unsafe) private var keptUntilExit: [CheckResult] = []
