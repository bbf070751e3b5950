import ResourceTables
import SCMIPlatform
import Synchronization
import Testing

/// A host that refuses every change of one protocol's resource with one
/// status, and records what it was asked to apply.
final class RefusingHost: HostInterface {
    let refusedProtocol: ProtocolID
    let refusedResource: UInt32
    let status: SCMIStatus
    private let asked = Mutex<[PhysicalChange]>([])
    var applied: [PhysicalChange] { asked.withLock { $0 } }
    /// Whether it refuses now.
    let refusing = Mutex(true)

    init(_ protocolID: ProtocolID, resource: UInt32, status: SCMIStatus = .hardwareError) {
        refusedProtocol = protocolID
        refusedResource = resource
        self.status = status
    }

    func apply(_ change: PhysicalChange) -> SCMIStatus {
        asked.withLock { $0.append(change) }
        let refuse = refusing.withLock { $0 } && change.protocolID == refusedProtocol && change.resource == refusedResource
        return refuse ? status : .success
    }
}

/// Changes are decided under the lock, applied by the host, then committed or
/// rolled back (docs/serve-choices.md, "Host seam").
@Suite struct HostSeamTests {
    func platform(_ host: RefusingHost) -> (SCMIPlatform, ChangeLog) {
        let log = ChangeLog()
        return (SCMIPlatform(tables: Board.tables, host: host) { log.record($0) }, log)
    }

    @Test func refusedRateChangeIsRolledBack() {
        let host = RefusingHost(.clock, resource: 0)
        let (platform, log) = platform(host)
        let ivi = session(platform, Board.ivi)
        // The host is asked, refuses: the agent gets its status, nothing changed.
        #expect(ivi.send(P.clock, 0x5, [0, 0, 48_000_000, 0]).status == .hardwareError)
        #expect(host.applied == [.clockRate(clock: 0, from: 24_000_000, to: 48_000_000, agent: 1, cause: .request)])
        #expect(ivi.send(P.clock, 0x6, [0]).uint64(0) == 24_000_000)
        #expect(platform.snapshot().resources(of: .clock)[0].requests.isEmpty)
        #expect(log.all.isEmpty)
        // Another clock is applied and reported as before.
        #expect(ivi.send(P.clock, 0x5, [0, 1, 300_000_000, 0]).status == .success)
        #expect(log.all == [.clockRate(clock: 1, from: 200_000_000, to: 300_000_000, agent: 1, cause: .request)])
    }

    @Test func refusedChangePutsBackThePreviousRequest() {
        let host = RefusingHost(.clock, resource: 0)
        let (platform, _) = platform(host)
        let ivi = session(platform, Board.ivi), cluster = session(platform, Board.cluster)
        host.refusing.withLock { $0 = false }
        #expect(ivi.send(P.clock, 0x5, [0, 0, 48_000_000, 0]).status == .success)
        host.refusing.withLock { $0 = true }
        // vm-ivi's 96 MHz would win; refused, its 48 MHz request is back.
        #expect(ivi.send(P.clock, 0x5, [0, 0, 96_000_000, 0]).status == .hardwareError)
        #expect(ivi.send(P.clock, 0x6, [0]).uint64(0) == 48_000_000)
        // A request that changes nothing never reaches the host, so it is recorded.
        #expect(cluster.send(P.clock, 0x5, [0, 0, 24_000_000, 0]).status == .success)
        #expect(host.applied.count == 2)
        let requests = platform.snapshot().resources(of: .clock)[0].requests
        #expect(requests.map(\.agentID) == [1, 2] && requests.map(\.value) == [48_000_000, 24_000_000])
        // Enabling is refused too: the agent's own state stays off.
        #expect(ivi.send(P.clock, 0x7, [0, 1, 0]).status == .hardwareError)
        #expect(ivi.send(P.clock, 0xB, [0, 0]).word(1) == 0)
        #expect(platform.snapshot().resources(of: .clock)[0].on == false)
    }

    @Test func refusedVoltageChangeKeepsTheDomain() {
        let host = RefusingHost(.voltage, resource: 0, status: .busy)
        let (platform, log) = platform(host)
        let ivi = session(platform, Board.ivi)
        let before = platform.snapshot().resources(of: .voltage)[0]
        #expect(ivi.send(P.voltage, 0x7, [0, 0, 900_000]).status == .busy)
        #expect(ivi.send(P.voltage, 0x8, [0]).word(0) == UInt32(before.value ?? 0))
        #expect(platform.snapshot().resources(of: .voltage)[0] == before)
        #expect(log.all.isEmpty)
    }

    /// A withdrawal cannot be refused: the host is told, the change stands.
    @Test func withdrawalIsAppliedWhateverTheHostSays() {
        let host = RefusingHost(.clock, resource: 1)
        let (platform, log) = platform(host)
        let ivi = session(platform, Board.ivi)
        #expect(ivi.send(P.clock, 0x5, [0, 0, 48_000_000, 0]).status == .success)
        ivi.end()
        #expect(log.all.last == .clockRate(clock: 0, from: 48_000_000, to: 24_000_000, agent: 1, cause: .disconnect))
        #expect(host.applied.last == log.all.last)
    }
}
