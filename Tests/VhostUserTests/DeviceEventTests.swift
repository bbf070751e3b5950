import Dispatch
import Glibc
import Logging
import Synchronization
import TestKit
import Testing
import VhostUser
import Virtqueue

/// A `VhostUserEventDevice` that keeps every queue-0 chain until its wake
/// eventfd is written, then answers the kept chains (bytes reversed), and puts
/// the messages handed to `send` on queue 1, which it fills itself.
final class HoldingDevice: VhostUserEventDevice, @unchecked Sendable {
    // @unchecked: `held` is touched only on the connection's worker thread.
    let wake: Int32
    /// Written each time a chain is kept (the test waits on it).
    let heldSignal: Int32
    let outgoing = Mutex<[[UInt8]]>([])
    let completedLater = Atomic<Int>(0)
    let staleCompletions = Atomic<Int>(0)
    /// Answers from `DeviceRings` that contradict its contract (checked by the tests;
    /// no `#expect` here: this runs on the worker thread).
    let surprises = Atomic<Int>(0)
    let events = Mutex<[DeviceEvent]>([])
    private var held: [HeldChain] = []

    init() throws {
        wake = try EventNotifier.create(nonblocking: true)
        heldSignal = try EventNotifier.create()
        held.reserveCapacity(256)
    }

    deinit {
        close(wake)
        close(heldSignal)
    }

    /// From any thread: queue `message` for queue 1 and wake the worker.
    func send(_ message: [UInt8]) {
        outgoing.withLock { $0.append(message) }
        EventNotifier.signal(wake)
    }

    func eventSources(ackedFeatures: UInt64) -> DeviceEventSources {
        DeviceEventSources(filledQueues: [1], fileDescriptors: [wake])
    }

    func handle(chain: DescriptorChain, queueIndex: Int) -> UInt32 { 0 }  // not used: every chain is kept

    func handle(chain: DescriptorChain, queueIndex: Int, rings: DeviceRings) -> ChainDisposition {
        held.append(rings.hold(chain, queueIndex: queueIndex))
        EventNotifier.signal(heldSignal)
        return .held
    }

    func handleEvent(_ event: DeviceEvent, rings: DeviceRings) {
        events.withLock { $0.append(event) }
        if case .device(0) = event {
            _ = EventNotifier.consume(wake)
            for token in held {
                guard rings.isHeld(token) else {
                    staleCompletions.add(1, ordering: .relaxed)
                    if rings.complete(token, length: 1) { surprises.add(1, ordering: .relaxed) }
                    continue
                }
                let written = rings.withHeldChain(token) { chain in
                    withUnsafeTemporaryAllocation(byteCount: 512, alignment: 8) { buffer in
                        let count = chain.gatherReadable(into: buffer)
                        var bytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
                        bytes.reverse()
                        return UInt32(chain.scatterWritable(from: UnsafeRawBufferPointer(bytes)))
                    }
                }
                if !rings.complete(token, length: written ?? 0) { surprises.add(1, ordering: .relaxed) }
                if rings.complete(token, length: 0) { surprises.add(1, ordering: .relaxed) }  // only once
                completedLater.add(1, ordering: .relaxed)
            }
            held.removeAll(keepingCapacity: true)
        }
        while let message = outgoing.withLock({ $0.first }) {
            let sent = rings.fill(queueIndex: 1) { chain in
                UInt32(message.withUnsafeBytes { chain.scatterWritable(from: $0) })
            }
            guard sent else { break }  // no buffer yet: `.queueKicked(1)` comes when there is one
            outgoing.withLock { _ = $0.removeFirst() }
        }
    }

    func connectionClosed() {}
}

@Suite struct DeviceEventTests {
    final class Fixture {
        let path: String
        let backend: VhostUserBackend
        final class Devices: Sendable { let list = Mutex<[HoldingDevice]>([]) }
        let devices = Devices()
        let log = LogRecorder()
        static let counter = Atomic<Int>(0)

        init() throws {
            path = "/tmp/scmi-dt-vu-ev-\(getpid())-\(Self.counter.add(1, ordering: .relaxed).newValue).sock"
            let devices = self.devices
            backend = try VhostUserBackend(
                socketPath: path, device: VhostUserDeviceDescription(queueCount: 2, maxQueueSize: 1024),
                logger: log.logger,
                makeHandler: {
                    let device = try! HoldingDevice()
                    devices.list.withLock { $0.append(device) }
                    return device
                })
            try backend.start()
        }

        deinit { backend.stop() }

        func device() -> HoldingDevice? { devices.list.withLock { $0.first } }

        func frontend() throws -> VhostUserFrontend {
            var options = frontendOptions()
            options.startsEventQueue = true
            options.eventBufferCount = 0  // the test posts its own eventq buffers
            return try VhostUserFrontend(socketPath: path, options: options)
        }
    }


    /// A chain kept on queue 0 is completed later from the worker, after another
    /// thread wrote the device's eventfd; a message handed over from that thread
    /// lands in a buffer of queue 1 with its length, and queue 1's call fd fires.
    @Test func aHeldChainIsCompletedLaterAndTheDeviceFillsQueueOne() throws {
        let fixture = try Fixture()
        let frontend = try fixture.frontend()
        defer { frontend.close() }
        let device = try #require(fixture.device())

        frontend.requestBuffer(slot: 0).copyBytes(from: [1, 2, 3, 4, 5])
        try frontend.submit(slot: 0, requestLength: 5, responseCapacity: 16)
        frontend.kick()
        #expect(EventNotifier.wait(device.heldSignal, timeoutMilliseconds: 10_000))
        // Kept: nothing on the used ring yet.
        #expect(frontend.driverQueue(0).usedIndexInMemory == 0)

        let head = try #require(frontend.postEventBuffer(offset: 0, length: 64))
        let message: [UInt8] = Array(0..<40).map { UInt8($0 * 3 + 1) }
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { device.send(message) }
        group.wait()

        #expect(frontend.waitForCall(queue: 1, timeoutMilliseconds: 10_000))
        let used = try #require(frontend.driverQueue(1).popUsed())
        #expect(used == UsedElement(id: UInt32(head), length: UInt32(message.count)))
        let scratch = frontend.scratch(offset: 0).pointer
        #expect(Array(UnsafeRawBufferPointer(start: scratch, count: 64)) == message + [UInt8](repeating: 0xEE, count: 24))

        try frontend.waitForCompletions(timeoutMilliseconds: 10_000)
        var answers: [[UInt8]] = []
        #expect(frontend.collect { _, response in answers.append(Array(response)) } == 1)
        #expect(answers == [[5, 4, 3, 2, 1]])
        #expect(device.completedLater.load(ordering: .relaxed) == 1)
        #expect(device.events.withLock { $0.first } == .started)
        #expect(device.surprises.load(ordering: .relaxed) == 0)
    }

    /// A message that arrives before the driver posted any eventq buffer waits
    /// in the device; the kick that brings a buffer delivers it.
    @Test func aMessageWaitsForAnEventBuffer() throws {
        let fixture = try Fixture()
        let frontend = try fixture.frontend()
        defer { frontend.close() }
        let device = try #require(fixture.device())

        device.send([9, 8, 7])
        // Wait until the device saw the wake-up (its message found no buffer).
        #expect(fixtureEventually { device.events.withLock { $0.contains(.device(0)) } })
        #expect(device.outgoing.withLock { $0.count } == 1)
        let head = try #require(frontend.postEventBuffer(offset: 0, length: 8))
        #expect(frontend.waitForCall(queue: 1, timeoutMilliseconds: 10_000))
        #expect(frontend.driverQueue(1).popUsed() == UsedElement(id: UInt32(head), length: 3))
        #expect(Array(UnsafeRawBufferPointer(start: frontend.scratch(offset: 0).pointer, count: 4)) == [9, 8, 7, 0xEE])
        #expect(device.events.withLock { $0.contains(.queueKicked(1)) })
    }

    /// Disabling queue 0 stops the worker: a kept chain goes back with length 0
    /// (the driver waits for nothing), and its token is stale afterwards.
    @Test func stoppingTheRingReturnsKeptChainsEmpty() throws {
        let fixture = try Fixture()
        let frontend = try fixture.frontend()
        defer { frontend.close() }
        let device = try #require(fixture.device())

        frontend.requestBuffer(slot: 0).copyBytes(from: [1, 2])
        try frontend.submit(slot: 0, requestLength: 2, responseCapacity: 16)
        frontend.kick()
        #expect(EventNotifier.wait(device.heldSignal, timeoutMilliseconds: 10_000))

        try frontend.setVringEnable(0, false)  // acknowledged: the worker has stopped
        try frontend.waitForCompletions(timeoutMilliseconds: 10_000)
        var lengths: [Int] = []
        #expect(frontend.collect { _, response in lengths.append(response.count) } == 1)
        #expect(lengths == [0])

        // Queue 1 still runs on the restarted worker; the stale token is refused there.
        try frontend.setVringEnable(0, true)
        let head = try #require(frontend.postEventBuffer(offset: 0, length: 8))
        device.send([42])
        #expect(frontend.waitForCall(queue: 1, timeoutMilliseconds: 10_000))
        #expect(frontend.driverQueue(1).popUsed() == UsedElement(id: UInt32(head), length: 1))
        // The message may have gone out on the queue-1 kick before the wake-up was seen.
        #expect(fixtureEventually { device.staleCompletions.load(ordering: .relaxed) == 1 })
        #expect(device.completedLater.load(ordering: .relaxed) == 0)
        #expect(device.surprises.load(ordering: .relaxed) == 0)
    }

    /// Hostile rings under the device worker: a broken chain on the handled
    /// queue and one on the filled queue are returned with length 0 (the next
    /// good buffer still gets the message); an avail index jump on the filled
    /// queue stops that queue alone (its error fd fires) while queue 0 goes on.
    @Test func brokenChainsAndAFaultedFilledQueue() throws {
        let fixture = try Fixture()
        let frontend = try fixture.frontend()
        defer { frontend.close() }
        let device = try #require(fixture.device())

        frontend.driverQueue(0).makeAvailable(rawHead: 999)  // beyond the 256-entry queue
        frontend.kick()
        #expect(frontend.waitForCall(queue: 0, timeoutMilliseconds: 10_000))
        #expect(frontend.driverQueue(0).popUsed() == UsedElement(id: 999, length: 0))

        frontend.driverQueue(1).makeAvailable(rawHead: 1000)
        let head = try #require(frontend.postEventBuffer(offset: 0, length: 8))
        device.send([5, 6])
        let used = usedElements(frontend, queue: 1, count: 2)
        #expect(used == [UsedElement(id: 1000, length: 0), UsedElement(id: UInt32(head), length: 2)])
        #expect(fixture.backend.status.brokenChains == 2)

        frontend.driverQueue(1).storeAvailIndex(frontend.driverQueue(1).availIndex &+ 257)
        device.send([1])
        #expect(frontend.waitForError(queue: 1, timeoutMilliseconds: 10_000))

        frontend.requestBuffer(slot: 0).copyBytes(from: [7, 8, 9])
        try frontend.submit(slot: 0, requestLength: 3, responseCapacity: 16)
        frontend.kick()
        #expect(EventNotifier.wait(device.heldSignal, timeoutMilliseconds: 10_000))
        EventNotifier.signal(device.wake)
        try frontend.waitForCompletions(timeoutMilliseconds: 10_000)
        var answers: [[UInt8]] = []
        #expect(frontend.collect { _, response in answers.append(Array(response)) } == 1)
        #expect(answers == [[9, 8, 7]])
        #expect(device.surprises.load(ordering: .relaxed) == 0)
    }
}

/// Waits (bounded, only so a failure cannot hang the run) until `condition` holds.
func fixtureEventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<1000 {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}
