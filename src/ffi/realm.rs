//! Realm handles: open, close, free, transactions, snapshots, objects, values and lists.

use super::config::driftsync_config_t;
use super::object::{driftsync_object_t, driftsync_owned_value_t};
use super::observe::Registration;
use super::types::*;
use crate::realm::Realm;
use crate::value::{PrimaryKey, Value};
use parking_lot::{Condvar, Mutex};
use std::ffi::c_char;
use std::ops::Deref;
use std::sync::{Arc, Weak};

/// An open realm, or a frozen snapshot of one (see `driftsync_realm_freeze`). Release it with
/// `driftsync_realm_free`. It may be used from any thread, also by several threads at once; a
/// write transaction belongs to the thread that began it.
///
/// A handle the library passes to a callback (the `before` and `live` realms of the client-reset
/// hooks) is lent for the duration of the call: do not keep the pointer past the callback. When
/// the callback returns the library closes it (observers registered through it are unregistered;
/// cursors made from it report `DRIFTSYNC_STATUS_CLOSED`) and frees it; freeing or closing it
/// inside the callback only closes it.
pub struct driftsync_realm_t {
    pub(crate) source: RealmSource,
    /// The observers registered through this handle: unregistered when it closes.
    pub(crate) registrations: Mutex<Vec<Weak<Registration>>>,
}

/// Where a handle's realm comes from: owned by the handle, or lent by the library to a callback.
#[derive(Clone)]
pub(crate) enum RealmSource {
    Owned(Arc<Realm>),
    Lent(Arc<Lent>),
}

/// A realm the library lends to a callback: valid while `open`; the lender waits until no call is
/// using it before taking it back.
pub(crate) struct Lent {
    realm: *const Realm,
    state: Mutex<LentState>,
    idle: Condvar,
}

struct LentState {
    open: bool,
    users: usize,
}

// SAFETY: `realm` points at a `Realm` (Send + Sync) that the lender keeps alive until `users` is 0
// and `open` is false; it is only dereferenced through a `RealmRef` counted in `users`.
unsafe impl Send for Lent {}
unsafe impl Sync for Lent {}

/// A realm in use by one call: keeps it alive (owned) or counted as in use (lent).
pub(crate) enum RealmRef {
    Owned(Arc<Realm>),
    Lent(Arc<Lent>),
}

impl Deref for RealmRef {
    type Target = Realm;
    fn deref(&self) -> &Realm {
        match self {
            RealmRef::Owned(r) => r,
            // SAFETY: counted in `users`, so the lender has not taken the realm back.
            RealmRef::Lent(l) => unsafe { &*l.realm },
        }
    }
}

impl Drop for RealmRef {
    fn drop(&mut self) {
        if let RealmRef::Lent(l) = self {
            let mut st = l.state.lock();
            st.users -= 1;
            if st.users == 0 {
                l.idle.notify_all();
            }
        }
    }
}

impl RealmSource {
    /// The realm for one call; `DRIFTSYNC_STATUS_CLOSED` for a lent realm taken back.
    pub(crate) fn get(&self) -> FfiResult<RealmRef> {
        match self {
            RealmSource::Owned(r) => Ok(RealmRef::Owned(r.clone())),
            RealmSource::Lent(l) => {
                let mut st = l.state.lock();
                if !st.open {
                    return Err(crate::Error::Closed.into());
                }
                st.users += 1;
                Ok(RealmRef::Lent(l.clone()))
            }
        }
    }

    /// Runs `f` on the realm, or gives `None` when a lent realm was taken back.
    fn query(&self, f: impl FnOnce(&Realm) -> bool) -> Option<bool> {
        self.get().ok().map(|r| f(&r))
    }
}

impl driftsync_realm_t {
    fn new(realm: Realm) -> *mut driftsync_realm_t {
        Self::with_source(RealmSource::Owned(Arc::new(realm)))
    }

    fn with_source(source: RealmSource) -> *mut driftsync_realm_t {
        Box::into_raw(Box::new(driftsync_realm_t { source, registrations: Mutex::new(Vec::new()) }))
    }

    /// Closes the realm and unregisters the observers registered through this handle. No lock
    /// is held while the observers' closures are dropped.
    fn shut(&self) {
        match &self.source {
            RealmSource::Owned(r) => r.close(),
            RealmSource::Lent(l) => l.state.lock().open = false,
        }
        let regs = std::mem::take(&mut *self.registrations.lock());
        for r in regs.iter().filter_map(Weak::upgrade) {
            r.unregister();
        }
    }

    fn is_lent(&self) -> bool {
        matches!(self.source, RealmSource::Lent(_))
    }
}

/// Lends `realm` to a callback as a handle, runs `f` with it, then takes it back: the handle is
/// closed, its observers unregistered, and the call waits until no other thread is still using it.
pub(crate) fn lend<T>(realm: &Realm, f: impl FnOnce(*mut driftsync_realm_t) -> T) -> T {
    let lent = Arc::new(Lent { realm, state: Mutex::new(LentState { open: true, users: 0 }), idle: Condvar::new() });
    let handle = driftsync_realm_t::with_source(RealmSource::Lent(lent.clone()));
    struct TakeBack(*mut driftsync_realm_t, Arc<Lent>);
    impl Drop for TakeBack {
        fn drop(&mut self) {
            // SAFETY: the handle made above; callbacks cannot free it (free only closes lent ones).
            let h = unsafe { Box::from_raw(self.0) };
            h.shut();
            let mut st = self.1.state.lock();
            while st.users > 0 {
                self.1.idle.wait(&mut st);
            }
        }
    }
    let _back = TakeBack(handle, lent);
    f(handle)
}

/// Lends a realm handle for the library's own handle of a live realm: a separate, uncounted
/// handle of the same file, closed (its transaction, if left open, rolled back) when `f` returns.
pub(crate) fn lend_live<T>(realm: &Realm, f: impl FnOnce(*mut driftsync_realm_t) -> T) -> T {
    // A lent handle (freeing it from C only closes it) over a handle of our own, which is
    // closed afterwards so that a transaction the callback left open is rolled back.
    let own = realm.internal_handle();
    let r = lend(&own, f);
    own.close();
    r
}

/// The realm behind a handle argument, held for the call (so that it lives through the call even
/// if a callback frees the handle).
///
/// # Safety
/// `p` must be NULL or a live realm handle.
pub(crate) unsafe fn realm_arg(p: *const driftsync_realm_t) -> FfiResult<RealmRef> {
    // SAFETY: forwarded from the caller.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::null("realm"))?.source.get()
}

/// Opens (or creates) the realm a config describes. Another open of the same file in this
/// process shares its transactions, observers and sync session: while another handle of the
/// file is open (not closed), other sync settings are `DRIFTSYNC_STATUS_INVALID_ARGUMENT`
/// (the message names what differs); once every handle is closed, even if not yet freed, an
/// open uses its own config's settings and callbacks. A changed schema is migrated when the
/// change is additive; otherwise `DRIFTSYNC_STATUS_BREAKING_SCHEMA_CHANGE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_open(
    config: *const driftsync_config_t,
    out_realm: *mut *mut driftsync_realm_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live config.
        let c = unsafe { config.as_ref() }.ok_or_else(|| Failure::null("config"))?;
        check_out(out_realm, "out_realm")?;
        let realm = Realm::open(c.config.clone())?;
        write_out(out_realm, driftsync_realm_t::new(realm));
        Ok(())
    })
}

/// Closes a realm handle: a write transaction the calling thread has open on it is rolled back,
/// its observers are unregistered, and every later call with it (except `driftsync_realm_free`
/// and the `driftsync_realm_is_*` queries) returns `DRIFTSYNC_STATUS_CLOSED`. Other handles of
/// the same file stay open. Closing twice is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_close(
    realm: *const driftsync_realm_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let r = unsafe { realm.as_ref() }.ok_or_else(|| Failure::null("realm"))?;
        r.shut();
        Ok(())
    })
}

/// Closes (see `driftsync_realm_close`) and frees a realm handle. NULL is a no-op. Cursors made
/// from it stay valid to free and report `DRIFTSYNC_STATUS_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_free(realm: *mut driftsync_realm_t) {
    if !realm.is_null() {
        guard_value((), || {
            // SAFETY: a live realm handle.
            if unsafe { (*realm).is_lent() } {
                // Lent to a callback: the library frees it; freeing it here only closes it.
                // SAFETY: as above.
                unsafe { (*realm).shut() };
                return;
            }
            // SAFETY: a live realm handle, freed once.
            let r = unsafe { Box::from_raw(realm) };
            r.shut();
        });
    }
}

/// Whether the handle is closed (false for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_is_closed(realm: *const driftsync_realm_t) -> bool {
    // SAFETY: NULL or a live realm handle.
    guard_value(false, || unsafe { realm.as_ref() }.is_some_and(|r| r.source.query(Realm::is_closed).unwrap_or(true)))
}

/// Whether the handle is a frozen snapshot (false for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_is_frozen(realm: *const driftsync_realm_t) -> bool {
    // SAFETY: NULL or a live realm handle.
    guard_value(false, || unsafe { realm.as_ref() }.is_some_and(|r| r.source.query(Realm::is_frozen).unwrap_or(false)))
}

/// Whether the calling thread has a write transaction open on this realm (false for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_is_in_write_transaction(realm: *const driftsync_realm_t) -> bool {
    // SAFETY: NULL or a live realm handle.
    guard_value(false, || unsafe { realm.as_ref() }.is_some_and(|r| r.source.query(Realm::is_in_write_transaction).unwrap_or(false)))
}

/// Begins a write transaction owned by the calling thread (commit or cancel it on the same
/// thread). Waits for another writer up to the write timeout, then `DRIFTSYNC_STATUS_BUSY`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_begin_write(
    realm: *const driftsync_realm_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: NULL or a live realm handle.
    guard(out_error, || Ok(unsafe { realm_arg(realm)? }.begin_write()?))
}

/// Commits the calling thread's write transaction. Observers run on this thread before it
/// returns, with no library lock held.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_commit(
    realm: *const driftsync_realm_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        unsafe { realm_arg(realm)? }.commit()?;
        Ok(())
    })
}

/// Rolls back the calling thread's write transaction; nothing is notified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_cancel_write(
    realm: *const driftsync_realm_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: NULL or a live realm handle.
    guard(out_error, || Ok(unsafe { realm_arg(realm)? }.cancel()?))
}

/// A frozen, read-only snapshot of the latest committed state, as a new realm handle (free it
/// with `driftsync_realm_free`). Writes to it fail with `DRIFTSYNC_STATUS_WRITE_ON_FROZEN`;
/// freezing a snapshot gives `DRIFTSYNC_STATUS_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_freeze(
    realm: *const driftsync_realm_t,
    out_frozen: *mut *mut driftsync_realm_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or a live realm handle.
        let r = unsafe { realm_arg(realm)? };
        check_out(out_frozen, "out_frozen")?;
        let frozen = r.freeze()?;
        write_out(out_frozen, driftsync_realm_t::new(frozen));
        Ok(())
    })
}

/// The class name, primary key and, optionally, property name arguments of an object call.
pub(crate) struct Target<'a> {
    pub realm: RealmRef,
    pub class: &'a str,
    pub pk: PrimaryKey,
}

/// # Safety
/// Pointers must be NULL or valid for their lengths.
pub(crate) unsafe fn target<'a>(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    pk: *const driftsync_pk_t,
) -> FfiResult<Target<'a>> {
    // SAFETY: forwarded from the caller.
    unsafe {
        Ok(Target { realm: realm_arg(realm)?, class: str_arg(class_name, class_name_len, "class_name")?, pk: read_pk(pk, "primary_key")? })
    }
}

fn named(fields: Vec<(String, Value)>) -> (Vec<String>, Vec<Value>) {
    fields.into_iter().unzip()
}

/// Creates an object with some fields set (the others get their defaults). Fails with
/// `DRIFTSYNC_STATUS_DUPLICATE_PRIMARY_KEY` if it exists. `fields` may be NULL when
/// `fields_len` is 0. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_create(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    fields: *const driftsync_field_t,
    fields_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let (t, fields) = unsafe { (target(realm, class_name, class_name_len, primary_key)?, read_fields(fields, fields_len)?) };
        let (names, values) = named(fields);
        let refs: Vec<(&str, Value)> = names.iter().map(String::as_str).zip(values).collect();
        t.realm.create(t.class, t.pk, &refs)?;
        Ok(())
    })
}

/// Creates an object, or sets the given fields if it exists. `fields` may be NULL when
/// `fields_len` is 0. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_upsert(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    fields: *const driftsync_field_t,
    fields_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let (t, fields) = unsafe { (target(realm, class_name, class_name_len, primary_key)?, read_fields(fields, fields_len)?) };
        let (names, values) = named(fields);
        let refs: Vec<(&str, Value)> = names.iter().map(String::as_str).zip(values).collect();
        t.realm.upsert(t.class, t.pk, &refs)?;
        Ok(())
    })
}

/// Erases an object (`DRIFTSYNC_STATUS_OBJECT_NOT_FOUND` if it does not exist). Links to it
/// become null and it leaves every list of links. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_erase(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let t = unsafe { target(realm, class_name, class_name_len, primary_key)? };
        t.realm.erase(t.class, &t.pk)?;
        Ok(())
    })
}

/// Whether an object exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_exists(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    out_exists: *mut bool,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let t = unsafe { target(realm, class_name, class_name_len, primary_key)? };
        check_out(out_exists, "out_exists")?;
        let e = t.realm.exists(t.class, &t.pk)?;
        write_out(out_exists, e);
        Ok(())
    })
}

/// Reads a whole object (`DRIFTSYNC_STATUS_OBJECT_NOT_FOUND` if it does not exist). The object is
/// a copy: later writes do not change it. Free it with `driftsync_object_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_get_object(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    out_object: *mut *mut driftsync_object_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let t = unsafe { target(realm, class_name, class_name_len, primary_key)? };
        check_out(out_object, "out_object")?;
        let o = t.realm.get(t.class, &t.pk)?.ok_or_else(|| Failure::from(crate::Error::not_found(t.class, &t.pk)))?;
        write_out(out_object, driftsync_object_t::new(o));
        Ok(())
    })
}

/// Reads one (non-list) field of an object as an owned value; free it with
/// `driftsync_owned_value_free`. A list property gives `DRIFTSYNC_STATUS_TYPE_MISMATCH`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_get_value(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    out_value: *mut *mut driftsync_owned_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let (t, prop) = unsafe { (target(realm, class_name, class_name_len, primary_key)?, str_arg(property, property_len, "property")?) };
        check_out(out_value, "out_value")?;
        let v = t.realm.get_value(t.class, &t.pk, prop)?;
        write_out(out_value, driftsync_owned_value_t::new(v));
        Ok(())
    })
}

/// Sets one (non-list) field of an object. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_set_value(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let (t, prop, value) = unsafe {
            (
                target(realm, class_name, class_name_len, primary_key)?,
                str_arg(property, property_len, "property")?,
                read_value(value, "value")?,
            )
        };
        t.realm.set(t.class, &t.pk, prop, value)?;
        Ok(())
    })
}

/// Adds `delta` to a counter property (an int declared `"counter": true`; wraps on overflow).
/// Concurrent adds on other clients merge additively, in sync and in client-reset recovery.
/// A property that is not a counter is `DRIFTSYNC_ERR_TYPE_MISMATCH` and changes nothing.
/// Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_counter_add(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    delta: i64,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let (t, prop) = unsafe { (target(realm, class_name, class_name_len, primary_key)?, str_arg(property, property_len, "property")?) };
        t.realm.counter_add(t.class, &t.pk, prop, delta)?;
        Ok(())
    })
}

/// Adds `value` to a set property (a no-op if it is there). A value of another type, a null
/// in a set that holds none, or a property that is not a set is `DRIFTSYNC_STATUS_TYPE_MISMATCH`
/// and changes nothing. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_set_add(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let value = read_value(value, "value")?;
            Ok(t.realm.set_add(t.class, &t.pk, prop, value)?)
        })
    }
}

/// Removes `value` from a set property (a no-op if it is not there). Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_set_remove(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let value = read_value(value, "value")?;
            Ok(t.realm.set_remove(t.class, &t.pk, prop, value)?)
        })
    }
}

/// Removes the elements of a set that this transaction sees (an element another client adds
/// concurrently survives). Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_set_clear(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            Ok(t.realm.set_clear(t.class, &t.pk, prop)?)
        })
    }
}

/// Sets `key` of a dictionary property to `value` (inserting the key). A value of another type
/// or a property that is not a dictionary is `DRIFTSYNC_STATUS_TYPE_MISMATCH` and changes
/// nothing. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_dict_set(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    key: *const c_char,
    key_len: usize,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let key = str_arg(key, key_len, "key")?;
            let value = read_value(value, "value")?;
            Ok(t.realm.dict_set(t.class, &t.pk, prop, key, value)?)
        })
    }
}

/// Erases `key` of a dictionary property (a no-op if it is absent). Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_dict_erase(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    key: *const c_char,
    key_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let key = str_arg(key, key_len, "key")?;
            Ok(t.realm.dict_erase(t.class, &t.pk, prop, key)?)
        })
    }
}

/// Erases the keys of a dictionary that this transaction sees (a key another client inserts
/// concurrently survives). Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_dict_clear(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            Ok(t.realm.dict_clear(t.class, &t.pk, prop)?)
        })
    }
}

/// The number of objects of a class.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_count(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    out_count: *mut u64,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: the caller passes valid pointers and lengths.
        let (r, class) = unsafe { (realm_arg(realm)?, str_arg(class_name, class_name_len, "class_name")?) };
        check_out(out_count, "out_count")?;
        let n = r.count(class)?;
        write_out(out_count, n);
        Ok(())
    })
}

// ---- lists -----------------------------------------------------------------------------------

/// Runs one list operation: the object, the list property, then the rest of the arguments.
///
/// # Safety
/// Pointers must be NULL or valid for their lengths.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn list_call(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    out_error: *mut *mut driftsync_error_t,
    f: impl FnOnce(Target<'_>, &str) -> FfiResult<()>,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: forwarded from the caller.
        let (t, prop) = unsafe { (target(realm, class_name, class_name_len, primary_key)?, str_arg(property, property_len, "property")?) };
        f(t, prop)
    })
}

/// Inserts `value` at `index` (0 ≤ index ≤ length) of a list. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_list_insert(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    index: usize,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let value = read_value(value, "value")?;
            Ok(t.realm.list_insert(t.class, &t.pk, prop, index, value)?)
        })
    }
}

/// Appends `value` to a list. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_list_push(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let value = read_value(value, "value")?;
            Ok(t.realm.list_push(t.class, &t.pk, prop, value)?)
        })
    }
}

/// Replaces the element at `index` of a list. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_list_set(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    index: usize,
    value: *const driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            let value = read_value(value, "value")?;
            Ok(t.realm.list_set(t.class, &t.pk, prop, index, value)?)
        })
    }
}

/// Removes the element at `index` of a list. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_list_erase(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    index: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            Ok(t.realm.list_erase(t.class, &t.pk, prop, index)?)
        })
    }
}

/// Moves the element at `from` so that it ends up at index `to`. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_list_move(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    from: usize,
    to: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            Ok(t.realm.list_move(t.class, &t.pk, prop, from, to)?)
        })
    }
}

/// Removes every element of a list. Needs a write transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_list_clear(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            Ok(t.realm.list_clear(t.class, &t.pk, prop)?)
        })
    }
}

/// The number of elements of a list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_list_len(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    out_len: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            check_out(out_len, "out_len")?;
            let n = t.realm.get_list(t.class, &t.pk, prop)?.len();
            write_out(out_len, n);
            Ok(())
        })
    }
}

/// The element at `index` of a list, as an owned value (free it with
/// `driftsync_owned_value_free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_list_get(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    property: *const c_char,
    property_len: usize,
    index: usize,
    out_value: *mut *mut driftsync_owned_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_call(realm, class_name, class_name_len, primary_key, property, property_len, out_error, |t, prop| {
            check_out(out_value, "out_value")?;
            let mut list = t.realm.get_list(t.class, &t.pk, prop)?;
            let len = list.len();
            if index >= len {
                return Err(crate::Error::IndexOutOfRange { index, len }.into());
            }
            write_out(out_value, driftsync_owned_value_t::new(list.swap_remove(index)));
            Ok(())
        })
    }
}
