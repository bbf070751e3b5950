import ArgumentParser

/// `--format text|json`, shared by check and tables.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Writes to standard error (diagnostics that must not mix with a command's output).
func printError(_ text: String) {
    var stream = StandardError()
    print(text, to: &stream)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = writeStandardError(buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
private func writeStandardError(_ pointer: UnsafeMutableRawPointer, _ count: Int) -> Int { Glibc.write(2, pointer, count) }
#elseif canImport(Musl)
import Musl
private func writeStandardError(_ pointer: UnsafeMutableRawPointer, _ count: Int) -> Int { Musl.write(2, pointer, count) }
#endif
