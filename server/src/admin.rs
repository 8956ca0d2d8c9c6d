//! Admin commands: the same operations in-process (`Server::backup` …) and over the socket
//! (`ClientMessage::Admin` with the admin token, used by `driftsync-server admin`). Each one
//! persists in `server.sqlite` and makes the next binding client get the matching reset demand.

use crate::config::RoleDef;
use crate::db::{Db, EPOCH_BREAKING_SCHEMA, EPOCH_REENABLED};
use crate::session::{valid_name, ws_config};
use crate::{Inner, KICK_RESET, KICK_REVOKED, KICK_TERMINATED, Result, ServerError};
use driftsync::protocol::{self, AdminCommand, ClientMessage, ServerMessage};
use driftsync::schema::AdditiveChange;
use driftsync::{Realm, RealmConfig, Schema};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Whether `token` is the admin token (compared in constant time).
pub(crate) fn is_admin_token(inner: &Inner, token: &str) -> bool {
    crate::auth::same_secret(token, &inner.admin_token)
}

fn command_name(c: &AdminCommand) -> &'static str {
    match c {
        AdminCommand::Backup { .. } => "backup",
        AdminCommand::Restore { .. } => "restore",
        AdminCommand::Terminate => "terminate",
        AdminCommand::Enable => "enable",
        AdminCommand::ApplySchema { .. } => "schema apply",
        AdminCommand::AdvanceClock { .. } => "clock advance",
        AdminCommand::AssignRole { .. } => "role assign",
        AdminCommand::DefineRole { .. } => "role define",
        AdminCommand::SetRecoveryDisabled { .. } => "recovery",
        AdminCommand::Status => "status",
        AdminCommand::AddUser { .. } => "user add",
        AdminCommand::RemoveUser { .. } => "user remove",
        AdminCommand::RotateToken { .. } => "user rotate",
    }
}

/// The command and its short arguments, for the log (a schema or role body only by size).
fn describe(c: &AdminCommand) -> String {
    let name = command_name(c);
    match c {
        AdminCommand::Backup { name: n } | AdminCommand::Restore { name: n } => format!("{name} {n}"),
        AdminCommand::ApplySchema { schema_json } => format!("{name} ({} bytes of schema)", schema_json.len()),
        AdminCommand::AdvanceClock { seconds } => format!("{name} {seconds}s"),
        AdminCommand::AssignRole { user, role } => format!("{name} {user} {role}"),
        AdminCommand::DefineRole { role, definition_toml } => format!("{name} {role} ({} bytes)", definition_toml.len()),
        AdminCommand::SetRecoveryDisabled { disabled } => format!("{name} {}", if *disabled { "off" } else { "on" }),
        // Never a token.
        AdminCommand::AddUser { user, role, .. } => format!("{name} {user} {role}"),
        AdminCommand::RemoveUser { user } | AdminCommand::RotateToken { user, .. } => format!("{name} {user}"),
        AdminCommand::Terminate | AdminCommand::Enable | AdminCommand::Status => name.to_string(),
    }
}

pub(crate) fn run(inner: &Inner, command: AdminCommand) -> Result<String> {
    if inner.shutdown.load(Ordering::SeqCst) {
        return Err(ServerError("the server is stopping".into()));
    }
    log::info!(target: "driftsync_server", "admin: {}", describe(&command));
    match command {
        AdminCommand::Backup { name } => backup(inner, &name),
        AdminCommand::Restore { name } => restore(inner, &name),
        AdminCommand::Terminate => {
            let _gate = inner.gate.write();
            inner.db.lock().set_sync_enabled(false)?;
            let n = inner.kick(KICK_TERMINATED, |_| true);
            Ok(format!("sync terminated; {n} client(s) disconnected"))
        }
        AdminCommand::Enable => enable(inner),
        AdminCommand::ApplySchema { schema_json } => apply_schema(inner, &schema_json),
        AdminCommand::AdvanceClock { seconds } => advance_clock(inner, seconds),
        AdminCommand::AssignRole { user, role } => {
            let _gate = inner.gate.write();
            inner.db.lock().assign_role(&user, &role)?;
            let n = inner.kick(KICK_RESET, |c| c.user == user);
            Ok(format!("user '{user}' now has role '{role}'; {n} connection(s) closed"))
        }
        AdminCommand::DefineRole { role, definition_toml } => {
            let def = RoleDef::from_toml(&definition_toml)?;
            let _gate = inner.gate.write();
            let mut db = inner.db.lock();
            db.define_role(&role, def)?;
            let users: Vec<String> = db.cat.users.iter().filter(|(_, u)| u.role == role).map(|(n, _)| n.clone()).collect();
            drop(db);
            let n = inner.kick(KICK_RESET, |c| users.contains(&c.user));
            Ok(format!("role '{role}' defined; {n} connection(s) closed"))
        }
        AdminCommand::AddUser { user, token, role } => {
            let _gate = inner.gate.write();
            let mut db = inner.db.lock();
            if db.cat.users.contains_key(&user) {
                return Err(ServerError(format!("user '{user}' exists already (rotate its token or assign a role)")));
            }
            db.put_user(&user, &token, &role)?;
            Ok(format!("user '{user}' added with role '{role}'"))
        }
        AdminCommand::RemoveUser { user } => {
            let _gate = inner.gate.write();
            inner.db.lock().remove_user(&user)?;
            let n = inner.kick(KICK_REVOKED, |c| c.user == user);
            log::warn!("admin: user '{user}' removed; {n} session(s) closed");
            Ok(format!("user '{user}' removed; {n} session(s) closed"))
        }
        AdminCommand::RotateToken { user, token } => {
            let _gate = inner.gate.write();
            inner.db.lock().rotate_token(&user, &token)?;
            // Sessions opened with the old static token end; signed-token sessions stay.
            let n = inner.kick(KICK_REVOKED, |c| c.user == user && c.static_token);
            log::warn!("admin: token of user '{user}' rotated; {n} session(s) closed");
            Ok(format!("token of user '{user}' rotated; {n} session(s) closed"))
        }
        AdminCommand::SetRecoveryDisabled { disabled } => {
            inner.db.lock().set_recovery_disabled(disabled)?;
            Ok(format!("client reset recovery is {}", if disabled { "disabled" } else { "enabled" }))
        }
        AdminCommand::Status => status(inner),
    }
}

fn backup(inner: &Inner, name: &str) -> Result<String> {
    if !valid_name(name) {
        return Err(ServerError(format!("'{name}' is not a valid backup name")));
    }
    let dir = inner.data_dir.join("backups").join(name);
    if dir.exists() {
        return Err(ServerError(format!("backup '{name}' exists already")));
    }
    // Holding the gate exclusively: no upload is between its state and its history.
    let _gate = inner.gate.write();
    let tmp = inner.data_dir.join("backups").join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    crate::create_private_dir(&inner.data_dir.join("backups"))?;
    crate::create_private_dir(&tmp)?;
    crate::create_private_dir(&tmp.join("realms"))?;
    let result = (|| -> Result<usize> {
        crate::db::create_private_file(&tmp.join("server.sqlite"))?;
        inner.db.lock().backup_to(&tmp.join("server.sqlite"))?;
        let names = inner.realm_names()?;
        for realm in &names {
            let src = inner.realms_dir().join(format!("{realm}.realm"));
            let conn = rusqlite::Connection::open(&src)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            let dest = tmp.join("realms").join(format!("{realm}.realm"));
            crate::db::create_private_file(&dest)?;
            let dest = dest.to_str().ok_or_else(|| ServerError("backup path is not UTF-8".into()))?;
            conn.execute("VACUUM INTO ?1", [dest])?;
        }
        Ok(names.len())
    })();
    match result {
        Ok(n) => {
            std::fs::rename(&tmp, &dir)?;
            Ok(format!("backup '{name}' written ({n} realm(s))"))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

fn remove_db_files(path: &std::path::Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn restore(inner: &Inner, name: &str) -> Result<String> {
    if !valid_name(name) {
        return Err(ServerError(format!("'{name}' is not a valid backup name")));
    }
    let dir = inner.data_dir.join("backups").join(name);
    if !dir.join("server.sqlite").is_file() {
        return Err(ServerError(format!("no backup named '{name}'")));
    }
    let _gate = inner.gate.write();
    let n = inner.kick(KICK_RESET, |_| true);
    // Every handle of every realm file goes: connections only hold them under the gate.
    inner.realms.lock().clear();
    let mut db = inner.db.lock();
    // The server's configuration is not data: it stays as it is now.
    let kept = db.cat.clone();
    db.detach()?;
    let db_path = inner.data_dir.join("server.sqlite");
    remove_db_files(&db_path)?;
    std::fs::copy(dir.join("server.sqlite"), &db_path)?;
    let realms_dir = inner.realms_dir();
    let live_realms = inner.realm_names()?;
    for realm in &live_realms {
        remove_db_files(&realms_dir.join(format!("{realm}.realm")))?;
    }
    crate::create_private_dir(&realms_dir)?;
    let mut restored = 0;
    if let Ok(entries) = std::fs::read_dir(dir.join("realms")) {
        for e in entries {
            let p = e?.path();
            if let Some(file) = p.file_name() {
                std::fs::copy(&p, realms_dir.join(file))?;
                restored += 1;
            }
        }
    }
    let mut reopened = Db::open(&db_path, None)?;
    // The clock does not run backwards.
    reopened.set_clock_offset(kept.clock_offset.max(reopened.cat.clock_offset))?;
    reopened.set_recovery_disabled(kept.recovery_disabled)?;
    reopened.set_sync_enabled(kept.sync_enabled)?;
    reopened.replace_users_and_roles(&kept)?;
    *db = reopened;
    drop(db);
    // Every realm that was live is marked, also one the backup did not have yet (restored to
    // empty): clients learn where the restored history ends.
    let mut names = inner.realm_names()?;
    names.extend(live_realms);
    names.sort();
    names.dedup();
    for realm in names {
        inner.realm(&realm)?.mark_restored()?;
    }
    Ok(format!(
        "restored backup '{name}' ({restored} realm(s): state, history, client files, epochs, schema; users, roles, flags and clock kept); {n} client(s) disconnected"
    ))
}

fn enable(inner: &Inner) -> Result<String> {
    let _gate = inner.gate.write();
    let n = inner.kick(KICK_RESET, |_| true);
    let epoch = inner.db.lock().new_epoch(EPOCH_REENABLED)?;
    for realm in inner.realm_names()? {
        inner.realm(&realm)?.wipe_history()?;
    }
    inner.db.lock().set_sync_enabled(true)?;
    Ok(format!("sync enabled in epoch {epoch}; history forgotten, state kept; {n} client(s) disconnected"))
}

/// Adds `extras` to the server schema and migrates every open realm file (the others migrate
/// when they are opened).
pub(crate) fn merge_schema(inner: &Inner, extras: &[AdditiveChange]) -> Result<()> {
    if extras.is_empty() {
        return Ok(());
    }
    let merged = {
        let mut db = inner.db.lock();
        let merged = db.cat.schema.apply_additive(extras)?;
        if merged == *db.cat.schema {
            return Ok(());
        }
        db.set_schema(merged.clone())?;
        merged
    };
    migrate_open_realms(inner, &merged)
}

fn migrate_open_realms(inner: &Inner, _schema: &Schema) -> Result<()> {
    let slots: Vec<_> = inner.realms.lock().values().cloned().collect();
    for s in slots {
        // Always the newest schema: a concurrent merge may have added more meanwhile.
        let current = inner.db.lock().cat.schema.clone();
        let handle = Realm::open(RealmConfig::new(&s.path, (*current).clone()))?;
        handle.close();
    }
    Ok(())
}

fn apply_schema(inner: &Inner, schema_json: &str) -> Result<String> {
    let new = Schema::from_json(schema_json)?;
    let _gate = inner.gate.write();
    let current = inner.db.lock().cat.schema.clone();
    let diff = current.diff(&new);
    if diff.is_empty() {
        return Ok("schema unchanged".into());
    }
    if !diff.is_breaking() {
        let merged = current.apply_additive(&diff.additive)?;
        inner.db.lock().set_schema(merged.clone())?;
        for realm in inner.realm_names()? {
            inner.realm(&realm)?;
        }
        migrate_open_realms(inner, &merged)?;
        return Ok(format!("additive schema change applied ({} change(s))", diff.additive.len()));
    }
    let n = inner.kick(KICK_RESET, |_| true);
    inner.realms.lock().clear();
    let mut db = inner.db.lock();
    let old_epoch = db.cat.epoch;
    let realms_dir = inner.realms_dir();
    if realms_dir.exists() {
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        std::fs::rename(&realms_dir, inner.data_dir.join(format!("realms-epoch{old_epoch}-{stamp}")))?;
    }
    crate::create_private_dir(&realms_dir)?;
    let epoch = db.new_epoch(EPOCH_BREAKING_SCHEMA)?;
    db.set_schema(new)?;
    Ok(format!(
        "breaking schema change applied ({}); epoch {epoch} starts with empty realms; {n} client(s) disconnected",
        diff.breaking.join("; ")
    ))
}

fn advance_clock(inner: &Inner, seconds: u64) -> Result<String> {
    let connected: Vec<u64> = inner.conns.lock().values().map(|c| c.ident).collect();
    let mut db = inner.db.lock();
    let offset = db.cat.clock_offset.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX));
    db.set_clock_offset(offset)?;
    let max_offline = i64::try_from(inner.max_offline_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
    let cutoff = db.now().saturating_sub(max_offline);
    let expired = db.expire_clients(cutoff, &connected)?;
    drop(db);
    // History older than the offline limit is needed by no client that may still sync.
    let mut forgotten = 0;
    for realm in inner.realm_names()? {
        forgotten += inner.realm(&realm)?.compact_before(cutoff)?;
    }
    Ok(format!(
        "clock advanced by {seconds}s (offset now {offset}s); {expired} client file(s) expired (offline longer than {} days); {forgotten} server version(s) compacted",
        inner.max_offline_days
    ))
}

fn status(inner: &Inner) -> Result<String> {
    let _gate = inner.gate.read();
    let mut realms = serde_json::Map::new();
    for name in inner.realm_names()? {
        let head = inner.realm(&name)?.head();
        realms.insert(name, serde_json::json!({ "latest_version": head.version, "latest_salt": head.salt }));
    }
    let connected: Vec<_> = inner
        .conns
        .lock()
        .values()
        .map(|c| serde_json::json!({ "client_file_ident": c.ident, "realm": c.realm, "user": c.user }))
        .collect();
    let db = inner.db.lock();
    let (clients, expired) = db.client_count()?;
    let epochs: Vec<_> = db.epochs()?.into_iter().map(|(e, r)| serde_json::json!({ "epoch": e, "reason": r })).collect();
    let v = serde_json::json!({
        "epoch": db.cat.epoch,
        "epochs": epochs,
        "sync_enabled": db.cat.sync_enabled,
        "recovery_disabled": db.cat.recovery_disabled,
        "client_max_offline_days": inner.max_offline_days,
        "clock_offset_seconds": db.cat.clock_offset,
        "server_time": db.now(),
        "client_files": clients,
        "expired_client_files": expired,
        "realms": realms,
        "connected": connected,
    });
    Ok(serde_json::to_string_pretty(&v).unwrap_or_default())
}

/// One connection to the admin listener: admin commands only. A wrong token is logged and ends
/// the connection (one guess per connection, each one paying for a handshake).
pub(crate) fn serve(inner: std::sync::Arc<Inner>, tcp: std::net::TcpStream, peer: std::net::SocketAddr) {
    let deadline = Instant::now() + inner.limits.bind_deadline();
    let Ok(mut ws) = crate::net::accept(tcp, inner.tls.as_ref(), ws_config(), deadline) else { return };
    loop {
        let _ = ws.get_ref().tcp().set_read_timeout(Some(inner.limits.bind_deadline()));
        let bytes = match ws.read() {
            Ok(tungstenite::Message::Binary(b)) => b,
            Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_)) => continue,
            _ => break,
        };
        let reply = match protocol::decode::<ClientMessage>(&bytes) {
            Ok(ClientMessage::Admin { admin_token, command }) => {
                if !is_admin_token(&inner, &admin_token) {
                    log::warn!("admin listener: wrong admin token from {peer}; connection closed");
                    let _ = ws.send(tungstenite::Message::binary(protocol::encode(&ServerMessage::AdminResult {
                        ok: false,
                        output: "wrong admin token".into(),
                    })));
                    break;
                }
                match run(&inner, command) {
                    Ok(output) => ServerMessage::AdminResult { ok: true, output },
                    Err(e) => ServerMessage::AdminResult { ok: false, output: e.0 },
                }
            }
            _ => break,
        };
        if ws.send(tungstenite::Message::binary(protocol::encode(&reply))).is_err() {
            break;
        }
    }
    let _ = ws.close(None);
    let _ = ws.flush();
}

/// Sends one admin command to a running server's admin listener at `url` (`ws://host:port`, or
/// `wss://`, checked against the system roots) and returns its output; a refused command (wrong
/// token, failed operation) is an error with the server's text.
pub fn admin_request(url: &str, admin_token: &str, command: AdminCommand) -> Result<String> {
    admin_request_tls(url, admin_token, command, &driftsync::sync::TlsOptions::default())
}

/// `admin_request` with extra trusted CA certificates (a `wss://` admin listener of a private CA).
pub fn admin_request_tls(url: &str, admin_token: &str, command: AdminCommand, tls: &driftsync::sync::TlsOptions) -> Result<String> {
    let mut conn = driftsync::sync::WsConn::open(url, Duration::from_secs(10), tls)?;
    conn.send(&ClientMessage::Admin { admin_token: admin_token.to_string(), command })?;
    let reply = conn.recv_required(Duration::from_secs(120));
    conn.close();
    match reply? {
        ServerMessage::AdminResult { ok: true, output } => Ok(output),
        ServerMessage::AdminResult { ok: false, output } => Err(ServerError(output)),
        ServerMessage::Error(e) => Err(ServerError(format!("{:?}: {}", e.code, e.message))),
        other => Err(ServerError(format!("unexpected answer: {other:?}"))),
    }
}

/// Parses a duration like `31d`, `12h`, `30m`, `90s` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| ServerError(format!("'{s}' is not a duration (e.g. 31d, 12h, 30m, 90s)")))?;
    let mult = match unit {
        "s" | "sec" | "secs" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(ServerError(format!("'{s}' has an unknown unit (use s, m, h, d or w)"))),
    };
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("31d").unwrap(), Duration::from_secs(31 * 86_400));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(12 * 3_600));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("3y").is_err());
    }
}
