//! The `mixed` kind in the C ABI: writing a mixed property at a path (a value, or a new empty
//! nested list or dictionary), erasing inside it, and reading it from an object copy.
//! A property is declared mixed with `DRIFTSYNC_VALUE_MIXED` as its type (or `"type": "mixed"`);
//! a link in a mixed is a `DRIFTSYNC_VALUE_TYPED_LINK` value.

use super::object::{driftsync_object_t, field_arg};
use super::realm::{driftsync_realm_t, list_call};
use super::types::*;
use crate::mixed::{Mixed, MixedInput, MixedKey};
use crate::realm::FieldValue;
use std::ffi::c_char;
use std::ptr::addr_of;

/// What a mixed slot holds, or what to put there.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_mixed_kind_t {
    /// A value (null, a scalar or a typed link).
    DRIFTSYNC_MIXED_VALUE = 0,
    /// A nested list.
    DRIFTSYNC_MIXED_LIST = 1,
    /// A nested dictionary (string keys).
    DRIFTSYNC_MIXED_DICTIONARY = 2,
}

/// One step of a path into a mixed: an index into a nested list (`is_index` true) or a key of
/// a nested dictionary (`key`, UTF-8 with its length).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct driftsync_mixed_key_t {
    pub is_index: bool,
    pub index: usize,
    pub key: driftsync_string_t,
}

/// Reads a path argument (`len` steps; `path` may be NULL when `len` is 0).
///
/// # Safety
/// `path` must be NULL or point at `len` readable steps.
unsafe fn read_path(path: *const driftsync_mixed_key_t, len: usize) -> FfiResult<Vec<MixedKey>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if path.is_null() {
        return Err(Failure::null("path"));
    }
    let mut out = Vec::with_capacity(len.min(crate::mixed::MAX_DEPTH + 1));
    for i in 0..len {
        // SAFETY: `i < len` readable steps; the bool is read as a byte.
        unsafe {
            let step = path.add(i);
            out.push(if bool_raw(addr_of!((*step).is_index)) {
                MixedKey::Index((*step).index)
            } else {
                MixedKey::Key(string_struct((*step).key, "path key")?.to_string())
            });
        }
    }
    Ok(out)
}

/// Reads what to put into a slot: `value` is read only for `DRIFTSYNC_MIXED_VALUE`.
///
/// # Safety
/// `value` must be NULL or a readable value.
unsafe fn read_input(kind: i32, value: *const driftsync_value_t) -> FfiResult<MixedInput> {
    Ok(match kind {
        // SAFETY: forwarded from the caller.
        0 => MixedInput::Value(unsafe { read_value(value, "value")? }),
        1 => MixedInput::List,
        2 => MixedInput::Dictionary,
        other => return Err(Failure::invalid(format!("'kind': {other} is not a driftsync_mixed_kind_t"))),
    })
}

/// Puts a value or a new empty collection (`kind`) at `path` of a single mixed property: the
/// property itself when `path_len` is 0, else a list element (index) or a dictionary key of the
/// nested collection the rest of the path leads to. A path that leads to no collection, a
/// nested collection for a list, set or dictionary of mixed (a set's elements must be
/// hashable), or an untyped link is `DRIFTSYNC_STATUS_TYPE_MISMATCH` and changes nothing.
/// `kind` is a `driftsync_mixed_kind_t` (another number is `DRIFTSYNC_STATUS_INVALID_ARGUMENT`);
/// `value` is read only for `DRIFTSYNC_MIXED_VALUE`. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_mixed_set(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    path: *const driftsync_mixed_key_t,
    path_len: usize,
    kind: i32,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let (path, input) = (read_path(path, path_len)?, read_input(kind, value)?);
            Ok(t.realm.mixed_set(t.class, &t.pk, prop, &path, input)?)
        })
    }
}

/// Inserts a value or a new empty collection (`kind`) at `index` of the nested list at `path`
/// of a single mixed property (`kind` and `value` as for `driftsync_realm_mixed_set`). Needs a
/// write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_mixed_insert(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    path: *const driftsync_mixed_key_t,
    path_len: usize,
    index: usize,
    kind: i32,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let (path, input) = (read_path(path, path_len)?, read_input(kind, value)?);
            Ok(t.realm.mixed_insert(t.class, &t.pk, prop, &path, index, input)?)
        })
    }
}

/// Erases the list element or dictionary key at `path` (at least one step) of a single mixed
/// property. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_mixed_erase(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    path: *const driftsync_mixed_key_t,
    path_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let path = read_path(path, path_len)?;
            Ok(t.realm.mixed_erase(t.class, &t.pk, prop, &path)?)
        })
    }
}

/// What a path into a single mixed field of an object copy leads to.
enum At<'a> {
    Value(&'a crate::value::Value),
    Nested(&'a Mixed),
}

/// # Safety
/// Pointers must be NULL or valid for their lengths.
unsafe fn mixed_at<'a>(
    object: *const driftsync_object_t,
    property: *const c_char,
    property_len: usize,
    path: *const driftsync_mixed_key_t,
    path_len: usize,
) -> FfiResult<At<'a>> {
    // SAFETY: forwarded from the caller.
    let (field, path) = unsafe { (field_arg(object, property, property_len)?, read_path(path, path_len)?) };
    let nothing = || crate::Error::TypeMismatch(format!("nothing at {path:?} in the mixed"));
    match field {
        // A mixed holding a value reads as a value field.
        FieldValue::Value(v) if path.is_empty() => Ok(At::Value(v)),
        FieldValue::Value(_) => Err(nothing().into()),
        FieldValue::Mixed(m) => match m.at(&path).ok_or_else(nothing)? {
            Mixed::Value(v) => Ok(At::Value(v)),
            nested => Ok(At::Nested(nested)),
        },
        _ => Err(crate::Error::TypeMismatch("the field is not a single mixed".into()).into()),
    }
}

/// Reads what is at `path` of a single mixed field of an object copy: its kind, and either the
/// value (`DRIFTSYNC_MIXED_VALUE`, borrowed from the object) or the number of elements or
/// entries of the nested collection (`out_len`). `out_value` and `out_len` may be NULL when not
/// wanted. A path to nothing is `DRIFTSYNC_STATUS_TYPE_MISMATCH`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_mixed_get(
    object: *const driftsync_object_t,
    property: *const c_char,
    property_len: usize,
    path: *const driftsync_mixed_key_t,
    path_len: usize,
    out_kind: *mut driftsync_mixed_kind_t,
    out_value: *mut driftsync_value_t,
    out_len: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        check_out(out_kind, "out_kind")?;
        // SAFETY: the caller passes valid pointers and lengths.
        let (kind, len) = match unsafe { mixed_at(object, property, property_len, path, path_len)? } {
            At::Value(v) => {
                if !out_value.is_null() {
                    write_out(out_value, value_view(v));
                }
                (driftsync_mixed_kind_t::DRIFTSYNC_MIXED_VALUE, 0)
            }
            At::Nested(Mixed::List(l)) => (driftsync_mixed_kind_t::DRIFTSYNC_MIXED_LIST, l.len()),
            At::Nested(Mixed::Dict(d)) => (driftsync_mixed_kind_t::DRIFTSYNC_MIXED_DICTIONARY, d.len()),
            At::Nested(Mixed::Value(_)) => return Err(Failure::invalid("a nested value read as a collection")),
        };
        write_out(out_kind, kind);
        if !out_len.is_null() {
            write_out(out_len, len);
        }
        Ok(())
    })
}

/// The key of the entry at `index` (key order) of the nested dictionary at `path` of a single
/// mixed field of an object copy, borrowed from the object. Its value is at the path extended
/// by that key.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_mixed_key(
    object: *const driftsync_object_t,
    property: *const c_char,
    property_len: usize,
    path: *const driftsync_mixed_key_t,
    path_len: usize,
    index: usize,
    out_key: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        check_out(out_key, "out_key")?;
        // SAFETY: the caller passes valid pointers and lengths.
        let At::Nested(Mixed::Dict(d)) = (unsafe { mixed_at(object, property, property_len, path, path_len)? }) else {
            return Err(crate::Error::TypeMismatch("the path does not lead to a nested dictionary".into()).into());
        };
        let (k, _) = d.get(index).ok_or(crate::Error::IndexOutOfRange { index, len: d.len() })?;
        write_out(out_key, str_view(k));
        Ok(())
    })
}
