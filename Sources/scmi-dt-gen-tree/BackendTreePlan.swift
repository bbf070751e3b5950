/// What the generator will write, decided before writing anything so that every phandle is
/// known up front and explicit ids can be checked against the size of the derived tables.
///
/// The shape follows docs/binding.md: host clocks (one `#clock-cells = <1>`
/// controller with `clock-output-names`, the rest fixed clocks), host regulators with
/// min/max/step, host peripherals used as `arm,scmi-basedev`, then the backend with
/// protocol@14 and @17 (derived tables), `devices` and `agents`.
struct BackendTreePlan {
    var deviceCount: Int
    var clockCount: Int
    var regulatorCount: Int
    var agentCount: Int

    /// How each device names its resources; devices cycle through these by devid so every
    /// style the binding allows is exercised at every size.
    enum DeviceStyle {
        case oneClock          // clocks = <one>
        case clockAndSupply    // clocks = <one>; vdd-supply = <one>
        case twoClocks         // clocks = <a>, <b>; clock-names = "core", "bus"
        case basedev           // arm,scmi-basedev = <&peripheral>
        case explicitIDs       // arm,scmi-clock-ids / arm,scmi-voltage-ids into the derived tables
    }

    static let styleCycle: [DeviceStyle] = [
        .oneClock, .clockAndSupply, .twoClocks, .oneClock, .clockAndSupply,
        .oneClock, .clockAndSupply, .basedev, .explicitIDs, .twoClocks,
    ]

    struct Device {
        var id: Int
        var style: DeviceStyle
        var clocks: [Int] = []        // host clock numbers, 0..<clockCount
        var supply: Int? = nil        // host regulator number
        var peripheral: Int? = nil    // host peripheral number (basedev)
        var clockID: Int? = nil       // explicit SCMI clock id
        var voltageID: Int? = nil     // explicit SCMI voltage id
    }

    struct Peripheral {
        var clock: Int
        var supply: Int
    }

    private(set) var devices: [Device] = []
    private(set) var peripherals: [Peripheral] = []
    /// Host clocks 0..<controllerClocks are outputs of the controller; the rest are fixed clocks.
    var controllerClocks: Int { (clockCount + 1) / 2 }
    var fixedClocks: Int { clockCount - controllerClocks }

    init(devices: Int, clocks: Int, regulators: Int, agents: Int) {
        deviceCount = devices
        clockCount = clocks
        regulatorCount = regulators
        agentCount = agents
        plan()
    }

    /// Hands out host clocks and regulators round-robin, so with enough devices every host
    /// resource is used and the derived tables hold exactly `clockCount` / `regulatorCount`.
    private mutating func plan() {
        var nextClock = 0, nextRegulator = 0
        func clock() -> Int { defer { nextClock += 1 }; return nextClock % clockCount }
        func regulator() -> Int { defer { nextRegulator += 1 }; return nextRegulator % regulatorCount }
        var explicit: [Int] = []
        for id in 0..<deviceCount {
            var device = Device(id: id, style: Self.styleCycle[id % Self.styleCycle.count])
            switch device.style {
            case .oneClock: device.clocks = [clock()]
            case .clockAndSupply: device.clocks = [clock()]; device.supply = regulator()
            case .twoClocks: device.clocks = [clock(), clock()]
            case .basedev:
                device.peripheral = peripherals.count
                peripherals.append(Peripheral(clock: clock(), supply: regulator()))
            case .explicitIDs: explicit.append(id)
            }
            devices.append(device)
        }
        // Derived tables hold each distinct resource once; explicit ids must fall inside them.
        let clockTable = min(nextClock, clockCount)
        let voltageTable = min(nextRegulator, regulatorCount)
        for (position, id) in explicit.enumerated() {
            if clockTable > 0 { devices[id].clockID = position % clockTable }
            if voltageTable > 0 { devices[id].voltageID = position % voltageTable }
        }
    }

    /// The schema's limit on `arm,scmi-devices` entries per agent.
    static let maximumDevicesPerAgent = 1024

    /// The devices agent `agent` (1-based) may use at start: the first (at most 1024) of an even
    /// share, in devid order. With more devices than agents × 1024 the rest start unassigned,
    /// which the binding allows (a trusted agent can grant them).
    func devices(ofAgent agent: Int) -> Range<Int> {
        let start = deviceCount * (agent - 1) / agentCount
        let end = deviceCount * agent / agentCount
        return start..<min(end, start + Self.maximumDevicesPerAgent)
    }
}
