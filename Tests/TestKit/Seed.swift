import Foundation

/// A tiny deterministic generator (SplitMix64), so randomised tests reproduce.
public struct SplitMix: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// The seed of a randomised test: $SCMI_DT_SEED when set (decimal or 0x-hex), else the test's
/// own fixed default, so a plain run is deterministic. Every failure message names the seed
/// (`"\(seed)"`); `SCMI_DT_SEED=<seed> swift test --filter <test>` replays it, and
/// `SCMI_DT_SEED=$RANDOM swift test` tries new inputs.
public struct TestSeed: CustomStringConvertible, Sendable {
    public let value: UInt64

    public init(default fallback: UInt64) throws {
        guard let text = ProcessInfo.processInfo.environment["SCMI_DT_SEED"] else {
            value = fallback
            return
        }
        let hex = text.lowercased().hasPrefix("0x")
        guard let parsed = hex ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text) else { throw BadSeed(text: text) }
        value = parsed
    }

    public var generator: SplitMix { SplitMix(seed: value) }
    public var description: String { "seed \(value) (SCMI_DT_SEED=\(value) replays it)" }
}

public struct BadSeed: Error, CustomStringConvertible {
    public var text: String
    public var description: String { "SCMI_DT_SEED=\(text) is not a number (decimal or 0x-hex)" }
}

/// The first executable `name` in $PATH (as a shell finds it).
public func findInPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = String(directory) + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// dtc as the shell finds it, /usr/bin/dtc when PATH has none.
public let dtcPath: String = findInPath("dtc") ?? "/usr/bin/dtc"
