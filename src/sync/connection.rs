//! One WebSocket connection to a driftsync server, speaking `protocol` messages.

use crate::error::{Error, Result};
use crate::protocol::{self, ClientMessage, MAX_FRAME_BYTES, ServerMessage};
use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

pub struct WsConn {
    ws: WebSocket<TcpStream>,
}

/// `ws://host:port[/path]` → `host:port`.
fn host_port(url: &str) -> Result<&str> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| Error::InvalidArgument(format!("server URL '{url}' must start with ws://")))?;
    let hp = rest.split('/').next().unwrap_or(rest);
    if hp.is_empty() {
        return Err(Error::InvalidArgument(format!("server URL '{url}' names no host")));
    }
    Ok(hp)
}

impl WsConn {
    pub fn open(url: &str, timeout: Duration) -> Result<WsConn> {
        let hp = host_port(url)?;
        let addr = hp
            .to_socket_addrs()
            .map_err(|e| Error::Sync(format!("cannot resolve {hp}: {e}")))?
            .next()
            .ok_or_else(|| Error::Sync(format!("{hp} resolves to no address")))?;
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| Error::Sync(format!("cannot connect to {url}: {e}")))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let config = WebSocketConfig::default().max_message_size(Some(MAX_FRAME_BYTES)).max_frame_size(Some(MAX_FRAME_BYTES));
        let (ws, _) = tungstenite::client::client_with_config(url, stream, Some(config))
            .map_err(|e| Error::Sync(format!("WebSocket handshake with {url} failed: {e}")))?;
        Ok(WsConn { ws })
    }

    pub fn send(&mut self, msg: &ClientMessage) -> Result<()> {
        self.ws.send(Message::Binary(protocol::encode(msg).into())).map_err(|e| Error::Sync(format!("send failed: {e}")))
    }

    /// The next server message, or None if none arrived within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<ServerMessage>> {
        self.ws.get_ref().set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match self.ws.read() {
            Ok(Message::Binary(b)) => protocol::decode(&b).map(Some),
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

    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
