@testable import BackendModel
import ResourceTables
import Testing

/// Each warning rule: reported where docs/binding.md says, and the tables still resolve.
@Suite struct WarningRuleTests {
    func expectWarning(_ rule: Rule, at path: String, property: String? = nil, in source: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> CheckResult {
        let result = try check(source)
        #expect(result.has(rule, at: path, property: property), "\(result.summaryText)", sourceLocation: sourceLocation)
        #expect(!result.hasErrors, "\(result.summaryText)", sourceLocation: sourceLocation)
        #expect(result.tables != nil, sourceLocation: sourceLocation)
        return result
    }

    @Test func nonCanonicalUnitAddress() throws {
        _ = try expectWarning(
            .unitAddressFormat, at: devicesPath + "/device@0x1A",
            in: tree(backend: backend(devices: "device@0x1A { arm,scmi-devid = <26>; arm,scmi-devname = \"a\"; clocks = <&osc24m>; };")))
    }

    @Test func basedevResourceMissingFromExplicitTable() throws {
        let source = tree(
            backend: backend(
                protocols: [0x17],
                devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"gpu\"; arm,scmi-basedev = <&gpu>; };",
                extra: "protocol@14 { reg = <0x14>; #address-cells = <1>; #size-cells = <0>; clock@0 { reg = <0>; clocks = <&osc24m>; }; };"))
        let result = try expectWarning(.basedevResourceNotInTable, at: devicesPath + "/device@1", property: "arm,scmi-basedev", in: source)
        #expect(result.tables?.devices.first?.resources == [ResourceReference(.voltage, 0)])
    }

    @Test func disabledBasedevStillExportsItsResources() throws {
        let result = try expectWarning(
            .basedevDisabled, at: devicesPath + "/device@1", property: "arm,scmi-basedev",
            in: tree(
                backend: backend(devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"x\"; arm,scmi-basedev = <&host>; };"),
                host: "host: uart@1 { reg = <1 1>; status = \"disabled\"; clocks = <&ccu 0>; };"))
        #expect(result.tables?.clocks.map(\.name) == ["ccu-a"])
    }

    @Test func basedevWithoutResources() throws {
        _ = try expectWarning(
            .basedevNoResources, at: devicesPath + "/device@1", property: "arm,scmi-basedev",
            in: tree(
                backend: backend(devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"x\"; arm,scmi-basedev = <&host>; };"),
                host: "host: uart@1 { reg = <1 1>; };"))
    }

    @Test func resourcesOfADisabledProtocol() throws {
        let source = tree(
            backend: backend(
                protocols: [0x14],
                devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"x\"; clocks = <&osc24m>; vdd-supply = <&reg_a>; resets = <&ccu 1>; };"))
        let result = try expectWarning(.resourceUnreachable, at: devicesPath + "/device@1", property: "vdd-supply", in: source)
        #expect(result.has(.resourceUnreachable, at: devicesPath + "/device@1", property: "resets"))
        #expect(result.tables?.devices.first?.resources == [ResourceReference(.clock, 0)])
    }

    @Test func deviceWithoutResources() throws {
        _ = try expectWarning(
            .deviceNoResources, at: devicesPath + "/device@1",
            in: tree(backend: backend(devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"x\"; };")))
    }

    @Test func agentListsADisabledDevice() throws {
        let result = try expectWarning(
            .agentDeviceDisabled, at: backendPath + "/agents/agent@1", property: "arm,scmi-devices",
            in: tree(
                backend: backend(
                    devices: """
                        d1: device@1 { arm,scmi-devid = <1>; arm,scmi-devname = "a"; clocks = <&osc24m>; };
                        d2: device@2 { arm,scmi-devid = <2>; arm,scmi-devname = "b"; clocks = <&osc24m>; status = "disabled"; };
                        """,
                    agents: "agent@1 { reg = <1>; arm,scmi-agent-name = \"vm\"; arm,scmi-devices = <&d1 &d2>; };")))
        #expect(result.tables?.agents.first?.devices == [1])
    }

    @Test func implicitAgentGetsEverything() throws {
        let result = try expectWarning(
            .agentsImplicit, at: backendPath,
            in: tree(
                backend: backend(
                    devices: """
                        device@1 { arm,scmi-devid = <1>; arm,scmi-devname = "a"; clocks = <&osc24m>; };
                        device@7 { arm,scmi-devid = <7>; arm,scmi-devname = "b"; vdd-supply = <&reg_a>; };
                        """,
                    agents: nil)))
        let tables = try #require(result.tables)
        #expect(tables.agentsAreImplicit)
        #expect(tables.agents == [AgentEntry(id: 1, name: "agent1", devices: [1, 7], protocols: [.clock, .voltage], trusted: false)])
    }

    @Test func clockWithoutRateDescription() throws {
        let result = try expectWarning(
            .clockRateUndescribed, at: "/pll",
            in: tree(
                backend: backend(devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"x\"; clocks = <&pll 3>; };"),
                host: "pll: pll { #clock-cells = <1>; };"))
        #expect(result.tables?.clocks.first?.rates == .range(min: 1, max: 4_294_967_295, step: 1))
        #expect(result.tables?.clocks.first?.name == "pll-0x3")
    }

    /// Only labels the user wrote twice are reported; derived names get a suffix (ProtectionRuleTests).
    @Test func duplicateClockLabels() throws {
        let result = try expectWarning(
            .clockNameDuplicate, at: backendPath + "/protocol@14/clock@1", property: "label",
            in: tree(
                backend: backend(
                    protocols: [],
                    devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"x\"; clocks = <&osc24m>, <&ccu 1>; };",
                    extra: """
                        protocol@14 { reg = <0x14>; #address-cells = <1>; #size-cells = <0>;
                            clock@0 { reg = <0>; clocks = <&osc24m>; label = "ref"; };
                            clock@1 { reg = <1>; clocks = <&ccu 1>; label = "ref"; };
                        };
                        """)))
        #expect(result.tables?.clocks.map(\.name) == ["ref", "ref"])
    }

    @Test func moreThanSixteenDiscreteRates() throws {
        let rates = (1...17).map { String($0 * 1_000_000) }.joined(separator: " ")
        let result = try expectWarning(
            .clockRatesTooMany, at: "/pll", property: "arm,scmi-rates",
            in: tree(
                backend: backend(devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"x\"; clocks = <&pll>; };"),
                host: "pll: pll { #clock-cells = <0>; arm,scmi-rates = <\(rates)>; };"))
        guard case .discrete(let list)? = result.tables?.clocks.first?.rates else { Issue.record("not discrete"); return }
        #expect(list.count == 17)
    }

    @Test func voltageRangeWithoutStep() throws {
        let result = try expectWarning(
            .voltageStepMissing, at: "/reg-b",
            in: tree(
                backend: backend(devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"x\"; vdd-supply = <&reg_b>; };"),
                host: "reg_b: reg-b { regulator-min-microvolt = <900000>; regulator-max-microvolt = <1200000>; };"))
        #expect(result.tables?.voltageDomains.first?.levels == .range(min: 900_000, max: 1_200_000, step: 1))
        #expect(result.tables?.voltageDomains.first?.name == "reg-b")
    }

    @Test func voltageStepThatDoesNotDivide() throws {
        _ = try expectWarning(
            .voltageStepUneven, at: "/reg-b", property: "arm,scmi-voltage-step-microvolt",
            in: tree(
                backend: backend(devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"x\"; vdd-supply = <&reg_b>; };"),
                host: "reg_b: reg-b { regulator-name = \"b\"; regulator-min-microvolt = <900000>; regulator-max-microvolt = <1200000>; arm,scmi-voltage-step-microvolt = <70000>; };"))
    }

    /// Every warning rule has a test above (by rule id in this file's tests).
    @Test func everyWarningRuleIsExercised() {
        let tested: Set<Rule> = [
            .unitAddressFormat, .basedevResourceNotInTable, .basedevDisabled, .basedevNoResources, .resourceUnreachable, .deviceNoResources,
            .agentDeviceDisabled, .agentsImplicit, .clockRateUndescribed, .clockNameDuplicate, .clockRatesTooMany, .voltageStepMissing,
            .voltageStepUneven,
            // ProtectionRuleTests and examples/warn
            .fixedClockPlaceholder, .assignedRateUnsupported, .resourceUsedByHost, .regulatorCoupledUnserved,
        ]
        #expect(Set(Rule.allCases.filter { $0.severity == .warning }) == tested)
    }
}
