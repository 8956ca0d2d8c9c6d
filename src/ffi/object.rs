//! Objects as read (owned copies), owned values, and cursors over a class.

use super::realm::{RealmSource, driftsync_realm_t};
use super::types::*;
use crate::realm::{FieldValue, Object};
use crate::value::{PrimaryKey, Value};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::ffi::c_char;

/// An object as read: a copy of its class name, primary key and every field, unaffected by later
/// writes. Views returned by its accessors borrow from it until `driftsync_object_free`.
pub struct driftsync_object_t {
    object: Object,
}

impl driftsync_object_t {
    pub(crate) fn new(object: Object) -> *mut driftsync_object_t {
        Box::into_raw(Box::new(driftsync_object_t { object }))
    }
}

/// One value read from a realm. `driftsync_owned_value_get` gives a view that borrows from it
/// until `driftsync_owned_value_free`.
pub struct driftsync_owned_value_t {
    value: Value,
}

impl driftsync_owned_value_t {
    pub(crate) fn new(value: Value) -> *mut driftsync_owned_value_t {
        Box::into_raw(Box::new(driftsync_owned_value_t { value }))
    }
}

/// # Safety
/// `p` must be NULL or a live object.
unsafe fn object_arg<'a>(p: *const driftsync_object_t) -> FfiResult<&'a Object> {
    // SAFETY: forwarded from the caller.
    unsafe { p.as_ref() }.map(|o| &o.object).ok_or_else(|| Failure::null("object"))
}

/// # Safety
/// Pointers must be NULL or valid for their lengths.
pub(crate) unsafe fn field_arg<'a>(
    object: *const driftsync_object_t,
    property: *const c_char,
    property_len: usize,
) -> FfiResult<&'a FieldValue> {
    // SAFETY: forwarded from the caller.
    let (o, name) = unsafe { (object_arg(object)?, str_arg(property, property_len, "property")?) };
    o.field(name).ok_or_else(|| crate::Error::unknown_property(&o.class, name).into())
}

/// The view of an owned value; it borrows from `value`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_owned_value_get(
    value: *const driftsync_owned_value_t,
    out_value: *mut driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live owned value.
        let v = unsafe { value.as_ref() }.ok_or_else(|| Failure::null("value"))?;
        check_out(out_value, "out_value")?;
        write_out(out_value, value_view(&v.value));
        Ok(())
    })
}

/// Frees an owned value. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_owned_value_free(value: *mut driftsync_owned_value_t) {
    if !value.is_null() {
        // SAFETY: a live owned value, freed once.
        guard_value((), || drop(unsafe { Box::from_raw(value) }));
    }
}

/// The class name of an object (borrowed; empty for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_class(object: *const driftsync_object_t) -> driftsync_string_t {
    // SAFETY: NULL or a live object.
    unsafe { object.as_ref() }.map(|o| str_view(&o.object.class)).unwrap_or(EMPTY_STRING)
}

/// The primary key of an object (borrowed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_primary_key(
    object: *const driftsync_object_t,
    out_primary_key: *mut driftsync_pk_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live object.
        let o = unsafe { object_arg(object)? };
        check_out(out_primary_key, "out_primary_key")?;
        write_out(out_primary_key, pk_view(&o.pk));
        Ok(())
    })
}

/// The number of fields of an object: every property of its class, the primary key included
/// (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_field_count(object: *const driftsync_object_t) -> usize {
    // SAFETY: NULL or a live object.
    unsafe { object.as_ref() }.map(|o| o.object.fields.len()).unwrap_or(0)
}

/// The name of the field at `index` (schema order) and whether it is a list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_field_name(
    object: *const driftsync_object_t,
    index: usize,
    out_name: *mut driftsync_string_t,
    out_is_list: *mut bool,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live object.
        let o = unsafe { object_arg(object)? };
        check_out(out_name, "out_name")?;
        check_out(out_is_list, "out_is_list")?;
        let len = o.fields.len();
        let (name, f) = o.fields.get(index).ok_or(crate::Error::IndexOutOfRange { index, len })?;
        write_out(out_name, str_view(name));
        // A set reads like a list (its elements in canonical order): `out_is_list` is true.
        write_out(out_is_list, matches!(f, FieldValue::List(_) | FieldValue::Set(_)));
        Ok(())
    })
}

/// The value of a (non-list) field, borrowed from the object. A list gives
/// `DRIFTSYNC_STATUS_TYPE_MISMATCH`; an unknown name `DRIFTSYNC_STATUS_UNKNOWN_PROPERTY`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_get_value(
    object: *const driftsync_object_t,
    property: *const c_char,
    property_len: usize,
    out_value: *mut driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let f = unsafe { field_arg(object, property, property_len)? };
        check_out(out_value, "out_value")?;
        match f {
            FieldValue::Value(v) => write_out(out_value, value_view(v)),
            FieldValue::List(_) | FieldValue::Set(_) => {
                return Err(crate::Error::TypeMismatch("the field is a list or set; use driftsync_object_list_get".into()).into());
            }
            FieldValue::Dict(_) => {
                return Err(crate::Error::TypeMismatch("the field is a dictionary; use driftsync_object_dict_get".into()).into());
            }
            FieldValue::Mixed(_) => {
                return Err(
                    crate::Error::TypeMismatch("the field is a mixed holding a collection; use driftsync_object_mixed_get".into()).into()
                );
            }
            FieldValue::Embedded(_) | FieldValue::EmbeddedList(_) => {
                return Err(crate::Error::TypeMismatch("the field holds embedded objects; read them by path".into()).into());
            }
        }
        Ok(())
    })
}

/// The elements of a list, or of a set (in canonical order).
fn list_of(f: &FieldValue) -> FfiResult<&[Value]> {
    match f {
        FieldValue::List(l) | FieldValue::Set(l) => Ok(l),
        FieldValue::Value(_) | FieldValue::Dict(_) | FieldValue::Mixed(_) | FieldValue::Embedded(_) | FieldValue::EmbeddedList(_) => {
            Err(crate::Error::TypeMismatch("the field is not a list".into()).into())
        }
    }
}

/// The length of a list (or set) field.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_list_len(
    object: *const driftsync_object_t,
    property: *const c_char,
    property_len: usize,
    out_len: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let l = list_of(unsafe { field_arg(object, property, property_len)? })?;
        check_out(out_len, "out_len")?;
        write_out(out_len, l.len());
        Ok(())
    })
}

/// The element at `index` of a list (or set: canonical order) field, borrowed from the object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_list_get(
    object: *const driftsync_object_t,
    property: *const c_char,
    property_len: usize,
    index: usize,
    out_value: *mut driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let l = list_of(unsafe { field_arg(object, property, property_len)? })?;
        check_out(out_value, "out_value")?;
        let v = l.get(index).ok_or(crate::Error::IndexOutOfRange { index, len: l.len() })?;
        write_out(out_value, value_view(v));
        Ok(())
    })
}

/// What the field at `index` (schema order) holds: one value, a list, a set or a dictionary.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_field_collection(
    object: *const driftsync_object_t,
    index: usize,
    out_collection: *mut driftsync_collection_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live object.
        let o = unsafe { object_arg(object)? };
        check_out(out_collection, "out_collection")?;
        let len = o.fields.len();
        let (_, f) = o.fields.get(index).ok_or(crate::Error::IndexOutOfRange { index, len })?;
        write_out(
            out_collection,
            match f {
                FieldValue::Value(_) => driftsync_collection_t::DRIFTSYNC_COLLECTION_NONE,
                FieldValue::List(_) => driftsync_collection_t::DRIFTSYNC_COLLECTION_LIST,
                FieldValue::Set(_) => driftsync_collection_t::DRIFTSYNC_COLLECTION_SET,
                FieldValue::Dict(_) => driftsync_collection_t::DRIFTSYNC_COLLECTION_DICTIONARY,
                FieldValue::Mixed(_) => driftsync_collection_t::DRIFTSYNC_COLLECTION_MIXED,
                FieldValue::Embedded(_) => driftsync_collection_t::DRIFTSYNC_COLLECTION_EMBEDDED,
                FieldValue::EmbeddedList(_) => driftsync_collection_t::DRIFTSYNC_COLLECTION_EMBEDDED_LIST,
            },
        );
        Ok(())
    })
}

fn dict_of(f: &FieldValue) -> FfiResult<&[(String, Value)]> {
    match f {
        FieldValue::Dict(d) => Ok(d),
        _ => Err(crate::Error::TypeMismatch("the field is not a dictionary".into()).into()),
    }
}

/// The number of entries of a dictionary field.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_dict_len(
    object: *const driftsync_object_t,
    property: *const c_char,
    property_len: usize,
    out_len: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let d = dict_of(unsafe { field_arg(object, property, property_len)? })?;
        check_out(out_len, "out_len")?;
        write_out(out_len, d.len());
        Ok(())
    })
}

/// The entry at `index` (key order) of a dictionary field: its key and value, borrowed from the
/// object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_dict_get(
    object: *const driftsync_object_t,
    property: *const c_char,
    property_len: usize,
    index: usize,
    out_key: *mut driftsync_string_t,
    out_value: *mut driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let d = dict_of(unsafe { field_arg(object, property, property_len)? })?;
        check_out(out_key, "out_key")?;
        check_out(out_value, "out_value")?;
        let (k, v) = d.get(index).ok_or(crate::Error::IndexOutOfRange { index, len: d.len() })?;
        write_out(out_key, str_view(k));
        write_out(out_value, value_view(v));
        Ok(())
    })
}

/// Frees an object. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_object_free(object: *mut driftsync_object_t) {
    if !object.is_null() {
        // SAFETY: a live object, freed once.
        guard_value((), || drop(unsafe { Box::from_raw(object) }));
    }
}

// ---- cursors ---------------------------------------------------------------------------------

const DEFAULT_BATCH: usize = 64;
const MAX_BATCH: usize = 4096;

struct CursorState {
    /// Resolved on each batch: a cursor over a lent realm reports `CLOSED` once it is taken back.
    realm: RealmSource,
    class: String,
    batch: usize,
    after: Option<PrimaryKey>,
    buffer: VecDeque<Object>,
    done: bool,
}

/// Iterates the objects of one class in primary-key order, reading them in batches, so memory
/// stays bounded by the batch size whatever the size of the class. On a live realm each batch
/// sees the latest commit (objects created behind the cursor's position are not visited); on a
/// frozen snapshot the iteration is consistent. Free it with `driftsync_cursor_free`.
pub struct driftsync_cursor_t {
    state: Mutex<CursorState>,
}

/// Opens a cursor over the objects of `class_name`. `batch_size` is how many objects are read
/// at a time (0: a default of 64; at most 4096).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_cursor_new(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    batch_size: usize,
    out_cursor: *mut *mut driftsync_cursor_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let (h, class) =
            unsafe { (realm.as_ref().ok_or_else(|| Failure::null("realm"))?, str_arg(class_name, class_name_len, "class_name")?) };
        check_out(out_cursor, "out_cursor")?;
        let r = h.source.get()?;
        if r.is_closed() {
            return Err(crate::Error::Closed.into());
        }
        r.schema().class(class)?;
        let batch = if batch_size == 0 { DEFAULT_BATCH } else { batch_size.min(MAX_BATCH) };
        let state =
            CursorState { realm: h.source.clone(), class: class.to_string(), batch, after: None, buffer: VecDeque::new(), done: false };
        write_out(out_cursor, Box::into_raw(Box::new(driftsync_cursor_t { state: Mutex::new(state) })));
        Ok(())
    })
}

/// The next object (free it with `driftsync_object_free`), or NULL in `*out_object` when the
/// iteration is over.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_cursor_next(
    cursor: *mut driftsync_cursor_t,
    out_object: *mut *mut driftsync_object_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live cursor.
        let c = unsafe { cursor.as_ref() }.ok_or_else(|| Failure::null("cursor"))?;
        check_out(out_object, "out_object")?;
        let mut st = c.state.lock();
        if st.buffer.is_empty() && !st.done {
            let page = st.realm.get()?.objects_page(&st.class, st.after.as_ref(), st.batch)?;
            if page.len() < st.batch {
                st.done = true;
            }
            if let Some(last) = page.last() {
                st.after = Some(last.pk.clone());
            }
            st.buffer.extend(page);
        }
        let next = st.buffer.pop_front();
        drop(st);
        write_out(out_object, next.map(driftsync_object_t::new).unwrap_or(std::ptr::null_mut()));
        Ok(())
    })
}

/// Frees a cursor. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_cursor_free(cursor: *mut driftsync_cursor_t) {
    if !cursor.is_null() {
        // SAFETY: a live cursor, freed once.
        guard_value((), || drop(unsafe { Box::from_raw(cursor) }));
    }
}
