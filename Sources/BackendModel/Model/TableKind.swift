import ResourceTables

/// The kinds of table children, one per served protocol (docs/binding.md §5).
enum TableKind: CaseIterable {
    case clock, regulator, powerDomain, perfDomain, sensor, reset

    init?(nodeName: String) {
        guard let kind = Self.allCases.first(where: { $0.nodeName == nodeName }) else { return nil }
        self = kind
    }

    init(protocol id: ProtocolID) {
        self = Self.allCases.first { $0.protocolID == id } ?? .clock
    }

    var nodeName: String {
        switch self {
        case .clock: "clock"
        case .regulator: "regulator"
        case .powerDomain: "power-domain"
        case .perfDomain: "perf-domain"
        case .sensor: "sensor"
        case .reset: "reset"
        }
    }

    var protocolID: ProtocolID {
        switch self {
        case .clock: .clock
        case .regulator: .voltage
        case .powerDomain: .powerDomain
        case .perfDomain: .performance
        case .sensor: .sensor
        case .reset: .reset
        }
    }
}
