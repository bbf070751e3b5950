import DeviceTree

/// Writes a `BackendTreePlan` as a blob with libfdt's sequential writer (dtc cannot parse more
/// than 10,000 sibling nodes and resolves labels quadratically; this is linear).
struct BackendTreeWriter {
    let plan: BackendTreePlan

    // Phandles, assigned in blocks: controller, fixed clocks, regulators, peripherals, devices.
    private var controllerPhandle: UInt32 { 1 }
    private func fixedClockPhandle(_ index: Int) -> UInt32 { UInt32(2 + index) }
    private func regulatorPhandle(_ index: Int) -> UInt32 { UInt32(2 + plan.fixedClocks + index) }
    private func peripheralPhandle(_ index: Int) -> UInt32 {
        UInt32(2 + plan.fixedClocks + plan.regulatorCount + index)
    }
    private func devicePhandle(_ id: Int) -> UInt32 {
        UInt32(2 + plan.fixedClocks + plan.regulatorCount + plan.peripherals.count + id)
    }

    /// `clocks` cells for host clock `number`: `<&controller n>` or `<&fixed>`.
    private func clockSpecifier(_ number: Int) -> [UInt32] {
        number < plan.controllerClocks
            ? [controllerPhandle, UInt32(number)]
            : [fixedClockPhandle(number - plan.controllerClocks)]
    }

    func write() throws(BlobError) -> [UInt8] {
        let out = try FlattenedDeviceTreeWriter(initialCapacity: 64 + plan.deviceCount * 160)
        try out.beginNode("")
        try out.property("#address-cells", u32: 1)
        try out.property("#size-cells", u32: 1)
        try out.property("compatible", string: "scmi-dt,generated-board")
        try out.property("model", string: "scmi-dt generated backend tree (\(plan.deviceCount) devices)")
        try writeClocks(out)
        try writeRegulators(out)
        try writePeripherals(out)
        try out.beginNode("firmware")
        try writeBackend(out)
        try out.endNode()
        try out.endNode()
        return try out.finish()
    }

    private func writeClocks(_ out: FlattenedDeviceTreeWriter) throws(BlobError) {
        try out.beginNode("clocks")
        try out.beginNode("clock-controller")
        try out.property("compatible", string: "scmi-dt,generated-clock-controller")
        try out.property("#clock-cells", u32: 1)
        try out.property("clock-output-names", strings: (0..<plan.controllerClocks).map { "gcc\($0)" })
        // min max step: a described rate, so `check` has nothing to warn about.
        try out.property("arm,scmi-rate-range", u32Array: [1_000_000, 800_000_000, 1_000_000])
        try out.property("phandle", u32: controllerPhandle)
        try out.endNode()
        for index in 0..<plan.fixedClocks {
            try out.beginNode("clock-\(index)")
            try out.property("compatible", string: "fixed-clock")
            try out.property("#clock-cells", u32: 0)
            try out.property("clock-frequency", u32: UInt32(1_000_000 + 1_000 * index))
            try out.property("clock-output-names", string: "osc\(index)")
            try out.property("phandle", u32: fixedClockPhandle(index))
            try out.endNode()
        }
        try out.endNode()
    }

    private func writeRegulators(_ out: FlattenedDeviceTreeWriter) throws(BlobError) {
        try out.beginNode("regulators")
        for index in 0..<plan.regulatorCount {
            try out.beginNode("regulator-\(index)")
            try out.property("regulator-name", string: "vreg\(index)")
            // 0.8 V .. 1.8 V in 12.5 mV steps (the step divides the range).
            try out.property("regulator-min-microvolt", u32: 800_000)
            try out.property("regulator-max-microvolt", u32: 1_800_000)
            try out.property("arm,scmi-voltage-step-microvolt", u32: 12_500)
            if index % 4 == 0 { try out.property("regulator-always-on") }
            try out.property("phandle", u32: regulatorPhandle(index))
            try out.endNode()
        }
        try out.endNode()
    }

    private func writePeripherals(_ out: FlattenedDeviceTreeWriter) throws(BlobError) {
        guard !plan.peripherals.isEmpty else { return }
        try out.beginNode("soc")
        for (index, peripheral) in plan.peripherals.enumerated() {
            try out.beginNode("peripheral-\(index)")
            try out.property("compatible", string: "scmi-dt,generated-peripheral")
            try out.property("clocks", u32Array: clockSpecifier(peripheral.clock))
            try out.property("vdd-supply", u32: regulatorPhandle(peripheral.supply))
            try out.property("phandle", u32: peripheralPhandle(index))
            try out.endNode()
        }
        try out.endNode()
    }

    private func writeBackend(_ out: FlattenedDeviceTreeWriter) throws(BlobError) {
        try out.beginNode("scmi-vio-backend")
        try out.property("compatible", string: "arm,scmi-vio-backend")
        try out.property("#address-cells", u32: 1)
        try out.property("#size-cells", u32: 0)
        try out.property("arm,scmi-vendor", string: "scmi-dt")
        try out.property("arm,scmi-sub-vendor", string: "gen-tree")
        for protocolID: UInt32 in [0x14, 0x17] {
            try out.beginNode("protocol@\(String(protocolID, radix: 16))")
            try out.property("reg", u32: protocolID)
            try out.endNode()
        }
        try writeDevices(out)
        try writeAgents(out)
        try out.endNode()
    }

    private func writeDevices(_ out: FlattenedDeviceTreeWriter) throws(BlobError) {
        try out.beginNode("devices")
        try out.property("#address-cells", u32: 1)
        try out.property("#size-cells", u32: 0)
        for device in plan.devices {
            try out.beginNode("device@\(String(device.id, radix: 16))")
            try out.property("reg", u32: UInt32(device.id))
            try out.property("arm,scmi-devid", u32: UInt32(device.id))
            try out.property("arm,scmi-devname", string: "dev\(device.id)")
            if !device.clocks.isEmpty {
                try out.property("clocks", u32Array: device.clocks.flatMap(clockSpecifier))
                if device.clocks.count == 2 { try out.property("clock-names", strings: ["core", "bus"]) }
            }
            if let supply = device.supply { try out.property("vdd-supply", u32: regulatorPhandle(supply)) }
            if let peripheral = device.peripheral {
                try out.property("arm,scmi-basedev", u32: peripheralPhandle(peripheral))
            }
            if let id = device.clockID { try out.property("arm,scmi-clock-ids", u32: UInt32(id)) }
            if let id = device.voltageID { try out.property("arm,scmi-voltage-ids", u32: UInt32(id)) }
            try out.property("phandle", u32: devicePhandle(device.id))
            try out.endNode()
        }
        try out.endNode()
    }

    private func writeAgents(_ out: FlattenedDeviceTreeWriter) throws(BlobError) {
        try out.beginNode("agents")
        try out.property("#address-cells", u32: 1)
        try out.property("#size-cells", u32: 0)
        for agent in 1...plan.agentCount {
            try out.beginNode("agent@\(String(agent, radix: 16))")
            try out.property("reg", u32: UInt32(agent))
            try out.property("arm,scmi-agent-name", string: "vm\(agent)")
            let devices = plan.devices(ofAgent: agent)
            if !devices.isEmpty { try out.property("arm,scmi-devices", u32Array: devices.map(devicePhandle)) }
            if agent % 2 == 0 { try out.property("arm,scmi-protocols", u32Array: [0x14, 0x17]) }
            if agent == 1 { try out.property("arm,scmi-trusted") }
            try out.endNode()
        }
        try out.endNode()
    }
}
