import Logging
import ResourceTables
import SCMIPlatform
import Testing
import Virtqueue
@testable import VirtioSCMI

/// The virtio-scmi device between a real split ring (in process memory standing
/// in for guest RAM) and the real SCMI engine: how chains become SCMI replies.
@Suite struct SCMIChainHandlerTests {
    static let tables = PlatformTables(
        vendor: "TEST", protocols: [.clock],
        clocks: [ClockEntry(id: 0, name: "core", providerPath: "/ccu", specifier: [0],
                            rates: .range(min: 1_000_000, max: 100_000_000, step: 1_000_000), initialRate: 24_000_000)],
        devices: [DeviceEntry(id: 1, name: "dev", path: "/d", resources: [ResourceReference(.clock, 0)])],
        agents: [AgentEntry(id: 1, name: "guest", devices: [1], protocols: [.clock], trusted: false)]
    )

    /// Guest RAM, a driver ring at its start, buffers after it, and the device side.
    final class Ring {
        let memorySize = 65536
        let base: UnsafeMutableRawPointer
        let address: UInt64 = 0x4000_0000
        let driver: DriverQueue
        let device: DeviceQueue
        private var next = 8192

        init() throws {
            base = .allocate(byteCount: memorySize, alignment: 4096)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: memorySize)
            let memory = try GuestMemory(regions: [
                GuestMemoryRegion(guestPhysicalAddress: address, size: UInt64(memorySize), userAddress: 0x7f00_0000_0000, base: base)
            ])
            driver = DriverQueue(size: 16, area: base, areaAddress: address, eventIndex: false)
            device = try DeviceQueue(
                configuration: DeviceQueueConfiguration(
                    size: 16, descriptorTableAddress: driver.descriptorTableAddress, availRingAddress: driver.availRingAddress,
                    usedRingAddress: driver.usedRingAddress, addressSpace: .guestPhysical),
                memory: memory)
        }

        deinit { base.deallocate() }

        /// A buffer holding `bytes` (readable) or `capacity` bytes of room (writable).
        func segment(_ bytes: [UInt8] = [], capacity: Int? = nil) -> DriverSegment {
            let length = capacity ?? bytes.count
            let offset = next
            next += (length + 15) & ~15
            (base + offset).initializeMemory(as: UInt8.self, repeating: 0xEE, count: length)
            bytes.withUnsafeBytes { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            return DriverSegment(address: address + UInt64(offset), length: UInt32(length), writable: capacity != nil)
        }

        func bytes(of segment: DriverSegment, count: Int) -> [UInt8] {
            Array(UnsafeRawBufferPointer(start: base + Int(segment.address - address), count: count))
        }

        /// Puts one chain on the ring, lets `handler` serve queue `queue`, returns the used length.
        func serve(_ segments: [DriverSegment], with handler: SCMIChainHandler, queue: Int = 0) -> UInt32? {
            _ = segments.withUnsafeBufferPointer { driver.addChain($0) }
            _ = driver.publish()
            _ = device.serveAvailable(handle: { handler.handle(chain: $0, queueIndex: queue) }, notify: {})
            return driver.popUsed()?.length
        }
    }

    func makeHandler() -> (SCMIPlatform, SCMIChainHandler) {
        let platform = SCMIPlatform(tables: Self.tables)
        let handler = SCMIChainHandler(session: platform.makeSession(agentID: 1)!, agentName: "guest",
                                       logger: Logger(label: "test"), trace: false)
        return (platform, handler)
    }

    static func words(_ values: UInt32...) -> [UInt8] {
        values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    }

    static func header(_ protocolID: UInt32, _ messageID: UInt32, token: UInt32 = 5) -> UInt32 {
        messageID | protocolID << 10 | token << 18
    }

    /// Header and parameters in separate readable buffers, the reply spread over
    /// three writable ones: the device gathers and scatters in chain order.
    @Test func requestAndReplySplitOverSeveralDescriptors() throws {
        let ring = try Ring()
        let (_, handler) = makeHandler()
        let header = ring.segment(Self.words(Self.header(0x14, 0x6)))
        let parameter = ring.segment(Self.words(0))
        let first = ring.segment(capacity: 4), second = ring.segment(capacity: 3), rest = ring.segment(capacity: 64)
        #expect(ring.serve([header, parameter, first, second, rest], with: handler) == 16)
        let reply = ring.bytes(of: first, count: 4) + ring.bytes(of: second, count: 3) + ring.bytes(of: rest, count: 9)
        #expect(reply == Self.words(Self.header(0x14, 0x6), 0, 24_000_000, 0))
    }

    @Test func requestShorterThanAHeaderGetsALengthZeroUsedEntry() throws {
        let ring = try Ring()
        let (_, handler) = makeHandler()
        #expect(ring.serve([ring.segment([0x06, 0x50]), ring.segment(capacity: 64)], with: handler) == 0)
    }

    @Test func responseRoomUnderEightBytesGetsALengthZeroUsedEntry() throws {
        let ring = try Ring()
        let (_, handler) = makeHandler()
        #expect(ring.serve([ring.segment(Self.words(Self.header(0x10, 0))), ring.segment(capacity: 7)], with: handler) == 0)
    }

    /// Room for header and status but not for CLOCK_ATTRIBUTES' 24 bytes of values.
    @Test func replyThatDoesNotFitIsCommsError() throws {
        let ring = try Ring()
        let (_, handler) = makeHandler()
        let response = ring.segment(capacity: 8)
        #expect(ring.serve([ring.segment(Self.words(Self.header(0x14, 0x3), 0)), response], with: handler) == 8)
        #expect(ring.bytes(of: response, count: 8) == Self.words(Self.header(0x14, 0x3), UInt32(bitPattern: -7)))
    }

    /// Longer than header + 128 bytes: PROTOCOL_ERROR, whatever the command.
    @Test func oversizeRequestIsProtocolError() throws {
        let ring = try Ring()
        let (_, handler) = makeHandler()
        let request = Self.words(Self.header(0x10, 0)) + [UInt8](repeating: 0, count: 129)
        let response = ring.segment(capacity: 16)
        #expect(ring.serve([ring.segment(request), response], with: handler) == 8)
        #expect(ring.bytes(of: response, count: 8) == Self.words(Self.header(0x10, 0), UInt32(bitPattern: -10)))
    }

    /// Without P2A the eventq carries nothing: its buffers are never written.
    @Test func eventQueueBuffersAreNotAnswered() throws {
        let ring = try Ring()
        let (_, handler) = makeHandler()
        let buffer = ring.segment(capacity: 136)
        #expect(ring.serve([buffer], with: handler, queue: 1) == 0)
        #expect(ring.bytes(of: buffer, count: 4) == [0xEE, 0xEE, 0xEE, 0xEE])
    }

    /// The frontend went away: the agent's requests are withdrawn (once, however often told).
    @Test func closingTheConnectionWithdrawsRequests() throws {
        let ring = try Ring()
        let (platform, handler) = makeHandler()
        let set = Self.words(Self.header(0x14, 0x5), 0, 0, 50_000_000, 0)
        #expect(ring.serve([ring.segment(set), ring.segment(capacity: 16)], with: handler) == 8)
        #expect(platform.snapshot().resources(of: .clock)[0].value == 50_000_000)
        handler.connectionClosed()
        handler.connectionClosed()
        #expect(platform.snapshot().resources(of: .clock)[0].value == 24_000_000)
        #expect(platform.snapshot().resources(of: .clock)[0].requests.isEmpty)
    }
}
