import Logging
import Synchronization

/// Collects log lines so tests can check what an operator would read.
public final class LogRecorder: Sendable {
    public let lines = Mutex<[String]>([])

    public init() {}

    public func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }

    public var logger: Logger {
        Logger(label: "test-log") { _ in RecordingHandler(recorder: self) }
    }

    struct RecordingHandler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.lines.withLock { $0.append("\(event.level): \(event.message)") }
        }
    }
}
