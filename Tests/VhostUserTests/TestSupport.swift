import Glibc
import Logging
import Synchronization
import TestKit
import Testing
import VhostUser
import Virtqueue

/// The trivial device behind the test backends: answers each request with its
/// bytes reversed. It knows nothing but bytes, like the transport.
final class ReversingDevice: VhostUserDeviceHandler, Sendable {
    let calls = Atomic<Int>(0)
    let closed = Atomic<Int>(0)
    let queuesSeen = Mutex<Set<Int>>([])
    /// How long each answer takes (a slow device: a driver's poll runs out first).
    let answerDelayMicroseconds: UInt32

    init(answerDelayMicroseconds: UInt32 = 0) { self.answerDelayMicroseconds = answerDelayMicroseconds }

    func handle(chain: DescriptorChain, queueIndex: Int) -> UInt32 {
        calls.add(1, ordering: .relaxed)
        if answerDelayMicroseconds > 0 { usleep(answerDelayMicroseconds) }
        queuesSeen.withLock { _ = $0.insert(queueIndex) }
        // Allocation-free like the real device: a fixed stack buffer.
        return withUnsafeTemporaryAllocation(byteCount: 512, alignment: 8) { buffer in
            let count = chain.gatherReadable(into: buffer)
            var bytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
            bytes.reverse()
            return UInt32(chain.scatterWritable(from: UnsafeRawBufferPointer(bytes)))
        }
    }

    func connectionClosed() { closed.add(1, ordering: .relaxed) }
}

/// The devices a backend made, one per connection, in order.
final class DeviceList: Sendable {
    let list = Mutex<[ReversingDevice]>([])
}

/// A running backend on a fresh socket path, with its devices and log.
final class BackendFixture {
    let path: String
    let backend: VhostUserBackend
    let log = LogRecorder()
    let devices = DeviceList()

    private static let counter = Atomic<Int>(0)

    init(deviceFeatures: UInt64 = 0, queueCount: Int = 2, ringPolling: RingPolling = .standard,
         answerDelayMicroseconds: UInt32 = 0) throws
    {
        let number = Self.counter.add(1, ordering: .relaxed).newValue
        path = "/tmp/scmi-dt-vu-\(getpid())-\(number).sock"
        let devices = self.devices
        backend = try VhostUserBackend(
            socketPath: path,
            device: VhostUserDeviceDescription(queueCount: queueCount, maxQueueSize: 1024,
                                               deviceFeatures: deviceFeatures),
            logger: log.logger,
            ringPolling: ringPolling,
            makeHandler: {
                let device = ReversingDevice(answerDelayMicroseconds: answerDelayMicroseconds)
                devices.list.withLock { $0.append(device) }
                return device
            })
        try backend.start()
    }

    deinit { backend.stop() }

    var deviceCount: Int { devices.list.withLock { $0.count } }
    func device(_ index: Int) -> ReversingDevice { devices.list.withLock { $0[index] } }

    /// Waits (generously, only to avoid hanging) until `condition` holds.
    @discardableResult
    func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<1000 {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    func waitUntilDisconnected() -> Bool { eventually { !backend.status.isConnected } }
}

func frontendOptions(eventIndex: Bool = true, indirect: Bool = true, slots: Int = 16) -> VhostUserFrontendOptions {
    var options = VhostUserFrontendOptions()
    options.queueSize = 256
    options.slotCount = slots
    options.bufferSize = 512
    options.wantedFeatures = (eventIndex ? VirtioFeatures.eventIndex : 0)
        | (indirect ? VirtioFeatures.indirectDescriptors : 0)
    options.completionTimeoutMilliseconds = 10_000
    return options
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Collects `count` used elements of `queue` as a driver does: pop, ask for a
/// notification at the next one (EVENT_IDX), wait for the call only when
/// nothing arrived meanwhile. Bounded waits; fewer elements on a timeout.
func usedElements(_ frontend: VhostUserFrontend, queue: Int, count: Int) -> [UsedElement] {
    frontend.usedElementsAndCalls(queue: queue, count: count).used
}

