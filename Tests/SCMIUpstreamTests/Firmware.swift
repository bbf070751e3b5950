import Glibc
import LinuxIO
import Logging
import ResourceTables
import SCMIPlatform
import SCMIWire
import Synchronization
import VhostUser
import Virtqueue
import VirtioSCMI

/// What the link tests put behind a link: the real engine on a small board
/// (one clock agents 1 and 2 share), and the SCMI messages they exchange.
enum Firmware {
    static let tables = PlatformTables(
        vendor: "FW", protocols: [.clock],
        clocks: [ClockEntry(id: 0, name: "core", providerPath: "/ccu", specifier: [0],
                            rates: .range(min: 1_000_000, max: 100_000_000, step: 1_000_000), initialRate: 24_000_000)],
        devices: [DeviceEntry(id: 1, name: "dev", path: "/d", resources: [ResourceReference(.clock, 0)])],
        agents: [AgentEntry(id: 1, name: "mediator", devices: [1], protocols: [.clock], trusted: false),
                 AgentEntry(id: 2, name: "other", devices: [1], protocols: [.clock], trusted: false)])

    static let counter = Atomic<Int>(0)

    /// A socket path no other test uses.
    static func socketPath(_ label: String) -> String {
        "/tmp/scmi-dt-uplink-\(label)-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue).sock"
    }

    static func bytes(_ words: [UInt32]) -> [UInt8] {
        words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
    }

    /// A command: header (protocol, message, token) and parameter words.
    static func command(_ protocolID: UInt8, _ messageID: UInt8, token: UInt16, _ parameters: UInt32...) -> [UInt8] {
        bytes([MessageHeader(protocolID: protocolID, messageID: messageID, token: token).rawValue] + parameters)
    }

    static func clockRateGet(token: UInt16) -> [UInt8] { command(0x14, 0x6, token: token, 0) }
    static func clockRateSet(token: UInt16, rate: UInt32, asynchronous: Bool = false) -> [UInt8] {
        command(0x14, 0x5, token: token, asynchronous ? 1 : 0, 0, rate, 0)
    }
    static func clockRateNotify(token: UInt16) -> [UInt8] { command(0x14, 0x9, token: token, 0, 1) }

    /// The reply the engine gives a CLOCK_RATE_GET of clock 0 at `rate`.
    static func rateReply(token: UInt16, rate: UInt32) -> [UInt8] {
        bytes([MessageHeader(protocolID: 0x14, messageID: 0x6, token: token).rawValue, 0, rate, 0])
    }

    /// CLOCK_RATE_CHANGED for clock 0, caused by `agent`.
    static func rateChanged(by agent: UInt32, rate: UInt32) -> [UInt8] {
        bytes([MessageHeader(protocolID: 0x14, messageID: 0x0, type: .notification).rawValue, agent, 0, rate, 0])
    }

    /// CLOCK_RATE_SET_COMPLETE of an asynchronous CLOCK_RATE_SET of clock 0.
    static func rateSetComplete(token: UInt16, rate: UInt32) -> [UInt8] {
        bytes([MessageHeader(protocolID: 0x14, messageID: 0x5, type: .delayedResponse, token: token).rawValue, 0, 0, rate, 0])
    }

    /// The SCMI status word of a reply.
    static func status(_ reply: [UInt8]) -> SCMIStatus? {
        guard reply.count >= 8 else { return nil }
        let word = UInt32(reply[4]) | UInt32(reply[5]) << 8 | UInt32(reply[6]) << 16 | UInt32(reply[7]) << 24
        return SCMIStatus(rawValue: Int32(bitPattern: word))
    }
}

/// The firmware as `scmi-dt serve` is one: the engine behind one real
/// vhost-user backend per agent (socket, memfd guest memory, eventfds), each
/// connection with its session and outbox, P2A offered. Agent 1's socket is
/// the upstream; agent 2's is another guest of the same firmware.
final class VhostUserFirmware: @unchecked Sendable {  // immutable after init
    let platform = SCMIPlatform(tables: Firmware.tables)
    let paths = [Firmware.socketPath("fw1"), Firmware.socketPath("fw2")]
    let backends: [VhostUserBackend]

    init() throws {
        var backends: [VhostUserBackend] = []
        for (index, path) in paths.enumerated() {
            let platform = platform
            let agentID = UInt32(index + 1)
            let backend = try VhostUserBackend(
                socketPath: path, device: SCMIVirtioDevice.description, logger: Logger(label: "uplink-test"),
                makeHandler: {
                    SCMIChainHandler(session: platform.makeSession(agentID: agentID)!, agentName: "agent\(agentID)",
                                     logger: Logger(label: "uplink-test"), trace: false, outbox: try? SCMIOutbox())
                })
            try backend.start()
            backends.append(backend)
        }
        self.backends = backends
    }

    var upstreamPath: String { paths[0] }

    deinit { backends.forEach { $0.stop() } }
}

/// A vhost-user SCMI device for faults a correct firmware never shows, on a
/// real backend: the engine answers, but the device can hold every command
/// (a firmware that stopped answering) and answer the held ones later (a
/// late firmware), or spoil each reply it writes (a broken firmware).
final class FaultyDevice: VhostUserEventDevice, @unchecked Sendable {
    enum Fault: Int {
        /// Answer each command at once, correctly.
        case none
        /// Keep every command's chain until `releaseHeld()`.
        case hold
        /// Reply with the token plus one.
        case wrongToken
        /// Reply with another message id.
        case wrongMessage
        /// Reply with the header alone (4 bytes).
        case shortReply
        /// Reply with the header as a delayed response (type 2).
        case wrongType
    }

    private let session: AgentSession
    let fault = Atomic<Int>(Fault.none.rawValue)
    /// Written by `releaseHeld()`; the worker then answers what it holds.
    let release: Int32
    /// Chains answered after having been held.
    let lateAnswers = Atomic<Int>(0)
    /// Chains held now.
    let heldCount = Atomic<Int>(0)
    private var held: [(chain: HeldChain, request: [UInt8])] = []  // worker thread only

    init(session: AgentSession) throws {
        self.session = session
        release = try EventNotifier.create()
    }

    deinit { closeQuietly(release) }

    func set(_ fault: Fault) { self.fault.store(fault.rawValue, ordering: .releasing) }

    func releaseHeld() { EventNotifier.signal(release) }

    func eventSources(ackedFeatures: UInt64) -> DeviceEventSources { DeviceEventSources(fileDescriptors: [release]) }

    func handle(chain: DescriptorChain, queueIndex: Int, rings: DeviceRings) -> ChainDisposition {
        var request = [UInt8](repeating: 0, count: 256)
        let length = request.withUnsafeMutableBytes { chain.gatherReadable(into: $0) }
        request.removeSubrange(min(length, request.count)...)
        guard Fault(rawValue: fault.load(ordering: .acquiring)) != .hold else {
            held.append((rings.hold(chain, queueIndex: queueIndex), request))
            heldCount.store(held.count, ordering: .releasing)
            return .held
        }
        let reply = answer(request)
        return .completed(UInt32(reply.withUnsafeBytes { chain.scatterWritable(from: $0) }))
    }

    func handle(chain: DescriptorChain, queueIndex: Int) -> UInt32 { 0 }  // every chain goes through the method above

    func handleEvent(_ event: DeviceEvent, rings: DeviceRings) {
        guard case .device = event else { return }
        _ = EventNotifier.consume(release)
        for (chain, request) in held {
            let reply = answer(request)
            let written = rings.withHeldChain(chain) { held in UInt32(reply.withUnsafeBytes { held.scatterWritable(from: $0) }) } ?? 0
            if rings.complete(chain, length: written) { lateAnswers.add(1, ordering: .releasing) }
        }
        held = []
        heldCount.store(0, ordering: .releasing)
    }

    func connectionClosed() { session.end() }

    /// The engine's reply to `request`, spoiled as `fault` says.
    private func answer(_ request: [UInt8]) -> [UInt8] {
        var reply = [UInt8](repeating: 0, count: 256)
        let outcome = request.withUnsafeBytes { requestBytes in
            reply.withUnsafeMutableBytes { session.handle(request: requestBytes, response: $0) }
        }
        reply.removeSubrange(outcome.responseLength...)
        guard reply.count >= 4 else { return reply }
        var header = MessageHeader(rawValue: UInt32(reply[0]) | UInt32(reply[1]) << 8 | UInt32(reply[2]) << 16 | UInt32(reply[3]) << 24)
        switch Fault(rawValue: fault.load(ordering: .acquiring)) ?? .none {
        case .none, .hold: return reply
        case .wrongToken: header = MessageHeader(protocolID: header.protocolID, messageID: header.messageID, token: header.token &+ 1)
        case .wrongMessage: header = MessageHeader(protocolID: header.protocolID, messageID: header.messageID &+ 1, token: header.token)
        case .shortReply: return Array(reply.prefix(4))
        case .wrongType: header = MessageHeader(protocolID: header.protocolID, messageID: header.messageID, type: .delayedResponse, token: header.token)
        }
        return Firmware.bytes([header.rawValue]) + reply.dropFirst(4)
    }
}

/// One real vhost-user backend whose device is a `FaultyDevice` over agent
/// 1's session; it offers no P2A, and with `queueCount` 1 no eventq at all.
final class FaultyFirmware: @unchecked Sendable {  // immutable after init
    let platform = SCMIPlatform(tables: Firmware.tables)
    let path = Firmware.socketPath("faulty")
    let device: FaultyDevice
    let backend: VhostUserBackend

    init(queueCount: Int = 2) throws {
        let device = try FaultyDevice(session: platform.makeSession(agentID: 1)!)
        self.device = device
        backend = try VhostUserBackend(socketPath: path, device: VhostUserDeviceDescription(queueCount: queueCount),
                                       logger: Logger(label: "uplink-test"), makeHandler: { device })
        try backend.start()
    }

    deinit { backend.stop() }
}
