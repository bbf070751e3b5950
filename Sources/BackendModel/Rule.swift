/// Every finding `check` can report. The raw value is the stable rule id
/// printed in diagnostics; docs/rules.md lists the same table.
public enum Rule: String, CaseIterable, Sendable {
    // Input
    case blobUnusable = "blob-unusable"

    // The tree itself, anywhere in it: what dtc refuses to write but libfdt reads
    case propertyDuplicate = "property-duplicate"
    case nodeDuplicate = "node-duplicate"
    case phandleDuplicate = "phandle-duplicate"
    case nameCharacters = "name-characters"

    // The backend node (docs/binding.md §1)
    case backendMissing = "backend-missing"
    case backendDuplicate = "backend-duplicate"
    case backendCompatibleMissing = "backend-compatible-missing"

    // Structural: the rules of schemas/arm,scmi-vio-backend.yaml
    case nodeUnknown = "node-unknown"
    case nodeName = "node-name"
    case propertyUnknown = "property-unknown"
    case propertyMissing = "property-missing"
    case propertyType = "property-type"
    case propertyValue = "property-value"
    case propertyCount = "property-count"
    case propertyAlternatives = "property-alternatives"

    // Addresses
    case addressCellsMissing = "address-cells-missing"
    case unitAddressMismatch = "unit-address-mismatch"
    case unitAddressFormat = "unit-address-format"

    // Protocols (section 2)
    case protocolBase = "protocol-base"
    case protocolUnimplemented = "protocol-unimplemented"
    case protocolUnknown = "protocol-unknown"
    case protocolDuplicate = "protocol-duplicate"

    // Explicit tables (section 5)
    case tableChildKind = "table-child-kind"
    case tableIDDuplicate = "table-id-duplicate"
    case tableIDGap = "table-id-gap"
    case resourceNotInTable = "resource-not-in-table"
    case basedevResourceNotInTable = "basedev-resource-not-in-table"

    // Devices (section 3)
    case devidDuplicate = "devid-duplicate"
    case devnameDuplicate = "devname-duplicate"
    case phandleZero = "phandle-zero"
    case phandleDangling = "phandle-dangling"
    case specifierTruncated = "specifier-truncated"
    case providerCellsMissing = "provider-cells-missing"
    case providerCellsInvalid = "provider-cells-invalid"
    case clockNamesCount = "clock-names-count"
    case basedevInBackend = "basedev-in-backend"
    case basedevDisabled = "basedev-disabled"
    case basedevNoResources = "basedev-no-resources"
    case supplyNotRegulator = "supply-not-regulator"
    case idListProtocolDisabled = "id-list-protocol-disabled"
    case idNotInTable = "id-not-in-table"
    case resourceUnreachable = "resource-unreachable"
    case deviceNoResources = "device-no-resources"
    case basedevShared = "basedev-shared"
    case resourceUsedByHost = "resource-used-by-host"

    // Agents (section 4)
    case agentIDDuplicate = "agent-id-duplicate"
    case agentNameDuplicate = "agent-name-duplicate"
    case agentDeviceInvalid = "agent-device-invalid"
    case agentDeviceDisabled = "agent-device-disabled"
    case agentProtocolDisabled = "agent-protocol-disabled"
    case agentsImplicit = "agents-implicit"

    // Clocks (5.1)
    case clockRatesConflict = "clock-rates-conflict"
    case clockRatesInvalid = "clock-rates-invalid"
    case fixedClockFrequency = "fixed-clock-frequency"
    case clockRateMismatch = "clock-rate-mismatch"
    case clockRateUndescribed = "clock-rate-undescribed"
    case clockNameDuplicate = "clock-name-duplicate"
    case clockRatesTooMany = "clock-rates-too-many"
    case fixedClockPlaceholder = "fixed-clock-placeholder"
    case assignedRateUnsupported = "assigned-rate-unsupported"

    // Names guests see (5.1–5.4)
    case resourceNameUnprintable = "resource-name-unprintable"

    // Voltage domains (5.2)
    case regulatorLevelsMissing = "regulator-levels-missing"
    case regulatorLevelsInvalid = "regulator-levels-invalid"
    case voltageStepMissing = "voltage-step-missing"
    case voltageStepUneven = "voltage-step-uneven"
    case regulatorAlwaysOnExported = "regulator-always-on-exported"
    case regulatorCoupled = "regulator-coupled"
    case regulatorCoupledUnserved = "regulator-coupled-unserved"

    // Performance domains (5.4)
    case oppTableInvalid = "opp-table-invalid"

    // Sensors (5.5) of the host's SCMI firmware (5.7)
    case sensorFirmwareInvalid = "sensor-firmware-invalid"

    public var id: String { rawValue }

    public var severity: Severity {
        switch self {
        case .unitAddressFormat, .basedevResourceNotInTable, .basedevDisabled, .basedevNoResources,
            .resourceUnreachable, .deviceNoResources, .agentDeviceDisabled, .agentsImplicit,
            .clockRateUndescribed, .clockNameDuplicate, .clockRatesTooMany,
            .voltageStepMissing, .voltageStepUneven, .resourceUsedByHost, .fixedClockPlaceholder, .assignedRateUnsupported,
            .regulatorCoupledUnserved:
            .warning
        case .regulatorAlwaysOnExported, .regulatorCoupled:
            .note
        default:
            .error
        }
    }

    /// True for the rules whose content comes from the schema file (dt-validate reports the same).
    public var isStructural: Bool {
        switch self {
        case .nodeUnknown, .nodeName, .propertyUnknown, .propertyMissing, .propertyType, .propertyValue,
            .propertyCount, .propertyAlternatives:
            true
        default:
            false
        }
    }

    /// One line for docs/rules.md and `--help`.
    public var summary: String {
        switch self {
        case .blobUnusable: "the input is missing, unreadable, not a valid flattened devicetree, or a .dts that dtc cannot compile"
        case .propertyDuplicate: "a property name repeated within one node: every reader sees only the first"
        case .nodeDuplicate: "two sibling nodes with the same name (unit address included): lookups by path find only the first"
        case .phandleDuplicate: "two nodes claim the same phandle: references resolve to the first"
        case .nameCharacters: "a node or property name that is empty, has a character dtc rejects, or (nodes) a second '@'"
        case .backendMissing: "no enabled node with compatible \"arm,scmi-vio-backend\" in the tree"
        case .backendDuplicate: "a second enabled backend node"
        case .backendCompatibleMissing: "a node named scmi-vio-backend without compatible \"arm,scmi-vio-backend\""
        case .nodeUnknown: "a child node the schema does not allow here"
        case .nodeName: "the node's name does not match what the schema requires"
        case .propertyUnknown: "a property the schema does not allow here (additionalProperties: false)"
        case .propertyMissing: "a required property is absent"
        case .propertyType: "a property's bytes do not have its type (length, NUL-terminated string, empty flag)"
        case .propertyValue: "a value outside the schema's const, enum, minimum/maximum or pattern (e.g. an agent name that is not one safe file name)"
        case .propertyCount: "too few or too many entries (minItems/maxItems)"
        case .propertyAlternatives: "none or several of mutually exclusive property sets (oneOf/anyOf)"
        case .addressCellsMissing: "#address-cells/#size-cells absent on a node whose children have unit addresses"
        case .unitAddressMismatch: "a unit address differs from the node's reg, arm,scmi-devid or agent id"
        case .unitAddressFormat: "a unit address spelled non-canonically (upper case, leading zeros, 0x)"
        case .protocolBase: "protocol@10: Base is always implemented and is not listed"
        case .protocolUnimplemented: "an SCMI protocol this backend does not implement (0x12, 0x18, 0x19, 0x80..0xff)"
        case .protocolUnknown: "a protocol id that is not an SCMI protocol"
        case .protocolDuplicate: "the same protocol id on a second protocol node"
        case .tableChildKind: "a table child of the wrong kind for its protocol (e.g. clock@0 under protocol@17)"
        case .tableIDDuplicate: "two table children with the same reg"
        case .tableIDGap: "explicit table ids are not dense from 0"
        case .resourceNotInTable: "a device's direct resource is missing from the protocol's explicit table"
        case .basedevResourceNotInTable: "a resource taken through arm,scmi-basedev is missing from the explicit table"
        case .devidDuplicate: "two devices with the same arm,scmi-devid"
        case .devnameDuplicate: "two devices with the same arm,scmi-devname"
        case .phandleZero: "a phandle of 0 in a phandle property"
        case .phandleDangling: "a phandle that no node has"
        case .specifierTruncated: "the last specifier of a phandle array has fewer cells than its provider's #…-cells"
        case .providerCellsMissing: "a referenced provider lacks #clock-cells / #reset-cells / #power-domain-cells"
        case .providerCellsInvalid: "a provider's #…-cells is not one cell, or an implausible count"
        case .clockNamesCount: "clock-names does not have one entry per clock"
        case .basedevInBackend: "arm,scmi-basedev points at a node inside the backend"
        case .basedevDisabled: "arm,scmi-basedev points at a disabled node (its resources are still used)"
        case .basedevNoResources: "the base device has no clocks, supplies, resets or power domains"
        case .supplyNotRegulator: "a *-supply or arm,scmi-supply points at a node that is not a regulator"
        case .idListProtocolDisabled: "an arm,scmi-*-ids list for a protocol that is not enabled"
        case .idNotInTable: "an id in an arm,scmi-*-ids list that the protocol's table does not have"
        case .resourceUnreachable: "a device has resources of a protocol that is not enabled"
        case .deviceNoResources: "a device with no resources at all"
        case .basedevShared: "one host node is arm,scmi-basedev of devices held by different agents: two guests would drive the same hardware"
        case .resourceUsedByHost: "an exported resource that enabled host devices no agent is given also use: the host depends on it"
        case .agentIDDuplicate: "two agents with the same id"
        case .agentNameDuplicate: "two agents with the same arm,scmi-agent-name"
        case .agentDeviceInvalid: "arm,scmi-devices names a node that is not a device@ node of this backend"
        case .agentDeviceDisabled: "arm,scmi-devices names a disabled device (ignored)"
        case .agentProtocolDisabled: "arm,scmi-protocols lists a protocol the backend does not enable"
        case .agentsImplicit: "no agents node: every connection gets every device and protocol"
        case .clockRatesConflict: "more than one of arm,scmi-rates, -rates-64, -rate-range, -rate-range-64 on one node"
        case .clockRatesInvalid: "a rate range with min > max or step 0, or a rate of 0 Hz"
        case .fixedClockFrequency: "a fixed-clock without a usable clock-frequency"
        case .clockRateMismatch: "rate properties that disagree with a fixed rate (fixed-clock, or fixed-factor-clock of a known parent)"
        case .clockRateUndescribed: "a clock with no rate description, not a host SCMI firmware's (binding.md §5.7): served as 1 Hz .. 4294967295 Hz"
        case .clockNameDuplicate: "two clock table entries with the same label (derived names are made unique with -2, -3…)"
        case .clockRatesTooMany: "more than 16 discrete rates: Linux guests reject the clock"
        case .fixedClockPlaceholder: "a device's clock is a fixed-clock of 0 Hz (a placeholder): it is not exported"
        case .assignedRateUnsupported: "an assigned-clock-rates entry the exported clock cannot run at (ignored)"
        case .resourceNameUnprintable: "a name derived from the host tree (clock-output-names, regulator-name, node name) that is empty or not printable ASCII; guests would get it verbatim"
        case .regulatorLevelsMissing: "an exported regulator without regulator-min-microvolt and regulator-max-microvolt (a host SCMI firmware's rail needs neither)"
        case .regulatorLevelsInvalid: "regulator min > max, or a level above 2147483647 µV"
        case .voltageStepMissing: "a voltage range without arm,scmi-voltage-step-microvolt, not a host SCMI firmware's rail: served with a 1 µV step"
        case .voltageStepUneven: "the voltage step does not divide the range"
        case .regulatorAlwaysOnExported: "an exported regulator-always-on rail: guests cannot switch it off"
        case .regulatorCoupled: "an exported rail coupled with another served rail: serve keeps them within regulator-coupled-max-spread"
        case .regulatorCoupledUnserved: "an exported rail coupled with a regulator no voltage domain serves: the spread cannot be held"
        case .oppTableInvalid: "operating-points-v2 does not lead to an OPP table with at least one usable opp-hz, or a perf-domain entry without one names no firmware performance domain"
        case .sensorFirmwareInvalid: "a sensor's arm,scmi-sensor is not one phandle of a host SCMI firmware's protocol@15 node and one sensor id"
        }
    }
}
