import CDriftsync

/// The library's stable error codes (`driftsync_status_t`), plus `unknown` for a code this
/// binding does not know yet.
public enum ErrorCode: Int32, Sendable {
    case invalidArgument = 1
    case invalidSchema = 2
    case unknownClass = 3
    case unknownProperty = 4
    case typeMismatch = 5
    case objectNotFound = 6
    case duplicatePrimaryKey = 7
    case notInWriteTransaction = 8
    case writeOnFrozen = 9
    case breakingSchemaChange = 10
    case fileNotRealm = 11
    case fileFormatTooNew = 12
    case fileCorrupt = 13
    case fileIO = 14
    case busy = 15
    case closed = 16
    case indexOutOfRange = 17
    case alreadyInWriteTransaction = 18
    case sync = 19
    case clientReset = 20
    case timeout = 21
    case protocolError = 22
    case permissionDenied = 23
    case callbackFailed = 24
    case `internal` = 25
    /// The server refused the user's token (it ends the session; waits throw it at once).
    case authentication = 26
    case nullArgument = 1000
    case invalidUTF8 = 1001
    case panic = 1002
    case unknown = -1
}

/// An error from the library: its code, its message and, for `.clientReset`, the reset cause as
/// the server spells it (e.g. "server_restored"; nil otherwise).
public struct DriftsyncError: Error, CustomStringConvertible, Sendable {
    public let code: ErrorCode
    /// The numeric status as the C ABI returned it (equal to `code.rawValue` unless unknown).
    public let status: Int32
    public let message: String
    public let cause: String?

    public init(code: ErrorCode, message: String, cause: String? = nil) {
        self.code = code
        self.status = code.rawValue
        self.message = message
        self.cause = cause
    }

    init(status: driftsync_status_t, error: OpaquePointer?) {
        let raw = Int32(bitPattern: status.rawValue)
        self.status = raw
        self.code = ErrorCode(rawValue: raw) ?? .unknown
        if let error {
            self.message = swiftString(driftsync_error_message(error))
            let cause = swiftString(driftsync_error_cause(error))
            self.cause = cause.isEmpty ? nil : cause
        } else {
            self.message = String(cString: driftsync_status_name(raw))
            self.cause = nil
        }
    }

    public var description: String { "\(code) (\(status)): \(message)" }

    static func closed() -> DriftsyncError {
        DriftsyncError(code: .closed, message: "the realm is closed (or was lent to a callback that has returned)")
    }
}

typealias ErrorOut = UnsafeMutablePointer<OpaquePointer?>

/// Runs one fallible C call; a status other than OK becomes a thrown `DriftsyncError` (the
/// native error is read, then freed).
func check(_ body: (ErrorOut) -> driftsync_status_t) throws {
    var error: OpaquePointer?
    let status = withUnsafeMutablePointer(to: &error) { body($0) }
    defer { driftsync_error_free(error) }
    if status != DRIFTSYNC_STATUS_OK {
        throw DriftsyncError(status: status, error: error)
    }
}
