import CLinuxShim
import Glibc

/// How long a ring worker keeps looking at the available ring after a batch
/// before it sleeps on the kick eventfd (the idea of vhost's busyloop timeout and
/// of KVM's halt polling).
///
/// A sleep costs the guest a kick (an eventfd write, and in a VM an exit) and the
/// worker a wake-up, which on an idle vCPU takes 10-25 µs: for a guest that sends
/// its next request soon after the last answer, that is most of the round trip.
/// While the worker polls, kicks stay disarmed (EVENT_IDX: avail_event is not
/// advanced), so the guest does not kick at all. The poll is bounded by
/// `maximumMicroseconds` and, when `adaptive`, the window follows the guest:
/// it doubles (from 1 µs, up to the maximum) after each sleep that a longer poll
/// would have avoided (the kick came within the maximum), and halves after a
/// sleep longer than the maximum (an idle guest), down to no polling at all, and
/// after a poll during which another task took the CPU (vhost polls only while
/// nothing else is runnable there). So an idle guest costs at most a few windows
/// of CPU, then none, and a busy machine gets its CPU back.
///
/// Polling needs EVENT_IDX (what QEMU and Linux negotiate); without it the
/// worker sleeps after each batch as before.
public struct RingPolling: Sendable, Equatable {
    /// The longest a worker polls after a batch; 0 never polls.
    public var maximumMicroseconds: Int
    /// Adapt the window (see above); false: always poll for the maximum.
    public var adaptive: Bool

    public init(maximumMicroseconds: Int, adaptive: Bool = true) {
        self.maximumMicroseconds = max(0, maximumMicroseconds)
        self.adaptive = adaptive
    }

    /// Sleep after every batch: what `serve` does unless told otherwise (see
    /// docs/serve-choices.md for why polling is not the default).
    public static let off = RingPolling(maximumMicroseconds: 0)
    /// Adaptive, up to 50 µs (a few wake-ups' worth on the VMs scmi-dt runs on):
    /// what `serve --ring-poll-us 50` asks for.
    public static let standard = RingPolling(maximumMicroseconds: 50)
}

/// One worker's polling window, in nanoseconds, and how it adapts.
struct PollWindow {
    let maximum: UInt64
    let adaptive: Bool
    private(set) var current: UInt64
    /// Where an adaptive window starts growing again from nothing.
    static let growStart: UInt64 = 1_000

    init(_ policy: RingPolling) {
        maximum = UInt64(policy.maximumMicroseconds) * 1_000
        adaptive = policy.adaptive
        current = maximum
    }

    /// Another task took the worker's CPU while it polled: polling costs others
    /// there, so the window halves (adaptive only).
    mutating func contended() {
        guard adaptive else { return }
        current /= 2
        if current < Self.growStart { current = 0 }
    }

    /// The worker slept `nanoseconds` before a kick (or a stop) woke it.
    mutating func slept(_ nanoseconds: UInt64) {
        guard adaptive, maximum > 0 else { return }
        if nanoseconds <= maximum {
            current = current == 0 ? min(Self.growStart, maximum) : min(current * 2, maximum)
        } else {
            current /= 2
            if current < Self.growStart { current = 0 }
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds (vDSO: no system call).
@inline(__always) func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// Spins until `found()` holds (true) or `nanoseconds` pass (false), the one
/// busy-wait of both sides (a ring worker on its available ring, a frontend on
/// its used ring). Between looks the CPU is told it spins; every 32 looks the
/// clock is read and the thread yields, so that a thread waiting for this CPU
/// (the other side's, when they share one) runs.
@inline(__always) func spin(for nanoseconds: UInt64, until found: () -> Bool) -> Bool {
    let deadline = monotonicNanoseconds() &+ nanoseconds
    var looks: UInt32 = 0
    while true {
        if found() { return true }
        looks &+= 1
        if looks & 31 == 0 {
            if monotonicNanoseconds() >= deadline { return false }
            sched_yield()
        } else {
            shim_cpu_relax()
        }
    }
}
