import ResourceTables
import SCMIPlatform

// Board.tables with two power domains and two reset domains: the GPU's
// (shared by vm-ivi and vm-cluster through the GPU device) and the USB's
// (vm-ivi's alone), each with a name longer than 15 bytes on the USB one.

extension Board {
    static let powerAndReset: PlatformTables = {
        var tables = Board.tables
        tables.protocols = [.powerDomain, .clock, .reset, .voltage]
        tables.powerDomains = [
            ProviderResourceEntry(id: 0, name: "gpu-pd", providerPath: "/soc/pmu", specifier: [3]),
            ProviderResourceEntry(id: 1, name: "usb-power-domain-long", providerPath: "/soc/pmu", specifier: [7]),
        ]
        tables.resetDomains = [
            ProviderResourceEntry(id: 0, name: "gpu-rst", providerPath: "/soc/cru", specifier: [21]),
            ProviderResourceEntry(id: 1, name: "usb-controller-reset", providerPath: "/soc/cru", specifier: [22]),
        ]
        // USB (device 1): power domain 1, reset 1; GPU (device 2): power domain 0, reset 0.
        tables.devices[0].resources += [ResourceReference(.powerDomain, 1), ResourceReference(.reset, 1)]
        tables.devices[1].resources += [ResourceReference(.powerDomain, 0), ResourceReference(.reset, 0)]
        for index in tables.agents.indices { tables.agents[index].protocols = [.powerDomain, .clock, .reset, .voltage] }
        return tables
    }()
}
