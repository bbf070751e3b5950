@testable import BackendModel
import DeviceTree

/// A compiled tree and its backend node, for tests that drive the validator directly.
struct DeviceTreeFixture {
    let tree: FlattenedDeviceTree
    let backend: DeviceTreeNode

    init(_ bytes: [UInt8]) throws {
        tree = try FlattenedDeviceTree(bytes: bytes)
        guard let node = tree.node(atPath: backendPath) else { throw DTCFailed(message: "no backend in fixture") }
        backend = node
    }
}
