//! `Realm`: an open realm file. Transactions, object and list operations, frozen snapshots,
//! observers. One `Shared` per file per process, so every handle of a file sees the same
//! transactions and observers.

use crate::changeset::{Changeset, ElemId, Instruction};
use crate::config::RealmConfig;
use crate::error::{Error, Result};
use crate::notify::{ChangeSummary, NotificationToken, ObserverScope, Observers};
use crate::rules::{self, Mode, Outcome, Tx};
use crate::schema::Schema;
use crate::store::{self, Field, FileState, ObjectData};
use crate::value::{PrimaryKey, Value};
use parking_lot::{Condvar, Mutex, ReentrantMutex, RwLock};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// A field as read: a value, the values of a list, or the elements of a set (in canonical
/// order, the same on every replica).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Value(Value),
    List(Vec<Value>),
    Set(Vec<Value>),
    /// A dictionary's entries in key order.
    Dict(Vec<(String, Value)>),
    /// A single `mixed` property holding a nested list or dictionary (a mixed holding a scalar
    /// reads as `Value`).
    Mixed(crate::mixed::Mixed),
    /// A property holding one embedded object (None: null).
    Embedded(Option<crate::embedded::EmbeddedObject>),
    /// A list of embedded objects.
    EmbeddedList(Vec<crate::embedded::EmbeddedObject>),
}

/// An object as read, with every property in schema order.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub class: String,
    pub pk: PrimaryKey,
    pub fields: Vec<(String, FieldValue)>,
}

/// The field named `name` among an object's fields (objects and embedded objects read alike).
pub(crate) fn field_named<'a>(fields: &'a [(String, FieldValue)], name: &str) -> Option<&'a FieldValue> {
    fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
}

/// The value of the field named `name`, if it holds one value.
pub(crate) fn value_named<'a>(fields: &'a [(String, FieldValue)], name: &str) -> Option<&'a Value> {
    match field_named(fields, name) {
        Some(FieldValue::Value(v)) => Some(v),
        _ => None,
    }
}

impl Object {
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        field_named(&self.fields, name)
    }
    pub fn value(&self, name: &str) -> Option<&Value> {
        value_named(&self.fields, name)
    }
    pub fn list(&self, name: &str) -> Option<&[Value]> {
        match self.field(name) {
            Some(FieldValue::List(l)) => Some(l),
            _ => None,
        }
    }

    pub(crate) fn from_data(schema: &Schema, class: &crate::schema::ClassSchema, pk: PrimaryKey, data: &ObjectData) -> Object {
        let fields = class
            .properties
            .iter()
            .zip(&data.fields)
            .map(|(p, f)| {
                if let Some(v) = crate::embedded::field_value(schema, p, f) {
                    return (p.name.clone(), v);
                }
                let v = match f {
                    Field::Value(v) => FieldValue::Value(v.clone()),
                    Field::List(l) => FieldValue::List(l.values()),
                    Field::Set(s) => FieldValue::Set(s.clone()),
                    Field::Dict(d) => FieldValue::Dict(d.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                    Field::Nested(n) => FieldValue::Mixed(n.to_mixed()),
                    // Only properties holding embedded objects store these (handled above).
                    Field::Embedded(..) | Field::EmbeddedList(_) => FieldValue::Value(Value::Null),
                };
                (p.name.clone(), v)
            })
            .collect();
        Object { class: class.name.clone(), pk, fields }
    }

    /// Like `from_data`, but moves the values instead of cloning them (scans).
    pub(crate) fn from_owned(schema: &Schema, class: &crate::schema::ClassSchema, pk: PrimaryKey, data: ObjectData) -> Object {
        let fields = class
            .properties
            .iter()
            .zip(data.fields)
            .map(|(p, f)| {
                if let Some(v) = crate::embedded::field_value(schema, p, &f) {
                    return (p.name.clone(), v);
                }
                let v = match f {
                    Field::Value(v) => FieldValue::Value(v),
                    Field::List(l) => FieldValue::List(l.elems.into_iter().filter(|e| !e.erased).map(|e| e.value).collect()),
                    Field::Set(s) => FieldValue::Set(s),
                    Field::Dict(d) => FieldValue::Dict(d.into_iter().collect()),
                    Field::Nested(n) => FieldValue::Mixed(n.to_mixed()),
                    Field::Embedded(..) | Field::EmbeddedList(_) => FieldValue::Value(Value::Null),
                };
                (p.name.clone(), v)
            })
            .collect();
        Object { class: class.name.clone(), pk, fields }
    }
}

/// Work run inside a commit, given the connection and the new local version.
pub type CommitWork = Box<dyn FnOnce(&Connection, u64) -> Result<()> + Send>;

/// The open write transaction of a file: owned by one thread.
pub(crate) struct TxnState {
    pub record: bool,
    pub instructions: Vec<Instruction>,
    pub changes: ChangeSummary,
    pub lamport: u64,
    pub schema: Arc<Schema>,
    pub schema_changed: bool,
    /// Extra work to run inside the commit (sync cursors, reset state), in order.
    pub on_commit: Vec<CommitWork>,
}

type CommitListener = Box<dyn Fn(u64) + Send + Sync>;

/// One open realm file, shared by all handles of it in this process.
pub(crate) struct Shared {
    pub path: PathBuf,
    pub peer_id: u64,
    /// Whether commits are recorded for sync; set by the open that (re)starts the file's use.
    pub history_enabled: AtomicBool,
    pub write_timeout: Duration,
    pub schema: RwLock<Arc<Schema>>,
    /// The write connection. Reentrant so that a thread inside its transaction can read while
    /// it iterates; only the transaction's owner thread uses it while a transaction is open.
    pub writer: ReentrantMutex<Connection>,
    /// The open transaction's state; locked only briefly, never while user code runs.
    txn: Mutex<Option<TxnState>>,
    owner: Mutex<Option<ThreadId>>,
    owner_released: Condvar,
    readers: Mutex<Vec<Connection>>,
    pub observers: Arc<Observers>,
    /// Called after each commit with the new local version (the sync session listens here).
    commit_listeners: Mutex<Vec<(u64, Arc<CommitListener>)>>,
    next_listener: Mutex<u64>,
    pub live_handles: AtomicUsize,
    /// The sync configuration of the handles open now (replaced by an open after every handle
    /// was closed), and its running session.
    pub sync_config: Mutex<Option<crate::config::SyncConfig>>,
    pub sync: Mutex<Option<Arc<crate::sync::SyncSession>>>,
}

static OPEN_FILES: LazyLock<Mutex<HashMap<PathBuf, Weak<Shared>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Forgets an open file so the next open starts anew (after a manual reset deleted it).
pub(crate) fn forget_file(path: &Path) {
    if let Ok(p) = canonical(path) {
        OPEN_FILES.lock().remove(&p);
    }
}

/// A handle to an open realm, or a frozen snapshot of one. Handles may be used from any thread.
pub struct Realm {
    pub(crate) shared: Arc<Shared>,
    frozen: Option<Frozen>,
    closed: AtomicBool,
    /// Internal handles (the sync thread's) do not count as open handles.
    counted: bool,
}

struct Frozen {
    conn: ReentrantMutex<Connection>,
    schema: Arc<Schema>,
}

fn canonical(path: &Path) -> Result<PathBuf> {
    let file = path.file_name().ok_or_else(|| Error::InvalidArgument(format!("'{}' names no file", path.display())))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = parent.canonicalize().map_err(|e| Error::FileIo(format!("{}: {e}", parent.display())))?;
    Ok(dir.join(file))
}

impl Realm {
    /// Opens (or creates) the realm at `config.path`. A changed schema is migrated when the change
    /// is additive; otherwise `BreakingSchemaChange` lists every difference and nothing changes.
    pub fn open(config: RealmConfig) -> Result<Realm> {
        if let Some(sync) = &config.sync {
            sync.validate()?;
        }
        let path = canonical(&config.path)?;
        let mut files = OPEN_FILES.lock();
        if let Some(shared) = files.get(&path).and_then(Weak::upgrade) {
            // Under the OPEN_FILES lock, so two opens cannot both see "no live handle".
            Self::adopt_sync_config(&shared, &config)?;
            let realm = Realm::from_shared(shared);
            drop(files);
            realm.migrate(&config.schema)?;
            crate::sync::SyncSession::ensure_started(&realm)?;
            return Ok(realm);
        }
        let shared = Arc::new(Self::open_file(&path, &config)?);
        files.retain(|_, w| w.strong_count() > 0);
        files.insert(path, Arc::downgrade(&shared));
        drop(files);
        let realm = Realm::from_shared(shared);
        log::info!(target: "driftsync::storage", "opened {} (schema of {} classes)", realm.path().display(), config.schema.classes.len());
        crate::sync::SyncSession::ensure_started(&realm)?;
        Ok(realm)
    }

    /// The sync settings of an open of a file this process has open already (its `Shared` kept
    /// alive by closed but not yet freed handles, or by live ones). With no live handle the new
    /// configuration replaces the old one, hooks and handlers included. With a live handle
    /// both must agree: different settings are an `InvalidArgument` naming them, not silently
    /// ignored (one file has one sync session, and its callbacks are those of the first opener).
    fn adopt_sync_config(shared: &Shared, config: &RealmConfig) -> Result<()> {
        let mut current = shared.sync_config.lock();
        if shared.live_handles.load(Ordering::SeqCst) == 0 {
            *current = config.sync.clone();
            shared.history_enabled.store(config.sync.is_some(), Ordering::SeqCst);
            return Ok(());
        }
        let differences = crate::config::sync_differences(current.as_ref(), config.sync.as_ref());
        if differences.is_empty() {
            return Ok(());
        }
        Err(Error::InvalidArgument(format!(
            "'{}' is open already with other sync settings (differing: {}); open it with the same ones, or close every handle of it first",
            shared.path.display(),
            differences.join(", ")
        )))
    }

    fn from_shared(shared: Arc<Shared>) -> Realm {
        shared.live_handles.fetch_add(1, Ordering::SeqCst);
        Realm { shared, frozen: None, closed: AtomicBool::new(false), counted: true }
    }

    /// A handle for the library's own threads: it keeps the file open but is not counted as an
    /// app handle (so closing every app handle still stops sync).
    pub(crate) fn internal_handle(&self) -> Realm {
        Realm { shared: self.shared.clone(), frozen: None, closed: AtomicBool::new(false), counted: false }
    }

    /// The sync session of a synced realm.
    pub fn sync_session(&self) -> Option<Arc<crate::sync::SyncSession>> {
        self.shared.sync.lock().clone()
    }

    fn open_file(path: &Path, config: &RealmConfig) -> Result<Shared> {
        let mut conn = store::connect_writer(path, config.write_timeout)?;
        if crate::reset::manual_reset_pending(&conn) {
            // A manual client reset the app never ran: run it now (the backup keeps the data).
            drop(conn);
            crate::reset::delete_realm_files(path)?;
            conn = store::connect_writer(path, config.write_timeout)?;
        }
        let state = store::check_file(&conn, path)?;
        if let FileState::Realm(stored) = &state {
            let diff = stored.diff(&config.schema);
            if diff.is_breaking() {
                return Err(Error::BreakingSchemaChange(diff.breaking));
            }
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // This connection becomes the writer.
        conn.execute_batch(store::WRITER_MMAP)?;
        let history_enabled = config.sync.is_some();
        // Opening an up-to-date realm writes nothing, so it takes no write lock (it must not wait
        // for, or block, a writer in another process).
        let needs_write = !matches!(&state, FileState::Realm(stored) if stored.diff(&config.schema).is_empty())
            || store::object_hashes_need_work(&conn)?
            || store::lacks_local_creations(&conn)?;
        conn.execute_batch(if needs_write { "BEGIN IMMEDIATE" } else { "BEGIN DEFERRED" })?;
        let setup = (|| -> Result<(Schema, u64, Vec<Instruction>)> {
            // Checked again under the write lock: another process may have created it meanwhile.
            match store::check_file(&conn, path)? {
                FileState::Empty => {
                    let peer_id = loop {
                        let id: u64 = rand::random();
                        if id != 0 {
                            break id;
                        }
                    };
                    store::create_tables(&conn, &config.schema, peer_id)?;
                    let adds = config.schema.classes.iter().map(|c| Instruction::AddClass { class: c.clone() }).collect();
                    Ok((config.schema.clone(), peer_id, adds))
                }
                FileState::Realm(stored) => {
                    let diff = stored.diff(&config.schema);
                    if diff.is_breaking() {
                        return Err(Error::BreakingSchemaChange(diff.breaking));
                    }
                    let peer_id: i64 = store::get_meta(&conn, "peer_id")?.ok_or_else(|| Error::FileCorrupt("peer id missing".into()))?;
                    let merged = stored.apply_additive(&diff.additive)?;
                    if !diff.additive.is_empty() {
                        store::set_meta(&conn, "schema", merged.to_json())?;
                    }
                    // Only an opening that found work to do (and took the write lock) does it.
                    if needs_write {
                        store::bring_object_hashes_up_to_date(&conn)?;
                        store::add_local_creations(&conn)?;
                    }
                    Ok((merged, peer_id as u64, diff.additive.into_iter().map(additive_instruction).collect()))
                }
            }
        })();
        let (schema, peer_id, schema_instructions) = match setup {
            Ok(x) => x,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        if history_enabled
            && !schema_instructions.is_empty()
            && let Err(e) = append_history(&conn, peer_id, schema_instructions)
        {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        conn.execute_batch("COMMIT")?;
        Ok(Shared {
            path: path.to_path_buf(),
            peer_id,
            history_enabled: AtomicBool::new(history_enabled),
            write_timeout: config.write_timeout,
            schema: RwLock::new(Arc::new(schema)),
            writer: ReentrantMutex::new(conn),
            txn: Mutex::new(None),
            owner: Mutex::new(None),
            owner_released: Condvar::new(),
            readers: Mutex::new(Vec::new()),
            observers: Arc::new(Observers::default()),
            commit_listeners: Mutex::new(Vec::new()),
            next_listener: Mutex::new(0),
            live_handles: AtomicUsize::new(0),
            sync_config: Mutex::new(config.sync.clone()),
            sync: Mutex::new(None),
        })
    }

    /// Migrates an already open file to `wanted` (a second open with a newer schema).
    fn migrate(&self, wanted: &Schema) -> Result<()> {
        let current = self.shared.schema.read().clone();
        let diff = current.diff(wanted);
        if diff.is_breaking() {
            return Err(Error::BreakingSchemaChange(diff.breaking));
        }
        if diff.additive.is_empty() {
            return Ok(());
        }
        self.begin_write()?;
        let result = self.with_txn(|tx, st| {
            for change in diff.additive.iter().cloned() {
                let ins = additive_instruction(change);
                rules::apply(tx, &ins, Mode::Local)?;
                st.push(ins);
            }
            Ok(())
        });
        match result {
            Ok(()) => self.commit().map(|_| ()),
            Err(e) => {
                let _ = self.cancel();
                Err(e)
            }
        }
    }

    // ---- handle state ----------------------------------------------------------------------

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) { Err(Error::Closed) } else { Ok(()) }
    }

    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.frozen.is_some() { Err(Error::WriteOnFrozen) } else { Ok(()) }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The schema this handle sees (a frozen snapshot keeps the one it was frozen with).
    pub fn schema(&self) -> Arc<Schema> {
        match &self.frozen {
            Some(f) => f.schema.clone(),
            None => self.shared.schema.read().clone(),
        }
    }

    /// Closes this handle; other handles of the same file stay open. A write transaction this
    /// thread has open is rolled back. Closing twice is fine.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if self.frozen.is_none() {
            if self.owns_txn() {
                let _ = self.rollback_inner();
            }
            if self.counted {
                // Counted down under the session slot's lock, so an open that starts a session
                // meanwhile (`ensure_started`) cannot have it taken away here.
                let mut slot = self.shared.sync.lock();
                let last = self.shared.live_handles.fetch_sub(1, Ordering::SeqCst) == 1;
                // The last app handle is gone: stop syncing so the file can close.
                let session = if last { slot.take() } else { None };
                drop(slot);
                if let Some(session) = session {
                    session.stop();
                }
            }
        }
    }

    /// How many live (not frozen, not closed) handles this file has in this process.
    pub fn open_handle_count(&self) -> usize {
        self.shared.live_handles.load(Ordering::SeqCst)
    }

    // ---- transactions ----------------------------------------------------------------------

    fn owns_txn(&self) -> bool {
        *self.shared.owner.lock() == Some(std::thread::current().id())
    }

    pub fn is_in_write_transaction(&self) -> bool {
        self.frozen.is_none() && self.owns_txn()
    }

    /// Begins a write transaction owned by the calling thread. Waits for another writer (in this
    /// process or another) up to the configured timeout, then fails with `Busy`.
    pub fn begin_write(&self) -> Result<()> {
        self.begin_write_mode(self.shared.history_enabled.load(Ordering::SeqCst))
    }

    /// `record`: whether the transaction's instructions become a local changeset. Integration of
    /// server changes and the reset transform do not record.
    #[doc(hidden)]
    pub fn begin_write_mode(&self, record: bool) -> Result<()> {
        self.check_writable()?;
        let me = std::thread::current().id();
        let deadline = Instant::now() + self.shared.write_timeout;
        {
            let mut owner = self.shared.owner.lock();
            if *owner == Some(me) {
                return Err(Error::AlreadyInWriteTransaction);
            }
            while owner.is_some() {
                if self.shared.owner_released.wait_until(&mut owner, deadline).timed_out() && owner.is_some() {
                    return Err(Error::Busy("another write transaction is open on this realm".into()));
                }
            }
            *owner = Some(me);
        }
        let conn = self.shared.writer.lock();
        let begun = (|| -> Result<TxnState> {
            conn.busy_timeout(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)))?;
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let lamport: i64 = store::get_meta(&conn, "lamport")?.unwrap_or(0);
            // Another process may have changed the schema; the file is the truth.
            let json: Option<String> = store::get_meta(&conn, "schema")?;
            let mut schema = self.shared.schema.read().clone();
            if let Some(json) = json
                && json != schema.to_json()
            {
                schema = Arc::new(Schema::from_json(&json)?);
                *self.shared.schema.write() = schema.clone();
            }
            Ok(TxnState {
                record,
                instructions: Vec::new(),
                changes: ChangeSummary::default(),
                lamport: lamport as u64,
                schema,
                schema_changed: false,
                on_commit: Vec::new(),
            })
        })();
        match begun {
            Ok(st) => {
                *self.shared.txn.lock() = Some(st);
                Ok(())
            }
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                drop(conn);
                self.release_owner();
                Err(match e {
                    Error::Busy(_) => Error::Busy("another process holds the write lock of this realm".into()),
                    other => other,
                })
            }
        }
    }

    fn release_owner(&self) {
        *self.shared.owner.lock() = None;
        self.shared.owner_released.notify_all();
    }

    /// Runs `f` on the open transaction of this thread. `f` gets the rules' view of the
    /// transaction and the list of instructions to record (pushed only if recording).
    #[doc(hidden)]
    pub fn with_txn<T>(&self, f: impl FnOnce(&mut Tx, &mut Vec<Instruction>) -> Result<T>) -> Result<T> {
        self.check_writable()?;
        if !self.owns_txn() {
            return Err(Error::NotInWriteTransaction);
        }
        let conn = self.shared.writer.lock();
        let mut txn = self.shared.txn.lock();
        let st = txn.as_mut().ok_or(Error::NotInWriteTransaction)?;
        let mut tx = Tx {
            conn: &conn,
            schema: st.schema.clone(),
            changes: std::mem::take(&mut st.changes),
            lamport: st.lamport,
            schema_changed: false,
            overlay: None,
            absent_on_server: Default::default(),
        };
        let mut recorded = Vec::new();
        let result = f(&mut tx, &mut recorded);
        st.changes = tx.changes;
        st.lamport = tx.lamport;
        if tx.schema_changed {
            st.schema = tx.schema;
            st.schema_changed = true;
        }
        if st.record {
            st.instructions.append(&mut recorded);
        }
        result
    }

    /// Adds work to run inside the commit of this thread's transaction (given the connection and
    /// the new local version, 0 when nothing was recorded).
    #[doc(hidden)]
    pub fn on_commit(&self, f: impl FnOnce(&Connection, u64) -> Result<()> + Send + 'static) -> Result<()> {
        self.check_writable()?;
        if !self.owns_txn() {
            return Err(Error::NotInWriteTransaction);
        }
        let mut txn = self.shared.txn.lock();
        let st = txn.as_mut().ok_or(Error::NotInWriteTransaction)?;
        st.on_commit.push(Box::new(f));
        Ok(())
    }

    /// Commits this thread's write transaction and returns what it changed (observers have been
    /// called by the time this returns). The new local version, if a changeset was recorded, is
    /// in `last_local_version`.
    pub fn commit(&self) -> Result<ChangeSummary> {
        self.check_writable()?;
        if !self.owns_txn() {
            return Err(Error::NotInWriteTransaction);
        }
        let (changes, version) = {
            let conn = self.shared.writer.lock();
            let taken = self.shared.txn.lock().take();
            let Some(st) = taken else {
                drop(conn);
                self.release_owner();
                return Err(Error::NotInWriteTransaction);
            };
            let result = (|| -> Result<u64> {
                let mut version = 0;
                if st.record && !st.instructions.is_empty() {
                    version = append_history(&conn, self.shared.peer_id, st.instructions)?;
                    crate::sync_meta::note_local_creations(&conn, version, &st.changes)?;
                }
                store::set_meta(&conn, "lamport", st.lamport as i64)?;
                if st.schema_changed {
                    store::set_meta(&conn, "schema", st.schema.to_json())?;
                }
                for f in st.on_commit {
                    f(&conn, version)?;
                }
                conn.execute_batch("COMMIT")?;
                Ok(version)
            })();
            match result {
                Ok(version) => {
                    if st.schema_changed {
                        *self.shared.schema.write() = st.schema.clone();
                    }
                    (st.changes, version)
                }
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    drop(conn);
                    self.release_owner();
                    return Err(e);
                }
            }
        };
        self.release_owner();
        // Collections edited operation by operation are compared once, after the lock is gone.
        let mut changes = changes;
        changes.resolve_pending();
        self.shared.observers.notify(&changes);
        if version > 0 || !changes.is_empty() {
            let listeners: Vec<_> = self.shared.commit_listeners.lock().iter().map(|(_, l)| l.clone()).collect();
            for l in listeners {
                l(version);
            }
        }
        Ok(changes)
    }

    /// Rolls back this thread's write transaction; nothing is notified.
    pub fn cancel(&self) -> Result<()> {
        self.check_writable()?;
        if !self.owns_txn() {
            return Err(Error::NotInWriteTransaction);
        }
        self.rollback_inner()
    }

    fn rollback_inner(&self) -> Result<()> {
        let r = {
            let conn = self.shared.writer.lock();
            *self.shared.txn.lock() = None;
            if conn.is_autocommit() { Ok(()) } else { conn.execute_batch("ROLLBACK").map_err(Error::from) }
        };
        self.release_owner();
        r
    }

    /// Runs `f` in a write transaction: commits if it returns Ok, rolls back otherwise.
    pub fn write<T>(&self, f: impl FnOnce(&Realm) -> Result<T>) -> Result<T> {
        self.begin_write()?;
        match f(self) {
            Ok(v) => {
                self.commit()?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.cancel();
                Err(e)
            }
        }
    }

    // ---- snapshots -------------------------------------------------------------------------

    /// A frozen, read-only snapshot of the latest committed state. It can be held while writes go
    /// on and is not affected by them.
    pub fn freeze(&self) -> Result<Realm> {
        self.check_open()?;
        if self.frozen.is_some() {
            let conn = store::connect(&self.shared.path, self.shared.write_timeout)?;
            // A snapshot of a snapshot would need the same read mark; share nothing and refuse.
            drop(conn);
            return Err(Error::InvalidArgument("this realm is already frozen".into()));
        }
        let conn = store::connect(&self.shared.path, self.shared.write_timeout)?;
        conn.execute_batch("BEGIN DEFERRED")?;
        let json: String = store::get_meta(&conn, "schema")?.ok_or_else(|| Error::FileCorrupt("schema missing".into()))?;
        let schema = Arc::new(Schema::from_json(&json)?);
        Ok(Realm {
            shared: self.shared.clone(),
            frozen: Some(Frozen { conn: ReentrantMutex::new(conn), schema }),
            closed: AtomicBool::new(false),
            counted: false,
        })
    }

    // ---- reads -----------------------------------------------------------------------------

    /// Runs a read on the right connection: the snapshot's, this thread's open transaction, or a
    /// pooled reader that sees the latest commit.
    #[doc(hidden)]
    pub fn read<T>(&self, f: impl FnOnce(&Connection, &Schema) -> Result<T>) -> Result<T> {
        self.check_open()?;
        if let Some(fz) = &self.frozen {
            let conn = fz.conn.lock();
            return f(&conn, &fz.schema);
        }
        if self.owns_txn() {
            let conn = self.shared.writer.lock();
            let schema = self.shared.txn.lock().as_ref().map(|t| t.schema.clone());
            let schema = schema.unwrap_or_else(|| self.shared.schema.read().clone());
            // Only the reentrant connection lock is held while `f` runs, so `f` may write.
            return f(&conn, &schema);
        }
        let conn = match self.shared.readers.lock().pop() {
            Some(c) => c,
            None => store::connect(&self.shared.path, self.shared.write_timeout)?,
        };
        let schema = self.shared.schema.read().clone();
        let r = f(&conn, &schema);
        let mut pool = self.shared.readers.lock();
        if pool.len() < 8 {
            pool.push(conn);
        }
        r
    }

    /// The object with this primary key, or None.
    pub fn get(&self, class: &str, pk: &PrimaryKey) -> Result<Option<Object>> {
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            Ok(store::load_object(conn, ci, c, pk)?.map(|d| Object::from_data(schema, c, pk.clone(), &d)))
        })
    }

    pub fn exists(&self, class: &str, pk: &PrimaryKey) -> Result<bool> {
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            store::object_exists(conn, ci, pk)
        })
    }

    /// One property of an object (a list property is an error: use `get_list`).
    pub fn get_value(&self, class: &str, pk: &PrimaryKey, prop: &str) -> Result<Value> {
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            let (pi, p) = c.property(prop)?;
            if p.is_collection() {
                return Err(Error::TypeMismatch(format!("'{class}.{prop}' is a list or set; use get_list or get_set")));
            }
            if let Some(e) = crate::embedded::refuse_plain_write(schema, c, p) {
                return Err(e);
            }
            let data = store::load_object(conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            if matches!(data.fields[pi], Field::Nested(_)) {
                return Err(Error::TypeMismatch(format!("'{class}.{prop}' holds a nested collection; use get_mixed")));
            }
            Ok(data.value(pi).clone())
        })
    }

    pub fn get_list(&self, class: &str, pk: &PrimaryKey, prop: &str) -> Result<Vec<Value>> {
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            let (pi, p) = c.property(prop)?;
            if !p.list {
                return Err(Error::TypeMismatch(format!("'{class}.{prop}' is not a list")));
            }
            if let Some(e) = crate::embedded::refuse_plain_write(schema, c, p) {
                return Err(e);
            }
            let data = store::load_object(conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            Ok(data.list(pi).map(|l| l.values()).unwrap_or_default())
        })
    }

    /// The elements of a set property, in canonical order (the same on every replica).
    pub fn get_set(&self, class: &str, pk: &PrimaryKey, prop: &str) -> Result<Vec<Value>> {
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            let (pi, p) = c.property(prop)?;
            if !p.set {
                return Err(Error::TypeMismatch(format!("'{class}.{prop}' is not a set")));
            }
            let data = store::load_object(conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            Ok(data.set_elements(pi).map(<[Value]>::to_vec).unwrap_or_default())
        })
    }

    /// The entries of a dictionary property, in key order.
    pub fn get_dict(&self, class: &str, pk: &PrimaryKey, prop: &str) -> Result<Vec<(String, Value)>> {
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            c.check_pk(pk)?;
            let (pi, p) = c.property(prop)?;
            if !p.dictionary {
                return Err(Error::TypeMismatch(format!("'{class}.{prop}' is not a dictionary")));
            }
            let data = store::load_object(conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            Ok(data.dict(pi).map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
        })
    }

    pub fn count(&self, class: &str) -> Result<u64> {
        self.read(|conn, schema| store::count_objects(conn, schema.class(class)?.0))
    }

    /// Calls `f` for every object of `class` in primary-key order until it returns false.
    /// Streams: memory does not grow with the number of objects.
    pub fn for_each(&self, class: &str, mut f: impl FnMut(Object) -> bool) -> Result<()> {
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            store::scan_objects(conn, ci, c, None, |pk, data| Ok(f(Object::from_owned(schema, c, pk, data))))
        })
    }

    /// Up to `limit` objects after `after` (exclusive) in primary-key order: a cursor that holds
    /// nothing between calls.
    pub fn objects_page(&self, class: &str, after: Option<&PrimaryKey>, limit: usize) -> Result<Vec<Object>> {
        self.read(|conn, schema| {
            let (ci, c) = schema.class(class)?;
            if let Some(a) = after {
                c.check_pk(a)?;
            }
            let mut out = Vec::with_capacity(limit.min(1024));
            if limit == 0 {
                return Ok(out);
            }
            store::scan_objects(conn, ci, c, after, |pk, data| {
                out.push(Object::from_owned(schema, c, pk, data));
                Ok(out.len() < limit)
            })?;
            Ok(out)
        })
    }

    // ---- writes ----------------------------------------------------------------------------

    fn local(&self, ins: Instruction) -> Result<()> {
        self.with_txn(|tx, rec| {
            rules::apply(tx, &ins, Mode::Local)?;
            rec.push(ins);
            Ok(())
        })
    }

    /// Creates an object; fails with `DuplicatePrimaryKey` if it exists.
    pub fn create(&self, class: &str, pk: impl Into<PrimaryKey>, fields: &[(&str, Value)]) -> Result<()> {
        let fields = fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
        let ins = Instruction::CreateObject { class: class.to_string(), pk: pk.into(), fields };
        self.with_txn(|tx, rec| {
            rules::apply_create_new(tx, &ins)?;
            rec.push(ins);
            Ok(())
        })
    }

    /// Creates an object, or sets the given fields if it exists (rule 3).
    pub fn upsert(&self, class: &str, pk: impl Into<PrimaryKey>, fields: &[(&str, Value)]) -> Result<()> {
        let fields = fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
        self.local(Instruction::CreateObject { class: class.to_string(), pk: pk.into(), fields })
    }

    pub fn set(&self, class: &str, pk: &PrimaryKey, prop: &str, value: Value) -> Result<()> {
        self.local(Instruction::Set { class: class.to_string(), pk: pk.clone(), prop: prop.to_string(), value })
    }

    /// Adds `delta` to a counter property (wrapping on overflow). Concurrent adds on other
    /// clients merge additively; `set` replaces the value (the later in server order wins).
    pub fn counter_add(&self, class: &str, pk: &PrimaryKey, prop: &str, delta: i64) -> Result<()> {
        self.local(Instruction::CounterAdd { class: class.to_string(), pk: pk.clone(), prop: prop.to_string(), delta })
    }

    /// Adds `value` to a set property (a no-op if it is there).
    pub fn set_add(&self, class: &str, pk: &PrimaryKey, prop: &str, value: Value) -> Result<()> {
        self.local(Instruction::SetAdd { class: class.to_string(), pk: pk.clone(), prop: prop.to_string(), value })
    }

    /// Removes `value` from a set property (a no-op if it is not there).
    pub fn set_remove(&self, class: &str, pk: &PrimaryKey, prop: &str, value: Value) -> Result<()> {
        self.local(Instruction::SetRemove { class: class.to_string(), pk: pk.clone(), prop: prop.to_string(), value })
    }

    /// Removes the elements this thread's transaction sees (as one remove each, so an element
    /// another client adds concurrently survives the clear).
    pub fn set_clear(&self, class: &str, pk: &PrimaryKey, prop: &str) -> Result<()> {
        let elements = self.with_txn(|tx, _| {
            let (ci, c) = tx.schema.class(class)?;
            c.check_pk(pk)?;
            let (pi, p) = c.property(prop)?;
            if !p.set {
                return Err(Error::TypeMismatch(format!("'{class}.{prop}' is not a set")));
            }
            let data = store::load_object(tx.conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            Ok(data.set_elements(pi).map(<[Value]>::to_vec).unwrap_or_default())
        })?;
        for value in elements {
            self.set_remove(class, pk, prop, value)?;
        }
        Ok(())
    }

    /// Sets `key` of a dictionary property to `value` (inserting the key if absent).
    pub fn dict_set(&self, class: &str, pk: &PrimaryKey, prop: &str, key: &str, value: Value) -> Result<()> {
        self.local(Instruction::DictSet { class: class.to_string(), pk: pk.clone(), prop: prop.to_string(), key: key.to_string(), value })
    }

    /// Erases `key` of a dictionary property (a no-op if it is absent).
    pub fn dict_erase(&self, class: &str, pk: &PrimaryKey, prop: &str, key: &str) -> Result<()> {
        self.local(Instruction::DictErase { class: class.to_string(), pk: pk.clone(), prop: prop.to_string(), key: key.to_string() })
    }

    /// Erases the keys this thread's transaction sees (one erase each, so a key another client
    /// inserts concurrently survives the clear).
    pub fn dict_clear(&self, class: &str, pk: &PrimaryKey, prop: &str) -> Result<()> {
        let keys: Vec<String> = self.with_txn(|tx, _| {
            let (ci, c) = tx.schema.class(class)?;
            c.check_pk(pk)?;
            let (pi, p) = c.property(prop)?;
            if !p.dictionary {
                return Err(Error::TypeMismatch(format!("'{class}.{prop}' is not a dictionary")));
            }
            let data = store::load_object(tx.conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            Ok(data.dict(pi).map(|d| d.keys().cloned().collect()).unwrap_or_default())
        })?;
        for key in keys {
            self.dict_erase(class, pk, prop, &key)?;
        }
        Ok(())
    }

    /// Erases an object; fails with `ObjectNotFound` if it does not exist. Links to it become
    /// null and it leaves every list of links (rule 6).
    pub fn erase(&self, class: &str, pk: &PrimaryKey) -> Result<()> {
        self.with_txn(|tx, _| {
            let (ci, c) = tx.schema.class(class)?;
            c.check_pk(pk)?;
            if !store::object_exists(tx.conn, ci, pk)? {
                return Err(Error::not_found(class, pk));
            }
            Ok(())
        })?;
        self.local(Instruction::EraseObject { class: class.to_string(), pk: pk.clone() })
    }

    /// The ids of the visible elements of a list, in this thread's transaction.
    fn list_ids(&self, class: &str, pk: &PrimaryKey, prop: &str) -> Result<(Vec<ElemId>, u64)> {
        self.with_txn(|tx, _| {
            let (ci, c) = tx.schema.class(class)?;
            c.check_pk(pk)?;
            let (pi, p) = c.property(prop)?;
            if !p.list {
                return Err(Error::TypeMismatch(format!("'{class}.{prop}' is not a list")));
            }
            let data = store::load_object(tx.conn, ci, c, pk)?.ok_or_else(|| Error::not_found(class, pk))?;
            let ids = data.list(pi).map(|l| l.visible().map(|e| e.id).collect()).unwrap_or_default();
            Ok((ids, tx.lamport))
        })
    }

    fn new_elem_id(&self, lamport: u64) -> ElemId {
        ElemId { lamport: lamport + 1, peer: self.shared.peer_id }
    }

    pub fn list_insert(&self, class: &str, pk: &PrimaryKey, prop: &str, index: usize, value: Value) -> Result<()> {
        let (ids, lamport) = self.list_ids(class, pk, prop)?;
        if index > ids.len() {
            return Err(Error::IndexOutOfRange { index, len: ids.len() });
        }
        let after = if index == 0 { None } else { Some(ids[index - 1]) };
        let id = self.new_elem_id(lamport);
        self.local(Instruction::ListInsert { class: class.into(), pk: pk.clone(), prop: prop.into(), id, after, value })
    }

    pub fn list_push(&self, class: &str, pk: &PrimaryKey, prop: &str, value: Value) -> Result<()> {
        let (ids, _) = self.list_ids(class, pk, prop)?;
        self.list_insert(class, pk, prop, ids.len(), value)
    }

    pub fn list_set(&self, class: &str, pk: &PrimaryKey, prop: &str, index: usize, value: Value) -> Result<()> {
        let (ids, _) = self.list_ids(class, pk, prop)?;
        let id = *ids.get(index).ok_or(Error::IndexOutOfRange { index, len: ids.len() })?;
        self.local(Instruction::ListSet { class: class.into(), pk: pk.clone(), prop: prop.into(), id, value })
    }

    pub fn list_erase(&self, class: &str, pk: &PrimaryKey, prop: &str, index: usize) -> Result<()> {
        let (ids, _) = self.list_ids(class, pk, prop)?;
        let id = *ids.get(index).ok_or(Error::IndexOutOfRange { index, len: ids.len() })?;
        self.local(Instruction::ListErase { class: class.into(), pk: pk.clone(), prop: prop.into(), id })
    }

    /// Moves the element at `from` so that it ends up at index `to`.
    pub fn list_move(&self, class: &str, pk: &PrimaryKey, prop: &str, from: usize, to: usize) -> Result<()> {
        let (mut ids, lamport) = self.list_ids(class, pk, prop)?;
        let len = ids.len();
        if from >= len {
            return Err(Error::IndexOutOfRange { index: from, len });
        }
        if to >= len {
            return Err(Error::IndexOutOfRange { index: to, len });
        }
        if from == to {
            return Ok(());
        }
        let moved = ids.remove(from);
        let after = if to == 0 { None } else { Some(ids[to - 1]) };
        let id = self.new_elem_id(lamport);
        self.local(Instruction::ListMove { class: class.into(), pk: pk.clone(), prop: prop.into(), from: moved, id, after })
    }

    pub fn list_clear(&self, class: &str, pk: &PrimaryKey, prop: &str) -> Result<()> {
        let (ids, _) = self.list_ids(class, pk, prop)?;
        if ids.is_empty() {
            return Ok(());
        }
        self.local(Instruction::ListClear { class: class.into(), pk: pk.clone(), prop: prop.into(), ids })
    }

    // ---- observers -------------------------------------------------------------------------

    /// Registers an observer called after each commit that changed something in its scope, on
    /// the committing thread, with no internal lock held.
    pub fn observe(&self, scope: ObserverScope, f: impl Fn(&ChangeSummary) + Send + Sync + 'static) -> Result<NotificationToken> {
        self.check_open()?;
        if self.frozen.is_some() {
            return Err(Error::InvalidArgument("a frozen snapshot never changes; observe the live realm".into()));
        }
        let schema = self.schema();
        match &scope {
            ObserverScope::Realm => {}
            ObserverScope::Class(c) => {
                schema.class(c)?;
            }
            ObserverScope::Object(c, pk) => {
                schema.class(c)?.1.check_pk(pk)?;
            }
        }
        let id = self.shared.observers.add(scope, Arc::new(f));
        Ok(NotificationToken::new(&self.shared.observers, id))
    }

    /// Internal: called after every commit with the new local version (0: nothing recorded).
    #[doc(hidden)]
    pub fn add_commit_listener(&self, f: impl Fn(u64) + Send + Sync + 'static) -> u64 {
        let mut n = self.shared.next_listener.lock();
        *n += 1;
        self.shared.commit_listeners.lock().push((*n, Arc::new(Box::new(f))));
        *n
    }

    #[doc(hidden)]
    pub fn remove_commit_listener(&self, id: u64) {
        self.shared.commit_listeners.lock().retain(|(i, _)| *i != id);
    }

    // ---- history ---------------------------------------------------------------------------

    /// The peer id of this file (the tie-breaker of its list element ids).
    pub fn peer_id(&self) -> u64 {
        self.shared.peer_id
    }

    /// Local changesets with a version greater than `after`, oldest first.
    pub fn history_since(&self, after: u64) -> Result<Vec<Changeset>> {
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached("SELECT changeset FROM ds_history WHERE version > ?1 ORDER BY version")?;
            let mut rows = stmt.query([after as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let b: Vec<u8> = r.get(0)?;
                out.push(Changeset::decode(&b).map_err(|e| Error::FileCorrupt(e.to_string()))?);
            }
            Ok(out)
        })
    }

    /// The version of the newest local changeset (0 if none).
    pub fn last_local_version(&self) -> Result<u64> {
        self.read(|conn, _| Ok(store::get_meta::<i64>(conn, "local_version")?.unwrap_or(0) as u64))
    }
}

/// The instruction that records one additive schema change.
fn additive_instruction(change: crate::schema::AdditiveChange) -> Instruction {
    match change {
        crate::schema::AdditiveChange::AddClass(class) => Instruction::AddClass { class },
        crate::schema::AdditiveChange::AddProperty { class, property } => Instruction::AddProperty { class, property },
    }
}

/// Appends one local changeset to the history; returns its version.
fn append_history(conn: &Connection, peer_id: u64, instructions: Vec<Instruction>) -> Result<u64> {
    let version = store::get_meta::<i64>(conn, "local_version")?.unwrap_or(0) as u64 + 1;
    let cs = Changeset::new(version, peer_id, instructions);
    conn.prepare_cached("INSERT INTO ds_history(version, changeset) VALUES(?1, ?2)")?
        .execute(rusqlite::params![version as i64, cs.encode()])?;
    store::set_meta(conn, "local_version", version as i64)?;
    Ok(version)
}

impl Drop for Realm {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Realm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Realm").field("path", &self.shared.path).field("frozen", &self.frozen.is_some()).finish()
    }
}

// Silence the unused-import lint for Outcome in builds that do not use it directly.
#[allow(dead_code)]
fn _outcome_is_used(o: Outcome) -> bool {
    matches!(o, Outcome::Applied)
}
