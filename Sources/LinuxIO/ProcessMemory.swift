import CLinuxShim

/// The process's own heap.
public enum ProcessMemory {
    /// Gives the heap's free memory back to the kernel (glibc's `malloc_trim(0)`). Freed
    /// memory otherwise stays mapped in the process, counted in its resident size, until
    /// the heap reuses it; a long-running server calls this after a burst of transient
    /// allocation (serve: after checking the blob and building the platform).
    public static func returnFreedHeap() {
        _ = shim_malloc_trim()
    }
}
