import Logging
import ResourceTables
import SCMIClient
import SCMIPlatform
import SCMIUpstream
import Synchronization
import TestKit

// Two boards built by hand: a "firmware" (a real engine, the platform that
// owns the resources) and a mediator whose resources are mostly the
// firmware's, under other ids, plus one model clock. The mediator's
// UpstreamHost talks to the firmware over an InProcessLink.

enum FirmwareBoard {
    static let clocks = [
        ClockEntry(id: 0, name: "fw-osc", providerPath: "/soc/osc", specifier: [], rates: .discrete([24_000_000]), initialRate: 24_000_000),
        ClockEntry(id: 1, name: "fw-secure", providerPath: "/soc/cru", specifier: [1],
                   rates: .discrete([100_000_000, 200_000_000]), initialRate: 100_000_000),
        ClockEntry(id: 2, name: "fw-cpu", providerPath: "/soc/cru", specifier: [2],
                   rates: .discrete([400_000_000, 800_000_000, 1_200_000_000]), initialRate: 400_000_000),
    ]
    static let voltages = [
        VoltageDomainEntry(id: 0, name: "fw-vdd-core", regulatorPath: "/pmic/core", levels: .discrete([800_000, 900_000]),
                           initialLevel: 800_000, initiallyOn: true),
        VoltageDomainEntry(id: 1, name: "fw-vdd-gpu", regulatorPath: "/pmic/gpu", levels: .discrete([900_000, 1_000_000, 1_100_000]),
                           initialLevel: 900_000, initiallyOn: false),
    ]
    static let powerDomains = [
        ProviderResourceEntry(id: 0, name: "fw-pd-a", providerPath: "/soc/pmu", specifier: [0]),
        ProviderResourceEntry(id: 1, name: "fw-pd-gpu", providerPath: "/soc/pmu", specifier: [1]),
    ]
    static let performance = [
        PerformanceDomainEntry(id: 0, name: "fw-cpu-perf", oppTablePath: "/opp",
                               levels: [PerformanceLevel(hz: 500_000_000), PerformanceLevel(hz: 1_000_000_000), PerformanceLevel(hz: 1_500_000_000)]),
    ]
    static let resets = [
        ProviderResourceEntry(id: 0, name: "fw-rst-a", providerPath: "/soc/rst", specifier: [0]),
        ProviderResourceEntry(id: 1, name: "fw-rst-gpu", providerPath: "/soc/rst", specifier: [1]),
    ]
    static let sensors = [
        SensorEntry(id: 0, name: "fw-temp-a", type: .temperature, unitExponent: -3, source: .constant(1)),
        SensorEntry(id: 1, name: "fw-soc-temp", type: .temperature, unitExponent: -3, source: .constant(42_000)),
    ]
    /// "granted" holds what the mediator serves; "secure" only clock 1.
    static let devices = [
        DeviceEntry(id: 1, name: "granted", path: "/fw/devices/device@1", resources: [
            ResourceReference(.clock, 2), ResourceReference(.clock, 0), ResourceReference(.voltage, 1), ResourceReference(.powerDomain, 1),
            ResourceReference(.performance, 0), ResourceReference(.reset, 1), ResourceReference(.sensor, 1),
        ]),
        DeviceEntry(id: 2, name: "secure", path: "/fw/devices/device@2", resources: [ResourceReference(.clock, 1)]),
    ]
    static let protocols: [ProtocolID] = [.powerDomain, .performance, .clock, .sensor, .reset, .voltage]
    /// The mediator's agent may use "granted" only; the host's own OS both.
    static let mediator: UInt32 = 5
    static let hostOS: UInt32 = 6
    static let tables = PlatformTables(
        vendor: "FW", protocols: protocols, clocks: clocks, voltageDomains: voltages, powerDomains: powerDomains,
        performanceDomains: performance, sensors: sensors, resetDomains: resets, devices: devices,
        agents: [
            AgentEntry(id: mediator, name: "mediator", devices: [1], protocols: protocols, trusted: false),
            AgentEntry(id: hostOS, name: "host-os", devices: [1, 2], protocols: protocols, trusted: false),
        ])
}

enum MediatorBoard {
    static let firmwareNode = NodePath("/firmware/scmi")
    /// Clock 0 is the firmware's clock 2, clock 1 a model clock, clock 2 the
    /// firmware's clock 1 (which the mediator's agent may not use there).
    static let clocks = [
        ClockEntry(id: 0, name: "cpu", providerPath: "/firmware/scmi/protocol@14", specifier: [2],
                   rates: .discrete([400_000_000, 800_000_000, 1_200_000_000]), initialRate: 400_000_000),
        ClockEntry(id: 1, name: "model-clk", providerPath: "/soc/osc", specifier: [],
                   rates: .discrete([1_000_000, 2_000_000]), initialRate: 1_000_000),
        ClockEntry(id: 2, name: "secure", providerPath: "/firmware/scmi/protocol@14", specifier: [1],
                   rates: .discrete([100_000_000, 200_000_000]), initialRate: 100_000_000),
    ]
    static let voltages = [
        VoltageDomainEntry(id: 0, name: "vdd-gpu", regulatorPath: "/firmware/scmi/protocol@17/regulators/regulator@1",
                           levels: .discrete([900_000, 1_000_000, 1_100_000]), initialLevel: 900_000, initiallyOn: false),
    ]
    static let powerDomains = [ProviderResourceEntry(id: 0, name: "gpu-pd", providerPath: "/firmware/scmi/protocol@11", specifier: [1])]
    static let performance = [
        PerformanceDomainEntry(id: 0, name: "cpu-perf", oppTablePath: "/firmware/scmi/protocol@13",
                               levels: [PerformanceLevel(hz: 500_000_000), PerformanceLevel(hz: 1_000_000_000), PerformanceLevel(hz: 1_500_000_000)]),
    ]
    static let resets = [ProviderResourceEntry(id: 0, name: "gpu-rst", providerPath: "/firmware/scmi/protocol@16", specifier: [1])]
    static let sensors = [SensorEntry(id: 0, name: "soc-temp", type: .temperature, unitExponent: -3, source: .host)]
    static let devices = [
        DeviceEntry(id: 1, name: "gpu", path: "/backend/devices/device@1", resources: [
            ResourceReference(.clock, 0), ResourceReference(.clock, 1), ResourceReference(.clock, 2), ResourceReference(.voltage, 0),
            ResourceReference(.powerDomain, 0), ResourceReference(.performance, 0), ResourceReference(.reset, 0), ResourceReference(.sensor, 0),
        ]),
    ]
    static let vmA: UInt32 = 1
    static let vmB: UInt32 = 2

    static func origin(_ protocolID: ProtocolID, _ firmwareID: UInt32) -> FirmwareOrigin {
        FirmwareOrigin(platformPath: firmwareNode, protocolID: protocolID, firmwareID: firmwareID)
    }

    static let tables = PlatformTables(
        vendor: "MEDIATOR", protocols: FirmwareBoard.protocols, clocks: clocks, voltageDomains: voltages, powerDomains: powerDomains,
        performanceDomains: performance, sensors: sensors, resetDomains: resets, devices: devices,
        agents: [
            AgentEntry(id: vmA, name: "vm-a", devices: [1], protocols: FirmwareBoard.protocols, trusted: false),
            AgentEntry(id: vmB, name: "vm-b", devices: [1], protocols: FirmwareBoard.protocols, trusted: false),
        ],
        firmwareOrigins: [
            ResourceReference(.clock, 0): origin(.clock, 2), ResourceReference(.clock, 2): origin(.clock, 1),
            ResourceReference(.voltage, 0): origin(.voltage, 1), ResourceReference(.powerDomain, 0): origin(.powerDomain, 1),
            ResourceReference(.performance, 0): origin(.performance, 0), ResourceReference(.reset, 0): origin(.reset, 1),
            ResourceReference(.sensor, 0): origin(.sensor, 1),
        ])
}

/// The firmware: its engine, every link made to it, whether it can be reached.
final class InProcessFirmware: Sendable {
    let platform = SCMIPlatform(tables: FirmwareBoard.tables)
    let reachable = Mutex(true)
    private let made = Mutex<[InProcessLink]>([])

    /// The link the mediator uses now (the last one made).
    var link: InProcessLink { made.withLock { $0.last! } }

    /// A new connection of the mediator's agent; refused while unreachable.
    func connect() throws(UpstreamError) -> any UpstreamLink {
        guard reachable.withLock({ $0 }) else { throw .disconnected("connection refused") }
        let link = InProcessLink(session: platform.makeSession(agentID: FirmwareBoard.mediator)!)
        made.withLock { $0.append(link) }
        return link
    }

    /// The firmware goes away: the mediator's connection ends, new ones are refused.
    func disappear() {
        reachable.withLock { $0 = false }
        link.close()
    }

    func comeBack() { reachable.withLock { $0 = true } }

    /// Another agent of the firmware (the host's own OS), for changes the mediator did not make.
    func hostOS() -> SCMIClient {
        client(InProcessLink(session: platform.makeSession(agentID: FirmwareBoard.hostOS)!))
    }

    /// The firmware's physical state of resource `id` of `protocolID`.
    func resource(_ protocolID: ProtocolID, _ id: UInt32) -> ResourceSnapshot {
        platform.snapshot().resources(of: protocolID)[Int(id)]
    }
}

/// An agent's client over an in-process link (its notifications wait in the link).
func client(_ link: InProcessLink) -> SCMIClient {
    SCMIClient(transport: UpstreamClientTransport(link: link, timeoutMilliseconds: 1000))
}

/// A mediator in front of a firmware, as `serve --upstream` builds it.
final class Mediator {
    let firmware = InProcessFirmware()
    let log = LogRecorder()
    let host: UpstreamHost
    let platform: SCMIPlatform

    init(inner: any HostInterface = InMemoryHost(), start: Bool = true) throws {
        let firmware = firmware
        let link = try firmware.connect()
        let session = try FirmwareSession.discover(
            over: link, protocols: UpstreamHost.protocols(MediatorBoard.tables), timeoutMilliseconds: 1000)
        host = UpstreamHost(
            tables: MediatorBoard.tables, inner: inner, link: link, session: session, address: "in-process",
            configuration: UpstreamHost.Configuration(timeoutMilliseconds: 1000, firstRetryMilliseconds: 10, lastRetryMilliseconds: 40),
            connect: { () throws(UpstreamError) -> any UpstreamLink in try firmware.connect() }, logger: log.logger, trace: true)
        platform = SCMIPlatform(tables: MediatorBoard.tables, host: host)
        if start {
            let platform = platform
            try host.start(state: { [weak platform] in platform?.snapshot() ?? PlatformSnapshot(tables: [], agents: []) },
                           passOn: { [weak platform] in platform?.passOn($0) })
        }
    }

    deinit { host.stop() }

    /// A guest connected to the mediator with P2A (its notifications wait in `link`).
    func guest(_ agentID: UInt32) -> (client: SCMIClient, link: InProcessLink) {
        let link = InProcessLink(session: platform.makeSession(agentID: agentID)!)
        return (client(link), link)
    }
}

/// The notifications waiting in `link`, decoded: (header, payload words).
func notifications(_ link: InProcessLink) throws -> [(header: MessageHeader, words: [UInt32])] {
    var found: [(MessageHeader, [UInt32])] = []
    _ = try link.receive(timeoutMilliseconds: 0) { message in
        let words = stride(from: 0, to: message.count, by: 4).compactMap { LittleEndian.word(message, at: $0) }
        found.append((MessageHeader(rawValue: words[0]), Array(words.dropFirst())))
    }
    return found
}
