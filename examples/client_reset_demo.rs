//! The client-reset demo (the README's first command): a reference server on loopback, synced
//! devices, offline edits, and three resets — recovered, discarded, and a breaking schema change
//! handed to the app's manual handler.

use driftsync::protocol::AdminCommand;
use driftsync::reset::{ManualReset, ResetReport};
use driftsync::*;
use driftsync_server::{AppConfig, RoleDef, Server, ServerOptions};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn schema() -> Schema {
    Schema::new(vec![ClassSchema::new(
        "Task",
        "id",
        vec![
            Property::new("id", ScalarType::Int),
            Property::new("title", ScalarType::String),
            Property::new("done", ScalarType::Bool),
            Property::new("notes", ScalarType::String).list(),
        ],
    )])
    .expect("valid schema")
}

fn open(server: &Server, path: &std::path::Path, user: &str, reset: ClientResetConfig) -> Result<Realm> {
    let mut sync = SyncConfig::new(&server.url(), &format!("{user}-token"), "tasks");
    sync.client_reset = reset;
    Realm::open(RealmConfig::new(path, schema()).with_sync(sync))
}

fn synced(r: &Realm) -> Result<()> {
    let s = r.sync_session().ok_or(Error::InvalidArgument("not synced".into()))?;
    s.wait_for_upload(T)?;
    s.wait_for_download(T)
}

fn offline(r: &Realm) {
    if let Some(s) = r.sync_session() {
        s.pause();
        let deadline = Instant::now() + T;
        while s.state() != sync::ConnectionState::Disconnected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn wait_for_report(r: &Realm, after_ms: i64) -> Result<ResetReport> {
    let deadline = Instant::now() + T;
    loop {
        if let Some(rep) = r.last_reset_report()?.filter(|rep| rep.completed_at_ms >= after_ms) {
            return Ok(rep);
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout("no reset report".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tasks(r: &Realm) -> Result<Vec<String>> {
    let mut out = Vec::new();
    r.for_each("Task", |o| {
        let title = o.value("title").and_then(Value::as_str).unwrap_or("").to_string();
        out.push(format!("#{} {title}", o.pk));
        true
    })?;
    Ok(out)
}

fn print_report(rep: &ResetReport) {
    println!("  cause: {:?}, mode: {:?} -> decision: {:?}", rep.cause, rep.mode, rep.decision);
    println!(
        "  objects inserted/erased/modified by the reset: {}/{}/{}; recovered changesets: {}",
        rep.objects_inserted, rep.objects_erased, rep.objects_modified, rep.recovered_changesets
    );
    for d in &rep.dropped {
        println!("  dropped by recovery: {} ({})", d.instruction, d.reason);
    }
    for d in &rep.discarded {
        println!("  discarded: {}", d.instruction);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let config = AppConfig::new(schema(), "demo-admin")
        .with_role("editor", RoleDef::full_access())
        .with_user("phone", "phone-token", "editor")
        .with_user("laptop", "laptop-token", "editor");
    let server = Server::start(ServerOptions::new(config, dir.path().join("server")))?;
    println!("reference server listening on {}", server.url());

    // 1. Two devices share a task list.
    let recover = ClientResetConfig::new(ClientResetMode::RecoverOrDiscardUnsyncedChanges);
    let phone = open(&server, &dir.path().join("phone.realm"), "phone", recover)?;
    let laptop = open(&server, &dir.path().join("laptop.realm"), "laptop", ClientResetConfig::default())?;
    phone.write(|r| r.create("Task", 1, &[("title", "buy milk".into())]))?;
    synced(&phone)?;
    synced(&laptop)?;
    server.admin(AdminCommand::Backup { name: "nightly".into() })?;
    phone.write(|r| r.create("Task", 2, &[("title", "call mum".into())]))?;
    synced(&phone)?;

    // 2. The phone goes offline and edits; meanwhile the server is restored from last night's
    //    backup, losing task 2 that the phone had already synced.
    offline(&phone);
    phone.write(|r| {
        r.set("Task", &1.into(), "title", "buy oat milk".into())?;
        r.create("Task", 3, &[("title", "water plants".into())])
    })?;
    server.admin(AdminCommand::Restore { name: "nightly".into() })?;
    println!("\n== server restored from a backup; the phone reconnects (RecoverOrDiscard)");
    let t0 = now_ms();
    phone.sync_session().ok_or("no session")?.resume();
    let rep = wait_for_report(&phone, t0)?;
    print_report(&rep);
    synced(&phone)?;
    synced(&laptop)?;
    println!("  phone:  {:?}", tasks(&phone)?);
    println!("  laptop: {:?}", tasks(&laptop)?);
    println!("  (task 2 was synced after the backup, so the restore lost it on the server: the phone");
    println!("   recovered it together with its offline edit and new task, and the laptop got them all)");

    // 3. Same cause, but a device that discards its unsynced changes.
    let discard = ClientResetConfig::new(ClientResetMode::DiscardUnsyncedChanges);
    let tablet = open(&server, &dir.path().join("tablet.realm"), "laptop", discard)?;
    synced(&tablet)?;
    server.admin(AdminCommand::Backup { name: "again".into() })?;
    laptop.write(|r| r.create("Task", 5, &[("title", "written after the backup".into())]))?;
    synced(&laptop)?;
    synced(&tablet)?;
    offline(&tablet);
    tablet.write(|r| r.create("Task", 4, &[("title", "tablet-only idea".into())]))?;
    server.admin(AdminCommand::Restore { name: "again".into() })?;
    println!("\n== restored again; the tablet reconnects (DiscardUnsyncedChanges)");
    let t0 = now_ms();
    tablet.sync_session().ok_or("no session")?.resume();
    let rep = wait_for_report(&tablet, t0)?;
    print_report(&rep);
    println!("  tablet: {:?}", tasks(&tablet)?);
    println!("  (the tablet threw away its offline task 4, listed as discarded; task 5 went with the");
    println!("   server's restore; the report counts both objects the reset erased)");

    // 4. A breaking schema change on the server: no automatic reset can apply; the app's manual
    //    handler gets the cause and a backup of the realm.
    let seen: Arc<Mutex<Option<(String, String)>>> = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    let mut manual = ClientResetConfig::new(ClientResetMode::RecoverOrDiscardUnsyncedChanges);
    manual.manual = Some(Arc::new(move |m: &ManualReset| {
        *s2.lock().unwrap_or_else(|p| p.into_inner()) = Some((format!("{:?}", m.cause), m.backup_path.display().to_string()));
    }));
    let watch = open(&server, &dir.path().join("watch.realm"), "phone", manual)?;
    synced(&watch)?;
    offline(&watch);
    watch.write(|r| r.set("Task", &1.into(), "done", true.into()))?;
    let mut breaking = schema().classes.clone();
    breaking[0].properties[2] = Property::new("done", ScalarType::Int);
    server.admin(AdminCommand::ApplySchema { schema_json: Schema::new(breaking)?.to_json() })?;
    println!("\n== breaking schema change on the server; the watch reconnects");
    let t0 = now_ms();
    watch.sync_session().ok_or("no session")?.resume();
    let rep = wait_for_report(&watch, t0)?;
    print_report(&rep);
    if let Some((cause, backup)) = seen.lock().unwrap_or_else(|p| p.into_inner()).clone() {
        println!("  manual handler: cause {cause}, backup kept at {backup}");
    }
    println!("\ndone");
    Ok(())
}
