#if canImport(Glibc)
import Glibc
#endif
import LinuxIO
import Synchronization

// The sensor poller (docs/serve.md, "Sensors and the poller"): one thread per
// platform, started when something first needs it, that
// - reads each watched sensor (an armed trip point, or a continuous-update
//   subscription) at its update interval and sends SENSOR_TRIP_POINT_EVENT
//   and SENSOR_UPDATE;
// - answers asynchronous SENSOR_READING_GET with SENSOR_READING_COMPLETE.
// It sleeps on an eventfd until the next sensor is due or a handler wakes it,
// so a ring worker never reads a host file for an asynchronous reading and an
// idle platform costs a blocked thread. Host files are read with no lock held.
// It holds its platform weakly: dropping the platform stops it.

final class SensorPoller: Sendable {
    /// One asynchronous SENSOR_READING_GET waiting for the poller.
    struct Request {
        var agent: Int
        var sensor: Int
        var command: MessageHeader
        /// The agent's connection generation when it was asked (see cancel).
        var generation: UInt32
    }

    struct State {
        var thread: NativeThread?
        var stopping = false
        /// A handler armed a trip point or subscribed: look for newly watched sensors.
        var rescan = false
        /// Requests not yet taken, at most maxPendingAsync per agent (capacity reserved).
        var requests: [Request]
        /// Per agent: requests asked and not yet answered.
        var pending: [Int]
        /// Per agent: bumped when its connection ends, so that a reading asked
        /// before is not answered to the next connection.
        var generation: [UInt32]
    }

    let sensorCount: Int
    let agentCount: Int
    private let state: Mutex<State>
    /// The eventfd the thread sleeps on; -1 until the thread starts.
    private let wakeDescriptor = Atomic<Int32>(-1)

    init(sensorCount: Int, agentCount: Int) {
        self.sensorCount = sensorCount
        self.agentCount = agentCount
        var requests: [Request] = []
        requests.reserveCapacity(agentCount * SCMIPlatform.maxPendingAsync)
        state = Mutex(State(requests: requests, pending: Array(repeating: 0, count: agentCount),
                            generation: Array(repeating: 0, count: agentCount)))
    }

    deinit {
        let descriptor = wakeDescriptor.load(ordering: .relaxed)
        if descriptor >= 0 { close(descriptor) }
    }

    /// `agent`'s asynchronous commands pending: readings the poller has not
    /// answered plus delayed responses waiting in its sink. Counted under the
    /// poller's lock, which an answer holds while it moves from one to the
    /// other, so that none is missed or counted twice.
    func pendingAsync(_ platform: SCMIPlatform, agent: Int) -> Int {
        state.withLock { pendingAsync(platform, agent, $0) }
    }

    private func pendingAsync(_ platform: SCMIPlatform, _ agent: Int, _ state: borrowing State) -> Int {
        state.pending[agent] + platform.sinks[agent].sink.withLock { $0?.delayedResponsesWaiting ?? 0 }
    }

    /// Queues an asynchronous reading of `sensor` for `agent` (handling
    /// `command`): SUCCESS, BUSY when the agent already has maxPendingAsync
    /// asynchronous commands pending, HARDWARE_ERROR when no thread can be started.
    func requestReading(_ platform: SCMIPlatform, agent: Int, sensor: Int, command: MessageHeader) -> SCMIStatus {
        let status: SCMIStatus = state.withLock { state in
            guard pendingAsync(platform, agent, state) < SCMIPlatform.maxPendingAsync else { return .busy }
            guard start(platform, &state) else { return .hardwareError }
            state.requests.append(Request(agent: agent, sensor: sensor, command: command, generation: state.generation[agent]))
            state.pending[agent] += 1
            return .success
        }
        if status.isSuccess { wake() }
        return status
    }

    /// A handler armed a trip point or subscribed to updates: the thread
    /// (started if need be) looks again at which sensors are watched.
    func rescan(_ platform: SCMIPlatform) {
        let started = state.withLock { state in
            state.rescan = true
            return start(platform, &state)
        }
        if started { wake() }
    }

    /// `agent`'s connection ended or renegotiated: its pending readings are
    /// never answered (a reading being read is dropped when it completes).
    func cancel(agent: Int) {
        state.withLock { state in
            guard state.pending[agent] > 0 else { return }
            state.generation[agent] &+= 1
            state.pending[agent] = 0
            state.requests.removeAll { $0.agent == agent }
        }
    }

    /// Stops the thread (the platform goes away). Joins it unless this is the
    /// thread itself (its last reference to the platform was the last one).
    func stop() {
        let thread = state.withLock { state in
            state.stopping = true
            return state.thread.take()
        }
        guard let thread else { return }
        wake()
        if !thread.isCurrent { thread.join() }
    }

    private func wake() {
        let descriptor = wakeDescriptor.load(ordering: .acquiring)
        if descriptor >= 0 { EventNotifier.signal(descriptor) }
    }

    /// Starts the thread once (lock held). False when it cannot be started.
    private func start(_ platform: SCMIPlatform, _ state: inout State) -> Bool {
        guard state.thread == nil else { return true }
        guard !state.stopping else { return false }
        do {
            let descriptor = try EventNotifier.create(nonblocking: true)
            wakeDescriptor.store(descriptor, ordering: .releasing)
            state.thread = try NativeThread(name: "scmi-sensors") { [weak platform, self] in
                run { platform }
            }
            return true
        } catch {
            platform.reportHostFault("sensor poller: cannot start its thread: \(error)")
            return false
        }
    }

    // MARK: The thread

    /// What one poll sends to one agent.
    private struct Delivery {
        var agent: Int
        /// A trip point id, or -1 for SENSOR_UPDATE.
        var trip: Int
        var ascending: Bool
    }

    /// Sleeps until the next sensor is due or it is woken, then answers the
    /// queued readings and polls the sensors that are due. `platform` is nil
    /// once the platform is gone.
    private func run(_ platform: () -> SCMIPlatform?) {
        // Thread-local, sized once: nothing is allocated per poll.
        var due = [UInt64](repeating: 0, count: sensorCount)  // 0: not polled
        var last = [Int64?](repeating: nil, count: sensorCount)
        var taken: [Request] = []
        taken.reserveCapacity(agentCount * SCMIPlatform.maxPendingAsync)
        var deliveries: [Delivery] = []
        deliveries.reserveCapacity(agentCount * (SensorProtocol.tripPointCount + 1))
        let descriptor = wakeDescriptor.load(ordering: .acquiring)
        while true {
            let rescan: Bool? = state.withLock { state in
                guard !state.stopping else { return nil }
                defer { state.rescan = false }
                taken.append(contentsOf: state.requests)
                state.requests.removeAll(keepingCapacity: true)
                return state.rescan
            }
            guard let rescan else { return }
            var timeout: Int32 = -1
            do {
                guard let platform = platform() else { return }
                if rescan { watchNew(platform, &due) }
                for request in taken { answer(request, platform) }
                taken.removeAll(keepingCapacity: true)
                var next = UInt64.max
                for sensor in 0 ..< sensorCount where due[sensor] != 0 {
                    let now = Self.monotonicNanoseconds()
                    if due[sensor] <= now {
                        guard poll(sensor, platform, previous: &last[sensor], &deliveries) else {
                            due[sensor] = 0
                            last[sensor] = nil
                            continue
                        }
                        let interval = UInt64(platform.sensors[sensor].intervalMilliseconds) * 1_000_000
                        due[sensor] += interval
                        if due[sensor] <= now { due[sensor] = now + interval }
                    }
                    next = min(next, due[sensor])
                }
                if next != .max {
                    let now = Self.monotonicNanoseconds()
                    timeout = next <= now ? 0 : Int32(clamping: (next - now + 999_999) / 1_000_000)
                }
            }
            _ = EventNotifier.wait(descriptor, timeoutMilliseconds: timeout)
        }
    }

    /// Marks due now every watched sensor not polled yet.
    private func watchNew(_ platform: SCMIPlatform, _ due: inout [UInt64]) {
        let now = Self.monotonicNanoseconds()
        platform.state.withLock { locked in
            for sensor in 0 ..< sensorCount where due[sensor] == 0 && isWatched(sensor, platform, &locked) { due[sensor] = now }
        }
    }

    /// Whether an agent armed a trip point of `sensor` or subscribed to its updates (lock held).
    private func isWatched(_ sensor: Int, _ platform: SCMIPlatform, _ locked: inout SharedState) -> Bool {
        if platform.sensorState(&locked).pointee.isArmed(sensor: sensor) { return true }
        let event = SCMIPlatform.sensorEvent(SensorProtocol.updateEvent)
        for agent in 0 ..< agentCount where platform.isSubscribed(locked, agent: agent, event: event, resource: sensor) { return true }
        return false
    }

    /// Reads `sensor` and sends what the reading causes: SENSOR_UPDATE to each
    /// subscribed agent, SENSOR_TRIP_POINT_EVENT for each armed trip point the
    /// value crossed since `previous` (nothing on the first reading), to agents
    /// that may use the sensor, left it enabled and subscribed. False when
    /// nobody watches the sensor any more.
    private func poll(_ sensor: Int, _ platform: SCMIPlatform, previous: inout Int64?, _ deliveries: inout [Delivery]) -> Bool {
        let holders = platform.sensors[sensor].devices
        guard platform.state.withLock({ isWatched(sensor, platform, &$0) }) else { return false }
        guard case .success(let value) = platform.readSensor(sensor) else { return true }
        let before = previous
        previous = value
        let tripEvent = SCMIPlatform.sensorEvent(SensorProtocol.tripPointEvent)
        let updateEvent = SCMIPlatform.sensorEvent(SensorProtocol.updateEvent)
        let bit = protocolBit(ProtocolID.sensor.rawValue)
        platform.state.withLock { locked in
            let state = platform.sensorState(&locked)
            for agent in 0 ..< agentCount
            where state.pointee.isEnabled(sensor: sensor, agent: agent) && locked.mayUse(agent: agent, protocolBit: bit, holders: holders) {
                if platform.isSubscribed(locked, agent: agent, event: updateEvent, resource: sensor) {
                    deliveries.append(Delivery(agent: agent, trip: -1, ascending: false))
                }
                guard let before, platform.isSubscribed(locked, agent: agent, event: tripEvent, resource: sensor) else { continue }
                for trip in 0 ..< SensorProtocol.tripPointCount {
                    if let ascending = state.pointee.trip(trip, sensor: sensor, agent: agent).crossing(from: before, to: value) {
                        deliveries.append(Delivery(agent: agent, trip: trip, ascending: ascending))
                    }
                }
            }
        }
        for delivery in deliveries {
            if delivery.trip < 0 {
                platform.notify(agent: delivery.agent, event: updateEvent) { message in
                    message.append(UInt32(0))
                    message.append(UInt32(sensor))
                    message.append(UInt64(bitPattern: value))
                    message.append(UInt64(0))
                }
            } else {
                platform.notify(agent: delivery.agent, event: tripEvent) { message in
                    message.append(UInt32(0))
                    message.append(UInt32(sensor))
                    message.append(UInt32(delivery.trip) | (delivery.ascending ? SensorProtocol.tripDirectionAscending : 0))
                }
            }
        }
        deliveries.removeAll(keepingCapacity: true)
        return true
    }

    /// Reads the sensor and posts SENSOR_READING_COMPLETE {sensor_id, value,
    /// timestamp 0} or the failure (readSensor's status), unless the agent's connection ended
    /// meanwhile. Posted under the poller's lock, so that cancel() and the
    /// BUSY count see it either pending or in the sink.
    private func answer(_ request: Request, _ platform: SCMIPlatform) {
        let reading = platform.readSensor(request.sensor, agent: request.agent)
        state.withLock { state in
            guard state.generation[request.agent] == request.generation else { return }
            state.pending[request.agent] -= 1
            let (status, value): (SCMIStatus, Int64) = switch reading {
                case .success(let value): (.success, value)
                case .failure(let status): (status, 0)
            }
            platform.sendDelayedResponse(to: request.agent, command: request.command, status) { message in
                message.append(UInt32(request.sensor))
                message.append(UInt64(bitPattern: value))
                message.append(UInt64(0))
            }
        }
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

extension SCMIPlatform {
    /// The position in `events` of the sensor unit's event `local`.
    static func sensorEvent(_ local: Int) -> Int {
        firstEvent[Int(unitIndex[Int(ProtocolID.sensor.rawValue)])] + local
    }
}
