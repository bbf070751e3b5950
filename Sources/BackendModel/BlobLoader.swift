import DeviceTree
import Foundation

/// Opens a blob for `check`: a `.dtb` is read as is, a `.dts` is compiled
/// with the installed dtc first (into memory; nothing is written).
enum BlobLoader {
    static func load(_ path: String) throws(BlobError) -> FlattenedDeviceTree {
        if path.hasSuffix(".dts") {
            return try FlattenedDeviceTree(bytes: compile(dts: path))
        }
        return try FlattenedDeviceTree(contentsOf: path)
    }

    /// `dtc -q -I dts -O dtb path`, its output captured.
    static func compile(dts path: String) throws(BlobError) -> [UInt8] {
        guard FileManager.default.isReadableFile(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw BlobError(code: "UNREADABLE", message: exists ? "cannot read \(path)" : "\(path) does not exist")
        }
        guard let dtc = findExecutable("dtc") else {
            throw BlobError(
                code: "NO_DTC",
                message: "\(path) is devicetree source and dtc is not installed to compile it (apt-get install device-tree-compiler), or pass a .dtb")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: dtc)
        let directory = (path as NSString).deletingLastPathComponent
        process.arguments = ["-q", "-I", "dts", "-O", "dtb", "-i", directory.isEmpty ? "." : directory, "-o", "-", path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw BlobError(code: "NO_DTC", message: "cannot run \(dtc): \(error)")
        }
        // Read both pipes to the end before waiting, so a chatty dtc cannot block.
        let errorData = LockedData()
        let errorsRead = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errorData.set(errors.fileHandleForReading.readDataToEndOfFile())
            errorsRead.signal()
        }
        let blob = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        errorsRead.wait()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errorData.get(), as: UTF8.self).split(separator: "\n").prefix(5).joined(separator: "; ")
            throw BlobError(code: "DTC_FAILED", message: "dtc could not compile \(path): \(text.isEmpty ? "exit status \(process.terminationStatus)" : text)")
        }
        return [UInt8](blob)
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = String(directory) + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Data handed from the stderr reader thread; the lock makes the hand-over safe.
private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data ?? Data() }
}
