@testable import BackendModel
import DeviceTree
import Foundation
import ResourceTables
@_exported import TestKit  // every file of this test target uses its seeds and tool lookup
import Testing

/// The package root, found from this file's path (Tests/BackendModelTests/Support.swift).
let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func examplePath(_ relative: String) -> String { packageRoot.appendingPathComponent("examples/" + relative).path }

/// Compiles devicetree source with the real dtc, as a user's build would.
func compileDTS(_ source: String) throws -> [UInt8] {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bm-tests-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let input = directory.appendingPathComponent("in.dts")
    let output = directory.appendingPathComponent("out.dtb")
    try source.write(to: input, atomically: true, encoding: .utf8)
    let dtc = Process()
    dtc.executableURL = URL(fileURLWithPath: dtcPath)
    dtc.arguments = ["-q", "-I", "dts", "-O", "dtb", "-o", output.path, input.path]
    let errors = Pipe()
    dtc.standardError = errors
    try dtc.run()
    let message = errors.fileHandleForReading.readDataToEndOfFile()
    dtc.waitUntilExit()
    guard dtc.terminationStatus == 0 else { throw DTCFailed(message: String(decoding: message, as: UTF8.self)) }
    return [UInt8](try Data(contentsOf: output))
}


struct DTCFailed: Error, CustomStringConvertible {
    var message: String
    var description: String { "dtc failed: \(message)" }
}

/// Checks devicetree source (compiled with dtc) as `check` would.
func check(_ source: String) throws -> CheckResult {
    BackendChecker.check(bytes: try compileDTS(source), file: "test.dtb")
}

extension CheckResult {
    func findings(_ rule: Rule) -> [Diagnostic] { diagnostics.filter { $0.rule == rule.id } }

    /// True when there is a finding of `rule` at `path` (and `property`, when given).
    func has(_ rule: Rule, at path: String, property: String? = nil) -> Bool {
        diagnostics.contains { $0.rule == rule.id && $0.path == path && (property == nil || $0.property == property) }
    }

    var errorRules: [String] { diagnostics.filter { $0.severity == .error }.map(\.rule) }
    var summaryText: String { diagnostics.map(\.rendered).joined(separator: "\n") }
}

extension TestSeed {
    /// The seed as a swift-testing comment, for every expectation of a randomised test.
    var comment: Comment { Comment(rawValue: description) }
}


let backendPath = "/firmware/scmi-vio-backend"
let devicesPath = backendPath + "/devices"

/// A small host tree: a fixed oscillator, a clock controller, two regulators and a host gpu node.
/// `backend` is the body of the scmi-vio-backend node; `host` adds host nodes.
func tree(backend: String, host: String = "") -> String {
    """
    /dts-v1/;
    / {
        #address-cells = <1>;
        #size-cells = <1>;
        osc24m: clock-24000000 { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <24000000>; };
        ccu: clock-controller@10000000 {
            compatible = "acme,ccu";
            reg = <0x10000000 0x1000>;
            #clock-cells = <1>;
            #reset-cells = <1>;
            clock-output-names = "ccu-a", "ccu-b", "ccu-c";
            arm,scmi-rate-range = <1000000 100000000 1000000>;
        };
        pd: power-controller@10010000 { compatible = "acme,pmu"; reg = <0x10010000 0x1000>; #power-domain-cells = <1>; };
        reg_a: regulator-a {
            regulator-name = "vdd-a";
            regulator-min-microvolt = <800000>;
            regulator-max-microvolt = <1000000>;
            arm,scmi-voltage-step-microvolt = <50000>;
        };
        reg_io: regulator-io { compatible = "regulator-fixed"; regulator-name = "vdd-io"; regulator-min-microvolt = <1800000>; regulator-max-microvolt = <1800000>; regulator-boot-on; };
        gpu: gpu@13000000 { reg = <0x13000000 0x1000>; clocks = <&ccu 2>; resets = <&ccu 5>; power-domains = <&pd 1>; mali-supply = <&reg_a>; };
    \(host)
        firmware {
            scmi-vio-backend {
                compatible = "arm,scmi-vio-backend";
                #address-cells = <1>;
                #size-cells = <0>;
    \(backend)
            };
        };
    };
    """
}

/// A backend body: the given protocols, devices and (unless nil) agents.
func backend(protocols: [UInt8] = [0x14, 0x17], devices: String, agents: String? = "agent@1 { reg = <1>; arm,scmi-agent-name = \"vm\"; };", extra: String = "") -> String {
    var text = protocols.map { "protocol@\(String($0, radix: 16)) { reg = <0x\(String($0, radix: 16))>; };" }.joined(separator: "\n")
    text += "\n" + extra
    text += "\ndevices { #address-cells = <1>; #size-cells = <0>;\n\(devices)\n};"
    if let agents { text += "\nagents { #address-cells = <1>; #size-cells = <0>;\n\(agents)\n};" }
    return text
}
