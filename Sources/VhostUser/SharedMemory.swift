import Glibc
import LinuxIO

/// Guest RAM as a frontend owns it: a memfd mapped shared into this process, known
/// to the device at a guest-physical base address (like QEMU's
/// `memory-backend-memfd,share=on`). Its fd is what SET_MEM_TABLE passes.
public final class SharedMemory {
    public let fileDescriptor: Int32
    public let base: UnsafeMutableRawPointer
    public let size: Int
    public let guestPhysicalAddress: UInt64

    /// The address this process has the memory at: the region's "userspace_addr".
    public var userAddress: UInt64 { UInt64(UInt(bitPattern: base)) }

    public init(size: Int, guestPhysicalAddress: UInt64, name: String = "vhost-user-guest-ram") throws {
        let file = try MemoryFile.create(name: name, size: size)
        let base: UnsafeMutableRawPointer
        do {
            base = try MemoryFile.map(file, size: size)
        } catch {
            file.closeQuietly()
            throw error
        }
        let fd = file.rawValue
        fileDescriptor = fd
        self.base = base
        self.size = size
        self.guestPhysicalAddress = guestPhysicalAddress
    }

    deinit {
        munmap(base, size)
        closeQuietly(fileDescriptor)
    }

    /// The local pointer of an offset.
    public func pointer(offset: Int) -> UnsafeMutableRawPointer { base + offset }
    /// The guest-physical address of an offset.
    public func guestAddress(offset: Int) -> UInt64 { guestPhysicalAddress + UInt64(offset) }
    /// The frontend user address of an offset (what SET_VRING_ADDR carries).
    public func userAddress(offset: Int) -> UInt64 { userAddress + UInt64(offset) }

    /// This memory as the one region of a memory table.
    public var regionDescription: MemoryRegionDescription {
        MemoryRegionDescription(guestPhysicalAddress: guestPhysicalAddress, size: UInt64(size),
                                userAddress: userAddress, mmapOffset: 0)
    }
}
