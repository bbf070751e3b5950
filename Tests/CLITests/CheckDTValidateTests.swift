import Foundation
import Testing

/// dt-validate (dtschema) with schemas/ and `check` must find the same structural
/// problems in the same nodes: the schema file is the one copy of those rules.
@Suite struct CheckDTValidateTests {
    static let structuralRules: Set<String> = [
        "node-unknown", "node-name", "property-unknown", "property-missing", "property-type", "property-value", "property-count",
        "property-alternatives",
    ]

    @Test func dtValidateAgreesOnStructuralFindings() throws {
        guard let dtValidate = findInPath("dt-validate") else {
            print("SKIPPED dtValidateAgreesOnStructuralFindings: dt-validate (pip install dtschema) is not installed")
            return
        }
        let directory = try TemporaryDirectory("dtv")
        defer { directory.cleanup() }
        let examples = packageRoot.appendingPathComponent("examples")
        let bad = ((try? FileManager.default.contentsOfDirectory(atPath: examples.path + "/bad")) ?? []).filter { $0.hasSuffix(".dts") }.map { "bad/" + $0 }
        var compared = 0
        var withFindings = 0
        var undecodable: [String] = []
        for name in (["board.dts", "minimal.dts"] + bad).sorted() {
            guard let bytes = try? compileDTS(file: examples.path + "/" + name) else { continue }  // blob-unusable.dts
            let blob = try directory.write(name.replacingOccurrences(of: "/", with: "_") + ".dtb", bytes)
            let json = blob + ".json"
            let validation = try runTool(dtValidate, ["-s", packageRoot.path + "/schemas/arm,scmi-vio-backend.yaml", "--json-output", json, blob])
            guard FileManager.default.fileExists(atPath: json) else {
                // dt-validate itself fails on some broken trees (e.g. #clock-cells = <1 0> in its phandle decoder).
                undecodable.append("\(name): \(validation.stderr.split(separator: "\n").last ?? "")")
                continue
            }
            let theirs = try dtValidatePaths(json)
            let check = try scmiDT("check", "--format", "json", blob)
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
    func dtValidatePaths(_ json: String) throws -> Set<String> {
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[String: Any]])
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
