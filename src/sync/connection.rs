//! One WebSocket connection to a driftsync server, speaking `protocol` messages: `ws://` (plain
//! TCP, loopback unless cleartext is allowed) or `wss://` (TLS with rustls and ring, checked
//! against the system's root certificates plus the app's own CA certificates).

use crate::error::{Error, Result};
use crate::protocol::{self, ClientMessage, MAX_FRAME_BYTES, ServerMessage};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// How long a clean close waits for the server's answer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a connection may be secured (from `SyncConfig`).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted CA certificates (PEM, each may hold several), on top of the system roots.
    pub trusted_ca_pem: Vec<String>,
    /// Allows `ws://` to a host that is not loopback (the traffic can be read and changed).
    pub allow_cleartext: bool,
}

/// A parsed server URL.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerUrl {
    pub tls: bool,
    /// The host as written, without brackets for IPv6.
    pub host: String,
    pub port: u16,
}

impl ServerUrl {
    /// Parses `ws://host[:port][/path]` or `wss://…`; refuses cleartext to a host that is not
    /// loopback unless `allow_cleartext`.
    pub fn parse(url: &str, allow_cleartext: bool) -> Result<ServerUrl> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(Error::InvalidArgument(format!("server URL '{url}' must start with ws:// or wss://")));
        };
        let hp = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let (host, port) = if let Some(v6) = hp.strip_prefix('[') {
            let (h, after) =
                v6.split_once(']').ok_or_else(|| Error::InvalidArgument(format!("server URL '{url}': unclosed '[' in the host")))?;
            (h, after.strip_prefix(':'))
        } else {
            match hp.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hp, None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(Error::InvalidArgument(format!("server URL '{url}' names no host")));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| Error::InvalidArgument(format!("server URL '{url}' has an invalid port '{p}'")))?,
            None if tls => 443,
            None => 80,
        };
        let parsed = ServerUrl { tls, host: host.to_string(), port };
        if !tls && !allow_cleartext && !parsed.is_loopback() {
            return Err(Error::InvalidArgument(format!(
                "server URL '{url}' is cleartext (ws://) to a host that is not loopback: use wss://, or allow cleartext in the sync config"
            )));
        }
        Ok(parsed)
    }

    /// `localhost` or a loopback IP address (names are not resolved: they could change).
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost") || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// Plain TCP or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The system's root certificates, loaded once per process.
fn system_roots() -> &'static [rustls::pki_types::CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<rustls::pki_types::CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

fn pem_certificates(pem: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::InvalidArgument(format!("trusted CA certificate: {e}")))
}

/// How many certificates a PEM text holds (an error if it is not PEM).
pub fn count_pem_certificates(pem: &str) -> Result<usize> {
    pem_certificates(pem).map(|c| c.len())
}

fn tls_config(extra_ca_pem: &[String]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    // A system certificate rustls cannot use is skipped, as browsers do.
    let _ = roots.add_parsable_certificates(system_roots().iter().cloned());
    for pem in extra_ca_pem {
        let certs = pem_certificates(pem)?;
        if certs.is_empty() {
            return Err(Error::InvalidArgument("a trusted CA certificate PEM holds no certificate".into()));
        }
        for c in certs {
            roots.add(c).map_err(|e| Error::InvalidArgument(format!("trusted CA certificate: {e}")))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS failure that trying again will not fix (the certificate is not trusted or not for this
/// host), as opposed to a network failure.
fn permanent_tls_failure(e: &std::io::Error) -> Option<String> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    match tls {
        rustls::Error::InvalidCertificate(why) => Some(format!("the server's certificate is not accepted: {why:?}")),
        rustls::Error::NoCertificatesPresented => Some("the server presented no certificate".into()),
        rustls::Error::UnsupportedNameType => Some("the server name cannot be checked against a certificate".into()),
        _ => None,
    }
}

pub struct WsConn {
    ws: WebSocket<Stream>,
    /// Payload bytes of the binary messages sent and received (the reset report's transfer).
    transferred: u64,
}

impl WsConn {
    /// Connects; a `ws://` URL to a host that is not loopback is refused unless cleartext is
    /// allowed. A certificate the client does not trust is `Error::PermissionDenied` (do not
    /// retry); a network failure is `Error::Sync` (retry later).
    pub fn open(url: &str, timeout: Duration, tls: &TlsOptions) -> Result<WsConn> {
        let target = ServerUrl::parse(url, tls.allow_cleartext)?;
        let hp = (target.host.as_str(), target.port);
        let addrs: Vec<_> = hp.to_socket_addrs().map_err(|e| Error::Sync(format!("cannot resolve {}: {e}", target.host)))?.collect();
        // Every address in turn (`localhost` may name ::1 first and 127.0.0.1 second).
        let mut last = Error::Sync(format!("{} resolves to no address", target.host));
        let mut connected = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(t) => {
                    connected = Some(t);
                    break;
                }
                Err(e) => last = Error::Sync(format!("cannot connect to {url}: {e}")),
            }
        }
        let tcp = connected.ok_or(last)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let stream = if target.tls {
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| Error::InvalidArgument(format!("server URL '{url}': {e}")))?;
            let conn =
                rustls::ClientConnection::new(tls_config(&tls.trusted_ca_pem)?, name).map_err(|e| Error::Internal(format!("tls: {e}")))?;
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        let config = WebSocketConfig::default().max_message_size(Some(MAX_FRAME_BYTES)).max_frame_size(Some(MAX_FRAME_BYTES));
        let (ws, _) = tungstenite::client::client_with_config(url, stream, Some(config)).map_err(|e| {
            if let tungstenite::HandshakeError::Failure(tungstenite::Error::Io(io)) = &e
                && let Some(why) = permanent_tls_failure(io)
            {
                return Error::PermissionDenied(format!("TLS with {}: {why}", target.host));
            }
            Error::Sync(format!("WebSocket handshake with {url} failed: {e}"))
        })?;
        Ok(WsConn { ws, transferred: 0 })
    }

    pub fn send(&mut self, msg: &ClientMessage) -> Result<()> {
        let bytes = protocol::encode(msg);
        self.transferred += bytes.len() as u64;
        self.ws.send(Message::Binary(bytes.into())).map_err(|e| Error::Sync(format!("send failed: {e}")))
    }

    /// Payload bytes of the messages sent and received on this connection so far.
    pub fn bytes_transferred(&self) -> u64 {
        self.transferred
    }

    /// The next server message, or None if none arrived within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<ServerMessage>> {
        self.ws.get_ref().tcp().set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match self.ws.read() {
            Ok(Message::Binary(b)) => {
                self.transferred += b.len() as u64;
                protocol::decode(&b).map(Some)
            }
            Ok(Message::Close(_)) => Err(Error::Sync("the server closed the connection".into())),
            Ok(Message::Text(_)) => Err(Error::Protocol("the server sent a text frame".into())),
            Ok(_) => {
                // Control frames: tungstenite answers pings itself on the next write.
                let _ = self.ws.flush();
                Ok(None)
            }
            Err(tungstenite::Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let _ = self.ws.flush();
                Ok(None)
            }
            Err(e) => Err(Error::Sync(format!("connection lost: {e}"))),
        }
    }

    /// Waits for one message up to `timeout`.
    pub fn recv_required(&mut self, timeout: Duration) -> Result<ServerMessage> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout("no answer from the server".into()));
            }
            if let Some(m) = self.recv(left)? {
                return Ok(m);
            }
        }
    }

    /// A clean close: sends the close frame and waits (up to `CLOSE_TIMEOUT`) for the server's
    /// answer, which the server sends only once it no longer counts this client as connected: a
    /// paused session is offline for the server too (client expiry spares connected clients).
    pub fn close(mut self) {
        if self.ws.close(None).is_err() {
            return;
        }
        let deadline = std::time::Instant::now() + CLOSE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || self.ws.get_ref().tcp().set_read_timeout(Some(left)).is_err() {
                return;
            }
            match self.ws.read() {
                // Messages still in flight are dropped: the session is ending.
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_cleartext_is_loopback_only() {
        let u = ServerUrl::parse("wss://sync.example.com/x", false).unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "sync.example.com", 443));
        let u = ServerUrl::parse("ws://[::1]:9000", false).unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "::1", 9000));
        assert!(ServerUrl::parse("ws://127.0.0.1:1", false).is_ok());
        assert!(ServerUrl::parse("ws://localhost:1", false).is_ok());
        assert!(matches!(ServerUrl::parse("ws://10.0.0.1:1", false), Err(Error::InvalidArgument(_))));
        assert!(ServerUrl::parse("ws://10.0.0.1:1", true).is_ok());
        assert!(matches!(ServerUrl::parse("http://x", true), Err(Error::InvalidArgument(_))));
        assert!(matches!(ServerUrl::parse("ws://:1", true), Err(Error::InvalidArgument(_))));
    }
}
