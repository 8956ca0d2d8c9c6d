//! How a realm is opened: its file, its schema and, optionally, how it syncs.

use crate::error::{Error, Result};
use crate::reset::ClientResetConfig;
use crate::schema::Schema;
use crate::sync::{ConnectionStateHandler, SyncErrorHandler};
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
    /// Extra trusted CA certificates (PEM) for `wss://`, on top of the system's root
    /// certificates (a private CA, a test CA).
    pub trusted_ca_pem: Vec<String>,
    /// Allows `ws://` (cleartext) to a host that is not loopback. Off: such a URL is refused
    /// when the realm is opened.
    pub allow_cleartext: bool,
    /// Called with every sync error of the session, from the first connection on (sync thread).
    pub on_error: Option<SyncErrorHandler>,
    /// Called on every connection state change, from the first connection on (sync thread).
    pub on_state_change: Option<ConnectionStateHandler>,
}

/// What differs between the sync settings a file is open with and those of another open of it
/// (empty: the same). Callbacks cannot be compared, so only whether each one is set counts.
pub(crate) fn sync_differences(open: Option<&SyncConfig>, new: Option<&SyncConfig>) -> Vec<&'static str> {
    let (a, b) = match (open, new) {
        (None, None) => return Vec::new(),
        (Some(a), Some(b)) => (a, b),
        _ => return vec!["synced or local"],
    };
    let (ra, rb) = (&a.client_reset, &b.client_reset);
    [
        ("server URL", a.server_url != b.server_url),
        ("user token", a.user_token != b.user_token),
        ("realm name", a.realm_name != b.realm_name),
        ("start paused", a.start_paused != b.start_paused),
        ("retain acknowledged", a.retain_acknowledged != b.retain_acknowledged),
        ("client reset mode", ra.mode != rb.mode),
        ("backup directory", ra.backup_dir != rb.backup_dir),
        ("keep backup", ra.keep_backup != rb.keep_backup),
        ("before-reset hook", ra.before.is_some() != rb.before.is_some()),
        ("after-reset hook", ra.after.is_some() != rb.after.is_some()),
        ("manual reset handler", ra.manual.is_some() != rb.manual.is_some()),
        ("download progress callback", ra.on_download_progress.is_some() != rb.on_download_progress.is_some()),
        ("sync error handler", a.on_error.is_some() != b.on_error.is_some()),
        ("connection state handler", a.on_state_change.is_some() != b.on_state_change.is_some()),
        ("trusted CA certificates", a.trusted_ca_pem != b.trusted_ca_pem),
        ("allow cleartext", a.allow_cleartext != b.allow_cleartext),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
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
            trusted_ca_pem: Vec::new(),
            allow_cleartext: false,
            on_error: None,
            on_state_change: None,
        }
    }

    /// Sets the sync-error handler (see `on_error`).
    pub fn with_error_handler(mut self, f: impl Fn(&crate::sync::SyncError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(std::sync::Arc::new(f));
        self
    }

    /// Sets the connection-state handler (see `on_state_change`).
    pub fn with_state_handler(
        mut self,
        f: impl Fn(crate::sync::ConnectionState, crate::sync::ConnectionState) + Send + Sync + 'static,
    ) -> Self {
        self.on_state_change = Some(std::sync::Arc::new(f));
        self
    }

    /// Adds a trusted CA certificate (PEM).
    pub fn with_trusted_ca_pem(mut self, pem: &str) -> Self {
        self.trusted_ca_pem.push(pem.to_string());
        self
    }

    pub(crate) fn tls_options(&self) -> crate::sync::TlsOptions {
        crate::sync::TlsOptions { trusted_ca_pem: self.trusted_ca_pem.clone(), allow_cleartext: self.allow_cleartext }
    }

    /// Refuses what can never connect: a malformed URL, cleartext to a host that is not
    /// loopback (unless allowed), a CA certificate that is not PEM.
    pub fn validate(&self) -> Result<()> {
        crate::sync::ServerUrl::parse(&self.server_url, self.allow_cleartext)?;
        for pem in &self.trusted_ca_pem {
            let n = crate::sync::count_pem_certificates(pem)?;
            if n == 0 {
                return Err(Error::InvalidArgument("a trusted CA certificate PEM holds no certificate".into()));
            }
        }
        Ok(())
    }
}
