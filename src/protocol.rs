//! The sync wire protocol: MessagePack messages in binary WebSocket frames. Shared by the client
//! (`sync/`) and the reference server (`server/`), so both always speak the same version.
//!
//! Flow: the client sends `Bind`. The server answers `BindOk` or `Error` (a reset demand is an
//! `Error` whose action is `ClientReset` / `ClientResetNoRecovery`). A new client file then
//! pulls the server state with `StateRequest` → `StateChunk`s, ordered by (class, primary key)
//! and resumable from the last key received. Then `StartDownload { after }` starts the stream of
//! `Download` messages; the client sends `Upload`s, answered by `UploadAck`s.

use crate::changeset::Changeset;
use crate::error::{Error, Result};
use crate::reconcile::Fingerprint;
use crate::schema::Property;
use crate::value::PrimaryKey;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// 2: `DownloadChangeset::own` replaced `origin_file` (other clients' idents are not revealed).
pub const PROTOCOL_VERSION: u32 = 2;
/// Frames larger than this are refused by both sides.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bind {
    pub protocol_version: u32,
    pub token: String,
    pub realm: String,
    /// None: a new client file asking for an ident.
    pub client_file_ident: Option<u64>,
    /// The last server version this client integrated, and that version's salt (0, 0 if none).
    pub server_version: u64,
    pub salt: u64,
    /// The client's schema (Schema JSON).
    pub schema_json: String,
    /// Set by a client that is completing a client reset: the server accepts its additive
    /// schema differences instead of demanding another reset.
    pub completing_reset: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadChangeset {
    /// The server version the client had integrated when it made this change.
    pub base_server_version: u64,
    pub changeset: Changeset,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    Bind(Bind),
    /// Asks for up to `max_objects` objects of the server state after `after` (exclusive) in
    /// (class, primary key) order; `None` starts at the beginning.
    StateRequest {
        after: Option<(String, PrimaryKey)>,
        max_objects: u32,
    },
    /// Starts the download stream with the server changesets after `after`.
    StartDownload {
        after: u64,
    },
    Upload {
        changesets: Vec<UploadChangeset>,
    },
    Ping {
        nonce: u64,
    },
    /// Starts a range reconciliation of the server state (only to a server whose `BindOk` said
    /// `reconcile`): answered by `ReconcileClasses`. See `reconcile.rs`.
    ReconcileBegin,
    /// Asks about key ranges with the client's fingerprints (at most `reconcile::MAX_QUERIES`):
    /// answered by one `ReconcileAnswers`, one answer per query in order.
    ReconcileRanges {
        queries: Vec<RangeQuery>,
    },
    /// Asks for the records of `class` with these hashes in these ranges (at most
    /// `reconcile::MAX_FETCH_HASHES` hashes): answered by `ReconcileRecords`.
    ReconcileFetch {
        class: String,
        wanted: Vec<WantedRecords>,
    },
    /// An admin command; only accepted with the server's admin token.
    Admin {
        admin_token: String,
        command: AdminCommand,
    },
}

/// One object of the server state: its primary key and its stored record, exactly as the realm
/// file encodes it (`store::encode_object`: fields in the order of the chunk's `properties`,
/// list elements with their ids and tombstones). Sending the stored bytes means neither side
/// re-encodes objects, and a client whose layout matches compares records byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectState {
    pub pk: PrimaryKey,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// A key range `[lo, hi)` of one class (`hi` None: to the end of the class), primary keys as
/// `PrimaryKey::to_key_bytes`, with the asking side's fingerprint of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeQuery {
    pub class: String,
    pub lo: ByteBuf,
    pub hi: Option<ByteBuf>,
    pub fingerprint: Fingerprint,
}

/// A sub-range of a split, with the server's fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeFingerprint {
    pub lo: ByteBuf,
    pub hi: Option<ByteBuf>,
    pub fingerprint: Fingerprint,
}

/// The server objects of `[lo, hi)` (a range answered with `Items`) whose hashes the client
/// lacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WantedRecords {
    pub lo: ByteBuf,
    pub hi: Option<ByteBuf>,
    pub hashes: Vec<u64>,
}

/// A stored record (primary-key bytes, record bytes as in `ObjectState`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawRecord {
    pub key: ByteBuf,
    pub data: ByteBuf,
}

/// The server's answer about one queried range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RangeAnswer {
    /// Same fingerprint on both sides: nothing to transfer.
    Same,
    /// Differs: these sub-ranges cover it, with the server's fingerprints.
    Split(Vec<RangeFingerprint>),
    /// Differs and is small: the hash of every server object of the range, in key order (a
    /// hash covers the key, so the client matches its objects by hash alone).
    Items(Vec<u64>),
    /// The client holds nothing of the range: its records, in key order; `resume` is set when
    /// the answer was cut for size (ask again from there, exclusive of nothing: `[resume, hi)`).
    Records { records: Vec<RawRecord>, resume: Option<ByteBuf> },
}

/// One class of the server's reconciliation snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileClass {
    pub name: String,
    /// The server's properties of the class, in record order.
    pub properties: Vec<Property>,
    /// The whole class's fingerprint: its object count, and the sum of its hashes when the class
    /// fits in the server's window (`reconcile::SERVER_WINDOW_OBJECTS`); for a larger class the
    /// sum is 0, not computed (a client compares a whole class only when it holds the class in
    /// one of its windows, half a server window at most, so the counts differ).
    pub fingerprint: Fingerprint,
}

/// The server's state of one object a client tried to change without permission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompensatedObject {
    pub class: String,
    pub pk: PrimaryKey,
    /// The server's properties of `class`, in record order.
    pub properties: Vec<Property>,
    /// The stored record; None: the object does not exist on the server (or may not be read).
    #[serde(with = "serde_bytes")]
    pub data: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadChangeset {
    pub server_version: u64,
    pub salt: u64,
    /// The newest local version of the receiving client that the server had integrated before
    /// this changeset: the client's changes after it are concurrent and are re-applied on top.
    pub last_integrated_client_version: u64,
    /// Whether the receiving client uploaded it (other clients' idents are never revealed).
    pub own: bool,
    pub changeset: Changeset,
}

/// Why the server demands a client reset (DESIGN "Reset causes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResetCause {
    /// The client's server version or salt is unknown: the server was restored from a backup.
    ServerRestored,
    /// The client file ident belongs to an old sync epoch (sync terminated and re-enabled).
    SyncReenabled,
    /// The client's schema has classes or properties the server lacks.
    ClientSchemaAhead,
    /// The client was offline longer than `client_max_offline_days`.
    ClientTooOld,
    /// The server's schema changed in a breaking way.
    BreakingSchemaChange,
    /// The user's role, or the role's definition, changed since the client last synced.
    RoleChanged,
}

impl ResetCause {
    pub fn name(self) -> &'static str {
        match self {
            ResetCause::ServerRestored => "server_restored",
            ResetCause::SyncReenabled => "sync_reenabled",
            ResetCause::ClientSchemaAhead => "client_schema_ahead",
            ResetCause::ClientTooOld => "client_too_old",
            ResetCause::BreakingSchemaChange => "breaking_schema_change",
            ResetCause::RoleChanged => "role_changed",
        }
    }
}

/// What the client must do about a server error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorAction {
    /// Reset; recovery of unsynced changes is allowed.
    ClientReset,
    /// Reset; unsynced changes cannot be recovered (discard or manual).
    ClientResetNoRecovery,
    /// Reconnect later.
    Retry,
    /// Do not reconnect (bad token, unsupported protocol…).
    Fatal,
    /// Informational; the session goes on (e.g. a write that was not permitted).
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerErrorCode {
    UnsupportedProtocolVersion,
    BadToken,
    UnknownRealm,
    BadMessage,
    BadChangeset,
    PermissionDenied,
    ClientResetRequired,
    SyncTerminated,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolError {
    pub code: ServerErrorCode,
    pub cause: Option<ResetCause>,
    pub action: ErrorAction,
    pub message: String,
    pub retryable: bool,
    /// With `ServerRestored`: the server version the restored history ends at. This client's
    /// changes the server acknowledged after it were lost, and recovery replays them too.
    #[serde(default)]
    pub restored_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    BindOk {
        client_file_ident: u64,
        /// The server's latest version and its salt at bind time.
        server_version: u64,
        salt: u64,
        epoch: u64,
        /// The server's schema (Schema JSON).
        schema_json: String,
        /// True when the ident is new: the client must pull the state before downloading.
        new_file: bool,
        /// The server speaks range reconciliation (`ReconcileBegin`…). Absent (false) from a
        /// server that does not: the client pulls a full copy with `StateRequest`s.
        #[serde(default)]
        reconcile: bool,
    },
    StateChunk {
        server_version: u64,
        salt: u64,
        class: String,
        /// The server's properties of `class`, in record order.
        properties: Vec<Property>,
        objects: Vec<ObjectState>,
        /// The last key of this chunk, to resume from; None when `done`.
        last: Option<(String, PrimaryKey)>,
        done: bool,
        /// Objects in the whole server state (for progress), sent with the first chunk of a
        /// download (`after: None`); 0 in later chunks.
        total_objects: u64,
    },
    Download {
        changesets: Vec<DownloadChangeset>,
        /// Every server changeset up to this version has been sent (the client's own ones are
        /// acknowledged by `UploadAck` instead).
        latest_server_version: u64,
        latest_salt: u64,
    },
    UploadAck {
        local_version: u64,
        server_version: u64,
    },
    Error(ProtocolError),
    /// Answers `Ping`. Sent only after every changeset up to `latest_server_version` (the
    /// server's latest version when it handled the ping) has been sent to this client in
    /// `Download`s (an empty `Download` is fine), so a client waits for download completion with
    /// one ping.
    Pong {
        nonce: u64,
        latest_server_version: u64,
    },
    /// Answers `ReconcileBegin`: the readable classes of one snapshot of the server state, at
    /// this server version and salt. Later answers of the session come from the same snapshot.
    ReconcileClasses {
        server_version: u64,
        salt: u64,
        classes: Vec<ReconcileClass>,
    },
    ReconcileAnswers {
        answers: Vec<RangeAnswer>,
    },
    /// Answers `ReconcileFetch`: the records of the first `served` wanted ranges (an object the
    /// server no longer has is left out), cut for size.
    ReconcileRecords {
        records: Vec<RawRecord>,
        served: u32,
    },
    AdminResult {
        ok: bool,
        output: String,
    },
    /// Undoes writes of changeset `local_version` that the client's role did not allow (they
    /// were not applied on the server): the client sets these objects back to the server's state
    /// and re-applies its later changes to them. Sent after the `PermissionDenied` warning and
    /// before that changeset's `UploadAck`.
    Compensate {
        local_version: u64,
        objects: Vec<CompensatedObject>,
    },
}

/// Admin commands of the reference server (see `driftsync-server admin --help`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AdminCommand {
    Backup {
        name: String,
    },
    Restore {
        name: String,
    },
    Terminate,
    Enable,
    /// Applies a new schema (Schema JSON); breaking changes start a new epoch.
    ApplySchema {
        schema_json: String,
    },
    /// Moves the server clock forward, then compacts (expiring clients offline too long).
    AdvanceClock {
        seconds: u64,
    },
    AssignRole {
        user: String,
        role: String,
    },
    /// Replaces a role's definition (TOML table of the role, as in app.toml).
    DefineRole {
        role: String,
        definition_toml: String,
    },
    SetRecoveryDisabled {
        disabled: bool,
    },
    Status,
    /// Adds a user with a static token (stored hashed) and a role.
    AddUser {
        user: String,
        token: String,
        role: String,
    },
    /// Removes a user: its open sessions are closed at once.
    RemoveUser {
        user: String,
    },
    /// Replaces a user's static token: sessions opened with the old one are closed at once.
    RotateToken {
        user: String,
        token: String,
    },
}

pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    rmp_serde::to_vec(msg).unwrap_or_default()
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(Error::Protocol(format!("frame of {} bytes exceeds the limit of {MAX_FRAME_BYTES}", bytes.len())));
    }
    rmp_serde::from_slice(bytes).map_err(|e| Error::Protocol(format!("undecodable message: {e}")))
}
