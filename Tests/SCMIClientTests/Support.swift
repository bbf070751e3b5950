import ResourceTables
import SCMIClient
import SCMIPlatform

// A board built by hand and clients that reach its engine in process.

enum Board {
    static let fortyRates: [UInt64] = (1 ... 40).map { UInt64($0) * 1_000_000 }

    static let tables = PlatformTables(
        vendor: "ACME", subVendor: "board-x", implementationVersion: 7,
        protocols: [.powerDomain, .clock, .sensor, .reset, .voltage],
        clocks: [
            ClockEntry(id: 0, name: "usb-core", providerPath: "/cru", specifier: [1],
                       rates: .discrete([24_000_000, 48_000_000, 96_000_000]), initialRate: 24_000_000),
            ClockEntry(id: 1, name: "display-pixel-clock-0", providerPath: "/cru", specifier: [2],
                       rates: .range(min: 25_000_000, max: 5_000_000_000, step: 250_000), initialRate: 25_000_000),
            ClockEntry(id: 2, name: "dsp", providerPath: "/cru", specifier: [3],
                       rates: .discrete(fortyRates), initialRate: 1_000_000),
        ],
        voltageDomains: [
            VoltageDomainEntry(id: 0, name: "vdd-core", regulatorPath: "/reg/core",
                               levels: .range(min: 600_000, max: 1_000_000, step: 12_500), initialLevel: 600_000, initiallyOn: false),
            VoltageDomainEntry(id: 1, name: "vdd-io-bank-three-v3", regulatorPath: "/reg/io",
                               levels: .discrete([1_800_000, 3_300_000]), initialLevel: 1_800_000, initiallyOn: true),
        ],
        devices: [
            DeviceEntry(id: 1, name: "USB", path: "/d/device@1", resources: [ResourceReference(.clock, 0), ResourceReference(.voltage, 0)]),
            DeviceEntry(id: 2, name: "DISPLAY", path: "/d/device@2", resources: [ResourceReference(.clock, 1), ResourceReference(.clock, 2), ResourceReference(.voltage, 1)]),
        ],
        agents: [
            AgentEntry(id: 1, name: "vm-ivi", devices: [1, 2], protocols: [.powerDomain, .clock, .sensor, .reset, .voltage], trusted: false),
            AgentEntry(id: 2, name: "vm-rear", devices: [], protocols: [.clock], trusted: false),
            AgentEntry(id: 9, name: "vm-admin", devices: [], protocols: [.clock, .voltage], trusted: true),
        ])
}

/// Counts from inside a transport closure (tests run it on one thread).
final class Counter: @unchecked Sendable {
    var count = 0
}

/// A broken platform: the real engine's response, then changed by `damage`.
struct DamagingTransport: SCMITransport {
    var inner: InProcessTransport
    var damage: @Sendable ([UInt8]) -> [UInt8]

    mutating func exchange(request: [UInt8], responseCapacity: Int) throws -> [UInt8] {
        damage(try inner.exchange(request: request, responseCapacity: responseCapacity))
    }
}

func client(_ platform: SCMIPlatform, agent: UInt32) -> SCMIClient {
    guard let session = platform.makeSession(agentID: agent) else { fatalError("agent \(agent) is not on the board") }
    return SCMIClient(transport: InProcessTransport(session: session))
}
