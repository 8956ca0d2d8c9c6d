//! The one error type of driftsync. Every kind has a stable numeric code that the C ABI and the
//! bindings expose unchanged; never renumber, only append.

use std::fmt;

/// Stable error codes. The numbers are part of the C ABI (`driftsync_status_t`).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidArgument = 1,
    InvalidSchema = 2,
    UnknownClass = 3,
    UnknownProperty = 4,
    TypeMismatch = 5,
    ObjectNotFound = 6,
    DuplicatePrimaryKey = 7,
    NotInWriteTransaction = 8,
    WriteOnFrozen = 9,
    BreakingSchemaChange = 10,
    FileNotRealm = 11,
    FileFormatTooNew = 12,
    FileCorrupt = 13,
    FileIo = 14,
    Busy = 15,
    Closed = 16,
    IndexOutOfRange = 17,
    AlreadyInWriteTransaction = 18,
    Sync = 19,
    ClientReset = 20,
    Timeout = 21,
    Protocol = 22,
    PermissionDenied = 23,
    CallbackFailed = 24,
    Internal = 25,
    /// The server did not accept the user's credentials (a wrong or expired token).
    Authentication = 26,
}

/// Every fallible driftsync call returns this.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    #[error("unknown class '{0}'")]
    UnknownClass(String),
    #[error("unknown property '{class}.{property}'")]
    UnknownProperty { class: String, property: String },
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    #[error("object not found: {class} with primary key {pk}")]
    ObjectNotFound { class: String, pk: String },
    #[error("an object of class '{class}' with primary key {pk} already exists")]
    DuplicatePrimaryKey { class: String, pk: String },
    #[error("this write needs a write transaction begun on this thread")]
    NotInWriteTransaction,
    #[error("cannot write to a frozen snapshot")]
    WriteOnFrozen,
    #[error("breaking schema change: {}", .0.join("; "))]
    BreakingSchemaChange(Vec<String>),
    #[error("'{0}' is not a driftsync realm file")]
    FileNotRealm(String),
    #[error("realm file format {found} is newer than this library supports ({supported})")]
    FileFormatTooNew { found: i64, supported: i64 },
    #[error("realm file is corrupt: {0}")]
    FileCorrupt(String),
    #[error("file error: {0}")]
    FileIo(String),
    #[error("busy: {0}")]
    Busy(String),
    #[error("the realm is closed")]
    Closed,
    #[error("index {index} out of range for a list of length {len}")]
    IndexOutOfRange { index: usize, len: usize },
    #[error("a write transaction is already open on this thread")]
    AlreadyInWriteTransaction,
    #[error("sync error: {0}")]
    Sync(String),
    #[error("client reset required ({cause}): {message}")]
    ClientReset { cause: String, message: String },
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("callback failed: {0}")]
    CallbackFailed(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("authentication failed: {0}")]
    Authentication(String),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        use Error::*;
        match self {
            InvalidArgument(_) => ErrorCode::InvalidArgument,
            InvalidSchema(_) => ErrorCode::InvalidSchema,
            UnknownClass(_) => ErrorCode::UnknownClass,
            UnknownProperty { .. } => ErrorCode::UnknownProperty,
            TypeMismatch(_) => ErrorCode::TypeMismatch,
            ObjectNotFound { .. } => ErrorCode::ObjectNotFound,
            DuplicatePrimaryKey { .. } => ErrorCode::DuplicatePrimaryKey,
            NotInWriteTransaction => ErrorCode::NotInWriteTransaction,
            WriteOnFrozen => ErrorCode::WriteOnFrozen,
            BreakingSchemaChange(_) => ErrorCode::BreakingSchemaChange,
            FileNotRealm(_) => ErrorCode::FileNotRealm,
            FileFormatTooNew { .. } => ErrorCode::FileFormatTooNew,
            FileCorrupt(_) => ErrorCode::FileCorrupt,
            FileIo(_) => ErrorCode::FileIo,
            Busy(_) => ErrorCode::Busy,
            Closed => ErrorCode::Closed,
            IndexOutOfRange { .. } => ErrorCode::IndexOutOfRange,
            AlreadyInWriteTransaction => ErrorCode::AlreadyInWriteTransaction,
            Sync(_) => ErrorCode::Sync,
            ClientReset { .. } => ErrorCode::ClientReset,
            Timeout(_) => ErrorCode::Timeout,
            Protocol(_) => ErrorCode::Protocol,
            PermissionDenied(_) => ErrorCode::PermissionDenied,
            CallbackFailed(_) => ErrorCode::CallbackFailed,
            Internal(_) => ErrorCode::Internal,
            Authentication(_) => ErrorCode::Authentication,
        }
    }

    pub(crate) fn unknown_property(class: &str, property: &str) -> Self {
        Error::UnknownProperty { class: class.to_string(), property: property.to_string() }
    }

    pub(crate) fn not_found(class: &str, pk: &impl fmt::Display) -> Self {
        Error::ObjectNotFound { class: class.to_string(), pk: pk.to_string() }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode as C;
        match &e {
            rusqlite::Error::SqliteFailure(f, msg) => {
                let detail = msg.clone().unwrap_or_else(|| f.to_string());
                match f.code {
                    C::DatabaseBusy | C::DatabaseLocked => Error::Busy(detail),
                    C::NotADatabase => Error::FileNotRealm(detail),
                    C::DatabaseCorrupt => Error::FileCorrupt(detail),
                    C::CannotOpen | C::PermissionDenied | C::ReadOnly | C::DiskFull | C::SystemIoFailure => Error::FileIo(detail),
                    _ => Error::Internal(format!("sqlite: {detail}")),
                }
            }
            _ => Error::Internal(format!("sqlite: {e}")),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::FileIo(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
