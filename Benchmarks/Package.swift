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
    ]
)
