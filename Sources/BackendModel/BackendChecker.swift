import DeviceTree
import Foundation
import ResourceTables

/// The outcome of checking one blob.
public struct CheckResult: Sendable {
    public var diagnostics: [Diagnostic]
    /// The resolved tables; nil when the blob is unusable or has errors.
    public var tables: PlatformTables?
    /// The typed backend, when a backend node was found (even with errors).
    public var backend: BackendDescription?
    public var hasErrors: Bool
    /// The input could not be read as a devicetree at all (exit status 2).
    public var isUnusable: Bool

    public init(diagnostics: [Diagnostic], tables: PlatformTables?, backend: BackendDescription?, isUnusable: Bool) {
        self.diagnostics = diagnostics
        self.tables = tables
        self.backend = backend
        self.hasErrors = diagnostics.contains { $0.severity == .error }
        self.isUnusable = isUnusable
    }
}

/// Checks the `arm,scmi-vio-backend` node of a blob: the schema's structural
/// rules, then docs/binding.md's semantic rules, then the tables.
public enum BackendChecker {
    /// The binding schema compiled from the embedded schemas/arm,scmi-vio-backend.yaml.
    public static let schema: Result<NodeSchema, SchemaError> = {
        let text = String(decoding: PackageResources.arm_scmi_vio_backend_yaml, as: UTF8.self)
        return Result { () throws(SchemaError) in try SchemaCompiler.compile(yaml: text) }
    }()

    /// Starts compiling the schema on another thread when the blob at `path` is large: reading
    /// and indexing it takes one CPU for milliseconds (tens at 100,000 devices) before `check`
    /// asks for the schema, which it then finds compiled or being compiled. A small blob is
    /// read sooner than a thread starts.
    private static func compileSchemaAside(forBlobAt path: String) {
        var status = stat()
        guard stat(path, &status) == 0, status.st_size >= schemaAsideFromBytes else { return }
        DispatchQueue.global().async { _ = schema }
    }

    /// Blob size (bytes) from which the schema is compiled beside the reading: about 5,000
    /// generated devices.
    static let schemaAsideFromBytes = 1 << 20

    /// Reads the blob at `path` (a `.dts` is compiled with dtc first) and checks it.
    /// `displayName` is how diagnostics name the file (default: `path`).
    public static func check(blobAt path: String, displayName: String? = nil) -> CheckResult {
        compileSchemaAside(forBlobAt: path)
        let file = displayName ?? path
        let tree: FlattenedDeviceTree
        do {
            tree = try BlobLoader.load(path)
        } catch {
            return unusable(file, error.description)
        }
        return check(tree: tree, file: file)
    }

    /// Reads the blob at `path` with `sources`' overlays applied and checks the result. A
    /// finding at a node or property an overlay wrote names that overlay as its file.
    public static func check(blobAt path: String, sources: BlobSources, displayName: String? = nil) -> CheckResult {
        compileSchemaAside(forBlobAt: path)
        let file = displayName ?? path
        let loaded: LoadedTree
        do {
            loaded = try BlobLoader.load(path, sources: sources)
        } catch {
            return unusable(file, error.description)
        }
        var result = check(tree: loaded.tree, file: file)
        guard !loaded.provenance.isEmpty else { return result }
        for index in result.diagnostics.indices {
            result.diagnostics[index].file = loaded.file(of: result.diagnostics[index], base: file)
        }
        return result
    }

    /// Checks blob bytes already in memory.
    public static func check(bytes: [UInt8], file: String) -> CheckResult {
        do {
            return check(tree: try FlattenedDeviceTree(bytes: bytes), file: file)
        } catch {
            return unusable(file, error.description)
        }
    }

    public static func check(tree: FlattenedDeviceTree, file: String) -> CheckResult {
        let schema: NodeSchema
        switch Self.schema {
        case .success(let compiled): schema = compiled
        case .failure(let error):
            // Only a broken build can get here; say so rather than trap.
            let diagnostic = Diagnostic(
                file: file, path: "/", severity: .error, rule: Rule.blobUnusable.id,
                message: "scmi-dt's embedded binding schema does not compile: \(error)")
            return CheckResult(diagnostics: [diagnostic], tables: nil, backend: nil, isUnusable: true)
        }

        var findings = DiagnosticCollector(file: file)
        TreeIntegrity.report(tree, into: &findings)
        guard let backendNode = findBackend(in: tree, findings: &findings) else {
            return CheckResult(diagnostics: findings.diagnostics, tables: nil, backend: nil, isUnusable: false)
        }
        // The reading (which takes both CPUs of a large backend itself), the structural pass and
        // the resolution only read the tree. For a large tree the structural pass runs on another
        // thread while the tables are resolved, followed there by the resolution's own work that
        // can wait (its findings still come first, so the output is the same); for a small one a
        // thread costs more than it saves.
        let validateStructure: @Sendable (DeviceTreeNode) -> [Diagnostic] = { backendNode in
            var structural = StructuralValidator(file: file)
            structural.validate(backend: backendNode, schema: schema)
            return structural.diagnostics
        }
        var reader = BackendReader(backend: backendNode, file: file)
        let backend = reader.read()
        let lane = tree.nodeCount >= backgroundThreshold ? DispatchQueue(label: "scmi-dt.check") : nil
        // On the lane the pass reads the tree's twin: its findings hold no node, only paths.
        let background = lane.map { lane in
            BackgroundWork(on: lane) { [twin = tree.twin()] in validateStructure(twin.node(at: backendNode.index)) }
        }
        var resolver = TableResolver(backend: backend, schema: schema, file: file, lane: lane)
        let tables = resolver.resolve()

        let structural = background?.wait() ?? validateStructure(backendNode)
        let diagnostics = findings.diagnostics + structural + reader.findings.diagnostics + resolver.diagnostics
        let result = CheckResult(diagnostics: ordered(diagnostics), tables: tables, backend: backend, isUnusable: false)
        if result.hasErrors { return CheckResult(diagnostics: result.diagnostics, tables: nil, backend: backend, isUnusable: false) }
        return result
    }

    /// Tree size (nodes) from which the structural pass runs on its own thread: a generated
    /// tree of 4,096 nodes has about 2,500 devices, whose pass takes a few milliseconds.
    static let backgroundThreshold = 4096

    /// The one enabled backend node; reports none, several, and misnamed ones.
    static func findBackend(in tree: FlattenedDeviceTree, findings: inout DiagnosticCollector) -> DeviceTreeNode? {
        let compatible = "arm,scmi-vio-backend"
        let candidates = tree.nodes(withCompatible: compatible)
        tree.forEachNode { node in
            guard node.hasBaseName("scmi-vio-backend") else { return }
            let name = node.name
            if !node.compatible.contains(compatible) {
                findings.add(
                    .backendCompatibleMissing, at: node, property: "compatible",
                    "node \(name) lacks compatible \"\(compatible)\" and is not used as the backend",
                    hint: "add compatible = \"\(compatible)\";")
            }
        }
        let enabled = candidates.filter(\.isEnabled)
        for extra in enabled.dropFirst() {
            findings.add(
                .backendDuplicate, at: extra, "a second enabled backend; \(enabled[0].path) is the one used",
                hint: "a tree describes one SCMI backend; disable or remove this one")
        }
        if let backend = enabled.first { return backend }
        let disabled = candidates.isEmpty ? "" : " (\(candidates.map(\.path).joined(separator: ", ")) \(candidates.count == 1 ? "is" : "are") disabled)"
        findings.add(
            .backendMissing, at: "/", "no enabled node with compatible \"\(compatible)\"\(disabled)",
            hint: "add a scmi-vio-backend node (usually under /firmware); see schemas/arm,scmi-vio-backend.yaml")
        return nil
    }

    private static func unusable(_ file: String, _ message: String) -> CheckResult {
        let diagnostic = Diagnostic(file: file, path: "/", severity: .error, rule: Rule.blobUnusable.id, message: message)
        return CheckResult(diagnostics: [diagnostic], tables: nil, backend: nil, isUnusable: true)
    }

    /// Stable output order: by node path in tree order is what the phases produce;
    /// keep it, but put whole-tree findings first.
    private static func ordered(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        diagnostics.filter { $0.path == "/" } + diagnostics.filter { $0.path != "/" }
    }
}
