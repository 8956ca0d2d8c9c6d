//! What N concurrently connected clients cost the reference server (a CHILD PROCESS on loopback,
//! measured through /proc): threads, resident memory, and CPU while they sit idle and while one
//! upload fans out to all of them.
//!
//!   cargo build --release -p driftsync-server && cargo bench --bench connections [-- N]
//!
//! N defaults to 1,000. Each client is a raw protocol connection (driftsync's `WsConn`) that binds
//! a new client file and starts its download stream, as a real client does.

use driftsync::protocol::{self, Bind, ClientMessage, ServerMessage, UploadChangeset};
use driftsync::sync::{TlsOptions, WsConn};
use driftsync::{ClassSchema, Instruction, PrimaryKey, Property, ScalarType, Schema, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct ServerProc {
    child: Child,
    url: String,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary");
    let bin = exe.parent().and_then(Path::parent).map(|d| d.join("driftsync-server")).expect("target dir");
    assert!(bin.exists(), "build the server first: cargo build --release -p driftsync-server ({} missing)", bin.display());
    bin
}

fn schema() -> Schema {
    Schema::new(vec![ClassSchema::new("Item", "id", vec![Property::new("id", ScalarType::Int), Property::new("name", ScalarType::String)])])
        .expect("schema")
}

fn start_server(dir: &Path, max_connections: usize) -> ServerProc {
    let toml = format!(
        "admin_token = \"bench-admin\"\nschema_json = '''{}'''\n[users.a]\ntoken = \"a-token\"\nrole = \"rw\"\n[roles.rw]\nrealms = [\"*\"]\nread = [\"*\"]\nwrite = [\"*\"]\n[limits]\nmax_connections = {max_connections}\n",
        schema().to_json()
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
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("server prints its address");
    let url = line.trim().strip_prefix("listening on ").expect("listening line").to_string();
    ServerProc { child, url }
}

/// (threads, VmRSS KiB, CPU seconds user+system) of a process.
fn proc_stats(pid: u32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |key: &str| {
        status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (field("Threads:"), field("VmRSS:"), (ticks(11) + ticks(12)) / hz)
}

fn bind(url: &str) -> WsConn {
    let mut c = WsConn::open(url, Duration::from_secs(30), &TlsOptions::default()).expect("connect");
    c.send(&ClientMessage::Bind(Bind {
        protocol_version: protocol::PROTOCOL_VERSION,
        token: "a-token".into(),
        realm: "main".into(),
        client_file_ident: None,
        server_version: 0,
        salt: 0,
        schema_json: schema().to_json(),
        completing_reset: false,
    }))
    .expect("bind");
    match c.recv_required(Duration::from_secs(60)).expect("answer") {
        ServerMessage::BindOk { .. } => {}
        other => panic!("{other:?}"),
    }
    c.send(&ClientMessage::StartDownload { after: 0 }).expect("start download");
    c
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server(dir.path(), n + 16);
    let pid = server.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let (t0, rss0, _) = proc_stats(pid);
    println!("server at rest: {t0} threads, {} MiB RSS", rss0 / 1024);

    let started = Instant::now();
    let mut clients: Vec<WsConn> = (0..n).map(|_| bind(&server.url)).collect();
    println!("{n} clients bound in {:.1} s", started.elapsed().as_secs_f64());
    // Let every connection settle (first download pushed), then measure 10 s of idleness.
    std::thread::sleep(Duration::from_secs(2));
    let (t1, rss1, cpu_a) = proc_stats(pid);
    std::thread::sleep(Duration::from_secs(10));
    let (_, _, cpu_b) = proc_stats(pid);
    println!(
        "{n} idle clients: {t1} threads (+{}), {} MiB RSS (+{:.1} KiB per client), CPU {:.2}% of a core over 10 s",
        t1 - t0,
        rss1 / 1024,
        (rss1.saturating_sub(rss0)) as f64 / n as f64,
        (cpu_b - cpu_a) * 10.0
    );

    // Fan-out: one upload, every client receives the Download.
    let fan_start = Instant::now();
    let cs = driftsync::changeset::Changeset::new(
        1,
        1,
        vec![Instruction::CreateObject {
            class: "Item".into(),
            pk: PrimaryKey::Int(1),
            fields: vec![("name".into(), Value::String("x".into()))],
        }],
    );
    let (_, _, cpu_c) = proc_stats(pid);
    clients[0]
        .send(&ClientMessage::Upload { changesets: vec![UploadChangeset { base_server_version: 0, changeset: cs }] })
        .expect("upload");
    let mut got = 0;
    for c in clients.iter_mut().skip(1) {
        loop {
            match c.recv_required(Duration::from_secs(60)).expect("download") {
                ServerMessage::Download { changesets, .. } if !changesets.is_empty() => break,
                _ => {}
            }
        }
        got += 1;
    }
    let fan = fan_start.elapsed();
    let (_, _, cpu_d) = proc_stats(pid);
    println!(
        "one upload reached {got} other clients in {:.0} ms (server CPU {:.0} ms)",
        fan.as_secs_f64() * 1000.0,
        (cpu_d - cpu_c) * 1000.0
    );
    drop(clients);
}
