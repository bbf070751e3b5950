import Dispatch

/// Work started on another thread now and collected later, so that on a machine with a second
/// CPU a large tree's `check` takes both: the second half of the devices read, the structural
/// pass and the host-users walk beside the resolution (on `check`'s lane), the second half of
/// the findings rendered. All of them only read what is immutable (the tree, or its twin; the
/// schema; the model read so far).
final class BackgroundWork<Value: Sendable>: @unchecked Sendable {
    // Written once by the worker before `finished` is signalled, read once after `wait()`
    // returns: the semaphore orders the two, so no lock is needed.
    private var value: Value?
    private let finished = DispatchSemaphore(value: 0)

    /// Starts `work` on `queue`: by default a global queue, which starts it at once; `check`
    /// puts the work that runs beside its resolution on one serial queue of its own, so that it
    /// takes the second CPU one piece after another rather than both from the resolution.
    init(on queue: DispatchQueue = .global(), _ work: @escaping @Sendable () -> Value) {
        queue.async {
            self.value = work()
            self.finished.signal()
        }
    }

    /// The work's result, once it has finished; call it once.
    func wait() -> Value {
        finished.wait()
        return value!
    }
}
