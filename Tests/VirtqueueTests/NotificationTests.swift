import Testing
import Virtqueue

@Suite struct NotificationTests {
    func addOne(_ fixture: RingFixture) {
        _ = fixture.add([fixture.readable([1]), fixture.writable(1)])
    }

    @Test func vringNeedEventMatchesLinux() {
        // Notify iff the event index lies in [old, new).
        #expect(SplitRing.needsEvent(eventIndex: 5, new: 6, old: 5))
        #expect(!SplitRing.needsEvent(eventIndex: 5, new: 5, old: 4))
        #expect(SplitRing.needsEvent(eventIndex: 4, new: 10, old: 2))
        #expect(!SplitRing.needsEvent(eventIndex: 10, new: 10, old: 2))
        #expect(SplitRing.needsEvent(eventIndex: 0xFFFF, new: 1, old: 0xFFFE))  // across the wrap
        #expect(!SplitRing.needsEvent(eventIndex: 1, new: 1, old: 0xFFFE))
    }

    @Test func withoutEventIndexTheNoInterruptFlagIsHonoured() throws {
        let fixture = RingFixture()
        let device = try fixture.makeDevice()
        let handler = ReversingHandler()
        var notifications = 0
        addOne(fixture)
        _ = fixture.driver.publish()
        _ = device.serveAvailable(handle: handler.handle, notify: { notifications += 1 })
        #expect(notifications == 1)
        fixture.driver.availFlags = SplitRing.availFlagNoInterrupt
        addOne(fixture)
        _ = fixture.driver.publish()
        _ = device.serveAvailable(handle: handler.handle, notify: { notifications += 1 })
        #expect(notifications == 1)
        #expect(fixture.driver.usedIndexInMemory == 2)
    }

    @Test func notifyOnEmptyOverridesNoInterruptOnceTheRingIsDrained() throws {
        let fixture = RingFixture()
        let device = try fixture.makeDevice(notifyOnEmpty: true)
        fixture.driver.availFlags = SplitRing.availFlagNoInterrupt
        addOne(fixture)
        _ = fixture.driver.publish()
        var notifications = 0
        _ = device.serveAvailable(handle: ReversingHandler().handle, notify: { notifications += 1 })
        #expect(notifications == 1)
    }

    @Test func withEventIndexTheDeviceNotifiesOnlyWhenUsedPassesUsedEvent() throws {
        let fixture = RingFixture(size: 16, eventIndex: true)
        let device = try fixture.makeDevice(eventIndex: true)
        let handler = ReversingHandler()
        var notifications = 0
        func round(_ count: Int) {
            for _ in 0..<count { addOne(fixture) }
            _ = fixture.driver.publish()
            _ = device.serveAvailable(handle: handler.handle, notify: { notifications += 1 })
            while fixture.driver.popUsed() != nil {}
        }
        round(1)
        #expect(notifications == 1)  // the first publication always notifies
        fixture.driver.storeUsedEvent(3)  // "tell me when used element 3 is there"
        round(1)  // used 1 -> 2
        #expect(notifications == 1)
        round(1)  // used 2 -> 3
        #expect(notifications == 1)
        round(1)  // used 3 -> 4: element 3 is there
        #expect(notifications == 2)
        fixture.driver.storeUsedEvent(100)
        round(3)
        #expect(notifications == 2)
        #expect(fixture.driver.prepareForNotification() == false)  // sets used_event = 7
        round(1)
        #expect(notifications == 3)
    }

    /// A driver that polls the used ring suppresses notifications (EVENT_IDX:
    /// used_event held one behind; else NO_INTERRUPT) for as long as it polls,
    /// over many rounds, and gets the next one once it asks again.
    @Test(arguments: [true, false])
    func aPollingDriverSuppressesNotificationsUntilItAsksAgain(_ eventIndex: Bool) throws {
        let fixture = RingFixture(size: 16, eventIndex: eventIndex)
        let device = try fixture.makeDevice(eventIndex: eventIndex)
        let handler = ReversingHandler()
        var notifications = 0
        func round(_ count: Int, polling: Bool) {
            for _ in 0..<count { addOne(fixture) }
            _ = fixture.driver.publish()
            if polling { fixture.driver.suppressNotifications() }
            _ = device.serveAvailable(handle: handler.handle, notify: { notifications += 1 })
            #expect(fixture.driver.hasUsed)
            while fixture.driver.popUsed() != nil {}
            #expect(!fixture.driver.hasUsed)
        }
        round(1, polling: false)
        #expect(notifications == 1)
        for count in 1...40 { round(count % 8 + 1, polling: true) }
        #expect(notifications == 1)
        #expect(fixture.driver.prepareForNotification() == false)  // asks again: nothing there yet
        round(3, polling: false)
        #expect(notifications == 2)
    }

    @Test func withEventIndexTheDeviceAsksForTheNextKickAndTheDriverHonoursIt() throws {
        let fixture = RingFixture(size: 16, eventIndex: true)
        let device = try fixture.makeDevice(eventIndex: true)
        let handler = ReversingHandler()
        addOne(fixture)
        #expect(fixture.driver.publish())  // avail_event 0 lies in [0, 1): kick
        _ = device.serveAvailable(handle: handler.handle, notify: {})
        #expect(fixture.driver.availEvent == 1)  // "kick me once entry 1 is made available"
        addOne(fixture)
        addOne(fixture)
        #expect(fixture.driver.publish())  // 1 lies in [1, 3)
        // The device has not run: avail_event is still 1, so adding more needs no kick.
        addOne(fixture)
        #expect(!fixture.driver.publish())
        _ = device.serveAvailable(handle: handler.handle, notify: {})
        #expect(fixture.driver.availEvent == 4)
        #expect(handler.requests.count == 4)
    }
}
