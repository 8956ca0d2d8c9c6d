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
    /// Extra trusted CA certificates (PEM) for `wss://`, on top of the system's root
    /// certificates (a private CA, a test CA).
    pub trusted_ca_pem: Vec<String>,
    /// Allows `ws://` (cleartext) to a host that is not loopback. Off: such a URL is refused
    /// when the realm is opened.
    pub allow_cleartext: bool,
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
        }
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
    pub fn validate(&self) -> crate::error::Result<()> {
        crate::sync::ServerUrl::parse(&self.server_url, self.allow_cleartext)?;
        for pem in &self.trusted_ca_pem {
            let n = crate::sync::count_pem_certificates(pem)?;
            if n == 0 {
                return Err(crate::error::Error::InvalidArgument("a trusted CA certificate PEM holds no certificate".into()));
            }
        }
        Ok(())
    }
}
