//! The local control path: `daved status` asks a running node for its
//! report over a Unix datagram socket in Linux's abstract namespace, named
//! `dave/PORT` after the node's UDP port. Abstract sockets need no file (so
//! nothing to place, clean up, or protect under `ProtectSystem=strict`) and
//! are private to the network namespace the node runs in.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest answer, in bytes.
pub const MAX_REPLY: usize = 64 * 1024;

/// The abstract socket name of the node on `port`.
pub fn name(port: u16) -> String {
    format!("dave/{port}")
}

/// The node's end: a non-blocking socket bound to `dave/PORT`.
pub fn bind(port: u16) -> io::Result<UnixDatagram> {
    let addr = SocketAddr::from_abstract_name(name(port).as_bytes())?;
    let s = UnixDatagram::bind_addr(&addr)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// A request the node understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The report as text.
    Status,
    /// The report as JSON.
    StatusJson,
}

impl Request {
    /// Parses a request datagram.
    pub fn parse(b: &[u8]) -> Option<Request> {
        match b {
            b"status" => Some(Request::Status),
            b"status json" => Some(Request::StatusJson),
            _ => None,
        }
    }

    fn bytes(self) -> &'static [u8] {
        match self {
            Request::Status => b"status",
            Request::StatusJson => b"status json",
        }
    }
}

/// Asks the node on `port` and waits up to `timeout` for its answer.
pub fn query(port: u16, req: Request, timeout: Duration) -> io::Result<String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let me = SocketAddr::from_abstract_name(
        format!("dave-cli/{}/{nanos}", std::process::id()).as_bytes(),
    )?;
    let s = UnixDatagram::bind_addr(&me)?;
    s.set_read_timeout(Some(timeout))?;
    let node = SocketAddr::from_abstract_name(name(port).as_bytes())?;
    s.send_to_addr(req.bytes(), &node)?;
    let mut buf = vec![0u8; MAX_REPLY];
    let n = s.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}
