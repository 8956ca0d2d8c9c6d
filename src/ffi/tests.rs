//! Checks of the C ABI that need no C compiler: the header's version macros agree with
//! Cargo.toml, and the status numbers mirror the error codes.

use super::types::driftsync_status_t;
use crate::error::ErrorCode;
use std::ffi::CStr;

fn header() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/driftsync.h")).expect("include/driftsync.h")
}

fn define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    let line = header.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{name} is not defined in the header"));
    line[prefix.len()..].trim().to_string()
}

fn cargo_version() -> String {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).expect("Cargo.toml");
    let mut in_package = false;
    for line in toml.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_package = l == "[package]";
        } else if in_package && l.starts_with("version") {
            return l.split('"').nth(1).expect("quoted version").to_string();
        }
    }
    panic!("no [package] version in Cargo.toml")
}

#[test]
fn header_version_macros_agree_with_cargo_toml() {
    let h = header();
    let v = cargo_version();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    let parts: Vec<&str> = v.split(['.', '-', '+']).collect();
    assert_eq!(define(&h, "DRIFTSYNC_VERSION_MAJOR"), parts[0]);
    assert_eq!(define(&h, "DRIFTSYNC_VERSION_MINOR"), parts[1]);
    assert_eq!(define(&h, "DRIFTSYNC_VERSION_PATCH"), parts[2]);
    assert_eq!(define(&h, "DRIFTSYNC_ABI_VERSION"), super::ABI_VERSION.to_string());
    // SAFETY: a static NUL-terminated string.
    let lib = unsafe { CStr::from_ptr(super::driftsync_version()) };
    assert_eq!(lib.to_str().unwrap(), v);
    assert_eq!(super::driftsync_abi_version(), super::ABI_VERSION);
}

/// maturin generates the Python binding's cffi declarations from this header, and cffi accepts
/// only integer macros (`#define NAME 123`).
#[test]
fn header_defines_are_integers_for_cffi() {
    let h = header();
    let defines: Vec<&str> = h.lines().filter(|l| l.trim_start().starts_with("#define")).collect();
    assert!(defines.len() >= 4, "{defines:?}");
    for line in defines {
        let mut words = line.split_whitespace().skip(1);
        let (name, value) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        // The include guard has no value; every other macro must be an integer.
        assert!(name == "DRIFTSYNC_H" || value.parse::<i64>().is_ok(), "not an integer macro: {line}");
    }
}

#[test]
fn status_numbers_mirror_error_codes() {
    for n in 1..=26 {
        let code: ErrorCode = match n {
            1 => ErrorCode::InvalidArgument,
            2 => ErrorCode::InvalidSchema,
            3 => ErrorCode::UnknownClass,
            4 => ErrorCode::UnknownProperty,
            5 => ErrorCode::TypeMismatch,
            6 => ErrorCode::ObjectNotFound,
            7 => ErrorCode::DuplicatePrimaryKey,
            8 => ErrorCode::NotInWriteTransaction,
            9 => ErrorCode::WriteOnFrozen,
            10 => ErrorCode::BreakingSchemaChange,
            11 => ErrorCode::FileNotRealm,
            12 => ErrorCode::FileFormatTooNew,
            13 => ErrorCode::FileCorrupt,
            14 => ErrorCode::FileIo,
            15 => ErrorCode::Busy,
            16 => ErrorCode::Closed,
            17 => ErrorCode::IndexOutOfRange,
            18 => ErrorCode::AlreadyInWriteTransaction,
            19 => ErrorCode::Sync,
            20 => ErrorCode::ClientReset,
            21 => ErrorCode::Timeout,
            22 => ErrorCode::Protocol,
            23 => ErrorCode::PermissionDenied,
            24 => ErrorCode::CallbackFailed,
            25 => ErrorCode::Internal,
            _ => ErrorCode::Authentication,
        };
        assert_eq!(code as i32, n);
        assert_eq!(driftsync_status_t::from(code) as i32, n, "{code:?}");
    }
    for s in driftsync_status_t::ALL {
        assert!(s.name().ends_with('\0'));
    }
}

#[test]
fn handles_are_thread_safe() {
    fn check<T: Send + Sync>() {}
    check::<super::realm::driftsync_realm_t>();
    check::<super::object::driftsync_cursor_t>();
    check::<super::object::driftsync_object_t>();
    check::<super::schema::driftsync_schema_builder_t>();
    check::<super::config::driftsync_config_builder_t>();
    check::<super::observe::driftsync_token_t>();
    check::<super::reset::driftsync_reset_report_t>();
    check::<super::reset::driftsync_manual_reset_t>();
    check::<super::sync::driftsync_sync_error_t>();
}

#[test]
fn hook_result_fail_checks_its_arguments_and_decides_the_outcome() {
    use super::reset::{driftsync_hook_result_fail, hook_outcome, new_hook_result};
    use driftsync_status_t as S;
    let msg = "no thanks";
    // SAFETY: NULL handles and readable strings.
    unsafe {
        assert_eq!(
            driftsync_hook_result_fail(std::ptr::null_mut(), msg.as_ptr().cast(), msg.len(), std::ptr::null_mut()),
            S::DRIFTSYNC_STATUS_NULL_ARGUMENT
        );
    }
    let result = new_hook_result();
    let rp = std::ptr::from_ref(&result).cast_mut();
    let bad = [0xffu8, 0xfe];
    // SAFETY: `rp` points at a live hook result; the strings are readable.
    unsafe {
        assert_eq!(driftsync_hook_result_fail(rp, std::ptr::null(), 0, std::ptr::null_mut()), S::DRIFTSYNC_STATUS_NULL_ARGUMENT);
        assert_eq!(driftsync_hook_result_fail(rp, bad.as_ptr().cast(), bad.len(), std::ptr::null_mut()), S::DRIFTSYNC_STATUS_INVALID_UTF8);
        assert_eq!(driftsync_hook_result_fail(rp, msg.as_ptr().cast(), 0, std::ptr::null_mut()), S::DRIFTSYNC_STATUS_INVALID_ARGUMENT);
    }
    // nothing was recorded: the return value decides
    assert_eq!(hook_outcome(Ok(true), result, "before"), Ok(()));
    assert_eq!(hook_outcome(Ok(false), new_hook_result(), "after"), Err("the after-reset hook returned false".to_string()));
    let result = new_hook_result();
    let rp = std::ptr::from_ref(&result).cast_mut();
    // SAFETY: as above.
    unsafe {
        assert_eq!(driftsync_hook_result_fail(rp, "first".as_ptr().cast(), 5, std::ptr::null_mut()), S::DRIFTSYNC_STATUS_OK);
        assert_eq!(driftsync_hook_result_fail(rp, msg.as_ptr().cast(), msg.len(), std::ptr::null_mut()), S::DRIFTSYNC_STATUS_OK);
    }
    // a message makes the hook fail even when it returns true; the last message wins
    assert_eq!(hook_outcome(Ok(true), result, "before"), Err(msg.to_string()));
}
