// swift-tools-version:6.1
//
// Benchmarks for scmi-dt, kept out of the main package so that building and
// testing scmi-dt never needs the benchmark dependencies.
//
//   cd Benchmarks && swift package benchmark
import PackageDescription

let package = Package(
    name: "scmi-dt-benchmarks",
    dependencies: [
        .package(name: "scmi-dt", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.29.0", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Messages per second through one AgentSession on one core, and
        // mallocs per message (must be 0).
        .executableTarget(
            name: "Engine",
            dependencies: [
                .product(name: "SCMIDTKit", package: "scmi-dt"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Engine",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
        // serve's data path through the socket: round-trip latency with one
        // request in flight, throughput with 64 per kick, the eventfd ping-pong
        // floor, and mallocs per message over every thread.
        .executableTarget(
            name: "Transport",
            dependencies: [
                .product(name: "SCMIDTKit", package: "scmi-dt"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/Transport",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ]
)
