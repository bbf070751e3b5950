import DeviceTree
import Foundation
import Testing

/// `inventory`, `scaffold`, `--overlay` and `#include` on the real boards of ../shared/corpus/real
/// (docs/board.md): counts checked against the blob itself, every consumer scaffolded, applied
/// and checked, and the bad inputs of each step.
@Suite struct BoardCLITests {
    static var boards: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: realCorpus.path)) ?? []
        return names.filter { $0.hasSuffix(".dtb") }.sorted().map { realCorpus.appendingPathComponent($0).path }
    }

    /// What the blob holds, counted here with DeviceTree alone (not with BoardInventory).
    struct Counts: Equatable {
        var clockProviders = 0, resetProviders = 0, powerDomainProviders = 0, regulators = 0, oppTables = 0, consumers = 0
        var sensorProviders = 0, scmiPlatforms = 0
    }

    static func counts(of path: String) throws -> Counts {
        let tree = try FlattenedDeviceTree(contentsOf: path)
        var counts = Counts()
        var disabled = Set<Int>()
        tree.forEachNode { node in
            if let parent = node.parent, disabled.contains(parent.index) || !node.isEnabled { disabled.insert(node.index) }
            if node.index == 0 && !node.isEnabled { disabled.insert(0) }
            if node.name.hasPrefix("__") { return }
            if node.hasProperty("#clock-cells") { counts.clockProviders += 1 }
            if node.property("#reset-cells")?.u32 != nil { counts.resetProviders += 1 }
            if node.property("#power-domain-cells")?.u32 != nil { counts.powerDomainProviders += 1 }
            let names = node.properties.map(\.name)
            if names.contains(where: { $0 == "regulator-name" || $0 == "regulator-min-microvolt" || $0 == "regulator-max-microvolt" })
                || node.compatible.contains(where: { $0.hasPrefix("regulator-") })
            {
                counts.regulators += 1
            }
            if node.compatible.contains("operating-points-v2") { counts.oppTables += 1 }
            if node.property("#thermal-sensor-cells")?.u32 != nil || node.property("#io-channel-cells")?.u32 != nil { counts.sensorProviders += 1 }
            if node.compatible.contains(where: { ($0.hasPrefix("arm,scmi") && $0 != "arm,scmi-shmem") || $0 == "qcom,scmi-smc" }) { counts.scmiPlatforms += 1 }
            let consumes = names.contains { ["clocks", "resets", "power-domains"].contains($0) || ($0.count > 7 && $0.hasSuffix("-supply")) }
            if consumes && !disabled.contains(node.index) { counts.consumers += 1 }
        }
        return counts
    }

    static func inventoryJSON(_ blob: String) throws -> [String: Any] {
        let result = try scmiDT("inventory", "--format", "json", blob)
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    @Test func inventoryCountsMatchTheBlob() throws {
        let boards = Self.boards
        try #require(boards.count >= 5, "the real boards are expected in \(realCorpus.path)")
        for board in boards {
            let json = try Self.inventoryJSON(board)
            func count(_ key: String) -> Int { (json[key] as? [Any])?.count ?? -1 }
            let listed = Counts(
                clockProviders: count("clock-providers"), resetProviders: count("reset-providers"),
                powerDomainProviders: count("power-domain-providers"), regulators: count("regulators"),
                oppTables: count("opp-tables"), consumers: count("consumers"),
                sensorProviders: count("sensor-providers"), scmiPlatforms: count("scmi-platforms"))
            #expect(listed == (try Self.counts(of: board)), "\(board)")
            #expect(listed.consumers > 0, "\(board)")
            // Every resolved reference names a provider that exists in the blob.
            let tree = try FlattenedDeviceTree(contentsOf: board)
            for consumer in json["consumers"] as? [[String: Any]] ?? [] {
                for reference in consumer["references"] as? [[String: Any]] ?? [] {
                    if let provider = reference["provider"] as? String { #expect(tree.node(atPath: provider) != nil, "\(provider)") }
                }
            }
            let text = try scmiDT("inventory", board)
            #expect(text.status == 0)
            #expect(text.stdout.contains("consumers (\(listed.consumers))"))
        }
    }

    /// Scaffold of every consumer of the board → check with the overlay exits 0 → tables lists
    /// every chosen device, with the names the scaffold wrote.
    @Test func scaffoldOfEveryDeviceChecksCleanOnEveryBoard() throws {
        let directory = try TemporaryDirectory("scmi-dt-scaffold")
        defer { directory.cleanup() }
        for board in Self.boards {
            let consumers = (try Self.inventoryJSON(board)["consumers"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
            let overlay = directory.path(URL(fileURLWithPath: board).deletingPathExtension().lastPathComponent + ".dtso")
            let scaffold = try scmiDT(arguments: ["scaffold", board, "-o", overlay] + consumers.flatMap { ["--device", $0] })
            #expect(scaffold.status == 0, "\(board): \(scaffold.stderr)")
            let check = try scmiDT("check", board, "--overlay", overlay)
            #expect(check.status == 0, "\(board): \(check.stdout)")
            let tables = try scmiDT("tables", board, "--overlay", overlay, "--format", "json")
            #expect(tables.status == 0, "\(board): \(tables.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(tables.stdout.utf8)) as? [String: Any])
            let devices = json["devices"] as? [[String: Any]] ?? []
            #expect(devices.count == consumers.count, "\(board)")
            let source = try String(contentsOfFile: overlay, encoding: .utf8)
            let written = source.split(separator: "\n").compactMap { line -> String? in
                guard let range = line.range(of: "arm,scmi-devname = \"") else { return nil }
                return String(line[range.upperBound...].prefix { $0 != "\"" })
            }
            #expect(devices.compactMap { $0["name"] as? String } == written, "\(board)")
        }
    }

    @Test func inventoryOfUnusableBlobsExitsTwoLikeCheck() throws {
        let directory = try TemporaryDirectory("scmi-dt-inventory-bad")
        defer { directory.cleanup() }
        var truncated = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try #require(Self.boards.first))))
        truncated.removeLast(truncated.count / 2)
        let seed = try TestSeed(default: 0x11b0a4d)
        var random = seed.generator
        let noise = (0..<512).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        for (name, bytes) in [("truncated.dtb", truncated), ("noise.dtb", noise), ("empty.dtb", [])] {
            let path = try directory.write(name, bytes)
            let inventory = try scmiDT("inventory", path)
            let check = try scmiDT("check", path)
            #expect(inventory.status == 2, seed.comment)
            #expect(inventory.status == check.status, seed.comment)
            #expect(inventory.stderr.contains("error[blob-unusable]"), seed.comment)
        }
        #expect(try scmiDT("inventory", directory.path("missing.dtb")).status == 2)
    }

    /// The board with __symbols__ (labels known) and one without.
    static var labelledBoard: String { realCorpus.appendingPathComponent("bcm2711-rpi-4-b.dtb").path }
    static var unlabelledBoard: String { realCorpus.appendingPathComponent("juno-scmi.dtb").path }

    @Test func scaffoldRefusesBadChoicesNamingThem() throws {
        let board = Self.labelledBoard
        let consumers = try #require(try Self.inventoryJSON(board)["consumers"] as? [[String: Any]])
        let labelled = try #require(consumers.first { $0["label"] is String })
        let label = try #require(labelled["label"] as? String)
        let path = try #require(labelled["path"] as? String)
        // A node with no resources: the root's first child without clocks/supplies/…
        let tree = try FlattenedDeviceTree(contentsOf: board)
        let bare = try #require(tree.root.children.first { node in
            !node.properties.contains { ["clocks", "resets", "power-domains"].contains($0.name) || $0.name.hasSuffix("-supply") } && node.isEnabled
                && !node.name.hasPrefix("__")
        })
        let cases: [([String], String)] = [
            (["--device", "no_such_label"], "no node has the label 'no_such_label'"),
            (["--device", "/no/such/node"], "/no/such/node is not a node of the blob"),
            (["--device", bare.path], "\(bare.path) has no clocks, supplies, resets or power domains"),
            (["--device", label, "--device", path], "\(path) is the same device as \(label)"),
            (["--device", label, "--agent", "vm1=\(label),/other/device"], "agent vm1 names /other/device, which is not one of the --device choices"),
            (["--device", label, "--agent", "bad/name=\(label)"], "--agent bad/name=\(label): the agent name"),
            ([], "choose at least one device"),
        ]
        for (arguments, message) in cases {
            let result = try scmiDT(arguments: ["scaffold", board] + arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        let noSymbols = try scmiDT("scaffold", Self.unlabelledBoard, "--device", "some_label")
        #expect(noSymbols.status == 1)
        #expect(noSymbols.stderr.contains("no __symbols__"), "\(noSymbols.stderr)")
    }

    /// The scaffold as source and compiled with dtc -@ gives the same findings; a finding at a
    /// node the overlay wrote names the overlay, one at a host node names the base.
    @Test func overlayRoundTripAndProvenance() throws {
        let directory = try TemporaryDirectory("scmi-dt-overlay")
        defer { directory.cleanup() }
        let board = Self.labelledBoard
        let consumers = try #require(try Self.inventoryJSON(board)["consumers"] as? [[String: Any]])
        let label = try #require(consumers.compactMap { $0["label"] as? String }.first)
        let source = directory.path("scaffold.dtso")
        let scaffold = try scmiDT("scaffold", board, "--device", label, "--agent", "guest=\(label),trusted", "-o", source)
        #expect(scaffold.status == 0, "\(scaffold.stderr)")
        let text = try String(contentsOfFile: source, encoding: .utf8)
        #expect(text.contains("/plugin/;") && text.contains("arm,scmi-basedev = <&\(label)>;") && text.contains("arm,scmi-trusted;"))
        let blob = directory.path("scaffold.dtbo")
        #expect(try runTool(dtcPath, ["-q", "-@", "-I", "dts", "-O", "dtb", "-o", blob, source]).status == 0)
        let fromSource = try scmiDT("check", board, "--overlay", source, "--format", "json")
        let fromBlob = try scmiDT("check", board, "--overlay", blob, "--format", "json")
        #expect(fromSource.status == 0 && fromBlob.status == 0, "\(fromSource.stdout)")
        let sourceFindings = try parseFindings(fromSource.stdout)
        let blobFindings = try parseFindings(fromBlob.stdout)
        #expect(sourceFindings.map(\.rule) == blobFindings.map(\.rule))
        for finding in sourceFindings {
            let expected = finding.path.hasPrefix("/firmware/scmi-vio-backend") ? source : board
            #expect(finding.file == expected, "\(finding)")
        }
        let guest = try scmiDT("guest-dtsi", board, "--overlay", blob, "--agent", "guest")
        #expect(guest.status == 0 && guest.stdout.contains("arm,scmi-virtio"), "\(guest.output)")
        // A second overlay that breaks the backend: the error names that overlay.
        let breaking = try directory.write("break.dtso", """
            /dts-v1/;
            /plugin/;
            &{/firmware/scmi-vio-backend/devices/device@0} { arm,scmi-devname = ""; };
            """)
        let broken = try scmiDT("check", board, "--overlay", source, "--overlay", breaking, "--format", "json")
        #expect(broken.status == 1)
        let errors = try parseFindings(broken.stdout).filter { $0.severity == "error" }
        #expect(!errors.isEmpty && errors.allSatisfy { $0.file == breaking }, "\(errors)")
    }

    @Test func overlaysThatDoNotApplyAreNamed() throws {
        let directory = try TemporaryDirectory("scmi-dt-overlay-bad")
        defer { directory.cleanup() }
        let missing = try directory.write("missing.dtso", "/dts-v1/;\n/plugin/;\n&{/soc/nothing@0} { x = <1>; };\n")
        let notOverlay = try directory.write("plain.dts", "/dts-v1/;\n/ { a { b = <1>; }; };\n")
        let label = try directory.write("label.dtso", "/dts-v1/;\n/plugin/;\n&uart0 { x = <1>; };\n")
        let unknownLabel = try directory.write("unknown.dtso", "/dts-v1/;\n/plugin/;\n&no_such_label { x = <1>; };\n")
        let good = try directory.write("good.dtso", "/dts-v1/;\n/plugin/;\n&{/} { x = <1>; };\n")
        let goodBlob = directory.path("good.dtbo")
        #expect(try runTool(dtcPath, ["-q", "-@", "-I", "dts", "-O", "dtb", "-o", goodBlob, good]).status == 0)
        var truncated = try [UInt8](Data(contentsOf: URL(fileURLWithPath: goodBlob)))
        truncated.removeLast(8)
        let corrupt = try directory.write("corrupt.dtbo", truncated)
        let noise = try directory.write("noise.dtbo", (0..<64).map { UInt8($0 * 7 & 0xff) })
        let cases: [(String, String, String)] = [
            (Self.unlabelledBoard, missing, "targets /soc/nothing@0, which the base tree does not have [FDT_ERR_NOTFOUND]"),
            (Self.unlabelledBoard, notOverlay, "is a devicetree but not an overlay"),
            (Self.unlabelledBoard, label, "the base blob has no __symbols__ node: rebuild the base with dtc -@, or write a path reference"),
            (Self.labelledBoard, unknownLabel, "label 'no_such_label'"),
            (Self.unlabelledBoard, corrupt, "overlay \(corrupt): "),
            (Self.unlabelledBoard, noise, "[FDT_ERR_BADMAGIC]"),
        ]
        for (board, overlay, message) in cases {
            for command in ["check", "tables", "guest-dtsi", "inventory"] {
                let result = try scmiDT(command, board, "--overlay", overlay)
                #expect(result.status == 2, "\(command) \(overlay): \(result.output)")
                #expect(result.output.contains("error[blob-unusable]") && result.output.contains(message), "\(command) \(overlay): \(result.output)")
            }
        }
        // A base without __symbols__ takes path references (the scaffold's spelling there).
        let applied = try scmiDT("check", Self.unlabelledBoard, "--overlay", goodBlob)
        #expect(applied.status == 1 && applied.stdout.contains("backend-missing"), "\(applied.output)")
    }

    /// #include and #define through cpp with -I; errors name the original file and line.
    @Test func includeRoundTripAndItsErrors() throws {
        let directory = try TemporaryDirectory("scmi-dt-include")
        defer { directory.cleanup() }
        let include = directory.url.appendingPathComponent("include/dt-bindings/clock")
        try FileManager.default.createDirectory(at: include, withIntermediateDirectories: true)
        try Data("#define ACME_USB_CORE 1\n#define ACME_RATE 48000000\n".utf8).write(to: include.appendingPathComponent("acme-ccu.h"))
        let board = try String(contentsOfFile: examplePath("board.dts"), encoding: .utf8)
        let plainBlob = directory.path("plain.dtb")
        _ = try directory.write("plain.dtb", compileDTS(file: examplePath("board.dts")))
        // The example with the header included and one cell spelled by its macro.
        let spelled = board.replacingOccurrences(of: "/dts-v1/;", with: "/dts-v1/;\n#include <dt-bindings/clock/acme-ccu.h>\n#define UNUSED_MACRO 7")
        let withInclude = try directory.write("board.dts", spelled)
        let includeDirectory = directory.path("include")
        let plain = try scmiDT("tables", plainBlob, "--format", "json")
        let included = try scmiDT("tables", withInclude, "-I", includeDirectory, "--format", "json")
        #expect(included.status == 0, "\(included.stderr)")
        #expect(included.stdout == plain.stdout)
        // An overlay that uses the header.
        let overlay = try directory.write("rate.dtso", """
            /dts-v1/;
            /plugin/;
            #include <dt-bindings/clock/acme-ccu.h>
            &{/} { acme-test { value = <ACME_RATE ACME_USB_CORE>; }; };
            """)
        let check = try scmiDT("check", plainBlob, "--overlay", overlay, "-I", includeDirectory)
        #expect(check.status == 0, "\(check.output)")
        // A missing header names the file and line of the #include.
        let missing = try scmiDT("check", withInclude)
        #expect(missing.status == 2)
        let includeLine = try #require(spelled.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("#include") }) + 1
        #expect(missing.stdout.contains("error[blob-unusable]") && missing.stdout.contains("board.dts:\(includeLine):"), "\(missing.stdout)")
        #expect(missing.stdout.contains("acme-ccu.h"))
        // A cpp error.
        let cppError = try directory.write("cpp-error.dts", "/dts-v1/;\n#if\n/ { };\n")
        let badCpp = try scmiDT("check", cppError)
        #expect(badCpp.status == 2 && badCpp.stdout.contains("cpp-error.dts:2"), "\(badCpp.stdout)")
        // A dtc error after the preprocessor still points at the original line.
        let dtcError = try directory.write("dtc-error.dts", "/dts-v1/;\n#define X 1\n\n\n/ { a = <X> };\n")
        let badDTC = try scmiDT("check", dtcError)
        #expect(badDTC.status == 2 && badDTC.stdout.contains("dtc-error.dts:5"), "\(badDTC.stdout)")
        // No cpp installed: a PATH with dtc alone.
        let bin = directory.url.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("dtc").path, withDestinationPath: dtcPath)
        let noCpp = try scmiDT("check", withInclude, "-I", includeDirectory, environment: ["PATH": bin.path])
        #expect(noCpp.status == 2 && noCpp.stdout.contains("cpp is not installed") && noCpp.stdout.contains("board.dts"), "\(noCpp.stdout)")
    }

    /// serve on a real board plus its scaffold: a guest reads the tables the overlay made, and
    /// SIGHUP re-reads the overlay.
    @Test func serveOnBasePlusOverlayAnswersTheClient() throws {
        let directory = try TemporaryDirectory("scmi-dt-serve-overlay")
        defer { directory.cleanup() }
        let board = Self.unlabelledBoard
        let consumers = (try Self.inventoryJSON(board)["consumers"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        let chosen = Array(consumers.prefix(3))
        let overlay = directory.path("backend.dtso")
        let scaffold = try scmiDT(arguments: ["scaffold", board, "-o", overlay, "--agent", "guest=" + chosen.joined(separator: ",")] + chosen.flatMap { ["--device", $0] })
        #expect(scaffold.status == 0, "\(scaffold.stderr)")
        let tables = try scmiDT("tables", board, "--overlay", overlay, "--format", "json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(tables.stdout.utf8)) as? [String: Any])
        let clocks = (json["clocks"] as? [Any])?.count ?? 0
        let serve = try RunningServe(blob: board, extraArguments: ["--overlay", overlay])
        defer { _ = serve.stop() }
        let info = try serve.asAgent("guest") { try $0.baseInfo() }
        let protocols = (json["protocols"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
        #expect(info.protocols.map(Int.init) == protocols)
        if protocols.contains(0x14) { #expect(try serve.asAgent("guest") { try $0.clockCount() } == clocks) }
        // SIGHUP: the overlay now keeps only the first device; new connections see its tables.
        let single = try scmiDT("scaffold", board, "-o", overlay, "--agent", "guest=" + chosen[0], "--device", chosen[0])
        #expect(single.status == 0)
        let smaller = try scmiDT("tables", board, "--overlay", overlay, "--format", "json")
        let smallerJSON = try #require(try JSONSerialization.jsonObject(with: Data(smaller.stdout.utf8)) as? [String: Any])
        kill(serve.process.processIdentifier, SIGHUP)
        #expect(eventually { serve.log.contains("reloaded") }, "\(serve.log)")
        let smallerProtocols = (smallerJSON["protocols"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
        #expect(try serve.asAgent("guest") { try $0.baseInfo() }.protocols.map(Int.init) == smallerProtocols)
    }
}

/// The README's worked example: the committed overlay (edited scaffold, #include) checks clean.
@Suite struct BoardExampleCLITests {
    @Test func workedExampleChecksWithoutErrorsOrWarnings() throws {
        let blob = examplePath("boards/bcm2711-rpi-4-b.dtb")
        let overlay = examplePath("boards/rpi4-backend.dtso")
        let check = try scmiDT("check", blob, "--overlay", overlay, "-I", examplePath("boards/include"))
        // The one finding is the note that the board's always-on SD I/O rail stays on.
        let lines = check.stdout.split(separator: "\n").map(String.init)
        #expect(check.status == 0 && lines.last == "0 errors, 0 warnings, 1 note", "\(check.output)")
        #expect(lines.first?.contains("/regulator-sd-io-1v8:regulator-always-on: note[regulator-always-on-exported]") == true, "\(check.output)")
        // The blob in the repository is the corpus board, unmodified.
        let corpus = realCorpus.appendingPathComponent("bcm2711-rpi-4-b.dtb")
        if FileManager.default.fileExists(atPath: corpus.path) {
            #expect(try Data(contentsOf: URL(fileURLWithPath: blob)) == Data(contentsOf: corpus))
        }
        let tables = try scmiDT("tables", blob, "--overlay", overlay, "-I", examplePath("boards/include"))
        #expect(tables.status == 0 && tables.stdout.contains("emmc2") && tables.stdout.contains("v3d"))
    }
}
