import ResourceTables
import SCMIPlatform
import Testing

/// Performance and sensor: enabled by a blob but not served yet. A guest
/// sees an honest, empty protocol.
@Suite struct DeclaredProtocolTests {
    static let all: [ProtocolID] = [.powerDomain, .performance, .clock, .sensor, .reset, .voltage]

    let agent: AgentSession = {
        var tables = Board.tables
        tables.protocols = all
        tables.agents[0].protocols = all
        return session(SCMIPlatform(tables: tables), Board.ivi)
    }()

    @Test(arguments: [(UInt8(0x13), 4), (0x15, 4)])
    func versionAndZeroResources(protocolID: UInt8, attributeWords: Int) {
        let version = agent.send(protocolID, 0x0)
        #expect(version.status == .success && version.word(0) == 0x30000)
        let attributes = agent.send(protocolID, 0x1)
        #expect(attributes.status == .success)
        #expect(attributes.valueBytes == 4 * attributeWords)
        for index in 0 ..< attributeWords { #expect(attributes.word(index) == 0) }
    }

    @Test(arguments: [UInt8(0x13), 0x15])
    func everythingElseIsNotFound(protocolID: UInt8) {
        #expect(agent.send(protocolID, 0x2, [0]).status == .success)
        #expect(agent.send(protocolID, 0x2, [3]).status == .notFound)
        #expect(agent.send(protocolID, 0x3, [0]).status == .notFound)
        #expect(agent.send(protocolID, 0x4, [0, 0, 0]).status == .notFound)
        #expect(agent.send(protocolID, 0x40).status == .notFound)
        #expect(agent.send(protocolID, 0x1, [0]).status == .protocolError)
    }

    @Test func listedInDiscovery() {
        let response = agent.send(P.base, 0x6, [0])
        #expect(response.word(0) == 6)
        #expect(response.word(1) == 0x11 | 0x13 << 8 | 0x14 << 16 | 0x15 << 24)
        #expect(response.word(2) == 0x16 | 0x17 << 8)
        #expect(response.valueBytes == 4 + 8)
    }
}
