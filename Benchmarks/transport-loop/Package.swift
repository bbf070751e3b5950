// swift-tools-version:6.1
//
// serve's data path in a loop, one process per run, so that
// Benchmarks/transport-ab.sh can run two builds in turn and report their ratio. No benchmark framework: it builds offline against the package
// two directories up (or whichever tree the script copies it into).
import PackageDescription

let package = Package(
    name: "transport-loop",
    dependencies: [
        .package(name: "scmi-dt", path: "../.."),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .executableTarget(
            name: "transport-loop",
            dependencies: [
                .product(name: "SCMIDTKit", package: "scmi-dt"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources"
        ),
    ]
)
