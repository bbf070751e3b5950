import Foundation
import Testing

/// dt-validate (dtschema) with schemas/ and `check` must find the same structural
/// problems in the same nodes: the schema file is the one copy of those rules.
@Suite struct CheckDTValidateTests {
    static let structuralRules: Set<String> = [
        "node-unknown", "node-name", "property-unknown", "property-missing", "property-type", "property-value", "property-count",
        "property-alternatives",
    ]

    static let dtValidate = findInPath("dt-validate")

    // Slow (dt-validate loads the schemas, then decodes each tree in Python): one dt-validate
    // run over every blob, while `check` runs on each here.
    @Test(.tags(.slow), .enabled(if: dtValidate != nil, "dt-validate (pip install dtschema) is not installed"))
    func dtValidateAgreesOnStructuralFindings() throws {
        let dtValidate = try #require(Self.dtValidate)
        let directory = try TemporaryDirectory("dtv")
        defer { directory.cleanup() }
        let examples = packageRoot.appendingPathComponent("examples")
        let bad = ["bad", "warn"].flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: examples.path + "/" + folder)) ?? []).filter { $0.hasSuffix(".dts") }.map { folder + "/" + $0 }
        }
        var names: [String: String] = [:]  // blob file name → example
        for name in (["board.dts", "minimal.dts", "firmware-board.dts", "mediator/board.dts", "mediator/firmware.dts"] + bad).sorted() {
            guard let bytes = try? compileDTS(file: examples.path + "/" + name) else { continue }  // blob-unusable.dts
            let blob = name.replacingOccurrences(of: "/", with: "_") + ".dtb"
            _ = try directory.write(blob, bytes)
            names[blob] = name
        }
        var blobs = names.keys.sorted()
        var run = try DTValidateRun(dtValidate, blobs, in: directory)
        var checked: [String: ToolResult] = [:]
        for blob in blobs { checked[blob] = try scmiDT("check", "--format", "json", directory.path(blob)) }
        var undecodable: [String] = []
        var found: [String: [[String: Any]]]?
        while found == nil {
            switch try run.finish() {
            case .diagnostics(let byBlob):
                found = byBlob
            case .undecodable(let blob, let reason):
                // dt-validate itself fails on some broken trees (e.g. #clock-cells = <1 0> in its phandle decoder).
                undecodable.append("\(names[blob] ?? blob): \(reason)")
                blobs.removeAll { $0 == blob }
                run = try DTValidateRun(dtValidate, blobs, in: directory)
            }
        }
        let diagnostics = try #require(found)
        var compared = 0
        var withFindings = 0
        for blob in blobs {
            let name = names[blob] ?? blob
            let theirs = try dtValidatePaths(diagnostics[blob] ?? [])
            let check = try #require(checked[blob])
            let ours = Set(try parseFindings(check.stdout).filter { Self.structuralRules.contains($0.rule) }.map { finding in
                // dt-validate reports an unexpected child at its parent (additionalProperties).
                finding.rule == "node-unknown" ? String(finding.path[..<finding.path.lastIndex(of: "/")!]) : finding.path
            })
            #expect(ours == theirs, "\(name): check \(ours.sorted()) vs dt-validate \(theirs.sorted())")
            compared += 1
            if !ours.isEmpty { withFindings += 1 }
        }
        #expect(compared >= 40)
        #expect(withFindings >= 8, "every structural rule's example must have been compared")
        #expect(undecodable.count <= 1, "dt-validate could not decode: \(undecodable)")
        print("dt-validate agreement: \(compared) trees compared, \(withFindings) with structural findings; not decodable by dt-validate: \(undecodable)")
    }

    /// Node paths dt-validate reports against this binding's schema.
    func dtValidatePaths(_ entries: [[String: Any]]) throws -> Set<String> {
        var paths = Set<String>()
        for entry in entries where (entry["schema"] as? String)?.contains("arm,scmi-vio-backend.yaml") == true {
            var path = try #require(entry["node"] as? String)
            // property_path walks child nodes ("devices", "device@2") before naming a property.
            for component in (entry["property_path"] as? [Any]) ?? [] {
                guard let name = component as? String, name.contains("@") || name == "devices" || name == "agents" else { continue }
                path += "/" + name
            }
            paths.insert(path)
        }
        return paths
    }
}

/// One dt-validate run over blobs in `directory`, started at once and collected by `finish()`.
/// dt-validate checks the files in order and writes its JSON only at the end, so a tree its
/// decoder cannot read stops the whole run: `finish()` then names that tree (`-v` announces
/// each one as it starts) for the caller to run again without it.
struct DTValidateRun {
    enum Outcome {
        /// Every blob's diagnostics, by blob file name (blobs without any map to []).
        case diagnostics([String: [[String: Any]]])
        case undecodable(blob: String, reason: String)
    }

    let process: Process
    let directory: TemporaryDirectory
    let blobs: [String]
    let started = Date()

    init(_ executable: String, _ blobs: [String], in directory: TemporaryDirectory) throws {
        self.directory = directory
        self.blobs = blobs
        try? FileManager.default.removeItem(atPath: directory.path("dt-validate.json"))
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-v", "-s", packageRoot.path + "/schemas/arm,scmi-vio-backend.yaml", "--json-output", "dt-validate.json"] + blobs
        process.currentDirectoryURL = directory.url  // diagnostics name each blob by its bare file name
        process.environment = ProcessInfo.processInfo.environment.merging(["PYTHONUNBUFFERED": "1"]) { $1 }
        process.standardInput = FileHandle.nullDevice
        // Files, not pipes: nobody reads them while the test runs `check`.
        process.standardOutput = try Self.outputFile(directory.path("dt-validate.out"))
        process.standardError = try Self.outputFile(directory.path("dt-validate.err"))
        try process.run()
    }

    static func outputFile(_ path: String) throws -> FileHandle {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    func finish(timeout: TimeInterval = 600) throws -> Outcome {
        while process.isRunning {
            if Date().timeIntervalSince(started) > timeout {
                process.terminate()
                process.waitUntilExit()
                throw ToolTimedOut(command: "dt-validate " + blobs.joined(separator: " "))
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        let json = URL(fileURLWithPath: directory.path("dt-validate.json"))
        let stdout = String(decoding: try Data(contentsOf: URL(fileURLWithPath: directory.path("dt-validate.out"))), as: UTF8.self)
        let stderr = String(decoding: try Data(contentsOf: URL(fileURLWithPath: directory.path("dt-validate.err"))), as: UTF8.self)
        guard FileManager.default.fileExists(atPath: json.path) else {
            let checking = stdout.split(separator: "\n").last { $0.hasPrefix("Check:") }
            let blob = try #require(checking.map { $0.dropFirst("Check:".count).trimmingCharacters(in: .whitespaces) },
                                    "dt-validate (status \(process.terminationStatus)) failed before any tree: \(stderr)")
            try #require(blobs.contains(blob), "dt-validate failed on \(blob): \(stderr)")
            return .undecodable(blob: blob, reason: String(stderr.split(separator: "\n").last ?? ""))
        }
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [[String: Any]])
        var byBlob = Dictionary(uniqueKeysWithValues: blobs.map { ($0, [[String: Any]]()) })
        for entry in entries {
            let file = try #require(entry["file"] as? String, "dt-validate diagnostic without a file: \(entry)")
            byBlob[URL(fileURLWithPath: file).lastPathComponent, default: []].append(entry)
        }
        return .diagnostics(byBlob)
    }
}
