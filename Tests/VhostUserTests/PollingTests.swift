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

/// The frontend's look at its used ring before it sleeps
/// (`VhostUserFrontendOptions.completionPolling`): while it looks, the backend
/// writes no call eventfd; when the look runs out, the frontend asks for a
/// notification and is woken by it; a backend that stopped polling is woken by
/// a kick.
@Suite struct CompletionPollingTests {
    /// A frontend whose look outlasts any answer (a fixed 2 s window) and a
    /// backend in each of its modes: from the second batch on, no call at all,
    /// with EVENT_IDX (used_event held behind) and without (NO_INTERRUPT).
    @Test(arguments: [(RingPolling.off, true), (.standard, true), (.off, false)])
    func pollingFrontendGetsRepliesWithoutCalls(_ backendPolling: RingPolling, _ eventIndex: Bool) throws {
        let fixture = try BackendFixture(ringPolling: backendPolling)
        var options = frontendOptions(eventIndex: eventIndex, slots: 16)
        options.completionPolling = RingPolling(maximumMicroseconds: 2_000_000, adaptive: false)
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: options)
        defer { frontend.close() }
        // Warm-up: the backend's first publish always notifies, and one decided
        // before the frontend's first look suppressed notifications may follow.
        // The worker writes a call before it serves the next batch, so once a
        // later answer is back, every such call is in the eventfd: drained here.
        for round in 0..<4 {
            #expect(try frontend.exchange(request: [1, UInt8(round)], responseCapacity: 8) == [UInt8(round), 1])
        }
        _ = frontend.waitForCall(queue: 0, timeoutMilliseconds: 0)
        for round in 0..<50 {
            let requests = (0...(round % 16)).map { [UInt8(round), UInt8($0), 0x5A] }
            #expect(try frontend.exchange(requests: requests, responseCapacity: 8) == requests.map { Array($0.reversed()) })
        }
        #expect(!frontend.waitForCall(queue: 0, timeoutMilliseconds: 0), "the backend wrote the call eventfd")
        #expect(fixture.device(0).calls.load(ordering: .relaxed) == 4 + (0..<50).reduce(0) { $0 + $1 % 16 + 1 })
    }

    /// A device slower than the frontend's look (20 ms against 10 µs): the
    /// look runs out, the frontend asks for a notification and sleeps, and the
    /// backend's call wakes it. Then the same with the look cut to nothing by
    /// the adaptive window (answers that always come after the maximum).
    @Test(arguments: [false, true])
    func frontendThatStopsPollingIsWoken(_ adaptive: Bool) throws {
        let fixture = try BackendFixture(ringPolling: .off, answerDelayMicroseconds: 20_000)
        var options = frontendOptions(slots: 4)
        options.completionPolling = RingPolling(maximumMicroseconds: 10, adaptive: adaptive)
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: options)
        defer { frontend.close() }
        // Each answer comes only through the call: after the look the frontend
        // no longer reads the used ring until woken (a frontend that left
        // notifications suppressed would time out here).
        for round in 0..<6 {
            let request: [UInt8] = [UInt8(round), 7, 9]
            #expect(try frontend.exchange(request: request, responseCapacity: 8) == [9, 7, UInt8(round)])
        }
    }

    /// Both sides poll; then both go idle past their windows: the backend arms
    /// kicks and sleeps, and the next request (kicked, since avail_event caught
    /// up) is answered.
    @Test func backendAnswersAKickAfterItsPollExpired() throws {
        let fixture = try BackendFixture(ringPolling: RingPolling(maximumMicroseconds: 100, adaptive: false))
        var options = frontendOptions(slots: 16)
        options.completionPolling = .standard
        let frontend = try VhostUserFrontend(socketPath: fixture.path, options: options)
        defer { frontend.close() }
        for round in 0..<20 {
            #expect(try frontend.exchange(request: [UInt8(round), 1], responseCapacity: 8) == [1, UInt8(round)])
        }
        let driver = frontend.driverQueue(0)
        #expect(fixture.eventually { driver.availEvent == driver.availIndex })
        #expect(try frontend.exchange(request: [4, 5, 6], responseCapacity: 8) == [6, 5, 4])
        #expect(fixture.device(0).calls.load(ordering: .relaxed) == 21)
    }
}

extension RingPolling: CustomTestStringConvertible {
    public var testDescription: String {
        maximumMicroseconds == 0 ? "off" : "\(adaptive ? "adaptive" : "fixed") \(maximumMicroseconds) us"
    }
}
