//! Sync and client-reset benchmarks against the reference server running as a CHILD PROCESS on
//! loopback (so this process's memory is the client's alone).
//!
//!   cargo build --release -p driftsync-server && cargo bench --bench sync_reset [-- quick | shapes | transfer | million]
//!
//! `DS_ROUNDS` (default 5): runs per realm-core shape, the median is printed. `DS_CASE=<text>`:
//! only the shapes whose name contains it, e.g. `DS_CASE='(b), server erased'`.
//!
//! Prints one line per measurement; benches/RESULTS.md records them. `quick` skips the
//! 1,000,000-object runs.

use driftsync::protocol::AdminCommand;
use driftsync::reset::ResetReport;
use driftsync::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// ---- memory: a counting allocator ----------------------------------------------------------

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Counting costs two atomic read-modify-writes per allocation (5–10 % of a reset transform's
/// time): the realm-core shapes, which measure time only, switch it off for good (`stop_counting`).
static COUNTING: AtomicBool = AtomicBool::new(true);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        if COUNTING.load(Ordering::Relaxed) {
            CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
        }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Stops counting allocations for the rest of the process (the counts are meaningless after).
fn stop_counting() {
    COUNTING.store(false, Ordering::Relaxed);
}

/// Resets the peak to the current level; returns that level (the baseline).
fn mem_baseline() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// Resets the kernel's peak RSS (VmHWM) to the current RSS; returns the current RSS in KiB.
/// RSS counts SQLite's own allocations too, which the counting allocator does not see.
fn rss_baseline() -> u64 {
    rss_baseline_of("self")
}

/// `rss_baseline` of process `pid` ("self": this one).
fn rss_baseline_of(pid: &str) -> u64 {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    proc_status_kib_of(pid, "VmRSS:")
}

fn proc_status_kib(key: &str) -> u64 {
    proc_status_kib_of("self", key)
}

fn proc_status_kib_of(pid: &str, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

// ---- the server as a child process -----------------------------------------------------------

const ADMIN: &str = "bench-admin";
const T: Duration = Duration::from_secs(600);

struct ServerProc {
    child: Child,
    url: String,
    admin_url: String,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary");
    // target/release/deps/sync_reset-… → target/release/driftsync-server
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("driftsync-server")).expect("target dir");
    assert!(bin.exists(), "build the server first: cargo build --release -p driftsync-server ({} missing)", bin.display());
    bin
}

fn start_server(dir: &Path, schema: &Schema) -> ServerProc {
    std::fs::create_dir_all(dir).expect("dir");
    let toml = format!(
        "admin_token = \"{ADMIN}\"\nschema_json = '''{}'''\n[users.a]\ntoken = \"a-token\"\nrole = \"rw\"\n[users.b]\ntoken = \"b-token\"\nrole = \"rw\"\n[roles.rw]\nrealms = [\"*\"]\nread = [\"*\"]\nwrite = [\"*\"]\n",
        schema.to_json()
    );
    let cfg = dir.join("app.toml");
    std::fs::write(&cfg, toml).expect("write config");
    let mut child = Command::new(server_binary())
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data")
        .arg(dir.join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        // `DS_SERVER_LOG=<file>`: the server's log lines go there (else nowhere).
        .stderr(match std::env::var_os("DS_SERVER_LOG") {
            Some(f) => Stdio::from(std::fs::File::create(f).expect("server log file")),
            None => Stdio::null(),
        })
        .spawn()
        .expect("server starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("server prints its address");
    let url = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
    let mut line = String::new();
    out.read_line(&mut line).expect("server prints its admin address");
    let admin_url = line.trim().strip_prefix("admin on ").expect("admin line").to_string();
    ServerProc { child, url, admin_url }
}

fn admin(s: &ServerProc, cmd: AdminCommand) {
    driftsync_server::admin_request(&s.admin_url, ADMIN, cmd).expect("admin command");
}

fn open(s: &ServerProc, path: &Path, user: &str, schema: &Schema, mode: ClientResetMode, paused: bool) -> Realm {
    open_with(s, path, user, schema, ClientResetConfig::new(mode), paused)
}

fn open_with(s: &ServerProc, path: &Path, user: &str, schema: &Schema, reset: ClientResetConfig, paused: bool) -> Realm {
    let mut sync = SyncConfig::new(&s.url, &format!("{user}-token"), "bench");
    sync.client_reset = reset;
    sync.start_paused = paused;
    Realm::open(RealmConfig::new(path, schema.clone()).with_sync(sync)).expect("open")
}

fn session(r: &Realm) -> std::sync::Arc<sync::SyncSession> {
    r.sync_session().expect("session")
}

fn synced(r: &Realm) {
    session(r).wait_for_upload(T).expect("upload");
    session(r).wait_for_download(T).expect("download");
}

fn pause(r: &Realm) {
    let s = session(r);
    s.pause();
    while s.state() != sync::ConnectionState::Disconnected {
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---- data shapes -----------------------------------------------------------------------------

/// realm-core's client-reset benchmark shape: int pk + int, double, double, bool, string,
/// optional string, string, bool, and a list of 3 values (10 fields).
fn shape_a(name: &str) -> ClassSchema {
    ClassSchema::new(
        name,
        "id",
        vec![
            Property::new("id", ScalarType::Int),
            Property::new("i", ScalarType::Int),
            Property::new("d1", ScalarType::Double),
            Property::new("d2", ScalarType::Double),
            Property::new("b1", ScalarType::Bool),
            Property::new("s1", ScalarType::String),
            Property::new("s2", ScalarType::String).optional(),
            Property::new("s3", ScalarType::String),
            Property::new("b2", ScalarType::Bool),
            Property::new("vals", ScalarType::Int).list(),
        ],
    )
}

fn schema_a() -> Schema {
    Schema::new(vec![shape_a("A")]).expect("schema")
}

fn schema_ab() -> Schema {
    Schema::new(vec![
        shape_a("A"),
        ClassSchema::new(
            "B",
            "id",
            vec![
                Property::new("id", ScalarType::Int),
                Property::link("link", "A"),
                Property::link_list("links", "A"),
                Property::new("vals", ScalarType::Int).list(),
            ],
        ),
    ])
    .expect("schema")
}

fn fields(i: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("i", Value::Int(i * 7)),
        ("d1", Value::Double(i as f64 * 0.5)),
        ("d2", Value::Double(i as f64 * 1.5)),
        ("b1", Value::Bool(i % 2 == 0)),
        ("s1", Value::String(format!("name {i}"))),
        ("s2", if i % 3 == 0 { Value::Null } else { Value::String(format!("opt {i}")) }),
        ("s3", Value::String("constant text".into())),
        ("b2", Value::Bool(i % 5 == 0)),
    ]
}

fn fill_a(r: &Realm, range: std::ops::Range<i64>, with_lists: bool) {
    for chunk in range.collect::<Vec<_>>().chunks(10_000) {
        r.write(|r| {
            for &i in chunk {
                r.create("A", i, &fields(i))?;
                if with_lists {
                    for k in 0..3 {
                        r.list_push("A", &i.into(), "vals", Value::Int(i + k))?;
                    }
                }
            }
            Ok(())
        })
        .expect("fill");
    }
}

fn line(what: &str, secs: f64, extra: &str) {
    println!("{what:<72} {:>9.3} s  {extra}", secs);
}

fn phases(r: &ResetReport) -> String {
    let t = &r.timings;
    let total = t.total_us().max(1) as f64;
    let part = |name: &str, us: u64| format!("{name} {:.1} ms ({:.0}%)", us as f64 / 1000.0, 100.0 * us as f64 / total);
    [
        part("download", t.download_us),
        part("diff", t.diff_us),
        part("replay", t.replay_us),
        part("summary", t.summary_us),
        part("commit", t.commit_us),
    ]
    .join(", ")
}

/// A reset mode whose after hook says when the reset (commit and report included) is done.
fn mode_with_done_signal(mode: ClientResetMode) -> (ClientResetConfig, std::sync::mpsc::Receiver<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let mut config = ClientResetConfig::new(mode);
    config.after = Some(std::sync::Arc::new(move |_: &Realm, _: &Realm, _: bool| {
        let _ = tx.lock().map(|t| t.send(()));
        Ok(())
    }));
    (config, rx)
}

/// Waits until the reset is done (its after hook ran, so the report was stored after the
/// commit), then reads the report.
fn wait_report(r: &Realm, done: &std::sync::mpsc::Receiver<()>) -> ResetReport {
    done.recv_timeout(T).expect("reset done");
    r.last_reset_report().expect("report").expect("a reset report")
}

// ---- benchmarks -----------------------------------------------------------------------------

fn bench_changesets_reach_second_client(dir: &Path) {
    let schema = schema_a();
    let s = start_server(&dir.join("s1"), &schema);
    let a = open(&s, &dir.join("s1-a.realm"), "a", &schema, ClientResetMode::default(), true);
    let b = open(&s, &dir.join("s1-b.realm"), "b", &schema, ClientResetMode::default(), false);
    synced(&b);
    for i in 0..10_000 {
        a.write(|r| r.create("A", i, &[("i", Value::Int(i))])).expect("commit");
    }
    let start = Instant::now();
    session(&a).resume();
    while b.count("A").expect("count") < 10_000 {
        std::thread::sleep(Duration::from_millis(1));
    }
    line("10,000 small changesets from client A reach client B (end to end)", start.elapsed().as_secs_f64(), "target < 2 s");
}

fn bench_bootstrap(dir: &Path, n: i64) {
    let schema = schema_a();
    let s = start_server(&dir.join(format!("boot{n}")), &schema);
    {
        let seed = open(&s, &dir.join(format!("boot{n}-seed.realm")), "a", &schema, ClientResetMode::default(), false);
        fill_a(&seed, 0..n, true);
        synced(&seed);
    }
    let base = mem_baseline();
    let rss = rss_baseline();
    let start = Instant::now();
    let c = open(&s, &dir.join(format!("boot{n}-new.realm")), "b", &schema, ClientResetMode::default(), false);
    synced(&c);
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(c.count("A").expect("count"), n as u64);
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let rss_peak = proc_status_kib("VmHWM:").saturating_sub(rss);
    line(
        &format!("bootstrap of a new client onto a server with {n} objects"),
        secs,
        &format!("peak client heap +{:.1} MiB, peak RSS +{:.1} MiB", mib(peak), rss_peak as f64 / 1024.0),
    );
}

/// A client with `n` synced objects; the server changes `n/100` of them (none when `!differ`);
/// the client has `unsynced` local changesets (1 set each); then sync is terminated and
/// re-enabled. Returns the time (download included), the report and the bytes of the realm's
/// records (primary keys and records) after the reset.
fn bench_reset(dir: &Path, n: i64, unsynced: i64, mode: ClientResetMode, differ: bool) -> (f64, ResetReport, u64) {
    let schema = schema_a();
    let tag = format!("reset{n}-{unsynced}-{mode:?}-{differ}");
    let s = start_server(&dir.join(&tag), &schema);
    let client_path = dir.join(format!("{tag}-client.realm"));
    let (reset, done) = mode_with_done_signal(mode);
    let client = open_with(&s, &client_path, "a", &schema, reset, false);
    fill_a(&client, 0..n, true);
    synced(&client);
    let other = open(&s, &dir.join(format!("{tag}-other.realm")), "b", &schema, ClientResetMode::default(), false);
    synced(&other);
    pause(&client);
    let changed = if differ { n } else { 0 };
    other
        .write(|r| (0..changed).step_by(100).try_for_each(|i| r.set("A", &i.into(), "s1", Value::String("changed on the server".into()))))
        .expect("server-side change");
    synced(&other);
    for i in 0..unsynced {
        client.write(|r| r.set("A", &(i * 7 % n).into(), "i", Value::Int(-i))).expect("local change");
    }
    // Closed before the server's history is reset: otherwise its session could notice the reset
    // and run one of its own in this process (closing joins its thread, so in practice it had
    // not; this order rules it out).
    drop(other);
    admin(&s, AdminCommand::Terminate);
    admin(&s, AdminCommand::Enable);
    let base = mem_baseline();
    let rss = rss_baseline();
    let server_pid = s.child.id().to_string();
    let server_rss = rss_baseline_of(&server_pid);
    let start = Instant::now();
    session(&client).resume();
    let rep = wait_report(&client, &done);
    let secs = start.elapsed().as_secs_f64();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let rss_peak = proc_status_kib("VmHWM:").saturating_sub(rss);
    let server_rss_peak = proc_status_kib_of(&server_pid, "VmHWM:").saturating_sub(server_rss);
    let differing = if differ { "1% differ" } else { "nothing differs" };
    line(
        &format!("{mode:?} reset, {n} objects, {differing}, {unsynced} unsynced changesets (download included)"),
        secs,
        &format!(
            "peak client heap +{:.1} MiB, peak RSS +{:.1} MiB, peak server RSS +{:.1} MiB; {}; {} bytes transferred, {} ranges differed; {:?}",
            mib(peak),
            rss_peak as f64 / 1024.0,
            server_rss_peak as f64 / 1024.0,
            phases(&rep),
            rep.transferred_bytes,
            rep.ranges_differed,
            rep.decision
        ),
    );
    let records = record_bytes(&client_path);
    (secs, rep, records)
}

/// Bytes of a realm file's stored objects: primary keys and records.
fn record_bytes(path: &Path) -> u64 {
    let conn = rusqlite::Connection::open(path).expect("open the realm file");
    conn.query_row("SELECT COALESCE(SUM(length(pk) + length(data)), 0) FROM ds_objects", [], |r| r.get::<_, i64>(0)).expect("sum") as u64
}

/// What a 100,000-object reset transfers (range reconciliation), as a share of the realm's
/// records, with 1% differing and with nothing differing; then a 1,000,000-object reset.
fn bench_transfer(dir: &Path, quick: bool) {
    for differ in [true, false] {
        let (_, rep, records) = bench_reset(dir, 100_000, 0, ClientResetMode::DiscardUnsyncedChanges, differ);
        let what = if differ { "1% differ" } else { "nothing differs" };
        println!(
            "reset transfer, {what}: {} bytes = {:.4} of the realm's records ({records} bytes; {} ranges differed)",
            rep.transferred_bytes,
            rep.transferred_bytes as f64 / records as f64,
            rep.ranges_differed
        );
    }
    if !quick {
        bench_reset(dir, 1_000_000, 0, ClientResetMode::DiscardUnsyncedChanges, true);
    }
}

/// realm-core's client-reset benchmark shapes: transform time (diff + replay + change summary +
/// commit, without the download) for discard and recover; the median of `rounds` runs, each on
/// its own server and client.
fn bench_realm_core_shapes(dir: &Path, rounds: usize) {
    // Time only; nothing measures memory after the shapes.
    stop_counting();
    // `DS_CASE=<text>`: only the cases whose name contains it (e.g. "(b), server erased").
    let only = std::env::var("DS_CASE").unwrap_or_default();
    for shape in ["a", "b"] {
        for variant in ["nothing differs", "server erased every other", "client erased every other"] {
            for mode in [ClientResetMode::DiscardUnsyncedChanges, ClientResetMode::RecoverUnsyncedChanges] {
                let name = format!(
                    "({shape}), {variant}, {}",
                    if mode == ClientResetMode::DiscardUnsyncedChanges { "Discard" } else { "Recover" }
                );
                if !name.contains(&only) {
                    continue;
                }
                let mut runs: Vec<ResetReport> =
                    (0..rounds).map(|round| realm_core_shape_reset(dir, shape, variant, mode, round)).collect();
                runs.sort_by_key(|r| r.timings.transform_us());
                let t = runs[runs.len() / 2].timings;
                let ms = |us: u64| us as f64 / 1000.0;
                let mode = if mode == ClientResetMode::DiscardUnsyncedChanges { "Discard" } else { "Recover" };
                println!(
                    "realm-core shape ({shape}), {variant}, {mode}: transform {:.1} ms (diff {:.1}, replay {:.1}, summary {:.1}, commit {:.1}); download {:.1} ms (checkpoint of earlier commits included)",
                    ms(t.transform_us()),
                    ms(t.diff_us),
                    ms(t.replay_us),
                    ms(t.summary_us),
                    ms(t.commit_us),
                    ms(t.download_us)
                );
            }
        }
    }
}

fn realm_core_shape_reset(dir: &Path, shape: &str, variant: &str, mode: ClientResetMode, round: usize) -> ResetReport {
    let schema = if shape == "a" { schema_a() } else { schema_ab() };
    let tag = format!("rc-{shape}-{}-{mode:?}-{round}", variant.replace(' ', "_"));
    let s = start_server(&dir.join(&tag), &schema);
    let (reset, done) = mode_with_done_signal(mode);
    let client = open_with(&s, &dir.join(format!("{tag}.realm")), "a", &schema, reset, false);
    let n_a = if shape == "a" { 10_000 } else { 5_000 };
    fill_a(&client, 0..n_a, true);
    if shape == "b" {
        client
            .write(|r| {
                for i in 0..5_000i64 {
                    r.create("B", i, &[("link", Value::Link(i.into()))])?;
                    for k in 0..3 {
                        r.list_push("B", &i.into(), "links", Value::Link(((i + k) % 5_000).into()))?;
                        r.list_push("B", &i.into(), "vals", Value::Int(k))?;
                    }
                }
                Ok(())
            })
            .expect("fill B");
    }
    synced(&client);
    let other = open(&s, &dir.join(format!("{tag}-o.realm")), "b", &schema, ClientResetMode::default(), false);
    synced(&other);
    pause(&client);
    let erase_every_other = |r: &Realm| {
        r.write(|r| (0..n_a).step_by(2).try_for_each(|i| r.erase("A", &i.into()))).expect("erase");
    };
    match variant {
        "server erased every other" => {
            erase_every_other(&other);
            synced(&other);
        }
        "client erased every other" => erase_every_other(&client),
        _ => {}
    }
    // Closed first, as in `bench_reset`.
    drop(other);
    admin(&s, AdminCommand::Terminate);
    admin(&s, AdminCommand::Enable);
    session(&client).resume();
    wait_report(&client, &done)
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    // `shapes`: only the realm-core shapes (e.g. under callgrind).
    let shapes_only = std::env::args().any(|a| a == "shapes");
    let rounds = std::env::var("DS_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("tempdir");
    println!("driftsync sync/reset benchmarks (server: child process on loopback; release build)");
    if shapes_only {
        bench_realm_core_shapes(dir.path(), rounds);
        return;
    }
    // `million`: only the 1,000,000-object reset (issue #14's target).
    if std::env::args().any(|a| a == "million") {
        bench_reset(dir.path(), 1_000_000, 0, ClientResetMode::DiscardUnsyncedChanges, true);
        return;
    }
    // `transfer`: only the transfer and timing of resets (issue #14).
    if std::env::args().any(|a| a == "transfer") {
        bench_transfer(dir.path(), quick);
        return;
    }
    bench_changesets_reach_second_client(dir.path());
    bench_bootstrap(dir.path(), 100_000);
    let (t100k, _, _) = bench_reset(dir.path(), 100_000, 0, ClientResetMode::DiscardUnsyncedChanges, true);
    bench_reset(dir.path(), 100_000, 10_000, ClientResetMode::RecoverUnsyncedChanges, true);
    if !quick {
        let (t1m, _, _) = bench_reset(dir.path(), 1_000_000, 0, ClientResetMode::DiscardUnsyncedChanges, true);
        println!("1,000,000 vs 100,000 objects: {:.1}x the time (target at most 12x)", t1m / t100k);
    }
    bench_realm_core_shapes(dir.path(), rounds);
}
