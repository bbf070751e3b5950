import ArgumentParser
import BackendModel

/// `--overlay FILE` and `-I DIR`: how every command that reads a board gets its tree.
struct SourceOptions: ParsableArguments {
    @Option(name: .customLong("overlay"), help: "An overlay (.dtbo, or .dtso compiled with dtc -@) applied to the blob; repeatable, applied in order.")
    var overlays: [String] = []

    @Option(name: .customShort("I"), help: "An include directory for #include in .dts/.dtso sources (run through cpp); repeatable.")
    var includeDirectories: [String] = []

    var sources: BlobSources { BlobSources(overlays: overlays, includeDirectories: includeDirectories) }

    /// The tree, or its blob-unusable finding on standard error and exit status 2.
    func loadOrExit(_ blob: String) throws -> LoadedTree {
        do {
            return try BlobLoader.load(blob, sources: sources)
        } catch {
            let diagnostic = Diagnostic(file: blob, path: "/", severity: .error, rule: "blob-unusable", message: error.description)
            printError(diagnostic.renderedWithHint)
            throw ExitCode(2)
        }
    }
}
