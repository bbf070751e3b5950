import VhostUser
import Virtqueue

/// What a guest driver does on the rings, for tests that play the guest.
extension VhostUserFrontend {
    /// Collects `count` used elements of `queue` (and counts the calls waited for) as a driver
    /// does: pop, ask for a notification at the next one (EVENT_IDX), wait for the call only
    /// when nothing arrived meanwhile. Bounded waits; fewer elements on a timeout.
    public func usedElementsAndCalls(queue: Int, count: Int) -> (used: [UsedElement], calls: Int) {
        var used: [UsedElement] = []
        var calls = 0
        let ring = driverQueue(queue)
        while used.count < count {
            while let element = ring.popUsed() { used.append(element) }
            if used.count >= count || ring.prepareForNotification() { continue }
            guard waitForCall(queue: queue, timeoutMilliseconds: 10_000) else { break }
            calls += 1
        }
        return (used, calls)
    }

    /// One device-writable buffer of `length` bytes on queue 1 (the eventq) in the scratch
    /// area at `offset`, filled with 0xEE, published and kicked. Returns its head index.
    public func postEventBuffer(offset: Int, length: Int) -> UInt16? {
        let scratch = scratch(offset: offset)
        scratch.pointer.initializeMemory(as: UInt8.self, repeating: 0xEE, count: length)
        var segment = DriverSegment(address: scratch.guestAddress, length: UInt32(length), writable: true)
        let head = withUnsafePointer(to: &segment) { driverQueue(1).addChain(UnsafeBufferPointer(start: $0, count: 1)) }
        _ = driverQueue(1).publish()
        kick(queue: 1)
        return head
    }
}
