//! `server.sqlite`: the server's own database. Holds the sync epoch and its history of reasons,
//! the registered client files, the clock offset, the flags, the current schema, the users and
//! the roles. Every admin command persists here.

use crate::config::{AppConfig, RoleDef, UserDef, role_stamp};
use crate::{Result, ServerError};
use driftsync::Schema;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients(
    ident INTEGER PRIMARY KEY,
    realm TEXT NOT NULL,
    user TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    role_stamp INTEGER NOT NULL,
    last_integrated_client_version INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER NOT NULL,
    expired INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS epochs(epoch INTEGER PRIMARY KEY, reason TEXT NOT NULL, at INTEGER NOT NULL);
-- token: the SHA-256 hex of the static token ('' for a user with signed tokens only).
-- source: 'config' (reconciled with app.toml at every start) or 'admin' (added by a command).
CREATE TABLE IF NOT EXISTS users(name TEXT PRIMARY KEY, token TEXT NOT NULL, role TEXT NOT NULL, source TEXT NOT NULL DEFAULT 'config');
CREATE TABLE IF NOT EXISTS roles(name TEXT PRIMARY KEY, realms TEXT NOT NULL, read TEXT NOT NULL, write TEXT NOT NULL);
";

/// Why an epoch began.
pub const EPOCH_INITIAL: &str = "initial";
pub const EPOCH_REENABLED: &str = "reenabled";
pub const EPOCH_BREAKING_SCHEMA: &str = "breaking_schema";

/// The in-memory copy of what `server.sqlite` says (kept in step with every write).
#[derive(Debug, Clone)]
pub struct Catalog {
    pub epoch: u64,
    pub sync_enabled: bool,
    pub recovery_disabled: bool,
    pub clock_offset: i64,
    pub schema: Arc<Schema>,
    /// Users with their token hash in `token_sha256` (`token` is always empty here).
    pub users: BTreeMap<String, UserDef>,
    /// The users added by an admin command (the others come from app.toml).
    pub admin_users: BTreeSet<String>,
    pub roles: BTreeMap<String, RoleDef>,
}

impl Catalog {
    /// The user whose static token this is. Every stored hash is compared, in constant time.
    pub fn user_by_token(&self, token: &str) -> Option<(&String, &UserDef)> {
        let mut found = None;
        for (name, u) in &self.users {
            if let Some(h) = &u.token_sha256
                && crate::auth::token_matches_hash(token, h)
            {
                found = Some((name, u));
            }
        }
        found
    }
    /// The stamp of the user's current role (0 when the user or the role is unknown).
    pub fn stamp_of(&self, user: &str) -> u64 {
        self.users.get(user).and_then(|u| self.roles.get(&u.role).map(|r| role_stamp(&u.role, r))).unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
#[allow(dead_code)] // every column is read; not every one is used yet
pub struct ClientRow {
    pub ident: u64,
    pub realm: String,
    pub user: String,
    pub epoch: u64,
    pub role_stamp: u64,
    pub last_integrated_client_version: u64,
    pub last_seen: i64,
    pub expired: bool,
}

pub struct Db {
    conn: Connection,
    pub cat: Catalog,
}

fn system_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute("INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![key, value])?;
    Ok(())
}

fn parse_meta<T: std::str::FromStr>(conn: &Connection, key: &str) -> Result<T> {
    get_meta(conn, key)?
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ServerError(format!("server.sqlite: meta '{key}' is missing or invalid")))
}

fn list_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn insert_role(conn: &Connection, name: &str, r: &RoleDef, replace: bool) -> Result<()> {
    let verb = if replace { "INSERT OR REPLACE" } else { "INSERT OR IGNORE" };
    conn.execute(
        &format!("{verb} INTO roles(name, realms, read, write) VALUES(?1, ?2, ?3, ?4)"),
        params![name, list_json(&r.realms), list_json(&r.read), list_json(&r.write)],
    )?;
    Ok(())
}

const SOURCE_CONFIG: &str = "config";
const SOURCE_ADMIN: &str = "admin";

/// Makes the users table agree with app.toml: the config wins for every user it names (token
/// and role), users that came from the config but are no longer in it are removed (revoked),
/// users added by admin commands and absent from the config stay.
fn reconcile_users(conn: &Connection, users: &BTreeMap<String, UserDef>) -> Result<()> {
    let stale: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM users WHERE source <> ?1")?;
        let rows = stmt.query_map([SOURCE_ADMIN], |r| r.get::<_, String>(0))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()?.into_iter().filter(|n| !users.contains_key(n)).collect()
    };
    for name in stale {
        conn.execute("DELETE FROM users WHERE name = ?1", [&name])?;
    }
    for (name, u) in users {
        conn.execute(
            "INSERT INTO users(name, token, role, source) VALUES(?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET token = excluded.token, role = excluded.role, source = excluded.source",
            params![name, u.token_hash().unwrap_or_default(), u.role, SOURCE_CONFIG],
        )?;
    }
    Ok(())
}

/// Creates `path` readable and writable by the owner only (0600), or tightens it if it exists.
/// SQLite gives its -wal and -shm files the mode of the database file.
pub fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

impl Db {
    /// Opens (creating at first start from `config`) the server database. At every start the
    /// users are reconciled with the config (`reconcile_users`) and roles the config adds are
    /// inserted; everything else comes from the database.
    pub fn open(path: &Path, config: Option<&AppConfig>) -> Result<Db> {
        create_private_file(path)?;
        let conn = Connection::open(path).map_err(|e| ServerError(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let setup = (|| -> Result<()> {
            conn.execute_batch(CREATE)?;
            let has_source: i64 =
                conn.query_row("SELECT count(*) FROM pragma_table_info('users') WHERE name = 'source'", [], |r| r.get(0))?;
            if has_source == 0 {
                conn.execute_batch("ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'config'")?;
            }
            let initialized = get_meta(&conn, "initialized")?.is_some();
            if let Some(cfg) = config {
                if !initialized {
                    set_meta(&conn, "epoch", "1")?;
                    conn.execute("INSERT INTO epochs(epoch, reason, at) VALUES(1, ?1, ?2)", params![EPOCH_INITIAL, system_now()])?;
                    set_meta(&conn, "sync_enabled", "1")?;
                    set_meta(&conn, "recovery_disabled", if cfg.is_recovery_mode_disabled { "1" } else { "0" })?;
                    set_meta(&conn, "clock_offset", "0")?;
                    set_meta(&conn, "base_salt", &(rand::random::<u64>() >> 1).to_string())?;
                    set_meta(&conn, "schema_json", &cfg.schema.to_json())?;
                    set_meta(&conn, "initialized", "1")?;
                }
                for (name, r) in &cfg.roles {
                    insert_role(&conn, name, r, false)?;
                }
                reconcile_users(&conn, &cfg.users)?;
            } else if !initialized {
                return Err(ServerError(format!("{} is not an initialized driftsync server database", path.display())));
            }
            Ok(())
        })();
        match setup {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        let cat = Self::load_catalog(&conn)?;
        Ok(Db { conn, cat })
    }

    fn load_catalog(conn: &Connection) -> Result<Catalog> {
        let schema_json = get_meta(conn, "schema_json")?.ok_or_else(|| ServerError("server.sqlite: schema missing".into()))?;
        let schema = Schema::from_json(&schema_json).map_err(|e| ServerError(format!("server.sqlite: {e}")))?;
        let mut users = BTreeMap::new();
        let mut admin_users = BTreeSet::new();
        {
            let mut stmt = conn.prepare("SELECT name, token, role, source FROM users")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let name: String = r.get(0)?;
                let hash: String = r.get(1)?;
                let source: String = r.get(3)?;
                if source == SOURCE_ADMIN {
                    admin_users.insert(name.clone());
                }
                let token_sha256 = if hash.is_empty() { None } else { Some(hash) };
                users.insert(name, UserDef { token: String::new(), token_sha256, role: r.get(2)? });
            }
        }
        let mut roles = BTreeMap::new();
        {
            let mut stmt = conn.prepare("SELECT name, realms, read, write FROM roles")?;
            let mut rows = stmt.query([])?;
            let parse = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_default();
            while let Some(r) = rows.next()? {
                roles.insert(r.get::<_, String>(0)?, RoleDef { realms: parse(r.get(1)?), read: parse(r.get(2)?), write: parse(r.get(3)?) });
            }
        }
        Ok(Catalog {
            epoch: parse_meta(conn, "epoch")?,
            sync_enabled: parse_meta::<i64>(conn, "sync_enabled")? != 0,
            recovery_disabled: parse_meta::<i64>(conn, "recovery_disabled")? != 0,
            clock_offset: parse_meta(conn, "clock_offset")?,
            schema: Arc::new(schema),
            users,
            admin_users,
            roles,
        })
    }

    /// Closes the database (for a restore): the connection is replaced by an in-memory one.
    pub fn detach(&mut self) -> Result<()> {
        let old = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        old.close().map_err(|(_, e)| ServerError::from(e))?;
        Ok(())
    }

    /// The server clock: the system clock plus the offset that `AdvanceClock` added.
    pub fn now(&self) -> i64 {
        system_now().saturating_add(self.cat.clock_offset)
    }

    /// A consistent copy of the database at `dest` (a new file).
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        let dest = dest.to_str().ok_or_else(|| ServerError("backup path is not UTF-8".into()))?;
        self.conn.execute("VACUUM INTO ?1", [dest])?;
        Ok(())
    }

    // ---- clients -------------------------------------------------------------------------

    pub fn client(&self, ident: u64) -> Result<Option<ClientRow>> {
        let Ok(id) = i64::try_from(ident) else { return Ok(None) };
        Ok(self
            .conn
            .query_row(
                "SELECT ident, realm, user, epoch, role_stamp, last_integrated_client_version, last_seen, expired FROM clients WHERE ident = ?1",
                [id],
                |r| {
                    Ok(ClientRow {
                        ident: r.get::<_, i64>(0)? as u64,
                        realm: r.get(1)?,
                        user: r.get(2)?,
                        epoch: r.get::<_, i64>(3)? as u64,
                        role_stamp: r.get::<_, i64>(4)? as u64,
                        last_integrated_client_version: r.get::<_, i64>(5)? as u64,
                        last_seen: r.get(6)?,
                        expired: r.get::<_, i64>(7)? != 0,
                    })
                },
            )
            .optional()?)
    }

    /// Registers a new client file; idents are random so that a file registered after a backup
    /// is never mistaken for another one after a restore.
    pub fn new_client(&self, realm: &str, user: &str, role_stamp: u64) -> Result<u64> {
        let now = self.now();
        for _ in 0..16 {
            let ident = (rand::random::<u64>() >> 11).max(1);
            let n = self.conn.execute(
                "INSERT OR IGNORE INTO clients(ident, realm, user, epoch, role_stamp, last_seen) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                params![ident as i64, realm, user, self.cat.epoch as i64, role_stamp as i64, now],
            )?;
            if n == 1 {
                return Ok(ident);
            }
        }
        Err(ServerError("could not allocate a client file ident".into()))
    }

    pub fn touch(&self, ident: u64, now: i64) -> Result<()> {
        self.conn.execute("UPDATE clients SET last_seen = max(last_seen, ?2) WHERE ident = ?1", params![ident as i64, now])?;
        Ok(())
    }

    pub fn set_last_integrated(&self, ident: u64, version: u64) -> Result<()> {
        self.conn.execute(
            "UPDATE clients SET last_integrated_client_version = max(last_integrated_client_version, ?2) WHERE ident = ?1",
            params![ident as i64, version as i64],
        )?;
        Ok(())
    }

    /// Whether an epoch after `epoch` began with a breaking schema change.
    pub fn breaking_epoch_after(&self, epoch: u64) -> Result<bool> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM epochs WHERE epoch > ?1 AND reason = ?2",
            params![epoch as i64, EPOCH_BREAKING_SCHEMA],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Marks every client file not seen since `cutoff` as expired (except `connected` ones,
    /// which are seen now). Returns how many expired.
    pub fn expire_clients(&self, cutoff: i64, connected: &[u64]) -> Result<usize> {
        let now = self.now();
        for id in connected {
            self.touch(*id, now)?;
        }
        Ok(self.conn.execute("UPDATE clients SET expired = 1 WHERE expired = 0 AND last_seen < ?1", [cutoff])?)
    }

    pub fn client_count(&self) -> Result<(u64, u64)> {
        Ok(self.conn.query_row("SELECT count(*), coalesce(sum(expired), 0) FROM clients", [], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })?)
    }

    // ---- admin state -----------------------------------------------------------------------

    pub fn new_epoch(&mut self, reason: &str) -> Result<u64> {
        let next = self.cat.epoch + 1;
        let tx = self.conn.transaction()?;
        tx.execute("INSERT INTO epochs(epoch, reason, at) VALUES(?1, ?2, ?3)", params![next as i64, reason, system_now()])?;
        set_meta(&tx, "epoch", &next.to_string())?;
        tx.commit()?;
        self.cat.epoch = next;
        Ok(next)
    }

    pub fn epochs(&self) -> Result<Vec<(u64, String)>> {
        let mut stmt = self.conn.prepare("SELECT epoch, reason FROM epochs ORDER BY epoch")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn set_sync_enabled(&mut self, on: bool) -> Result<()> {
        set_meta(&self.conn, "sync_enabled", if on { "1" } else { "0" })?;
        self.cat.sync_enabled = on;
        Ok(())
    }

    pub fn set_recovery_disabled(&mut self, disabled: bool) -> Result<()> {
        set_meta(&self.conn, "recovery_disabled", if disabled { "1" } else { "0" })?;
        self.cat.recovery_disabled = disabled;
        Ok(())
    }

    pub fn set_clock_offset(&mut self, offset: i64) -> Result<()> {
        set_meta(&self.conn, "clock_offset", &offset.to_string())?;
        self.cat.clock_offset = offset;
        Ok(())
    }

    pub fn set_schema(&mut self, schema: Schema) -> Result<()> {
        set_meta(&self.conn, "schema_json", &schema.to_json())?;
        self.cat.schema = Arc::new(schema);
        Ok(())
    }

    pub fn assign_role(&mut self, user: &str, role: &str) -> Result<()> {
        if !self.cat.roles.contains_key(role) {
            return Err(ServerError(format!("no role named '{role}'")));
        }
        let Some(u) = self.cat.users.get_mut(user) else {
            return Err(ServerError(format!("no user named '{user}'")));
        };
        self.conn.execute("UPDATE users SET role = ?2 WHERE name = ?1", params![user, role])?;
        u.role = role.to_string();
        Ok(())
    }

    pub fn define_role(&mut self, role: &str, def: RoleDef) -> Result<()> {
        if role.is_empty() {
            return Err(ServerError("a role needs a name".into()));
        }
        insert_role(&self.conn, role, &def, true)?;
        self.cat.roles.insert(role.to_string(), def);
        Ok(())
    }

    /// Replaces every user and role (a restore keeps the server's configuration).
    pub fn replace_users_and_roles(&mut self, kept: &Catalog) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM users", [])?;
        tx.execute("DELETE FROM roles", [])?;
        for (name, r) in &kept.roles {
            insert_role(&tx, name, r, true)?;
        }
        for (name, u) in &kept.users {
            let source = if kept.admin_users.contains(name) { SOURCE_ADMIN } else { SOURCE_CONFIG };
            tx.execute(
                "INSERT INTO users(name, token, role, source) VALUES(?1, ?2, ?3, ?4)",
                params![name, u.token_sha256.clone().unwrap_or_default(), u.role, source],
            )?;
        }
        tx.commit()?;
        self.cat.users = kept.users.clone();
        self.cat.admin_users = kept.admin_users.clone();
        self.cat.roles = kept.roles.clone();
        Ok(())
    }

    /// Adds a user (admin command) or replaces an existing one's token and role.
    pub fn put_user(&mut self, name: &str, token: &str, role: &str) -> Result<()> {
        if name.is_empty() || token.is_empty() {
            return Err(ServerError("a user needs a name and a token".into()));
        }
        if !self.cat.roles.contains_key(role) {
            return Err(ServerError(format!("no role named '{role}'")));
        }
        if let Some((other, _)) = self.cat.user_by_token(token)
            && other != name
        {
            return Err(ServerError("that token belongs to another user".into()));
        }
        let hash = crate::auth::hash_token(token);
        self.conn.execute(
            "INSERT INTO users(name, token, role, source) VALUES(?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET token = excluded.token, role = excluded.role",
            params![name, hash, role, SOURCE_ADMIN],
        )?;
        if !self.cat.users.contains_key(name) {
            self.cat.admin_users.insert(name.to_string());
        }
        self.cat.users.insert(name.to_string(), UserDef { token: String::new(), token_sha256: Some(hash), role: role.to_string() });
        Ok(())
    }

    /// Replaces a user's static token.
    pub fn rotate_token(&mut self, name: &str, token: &str) -> Result<()> {
        let Some(role) = self.cat.users.get(name).map(|u| u.role.clone()) else {
            return Err(ServerError(format!("no user named '{name}'")));
        };
        self.put_user(name, token, &role)
    }

    pub fn remove_user(&mut self, name: &str) -> Result<()> {
        if self.conn.execute("DELETE FROM users WHERE name = ?1", [name])? == 0 {
            return Err(ServerError(format!("no user named '{name}'")));
        }
        self.cat.users.remove(name);
        self.cat.admin_users.remove(name);
        Ok(())
    }

    /// The stamp a user's client files must carry now.
    pub fn current_stamp(&self, user: &str) -> u64 {
        self.cat.stamp_of(user)
    }
}
