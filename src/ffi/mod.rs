//! The C ABI (the only extern "C" code of the crate). See include/driftsync.h, which cbindgen
//! generates from these modules (cbindgen.toml); the doc comments here become the header's.
//!
//! Conventions: every entry point runs behind `types::guard` (panics become
//! `DRIFTSYNC_STATUS_PANIC`), checks every pointer, writes outputs only on success, and takes an
//! optional trailing `driftsync_error_t **out_error`.

#![allow(non_camel_case_types, clippy::missing_safety_doc, clippy::too_many_arguments)]

pub mod config;
pub mod embedded;
pub mod logging;
pub mod mixed;
pub mod object;
pub mod observe;
pub mod realm;
pub mod reset;
pub mod schema;
pub mod sync;
pub mod types;

#[cfg(test)]
mod tests;

use std::ffi::c_char;
use types::*;

/// The ABI version: incremented whenever a change to the C ABI breaks existing callers.
/// `DRIFTSYNC_ABI_VERSION` in the header carries the same number.
pub(crate) const ABI_VERSION: u32 = 1;

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library's version, as "MAJOR.MINOR.PATCH": a static NUL-terminated string (never free it).
/// It equals `DRIFTSYNC_VERSION_MAJOR.DRIFTSYNC_VERSION_MINOR.DRIFTSYNC_VERSION_PATCH` of the
/// header the application was compiled with when the library and header match.
#[unsafe(no_mangle)]
pub extern "C" fn driftsync_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// The ABI version of the library (compare with `DRIFTSYNC_ABI_VERSION`).
#[unsafe(no_mangle)]
pub extern "C" fn driftsync_abi_version() -> u32 {
    ABI_VERSION
}

/// The name of a status without its prefix (e.g. "CLOSED"): a static NUL-terminated string.
/// `status` is a `driftsync_status_t` value; an unknown number gives "UNKNOWN".
#[unsafe(no_mangle)]
pub extern "C" fn driftsync_status_name(status: i32) -> *const c_char {
    guard_value("UNKNOWN\0", || driftsync_status_t::ALL.iter().find(|s| **s as i32 == status).map(|s| s.name()).unwrap_or("UNKNOWN\0"))
        .as_ptr()
        .cast()
}

/// The status code of an error (`DRIFTSYNC_STATUS_NULL_ARGUMENT` for a NULL error).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_error_code(error: *const driftsync_error_t) -> driftsync_status_t {
    // SAFETY: NULL or a live error from this library.
    unsafe { error.as_ref() }.map(|e| e.status).unwrap_or(driftsync_status_t::DRIFTSYNC_STATUS_NULL_ARGUMENT)
}

/// The message of an error, UTF-8 and NUL-terminated; valid until the error is freed. Empty
/// for a NULL error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_error_message(error: *const driftsync_error_t) -> driftsync_string_t {
    // SAFETY: NULL or a live error from this library.
    unsafe { error.as_ref() }.map(|e| nul_str_view(&e.message)).unwrap_or(EMPTY_STRING)
}

/// The cause of an error: for `DRIFTSYNC_STATUS_CLIENT_RESET`, why the server demands the reset;
/// empty otherwise (and for a NULL error). Valid until the error is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_error_cause(error: *const driftsync_error_t) -> driftsync_string_t {
    // SAFETY: NULL or a live error from this library.
    unsafe { error.as_ref() }.map(|e| str_view(&e.cause)).unwrap_or(EMPTY_STRING)
}

/// Frees an error. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_error_free(error: *mut driftsync_error_t) {
    if !error.is_null() {
        // SAFETY: an error this library allocated, freed once.
        guard_value((), || drop(unsafe { Box::from_raw(error) }));
    }
}

/// For binding test suites: panics inside the library's panic boundary, which must turn the
/// panic into `DRIFTSYNC_STATUS_PANIC` (and an error whose message names the panic).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_debug_panic(out_error: *mut *mut driftsync_error_t) -> driftsync_status_t {
    guard(out_error, || -> FfiResult<()> { panic!("driftsync_debug_panic was called") })
}
