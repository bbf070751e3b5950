import ResourceTables
import SCMIPlatform
import Testing

/// Every protocol the binding can enable is a unit the engine serves: a blob that
/// enables all six shows all six in discovery, each at the version Linux 6.12 speaks.
@Suite struct ProtocolListTests {
    static let all: [ProtocolID] = [.powerDomain, .performance, .clock, .sensor, .reset, .voltage]

    let agent: AgentSession = {
        var tables = Board.tables
        tables.protocols = all
        tables.agents[0].protocols = all
        return session(SCMIPlatform(tables: tables), Board.ivi)
    }()

    @Test func listedInDiscovery() {
        let response = agent.send(P.base, 0x6, [0])
        #expect(response.word(0) == 6)
        #expect(response.word(1) == 0x11 | 0x13 << 8 | 0x14 << 16 | 0x15 << 24)
        #expect(response.word(2) == 0x16 | 0x17 << 8)
        #expect(response.valueBytes == 4 + 8)
    }

    @Test(arguments: [(UInt8(0x11), UInt32(0x30000)), (0x13, 0x30000), (0x14, 0x30000), (0x15, 0x30000), (0x16, 0x30000), (0x17, 0x20000)])
    func servedAtItsVersion(protocolID: UInt8, version: UInt32) {
        let reply = agent.send(protocolID, 0x0)
        #expect(reply.status == .success && reply.word(0) == version)
    }
}
