//! Embedded objects (issue 15) in the C ABI: a class marked embedded in the schema builder (or
//! `"embedded": true` in JSON), and the object calls that address an embedded object by a path
//! from its top-level parent: property names separated by `.`, a list element as `name[index]`
//! (`address`, `address.street`, `parts[2].qty`). Writes need a write transaction; a bad path,
//! a wrong value type or a write of a link to a property holding embedded objects is a typed
//! status and changes nothing.

use super::object::driftsync_owned_value_t;
use super::realm::{Target, driftsync_realm_t, target};
use super::schema::{builder_has_class, driftsync_schema_builder_t};
use super::types::*;
use crate::value::Value;
use std::ffi::c_char;

/// Marks a class added before as embedded (`"embedded": true` in the JSON form): add it with an
/// empty primary-key name (`primary_key_len` 0); its objects live inside a parent, reached through
/// a link (or list of links) property whose target is this class.
/// `DRIFTSYNC_STATUS_UNKNOWN_CLASS` if the class was not added.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_builder_set_embedded(
    builder: *mut driftsync_schema_builder_t,
    class_name: *const c_char,
    class_name_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live builder.
        let b = unsafe { builder.as_ref() }.ok_or_else(|| Failure::null("builder"))?;
        // SAFETY: the caller passes a readable string.
        let class = unsafe { str_arg(class_name, class_name_len, "class_name")? };
        if !builder_has_class(b, class) {
            return Err(crate::Error::UnknownClass(class.to_string()).into());
        }
        b.embedded.lock().push(class.to_string());
        Ok(())
    })
}

/// Runs one embedded-object call: the object, the path, then the rest of the arguments.
///
/// # Safety
/// Pointers must be NULL or valid for their lengths.
unsafe fn path_call(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: *const c_char,
    path_len: usize,
    out_error: *mut *mut driftsync_error_t,
    f: impl FnOnce(Target<'_>, &str) -> FfiResult<()>,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: forwarded from the caller.
        let (t, path) = unsafe { (target(realm, class_name, class_name_len, primary_key)?, str_arg(path, path_len, "path")?) };
        f(t, path)
    })
}

/// Runs one call that makes an embedded object: the object, the path, the new object's fields.
///
/// # Safety
/// Pointers must be NULL or valid for their lengths.
unsafe fn fields_call(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: (*const c_char, usize),
    fields: (*const driftsync_field_t, usize),
    out_error: *mut *mut driftsync_error_t,
    f: impl FnOnce(Target<'_>, &str, &[(&str, Value)]) -> crate::Result<()>,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        path_call(realm, class_name, class_name_len, primary_key, path.0, path.1, out_error, |t, path| {
            let fields = read_fields(fields.0, fields.1)?;
            let refs: Vec<(&str, Value)> = fields.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
            Ok(f(t, path, &refs)?)
        })
    }
}

/// Sets the property at `path` (`address`, `parts[0].spec`), which holds one embedded object, to
/// a new embedded object with `fields` (scalars; `fields` may be NULL when `fields_len` is 0).
/// The object it held, and everything inside it, is gone.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_set_embedded(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: *const c_char,
    path_len: usize,
    fields: *const driftsync_field_t,
    fields_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        fields_call(realm, class_name, class_name_len, primary_key, (path, path_len), (fields, fields_len), out_error, |t, path, f| {
            t.realm.set_embedded(t.class, &t.pk, path, f)
        })
    }
}

/// Inserts a new embedded object with `fields` at `index` (0 ≤ index ≤ length) of the list of
/// embedded objects at `path` (`parts`, `parts[0].subparts`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_insert_embedded(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: *const c_char,
    path_len: usize,
    index: usize,
    fields: *const driftsync_field_t,
    fields_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        fields_call(realm, class_name, class_name_len, primary_key, (path, path_len), (fields, fields_len), out_error, |t, path, f| {
            t.realm.insert_embedded(t.class, &t.pk, path, index, f)
        })
    }
}

/// Appends a new embedded object with `fields` to the list of embedded objects at `path`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_push_embedded(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: *const c_char,
    path_len: usize,
    fields: *const driftsync_field_t,
    fields_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        fields_call(realm, class_name, class_name_len, primary_key, (path, path_len), (fields, fields_len), out_error, |t, path, f| {
            t.realm.push_embedded(t.class, &t.pk, path, f)
        })
    }
}

/// Removes the embedded object at `path`: a property holding one (`address`: it becomes null)
/// or a list element (`parts[2]`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_remove_embedded(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: *const c_char,
    path_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        path_call(realm, class_name, class_name_len, primary_key, path, path_len, out_error, |t, path| {
            Ok(t.realm.remove_embedded(t.class, &t.pk, path)?)
        })
    }
}

/// Sets a scalar property inside an embedded object: `path` is the path to the object, then the
/// property (`address.street`, `parts[1].qty`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_set_embedded_value(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: *const c_char,
    path_len: usize,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        path_call(realm, class_name, class_name_len, primary_key, path, path_len, out_error, |t, path| {
            let value = read_value(value, "value")?;
            Ok(t.realm.set_embedded_value(t.class, &t.pk, path, value)?)
        })
    }
}

/// Reads a scalar property inside an embedded object (`address.street`, `parts[1].qty`) as an
/// owned value; free it with `driftsync_owned_value_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_get_embedded_value(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: *const c_char,
    path_len: usize,
    out_value: *mut *mut driftsync_owned_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        path_call(realm, class_name, class_name_len, primary_key, path, path_len, out_error, |t, path| {
            check_out(out_value, "out_value")?;
            let v = t.realm.get_embedded_value(t.class, &t.pk, path)?;
            write_out(out_value, driftsync_owned_value_t::new(v));
            Ok(())
        })
    }
}

/// Whether the embedded object at `path` (`address`, `parts[1]`) is there (false: the property
/// is null).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_embedded_exists(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: *const c_char,
    path_len: usize,
    out_exists: *mut bool,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        path_call(realm, class_name, class_name_len, primary_key, path, path_len, out_error, |t, path| {
            check_out(out_exists, "out_exists")?;
            let exists = t.realm.get_embedded(t.class, &t.pk, path)?.is_some();
            write_out(out_exists, exists);
            Ok(())
        })
    }
}

/// The number of embedded objects in the list at `path` (`parts`, `parts[0].subparts`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_embedded_len(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    path: *const c_char,
    path_len: usize,
    out_len: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        path_call(realm, class_name, class_name_len, primary_key, path, path_len, out_error, |t, path| {
            check_out(out_len, "out_len")?;
            let n = t.realm.embedded_len(t.class, &t.pk, path)?;
            write_out(out_len, n);
            Ok(())
        })
    }
}
