//! How a realm is opened: its file, its schema and, optionally, how it syncs.

use crate::reset::ClientResetConfig;
use crate::schema::Schema;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `Realm::open` needs.
#[derive(Clone)]
pub struct RealmConfig {
    pub path: PathBuf,
    pub schema: Schema,
    /// With a sync configuration every commit is recorded as a changeset in the history.
    pub sync: Option<SyncConfig>,
    /// How long `begin_write` waits for another writer before failing with `Busy`.
    pub write_timeout: Duration,
}

impl RealmConfig {
    pub fn new(path: impl Into<PathBuf>, schema: Schema) -> Self {
        RealmConfig { path: path.into(), schema, sync: None, write_timeout: Duration::from_secs(10) }
    }

    pub fn with_sync(mut self, sync: SyncConfig) -> Self {
        self.sync = Some(sync);
        self
    }
}

/// Default of `SyncConfig::retain_acknowledged`.
pub const DEFAULT_RETAIN_ACKNOWLEDGED: u64 = 10_000;

/// Where and as whom a realm syncs.
#[derive(Clone)]
pub struct SyncConfig {
    /// `ws://host:port` of a driftsync server.
    pub server_url: String,
    pub user_token: String,
    pub realm_name: String,
    pub client_reset: ClientResetConfig,
    /// Start without connecting (tests and apps that connect later call `resume`).
    pub start_paused: bool,
    /// How many acknowledged changesets to keep after they are no longer needed for sync, so
    /// that changes a server restored from a backup lost can still be recovered. Older ones are
    /// deleted, which bounds the history.
    pub retain_acknowledged: u64,
}

impl SyncConfig {
    pub fn new(server_url: &str, user_token: &str, realm_name: &str) -> Self {
        SyncConfig {
            server_url: server_url.to_string(),
            user_token: user_token.to_string(),
            realm_name: realm_name.to_string(),
            client_reset: ClientResetConfig::default(),
            start_paused: false,
            retain_acknowledged: DEFAULT_RETAIN_ACKNOWLEDGED,
        }
    }
}
