//! `app.toml`: the admin token, the schema, the users and their roles, and the reset-related
//! settings (`is_recovery_mode_disabled`, `client_max_offline_days`, as Atlas Device Sync calls
//! them).
//!
//! ```toml
//! admin_token = "secret"
//! is_recovery_mode_disabled = false
//! client_max_offline_days = 30
//! reconcile = true                     # offer range reconciliation of reset copies (default)
//! schema_file = "schema.json"          # or: schema_json = '''{"classes": [...]}'''
//!
//! [users.alice]
//! token = "alice-token"
//! role = "editor"
//!
//! [roles.editor]
//! realms = ["*"]
//! read = ["*"]
//! write = ["Task"]
//!
//! [limits]                             # all optional, these are the defaults
//! bind_deadline_ms = 10000
//! idle_timeout_ms = 120000
//! frame_timeout_ms = 30000
//! max_connections = 1024
//!
//! [admin]                              # admin commands have a listener of their own
//! listen = "127.0.0.1:0"               # non-loopback needs allow_remote = true and [tls]
//!
//! [tls]                                # optional: wss:// on both listeners
//! cert_chain_file = "server.pem"
//! key_file = "server.key"
//!
//! [jwt]                                # optional: signed user tokens (sub = user, exp required)
//! hs256_secret = "at least 32 bytes of shared secret"   # or rs256_public_key_file = "key.pem"
//! ```

use crate::{Result, ServerError};
use driftsync::Schema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What a role may do: which realms it may open, which classes it may read and write.
/// `"*"` stands for everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    #[serde(default)]
    pub realms: Vec<String>,
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
}

fn matches(list: &[String], name: &str) -> bool {
    list.iter().any(|x| x == "*" || x == name)
}

impl RoleDef {
    /// A role that may open every realm and read and write every class.
    pub fn full_access() -> Self {
        RoleDef { realms: vec!["*".into()], read: vec!["*".into()], write: vec!["*".into()] }
    }
    pub fn may_open(&self, realm: &str) -> bool {
        matches(&self.realms, realm)
    }
    pub fn may_read(&self, class: &str) -> bool {
        matches(&self.read, class)
    }
    pub fn may_write(&self, class: &str) -> bool {
        matches(&self.write, class)
    }
    /// Schema changes (new classes or properties) need `write = ["*"]`.
    pub fn may_change_schema(&self) -> bool {
        self.write.iter().any(|x| x == "*")
    }

    /// Parses a role definition: the body of a `[roles.NAME]` table (`realms = [...]`, `read`,
    /// `write`), or a document holding exactly one such table.
    pub fn from_toml(text: &str) -> Result<Self> {
        match toml::from_str::<RoleDef>(text) {
            Ok(r) => Ok(r),
            Err(first) => {
                #[derive(Deserialize)]
                struct Wrapped {
                    roles: BTreeMap<String, RoleDef>,
                }
                if let Ok(w) = toml::from_str::<Wrapped>(text)
                    && w.roles.len() == 1
                    && let Some(r) = w.roles.into_values().next()
                {
                    return Ok(r);
                }
                Err(ServerError(format!("role definition: {first}")))
            }
        }
    }

    /// The canonical text of this definition (sorted lists), used for the role stamp.
    fn canonical(&self) -> String {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v.join(",")
        };
        format!("realms={};read={};write={}", sorted(&self.realms), sorted(&self.read), sorted(&self.write))
    }
}

/// The stamp of a user's role: changes when the user gets another role or the role's definition
/// changes. A client file bound under another stamp must reset (cause `RoleChanged`).
pub fn role_stamp(role_name: &str, def: &RoleDef) -> u64 {
    // FNV-1a: stable across runs and platforms (it is stored).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in role_name.bytes().chain([0u8]).chain(def.canonical().bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h & (i64::MAX as u64)
}

/// A user: a static token (given in clear or as its SHA-256 hex) and/or signed tokens (JWT,
/// `sub` = the user's name, see `JwtConfig`), and a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDef {
    /// The static token in clear (only hashed in the server database). Empty: none.
    #[serde(default)]
    pub token: String,
    /// The static token as SHA-256 hex, so that the config holds no secret.
    #[serde(default)]
    pub token_sha256: Option<String>,
    pub role: String,
}

impl UserDef {
    /// The hash of this user's static token, if it has one.
    pub fn token_hash(&self) -> Option<String> {
        match (&self.token_sha256, self.token.is_empty()) {
            (Some(h), _) => Some(h.to_ascii_lowercase()),
            (None, false) => Some(crate::auth::hash_token(&self.token)),
            (None, true) => None,
        }
    }
}

/// What a connection may cost before the server cuts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// From accept to a completed Bind (TLS and WebSocket handshakes included).
    pub bind_deadline_ms: u64,
    /// A bound connection that sends nothing (not even a pong to the server's ping) this long is
    /// closed. The server pings after half of it.
    pub idle_timeout_ms: u64,
    /// A message that started arriving must be complete within this time.
    pub frame_timeout_ms: u64,
    /// Open sync connections at most (bound or not); more are closed at accept.
    pub max_connections: usize,
    /// The largest message before a completed Bind.
    pub max_unbound_message_bytes: usize,
}

impl Limits {
    pub fn bind_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.bind_deadline_ms)
    }
    pub fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn frame_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.frame_timeout_ms)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bind_deadline_ms: 10_000,
            idle_timeout_ms: 120_000,
            frame_timeout_ms: 30_000,
            max_connections: 1_024,
            max_unbound_message_bytes: 1 << 20,
        }
    }
}

/// Where admin commands are served: a listener of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminListen {
    /// `host:port`, port 0 picks a free one. Loopback only unless `allow_remote`.
    pub listen: String,
    /// Allows a non-loopback admin address; it then needs TLS (`[tls]`).
    pub allow_remote: bool,
}

impl Default for AdminListen {
    fn default() -> Self {
        AdminListen { listen: "127.0.0.1:0".into(), allow_remote: false }
    }
}

/// The server's certificate chain and private key (PEM): with it, both listeners speak TLS
/// (`wss://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    pub cert_chain_pem: String,
    pub key_pem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_chain_file: String,
    key_file: String,
}

/// Signed user tokens, as Realm's custom-JWT provider: HS256 with a shared secret or RS256 with
/// the app backend's public key. `sub` names the user (who must exist, for the role); `exp` is
/// required and honoured (at Bind, and an open session ends when it passes); `aud` / `iss` are
/// checked when given here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    #[serde(default)]
    pub hs256_secret: Option<String>,
    /// The RS256 public key (PEM). In app.toml: `rs256_public_key_file`, relative to the file.
    #[serde(default, skip_serializing)]
    pub rs256_public_key_pem: Option<String>,
    #[serde(default)]
    pub rs256_public_key_file: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    /// Clock skew allowed on `exp` (default 60 s); a session ends once `exp` + this has passed.
    #[serde(default)]
    pub leeway_secs: Option<u64>,
}

impl JwtConfig {
    pub fn leeway(&self) -> u64 {
        self.leeway_secs.unwrap_or(60)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    admin_token: String,
    #[serde(default)]
    is_recovery_mode_disabled: bool,
    #[serde(default)]
    client_max_offline_days: Option<u64>,
    /// false: answer resets with full copies only (as a server before range reconciliation).
    #[serde(default)]
    reconcile: Option<bool>,
    #[serde(default)]
    schema_json: Option<String>,
    #[serde(default)]
    schema_file: Option<String>,
    #[serde(default)]
    users: BTreeMap<String, UserDef>,
    #[serde(default)]
    roles: BTreeMap<String, RoleDef>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    admin: AdminListen,
    #[serde(default)]
    tls: Option<RawTls>,
    #[serde(default)]
    jwt: Option<JwtConfig>,
}

pub const DEFAULT_MAX_OFFLINE_DAYS: u64 = 30;

/// A parsed, validated `app.toml`. Users, roles, the schema and the recovery flag are copied
/// into the server database at its first start; later admin changes live there.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub admin_token: String,
    pub is_recovery_mode_disabled: bool,
    pub client_max_offline_days: u64,
    /// Offer range reconciliation of the fresh copy to clients (`BindOk::reconcile`).
    pub reconcile: bool,
    /// Most objects of a class a reconciling session holds at a time (not in the TOML: smaller
    /// only in tests of window boundaries).
    pub reconcile_window_objects: usize,
    pub schema: Schema,
    pub users: BTreeMap<String, UserDef>,
    pub roles: BTreeMap<String, RoleDef>,
    pub limits: Limits,
    pub admin: AdminListen,
    pub tls: Option<TlsIdentity>,
    pub jwt: Option<JwtConfig>,
}

impl AppConfig {
    /// A config with this schema and admin token, no users and no roles (add them with
    /// `with_role` / `with_user`).
    pub fn new(schema: Schema, admin_token: &str) -> Self {
        AppConfig {
            admin_token: admin_token.to_string(),
            is_recovery_mode_disabled: false,
            client_max_offline_days: DEFAULT_MAX_OFFLINE_DAYS,
            reconcile: true,
            reconcile_window_objects: driftsync::reconcile::SERVER_WINDOW_OBJECTS,
            schema,
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
            limits: Limits::default(),
            admin: AdminListen::default(),
            tls: None,
            jwt: None,
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_tls(mut self, cert_chain_pem: &str, key_pem: &str) -> Self {
        self.tls = Some(TlsIdentity { cert_chain_pem: cert_chain_pem.into(), key_pem: key_pem.into() });
        self
    }

    pub fn with_jwt(mut self, jwt: JwtConfig) -> Self {
        self.jwt = Some(jwt);
        self
    }

    pub fn with_role(mut self, name: &str, def: RoleDef) -> Self {
        self.roles.insert(name.to_string(), def);
        self
    }

    pub fn with_user(mut self, name: &str, token: &str, role: &str) -> Self {
        self.users.insert(name.to_string(), UserDef { token: token.to_string(), token_sha256: None, role: role.to_string() });
        self
    }

    /// Reads `app.toml`; `schema_file` is relative to the file's directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ServerError(format!("{}: {e}", path.display())))?;
        Self::from_toml_str(&text, path.parent())
    }

    /// Parses the text of an `app.toml`; `base_dir` resolves a relative `schema_file`.
    pub fn from_toml_str(text: &str, base_dir: Option<&Path>) -> Result<Self> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ServerError(format!("app.toml: {e}")))?;
        let schema_json = match (raw.schema_json, raw.schema_file) {
            (Some(j), None) => j,
            (None, Some(f)) => {
                let p = match base_dir {
                    Some(d) => d.join(&f),
                    None => Path::new(&f).to_path_buf(),
                };
                std::fs::read_to_string(&p).map_err(|e| ServerError(format!("schema_file {}: {e}", p.display())))?
            }
            (Some(_), Some(_)) => return Err(ServerError("app.toml: give schema_json or schema_file, not both".into())),
            (None, None) => return Err(ServerError("app.toml: a schema is required (schema_json or schema_file)".into())),
        };
        let schema = Schema::from_json(&schema_json).map_err(|e| ServerError(format!("app.toml: {e}")))?;
        let read_rel = |f: &str, what: &str| {
            let p = base_dir.map(|d| d.join(f)).unwrap_or_else(|| Path::new(f).to_path_buf());
            std::fs::read_to_string(&p).map_err(|e| ServerError(format!("{what} {}: {e}", p.display())))
        };
        let tls = match raw.tls {
            Some(t) => Some(TlsIdentity {
                cert_chain_pem: read_rel(&t.cert_chain_file, "tls.cert_chain_file")?,
                key_pem: read_rel(&t.key_file, "tls.key_file")?,
            }),
            None => None,
        };
        let jwt = match raw.jwt {
            Some(mut j) => {
                if let Some(f) = j.rs256_public_key_file.clone() {
                    j.rs256_public_key_pem = Some(read_rel(&f, "jwt.rs256_public_key_file")?);
                }
                Some(j)
            }
            None => None,
        };
        let cfg = AppConfig {
            admin_token: raw.admin_token,
            is_recovery_mode_disabled: raw.is_recovery_mode_disabled,
            client_max_offline_days: raw.client_max_offline_days.unwrap_or(DEFAULT_MAX_OFFLINE_DAYS),
            reconcile: raw.reconcile.unwrap_or(true),
            reconcile_window_objects: driftsync::reconcile::SERVER_WINDOW_OBJECTS,
            schema,
            users: raw.users,
            roles: raw.roles,
            limits: raw.limits,
            admin: raw.admin,
            tls,
            jwt,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        if self.admin_token.is_empty() {
            return Err(ServerError("app.toml: admin_token must not be empty".into()));
        }
        let mut tokens = std::collections::HashSet::new();
        for (name, u) in &self.users {
            if let Some(h) = &u.token_sha256
                && (h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(ServerError(format!("app.toml: user '{name}': token_sha256 must be 64 hex digits")));
            }
            if u.token_sha256.is_some() && !u.token.is_empty() {
                return Err(ServerError(format!("app.toml: user '{name}': give token or token_sha256, not both")));
            }
            let Some(hash) = u.token_hash() else {
                if self.jwt.is_none() {
                    return Err(ServerError(format!("app.toml: user '{name}' has no token (and no [jwt] is configured)")));
                }
                continue;
            };
            if hash == crate::auth::hash_token(&self.admin_token) {
                return Err(ServerError(format!("app.toml: user '{name}' uses the admin token")));
            }
            if !tokens.insert(hash) {
                return Err(ServerError(format!("app.toml: user '{name}' shares its token with another user")));
            }
            if !self.roles.contains_key(&u.role) {
                return Err(ServerError(format!("app.toml: user '{name}' has the undefined role '{}'", u.role)));
            }
        }
        if let Some(j) = &self.jwt {
            match (&j.hs256_secret, &j.rs256_public_key_pem) {
                (Some(s), None) if s.len() >= 32 => {}
                (Some(_), None) => return Err(ServerError("app.toml: jwt.hs256_secret must be at least 32 bytes".into())),
                (None, Some(_)) => {}
                _ => return Err(ServerError("app.toml: [jwt] needs exactly one of hs256_secret and rs256_public_key_file".into())),
            }
        }
        if self.limits.max_connections == 0 || self.limits.bind_deadline_ms == 0 || self.limits.idle_timeout_ms == 0 {
            return Err(ServerError("app.toml: limits must be positive".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inline_schema_users_and_roles() {
        let text = r#"
admin_token = "adm"
client_max_offline_days = 7
schema_json = '''{"classes":[{"name":"Task","primaryKey":"id","properties":[{"name":"id","type":"int"}]}]}'''
[users.alice]
token = "a"
role = "editor"
[roles.editor]
realms = ["*"]
read = ["*"]
write = ["Task"]
"#;
        let c = AppConfig::from_toml_str(text, None).unwrap();
        assert_eq!(c.client_max_offline_days, 7);
        assert!(!c.is_recovery_mode_disabled);
        assert_eq!(c.users["alice"].role, "editor");
        assert!(c.roles["editor"].may_write("Task"));
        assert!(!c.roles["editor"].may_write("Other"));
        assert!(c.reconcile, "range reconciliation is offered unless switched off");
    }

    #[test]
    fn reconcile_can_be_switched_off() {
        let text = r#"
admin_token = "adm"
reconcile = false
schema_json = '''{"classes":[{"name":"Task","primaryKey":"id","properties":[{"name":"id","type":"int"}]}]}'''
"#;
        assert!(!AppConfig::from_toml_str(text, None).unwrap().reconcile);
    }

    #[test]
    fn role_stamp_changes_with_name_and_definition_but_not_order() {
        let a = RoleDef { realms: vec!["x".into(), "y".into()], read: vec!["*".into()], write: vec![] };
        let b = RoleDef { realms: vec!["y".into(), "x".into()], ..a.clone() };
        assert_eq!(role_stamp("r", &a), role_stamp("r", &b));
        assert_ne!(role_stamp("r", &a), role_stamp("s", &a));
        assert_ne!(role_stamp("r", &a), role_stamp("r", &RoleDef::full_access()));
    }

    #[test]
    fn role_definition_accepts_body_or_wrapped_table() {
        assert_eq!(RoleDef::from_toml("realms=[\"*\"]\nread=[\"*\"]\nwrite=[\"*\"]").unwrap(), RoleDef::full_access());
        assert_eq!(RoleDef::from_toml("[roles.x]\nrealms=[\"*\"]\nread=[\"*\"]\nwrite=[\"*\"]").unwrap(), RoleDef::full_access());
        assert!(RoleDef::from_toml("realms = 3").is_err());
    }
}

#[cfg(test)]
mod example_tests {
    #[test]
    fn the_example_config_parses() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("app.example.toml");
        let c = super::AppConfig::from_file(path).unwrap();
        assert_eq!(c.users.len(), 2);
        assert!(c.schema.class_index("Task").is_some());
    }
}
