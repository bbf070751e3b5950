import Logging
import SCMIPlatform
import VhostUser
import Virtqueue

/// The virtio-scmi device (virtio device id 32) as a vhost-user backend sees it:
/// queue 0 (cmdq) carries one SCMI command per descriptor chain, readable
/// request then writable response; queue 1 (eventq) stays idle because
/// VIRTIO_SCMI_F_P2A_CHANNELS is not offered (no notifications or delayed
/// responses exist yet, and docs/protocol.md §15 forbids offering it then).
public enum SCMIVirtioDevice {
    /// cmdq and eventq; rings up to 1024 entries (QEMU uses 256). No
    /// device-specific feature bits: the transport offers VERSION_1, EVENT_IDX,
    /// INDIRECT_DESC and NOTIFY_ON_EMPTY itself, and P2A is withheld (above).
    /// Only the cmdq's chains reach the handler.
    public static let description = VhostUserDeviceDescription(queueCount: 2, maxQueueSize: 1024, deviceFeatures: 0, handledQueues: [0])

    /// VIRTIO_SCMI_F_P2A_CHANNELS (feature bit 0): the eventq carries platform →
    /// agent messages.
    public static let p2aChannels: UInt64 = 1 << 0

    /// What an SCMI session served through `description` can carry: 128-byte
    /// payloads (VIRTIO_SCMI_MAX_PDU_SIZE) and, with P2A withheld, neither
    /// notifications nor delayed responses. Passed to makeSession.
    public static let transportCapabilities = TransportCapabilities.virtioWithoutP2A

    /// `description` with P2A offered: for tests of the platform → agent path
    /// only, until the engine sends notifications (serve does not use it).
    public static let descriptionOfferingP2A = VhostUserDeviceDescription(
        queueCount: 2, maxQueueSize: 1024, deviceFeatures: p2aChannels, handledQueues: [0])
}

/// One connection's device logic: turns each cmdq chain into one call of the
/// agent's SCMI session. Owns two fixed scratch buffers so that the hot path
/// (gather → handle → scatter) allocates nothing.
///
/// Called only on the connection's worker thread (VhostUser's contract), which
/// is what makes the unsynchronised scratch buffers safe.
///
/// Platform → agent: with an `outbox` and VIRTIO_SCMI_F_P2A_CHANNELS
/// negotiated, the eventq runs on the same worker (a `VhostUserEventDevice`):
/// its buffers stay in the available ring until the outbox has a message, then
/// each message goes into the next buffer. Otherwise (no outbox, or P2A not
/// negotiated; serve today) nothing changes: the eventq is not started and the
/// cmdq is served by the synchronous path.
public final class SCMIChainHandler: VhostUserEventDevice, @unchecked Sendable {
    /// Where the engine's platform → agent messages wait; nil: none are sent.
    public let outbox: SCMIOutbox?
    private let session: AgentSession
    private let agentName: String
    private let logger: Logger
    private let trace: Bool
    private let request: UnsafeMutableRawBufferPointer
    private let response: UnsafeMutableRawBufferPointer
    /// Causes already logged on this connection: a hostile guest gets one line per cause, not a flood.
    private var loggedCauses: UInt32 = 0
    private var closed = false

    public init(session: AgentSession, agentName: String, logger: Logger, trace: Bool, outbox: SCMIOutbox? = nil) {
        self.outbox = outbox
        self.session = session
        self.agentName = agentName
        self.logger = logger
        self.trace = trace
        // One spare byte tells "exactly the maximum" from "longer than the maximum".
        request = .allocate(byteCount: SCMILimits.maxRequest + 1, alignment: 8)
        response = .allocate(byteCount: SCMILimits.maxResponse, alignment: 8)
    }

    deinit {
        request.deallocate()
        response.deallocate()
    }

    private enum Cause: UInt32 {
        case eventQueueBuffer = 1, shortRequest = 2, oversizeRequest = 4, tinyResponse = 8, replyTruncated = 16
        var text: String {
            switch self {
            case .eventQueueBuffer: "eventq buffer consumed although P2A is not offered"
            case .shortRequest: "request shorter than the 4-byte SCMI header: returned with length 0"
            case .oversizeRequest: "request longer than \(SCMILimits.maxRequest) bytes: PROTOCOL_ERROR"
            case .tinyResponse: "response buffer shorter than 8 bytes: returned with length 0"
            case .replyTruncated: "response buffer too small for the reply: COMMS_ERROR"
            }
        }
    }

    private func noteOnce(_ cause: Cause) {
        guard loggedCauses & cause.rawValue == 0 else { return }
        loggedCauses |= cause.rawValue
        logger.warning("agent \(agentName): \(cause.text) (logged once per connection)")
    }

    public func handle(chain: DescriptorChain, queueIndex: Int) -> UInt32 {
        guard queueIndex == 0 else {
            noteOnce(.eventQueueBuffer)
            return 0
        }
        // Two paths rather than an optional start time: ContinuousClock.Instant is
        // resilient, so `Instant?` costs value-witness calls on every message.
        guard trace else { return serve(chain).written }
        let started = ContinuousClock.now
        let (written, outcome) = serve(chain)
        traceMessage(outcome, took: ContinuousClock.now - started)
        return written
    }

    /// gather → handle → scatter; returns the bytes written and the outcome.
    @inline(__always) private func serve(_ chain: DescriptorChain) -> (written: UInt32, outcome: MessageOutcome) {
        let copied = chain.gatherReadable(into: request)
        let capacity = min(chain.writableLength, response.count)
        let outcome = session.handle(
            request: UnsafeRawBufferPointer(rebasing: request[0..<copied]),
            response: UnsafeMutableRawBufferPointer(rebasing: response[0..<capacity])
        )
        if outcome.responseLength == 0 {
            noteOnce(outcome.header == nil ? .shortRequest : .tinyResponse)
        } else if copied > SCMILimits.maxRequest {
            noteOnce(.oversizeRequest)
        } else if outcome.status == .commsError {
            noteOnce(.replyTruncated)
        }
        let written = chain.scatterWritable(from: UnsafeRawBufferPointer(rebasing: response[0..<outcome.responseLength]))
        return (UInt32(written), outcome)
    }

    private func traceMessage(_ outcome: MessageOutcome, took: Duration) {
        guard let header = outcome.header else { return }
        let name = MessageNames.messageName(protocolID: header.protocolID, messageID: header.messageID)
        let protocolName = MessageNames.protocolName(header.protocolID)
        let status = outcome.status.map { "\($0)" } ?? "no reply"
        let nanoseconds = took.components.seconds * 1_000_000_000 + took.components.attoseconds / 1_000_000_000
        logger.info(
            "agent \(session.agentID) \(agentName): \(protocolName) \(name) (0x\(String(header.protocolID, radix: 16))/0x\(String(header.messageID, radix: 16)) token \(header.token)) -> \(status), \(nanoseconds / 1000).\(nanoseconds % 1000 / 100) us"
        )
    }

    // MARK: Platform → agent

    public func eventSources(ackedFeatures: UInt64) -> DeviceEventSources {
        guard let outbox, ackedFeatures & SCMIVirtioDevice.p2aChannels != 0 else { return DeviceEventSources() }
        return DeviceEventSources(filledQueues: [1], fileDescriptors: [outbox.notifier])
    }

    public func handleEvent(_ event: DeviceEvent, rings: DeviceRings) {
        guard let outbox else { return }
        if case .device = event { outbox.acknowledgeNotification() }
        // Oldest first, one message per eventq buffer, until either runs out.
        while outbox.deliverFirst({ message in
            rings.fill(queueIndex: 1) { chain in UInt32(chain.scatterWritable(from: message)) }
        }) {}
    }

    public func connectionClosed() {
        guard !closed else { return }
        closed = true
        session.end()
        logger.info("agent \(session.agentID) \(agentName): disconnected, requests withdrawn")
    }
}

/// The device for an agent that a reload (SIGHUP) removed from the blob while its socket
/// still listens: every command is answered with its own header and NOT_SUPPORTED, so the
/// guest's SCMI driver gives up at once (Base PROTOCOL_VERSION fails) instead of timing out
/// on silent chains. Requests shorter than a header, and response buffers shorter than
/// header + status, get a used entry of length 0, as on a served connection.
public final class SCMIRetiredAgentHandler: VhostUserDeviceHandler, @unchecked Sendable {
    private let agentName: String
    private let logger: Logger
    private var answered = false

    public init(agentName: String, logger: Logger) {
        self.agentName = agentName
        self.logger = logger
    }

    public func handle(chain: DescriptorChain, queueIndex: Int) -> UInt32 {
        guard queueIndex == 0, chain.writableLength >= SCMILimits.minResponse else { return 0 }
        var header: UInt32 = 0
        let copied = withUnsafeMutableBytes(of: &header) { chain.gatherReadable(into: $0) }
        guard copied == 4 else { return 0 }
        if !answered {
            answered = true
            logger.warning("agent \(agentName): no longer declared; answering NOT_SUPPORTED (logged once per connection)")
        }
        // The header echoed bit for bit (it is little-endian on the wire and in `header`).
        var reply: (UInt32, Int32) = (header, SCMIStatus.notSupported.rawValue.littleEndian)
        let written = withUnsafeBytes(of: &reply) { chain.scatterWritable(from: UnsafeRawBufferPointer(rebasing: $0[0..<8])) }
        return UInt32(written)
    }

    public func connectionClosed() {}
}
