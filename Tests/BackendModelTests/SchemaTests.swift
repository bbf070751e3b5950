@testable import BackendModel
import DeviceTree
import Foundation
import Testing

/// The structural rules come from schemas/arm,scmi-vio-backend.yaml, compiled at run time.
@Suite struct SchemaTests {
    @Test func embeddedSchemaIsTheSchemaFile() throws {
        let onDisk = try Data(contentsOf: packageRoot.appendingPathComponent("schemas/arm,scmi-vio-backend.yaml"))
        #expect([UInt8](onDisk) == PackageResources.arm_scmi_vio_backend_yaml)
    }

    @Test func embeddedSchemaCompilesCompletely() throws {
        let schema = try BackendChecker.schema.get()
        #expect(schema.nodeName?.constValue == .string("scmi-vio-backend"))
        #expect(schema.required == ["compatible"])
        #expect(!schema.allowsAdditional)
        let device = try #require(schema.childSchema(named: "devices")?.childSchema(named: "device@1f"))
        #expect(device.required == ["arm,scmi-devid", "arm,scmi-devname"])
        #expect(device.propertySchema(named: "vdd-supply") != nil)
        #expect(device.propertySchema(named: "arm,scmi-trusted") == nil)
        let agent = try #require(schema.childSchema(named: "agents")?.childSchema(named: "agent@2"))
        #expect(agent.propertySchema(named: "arm,scmi-protocols")?.items != nil)
        let sensor = try #require(schema.childSchema(named: "protocol@15")?.childSchema(named: "sensor@0"))
        #expect(sensor.oneOf.map(\.required) == [["arm,scmi-sensor-value"], ["arm,scmi-sensor-path"], ["arm,scmi-sensor"]])
        #expect(sensor.propertySchema(named: "arm,scmi-sensor")?.type == .phandleArray(cellsName: nil))
    }

    /// A keyword the validator does not implement must fail loudly, never be ignored.
    @Test func unknownKeywordsAreRejected() {
        let yaml = """
            properties:
              foo:
                $ref: /schemas/types.yaml#/definitions/string
                minLength: 3
            additionalProperties: false
            """
        #expect(throws: SchemaError.self) { try SchemaCompiler.compile(yaml: yaml) }
        #expect(throws: SchemaError.self) { try SchemaCompiler.compile(yaml: "properties:\n  foo:\n    $ref: other.yaml#\n") }
        #expect(throws: SchemaError.self) { try SchemaCompiler.compile(yaml: "properties:\n  foo:\n    pattern: '('\n") }
    }

    /// Plain scalars are typed as YAML 1.1 types them (numbers in every base, yes/no/on/off),
    /// quoted ones stay strings; scmi-dt decides this itself rather than by Yams's resolver rules.
    @Test func plainScalarsAreTypedAsYAMLTypesThem() throws {
        let yaml = """
            properties:
              a: { const: 0x1f }
              b: { const: "0x1f" }
              c: { const: 017 }
              d: { const: 08 }
              e: { enum: [1, two, 0b11, +7, 0o17, 1:30, 0x, 1:60] }
              f: { minimum: -5, maximum: 1_000 }
              g: yes
              h: { const: 'yes' }
            additionalProperties: off
            """
        let schema = try SchemaCompiler.compile(yaml: yaml)
        #expect(schema.propertySchema(named: "a")?.constValue == .number(31))
        #expect(schema.propertySchema(named: "b")?.constValue == .string("0x1f"))
        #expect(schema.propertySchema(named: "c")?.constValue == .number(15))
        #expect(schema.propertySchema(named: "d")?.constValue == .string("08"))
        #expect(schema.propertySchema(named: "e")?.enumValues == [
            .number(1), .string("two"), .number(3), .number(7), .number(15), .number(90), .string("0x"), .string("1:60"),
        ])
        #expect(schema.propertySchema(named: "f")?.minimum == -5)
        #expect(schema.propertySchema(named: "f")?.maximum == 1000)
        #expect(schema.propertySchema(named: "g") != nil)
        #expect(schema.propertySchema(named: "h")?.constValue == .string("yes"))
        #expect(!schema.allowsAdditional)
        #expect(throws: SchemaError.self) { try SchemaCompiler.compile(yaml: "additionalProperties: 'false'\n") }
        #expect(throws: SchemaError.self) { try SchemaCompiler.compile(yaml: "properties:\n  a: { maximum: \"5\" }\n") }
    }

    /// Changing the schema changes what check enforces: the rules are read, not hard-wired.
    @Test func rulesFollowTheSchemaText() throws {
        let yaml = """
            properties:
              $nodename:
                const: scmi-vio-backend
              compatible:
                const: arm,scmi-vio-backend
              arm,scmi-vendor:
                $ref: /schemas/types.yaml#/definitions/string
                pattern: '^[A-Z]{1,4}$'
            required:
              - compatible
              - arm,scmi-vendor
            additionalProperties: true
            """
        let schema = try SchemaCompiler.compile(yaml: yaml)
        let bytes = try compileDTS(tree(backend: "arm,scmi-vendor = \"acme\";"))
        let tree = try DeviceTreeFixture(bytes)
        var validator = StructuralValidator(file: "t.dtb")
        validator.validate(backend: tree.backend, schema: schema)
        #expect(validator.diagnostics.map(\.rule) == ["property-value"])
        #expect(validator.diagnostics.first?.message.contains("^[A-Z]{1,4}$") == true)
    }

    @Test func typesDecodeStrictly() throws {
        let result = try check(
            tree(
                backend: backend(
                    devices: """
                        device@1 { arm,scmi-devid = /bits/ 16 <1>; arm,scmi-devname = "usb"; clocks = <&osc24m>; };
                        device@2 { arm,scmi-devid = <2>; arm,scmi-devname = [75 73 62]; clocks = <&osc24m>; };
                        device@3 { arm,scmi-devid = <3>; arm,scmi-devname = "x"; arm,scmi-clock-ids = [00 00 01]; };
                        """,
                    agents: "agent@1 { reg = <1>; arm,scmi-agent-name = \"vm\"; arm,scmi-trusted = <1>; };")))
        #expect(result.has(.propertyType, at: devicesPath + "/device@1", property: "arm,scmi-devid"))
        #expect(result.has(.propertyType, at: devicesPath + "/device@2", property: "arm,scmi-devname"))
        #expect(result.findings(.propertyType).contains { $0.message.contains("not NUL-terminated") })
        #expect(result.has(.propertyType, at: devicesPath + "/device@3", property: "arm,scmi-clock-ids"))
        #expect(result.has(.propertyType, at: backendPath + "/agents/agent@1", property: "arm,scmi-trusted"))
        #expect(result.tables == nil)
    }

    @Test func valuesCountsAndNamesComeFromTheSchema() throws {
        let result = try check(
            tree(
                backend: backend(
                    devices: "device@1 { arm,scmi-devid = <1>; arm,scmi-devname = \"usb\"; clocks = <&osc24m>; arm,scmi-devnam = \"typo\"; };",
                    agents: """
                        agent@0 { reg = <0>; arm,scmi-agent-name = "vm"; arm,scmi-protocols = <0x10>; };
                        agent@2 { reg = <2>; arm,scmi-agent-name = ""; };
                        """,
                    extra: "bogus { };")))
        #expect(result.has(.propertyUnknown, at: devicesPath + "/device@1", property: "arm,scmi-devnam"))
        #expect(result.findings(.propertyUnknown).first?.hint == "did you mean 'arm,scmi-devname'?")
        #expect(result.has(.propertyValue, at: backendPath + "/agents/agent@0", property: "reg"))
        #expect(result.has(.propertyValue, at: backendPath + "/agents/agent@0", property: "arm,scmi-protocols"))
        #expect(result.has(.propertyValue, at: backendPath + "/agents/agent@2", property: "arm,scmi-agent-name"))
        #expect(result.has(.nodeUnknown, at: backendPath + "/bogus"))
    }

    /// On a large tree the structural pass runs on its own thread (`BackendChecker.check`);
    /// its findings must come out complete and in the same place as on a small tree.
    @Test func aLargeTreeGivesTheFindingsOfASmallOne() throws {
        let body = backend(
            devices: """
                device@1 { arm,scmi-devid = <1>; arm,scmi-devname = "usb"; clocks = <&osc24m>; arm,scmi-devnam = "typo"; };
                device@2 { arm,scmi-devid = <1>; arm,scmi-devname = "usb"; };
                """,
            agents: "agent@0 { reg = <0>; arm,scmi-agent-name = \"vm\"; arm,scmi-protocols = <0x10>; };",
            extra: "bogus { };")
        let filler = (0 ..< BackendChecker.backgroundThreshold).map { "filler-\($0) { };" }.joined(separator: "\n")
        let small = try check(tree(backend: body))
        let largeBlob = try compileDTS(tree(backend: body, host: filler))
        #expect(try FlattenedDeviceTree(bytes: largeBlob).nodeCount >= BackendChecker.backgroundThreshold)
        let large = BackendChecker.check(bytes: largeBlob, file: "test.dtb")
        #expect(large.has(.propertyUnknown, at: devicesPath + "/device@1", property: "arm,scmi-devnam"))
        #expect(large.has(.nodeUnknown, at: backendPath + "/bogus"))
        #expect(large.diagnostics.map(\.rendered) == small.diagnostics.map(\.rendered))
    }

    /// A disabled node is checked no further than its name.
    @Test func disabledNodesAreNotValidated() throws {
        let result = try check(
            tree(
                backend: backend(
                    devices: """
                        device@1 { arm,scmi-devid = <1>; arm,scmi-devname = "usb"; clocks = <&osc24m>; };
                        device@2 { status = "disabled"; bogus; };
                        """)))
        #expect(result.diagnostics.isEmpty, "\(result.summaryText)")
        #expect(result.tables?.devices.map(\.id) == [1])
    }
}
