import ResourceTables
import SCMIPlatform
import Testing

/// Power domain and reset: enabled by a blob but not served yet. A guest sees an honest, empty protocol.
@Suite struct DeclaredProtocolTests {
    static let all: [ProtocolID] = [.powerDomain, .performance, .clock, .sensor, .reset, .voltage]

    let agent: AgentSession = {
        var tables = Board.tables
        tables.protocols = all
        tables.agents[0].protocols = all
        return session(SCMIPlatform(tables: tables), Board.ivi)
    }()

    @Test(arguments: [(UInt8(0x11), 4), (0x16, 1)])
    func versionAndZeroResources(protocolID: UInt8, attributeWords: Int) {
        let version = agent.send(protocolID, 0x0)
        #expect(version.status == .success && version.word(0) == 0x30000)
        let attributes = agent.send(protocolID, 0x1)
        #expect(attributes.status == .success)
        #expect(attributes.valueBytes == 4 * attributeWords)
        for index in 0 ..< attributeWords { #expect(attributes.word(index) == 0) }
    }

    @Test(arguments: [UInt8(0x16)])
    func everythingElseIsNotFound(protocolID: UInt8) {
        #expect(agent.send(protocolID, 0x2, [0]).status == .success)
        #expect(agent.send(protocolID, 0x2, [3]).status == .notFound)
        #expect(agent.send(protocolID, 0x3, [0]).status == .notFound)
        #expect(agent.send(protocolID, 0x4, [0, 0, 0]).status == .notFound)
        #expect(agent.send(protocolID, 0x40).status == .notFound)
        #expect(agent.send(protocolID, 0x1, [0]).status == .protocolError)
    }

    /// Power domain's skeleton unit: its message table is there (POWER_DOMAIN_ATTRIBUTES,
    /// STATE_SET, STATE_GET and NAME_GET implemented, the notifications not, as
    /// without an eventq), and with zero domains every domain is NOT_FOUND.
    @Test func powerDomainSkeleton() {
        for implemented: UInt32 in [0x3, 0x4, 0x5, 0x8] {
            #expect(agent.send(P.power, 0x2, [implemented]).status == .success, "message \(implemented)")
        }
        for absent: UInt32 in [0x6, 0x7, 0x9] {
            #expect(agent.send(P.power, 0x2, [absent]).status == .notFound, "message \(absent)")
        }
        #expect(agent.send(P.power, 0x3, [0]).status == .notFound)
        #expect(agent.send(P.power, 0x4, [0, 0, 0]).status == .notFound)
        #expect(agent.send(P.power, 0x5, [0]).status == .notFound)
        #expect(agent.send(P.power, 0x8, [0]).status == .notFound)
        #expect(agent.send(P.power, 0x6, [0, 1]).status == .notSupported)
        #expect(agent.send(P.power, 0x4, [0, 0]).status == .protocolError)
        #expect(agent.send(P.power, 0x40).status == .notFound)
    }

    @Test func listedInDiscovery() {
        let response = agent.send(P.base, 0x6, [0])
        #expect(response.word(0) == 6)
        #expect(response.word(1) == 0x11 | 0x13 << 8 | 0x14 << 16 | 0x15 << 24)
        #expect(response.word(2) == 0x16 | 0x17 << 8)
        #expect(response.valueBytes == 4 + 8)
    }
}
