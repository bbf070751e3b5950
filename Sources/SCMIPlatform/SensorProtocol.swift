#if canImport(Glibc)
import Glibc
#endif
import ResourceTables

// Sensor management 0x15, version 3.0 (docs/protocol.md §11): what Linux
// 6.12's scmi-hwmon sends. Scalar sensors only (no axes); a reading is a
// constant from the blob or a host file read afresh on each request, off the
// platform's lock and within 1 s (docs/serve.md, "Sensors").

enum SensorProtocol: ResourceModel {
    static let id = ProtocolID.sensor
    static let version: UInt32 = 0x30000

    /// Every command of version 3.0 but the axes; the trip points and
    /// notifications with P2A only.
    static let unit = ProtocolUnit(
        id, version: version,
        // +0 bits 15:0 sensors, 23:16 pending asynchronous readings (16 with
        // P2A, else 0); then the sensor-values shared memory (none on
        // virtio): address low, high, length.
        attributes: { session, _, reply in
            session.resourceCountWithoutSharedMemory(
                SensorProtocol.self, flags: session.deliversDelayedResponses ? UInt32(SCMIPlatform.maxPendingAsync) << 16 : 0, &reply)
        },
        messages: [
            .handle(SensorMessage.descriptionGet, size: .exactly(4)) { $0.sensorDescriptionGet($1, &$2) },
            .handleWithP2A(SensorMessage.tripPointConfig, size: .exactly(16)) { session, payload, _ in session.tripPointConfig(payload) },
            .handle(SensorMessage.readingGet, size: .exactly(8)) { $0.sensorReadingGet($1, &$2) },
            // Scalar sensors only: no descriptor announces an axis.
            .notSupported(SensorMessage.axisDescriptionGet),
            .handle(SensorMessage.listUpdateIntervals, size: .exactly(8)) { $0.listUpdateIntervals($1, &$2) },
            .handle(SensorMessage.configGet, size: .exactly(4)) { $0.sensorConfigGet($1, &$2) },
            .handle(SensorMessage.configSet, size: .exactly(8)) { session, payload, _ in session.sensorConfigSet(payload) },
            .handle(SensorMessage.nameGet, size: .exactly(4)) { $0.nameGet(SensorProtocol.self, $1, &$2) },
            .notSupported(SensorMessage.axisNameGet),
        ],
        resources: ResourceHooks(SensorProtocol.self),
        events: events,
        subscribe: { session, event, payload in session.sensorSubscribe(event, payload) })

    /// SENSOR_TRIP_POINT_EVENT {0, sensor_id, trip_point_desc} to the agent
    /// whose armed trip point a polled value crossed; SENSOR_UPDATE {0,
    /// sensor_id, one reading} each interval to the subscribed agents that
    /// left the sensor enabled. Both are sent by the poller
    /// (SensorPoller.swift), to chosen agents rather than to every subscriber.
    static let events = [
        NotificationEvent(SensorNotification.tripPointEvent, subscribedBy: SensorMessage.tripPointNotify, to: .everyone),
        NotificationEvent(SensorNotification.update, subscribedBy: SensorMessage.continuousUpdateNotify, to: .everyone),
    ]
    static let tripPointEvent = 0
    static let updateEvent = 1

    /// Trip points per sensor and agent (attributes_low bits 7:0 with P2A).
    static let tripPointCount = 4
    /// attributes_low bit 31: asynchronous reading (host files, with P2A).
    static let attributeAsyncRead: UInt32 = 1 << 31
    /// attributes_low bit 30: continuous-update notifications (with P2A).
    static let attributeContinuousUpdate: UInt32 = 1 << 30
    /// SENSOR_TRIP_POINT_CONFIG trip_point_ev_ctrl: 11:4 trip id, 1:0 event control.
    static let tripIDShift: UInt32 = 4
    static let tripControlMask: UInt32 = 0x3
    static let tripConfigKnownBits: UInt32 = 0xFF0 | tripControlMask
    /// SENSOR_TRIP_POINT_EVENT trip_point_desc bit 16: crossed upwards (1) or downwards (0).
    static let tripDirectionAscending: UInt32 = 1 << 16

    /// Descriptor attributes_low bit 29: SENSOR_NAME_GET has the whole name.
    static let attributeExtendedName: UInt32 = 1 << 29
    /// SENSOR_READING_GET flags bit 0.
    static let flagAsync: UInt32 = 1 << 0
    /// SENSOR_CONFIG_SET / GET: bit 0 enabled; bits 31:11 the update interval.
    static let configEnabled: UInt32 = 1 << 0
    static let configIntervalMask: UInt32 = 0xFFFF_F800
    /// How long a host file may take to read.
    static let readTimeoutMilliseconds = 1000

    // MARK: The unit's resources

    /// Where a reading comes from.
    enum Source: @unchecked Sendable {
        case constant(Int64)
        /// A NUL-terminated host path in memory the catalog owns (release()).
        case file(UnsafeBufferPointer<CChar>)
        /// Read on the host, by the firmware or a hook: the model has no reading.
        case host
    }

    /// One sensor as the catalog holds it; a descriptor of SENSOR_DESCRIPTION_GET.
    struct Resource: NamedResource, @unchecked Sendable {
        let id: UInt32
        let name: String
        let names: ResourceNames
        let source: Source
        /// The path as the blob gives it, for log lines.
        let path: String?
        let unitType: UInt8
        let unitExponent: Int8
        /// The update interval as SCMI writes it: seconds × 10^exponent.
        let interval: (seconds: UInt16, exponent: Int8)
        /// The same interval, for the poller (at least 1).
        let intervalMilliseconds: UInt32
        let devices: [Int]

        /// A host file can be read asynchronously (a constant is answered at once).
        var isFile: Bool { path != nil }
    }

    /// One SENSOR_DESCRIPTION_GET descriptor as a session with or without
    /// P2A sees it: 28 bytes, id, attributes_low, attributes_high, name[16].
    struct Descriptor: ReplyValue {
        let sensor: Resource
        let withP2A: Bool

        static var byteCount: Int { 28 }
        func write(to reply: inout Reply) {
            reply.append(sensor.id)
            var low = sensor.names.isExtended ? SensorProtocol.attributeExtendedName : 0
            if withP2A {
                low |= SensorProtocol.attributeContinuousUpdate | UInt32(SensorProtocol.tripPointCount)
                if sensor.isFile { low |= SensorProtocol.attributeAsyncRead }
            }
            reply.append(low)
            // 21:16 axes 0, 15:11 signed unit exponent, 8 not multi-axis, 7:0 unit type.
            reply.append(UInt32(UInt8(bitPattern: sensor.unitExponent) & 0x1F) << 11 | UInt32(sensor.unitType))
            reply.appendName(sensor.names, .short)
        }
    }

    typealias State = SensorState

    static let vocabulary = ResourceVocabulary(
        noun: "sensor", plural: "sensors", tableKey: "sensors", switchKey: "enabled",
        valueKey: "value", onWord: "enabled", offWord: "disabled", quantity: "value", unit: "")

    static func catalog(_ tables: PlatformTables, holders: [[Int]]) -> [Resource] {
        tables.sensors.enumerated().map { index, entry in
            let source: Source, path: String?
            switch entry.source {
            case .constant(let value):
                source = .constant(value)
                path = nil
            case .path(let file):
                source = .file(UnsafeBufferPointer(immortalCopyOf: Array(file.utf8CString)))
                path = file
            case .host:
                source = .host
                path = nil
            }
            return Resource(id: UInt32(index), name: entry.name, names: ResourceNames(entry.name), source: source, path: path,
                            unitType: entry.unitType, unitExponent: entry.unitExponent,
                            interval: interval(milliseconds: entry.intervalMilliseconds),
                            intervalMilliseconds: max(entry.intervalMilliseconds, 1), devices: holders[index])
        }
    }

    static func initialState(_ sensors: UnsafeBufferPointer<Resource>, agentCount: Int) -> State {
        SensorState(constants: sensors.map { if case .constant(let value) = $0.source { value } else { nil } }, agentCount: agentCount)
    }

    static func release(_ sensor: Resource) {
        if case .file(let path) = sensor.source { UnsafeMutableBufferPointer(mutating: path).deallocate() }
    }

    /// `milliseconds` as SCMI's {seconds (16 bits), signed power of ten}: the
    /// fewest digits that say it exactly (1000 ms: 1 × 10^0; 10 ms: 1 × 10^-2).
    static func interval(milliseconds: UInt32) -> (seconds: UInt16, exponent: Int8) {
        var value = UInt64(milliseconds), exponent = -3
        while value != 0, value % 10 == 0, exponent < 0 {
            value /= 10
            exponent += 1
        }
        while value > UInt64(UInt16.max) {
            value /= 10
            exponent += 1
        }
        return (UInt16(value), Int8(exponent))
    }

    /// Whether {seconds, exponent} (as CONFIG_SET carries them: bits 31:16,
    /// 15:11) names the same interval as `interval`.
    static func sameInterval(_ config: UInt32, as interval: (seconds: UInt16, exponent: Int8)) -> Bool {
        let seconds = UInt64(config >> 16)
        let exponent = Int(Int8(bitPattern: UInt8((config >> 11) & 0x1F) << 3) >> 3)
        // Both as seconds × 10^(exponent + 16), exactly (exponents are -16…15).
        func scaled(_ value: UInt64, _ power: Int) -> UInt64? {
            var result = value
            for _ in 0 ..< power + 16 {
                let (next, overflow) = result.multipliedReportingOverflow(by: 10)
                if overflow { return nil }
                result = next
            }
            return result
        }
        guard let asked = scaled(seconds, exponent), let own = scaled(UInt64(interval.seconds), Int(interval.exponent)) else { return false }
        return asked == own
    }

    /// Why a host file gave no reading; one log line each time it changes.
    enum Fault: UInt8, Sendable {
        case none, cannotOpen, readFailed, timedOut, empty, notANumber, tooLong
    }

    /// Reads `path` afresh: a decimal integer with optional sign and
    /// surrounding whitespace, within readTimeoutMilliseconds. Opened
    /// non-blocking and polled, so a FIFO without a writer or a stuck driver
    /// costs at most the timeout; errno is given for open and read failures.
    static func read(_ path: UnsafePointer<CChar>) -> (value: Int64, fault: Fault, errno: Int32) {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return (0, .cannotOpen, errno) }
        defer { close(descriptor) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            var count = 0
            var start = timespec()
            clock_gettime(CLOCK_MONOTONIC, &start)
            while true {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                let elapsed = Int(now.tv_sec - start.tv_sec) * 1000 + Int(now.tv_nsec - start.tv_nsec) / 1_000_000
                let left = readTimeoutMilliseconds - elapsed
                guard left > 0 else { return (0, .timedOut, 0) }
                var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                let ready = poll(&waiting, 1, Int32(left))
                if ready < 0 {
                    if errno == EINTR { continue }
                    return (0, .readFailed, errno)
                }
                if ready == 0 { return (0, .timedOut, 0) }
                let got = Glibc.read(descriptor, buffer.baseAddress! + count, buffer.count - count)
                if got < 0 {
                    if errno == EAGAIN || errno == EINTR { continue }
                    return (0, .readFailed, errno)
                }
                if got == 0 { break }
                count += got
                if count == buffer.count { return (0, .tooLong, 0) }
            }
            return parse(UnsafeBufferPointer(rebasing: buffer[0 ..< count]))
        }
    }

    /// A decimal Int64 with optional sign, surrounded by whitespace only.
    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> (value: Int64, fault: Fault, errno: Int32) {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09 ... 0x0D).contains(byte) }
        var index = 0, end = text.count
        while index < end, isSpace(text[index]) { index += 1 }
        while end > index, isSpace(text[end - 1]) { end -= 1 }
        guard index < end else { return (0, .empty, 0) }
        let negative = text[index] == UInt8(ascii: "-")
        if negative || text[index] == UInt8(ascii: "+") { index += 1 }
        guard index < end else { return (0, .notANumber, 0) }
        var magnitude: UInt64 = 0
        while index < end {
            let digit = text[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return (0, .notANumber, 0) }
            let (times, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(digit))
            guard !overflow, !carry, sum <= UInt64(Int64.max) + (negative ? 1 : 0) else { return (0, .notANumber, 0) }
            magnitude = sum
            index += 1
        }
        return (negative ? Int64(bitPattern: 0 &- magnitude) : Int64(magnitude), .none, 0)
    }

    /// The log line for a fault of sensor `sensor` (nil: it reads again).
    static func describe(_ fault: Fault, errno code: Int32, sensor: Resource) -> String {
        let which = "sensor " + String(sensor.id) + " \"" + sensor.name + "\": " + (sensor.path ?? "")
        let reason: String
        switch fault {
        case .none: return which + " reads again"
        case .cannotOpen: reason = "cannot open: " + String(cString: strerror(code))
        case .readFailed: reason = "read failed: " + String(cString: strerror(code))
        case .timedOut: reason = "no answer within " + String(readTimeoutMilliseconds) + " ms"
        case .empty: reason = "is empty"
        case .notANumber: reason = "does not hold a decimal integer"
        case .tooLong: reason = "holds more than 63 bytes, not one integer"
        }
        return which + " " + reason + " (HARDWARE_ERROR)"
    }
}

/// One trip point of one agent on one sensor, as SENSOR_TRIP_POINT_CONFIG set it.
struct TripPoint: Sendable {
    /// Event control (bits 1:0): 0 off, 1 crossing upwards, 2 downwards, 3 both.
    var control: UInt8 = 0
    var value: Int64 = 0

    static let upwards: UInt8 = 1
    static let downwards: UInt8 = 2

    /// The direction in which `previous` → `value` crosses this trip point,
    /// if the trip point is armed for it: upwards when the value reaches it
    /// from below (previous < trip ≤ value), downwards when it falls below
    /// it (previous ≥ trip > value); nil otherwise (docs/serve-choices.md).
    func crossing(from previous: Int64, to current: Int64) -> Bool? {
        if previous < value, current >= value, control & Self.upwards != 0 { return true }
        if previous >= value, current < value, control & Self.downwards != 0 { return false }
        return nil
    }
}

/// Per (sensor, agent): whether the agent left the sensor enabled (initially
/// yes) and its trip points; per sensor: the last fault of its host file, so
/// that a fault is logged once, when it starts.
struct SensorState: UnitState, Sendable {
    let agentCount: Int
    /// Per sensor: its constant value, nil for a host file (status shows
    /// only what it can show without reading a file under the lock).
    let constants: [Int64?]
    private(set) var enabled: [Bool]
    /// SensorProtocol.tripPointCount per (sensor, agent).
    private(set) var trips: [TripPoint]
    var lastFault: [SensorProtocol.Fault]

    init(constants: [Int64?], agentCount: Int) {
        self.agentCount = agentCount
        self.constants = constants
        enabled = Array(repeating: true, count: constants.count * agentCount)
        trips = Array(repeating: TripPoint(), count: constants.count * agentCount * SensorProtocol.tripPointCount)
        lastFault = Array(repeating: .none, count: constants.count)
    }

    func isEnabled(sensor: Int, agent: Int) -> Bool { enabled[sensor * agentCount + agent] }

    mutating func setEnabled(_ on: Bool, sensor: Int, agent: Int) { enabled[sensor * agentCount + agent] = on }

    func trip(_ trip: Int, sensor: Int, agent: Int) -> TripPoint {
        trips[(sensor * agentCount + agent) * SensorProtocol.tripPointCount + trip]
    }

    mutating func setTrip(_ trip: Int, _ point: TripPoint, sensor: Int, agent: Int) {
        trips[(sensor * agentCount + agent) * SensorProtocol.tripPointCount + trip] = point
    }

    /// Whether any agent armed a trip point of `sensor`.
    func isArmed(sensor: Int) -> Bool {
        let first = sensor * agentCount * SensorProtocol.tripPointCount
        for index in first ..< first + agentCount * SensorProtocol.tripPointCount where trips[index].control != 0 { return true }
        return false
    }

    /// Readings are not arbitrated: nothing is shared with the owner.
    mutating func attach(_ owner: Attachment) {}

    mutating func detach(report: (_ resource: Int, PhysicalChange.What) -> Void) {}

    /// Back to enabled, trip points off; a sensor has no physical state to report.
    /// Every sensor: nothing here waits for the host, so no turn is needed.
    mutating func withdraw(agent: Int, covers: (_ resource: Int) -> Bool, report: (_ resource: Int, PhysicalChange.What) -> Void) {
        for sensor in 0 ..< lastFault.count {
            enabled[sensor * agentCount + agent] = true
            for trip in 0 ..< SensorProtocol.tripPointCount { setTrip(trip, TripPoint(), sensor: sensor, agent: agent) }
        }
    }

    /// Nothing a withdrawal changes is physical.
    func holdings(agent: Int, _ body: (_ resource: Int) -> Void) {}

    /// A constant's value; an agent appears when it disabled the sensor.
    func snapshot(resource: Int, agents: [AgentInfo]) -> (on: Bool?, value: Int64?, requests: [ResourceRequest]) {
        let requests = agents.indices.compactMap { agent in
            isEnabled(sensor: resource, agent: agent)
                ? nil : ResourceRequest(agentID: agents[agent].id, agentName: agents[agent].name, on: false, value: nil)
        }
        return (nil, constants[resource], requests)
    }
}

extension SCMIPlatform {
    /// The sensor unit's catalog slice (read without the lock).
    var sensors: UnsafeBufferPointer<SensorProtocol.Resource> {
        storage[Int(Self.unitIndex[Int(ProtocolID.sensor.rawValue)])].resources(SensorProtocol.self)
    }

    /// The sensor unit's state; `locked` is what the platform's lock hands out.
    func sensorState(_ locked: inout SharedState) -> UnsafeMutablePointer<SensorState> {
        storage[Int(Self.unitIndex[Int(ProtocolID.sensor.rawValue)])].state.unsafelyUnwrapped.assumingMemoryBound(to: SensorState.self)
    }

    /// A reading of sensor `index`: its constant, its host file read now, or
    /// the host's answer (the firmware's reading, docs/host.md "Upstream", or
    /// a hook's `read`), for the agent at position `agent` (nil: the
    /// platform's own poll). Call without the lock. When no reading came:
    /// the firmware's status, else HARDWARE_ERROR (a file's fault logged when
    /// it differs from the last one).
    func readSensor(_ index: Int, agent: Int? = nil) -> Result<Int64, SCMIStatus> {
        let sensor = sensors.baseAddress.unsafelyUnwrapped + index
        switch sensor.pointee.source {
        case .constant(let constant):
            return .success(constant)
        case .host:
            if storage[Int(Self.unitIndex[Int(ProtocolID.sensor.rawValue)])].readsHardware(index) {
                return host.readValue(.sensor, UInt32(index))
            }
            guard let value = host.readSensor(UInt32(index), agent: agent.map { catalog.agents[$0].id } ?? 0) else { return .failure(.hardwareError) }
            return .success(value)
        case .file(let path):
            let reading = SensorProtocol.read(path.baseAddress.unsafelyUnwrapped)
            let changed = state.withLock { locked -> Bool in
                let state = sensorState(&locked)
                guard state.pointee.lastFault[index] != reading.fault else { return false }
                state.pointee.lastFault[index] = reading.fault
                return true
            }
            if changed { reportHostFault(SensorProtocol.describe(reading.fault, errno: reading.errno, sensor: sensor.pointee)) }
            return reading.fault == .none ? .success(reading.value) : .failure(.hardwareError)
        }
    }
}

extension AgentSession {
    fileprivate func sensorIndex(_ id: UInt32) -> Int? { resourceIndex(SensorProtocol.self, id) }

    fileprivate var sensors: UnsafeBufferPointer<SensorProtocol.Resource> { resources(SensorProtocol.self) }

    /// +0 desc_index → +4 flags (returned, remaining), +8 descriptors: as many
    /// as fit (4 in 128 bytes). An index past the end: INVALID_PARAMETERS.
    fileprivate func sensorDescriptionGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        let first = payload.word(0)
        let sensors = sensors
        guard first < UInt32(sensors.count) else { return .invalidParameters }
        let withP2A = deliversNotifications
        return reply.appendDescribePage(count: sensors.count, byteCount: SensorProtocol.Descriptor.byteCount, from: first) { index, reply in
            SensorProtocol.Descriptor(sensor: sensors[index], withP2A: withP2A).write(to: &reply)
        }
    }

    /// Whether this agent may read sensor `index` (the lock, briefly).
    fileprivate func mayRead(_ index: Int) -> Bool {
        let holders = sensors[index].devices
        return platform.state.withLock { mayUse($0, SensorProtocol.id, holders: holders) }
    }

    /// +0 sensor_id, +4 flags (bit 0 async) → v3 reading {value_low,
    /// value_high, timestamp_low 0, timestamp_high 0}. A file is read with the
    /// lock released: a slow file delays only this agent. Asynchronous (with
    /// P2A): SUCCESS with no reading, then the poller reads the sensor and
    /// sends SENSOR_READING_COMPLETE {sensor_id, reading} (or HARDWARE_ERROR);
    /// BUSY while 16 of this agent's asynchronous commands are pending. A
    /// sensor the agent disabled still answers (docs/serve-choices.md).
    fileprivate func sensorReadingGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = sensorIndex(payload.word(0)) else { return .notFound }
        let flags = payload.word(1)
        guard mayRead(index) else { return .denied }
        guard flags & ~SensorProtocol.flagAsync == 0 else { return .invalidParameters }
        if flags & SensorProtocol.flagAsync != 0 {
            // The reading ends in a delayed response on the eventq: none
            // without P2A (docs/protocol.md §15).
            guard deliversDelayedResponses else { return .notSupported }
            return platform.sensorPoller.requestReading(platform, agent: agent, sensor: index, command: currentHeader)
        }
        switch platform.readSensor(index, agent: agent) {
        case .success(let value):
            reply.append(UInt64(bitPattern: value))
            reply.append(UInt64(0))
            return .success
        case .failure(let status):
            return status
        }
    }

    /// SENSOR_TRIP_POINT_CONFIG (with P2A): +0 sensor_id, +4
    /// trip_point_ev_ctrl (11:4 trip id, 1:0 event control), +8 value (64
    /// bits, signed). Per agent; a trip id past the last one, or reserved
    /// bits, INVALID_PARAMETERS. An armed trip point makes the poller read
    /// the sensor at its interval.
    fileprivate func tripPointConfig(_ payload: Payload) -> SCMIStatus {
        guard let index = sensorIndex(payload.word(0)) else { return .notFound }
        let control = payload.word(1)
        let point = TripPoint(control: UInt8(control & SensorProtocol.tripControlMask), value: Int64(bitPattern: payload.uint64(lowWord: 2)))
        let holders = sensors[index].devices
        let status: SCMIStatus = platform.state.withLock { locked in
            guard mayUse(locked, SensorProtocol.id, holders: holders) else { return .denied }
            guard control & ~SensorProtocol.tripConfigKnownBits == 0 else { return .invalidParameters }
            let trip = Int(control >> SensorProtocol.tripIDShift & 0xFF)
            guard trip < SensorProtocol.tripPointCount else { return .invalidParameters }
            platform.sensorState(&locked).pointee.setTrip(trip, point, sensor: index, agent: agent)
            return .success
        }
        if status.isSuccess, point.control != 0 { platform.sensorPoller.rescan(platform) }
        return status
    }

    /// SENSOR_TRIP_POINT_NOTIFY and SENSOR_CONTINUOUS_UPDATE_NOTIFY; a new
    /// continuous-update subscription makes the poller read the sensor.
    fileprivate func sensorSubscribe(_ event: Int, _ payload: Payload) -> SCMIStatus {
        let status = subscribe(SensorProtocol.self, event: event, payload)
        if status.isSuccess, event == SensorProtocol.updateEvent, payload.word(1) & 1 != 0 { platform.sensorPoller.rescan(platform) }
        return status
    }

    /// +0 sensor_id, +4 index → one discrete interval, the sensor's own.
    fileprivate func listUpdateIntervals(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = sensorIndex(payload.word(0)) else { return .notFound }
        guard payload.word(1) == 0 else { return .outOfRange }
        let interval = sensors[index].interval
        reply.append(DescribePage(returned: 1, remaining: 0).word)
        // 20:5 seconds, 4:0 signed exponent.
        reply.append(UInt32(interval.seconds) << 5 | UInt32(UInt8(bitPattern: interval.exponent) & 0x1F))
        return .success
    }

    /// This agent's config: 31:16 seconds, 15:11 exponent, bit 0 enabled.
    fileprivate func sensorConfigGet(_ payload: Payload, _ reply: inout Reply) -> SCMIStatus {
        guard let index = sensorIndex(payload.word(0)) else { return .notFound }
        let holders = sensors[index].devices
        let enabled: Bool? = platform.state.withLock { locked in
            mayUse(locked, SensorProtocol.id, holders: holders)
                ? state(SensorProtocol.self, &locked).pointee.isEnabled(sensor: index, agent: agent) : nil
        }
        guard let enabled else { return .denied }
        let interval = sensors[index].interval
        reply.append(UInt32(interval.seconds) << 16 | UInt32(UInt8(bitPattern: interval.exponent) & 0x1F) << 11
            | (enabled ? SensorProtocol.configEnabled : 0))
        return .success
    }

    /// +0 sensor_id, +4 config: bit 0 enabled; the interval 0 (kept) or the
    /// sensor's own (another: OUT_OF_RANGE); timestamp (bit 1), rounding
    /// (10:9) or reserved bits: INVALID_PARAMETERS.
    fileprivate func sensorConfigSet(_ payload: Payload) -> SCMIStatus {
        guard let index = sensorIndex(payload.word(0)) else { return .notFound }
        let config = payload.word(1)
        let sensor = sensors.baseAddress.unsafelyUnwrapped + index
        return platform.state.withLock { locked in
            guard mayUse(locked, SensorProtocol.id, holders: sensor.pointee.devices) else { return .denied }
            guard config & ~(SensorProtocol.configIntervalMask | SensorProtocol.configEnabled) == 0 else { return .invalidParameters }
            let interval = config & SensorProtocol.configIntervalMask
            guard interval == 0 || SensorProtocol.sameInterval(interval, as: sensor.pointee.interval) else { return .outOfRange }
            state(SensorProtocol.self, &locked).pointee.setEnabled(config & SensorProtocol.configEnabled != 0, sensor: index, agent: agent)
            return .success
        }
    }
}
