import CLinuxShim
import Glibc

/// A joinable POSIX thread running one closure. The backend's accept, control and
/// ring-worker threads are plain threads (not Swift tasks): they block in
/// accept/recvmsg/read by design, which must never happen on the cooperative pool.
public final class NativeThread: @unchecked Sendable {
    // @unchecked: `handle` is written once in init and read only by join(), which
    // the owner calls at most once, from one thread.
    private var handle = pthread_t()
    private var joined = false

    private final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new thread named `name` (first 15 bytes are kept).
    public init(name: String, body: @escaping @Sendable () -> Void) throws(LinuxIOError) {
        let box = Unmanaged.passRetained(Box(name: name, body: body))
        let result = pthread_create(&handle, nil, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            shim_set_thread_name(box.name)
            box.body()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw .system(call: "pthread_create", errno: result)
        }
    }

    /// Waits for the thread to finish. Must not be called from the thread itself.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }

    /// Whether the caller is this thread.
    public var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }
}
