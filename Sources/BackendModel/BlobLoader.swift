import DeviceTree
import Foundation

/// What a command reads besides its blob: overlays applied on top, include directories for
/// sources that use the C preprocessor.
public struct BlobSources: Sendable {
    public var overlays: [String]
    public var includeDirectories: [String]

    public init(overlays: [String] = [], includeDirectories: [String] = []) {
        self.overlays = overlays
        self.includeDirectories = includeDirectories
    }
}

/// A blob with its overlays applied, and which overlay wrote what.
public struct LoadedTree: Sendable {
    public let tree: FlattenedDeviceTree
    public let provenance: OverlayProvenance

    /// The file a finding belongs to: the overlay that wrote its node or property, else `base`.
    public func file(of diagnostic: Diagnostic, base: String) -> String {
        provenance.origin(path: diagnostic.path, property: diagnostic.property) ?? base
    }
}

/// Opens a blob for `check`: a `.dtb` is read as is, a `.dts` is compiled with the installed
/// dtc first (into memory; nothing is written), through the C preprocessor when it uses it.
public enum BlobLoader {
    public static func load(_ path: String) throws(BlobError) -> FlattenedDeviceTree {
        try load(path, sources: BlobSources()).tree
    }

    /// The blob at `path` with `sources.overlays` applied in order (docs/board.md).
    /// A `.dts` base is compiled with `dtc -@` when there are overlays, so that they can use its labels.
    public static func load(_ path: String, sources: BlobSources) throws(BlobError) -> LoadedTree {
        let withSymbols = !sources.overlays.isEmpty
        let base = try open(path, symbols: withSymbols, includeDirectories: sources.includeDirectories)
        guard withSymbols else { return LoadedTree(tree: base, provenance: OverlayProvenance()) }
        var overlays: [DeviceTreeOverlay] = []
        for overlayPath in sources.overlays {
            let tree: FlattenedDeviceTree
            do {
                tree = try open(overlayPath, symbols: true, includeDirectories: sources.includeDirectories)
            } catch {
                throw BlobError(code: error.code, message: "overlay \(overlayPath): \(error.message)")
            }
            overlays.append(try DeviceTreeOverlay(tree: tree, name: overlayPath))
        }
        let (tree, provenance) = try base.applying(overlays)
        return LoadedTree(tree: tree, provenance: provenance)
    }

    private static func open(_ path: String, symbols: Bool, includeDirectories: [String]) throws(BlobError) -> FlattenedDeviceTree {
        if isSource(path) {
            return try FlattenedDeviceTree(bytes: compile(dts: path, symbols: symbols, includeDirectories: includeDirectories))
        }
        return try FlattenedDeviceTree(contentsOf: path)
    }

    /// `.dts` and `.dtso` (overlay source) are compiled; anything else is read as a blob.
    public static func isSource(_ path: String) -> Bool { path.hasSuffix(".dts") || path.hasSuffix(".dtso") }

    /// `dtc -q -I dts -O dtb [-@] path`, its output captured. A source that uses the C
    /// preprocessor (`#include`, `#define`, `#if…`), or any source when include directories are
    /// given, is first run through `cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp` as the
    /// kernel's build does; dtc reads cpp's line markers, so its errors name the original file
    /// and line.
    public static func compile(dts path: String, symbols: Bool = false, includeDirectories: [String] = []) throws(BlobError) -> [UInt8] {
        guard FileManager.default.isReadableFile(atPath: path), let text = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw BlobError(code: "UNREADABLE", message: exists ? "cannot read \(path)" : "\(path) does not exist")
        }
        guard let dtc = findExecutable("dtc") else {
            throw BlobError(
                code: "NO_DTC",
                message: "\(path) is devicetree source and dtc is not installed to compile it (apt-get install device-tree-compiler), or pass a .dtb")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let sourceDirectory = directory.isEmpty ? "." : directory
        var sourceArgument = path
        var preprocessed: String? = nil
        defer { if let preprocessed { unlink(preprocessed) } }
        if !includeDirectories.isEmpty || usesPreprocessor(text) {
            // dtc reads cpp's output from a private temporary file (a pipe to a dtc that exits
            // early would raise SIGPIPE in this process); its line markers name the original.
            let output = try preprocess(path, directory: sourceDirectory, includeDirectories: includeDirectories)
            preprocessed = try temporaryFile(holding: output)
            sourceArgument = preprocessed!
        }
        var arguments = ["-q", "-I", "dts", "-O", "dtb", "-i", sourceDirectory]
        for include in includeDirectories { arguments += ["-i", include] }
        if symbols { arguments.append("-@") }
        arguments += ["-o", "-", sourceArgument]
        let run = try runTool(dtc, arguments, missing: "NO_DTC")
        guard run.status == 0 else {
            throw BlobError(code: "DTC_FAILED", message: "dtc could not compile \(path): \(run.errorSummary)")
        }
        return [UInt8](run.output)
    }

    /// True when a line starts (after blanks) with a C preprocessor directive dtc does not know.
    /// `#address-cells` and the like are properties, not directives.
    static func usesPreprocessor(_ text: Data) -> Bool {
        let directives = ["include", "define", "undef", "if", "ifdef", "ifndef", "elif", "else", "endif", "error", "pragma"]
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard trimmed.hasPrefix("#") else { continue }
            let word = trimmed.dropFirst().drop { $0 == " " || $0 == "\t" }.prefix { $0.isLetter }
            if directives.contains(String(word)) { return true }
        }
        return false
    }

    /// cpp's output for `path`; a missing cpp or a cpp error is a `BlobError` naming the file.
    static func preprocess(_ path: String, directory: String, includeDirectories: [String]) throws(BlobError) -> Data {
        guard let cpp = findExecutable("cpp") else {
            throw BlobError(
                code: "NO_CPP",
                message: "\(path) needs the C preprocessor (it uses #include or #define, or -I was given) and cpp is not installed (apt-get install cpp)")
        }
        var arguments = ["-nostdinc", "-undef", "-D__DTS__", "-x", "assembler-with-cpp", "-I", directory]
        for include in includeDirectories { arguments += ["-I", include] }
        arguments.append(path)
        let run = try runTool(cpp, arguments, missing: "NO_CPP")
        guard run.status == 0 else {
            throw BlobError(code: "CPP_FAILED", message: "cpp could not preprocess \(path): \(run.errorLines)")
        }
        return run.output
    }

    /// What a finished tool left: its exit status, standard output and error.
    struct ToolRun {
        var status: Int32
        var output: Data
        var errors: Data
        /// Only the lines of standard error that say `error` (cpp adds the source and a caret).
        var errorLines: String {
            let lines = String(decoding: errors, as: UTF8.self).split(separator: "\n").filter { $0.contains("error") }
            return lines.isEmpty ? errorSummary : lines.prefix(5).joined(separator: "; ")
        }

        /// The first five lines of standard error, on one line.
        var errorSummary: String {
            let text = String(decoding: errors, as: UTF8.self).split(separator: "\n").prefix(5).joined(separator: "; ")
            return text.isEmpty ? "exit status \(status)" : text
        }
    }

    /// Runs `tool` with `arguments` (no standard input), reading both pipes to the end before
    /// waiting, so that a chatty tool cannot block.
    static func runTool(_ tool: String, _ arguments: [String], missing code: String) throws(BlobError) -> ToolRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw BlobError(code: code, message: "cannot run \(tool): \(error)")
        }
        let errorData = LockedData()
        let errorsRead = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errorData.set(errors.fileHandleForReading.readDataToEndOfFile())
            errorsRead.signal()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        errorsRead.wait()
        return ToolRun(status: process.terminationStatus, output: data, errors: errorData.get())
    }

    /// A new file (mode 0600) in the temporary directory holding `data`; the caller unlinks it.
    static func temporaryFile(holding data: Data) throws(BlobError) -> String {
        var template = Array((NSTemporaryDirectory() + "/scmi-dt-cpp.XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw BlobError(code: "UNREADABLE", message: "cannot create a temporary file for cpp's output: \(String(cString: strerror(errno)))")
        }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
        } catch {
            unlink(path)
            throw BlobError(code: "UNREADABLE", message: "cannot write cpp's output to \(path): \(error)")
        }
        return path
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = String(directory) + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Data handed from the stderr reader thread; the lock makes the hand-over safe.
private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data ?? Data() }
}
