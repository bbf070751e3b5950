import CLinuxShim
import Glibc

/// memfd: anonymous files in RAM that can be sized, mapped shared and passed to
/// another process (guest RAM as a frontend owns it).
public enum MemoryFile {
    /// A new memfd (close-on-exec) of `size` bytes, zero-filled.
    public static func create(name: String, size: Int) throws(LinuxIOError) -> FileDescriptor {
        let fd = shim_memfd_create(name)
        guard fd >= 0 else { throw .lastError("memfd_create") }
        guard ftruncate(fd, off_t(size)) == 0 else {
            let error = LinuxIOError.lastError("ftruncate of the memfd")
            closeQuietly(fd)
            throw error
        }
        return FileDescriptor(rawValue: fd)
    }

    /// The size of the file behind `fd` (fstat), for a memfd its current length.
    public static func size(of fd: FileDescriptor) throws(LinuxIOError) -> Int {
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else { throw .lastError("fstat") }
        return Int(info.st_size)
    }

    /// Maps `size` bytes of `fd` from offset 0, shared and read-write. Undo with `munmap`.
    public static func map(_ fd: FileDescriptor, size: Int) throws(LinuxIOError) -> UnsafeMutableRawPointer {
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.rawValue, 0), base != MAP_FAILED else {
            throw .lastError("mmap of the memfd")
        }
        return base
    }
}
