//! Schemas: built with calls or parsed from JSON.

use super::types::*;
use crate::schema::{ClassSchema, Property, Schema};
use crate::value::ScalarType;
use parking_lot::Mutex;
use std::ffi::c_char;
use std::ptr::addr_of;

/// A schema under construction. Create with `driftsync_schema_builder_new`; consumed by
/// `driftsync_schema_builder_build` (or released with `driftsync_schema_builder_free`).
pub struct driftsync_schema_builder_t {
    classes: Mutex<Vec<(String, String, Vec<Property>)>>,
    /// The classes marked with `driftsync_schema_builder_set_embedded`.
    pub(crate) embedded: Mutex<Vec<String>>,
}

/// A validated schema. Release it with `driftsync_schema_free`; a config builder copies what it
/// needs, so the schema may be freed right after `driftsync_config_builder_set_schema`.
pub struct driftsync_schema_t {
    pub(crate) schema: Schema,
}

/// One property for `driftsync_schema_builder_add_property`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct driftsync_property_t {
    /// The property's name.
    pub name: driftsync_string_t,
    /// Its type (or, for a list, the type of its elements); not `DRIFTSYNC_VALUE_NULL`.
    pub kind: driftsync_value_type_t,
    /// A list of `kind` values (for links: a list of links).
    pub list: bool,
    /// Whether the value (for lists: each element) may be null. A single link must be optional.
    pub optional: bool,
    /// For links and lists of links: the target class. Otherwise `data` must be NULL.
    pub target: driftsync_string_t,
}

fn scalar_type(tag: i32) -> FfiResult<ScalarType> {
    Ok(match tag {
        1 => ScalarType::Bool,
        2 => ScalarType::Int,
        3 => ScalarType::Double,
        4 => ScalarType::String,
        5 => ScalarType::Binary,
        6 => ScalarType::Timestamp,
        7 => ScalarType::ObjectId,
        8 => ScalarType::Uuid,
        9 => ScalarType::Link,
        10 => ScalarType::Mixed,
        other => return Err(Failure::invalid(format!("{other} is not a property type"))),
    })
}

/// A new, empty schema builder. Returns NULL only if the library failed internally.
#[unsafe(no_mangle)]
pub extern "C" fn driftsync_schema_builder_new() -> *mut driftsync_schema_builder_t {
    guard_value(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(driftsync_schema_builder_t { classes: Mutex::new(Vec::new()), embedded: Mutex::new(Vec::new()) }))
    })
}

/// Adds a class with the name of its primary-key property (which must then be added with
/// `driftsync_schema_builder_add_property`, as an int, string, objectId or uuid property).
/// Names are validated by `driftsync_schema_builder_build`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_builder_add_class(
    builder: *mut driftsync_schema_builder_t,
    name: *const c_char,
    name_len: usize,
    primary_key: *const c_char,
    primary_key_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live builder.
        let b = unsafe { builder.as_ref() }.ok_or_else(|| Failure::null("builder"))?;
        // SAFETY: the caller passes readable strings.
        let name = unsafe { str_arg(name, name_len, "name")? };
        let pk = unsafe { str_arg(primary_key, primary_key_len, "primary_key")? };
        b.classes.lock().push((name.to_string(), pk.to_string(), Vec::new()));
        Ok(())
    })
}

/// Adds a property to a class added before (`DRIFTSYNC_STATUS_UNKNOWN_CLASS` otherwise).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_builder_add_property(
    builder: *mut driftsync_schema_builder_t,
    class_name: *const c_char,
    class_name_len: usize,
    property: *const driftsync_property_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live builder.
        let b = unsafe { builder.as_ref() }.ok_or_else(|| Failure::null("builder"))?;
        // SAFETY: the caller passes readable strings and a readable property.
        let class = unsafe { str_arg(class_name, class_name_len, "class_name")? };
        if property.is_null() {
            return Err(Failure::null("property"));
        }
        let p = unsafe {
            let name = string_struct((*property).name, "property name")?;
            let kind = scalar_type(enum_raw(addr_of!((*property).kind)))?;
            let target = (*property).target;
            let target = if target.data.is_null() && target.len == 0 { None } else { Some(string_struct(target, "target")?.to_string()) };
            Property {
                name: name.to_string(),
                kind,
                list: bool_raw(addr_of!((*property).list)),
                optional: bool_raw(addr_of!((*property).optional)),
                target,
                counter: false,
                set: false,
                dictionary: false,
            }
        };
        let mut classes = b.classes.lock();
        let c = classes.iter_mut().find(|c| c.0 == class).ok_or_else(|| Failure::from(crate::Error::UnknownClass(class.to_string())))?;
        c.2.push(p);
        Ok(())
    })
}

/// Makes a property added before (with `list` false) a set of its `kind` (`"set": true` in the
/// JSON form): edited with `driftsync_realm_set_add` / `_set_remove` / `_set_clear`, read like a
/// list from an object copy (`driftsync_object_list_len` / `_list_get`, canonical order).
/// `DRIFTSYNC_STATUS_UNKNOWN_CLASS` / `DRIFTSYNC_STATUS_UNKNOWN_PROPERTY` if not added yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_builder_set_set(
    builder: *mut driftsync_schema_builder_t,
    class_name: *const c_char,
    class_name_len: usize,
    property_name: *const c_char,
    property_name_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { mark_property(builder, class_name, class_name_len, property_name, property_name_len, out_error, |p| p.set = true) }
}

/// Makes a property added before (with `list` false) a dictionary from string keys to its
/// `kind` (`"dictionary": true` in the JSON form; a dictionary of links must be optional).
/// Edited with `driftsync_realm_dict_set` / `_dict_erase` / `_dict_clear`, read from an object
/// copy with `driftsync_object_dict_len` / `_dict_get` (key order).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_builder_set_dictionary(
    builder: *mut driftsync_schema_builder_t,
    class_name: *const c_char,
    class_name_len: usize,
    property_name: *const c_char,
    property_name_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { mark_property(builder, class_name, class_name_len, property_name, property_name_len, out_error, |p| p.dictionary = true) }
}

/// Finds a property added to the builder and changes one of its flags.
///
/// # Safety
/// Pointers must be NULL or valid for their lengths.
unsafe fn mark_property(
    builder: *mut driftsync_schema_builder_t,
    class_name: *const c_char,
    class_name_len: usize,
    property_name: *const c_char,
    property_name_len: usize,
    out_error: *mut *mut driftsync_error_t,
    mark: impl FnOnce(&mut Property),
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live builder.
        let b = unsafe { builder.as_ref() }.ok_or_else(|| Failure::null("builder"))?;
        // SAFETY: the caller passes readable strings.
        let class = unsafe { str_arg(class_name, class_name_len, "class_name")? };
        let prop = unsafe { str_arg(property_name, property_name_len, "property_name")? };
        let mut classes = b.classes.lock();
        let c = classes.iter_mut().find(|c| c.0 == class).ok_or_else(|| Failure::from(crate::Error::UnknownClass(class.to_string())))?;
        let p = c.2.iter_mut().find(|p| p.name == prop).ok_or_else(|| Failure::from(crate::Error::unknown_property(class, prop)))?;
        mark(p);
        Ok(())
    })
}

/// Makes a property added before an int counter (`"counter": true` in the JSON form): it takes
/// `driftsync_realm_counter_add`. The type is checked by `driftsync_schema_builder_build`.
/// `DRIFTSYNC_STATUS_UNKNOWN_CLASS` / `DRIFTSYNC_STATUS_UNKNOWN_PROPERTY` if not added yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_builder_set_counter(
    builder: *mut driftsync_schema_builder_t,
    class_name: *const c_char,
    class_name_len: usize,
    property_name: *const c_char,
    property_name_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe { mark_property(builder, class_name, class_name_len, property_name, property_name_len, out_error, |p| p.counter = true) }
}

/// Whether the builder has a class of this name (for `driftsync_schema_builder_set_embedded`).
pub(crate) fn builder_has_class(b: &driftsync_schema_builder_t, name: &str) -> bool {
    b.classes.lock().iter().any(|c| c.0 == name)
}

/// Validates the classes added so far and makes a schema (`DRIFTSYNC_STATUS_INVALID_SCHEMA`
/// says what is wrong). Consumes the builder whatever the outcome: do not use or free it after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_builder_build(
    builder: *mut driftsync_schema_builder_t,
    out_schema: *mut *mut driftsync_schema_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        if builder.is_null() {
            return Err(Failure::null("builder"));
        }
        // SAFETY: a live builder, consumed here exactly once.
        let b = unsafe { Box::from_raw(builder) };
        check_out(out_schema, "out_schema")?;
        let embedded = b.embedded.into_inner();
        let classes = b
            .classes
            .into_inner()
            .into_iter()
            .map(|(n, pk, props)| {
                let mut c = ClassSchema::new(&n, &pk, props);
                c.embedded = embedded.contains(&n);
                c
            })
            .collect();
        let schema = Schema::new(classes)?;
        write_out(out_schema, Box::into_raw(Box::new(driftsync_schema_t { schema })));
        Ok(())
    })
}

/// Frees a builder that was not built. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_builder_free(builder: *mut driftsync_schema_builder_t) {
    if !builder.is_null() {
        // SAFETY: a live builder, freed once.
        guard_value((), || drop(unsafe { Box::from_raw(builder) }));
    }
}

/// Parses a schema from its JSON form:
/// `{"classes":[{"name":"Dog","primaryKey":"id","properties":[{"name":"id","type":"int"},
/// {"name":"owner","type":"link","optional":true,"target":"Person"}]}]}`
/// with types bool, int, double, string, binary, timestamp, objectId, uuid, link (capitalized
/// forms are accepted too) and the optional flags `list`, `optional` and `counter` (an int
/// that takes `driftsync_object_counter_add`; false when absent).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_from_json(
    json: *const c_char,
    json_len: usize,
    out_schema: *mut *mut driftsync_schema_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes a readable string.
        let json = unsafe { str_arg(json, json_len, "json")? };
        check_out(out_schema, "out_schema")?;
        let schema = Schema::from_json(json)?;
        write_out(out_schema, Box::into_raw(Box::new(driftsync_schema_t { schema })));
        Ok(())
    })
}

/// The number of classes of a schema (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_class_count(schema: *const driftsync_schema_t) -> usize {
    // SAFETY: NULL or a live schema.
    unsafe { schema.as_ref() }.map(|s| s.schema.classes.len()).unwrap_or(0)
}

/// Frees a schema. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_schema_free(schema: *mut driftsync_schema_t) {
    if !schema.is_null() {
        // SAFETY: a live schema, freed once.
        guard_value((), || drop(unsafe { Box::from_raw(schema) }));
    }
}
