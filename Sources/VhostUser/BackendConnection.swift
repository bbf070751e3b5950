import Glibc
import LinuxIO
import Logging
import Synchronization
import Virtqueue

/// One frontend connection: its control thread, its vrings, its memory table.
///
/// All mutable state below is touched only by the control thread (`run`), which
/// starts and stops the ring workers; a worker reads only what it was given when
/// started, and the control thread joins it before changing any of that. So the
/// memory a worker translates through, and the fds it reads and writes, never
/// change or close under it.
///
/// The frontend can still take memory away by shrinking a region's file. The
/// SIGBUS guard then swaps the table's mappings for zero pages and wakes the
/// control thread through `memoryFault`, which closes this connection and only
/// this one.
final class BackendConnection: @unchecked Sendable {
    // @unchecked: see above — single control thread, workers joined before any change.

    /// Per-vring state (docs/protocol.md §25).
    struct Vring {
        var size = 0
        var nextAvailIndex: UInt16 = 0
        var address: VringAddress?
        var kickFD: Int32 = -1
        var callFD: Int32 = -1
        var errFD: Int32 = -1
        var enabled = false
        var worker: RingWorker?
    }

    /// What handling one request produced.
    private enum Outcome {
        case success
        case failure(String)
        case reply([UInt8])
        /// Broken beyond a refusal: close the connection.
        case violation(String)
    }

    private let channel: VhostUserChannel
    private let device: VhostUserDeviceDescription
    private let handler: HandlerReference
    /// The handler when it is a `VhostUserEventDevice`.
    private let eventDevice: (any VhostUserEventDevice)?
    /// What it watches under the current features; when not empty, one
    /// `DeviceWorker` serves all its queues instead of one `RingWorker` each.
    private var eventSources = DeviceEventSources()
    private var deviceWorker: DeviceWorker?
    /// Numbers the device workers, so a stale `HeldChain` is recognised.
    private var workerRuns: UInt64 = 0
    private let logger: Logger
    private let statistics: BackendStatistics
    /// The backend's stop latch: readable once stop() was called.
    private let stopFD: Int32

    private var ackedFeatures: UInt64 = 0
    private var protocolFeatures: UInt64 = 0
    private var protocolFeaturesSet = false
    private var memory: GuestMemory?
    /// Where a shrink of `memory`'s files is reported.
    private var memoryFault: GuestMemoryFault?
    private var rings: [Vring]
    private let loggedCauses = LoggedCauses()
    private var loggedUnsupported: Set<UInt32> = []
    /// How the ring workers poll after a batch (`RingPolling`).
    private let ringPolling: RingPolling

    init(channel: VhostUserChannel, device: VhostUserDeviceDescription, handler: any VhostUserDeviceHandler,
         logger: Logger, statistics: BackendStatistics, stopFD: Int32, ringPolling: RingPolling = .off)
    {
        self.ringPolling = ringPolling
        self.channel = channel
        self.device = device
        self.handler = HandlerReference(handler: handler)
        eventDevice = handler as? any VhostUserEventDevice
        self.logger = logger
        self.statistics = statistics
        self.stopFD = stopFD
        rings = Array(repeating: Vring(), count: device.queueCount)
        eventSources = eventDevice?.eventSources(ackedFeatures: 0) ?? DeviceEventSources()
    }

    // MARK: Control thread

    /// Serves requests until the frontend leaves, breaks the protocol, or the
    /// backend stops; then releases everything.
    func run() {
        defer { tearDown() }
        while true {
            if let report = memoryFault?.report {
                logger.error("\(report)")
                statistics.recordError(report)
                return
            }
            // A negative fd (no memory table yet) is ignored by poll.
            var watched = [pollfd(fd: channel.fileDescriptor, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: memoryFault?.notifier ?? -1, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&watched, 3, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                fail("poll: \(String(cString: strerror(errno)))")
                return
            }
            if watched[1].revents != 0 {
                logger.info("backend stopping: closing the frontend connection")
                return
            }
            if watched[2].revents != 0 { continue }  // reported at the top
            let message: VhostUserMessage
            do {
                message = try channel.receive()
            } catch VhostUserError.disconnected {
                logger.info("frontend disconnected")
                return
            } catch {
                fail("\(error)")
                return
            }
            if !handle(message) { return }
        }
    }

    /// Releases a connection whose control thread never started.
    func abandon() { tearDown() }

    private func fail(_ reason: String) {
        logger.error("closing the frontend connection: \(reason)")
        statistics.recordError(reason)
    }

    private func tearDown() {
        for index in rings.indices {
            stopWorker(index)
            closeQuietly(rings[index].kickFD)
            closeQuietly(rings[index].callFD)
            closeQuietly(rings[index].errFD)
            rings[index] = Vring()
        }
        memory = nil  // unmaps guest RAM (no worker holds it any more)
        memoryFault = nil
        channel.close()
        handler.handler.connectionClosed()
    }

    // MARK: Requests

    /// Handles one message; false when the connection must close.
    private func handle(_ message: VhostUserMessage) -> Bool {
        let header = message.header
        if header.isReply {
            closeAll(message.fileDescriptors)
            fail("the frontend sent a reply (\(message.requestName)) as a request")
            return false
        }
        guard let request = message.request, isImplemented(request) else {
            closeAll(message.fileDescriptors)
            if loggedUnsupported.insert(header.request).inserted {
                logger.warning("\(message.requestName) is not supported here: \(header.needsReply && replyAck ? "answered with failure" : "ignored")")
            }
            return acknowledge(header, success: false)
        }
        logger.debug("\(request) (\(message.payload.count) bytes, \(message.fileDescriptors.count) fds)")
        guard payloadSizeIsValid(request, message.payload) else {
            closeAll(message.fileDescriptors)
            fail("\(request) with a \(message.payload.count)-byte payload")
            return false
        }
        var fds = message.fileDescriptors
        if !request.mayCarryFileDescriptors, !fds.isEmpty {
            logger.warning("\(request) carried \(fds.count) unexpected fds: closed")
            closeAll(fds)
            fds = []
        }
        switch execute(request, payload: message.payload, fileDescriptors: fds) {
        case .reply(let payload):
            do {
                try channel.send(request: request.rawValue, flags: VhostUserFlags.version | VhostUserFlags.reply,
                                 payload: payload)
            } catch {
                fail("sending the reply to \(request): \(error)")
                return false
            }
            return true
        case .success:
            return acknowledge(header, success: true)
        case .failure(let reason):
            logger.warning("\(request) refused: \(reason)")
            statistics.recordError("\(request): \(reason)")
            return acknowledge(header, success: false)
        case .violation(let reason):
            fail("\(request): \(reason)")
            return false
        }
    }

    private var replyAck: Bool { protocolFeatures & VhostUserProtocolFeatures.replyAck != 0 }

    /// REPLY_ACK: a u64 0 (success) or 1 (failure) when the frontend asked for it.
    private func acknowledge(_ header: VhostUserHeader, success: Bool) -> Bool {
        guard header.needsReply, replyAck else { return true }
        do {
            try channel.send(request: header.request, flags: VhostUserFlags.version | VhostUserFlags.reply,
                             payload: U64Payload.encode(success ? 0 : 1))
            return true
        } catch {
            fail("sending an acknowledgement: \(error)")
            return false
        }
    }

    private func isImplemented(_ request: VhostUserRequest) -> Bool {
        switch request {
        case .getFeatures, .setFeatures, .setOwner, .resetOwner, .setMemTable, .setVringNum, .setVringAddr,
             .setVringBase, .getVringBase, .setVringKick, .setVringCall, .setVringErr, .getProtocolFeatures,
             .setProtocolFeatures, .getQueueNum, .setVringEnable:
            return true
        default:
            return false
        }
    }

    private func payloadSizeIsValid(_ request: VhostUserRequest, _ payload: [UInt8]) -> Bool {
        switch request {
        case .getFeatures, .setOwner, .resetOwner, .getProtocolFeatures, .getQueueNum:
            return payload.isEmpty
        case .setFeatures, .setProtocolFeatures, .setVringKick, .setVringCall, .setVringErr:
            return payload.count == U64Payload.size
        case .setVringNum, .setVringBase, .getVringBase, .setVringEnable:
            return payload.count == VringState.size
        case .setVringAddr:
            return payload.count == VringAddress.size
        case .setMemTable:
            return MemoryTablePayload.decode(payload) != nil
        default:
            return false
        }
    }

    private func execute(_ request: VhostUserRequest, payload: [UInt8], fileDescriptors fds: [Int32]) -> Outcome {
        switch request {
        case .getFeatures:
            return .reply(U64Payload.encode(device.offeredFeatures))
        case .setFeatures:
            return setFeatures(U64Payload.decode(payload)!)
        case .setOwner:
            return .success
        case .resetOwner:
            for index in rings.indices {
                stopWorker(index)
                rings[index].enabled = false
            }
            return .success
        case .getProtocolFeatures:
            return .reply(U64Payload.encode(VhostUserProtocolFeatures.backendOffered))
        case .setProtocolFeatures:
            let value = U64Payload.decode(payload)!
            guard value & ~VhostUserProtocolFeatures.backendOffered == 0 else {
                return .failure("protocol features 0x\(String(value, radix: 16)) include bits not offered")
            }
            protocolFeatures = value
            protocolFeaturesSet = true
            logger.debug("protocol features acked: 0x\(String(value, radix: 16))")
            return .success
        case .getQueueNum:
            return .reply(U64Payload.encode(UInt64(device.queueCount)))
        case .setMemTable:
            return setMemoryTable(MemoryTablePayload.decode(payload)!, fds)
        case .setVringNum:
            return setVringNum(VringState(payload: payload)!)
        case .setVringAddr:
            return setVringAddr(VringAddress(payload: payload)!)
        case .setVringBase:
            return setVringBase(VringState(payload: payload)!)
        case .getVringBase:
            return getVringBase(VringState(payload: payload)!)
        case .setVringKick, .setVringCall, .setVringErr:
            return setVringFileDescriptor(request, U64Payload.decode(payload)!, fds)
        case .setVringEnable:
            return setVringEnable(VringState(payload: payload)!)
        default:
            closeAll(fds)
            return .failure("not implemented")
        }
    }

    private func setFeatures(_ value: UInt64) -> Outcome {
        guard value & ~device.offeredFeatures == 0 else {
            return .failure("features 0x\(String(value, radix: 16)) include bits not offered (0x\(String(device.offeredFeatures, radix: 16)))")
        }
        stopAllWorkers()
        ackedFeatures = value
        eventSources = eventDevice?.eventSources(ackedFeatures: value) ?? DeviceEventSources()
        logger.debug("features acked: 0x\(String(value, radix: 16))")
        startReadyRings()
        return .success
    }

    private func setMemoryTable(_ regions: [MemoryRegionDescription], _ fds: [Int32]) -> Outcome {
        let mapped: (memory: GuestMemory, fault: GuestMemoryFault)
        do {
            mapped = try MappedMemoryTable.map(regions: regions, fileDescriptors: fds)
        } catch let violation as MemoryTableViolation {
            return .violation(violation.description)
        } catch {
            return .failure("\(error)")
        }
        stopAllWorkers()
        // A shrink of the old table's files, caught until its workers stopped,
        // would be lost with it; it still ends the connection.
        if let report = memoryFault?.report { return .violation(report) }
        memory = mapped.memory  // the old table is unmapped here: no worker holds it now
        memoryFault = mapped.fault
        logger.debug("memory table: \(regions.map { "gpa 0x\(String($0.guestPhysicalAddress, radix: 16)) size 0x\(String($0.size, radix: 16))" }.joined(separator: ", "))")
        startReadyRings()
        return .success
    }

    private func ringIndex(_ value: UInt32) -> Int? {
        Int(value) < rings.count ? Int(value) : nil
    }

    private func setVringNum(_ state: VringState) -> Outcome {
        guard let index = ringIndex(state.index) else { return .failure("no queue \(state.index)") }
        let size = Int(state.number)
        guard SplitRing.isValidSize(size), size <= device.maxQueueSize else {
            return .failure("queue size \(size) is not a power of 2 up to \(device.maxQueueSize)")
        }
        stopWorker(index)
        rings[index].size = size
        startIfReady(index)
        return .success
    }

    private func setVringAddr(_ address: VringAddress) -> Outcome {
        guard let index = ringIndex(address.index) else { return .failure("no queue \(address.index)") }
        if let memory {
            for (name, value) in [("descriptor table", address.descriptorTable), ("available ring", address.availRing),
                                  ("used ring", address.usedRing)]
                where memory.pointer(userAddress: value, count: 1) == nil
            {
                return .failure("\(name) address 0x\(String(value, radix: 16)) is outside the memory table")
            }
        }
        stopWorker(index)
        rings[index].address = address
        startIfReady(index)
        return .success
    }

    private func setVringBase(_ state: VringState) -> Outcome {
        guard let index = ringIndex(state.index) else { return .failure("no queue \(state.index)") }
        guard state.number <= UInt32(UInt16.max) else { return .failure("ring base \(state.number) above 65535") }
        stopWorker(index)
        rings[index].nextAvailIndex = UInt16(state.number)
        startIfReady(index)
        return .success
    }

    /// Stops the ring and reports where to resume (docs/protocol.md §25).
    private func getVringBase(_ state: VringState) -> Outcome {
        guard let index = ringIndex(state.index) else {
            // It must carry a reply, and there is no honest one: answer 0.
            logger.warning("GET_VRING_BASE for missing queue \(state.index)")
            return .reply(VringState(index: state.index, number: 0).payload)
        }
        stopWorker(index)
        closeQuietly(rings[index].kickFD)
        rings[index].kickFD = -1  // stopped until the next SET_VRING_KICK
        if usesDeviceWorker { startDeviceWorker() }  // the other queues go on
        return .reply(VringState(index: state.index, number: UInt32(rings[index].nextAvailIndex)).payload)
    }

    private func setVringFileDescriptor(_ request: VhostUserRequest, _ value: UInt64, _ fds: [Int32]) -> Outcome {
        guard let word = VringDescriptorWord(value), let index = ringIndex(word.index) else {
            closeAll(fds)
            return .failure("bad ring word 0x\(String(value, radix: 16))")
        }
        var newFD: Int32 = -1
        if word.hasNoFileDescriptor {
            closeAll(fds)
            if request == .setVringKick {
                return .failure("polling mode (no kick fd) is not supported")
            }
        } else {
            guard fds.count == 1 else {
                closeAll(fds)
                return .failure("\(fds.count) fds attached where one was expected")
            }
            newFD = fds[0]
        }
        stopWorker(index)
        switch request {
        case .setVringKick:
            closeQuietly(rings[index].kickFD)
            rings[index].kickFD = newFD
        case .setVringCall:
            closeQuietly(rings[index].callFD)
            rings[index].callFD = newFD
        default:
            closeQuietly(rings[index].errFD)
            rings[index].errFD = newFD
        }
        startIfReady(index)
        return .success
    }

    private func setVringEnable(_ state: VringState) -> Outcome {
        guard protocolFeaturesNegotiated else {
            return .failure("SET_VRING_ENABLE before VHOST_USER_F_PROTOCOL_FEATURES was negotiated")
        }
        guard let index = ringIndex(state.index) else { return .failure("no queue \(state.index)") }
        guard state.number <= 1 else { return .failure("enable value \(state.number)") }
        stopWorker(index)
        rings[index].enabled = state.number == 1
        startIfReady(index)
        return .success
    }

    // MARK: Ring life

    private var protocolFeaturesNegotiated: Bool {
        protocolFeaturesSet || ackedFeatures & VirtioFeatures.protocolFeatures != 0
    }

    /// Without VHOST_USER_F_PROTOCOL_FEATURES rings are enabled from the start;
    /// with it they follow SET_VRING_ENABLE.
    private func isEnabled(_ index: Int) -> Bool {
        protocolFeaturesNegotiated ? rings[index].enabled : true
    }

    private func startReadyRings() {
        for index in rings.indices { startIfReady(index) }
    }

    /// Whether the device's queues run on one `DeviceWorker` (see `VhostUserEventDevice`).
    private var usesDeviceWorker: Bool { eventDevice != nil && !eventSources.isEmpty }

    /// The queue configuration of a ring that has memory, a size, addresses, a
    /// kick fd and is enabled.
    private func readyConfiguration(_ index: Int) -> DeviceQueueConfiguration? {
        let ring = rings[index]
        guard memory != nil, ring.size > 0, let address = ring.address, ring.kickFD >= 0, isEnabled(index) else {
            return nil
        }
        return DeviceQueueConfiguration(
            size: ring.size, descriptorTableAddress: address.descriptorTable, availRingAddress: address.availRing,
            usedRingAddress: address.usedRing, addressSpace: .frontendUser, nextAvailIndex: ring.nextAvailIndex,
            eventIndex: ackedFeatures & VirtioFeatures.eventIndex != 0,
            indirectDescriptors: ackedFeatures & VirtioFeatures.indirectDescriptors != 0,
            notifyOnEmpty: ackedFeatures & VirtioFeatures.notifyOnEmpty != 0)
    }

    /// Starts the device worker over every ready queue the device handles or
    /// fills (when none is ready, none starts). Its first acts are to serve what
    /// is already there and to tell the device `.started`.
    private func startDeviceWorker() {
        guard deviceWorker == nil, let eventDevice, let memory, let memoryFault else { return }
        var lanes: [DeviceWorker.Lane] = []
        for index in rings.indices {
            let served = device.handledQueues.contains(index)
            guard served || eventSources.filledQueues.contains(index),
                  let configuration = readyConfiguration(index) else { continue }
            do {
                let queue = try DeviceQueue(configuration: configuration, memory: memory)
                lanes.append(DeviceWorker.Lane(queueIndex: index, queue: queue, served: served, kickFD: rings[index].kickFD,
                                               callFD: rings[index].callFD, errFD: rings[index].errFD))
            } catch {
                logger.error("queue \(index) cannot start: \(error)")
                statistics.recordError("queue \(index): \(error)")
                if rings[index].errFD >= 0 { EventNotifier.signal(rings[index].errFD) }
            }
        }
        guard !lanes.isEmpty else { return }
        workerRuns += 1
        do {
            let worker = try DeviceWorker(
                lanes: lanes, queueCount: rings.count, ackedFeatures: ackedFeatures, run: workerRuns,
                device: eventDevice, deviceFDs: eventSources.fileDescriptors, memoryFault: memoryFault,
                statistics: statistics, loggedCauses: loggedCauses, logger: logger)
            try worker.start()
            deviceWorker = worker
            logger.debug("device worker running: queues \(lanes.map { "\($0.queueIndex)\($0.served ? "" : " (filled)")" }.joined(separator: ", ")), \(eventSources.fileDescriptors.count) device fds")
        } catch {
            logger.error("device worker cannot start: \(error)")
            statistics.recordError("device worker: \(error)")
        }
    }

    private func stopDeviceWorker() {
        guard let worker = deviceWorker else { return }
        worker.stop()
        for lane in worker.lanes { rings[lane.queueIndex].nextAvailIndex = lane.queue.nextAvailIndex }
        deviceWorker = nil
    }

    /// Starts a worker for a handled ring that has memory, a size, addresses, a
    /// kick fd and is enabled. Its first act is to serve what is already there.
    /// With a device worker: (re)starts it over all the device's ready rings.
    private func startIfReady(_ index: Int) {
        if usesDeviceWorker {
            startDeviceWorker()
            return
        }
        let ring = rings[index]
        guard ring.worker == nil, device.handledQueues.contains(index), let memory, let memoryFault,
              let configuration = readyConfiguration(index)
        else { return }
        do {
            let queue = try DeviceQueue(configuration: configuration, memory: memory)
            let worker = RingWorker(queueIndex: index, queue: queue, memoryFault: memoryFault, handler: handler,
                                    kickFD: ring.kickFD, callFD: ring.callFD, errFD: ring.errFD,
                                    statistics: statistics, loggedCauses: loggedCauses, logger: logger,
                                    polling: ringPolling)
            try worker.start()
            rings[index].worker = worker
            logger.debug("queue \(index) running: size \(ring.size), next avail \(ring.nextAvailIndex), used \(queue.usedIndex)")
        } catch {
            logger.error("queue \(index) cannot start: \(error)")
            statistics.recordError("queue \(index): \(error)")
            if ring.errFD >= 0 { EventNotifier.signal(ring.errFD) }
        }
    }

    /// Stops ring `index`'s worker; the device worker, which serves all the
    /// device's rings, stops as a whole (and is restarted by `startIfReady`).
    private func stopWorker(_ index: Int) {
        stopDeviceWorker()
        guard let worker = rings[index].worker else { return }
        worker.stop()
        rings[index].nextAvailIndex = worker.queue.nextAvailIndex
        rings[index].worker = nil
    }

    private func stopAllWorkers() {
        for index in rings.indices { stopWorker(index) }
    }
}
