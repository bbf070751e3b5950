import Logging
import SCMIPlatform
import VhostUser
import Virtqueue

/// The virtio-scmi device (virtio device id 32) as a vhost-user backend sees it:
/// queue 0 (cmdq) carries one SCMI command per descriptor chain, readable
/// request then writable response; queue 1 (eventq), when the frontend
/// negotiates VIRTIO_SCMI_F_P2A_CHANNELS, carries notifications and delayed
/// responses, one per device-writable buffer.
public enum SCMIVirtioDevice {
    /// VIRTIO_SCMI_F_P2A_CHANNELS (feature bit 0): the eventq carries platform →
    /// agent messages.
    public static let p2aChannels: UInt64 = 1 << 0

    /// cmdq and eventq; rings up to 1024 entries (QEMU uses 256). P2A is
    /// offered; the transport offers VERSION_1, EVENT_IDX, INDIRECT_DESC and
    /// NOTIFY_ON_EMPTY itself. Only the cmdq's chains reach the handler; the
    /// eventq is filled by it (SCMIChainHandler.handleEvent).
    public static let description = VhostUserDeviceDescription(
        queueCount: 2, maxQueueSize: 1024, deviceFeatures: p2aChannels, handledQueues: [0])

    /// What an SCMI session served through `description` can carry until the
    /// frontend negotiates: 128-byte payloads (VIRTIO_SCMI_MAX_PDU_SIZE),
    /// neither notifications nor delayed responses. Passed to makeSession;
    /// the handler tells the session when P2A is negotiated.
    public static let transportCapabilities = TransportCapabilities.virtioWithoutP2A
}

/// One connection's device logic: turns each cmdq chain into one call of the
/// agent's SCMI session. Owns two fixed scratch buffers so that the hot path
/// (gather → handle → scatter) allocates nothing.
///
/// Called only on the connection's worker thread (VhostUser's contract), which
/// is what makes the unsynchronised scratch buffers safe.
///
/// Platform → agent: with an `outbox` and VIRTIO_SCMI_F_P2A_CHANNELS
/// negotiated, the session is told (its TransportCapabilities deliver
/// notifications and delayed responses, its sink is the outbox) and the
/// eventq runs on the same worker (a `VhostUserEventDevice`): its buffers
/// stay in the available ring until the outbox has a message, then each
/// message goes into the next buffer. The worker drains the outbox only after
/// it has published the cmdq's used entries, so a delayed response posted
/// while its command was handled reaches the eventq after the synchronous
/// reply is on the cmdq's used ring. Otherwise (no outbox, or P2A not
/// negotiated) nothing changes: the eventq is not started and the cmdq is
/// served by the synchronous path.
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

    /// Called on the control thread with no worker running: the negotiated
    /// P2A goes into the session's transport (with the outbox as its sink).
    public func eventSources(ackedFeatures: UInt64) -> DeviceEventSources {
        let p2a = outbox != nil && ackedFeatures & SCMIVirtioDevice.p2aChannels != 0
        var transport = session.transport
        transport.deliversNotifications = p2a
        transport.deliversDelayedResponses = p2a
        session.useTransport(transport, sink: p2a ? outbox : nil)
        guard p2a, let outbox else { return DeviceEventSources() }
        return DeviceEventSources(filledQueues: [1], fileDescriptors: [outbox.notifier])
    }

    public func handleEvent(_ event: DeviceEvent, rings: DeviceRings) {
        guard let outbox else { return }
        if case .device = event { outbox.acknowledgeNotification() }
        // Oldest first, one message per eventq buffer, until either runs out.
        // A buffer too short for a message goes back with length 0. With
        // --trace, each message written is logged once the outbox's lock is
        // released (its header and, for a delayed response, its status).
        var written: (header: UInt32, status: Int32)?
        while outbox.deliverFirst({ message, _ in
            var fits = true
            let used = rings.fill(queueIndex: 1) { chain in
                guard chain.writableLength >= message.count else {
                    fits = false
                    return 0
                }
                return UInt32(chain.scatterWritable(from: message))
            }
            if trace, used, fits, message.count >= 4 {
                let status = message.count >= 8 ? message.loadUnaligned(fromByteOffset: 4, as: Int32.self) : 0
                written = (UInt32(littleEndian: message.loadUnaligned(as: UInt32.self)), Int32(littleEndian: status))
            }
            return !used ? .noBuffer : fits ? .delivered : .bufferTooShort
        }) {
            if let message = written {
                traceDelivery(MessageHeader(rawValue: message.header), status: message.status)
                written = nil
            }
        }
    }

    /// One line per platform → agent message written into an eventq buffer:
    /// a delayed response carries its command's name and token (the trace line
    /// of the synchronous reply has the same token) and its status.
    private func traceDelivery(_ header: MessageHeader, status: Int32) {
        let protocolName = MessageNames.protocolName(header.protocolID)
        let ids = "0x\(String(header.protocolID, radix: 16))/0x\(String(header.messageID, radix: 16))"
        if header.type == .delayedResponse {
            let name = MessageNames.messageName(protocolID: header.protocolID, messageID: header.messageID)
            logger.info("agent \(session.agentID) \(agentName): delayed response \(protocolName) \(name) (\(ids) token \(header.token)) -> \(SCMIStatus(rawValue: status)), on the eventq")
        } else {
            let name = MessageNames.notificationName(protocolID: header.protocolID, notificationID: header.messageID)
            logger.info("agent \(session.agentID) \(agentName): notification \(protocolName) \(name) (\(ids)), on the eventq")
        }
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
