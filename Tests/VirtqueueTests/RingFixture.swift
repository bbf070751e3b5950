import Virtqueue

/// Plain process memory standing in for guest RAM: one or more regions at chosen
/// guest-physical addresses, a driver-side ring at the start of the first region,
/// and a device-side queue over the same bytes.
final class RingFixture {
    struct Allocation {
        let base: UnsafeMutableRawPointer
        let size: Int
        let guestPhysicalAddress: UInt64
    }

    let allocations: [Allocation]
    let memory: GuestMemory
    let driver: DriverQueue
    let size: Int
    /// Guest-physical address of the buffer area (after the ring) in region 0.
    let bufferAreaAddress: UInt64
    private var nextBufferOffset = 0
    static let ringAreaSize = 16384

    init(size: Int = 8, regionSizes: [Int] = [65536], regionAddresses: [UInt64]? = nil, eventIndex: Bool = false) {
        var allocations: [Allocation] = []
        var gpa: UInt64 = 0x4000_0000
        for (index, regionSize) in regionSizes.enumerated() {
            let base = UnsafeMutableRawPointer.allocate(byteCount: regionSize, alignment: 4096)
            base.initializeMemory(as: UInt8.self, repeating: 0xEE, count: regionSize)
            let address = regionAddresses?[index] ?? gpa
            allocations.append(Allocation(base: base, size: regionSize, guestPhysicalAddress: address))
            gpa = address + UInt64(regionSize)
        }
        self.allocations = allocations
        memory = try! GuestMemory(regions: allocations.map {
            GuestMemoryRegion(guestPhysicalAddress: $0.guestPhysicalAddress, size: UInt64($0.size),
                              userAddress: 0x7f00_0000_0000 + $0.guestPhysicalAddress, base: $0.base)
        })
        self.size = size
        driver = DriverQueue(size: size, area: allocations[0].base,
                             areaAddress: allocations[0].guestPhysicalAddress, eventIndex: eventIndex)
        bufferAreaAddress = allocations[0].guestPhysicalAddress + UInt64(Self.ringAreaSize)
    }

    deinit { for allocation in allocations { allocation.base.deallocate() } }

    func configuration(nextAvailIndex: UInt16 = 0, eventIndex: Bool = false, indirect: Bool = false,
                       notifyOnEmpty: Bool = false) -> DeviceQueueConfiguration
    {
        DeviceQueueConfiguration(
            size: size, descriptorTableAddress: driver.descriptorTableAddress,
            availRingAddress: driver.availRingAddress, usedRingAddress: driver.usedRingAddress,
            addressSpace: .guestPhysical, nextAvailIndex: nextAvailIndex, eventIndex: eventIndex,
            indirectDescriptors: indirect, notifyOnEmpty: notifyOnEmpty)
    }

    func makeDevice(nextAvailIndex: UInt16 = 0, eventIndex: Bool = false, indirect: Bool = false,
                    notifyOnEmpty: Bool = false) throws -> DeviceQueue
    {
        try DeviceQueue(configuration: configuration(nextAvailIndex: nextAvailIndex, eventIndex: eventIndex,
                                                     indirect: indirect, notifyOnEmpty: notifyOnEmpty),
                        memory: memory)
    }

    /// Local pointer of a guest-physical address in any region.
    func pointer(_ address: UInt64) -> UnsafeMutableRawPointer {
        for allocation in allocations where address >= allocation.guestPhysicalAddress
            && address < allocation.guestPhysicalAddress + UInt64(allocation.size)
        {
            return allocation.base + Int(address - allocation.guestPhysicalAddress)
        }
        fatalError("address outside the fixture")
    }

    /// A fresh buffer in region 0, filled with `bytes` (or with 0xAA when empty).
    func buffer(_ bytes: [UInt8], capacity: Int? = nil) -> DriverSegment {
        let length = capacity ?? bytes.count
        let address = bufferAreaAddress + UInt64(nextBufferOffset)
        nextBufferOffset += (length + 15) & ~15
        let local = pointer(address)
        local.initializeMemory(as: UInt8.self, repeating: 0xAA, count: length)
        bytes.withUnsafeBytes { local.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return DriverSegment(address: address, length: UInt32(length), writable: false)
    }

    func readable(_ bytes: [UInt8]) -> DriverSegment { buffer(bytes) }

    func writable(_ capacity: Int) -> DriverSegment {
        var segment = buffer([], capacity: capacity)
        segment.writable = true
        return segment
    }

    func bytes(at segment: DriverSegment, count: Int? = nil) -> [UInt8] {
        let local = pointer(segment.address)
        return Array(UnsafeRawBufferPointer(start: local, count: count ?? Int(segment.length)))
    }

    func add(_ segments: [DriverSegment]) -> UInt16 {
        segments.withUnsafeBufferPointer { driver.addChain($0)! }
    }

    /// Guest-physical address not covered by any region.
    var unmappedAddress: UInt64 { 0x1_0000_0000_0000 }
}

/// A handler that records what it saw and answers with the request reversed.
final class ReversingHandler {
    var requests: [[UInt8]] = []
    var writableLengths: [Int] = []
    var extraReported: UInt32 = 0

    func handle(_ chain: DescriptorChain) -> UInt32 {
        var request = [UInt8](repeating: 0, count: chain.readableLength)
        let gathered = request.withUnsafeMutableBytes { chain.gatherReadable(into: $0) }
        requests.append(Array(request[0..<gathered]))
        writableLengths.append(chain.writableLength)
        let answer = Array(request.reversed())
        let written = answer.withUnsafeBytes { chain.scatterWritable(from: $0) }
        return UInt32(written) + extraReported
    }
}
