//! `app.toml`: the admin token, the schema, the users and their roles, and the reset-related
//! settings (`is_recovery_mode_disabled`, `client_max_offline_days`, as Atlas Device Sync calls
//! them).
//!
//! ```toml
//! admin_token = "secret"
//! is_recovery_mode_disabled = false
//! client_max_offline_days = 30
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDef {
    pub token: String,
    pub role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    admin_token: String,
    #[serde(default)]
    is_recovery_mode_disabled: bool,
    #[serde(default)]
    client_max_offline_days: Option<u64>,
    #[serde(default)]
    schema_json: Option<String>,
    #[serde(default)]
    schema_file: Option<String>,
    #[serde(default)]
    users: BTreeMap<String, UserDef>,
    #[serde(default)]
    roles: BTreeMap<String, RoleDef>,
}

pub const DEFAULT_MAX_OFFLINE_DAYS: u64 = 30;

/// A parsed, validated `app.toml`. Users, roles, the schema and the recovery flag are copied
/// into the server database at its first start; later admin changes live there.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub admin_token: String,
    pub is_recovery_mode_disabled: bool,
    pub client_max_offline_days: u64,
    pub schema: Schema,
    pub users: BTreeMap<String, UserDef>,
    pub roles: BTreeMap<String, RoleDef>,
}

impl AppConfig {
    /// A config with this schema and admin token, no users and no roles (add them with
    /// `with_role` / `with_user`).
    pub fn new(schema: Schema, admin_token: &str) -> Self {
        AppConfig {
            admin_token: admin_token.to_string(),
            is_recovery_mode_disabled: false,
            client_max_offline_days: DEFAULT_MAX_OFFLINE_DAYS,
            schema,
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
        }
    }

    pub fn with_role(mut self, name: &str, def: RoleDef) -> Self {
        self.roles.insert(name.to_string(), def);
        self
    }

    pub fn with_user(mut self, name: &str, token: &str, role: &str) -> Self {
        self.users.insert(name.to_string(), UserDef { token: token.to_string(), role: role.to_string() });
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
        let cfg = AppConfig {
            admin_token: raw.admin_token,
            is_recovery_mode_disabled: raw.is_recovery_mode_disabled,
            client_max_offline_days: raw.client_max_offline_days.unwrap_or(DEFAULT_MAX_OFFLINE_DAYS),
            schema,
            users: raw.users,
            roles: raw.roles,
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
            if u.token.is_empty() {
                return Err(ServerError(format!("app.toml: user '{name}' has an empty token")));
            }
            if u.token == self.admin_token {
                return Err(ServerError(format!("app.toml: user '{name}' uses the admin token")));
            }
            if !tokens.insert(u.token.as_str()) {
                return Err(ServerError(format!("app.toml: user '{name}' shares its token with another user")));
            }
            if !self.roles.contains_key(&u.role) {
                return Err(ServerError(format!("app.toml: user '{name}' has the undefined role '{}'", u.role)));
            }
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
