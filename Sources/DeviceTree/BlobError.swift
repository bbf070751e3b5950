import CLibFDT

/// Why a blob cannot be used as a flattened devicetree.
///
/// `code` is libfdt's own name for the failure (`FDT_ERR_TRUNCATED`, `FDT_ERR_BADMAGIC`, …) so a
/// user can look it up, or `UNREADABLE` / `EMPTY` for failures before libfdt ever sees the bytes.
/// `message` says in words what is wrong and where (header field, block, offset, path).
public struct BlobError: Error, CustomStringConvertible, Sendable, Equatable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// An error for a negative libfdt return value, named after its `FDT_ERR_*` constant.
    public init(libfdt returnValue: Int32, _ message: String) {
        self.code = BlobError.libfdtName(returnValue)
        self.message = "\(message): \(BlobError.libfdtText(returnValue))"
    }

    public var description: String { "\(message) [\(code)]" }

    /// libfdt's constant name for an error code (negative, as libfdt returns it, or positive).
    public static func libfdtName(_ returnValue: Int32) -> String {
        let names = [
            "", "FDT_ERR_NOTFOUND", "FDT_ERR_EXISTS", "FDT_ERR_NOSPACE", "FDT_ERR_BADOFFSET",
            "FDT_ERR_BADPATH", "FDT_ERR_BADPHANDLE", "FDT_ERR_BADSTATE", "FDT_ERR_TRUNCATED",
            "FDT_ERR_BADMAGIC", "FDT_ERR_BADVERSION", "FDT_ERR_BADSTRUCTURE", "FDT_ERR_BADLAYOUT",
            "FDT_ERR_INTERNAL", "FDT_ERR_BADNCELLS", "FDT_ERR_BADVALUE", "FDT_ERR_BADOVERLAY",
            "FDT_ERR_NOPHANDLES", "FDT_ERR_BADFLAGS", "FDT_ERR_ALIGNMENT",
        ]
        let magnitude = returnValue.magnitude
        if magnitude > 0, magnitude < names.count { return names[Int(magnitude)] }
        return "FDT_ERR_\(magnitude)"
    }

    /// libfdt's own sentence for an error code (`fdt_strerror`).
    public static func libfdtText(_ returnValue: Int32) -> String {
        let errval = returnValue > 0 ? -returnValue : returnValue
        guard let text = fdt_strerror(errval) else { return "libfdt error \(errval)" }
        return String(cString: text)
    }
}
