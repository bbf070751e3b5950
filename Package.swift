// swift-tools-version:6.1
//
// One module per layer. docs/architecture.md draws the dependencies declared
// below (A --> B: B is in A's dependencies) and, apart, the data flow;
// scripts/check-architecture.sh fails when it and this file disagree.
import PackageDescription

let package = Package(
    name: "scmi-dt",
    products: [
        .executable(name: "scmi-dt", targets: ["scmi-dt"]),
        // Every library module, for the nested Benchmarks/ package.
        .library(
            name: "SCMIDTKit",
            targets: ["SCMIWire", "DeviceTree", "ResourceTables", "BackendModel", "BoardInventory", "SCMIPlatform", "SCMIClient", "Virtqueue", "LinuxIO", "VhostUser", "VirtioSCMI", "SCMIUpstream", "ServeRuntime"]
        ),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C shim over Debian's libfdt-dev.
        .systemLibrary(name: "CLibFDT", path: "Sources/CLibFDT"),
        // A validated blob as nodes, paths, typed properties, phandles.
        .target(name: "DeviceTree", dependencies: ["CLibFDT"]),
        // SCMI on the wire: header, status, limits, protocol and message ids, codecs.
        .target(name: "SCMIWire"),
        // Plain value types: the resolved tables a backend serves.
        .target(name: "ResourceTables", dependencies: ["SCMIWire"]),
        // The arm,scmi-vio-backend binding: parse, validate, resolve; diagnostics.
        .target(
            name: "BackendModel",
            dependencies: ["DeviceTree", "ResourceTables", .product(name: "Yams", package: "Yams")],
            resources: [.embedInCode("Resources/arm,scmi-vio-backend.yaml")]
        ),
        // A real board's providers and consumers (inventory) and the backend overlay for chosen devices (scaffold).
        .target(name: "BoardInventory", dependencies: ["DeviceTree"]),
        // SCMI messages in, SCMI messages out; one file per protocol.
        .target(name: "SCMIPlatform", dependencies: ["SCMIWire", "ResourceTables", "LinuxIO"]),
        // Agent-side SCMI: typed commands over any byte transport.
        .target(name: "SCMIClient", dependencies: ["SCMIWire"]),

        // serve's side of the firmware that owns upstream resources: links (vhost-user, raw mode), facts, the upstream host.
        .target(
            name: "SCMIUpstream",
            dependencies: ["SCMIClient", "SCMIWire", "ResourceTables", "SCMIPlatform", "VhostUser", "LinuxIO", .product(name: "Logging", package: "swift-log")]
        ),
        // eventfd, memfd, SCM_RIGHTS macros and ring atomics: what Glibc's module hides;
        // and in C, the SIGBUS handler that guards mapped guest memory.
        .target(name: "CLinuxShim"),
        // Typed file descriptors, Unix sockets, eventfd, memfd, named threads: the Linux layer.
        .target(name: "LinuxIO", dependencies: ["CLinuxShim"]),
        // Guest memory, split rings, descriptor chains (device and driver side).
        .target(name: "Virtqueue", dependencies: ["CLinuxShim"]),
        // vhost-user socket protocol, backend and frontend; knows nothing of SCMI.
        .target(name: "VhostUser", dependencies: ["Virtqueue", "LinuxIO", "CLinuxShim", .product(name: "Logging", package: "swift-log")]),
        // The virtio-scmi device: cmdq chains <-> SCMIPlatform.
        .target(
            name: "VirtioSCMI",
            dependencies: ["Virtqueue", "VhostUser", "SCMIPlatform", .product(name: "Logging", package: "swift-log")]
        ),
        // The serve runtime: listeners per agent, reload, the control socket, status reports.
        .target(
            name: "ServeRuntime",
            dependencies: ["BackendModel", "ResourceTables", "SCMIPlatform", "SCMIUpstream", "LinuxIO", "VhostUser", "VirtioSCMI", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "scmi-dt",
            dependencies: [
                "DeviceTree", "BackendModel", "BoardInventory", "ResourceTables", "SCMIPlatform", "SCMIClient",
                "LinuxIO", "VhostUser", "SCMIUpstream", "ServeRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Large valid backend trees for benchmarks (libfdt's writer; dtc cannot do 10k siblings).
        .executableTarget(
            name: "scmi-dt-gen-tree",
            dependencies: ["DeviceTree", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        .testTarget(name: "SCMIWireTests", dependencies: ["SCMIWire"]),
        // What several test targets share (seeded generators, tool lookup); never in a product.
        .target(name: "TestKit", dependencies: ["Virtqueue", "VhostUser", "SCMIClient"], path: "Tests/TestKit"),
        .testTarget(name: "DeviceTreeTests", dependencies: ["DeviceTree", "CLibFDT", "TestKit"]),
        .testTarget(name: "BackendModelTests", dependencies: ["BackendModel", "DeviceTree", "ResourceTables", "TestKit"]),
        .testTarget(name: "BoardInventoryTests", dependencies: ["BoardInventory", "BackendModel", "DeviceTree", "TestKit"]),
        .testTarget(name: "SCMIPlatformTests", dependencies: ["SCMIPlatform", "ResourceTables"]),
        .testTarget(name: "SCMIClientTests", dependencies: ["SCMIClient", "SCMIPlatform", "ResourceTables"]),
        .testTarget(
            name: "SCMIUpstreamTests",
            dependencies: ["SCMIUpstream", "SCMIClient", "SCMIPlatform", "ResourceTables", "VhostUser", "VirtioSCMI", "LinuxIO", "TestKit", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "VirtqueueTests", dependencies: ["Virtqueue"]),
        .testTarget(name: "LinuxIOTests", dependencies: ["LinuxIO"]),
        .testTarget(name: "VhostUserTests", dependencies: ["VhostUser", "LinuxIO", "Virtqueue", "TestKit"]),
        .testTarget(name: "VirtioSCMITests", dependencies: ["VirtioSCMI", "VhostUser", "Virtqueue", "SCMIPlatform", "SCMIClient", "ResourceTables", "TestKit"]),
        // Run the built scmi-dt binary end to end (examples, serve + call).
        // The serve runtime in process: real dtc blobs, real frontend and client, reload, control socket, host hooks.
        .testTarget(
            name: "ServeRuntimeTests",
            dependencies: ["ServeRuntime", "BackendModel", "ResourceTables", "SCMIPlatform", "SCMIClient", "LinuxIO", "VhostUser", "TestKit", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "CLITests", dependencies: ["scmi-dt", "DeviceTree", "LinuxIO", "VhostUser", "SCMIClient", "SCMIPlatform", "TestKit"]),
    ]
)
