import Testing
import Virtqueue

@Suite struct GuestMemoryTests {
    @Test func translatesInsideARegionOnly() throws {
        let fixture = RingFixture(regionSizes: [4096])
        let memory = fixture.memory
        let base = fixture.allocations[0].base
        #expect(memory.pointer(guestPhysical: 0x4000_0000, count: 4096) == base)
        #expect(memory.pointer(guestPhysical: 0x4000_0ff0, count: 16) == base + 0xff0)
        #expect(memory.pointer(guestPhysical: 0x4000_0ff0, count: 17) == nil)
        #expect(memory.pointer(guestPhysical: 0x3fff_ffff, count: 1) == nil)
        #expect(memory.pointer(guestPhysical: 0x4000_1000, count: 0) == nil)
        #expect(memory.pointer(userAddress: 0x7f00_4000_0010, count: 8) == base + 0x10)
        #expect(memory.pointer(userAddress: 0x4000_0010, count: 8) == nil)
        #expect(memory.guestPhysicalAddress(ofUserAddress: 0x7f00_4000_0010) == 0x4000_0010)
    }

    @Test func arithmeticNearTheTopOfTheAddressSpaceDoesNotOverflow() throws {
        let fixture = RingFixture(regionSizes: [4096])
        let memory = fixture.memory
        #expect(memory.pointer(guestPhysical: 0x4000_0010, count: UInt64.max) == nil)
        #expect(memory.pointer(guestPhysical: UInt64.max, count: 2) == nil)
        #expect(memory.pointer(guestPhysical: UInt64.max - 4, count: 16) == nil)
    }

    @Test func aBufferStraddlingTwoAdjacentRegionsIsRefused() throws {
        let fixture = RingFixture(regionSizes: [4096, 4096])  // 0x4000_0000 and 0x4000_1000
        let memory = fixture.memory
        #expect(memory.pointer(guestPhysical: 0x4000_0ff8, count: 16) == nil)
        #expect(memory.pointer(guestPhysical: 0x4000_0ff8, count: 8) != nil)
        #expect(memory.pointer(guestPhysical: 0x4000_1000, count: 16) == fixture.allocations[1].base)
    }

    @Test func regionsThatWrapOrAreEmptyAreRejected() {
        let base = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
        defer { base.deallocate() }
        #expect(throws: GuestMemoryError.emptyRegion(index: 0)) {
            try GuestMemory(regions: [GuestMemoryRegion(guestPhysicalAddress: 0, size: 0, userAddress: 0, base: base)])
        }
        #expect(throws: GuestMemoryError.regionWrapsAround(index: 1)) {
            try GuestMemory(regions: [
                GuestMemoryRegion(guestPhysicalAddress: 0, size: 16, userAddress: 0, base: base),
                GuestMemoryRegion(guestPhysicalAddress: UInt64.max - 7, size: 16, userAddress: 0, base: base),
            ])
        }
    }
}
