@testable import BackendModel
import ResourceTables
import Testing

/// Ids, names, rates and levels as docs/binding.md §5 assigns them.
@Suite struct TableTests {
    static let board: PlatformTables? = BackendChecker.check(blobAt: examplePath("board.dts")).tables

    @Test func boardIdentityAndProtocols() throws {
        let tables = try #require(Self.board)
        #expect(tables.vendor == "ACME")
        #expect(tables.subVendor == "vs1-evb")
        #expect(tables.implementationVersion == 0x10200)
        #expect(tables.protocols == [.powerDomain, .performance, .clock, .sensor, .reset, .voltage])
    }

    /// Derived clock ids: devices in tree order, each device's direct clocks, then its base device's.
    @Test func boardDerivedClocks() throws {
        let tables = try #require(Self.board)
        #expect(tables.clocks.map(\.name) == ["ccu-usb-core", "osc24m", "ccu-gpu-core", "ccu-disp-pixel", "ccu-dsp-core", "audio-pll", "ccu-emmc-core"])
        #expect(tables.clocks.map(\.id) == Array(0..<7))
        let usb = tables.clocks[0]
        #expect(usb.providerPath == "/soc/clock-controller@10000000")
        #expect(usb.specifier == [1])
        #expect(usb.rates == .range(min: 1_000_000, max: 1_000_000_000, step: 1_000_000))
        #expect(usb.initialRate == 125_000_000, "assigned-clock-rates of the device")
        #expect(tables.clocks[1].rates == .discrete([24_000_000]))
        #expect(tables.clocks[5].rates == .discrete([256_000_000]), "fixed-factor: 24 MHz * 32 / 3")
        #expect(tables.clocks[2].initialRate == 1_000_000, "lowest rate without an assignment")
    }

    @Test func boardExplicitVoltageTable() throws {
        let tables = try #require(Self.board)
        #expect(tables.voltageDomains.map(\.name) == ["vcc-1v8", "vdd-gpu", "vdd-dsp", "vddio-sd", "vcc-3v3"])
        let gpu = tables.voltageDomains[1]
        #expect(gpu.levels == .range(min: 600_000, max: 1_100_000, step: 12_500))
        #expect(gpu.initialLevel == 600_000)
        #expect(!gpu.initiallyOn)
        #expect(tables.voltageDomains[0].levels == .discrete([1_800_000]))
        #expect(tables.voltageDomains[0].initiallyOn, "regulator-boot-on")
        #expect(tables.voltageDomains[4].initiallyOn, "regulator-always-on")
    }

    @Test func boardDevicesAndAgents() throws {
        let tables = try #require(Self.board)
        let resources = Dictionary(uniqueKeysWithValues: tables.devices.map { ($0.name, $0.resources) })
        #expect(resources["usb0"] == [.init(.clock, 0), .init(.clock, 1), .init(.voltage, 0)])
        #expect(resources["gpu"] == [.init(.clock, 2), .init(.voltage, 1), .init(.reset, 0), .init(.powerDomain, 0)])
        #expect(resources["dsp"] == [.init(.clock, 4), .init(.voltage, 2), .init(.sensor, 1)])
        #expect(resources["audio"] == [.init(.clock, 5), .init(.clock, 1)], "arm,scmi-clock-ids after the direct clocks")
        #expect(tables.agents.map(\.name) == ["vm-ivi", "vm-cluster", "vm-admin"])
        #expect(tables.agents[1].protocols == [.powerDomain, .clock, .sensor, .reset, .voltage])
        #expect(tables.agents[2].trusted && tables.agents[2].devices.isEmpty)
        // The serve tests rely on a clock and a voltage domain shared by two agents' devices.
        func uses(_ agent: AgentEntry, _ reference: ResourceReference) -> Bool {
            tables.devices.contains { agent.devices.contains($0.id) && $0.resources.contains(reference) }
        }
        #expect(uses(tables.agents[0], .init(.clock, 1)) && uses(tables.agents[1], .init(.clock, 1)))
        #expect(uses(tables.agents[0], .init(.voltage, 0)) && uses(tables.agents[1], .init(.voltage, 0)))
        // … and on the GPU's power domain and reset line, which the display shares.
        #expect(uses(tables.agents[0], .init(.powerDomain, 0)) && uses(tables.agents[1], .init(.powerDomain, 0)))
        #expect(uses(tables.agents[0], .init(.reset, 0)) && uses(tables.agents[1], .init(.reset, 0)))
    }

    @Test func boardSensorsResetsAndPowerDomains() throws {
        let tables = try #require(Self.board)
        #expect(tables.sensors == [
            SensorEntry(id: 0, name: "soc-temp", type: .temperature, unitExponent: -3, source: .constant(45500)),
            SensorEntry(id: 1, name: "board-temp", type: .temperature, unitExponent: -3, source: .path("/tmp/scmi-dt-example/board-temp"),
                        intervalMilliseconds: 500),
        ])
        #expect(tables.resetDomains.map(\.specifier) == [[7], [8]])
        #expect(tables.powerDomains.map(\.name) == ["power-controller-0x3", "power-controller-0x4"])
    }

    /// The CPU cluster's OPP table: frequencies with their voltage, power and latency.
    @Test func boardPerformanceDomain() throws {
        let tables = try #require(Self.board)
        #expect(tables.performanceDomains.map(\.name) == ["cpu-cluster"])
        let levels = try #require(tables.performanceDomains.first?.levels)
        #expect(levels.map(\.hz) == [600_000_000, 1_000_000_000, 1_400_000_000, 1_800_000_000])
        #expect(levels.map(\.microwatts) == [180_000, 350_000, 620_000, 1_000_000])
        #expect(levels.allSatisfy { $0.latencyNanoseconds == 300_000 && $0.microvolts != nil })
    }

    /// A distinct clock is provider + cells; ids follow first use across devices.
    @Test func derivedIdsAreDeterministicAndShared() throws {
        let source = tree(
            backend: backend(
                devices: """
                    device@2 { arm,scmi-devid = <2>; arm,scmi-devname = "b"; clocks = <&ccu 1>, <&osc24m>; arm,scmi-basedev = <&gpu>; };
                    device@1 { arm,scmi-devid = <1>; arm,scmi-devname = "a"; clocks = <&osc24m>, <&ccu 1>, <&ccu 0>; vdd-supply = <&reg_io>; };
                    """))
        let tables = try #require(try check(source).tables)
        #expect(tables.clocks.map(\.name) == ["ccu-b", "clock-24000000", "ccu-c", "ccu-a"], "no clock-output-names: the node name")
        #expect(tables.voltageDomains.map(\.name) == ["vdd-a", "vdd-io"])
        #expect(tables.devices.map(\.id) == [1, 2], "devices are listed by id")
        #expect(tables.devices[0].resources == [.init(.clock, 1), .init(.clock, 0), .init(.clock, 3), .init(.voltage, 1)])
        #expect(tables.devices[1].resources == [.init(.clock, 0), .init(.clock, 1), .init(.clock, 2), .init(.voltage, 0)])
    }

    @Test func explicitTablesFixIdsAndNames() throws {
        let source = tree(
            backend: backend(
                protocols: [],
                devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"a\"; clocks = <&osc24m>; resets = <&ccu 3>; };",
                extra: """
                    protocol@14 { reg = <0x14>; #address-cells = <1>; #size-cells = <0>;
                        clock@1 { reg = <1>; clocks = <&osc24m>; label = "ref"; };
                        clock@0 { reg = <0>; clocks = <&ccu 2>; label = "core"; arm,scmi-rates-64 = /bits/ 64 <5000000000 2000000000 2000000000>; };
                    };
                    protocol@16 { reg = <0x16>; #address-cells = <1>; #size-cells = <0>;
                        reset@0 { reg = <0>; resets = <&ccu 3>; label = "usb-reset"; };
                    };
                    protocol@17 { reg = <0x17>; #address-cells = <1>; #size-cells = <0>;
                        regulator@0 { reg = <0>; arm,scmi-supply = <&reg_a>; arm,scmi-voltage-step-microvolt = <100000>; };
                    };
                    """))
        let result = try check(source)
        let tables = try #require(result.tables, "\(result.summaryText)")
        #expect(tables.clocks.map(\.name) == ["core", "ref"])
        #expect(tables.clocks[0].rates == .discrete([2_000_000_000, 5_000_000_000]), "sorted, without duplicates, 64-bit")
        #expect(tables.resetDomains.map(\.name) == ["usb-reset"])
        #expect(tables.voltageDomains.first?.levels == .range(min: 800_000, max: 1_000_000, step: 100_000), "the entry's step wins")
        #expect(tables.devices.first?.resources == [.init(.clock, 1), .init(.reset, 0)])
    }

    /// An explicit table may list one clock twice: both ids are named after the clock's first
    /// consumer (made unique), not only the id that consumer resolved to.
    @Test func explicitTableListingAClockTwiceNamesBothIds() throws {
        let source = tree(
            backend: backend(
                protocols: [],
                devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"a\"; clocks = <&ccu2 7>; clock-names = \"core\"; };",
                extra: """
                    protocol@14 { reg = <0x14>; #address-cells = <1>; #size-cells = <0>;
                        clock@0 { reg = <0>; clocks = <&ccu2 7>; };
                        clock@1 { reg = <1>; clocks = <&ccu2 7>; };
                    };
                    """),
            host: "ccu2: clock-controller@20000000 { reg = <0x20000000 0x1000>; #clock-cells = <1>; arm,scmi-rate-range = <1000000 100000000 1000000>; };")
        let result = try check(source)
        let tables = try #require(result.tables, "\(result.summaryText)")
        #expect(tables.clocks.map(\.name) == ["a-core", "a-core-2"])
        #expect(tables.devices.first?.resources == [.init(.clock, 0)], "the device's clock is the first id listing it")
    }

    /// A device skipped for a repeated name does not keep its id: a later device may use it.
    @Test func deviceSkippedForItsNameLeavesItsIdFree() throws {
        let source = tree(
            backend: backend(
                devices: """
                    device@1 { arm,scmi-devid = <1>; arm,scmi-devname = "a"; clocks = <&osc24m>; };
                    device@2 { arm,scmi-devid = <2>; arm,scmi-devname = "a"; clocks = <&osc24m>; };
                    device@3 { reg = <2>; arm,scmi-devid = <2>; arm,scmi-devname = "b"; clocks = <&osc24m>; };
                    device@4 { reg = <2>; arm,scmi-devid = <2>; arm,scmi-devname = "c"; clocks = <&osc24m>; };
                    """))
        let result = try check(source)
        #expect(result.has(.devnameDuplicate, at: devicesPath + "/device@2", property: "arm,scmi-devname"))
        #expect(!result.has(.devidDuplicate, at: devicesPath + "/device@3", property: "arm,scmi-devid"), "id 2 was left free by device@2")
        let repeated = result.findings(.devidDuplicate)
        #expect(repeated.map(\.path) == [devicesPath + "/device@4"])
        #expect(repeated.first?.message.hasSuffix("already used by \(devicesPath)/device@3") == true)
    }

    /// Device names are repeated as String equality sees them: ASCII names by their bytes, and
    /// canonically equivalent spellings (precomposed or combining, the Kelvin sign and "K") as
    /// one name, whichever comes first.
    @Test func repeatedDeviceNamesAsStringsCompare() throws {
        let names = ["K", "ab", "\u{212A}", "e\u{301}", "\u{E9}", "ab", "abcdefghi", "abcdefgh", "abcdefghi"]
        let devices = names.enumerated().map { index, name in
            "device@\(index + 1) { arm,scmi-devid = <\(index + 1)>; arm,scmi-devname = \"\(name)\"; clocks = <&osc24m>; };"
        }.joined(separator: "\n")
        let result = try check(tree(backend: backend(devices: devices)))
        // (repeat, first of its name)
        let expected = [(3, 1), (5, 4), (6, 2), (9, 7)]
        let repeated = result.findings(.devnameDuplicate)
        #expect(repeated.map(\.path) == expected.map { devicesPath + "/device@\($0.0)" })
        for (finding, (_, first)) in zip(repeated, expected) {
            #expect(finding.message.hasSuffix("already used by \(devicesPath)/device@\(first)"), "\(finding.message)")
        }
    }

    @Test func clockNamingRules() throws {
        let source = tree(
            backend: backend(
                devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"a\"; clocks = <&plain>, <&ccu 9>, <&two 1 2>; };"),
            host: """
                plain: osc@5 { compatible = "fixed-clock"; #clock-cells = <0>; clock-frequency = <1000>; };
                two: mux@6 { #clock-cells = <2>; arm,scmi-rates = <100 200>; };
                """)
        let tables = try #require(try check(source).tables)
        #expect(tables.clocks.map(\.name) == ["osc", "clock-controller-0x9", "mux-0x1-0x2"], "cells in hexadecimal, as sources write them")
        #expect(tables.clocks[2].rates == .discrete([100, 200]))
    }

    @Test func fixedClockRatesMustAgree() throws {
        let result = try check(
            tree(
                backend: backend(devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"a\"; clocks = <&osc>; };"),
                host: "osc: osc@5 { compatible = \"fixed-clock\"; #clock-cells = <0>; clock-frequency = <1000>; arm,scmi-rates = <1000 2000>; };"))
        #expect(result.has(.clockRateMismatch, at: "/osc@5", property: "arm,scmi-rates"))
    }

    /// Sensors and performance domains come from explicit tables only.
    @Test func sensorsAndPerformanceDomains() throws {
        let source = tree(
            backend: backend(
                protocols: [0x14],
                devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"cpu\"; clocks = <&osc24m>; arm,scmi-perf-domain-ids = <0>; arm,scmi-sensor-ids = <0 1>; };",
                extra: """
                    protocol@13 { reg = <0x13>; #address-cells = <1>; #size-cells = <0>;
                        perf-domain@0 { reg = <0>; label = "big"; operating-points-v2 = <&opp>; };
                    };
                    protocol@15 { reg = <0x15>; #address-cells = <1>; #size-cells = <0>;
                        sensor@0 { reg = <0>; arm,scmi-sensor-type = "voltage"; arm,scmi-sensor-value = <(-5)>; };
                        sensor@1 { reg = <1>; label = "pwr"; arm,scmi-sensor-type = "power"; arm,scmi-sensor-unit-exponent = <(-6)>; arm,scmi-sensor-path = "/run/pwr"; arm,scmi-sensor-interval-ms = <250>; };
                    };
                    """),
            host: """
                opp: opp-table { compatible = "operating-points-v2";
                    opp-2 { opp-hz = /bits/ 64 <1800000000>; opp-microvolt = <950000>; opp-microwatt = <900000>; clock-latency-ns = <250000>; };
                    opp-1 { opp-hz = /bits/ 64 <1200000000>; opp-microvolt = <800000>; opp-level = <1>; };
                    opp-3 { opp-hz = /bits/ 64 <2000000000>; status = "disabled"; };
                };
                """)
        let result = try check(source)
        let tables = try #require(result.tables, "\(result.summaryText)")
        #expect(tables.performanceDomains == [
            PerformanceDomainEntry(
                id: 0, name: "big", oppTablePath: "/opp-table",
                levels: [PerformanceLevel(hz: 1_200_000_000, microvolts: 800_000, level: 1), PerformanceLevel(hz: 1_800_000_000, microvolts: 950_000, microwatts: 900_000, latencyNanoseconds: 250_000)])
        ])
        #expect(tables.sensors.map(\.name) == ["sensor0", "pwr"])
        #expect(tables.sensors[0].source == .constant(-5))
        #expect(tables.sensors[1].unitExponent == -6)
        #expect(tables.sensors.map(\.intervalMilliseconds) == [1000, 250])
        #expect(tables.devices[0].resources == [.init(.clock, 0), .init(.performance, 0), .init(.sensor, 0), .init(.sensor, 1)])
    }

    /// arm,scmi-sensor-interval-ms outside 10…3600000 ms is a schema error at the property.
    @Test func sensorIntervalOutOfRange() throws {
        for interval in ["5", "3600001"] {
            let result = try check(
                tree(
                    backend: backend(
                        protocols: [0x14],
                        devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"cpu\"; clocks = <&osc24m>; arm,scmi-sensor-ids = <0>; };",
                        extra: """
                            protocol@15 { reg = <0x15>; #address-cells = <1>; #size-cells = <0>;
                                sensor@0 { reg = <0>; arm,scmi-sensor-type = "power"; arm,scmi-sensor-value = <1>; arm,scmi-sensor-interval-ms = <\(interval)>; };
                            };
                            """)))
            #expect(result.has(.propertyValue, at: "/firmware/scmi-vio-backend/protocol@15/sensor@0", property: "arm,scmi-sensor-interval-ms"), "\(interval) ms")
        }
    }

    /// A disabled protocol node turns the protocol off.
    @Test func disabledProtocolIsOff() throws {
        let result = try check(
            tree(
                backend: backend(
                    protocols: [0x14],
                    devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"a\"; clocks = <&osc24m>; };",
                    extra: "protocol@17 { reg = <0x17>; status = \"disabled\"; };")))
        #expect(result.tables?.protocols == [.clock])
        #expect(result.diagnostics.isEmpty, "\(result.summaryText)")
    }
    /// A host regulator's arm,scmi-voltage-step-microvolt is checked against the schema on each
    /// rail: a value valid on one rail is served on the next, and an invalid value is reported on
    /// every rail that has it, whichever rails came before.
    @Test func voltageStepCheckedOnEveryRail() throws {
        func rail(_ name: String, step: String) -> String {
            "rail_\(name): rail-\(name) { regulator-name = \"\(name)\"; regulator-min-microvolt = <800000>; regulator-max-microvolt = <1000000>; "
                + "arm,scmi-voltage-step-microvolt = <\(step)>; };"
        }
        let result = try check(
            tree(
                backend: backend(
                    devices: """
                        device@1 { arm,scmi-devid = <1>; arm,scmi-devname = "a"; clocks = <&osc24m>;
                            w-supply = <&rail_w>; x-supply = <&rail_x>; y-supply = <&rail_y>; z-supply = <&rail_z>; };
                        """),
                host: [rail("w", step: "25000"), rail("x", step: "0"), rail("y", step: "25000"), rail("z", step: "0")]
                    .joined(separator: "\n")))
        // Without a usable step a rail is served in 1 µV steps, which is a warning of its own.
        #expect(result.findings(.voltageStepMissing).map(\.path) == ["/rail-x", "/rail-z"], "\(result.summaryText)")
        for path in ["/rail-x", "/rail-z"] {
            #expect(result.has(.propertyValue, at: path, property: "arm,scmi-voltage-step-microvolt"), "\(path): \(result.summaryText)")
        }
        #expect(result.findings(.propertyValue).count == 2, "\(result.summaryText)")
    }
}
