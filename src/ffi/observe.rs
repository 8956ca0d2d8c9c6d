//! Observers: callbacks after each commit, their tokens, and the change sets they read.

use super::realm::driftsync_realm_t;
use super::types::*;
use crate::notify::{ChangeSummary, Changed, CollectionChanges, NotificationToken, ObserverScope, PropertyNames};
use crate::value::PrimaryKey;
use parking_lot::Mutex;
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Called after each commit that changed something the observer watches.
///
/// Thread: the thread that called `driftsync_realm_commit` (on any handle of the same file in
/// this process), after the commit, before `driftsync_realm_commit` returns, with no library lock
/// held: the callback may read, write (begin, change and commit a new transaction), register
/// observers and free tokens. `changes` is valid only during the call. It must not free the
/// realm handle whose commit it is called from while that call is still running.
pub type driftsync_observer_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, changes: *const driftsync_changes_t)>;

/// Releases the `user_data` of a registration, exactly once, when the last holder lets go.
/// Thread: for observers and sync callbacks, the thread that freed the token (or, when a callback
/// was still running on another thread at that moment, the thread of that callback, once it
/// returns). For the config builder's callbacks see `driftsync_config_builder_set_before_reset`.
pub type driftsync_user_data_free_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Keeps a registration (an observer, a sync state or sync error callback) in force. After
/// `driftsync_token_free` returns the callback is not called again (a call already running on
/// another thread finishes).
pub struct driftsync_token_t {
    registration: Arc<Registration>,
}

/// One registration: what unregisters it when dropped (taken when unregistered) and the token's
/// share of the user data (the registered closure holds the other share).
pub(crate) struct Registration {
    token: Mutex<Option<Box<dyn Send>>>,
    /// Cleared on unregistration: a notification pass already under way skips the callback.
    active: Arc<AtomicBool>,
    _user: Arc<UserData>,
}

impl Registration {
    /// Unregisters the observer; the closure (and its share of the user data) is dropped here
    /// or, if a call is in progress, when it returns. No lock is held while dropping.
    pub(crate) fn unregister(&self) {
        self.active.store(false, Ordering::SeqCst);
        let token = self.token.lock().take();
        drop(token);
    }
}

struct ChangedClass {
    name: String,
    inserted: Vec<PrimaryKey>,
    erased: Vec<PrimaryKey>,
    modified: Vec<(PrimaryKey, PropertyNames)>,
    /// What changed inside collection properties, by object then property name.
    collections: Vec<(PrimaryKey, String, CollectionChanges)>,
}

/// What one commit changed, by class, as an observer sees it (only the classes and objects in
/// its scope). Borrowed: valid only during the observer call; views it returns likewise.
pub struct driftsync_changes_t {
    classes: Vec<ChangedClass>,
}

impl driftsync_changes_t {
    fn from_summary(s: &ChangeSummary) -> Self {
        let classes = s
            .classes
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(name, c)| ChangedClass {
                name: name.clone(),
                inserted: c.inserted.iter().cloned().collect(),
                erased: c.erased.iter().cloned().collect(),
                modified: c.modified.iter().map(|(pk, props)| (pk.clone(), props.clone())).collect(),
                collections: c
                    .collections
                    .iter()
                    .flat_map(|(pk, props)| props.iter().map(move |(p, ch)| (pk.clone(), p.to_string(), ch.clone())))
                    .collect(),
            })
            .collect();
        driftsync_changes_t { classes }
    }
}

fn make_observer(
    cb: unsafe extern "C" fn(*mut c_void, *const driftsync_changes_t),
    user: Arc<UserData>,
    active: Arc<AtomicBool>,
) -> impl Fn(&ChangeSummary) + Send + Sync {
    move |changes: &ChangeSummary| {
        if !active.load(Ordering::SeqCst) {
            return;
        }
        // A panic must not unwind into the commit that is notifying.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let view = driftsync_changes_t::from_summary(changes);
            // SAFETY: the application registered `cb` for `user.data`.
            unsafe { cb(user.data, &view) };
        }));
    }
}

/// Registers an observer. `user` is created before anything is checked, so that it is dropped
/// (and `user_data_free` runs) on every failure path.
///
/// # Safety
/// `realm` and `out_token` must be NULL or valid; `scope` reads its own arguments.
unsafe fn observe(
    realm: *const driftsync_realm_t,
    callback: driftsync_observer_fn,
    user: UserData,
    out_token: *mut *mut driftsync_token_t,
    out_error: *mut *mut driftsync_error_t,
    scope: impl FnOnce() -> FfiResult<ObserverScope>,
) -> driftsync_status_t {
    let user = Arc::new(user);
    guard(out_error, move || {
        // SAFETY: NULL or a live realm handle.
        let handle = unsafe { realm.as_ref() }.ok_or_else(|| Failure::null("realm"))?;
        let cb = callback.ok_or_else(|| Failure::null("callback"))?;
        check_out(out_token, "out_token")?;
        let scope = scope()?;
        let active = Arc::new(AtomicBool::new(true));
        let token: NotificationToken = handle.source.get()?.observe(scope, make_observer(cb, user.clone(), active.clone()))?;
        write_out(out_token, register(handle, Box::new(token), active, user));
        Ok(())
    })
}

/// Records a registration made through `handle` (unregistered when the handle closes) and makes
/// its token. `unregister` undoes the registration when dropped; `active` is cleared first.
pub(crate) fn register(
    handle: &driftsync_realm_t,
    unregister: Box<dyn Send>,
    active: Arc<AtomicBool>,
    user: Arc<UserData>,
) -> *mut driftsync_token_t {
    let registration = Arc::new(Registration { token: Mutex::new(Some(unregister)), active, _user: user });
    {
        let mut regs = handle.registrations.lock();
        regs.retain(|w| w.strong_count() > 0);
        regs.push(Arc::downgrade(&registration));
    }
    Box::into_raw(Box::new(driftsync_token_t { registration }))
}

/// Observes every change to the realm's file. `callback` runs after each commit that changed
/// something (see `driftsync_observer_fn` for its thread). The library owns `user_data` from this
/// call on: `user_data_free` (optional) runs exactly once, when the token is freed or, if the
/// registration fails, before this function returns. Closing or freeing the realm handle
/// unregisters the observer (the token must still be freed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_observe(
    realm: *const driftsync_realm_t,
    callback: driftsync_observer_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_token: *mut *mut driftsync_token_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    let user = UserData { data: user_data, free: user_data_free };
    // SAFETY: forwarded from the caller.
    unsafe { observe(realm, callback, user, out_token, out_error, || Ok(ObserverScope::Realm)) }
}

/// Observes the changes to one class (as `driftsync_realm_observe`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_observe_class(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    callback: driftsync_observer_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_token: *mut *mut driftsync_token_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    let user = UserData { data: user_data, free: user_data_free };
    // SAFETY: forwarded from the caller.
    unsafe {
        observe(realm, callback, user, out_token, out_error, || {
            Ok(ObserverScope::Class(str_arg(class_name, class_name_len, "class_name")?.to_string()))
        })
    }
}

/// Observes the changes to one object (as `driftsync_realm_observe`): its insertion, erasure and
/// modifications.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_realm_observe_object(
    realm: *const driftsync_realm_t,
    class_name: *const c_char,
    class_name_len: usize,
    primary_key: *const driftsync_pk_t,
    callback: driftsync_observer_fn,
    user_data: *mut c_void,
    user_data_free: driftsync_user_data_free_fn,
    out_token: *mut *mut driftsync_token_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    let user = UserData { data: user_data, free: user_data_free };
    // SAFETY: forwarded from the caller.
    unsafe {
        observe(realm, callback, user, out_token, out_error, || {
            let class = str_arg(class_name, class_name_len, "class_name")?.to_string();
            Ok(ObserverScope::Object(class, read_pk(primary_key, "primary_key")?))
        })
    }
}

/// Unregisters the observer (if its realm handle has not already) and releases the token's
/// share of `user_data`. NULL is a no-op. May be called from inside any callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_token_free(token: *mut driftsync_token_t) {
    if !token.is_null() {
        guard_value((), || {
            // SAFETY: a live token, freed once.
            let t = unsafe { Box::from_raw(token) };
            t.registration.unregister();
        });
    }
}

// ---- change sets -----------------------------------------------------------------------------

/// # Safety
/// `changes` must be NULL or live.
unsafe fn class_at<'a>(changes: *const driftsync_changes_t, class_index: usize) -> FfiResult<&'a ChangedClass> {
    // SAFETY: forwarded from the caller.
    let c = unsafe { changes.as_ref() }.ok_or_else(|| Failure::null("changes"))?;
    let len = c.classes.len();
    c.classes.get(class_index).ok_or_else(|| crate::Error::IndexOutOfRange { index: class_index, len }.into())
}

fn at<T>(items: &[T], index: usize) -> FfiResult<&T> {
    items.get(index).ok_or_else(|| crate::Error::IndexOutOfRange { index, len: items.len() }.into())
}

/// The number of classes with changes (0 for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_class_count(changes: *const driftsync_changes_t) -> usize {
    // SAFETY: NULL or live changes.
    unsafe { changes.as_ref() }.map(|c| c.classes.len()).unwrap_or(0)
}

/// The name of the class at `class_index`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_class_name(
    changes: *const driftsync_changes_t,
    class_index: usize,
    out_name: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let c = unsafe { class_at(changes, class_index)? };
        check_out(out_name, "out_name")?;
        write_out(out_name, str_view(&c.name));
        Ok(())
    })
}

/// How many objects of the class were inserted, erased and modified.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_counts(
    changes: *const driftsync_changes_t,
    class_index: usize,
    out_inserted: *mut usize,
    out_erased: *mut usize,
    out_modified: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let c = unsafe { class_at(changes, class_index)? };
        check_out(out_inserted, "out_inserted")?;
        check_out(out_erased, "out_erased")?;
        check_out(out_modified, "out_modified")?;
        write_out(out_inserted, c.inserted.len());
        write_out(out_erased, c.erased.len());
        write_out(out_modified, c.modified.len());
        Ok(())
    })
}

/// The primary key of the `index`-th inserted object of the class (in primary-key order).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_inserted(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    out_primary_key: *mut driftsync_pk_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let c = unsafe { class_at(changes, class_index)? };
        check_out(out_primary_key, "out_primary_key")?;
        write_out(out_primary_key, pk_view(at(&c.inserted, index)?));
        Ok(())
    })
}

/// The primary key of the `index`-th erased object of the class (in primary-key order).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_erased(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    out_primary_key: *mut driftsync_pk_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let c = unsafe { class_at(changes, class_index)? };
        check_out(out_primary_key, "out_primary_key")?;
        write_out(out_primary_key, pk_view(at(&c.erased, index)?));
        Ok(())
    })
}

/// The primary key of the `index`-th modified object of the class (in primary-key order) and
/// how many of its properties changed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_modified(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    out_primary_key: *mut driftsync_pk_t,
    out_property_count: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let c = unsafe { class_at(changes, class_index)? };
        check_out(out_primary_key, "out_primary_key")?;
        check_out(out_property_count, "out_property_count")?;
        let (pk, props) = at(&c.modified, index)?;
        write_out(out_primary_key, pk_view(pk));
        write_out(out_property_count, props.len());
        Ok(())
    })
}

/// The name of the `property_index`-th changed property (in name order) of the `index`-th
/// modified object of the class.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_modified_property(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    property_index: usize,
    out_name: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let c = unsafe { class_at(changes, class_index)? };
        check_out(out_name, "out_name")?;
        let (_, props) = at(&c.modified, index)?;
        let name = props.get(property_index).ok_or(crate::Error::IndexOutOfRange { index: property_index, len: props.len() })?;
        write_out(out_name, str_view(name));
        Ok(())
    })
}

// ---- changes inside collections --------------------------------------------------------------

/// One part of what changed inside a collection (`driftsync_changes_collection_len` and the
/// getters after it).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum driftsync_collection_change_t {
    /// Lists: positions in the list before the commit. Sets: elements that left. Dictionaries:
    /// keys that were erased.
    DRIFTSYNC_CHANGE_DELETED = 0,
    /// Lists: positions in the list after the commit. Sets: elements that joined. Dictionaries:
    /// keys that appeared.
    DRIFTSYNC_CHANGE_INSERTED = 1,
    /// Lists: positions, after the commit, of elements whose value changed. Dictionaries: keys
    /// that got another value. Sets: always empty.
    DRIFTSYNC_CHANGE_MODIFIED = 2,
}

/// The `index`-th changed collection of the class at `class_index`, and the part `part` (a
/// `driftsync_collection_change_t` value) of its changes.
///
/// # Safety
/// `changes` must be NULL or live.
unsafe fn collection_part<'a, T>(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    part: i32,
    pick: fn(&CollectionChanges) -> Option<&Changed<T>>,
    what: &str,
) -> FfiResult<&'a [T]> {
    // SAFETY: forwarded from the caller.
    let c = unsafe { class_at(changes, class_index)? };
    let (_, _, changed) = at(&c.collections, index)?;
    let changed = pick(changed).ok_or_else(|| crate::Error::TypeMismatch(format!("the changed collection is not a {what}")))?;
    Ok(match part {
        0 => &changed.deleted,
        1 => &changed.inserted,
        2 => &changed.modified,
        other => return Err(Failure::invalid(format!("{other} is not a driftsync_collection_change_t"))),
    })
}

fn any_kind(c: &CollectionChanges) -> (driftsync_collection_t, [usize; 3]) {
    use driftsync_collection_t as K;
    let lens = |d: usize, i: usize, m: usize| [d, i, m];
    match c {
        CollectionChanges::List(x) => (K::DRIFTSYNC_COLLECTION_LIST, lens(x.deleted.len(), x.inserted.len(), x.modified.len())),
        CollectionChanges::Set(x) => (K::DRIFTSYNC_COLLECTION_SET, lens(x.deleted.len(), x.inserted.len(), x.modified.len())),
        CollectionChanges::Dictionary(x) => (K::DRIFTSYNC_COLLECTION_DICTIONARY, lens(x.deleted.len(), x.inserted.len(), x.modified.len())),
    }
}

/// How many collection properties of modified objects of the class say what changed inside
/// them (lists, sets and dictionaries; a counter or scalar never does).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_collection_count(
    changes: *const driftsync_changes_t,
    class_index: usize,
    out_count: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let c = unsafe { class_at(changes, class_index)? };
        check_out(out_count, "out_count")?;
        write_out(out_count, c.collections.len());
        Ok(())
    })
}

/// The `index`-th changed collection of the class (in primary-key, then property-name order):
/// the object's primary key, the property's name, and whether it is a list, a set or a
/// dictionary (which says which getter reads its parts: `driftsync_changes_collection_index`,
/// `_element` or `_key`). The views borrow from `changes` (valid during the observer call).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_collection(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    out_primary_key: *mut driftsync_pk_t,
    out_property: *mut driftsync_string_t,
    out_collection: *mut driftsync_collection_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let c = unsafe { class_at(changes, class_index)? };
        check_out(out_primary_key, "out_primary_key")?;
        check_out(out_property, "out_property")?;
        check_out(out_collection, "out_collection")?;
        let (pk, prop, changed) = at(&c.collections, index)?;
        write_out(out_primary_key, pk_view(pk));
        write_out(out_property, str_view(prop));
        write_out(out_collection, any_kind(changed).0);
        Ok(())
    })
}

/// How many entries the part `part` (a `driftsync_collection_change_t` value) of the
/// `index`-th changed collection of the class has.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_collection_len(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    part: i32,
    out_len: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let c = unsafe { class_at(changes, class_index)? };
        check_out(out_len, "out_len")?;
        let (_, _, changed) = at(&c.collections, index)?;
        let lens = any_kind(changed).1;
        let len = usize::try_from(part).ok().and_then(|p| lens.get(p).copied());
        write_out(out_len, len.ok_or_else(|| Failure::invalid(format!("{part} is not a driftsync_collection_change_t")))?);
        Ok(())
    })
}

/// A list's changed position: the `n`-th (ascending) of part `part`. Deleted positions are in
/// the list before the commit, inserted and modified ones in the list after it (delete the
/// deleted, then insert the inserted, and the old list becomes the new one; a move is a
/// deletion and an insertion). `DRIFTSYNC_STATUS_TYPE_MISMATCH` for a set or dictionary.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_collection_index(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    part: i32,
    n: usize,
    out_index: *mut usize,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let items = unsafe { collection_part(changes, class_index, index, part, CollectionChanges::as_list, "list")? };
        check_out(out_index, "out_index")?;
        write_out(out_index, *at(items, n)?);
        Ok(())
    })
}

/// A set's changed element: the `n`-th (in the set's canonical order) of part `part`. The
/// value borrows from `changes`. `DRIFTSYNC_STATUS_TYPE_MISMATCH` for a list or dictionary.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_collection_element(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    part: i32,
    n: usize,
    out_value: *mut driftsync_value_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let items = unsafe { collection_part(changes, class_index, index, part, CollectionChanges::as_set, "set")? };
        check_out(out_value, "out_value")?;
        write_out(out_value, value_view(at(items, n)?));
        Ok(())
    })
}

/// A dictionary's changed key: the `n`-th (in key order) of part `part`. The string borrows from
/// `changes`. `DRIFTSYNC_STATUS_TYPE_MISMATCH` for a list or set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn driftsync_changes_collection_key(
    changes: *const driftsync_changes_t,
    class_index: usize,
    index: usize,
    part: i32,
    n: usize,
    out_key: *mut driftsync_string_t,
    out_error: *mut *mut driftsync_error_t,
) -> driftsync_status_t {
    guard(out_error, || {
        // SAFETY: NULL or live changes.
        let items = unsafe { collection_part(changes, class_index, index, part, CollectionChanges::as_dictionary, "dictionary")? };
        check_out(out_key, "out_key")?;
        write_out(out_key, str_view(at(items, n)?));
        Ok(())
    })
}
