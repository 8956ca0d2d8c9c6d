//! The transport under a connection: plain TCP or TLS (rustls, ring), the WebSocket handshake
//! under a deadline, and waiting without busy polling (`poll(2)` on the socket and an eventfd
//! that wakes the connection when there is something to push or it must close).

use crate::config::TlsIdentity;
use crate::{Result, ServerError};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::WebSocket;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::WebSocketConfig;

/// Plain TCP or TLS over TCP. While `deadline` is set, reads past it fail (the handshakes:
/// a peer that keeps sending one byte at a time must not stretch them).
pub(crate) struct Stream {
    kind: Kind,
    deadline: Option<Instant>,
    /// Bytes read so far (after TLS): tells a partly received message from no input.
    read_total: u64,
}

enum Kind {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    /// Reads past `deadline` fail (None: no deadline).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    pub fn read_total(&self) -> u64 {
        self.read_total
    }

    pub fn tcp(&self) -> &TcpStream {
        match &self.kind {
            Kind::Plain(s) => s,
            Kind::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(d) = self.deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
            }
            self.tcp().set_read_timeout(Some(left))?;
        }
        let n = match &mut self.kind {
            Kind::Plain(s) => s.read(buf),
            Kind::Tls(s) => s.read(buf),
        }?;
        self.read_total += n as u64;
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.kind {
            Kind::Plain(s) => s.write(buf),
            Kind::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.kind {
            Kind::Plain(s) => s.flush(),
            Kind::Tls(s) => s.flush(),
        }
    }
}

/// The rustls server configuration of a certificate chain and key (PEM).
pub(crate) fn tls_config(id: &TlsIdentity) -> Result<Arc<rustls::ServerConfig>> {
    let certs = rustls_pemfile::certs(&mut id.cert_chain_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ServerError(format!("tls: certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(ServerError("tls: the certificate chain holds no certificate".into()));
    }
    let key = rustls_pemfile::private_key(&mut id.key_pem.as_bytes())
        .map_err(|e| ServerError(format!("tls: private key: {e}")))?
        .ok_or_else(|| ServerError("tls: no private key in the key PEM".into()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError(format!("tls: {e}")))?;
    Ok(Arc::new(config))
}

/// TLS (if configured) and the WebSocket handshake, all before `deadline`: a peer that sends
/// slowly or not at all is cut at the deadline, whatever it does meanwhile.
pub(crate) fn accept(
    tcp: TcpStream,
    tls: Option<&Arc<rustls::ServerConfig>>,
    config: WebSocketConfig,
    deadline: Instant,
) -> std::result::Result<WebSocket<Stream>, String> {
    let _ = tcp.set_nodelay(true);
    tcp.set_write_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let kind = match tls {
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(cfg.clone()).map_err(|e| format!("tls: {e}"))?;
            Kind::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        }
        None => Kind::Plain(tcp),
    };
    let stream = Stream { kind, deadline: Some(deadline), read_total: 0 };
    match tungstenite::accept_with_config(stream, Some(config)) {
        Ok(mut ws) => {
            ws.get_mut().set_deadline(None);
            Ok(ws)
        }
        Err(HandshakeError::Interrupted(_)) => Err("handshake not completed before the bind deadline".into()),
        Err(HandshakeError::Failure(e)) => Err(format!("handshake failed: {e}")),
    }
}

/// Wakes a connection's thread out of `wait` (an eventfd).
pub(crate) struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        // SAFETY: eventfd has no memory arguments; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        Ok(Waker { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own descriptor. A full counter (EAGAIN)
        // still wakes: nothing to handle.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking descriptor.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

/// Blocks until the socket is readable, the waker was woken, or `timeout` passed (None: no
/// timeout). Never spins: the thread sleeps in the kernel meanwhile.
pub(crate) fn wait(sock: RawFd, waker: &Waker, timeout: Option<Duration>) {
    let mut fds = [
        libc::pollfd { fd: sock, events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: waker.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    let ms = match timeout {
        // Round up: waking a millisecond early would only loop once more.
        Some(t) => i32::try_from(t.as_millis().saturating_add(1)).unwrap_or(i32::MAX),
        None => -1,
    };
    // SAFETY: `fds` is a live array of two pollfd for the duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
    if n > 0 && fds[1].revents != 0 {
        waker.clear();
    }
}
