//! Shared by the server's and the root crate's security tests (the root includes it by path).

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Whether the server has closed a raw socket (EOF or reset) within `within`.
pub fn closed_within(sock: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    sock.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}
