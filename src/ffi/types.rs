//! Status codes, the owned error, borrowed strings, primary keys and tagged values, and the panic
//! boundary every entry point goes through.

use crate::error::{Error, ErrorCode};
use crate::value::{ObjectId, PrimaryKey, Timestamp, Uuid, Value};
use std::any::Any;
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, addr_of};

/// The result of every fallible call. `DRIFTSYNC_STATUS_OK` is 0; codes 1 to 999 are the
/// library's stable error codes (never renumbered, only appended); codes from 1000 on are
/// reported by the C boundary itself.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum driftsync_status_t {
    /// Success.
    DRIFTSYNC_STATUS_OK = 0,
    /// An argument has a value the call cannot accept (an unknown enum value, a missing setting).
    DRIFTSYNC_STATUS_INVALID_ARGUMENT = 1,
    /// The schema is invalid (JSON syntax, duplicate names, bad primary key, bad link target).
    DRIFTSYNC_STATUS_INVALID_SCHEMA = 2,
    /// The class is not in the schema.
    DRIFTSYNC_STATUS_UNKNOWN_CLASS = 3,
    /// The property is not in the class.
    DRIFTSYNC_STATUS_UNKNOWN_PROPERTY = 4,
    /// A value, primary key or property kind does not match the schema.
    DRIFTSYNC_STATUS_TYPE_MISMATCH = 5,
    /// No object of this class has this primary key.
    DRIFTSYNC_STATUS_OBJECT_NOT_FOUND = 6,
    /// `create` found an object with this primary key already.
    DRIFTSYNC_STATUS_DUPLICATE_PRIMARY_KEY = 7,
    /// A write needs a write transaction begun on the calling thread.
    DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION = 8,
    /// A frozen snapshot cannot be written to.
    DRIFTSYNC_STATUS_WRITE_ON_FROZEN = 9,
    /// The schema differs from the file's in a way that is not additive.
    DRIFTSYNC_STATUS_BREAKING_SCHEMA_CHANGE = 10,
    /// The file is not a driftsync realm.
    DRIFTSYNC_STATUS_FILE_NOT_REALM = 11,
    /// The file was written by a newer library.
    DRIFTSYNC_STATUS_FILE_FORMAT_TOO_NEW = 12,
    /// The file is damaged.
    DRIFTSYNC_STATUS_FILE_CORRUPT = 13,
    /// The file or its directory cannot be read or written.
    DRIFTSYNC_STATUS_FILE_IO = 14,
    /// Another writer held the realm longer than the write timeout.
    DRIFTSYNC_STATUS_BUSY = 15,
    /// The realm handle is closed.
    DRIFTSYNC_STATUS_CLOSED = 16,
    /// A list index is out of range (also: an index into a change set or an object's fields).
    DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE = 17,
    /// The calling thread already has a write transaction open on this realm.
    DRIFTSYNC_STATUS_ALREADY_IN_WRITE_TRANSACTION = 18,
    /// A sync error.
    DRIFTSYNC_STATUS_SYNC = 19,
    /// The server demands a client reset.
    DRIFTSYNC_STATUS_CLIENT_RESET = 20,
    /// A wait timed out.
    DRIFTSYNC_STATUS_TIMEOUT = 21,
    /// The server spoke the protocol wrongly.
    DRIFTSYNC_STATUS_PROTOCOL = 22,
    /// The server refused the user.
    DRIFTSYNC_STATUS_PERMISSION_DENIED = 23,
    /// An application callback reported failure.
    DRIFTSYNC_STATUS_CALLBACK_FAILED = 24,
    /// A bug or an unexpected failure inside the library.
    DRIFTSYNC_STATUS_INTERNAL = 25,
    /// The server did not accept the user's credentials (a wrong or expired token).
    DRIFTSYNC_STATUS_AUTHENTICATION = 26,
    /// A required pointer argument was NULL.
    DRIFTSYNC_STATUS_NULL_ARGUMENT = 1000,
    /// A string argument was not valid UTF-8.
    DRIFTSYNC_STATUS_INVALID_UTF8 = 1001,
    /// The library panicked; the panic was caught at the boundary. The handles involved may be
    /// in an unspecified (but memory-safe) state.
    DRIFTSYNC_STATUS_PANIC = 1002,
}

use driftsync_status_t as S;

impl From<ErrorCode> for driftsync_status_t {
    fn from(c: ErrorCode) -> Self {
        match c {
            ErrorCode::InvalidArgument => S::DRIFTSYNC_STATUS_INVALID_ARGUMENT,
            ErrorCode::InvalidSchema => S::DRIFTSYNC_STATUS_INVALID_SCHEMA,
            ErrorCode::UnknownClass => S::DRIFTSYNC_STATUS_UNKNOWN_CLASS,
            ErrorCode::UnknownProperty => S::DRIFTSYNC_STATUS_UNKNOWN_PROPERTY,
            ErrorCode::TypeMismatch => S::DRIFTSYNC_STATUS_TYPE_MISMATCH,
            ErrorCode::ObjectNotFound => S::DRIFTSYNC_STATUS_OBJECT_NOT_FOUND,
            ErrorCode::DuplicatePrimaryKey => S::DRIFTSYNC_STATUS_DUPLICATE_PRIMARY_KEY,
            ErrorCode::NotInWriteTransaction => S::DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION,
            ErrorCode::WriteOnFrozen => S::DRIFTSYNC_STATUS_WRITE_ON_FROZEN,
            ErrorCode::BreakingSchemaChange => S::DRIFTSYNC_STATUS_BREAKING_SCHEMA_CHANGE,
            ErrorCode::FileNotRealm => S::DRIFTSYNC_STATUS_FILE_NOT_REALM,
            ErrorCode::FileFormatTooNew => S::DRIFTSYNC_STATUS_FILE_FORMAT_TOO_NEW,
            ErrorCode::FileCorrupt => S::DRIFTSYNC_STATUS_FILE_CORRUPT,
            ErrorCode::FileIo => S::DRIFTSYNC_STATUS_FILE_IO,
            ErrorCode::Busy => S::DRIFTSYNC_STATUS_BUSY,
            ErrorCode::Closed => S::DRIFTSYNC_STATUS_CLOSED,
            ErrorCode::IndexOutOfRange => S::DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE,
            ErrorCode::AlreadyInWriteTransaction => S::DRIFTSYNC_STATUS_ALREADY_IN_WRITE_TRANSACTION,
            ErrorCode::Sync => S::DRIFTSYNC_STATUS_SYNC,
            ErrorCode::ClientReset => S::DRIFTSYNC_STATUS_CLIENT_RESET,
            ErrorCode::Timeout => S::DRIFTSYNC_STATUS_TIMEOUT,
            ErrorCode::Protocol => S::DRIFTSYNC_STATUS_PROTOCOL,
            ErrorCode::PermissionDenied => S::DRIFTSYNC_STATUS_PERMISSION_DENIED,
            ErrorCode::CallbackFailed => S::DRIFTSYNC_STATUS_CALLBACK_FAILED,
            ErrorCode::Internal => S::DRIFTSYNC_STATUS_INTERNAL,
            ErrorCode::Authentication => S::DRIFTSYNC_STATUS_AUTHENTICATION,
        }
    }
}

impl driftsync_status_t {
    /// Every status, for `driftsync_status_name` and the tests.
    pub(crate) const ALL: [driftsync_status_t; 30] = [
        S::DRIFTSYNC_STATUS_OK,
        S::DRIFTSYNC_STATUS_INVALID_ARGUMENT,
        S::DRIFTSYNC_STATUS_INVALID_SCHEMA,
        S::DRIFTSYNC_STATUS_UNKNOWN_CLASS,
        S::DRIFTSYNC_STATUS_UNKNOWN_PROPERTY,
        S::DRIFTSYNC_STATUS_TYPE_MISMATCH,
        S::DRIFTSYNC_STATUS_OBJECT_NOT_FOUND,
        S::DRIFTSYNC_STATUS_DUPLICATE_PRIMARY_KEY,
        S::DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION,
        S::DRIFTSYNC_STATUS_WRITE_ON_FROZEN,
        S::DRIFTSYNC_STATUS_BREAKING_SCHEMA_CHANGE,
        S::DRIFTSYNC_STATUS_FILE_NOT_REALM,
        S::DRIFTSYNC_STATUS_FILE_FORMAT_TOO_NEW,
        S::DRIFTSYNC_STATUS_FILE_CORRUPT,
        S::DRIFTSYNC_STATUS_FILE_IO,
        S::DRIFTSYNC_STATUS_BUSY,
        S::DRIFTSYNC_STATUS_CLOSED,
        S::DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE,
        S::DRIFTSYNC_STATUS_ALREADY_IN_WRITE_TRANSACTION,
        S::DRIFTSYNC_STATUS_SYNC,
        S::DRIFTSYNC_STATUS_CLIENT_RESET,
        S::DRIFTSYNC_STATUS_TIMEOUT,
        S::DRIFTSYNC_STATUS_PROTOCOL,
        S::DRIFTSYNC_STATUS_PERMISSION_DENIED,
        S::DRIFTSYNC_STATUS_CALLBACK_FAILED,
        S::DRIFTSYNC_STATUS_INTERNAL,
        S::DRIFTSYNC_STATUS_AUTHENTICATION,
        S::DRIFTSYNC_STATUS_NULL_ARGUMENT,
        S::DRIFTSYNC_STATUS_INVALID_UTF8,
        S::DRIFTSYNC_STATUS_PANIC,
    ];

    /// The name of the status without its prefix, NUL-terminated.
    pub(crate) fn name(self) -> &'static str {
        match self {
            S::DRIFTSYNC_STATUS_OK => "OK\0",
            S::DRIFTSYNC_STATUS_INVALID_ARGUMENT => "INVALID_ARGUMENT\0",
            S::DRIFTSYNC_STATUS_INVALID_SCHEMA => "INVALID_SCHEMA\0",
            S::DRIFTSYNC_STATUS_UNKNOWN_CLASS => "UNKNOWN_CLASS\0",
            S::DRIFTSYNC_STATUS_UNKNOWN_PROPERTY => "UNKNOWN_PROPERTY\0",
            S::DRIFTSYNC_STATUS_TYPE_MISMATCH => "TYPE_MISMATCH\0",
            S::DRIFTSYNC_STATUS_OBJECT_NOT_FOUND => "OBJECT_NOT_FOUND\0",
            S::DRIFTSYNC_STATUS_DUPLICATE_PRIMARY_KEY => "DUPLICATE_PRIMARY_KEY\0",
            S::DRIFTSYNC_STATUS_NOT_IN_WRITE_TRANSACTION => "NOT_IN_WRITE_TRANSACTION\0",
            S::DRIFTSYNC_STATUS_WRITE_ON_FROZEN => "WRITE_ON_FROZEN\0",
            S::DRIFTSYNC_STATUS_BREAKING_SCHEMA_CHANGE => "BREAKING_SCHEMA_CHANGE\0",
            S::DRIFTSYNC_STATUS_FILE_NOT_REALM => "FILE_NOT_REALM\0",
            S::DRIFTSYNC_STATUS_FILE_FORMAT_TOO_NEW => "FILE_FORMAT_TOO_NEW\0",
            S::DRIFTSYNC_STATUS_FILE_CORRUPT => "FILE_CORRUPT\0",
            S::DRIFTSYNC_STATUS_FILE_IO => "FILE_IO\0",
            S::DRIFTSYNC_STATUS_BUSY => "BUSY\0",
            S::DRIFTSYNC_STATUS_CLOSED => "CLOSED\0",
            S::DRIFTSYNC_STATUS_INDEX_OUT_OF_RANGE => "INDEX_OUT_OF_RANGE\0",
            S::DRIFTSYNC_STATUS_ALREADY_IN_WRITE_TRANSACTION => "ALREADY_IN_WRITE_TRANSACTION\0",
            S::DRIFTSYNC_STATUS_SYNC => "SYNC\0",
            S::DRIFTSYNC_STATUS_CLIENT_RESET => "CLIENT_RESET\0",
            S::DRIFTSYNC_STATUS_TIMEOUT => "TIMEOUT\0",
            S::DRIFTSYNC_STATUS_PROTOCOL => "PROTOCOL\0",
            S::DRIFTSYNC_STATUS_PERMISSION_DENIED => "PERMISSION_DENIED\0",
            S::DRIFTSYNC_STATUS_CALLBACK_FAILED => "CALLBACK_FAILED\0",
            S::DRIFTSYNC_STATUS_INTERNAL => "INTERNAL\0",
            S::DRIFTSYNC_STATUS_AUTHENTICATION => "AUTHENTICATION\0",
            S::DRIFTSYNC_STATUS_NULL_ARGUMENT => "NULL_ARGUMENT\0",
            S::DRIFTSYNC_STATUS_INVALID_UTF8 => "INVALID_UTF8\0",
            S::DRIFTSYNC_STATUS_PANIC => "PANIC\0",
        }
    }
}

/// An error: a status code, a message and, for client resets, a cause. Owned by the caller;
/// release it with `driftsync_error_free`.
pub struct driftsync_error_t {
    pub(crate) status: driftsync_status_t,
    /// Message text followed by a NUL that `len` does not count.
    pub(crate) message: String,
    pub(crate) cause: String,
}

/// A borrowed UTF-8 string: `data` points at `len` bytes. As an input, `data` may be NULL only
/// when `len` is 0. Strings the library returns are not NUL-terminated in general (error
/// messages are): always use `len`. An empty string the library returns has a non-NULL `data`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct driftsync_string_t {
    pub data: *const c_char,
    pub len: usize,
}

/// Borrowed bytes: `data` points at `len` bytes. As an input, `data` may be NULL only when `len`
/// is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct driftsync_bytes_t {
    pub data: *const u8,
    pub len: usize,
}

/// The type tag of a `driftsync_value_t`; also the type of a property in the schema builder
/// (where `DRIFTSYNC_VALUE_NULL` is not allowed).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_value_type_t {
    DRIFTSYNC_VALUE_NULL = 0,
    DRIFTSYNC_VALUE_BOOL = 1,
    DRIFTSYNC_VALUE_INT = 2,
    DRIFTSYNC_VALUE_DOUBLE = 3,
    DRIFTSYNC_VALUE_STRING = 4,
    DRIFTSYNC_VALUE_BINARY = 5,
    DRIFTSYNC_VALUE_TIMESTAMP = 6,
    DRIFTSYNC_VALUE_OBJECT_ID = 7,
    DRIFTSYNC_VALUE_UUID = 8,
    /// A link to an object: its primary key (the target class comes from the schema).
    DRIFTSYNC_VALUE_LINK = 9,
    /// Only as a property type in the schema builder: a `mixed` property (any value, a typed
    /// link, or a nested list or dictionary).
    DRIFTSYNC_VALUE_MIXED = 10,
    /// A typed link (what a `mixed` holds): the class name in `string`, the primary key in
    /// `link`.
    DRIFTSYNC_VALUE_TYPED_LINK = 11,
}

/// The type tag of a `driftsync_pk_t`. The numbers are those of the same types in
/// `driftsync_value_type_t`, so 0 (a zero-initialized key) is invalid.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_pk_type_t {
    DRIFTSYNC_PK_INT = 2,
    DRIFTSYNC_PK_STRING = 4,
    DRIFTSYNC_PK_OBJECT_ID = 7,
    DRIFTSYNC_PK_UUID = 8,
}

/// A primary key. Only the field named by `kind` is read (inputs) or set (outputs); the others
/// are zero in outputs.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct driftsync_pk_t {
    pub kind: driftsync_pk_type_t,
    pub int_value: i64,
    pub string: driftsync_string_t,
    pub object_id: [u8; 12],
    pub uuid: [u8; 16],
}

/// A field value. Only the field that `kind` selects is read (inputs) or set (outputs):
/// BOOL → `bool_value`, INT → `int_value`, DOUBLE → `double_value`, STRING → `string`,
/// BINARY → `binary`, TIMESTAMP → `timestamp_ns` (nanoseconds since the Unix epoch, UTC),
/// OBJECT_ID → `object_id`, UUID → `uuid`, LINK → `link`, TYPED_LINK → `string` (the class)
/// and `link`. Values the library returns borrow
/// their bytes from the handle they were read from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct driftsync_value_t {
    pub kind: driftsync_value_type_t,
    pub bool_value: bool,
    pub int_value: i64,
    pub double_value: f64,
    pub string: driftsync_string_t,
    pub binary: driftsync_bytes_t,
    pub timestamp_ns: i64,
    pub object_id: [u8; 12],
    pub uuid: [u8; 16],
    pub link: driftsync_pk_t,
}

/// A named value, as given to `driftsync_realm_create` and `driftsync_realm_upsert`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct driftsync_field_t {
    pub name: driftsync_string_t,
    pub value: driftsync_value_t,
}

// ---- the boundary ----------------------------------------------------------------------------

/// A failed call, before it becomes a status and an optional `driftsync_error_t`.
pub(crate) struct Failure {
    pub status: driftsync_status_t,
    pub message: String,
    pub cause: String,
}

impl Failure {
    pub fn new(status: driftsync_status_t, message: impl Into<String>) -> Self {
        Failure { status, message: message.into(), cause: String::new() }
    }
    pub fn null(what: &str) -> Self {
        Failure::new(S::DRIFTSYNC_STATUS_NULL_ARGUMENT, format!("'{what}' is NULL"))
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::new(S::DRIFTSYNC_STATUS_INVALID_ARGUMENT, message)
    }
    fn panic(payload: Box<dyn Any + Send>) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        // Dropping a panic payload can itself panic; never let that escape.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        Failure::new(S::DRIFTSYNC_STATUS_PANIC, format!("internal panic: {what}"))
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let cause = match &e {
            Error::ClientReset { cause, .. } => cause.clone(),
            _ => String::new(),
        };
        Failure { status: e.code().into(), message: e.to_string(), cause }
    }
}

pub(crate) type FfiResult<T> = Result<T, Failure>;

/// Runs one entry point: catches panics, turns a failure into a status and, when `out_error` is
/// not NULL, an owned error written through it.
pub(crate) fn guard(out_error: *mut *mut driftsync_error_t, f: impl FnOnce() -> FfiResult<()>) -> driftsync_status_t {
    let result = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(Failure::panic(payload)),
    };
    match result {
        Ok(()) => S::DRIFTSYNC_STATUS_OK,
        Err(failure) => {
            let status = failure.status;
            if !out_error.is_null() {
                let made = catch_unwind(AssertUnwindSafe(|| {
                    let mut message = failure.message;
                    message.push('\0');
                    Box::into_raw(Box::new(driftsync_error_t { status, message, cause: failure.cause }))
                }));
                if let Ok(e) = made {
                    // SAFETY: checked non-NULL; the caller promises it points at writable memory.
                    unsafe { *out_error = e };
                }
            }
            status
        }
    }
}

/// Runs an infallible entry point (accessors, frees), with `fallback` if it panics.
pub(crate) fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Writes an output through a checked out-parameter.
pub(crate) fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: every caller has checked `out` for NULL before doing any work.
    unsafe { out.write(value) }
}

pub(crate) fn check_out<T>(out: *mut T, what: &str) -> FfiResult<()> {
    if out.is_null() { Err(Failure::null(what)) } else { Ok(()) }
}

/// A borrowed byte slice from a pointer and a length.
///
/// # Safety
/// `data` must point at `len` readable bytes (or be NULL).
pub(crate) unsafe fn bytes_arg<'a>(data: *const u8, len: usize, what: &str, null_ok_if_empty: bool) -> FfiResult<&'a [u8]> {
    if data.is_null() {
        if null_ok_if_empty && len == 0 {
            return Ok(&[]);
        }
        return Err(Failure::null(what));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!("'{what}': length {len} is too large")));
    }
    // SAFETY: the caller promises `len` readable bytes at `data`.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

fn utf8<'a>(b: &'a [u8], what: &str) -> FfiResult<&'a str> {
    std::str::from_utf8(b).map_err(|e| Failure::new(S::DRIFTSYNC_STATUS_INVALID_UTF8, format!("'{what}' is not UTF-8: {e}")))
}

/// A borrowed UTF-8 string argument given as pointer and length (NULL is refused).
///
/// # Safety
/// `data` must point at `len` readable bytes (or be NULL).
pub(crate) unsafe fn str_arg<'a>(data: *const c_char, len: usize, what: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded from the caller.
    utf8(unsafe { bytes_arg(data.cast(), len, what, false)? }, what)
}

/// # Safety
/// `s.data` must point at `s.len` readable bytes (or be NULL).
pub(crate) unsafe fn string_struct<'a>(s: driftsync_string_t, what: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded from the caller.
    utf8(unsafe { bytes_arg(s.data.cast(), s.len, what, true)? }, what)
}

/// Reads a C enum stored in memory as its integer, so that an out-of-range number written by C
/// is an error rather than undefined behaviour in Rust.
///
/// # Safety
/// `p` must point at a readable, C-`int`-sized enum field.
pub(crate) unsafe fn enum_raw<E>(p: *const E) -> i32 {
    const { assert!(size_of::<E>() == size_of::<i32>()) };
    // SAFETY: same size, any bit pattern is a valid i32.
    unsafe { p.cast::<i32>().read_unaligned() }
}

/// Reads a C `bool` stored in memory as a byte (any non-zero byte is true).
///
/// # Safety
/// `p` must point at a readable byte.
pub(crate) unsafe fn bool_raw(p: *const bool) -> bool {
    // SAFETY: any byte is a valid u8.
    unsafe { p.cast::<u8>().read() != 0 }
}

/// Reads a primary key argument.
///
/// # Safety
/// `p` must be NULL or point at a readable `driftsync_pk_t` whose borrowed bytes are readable.
pub(crate) unsafe fn read_pk(p: *const driftsync_pk_t, what: &str) -> FfiResult<PrimaryKey> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: `p` is readable; each field is read on its own, the tag as a plain integer.
    unsafe {
        let tag = enum_raw(addr_of!((*p).kind));
        Ok(match tag {
            2 => PrimaryKey::Int((*p).int_value),
            4 => PrimaryKey::String(string_struct((*p).string, what)?.to_string()),
            7 => PrimaryKey::ObjectId(ObjectId((*p).object_id)),
            8 => PrimaryKey::Uuid(Uuid((*p).uuid)),
            other => return Err(Failure::invalid(format!("'{what}': {other} is not a driftsync_pk_type_t"))),
        })
    }
}

/// Reads a value argument.
///
/// # Safety
/// `p` must be NULL or point at a readable `driftsync_value_t` whose borrowed bytes are readable.
pub(crate) unsafe fn read_value(p: *const driftsync_value_t, what: &str) -> FfiResult<Value> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: `p` is readable; each field is read on its own, tags and bools as integers.
    unsafe {
        let tag = enum_raw(addr_of!((*p).kind));
        Ok(match tag {
            0 => Value::Null,
            1 => Value::Bool(bool_raw(addr_of!((*p).bool_value))),
            2 => Value::Int((*p).int_value),
            3 => Value::Double((*p).double_value),
            4 => Value::String(string_struct((*p).string, what)?.to_string()),
            5 => {
                let b = (*p).binary;
                Value::Binary(bytes_arg(b.data, b.len, what, true)?.to_vec())
            }
            6 => Value::Timestamp(Timestamp((*p).timestamp_ns)),
            7 => Value::ObjectId(ObjectId((*p).object_id)),
            8 => Value::Uuid(Uuid((*p).uuid)),
            9 => Value::Link(read_pk(addr_of!((*p).link), what)?),
            11 => Value::TypedLink(string_struct((*p).string, what)?.to_string(), read_pk(addr_of!((*p).link), what)?),
            other => return Err(Failure::invalid(format!("'{what}': {other} is not a driftsync_value_type_t"))),
        })
    }
}

/// Reads an array of named values.
///
/// # Safety
/// `fields` must be NULL or point at `len` readable `driftsync_field_t`.
pub(crate) unsafe fn read_fields(fields: *const driftsync_field_t, len: usize) -> FfiResult<Vec<(String, Value)>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if fields.is_null() {
        return Err(Failure::null("fields"));
    }
    let mut out = Vec::with_capacity(len.min(1024));
    for i in 0..len {
        // SAFETY: `i < len` and the caller promises `len` readable elements.
        unsafe {
            let f = fields.add(i);
            let name = string_struct((*f).name, "field name")?.to_string();
            let value = read_value(addr_of!((*f).value), &name)?;
            out.push((name, value));
        }
    }
    Ok(out)
}

// ---- outputs: views that borrow from a Rust value ---------------------------------------------

pub(crate) const EMPTY_STRING: driftsync_string_t = driftsync_string_t { data: c"".as_ptr(), len: 0 };
const EMPTY_BYTES: driftsync_bytes_t = driftsync_bytes_t { data: ptr::null(), len: 0 };

pub(crate) fn str_view(s: &str) -> driftsync_string_t {
    if s.is_empty() { EMPTY_STRING } else { driftsync_string_t { data: s.as_ptr().cast(), len: s.len() } }
}

/// A view of a string stored with a trailing NUL that is not counted.
pub(crate) fn nul_str_view(s: &str) -> driftsync_string_t {
    let text = s.strip_suffix('\0').unwrap_or(s);
    driftsync_string_t { data: s.as_ptr().cast(), len: text.len() }
}

const EMPTY_PK: driftsync_pk_t =
    driftsync_pk_t { kind: driftsync_pk_type_t::DRIFTSYNC_PK_INT, int_value: 0, string: EMPTY_STRING, object_id: [0; 12], uuid: [0; 16] };

pub(crate) fn pk_view(pk: &PrimaryKey) -> driftsync_pk_t {
    match pk {
        PrimaryKey::Int(i) => driftsync_pk_t { int_value: *i, ..EMPTY_PK },
        PrimaryKey::String(s) => driftsync_pk_t { kind: driftsync_pk_type_t::DRIFTSYNC_PK_STRING, string: str_view(s), ..EMPTY_PK },
        PrimaryKey::ObjectId(o) => driftsync_pk_t { kind: driftsync_pk_type_t::DRIFTSYNC_PK_OBJECT_ID, object_id: o.0, ..EMPTY_PK },
        PrimaryKey::Uuid(u) => driftsync_pk_t { kind: driftsync_pk_type_t::DRIFTSYNC_PK_UUID, uuid: u.0, ..EMPTY_PK },
    }
}

pub(crate) fn value_view(v: &Value) -> driftsync_value_t {
    use driftsync_value_type_t as T;
    let base = driftsync_value_t {
        kind: T::DRIFTSYNC_VALUE_NULL,
        bool_value: false,
        int_value: 0,
        double_value: 0.0,
        string: EMPTY_STRING,
        binary: EMPTY_BYTES,
        timestamp_ns: 0,
        object_id: [0; 12],
        uuid: [0; 16],
        link: EMPTY_PK,
    };
    match v {
        Value::Null => base,
        Value::Bool(b) => driftsync_value_t { kind: T::DRIFTSYNC_VALUE_BOOL, bool_value: *b, ..base },
        Value::Int(i) => driftsync_value_t { kind: T::DRIFTSYNC_VALUE_INT, int_value: *i, ..base },
        Value::Double(d) => driftsync_value_t { kind: T::DRIFTSYNC_VALUE_DOUBLE, double_value: *d, ..base },
        Value::String(s) => driftsync_value_t { kind: T::DRIFTSYNC_VALUE_STRING, string: str_view(s), ..base },
        Value::Binary(b) => driftsync_value_t {
            kind: T::DRIFTSYNC_VALUE_BINARY,
            binary: driftsync_bytes_t { data: if b.is_empty() { ptr::null() } else { b.as_ptr() }, len: b.len() },
            ..base
        },
        Value::Timestamp(t) => driftsync_value_t { kind: T::DRIFTSYNC_VALUE_TIMESTAMP, timestamp_ns: t.0, ..base },
        Value::ObjectId(o) => driftsync_value_t { kind: T::DRIFTSYNC_VALUE_OBJECT_ID, object_id: o.0, ..base },
        Value::Uuid(u) => driftsync_value_t { kind: T::DRIFTSYNC_VALUE_UUID, uuid: u.0, ..base },
        Value::Link(pk) => driftsync_value_t { kind: T::DRIFTSYNC_VALUE_LINK, link: pk_view(pk), ..base },
        Value::TypedLink(class, pk) => {
            driftsync_value_t { kind: T::DRIFTSYNC_VALUE_TYPED_LINK, string: str_view(class), link: pk_view(pk), ..base }
        }
    }
}

/// Application data handed to a callback, released exactly once by its `user_data_free` when the
/// last holder lets go.
pub(crate) struct UserData {
    pub data: *mut c_void,
    pub free: Option<unsafe extern "C" fn(*mut c_void)>,
}

// SAFETY: the header documents that user_data is passed to callbacks on other threads; the
// application guarantees it may be.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(free) = self.free.take() {
            // SAFETY: the application registered this function for this pointer.
            unsafe { free(self.data) };
        }
    }
}

/// What a field of an object holds (`driftsync_object_field_collection`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_collection_t {
    /// One value: `driftsync_object_get_value`.
    DRIFTSYNC_COLLECTION_NONE = 0,
    /// A list: `driftsync_object_list_len` / `_list_get`.
    DRIFTSYNC_COLLECTION_LIST = 1,
    /// A set: read like a list, elements in canonical order.
    DRIFTSYNC_COLLECTION_SET = 2,
    /// A dictionary: `driftsync_object_dict_len` / `_dict_get`, entries in key order.
    DRIFTSYNC_COLLECTION_DICTIONARY = 3,
    /// A single `mixed` property holding a nested list or dictionary:
    /// `driftsync_object_mixed_get` / `_mixed_key` (a mixed holding a value is NONE).
    DRIFTSYNC_COLLECTION_MIXED = 4,
    /// One embedded object (or null): read it with `driftsync_realm_get_embedded_value` /
    /// `driftsync_realm_embedded_exists` by path.
    DRIFTSYNC_COLLECTION_EMBEDDED = 16,
    /// A list of embedded objects: `driftsync_realm_embedded_len`, then paths `name[index]`.
    DRIFTSYNC_COLLECTION_EMBEDDED_LIST = 17,
}
