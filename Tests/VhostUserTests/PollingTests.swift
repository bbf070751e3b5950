import Glibc
import TestKit
import Testing
@testable import VhostUser
import Virtqueue

/// The ring worker's polling after a batch (`RingPolling`): whatever the window,
/// every request is answered, and an idle worker arms kicks and sleeps, so a
/// request that comes later is still served.
@Suite struct PollingTests {
    static let policies: [RingPolling] = [
        .off, .standard, RingPolling(maximumMicroseconds: 2_000, adaptive: false),
    ]

    @Test(arguments: policies)
    func servesEveryRequestThenArmsKicksWhenIdle(_ policy: RingPolling) throws {
        let fixture = try BackendFixture(ringPolling: policy)
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions(slots: 16))
        defer { frontend.close() }
        // Batches of every size, back to back: served while the worker polls or sleeps.
        var served = 0
        for round in 0..<40 {
            let requests = (0...(round % 16)).map { [UInt8(round), UInt8($0), 0xA5] }
            let answers = try frontend.exchange(requests: requests, responseCapacity: 8)
            #expect(answers == requests.map { Array($0.reversed()) }, "round \(round)")
            served += requests.count
        }
        #expect(fixture.device(0).calls.load(ordering: .relaxed) == served)

        // Idle: the worker stops polling, arms kicks (avail_event reaches the
        // driver's index) and sleeps on the kick eventfd...
        let driver = frontend.driverQueue(0)
        #expect(fixture.eventually { driver.availEvent == driver.availIndex })
        // ...and the next request kicks it awake.
        #expect(try frontend.exchange(request: [1, 2, 3], responseCapacity: 8) == [3, 2, 1])
        #expect(fixture.device(0).calls.load(ordering: .relaxed) == served + 1)
    }

    /// A stop while the worker polls ends the connection like any other stop.
    @Test func stopEndsAPollingWorker() throws {
        let fixture = try BackendFixture(ringPolling: RingPolling(maximumMicroseconds: 10_000, adaptive: false))
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: frontendOptions())
        #expect(try frontend.exchange(request: [7], responseCapacity: 4) == [7])
        fixture.backend.stop()  // within the 10 ms window after that answer, most likely
        #expect(fixture.waitUntilDisconnected())
        #expect(fixture.device(0).closed.load(ordering: .relaxed) == 1)
        frontend.close()
    }

    /// The adaptive window: a kick that comes soon after the worker fell asleep
    /// (a longer poll would have caught it) doubles the window, up to the maximum;
    /// a long sleep (an idle guest), or another task taking the CPU during a poll,
    /// halves it, down to no polling at all; and from nothing it grows again. A
    /// fixed window stays as set.
    @Test func adaptiveWindowFollowsTheGuest() {
        var window = PollWindow(RingPolling(maximumMicroseconds: 50))
        #expect(window.current == 50_000)
        for _ in 0..<10 { window.slept(1_000_000) }  // 1 ms each: idle
        #expect(window.current == 0)
        window.slept(20_000)  // a kick 20 µs after sleeping
        #expect(window.current == PollWindow.growStart)
        for _ in 0..<20 { window.slept(20_000) }
        #expect(window.current == 50_000)

        // Another task took the CPU while the worker polled: the window halves, to nothing.
        window.contended()
        #expect(window.current == 25_000)
        for _ in 0..<10 { window.contended() }
        #expect(window.current == 0)

        var fixed = PollWindow(RingPolling(maximumMicroseconds: 50, adaptive: false))
        fixed.contended()
        for _ in 0..<10 { fixed.slept(1_000_000) }
        #expect(fixed.current == 50_000)
        var off = PollWindow(.off)
        off.slept(10)
        #expect(off.current == 0)
    }
}

extension RingPolling: CustomTestStringConvertible {
    public var testDescription: String {
        maximumMicroseconds == 0 ? "off" : "\(adaptive ? "adaptive" : "fixed") \(maximumMicroseconds) us"
    }
}
