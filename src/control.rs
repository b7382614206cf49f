//! The local control path: `daved status` asks a running node for its
//! report over a Unix datagram socket in Linux's abstract namespace, named
//! `dave/PORT` after the node's UDP port. Abstract sockets need no file (so
//! nothing to place, clean up, or protect under `ProtectSystem=strict`) and
//! are private to the network namespace the node runs in.
//!
//! Any local process may bind an abstract name, so the name alone proves
//! nothing: a process of another user could bind `dave/PORT` before the
//! node does (the node then logs `/ctl/taken`) and answer in its place. The
//! client therefore checks who sent the answer: it connects its socket to
//! `dave/PORT` (so only the holder of that name can send to it), sets
//! `SO_PASSCRED`, and reads the sender's credentials that the kernel attaches
//! to the answer (`SCM_CREDENTIALS`). `SO_PEERCRED` would not do: on a
//! datagram socket `connect` records no peer credentials (Linux returns uid
//! -1 and pid 0), and moving to a connected socket type would add an accept
//! path and per-connection state to the node's loop. The answer is trusted
//! when [`check_server`] accepts its sender's uid: root, the user asking,
//! or the one user holding the node's UDP port.

use crate::sys::{self, Cred};
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest answer, in bytes.
pub const MAX_REPLY: usize = 64 * 1024;

/// The abstract socket name of the node on `port`.
pub fn name(port: u16) -> String {
    format!("dave/{port}")
}

/// The node's end: a non-blocking socket bound to `dave/PORT`. Fails with
/// `AddrInUse` when another process holds the name (see [`holder`]).
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

/// Why [`query`] returned no answer.
#[derive(Debug)]
pub enum QueryError {
    /// Nothing answered: no process holds the name, or none answered in time.
    Unreachable(io::Error),
    /// An answer came, from a process not trusted to be the node; the
    /// message names its uid and why it was refused.
    Untrusted(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Unreachable(e) => write!(f, "{e}"),
            QueryError::Untrusted(m) => f.write_str(m),
        }
    }
}

/// Sends `req` to whatever holds `dave/PORT` and waits up to `timeout` for
/// its answer and the credentials of the process that sent it.
fn ask(port: u16, req: Request, timeout: Duration) -> io::Result<(String, Option<Cred>)> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let me = SocketAddr::from_abstract_name(
        format!("dave-cli/{}/{nanos}", std::process::id()).as_bytes(),
    )?;
    let s = UnixDatagram::bind_addr(&me)?;
    sys::pass_credentials(s.as_raw_fd())?;
    s.set_read_timeout(Some(timeout))?;
    // Connected: datagrams from anyone but the holder of the name are refused.
    s.connect_addr(&SocketAddr::from_abstract_name(name(port).as_bytes())?)?;
    s.send(req.bytes())?;
    let mut buf = vec![0u8; MAX_REPLY];
    let (n, cred) = sys::recv_with_credentials(s.as_raw_fd(), &mut buf).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::new(io::ErrorKind::TimedOut, "no answer in time")
        } else {
            e
        }
    })?;
    Ok((String::from_utf8_lossy(&buf[..n]).into_owned(), cred))
}

/// Asks the node on `port` and waits up to `timeout` for its answer, which
/// is returned only if [`check_server`] trusts the process that sent it.
pub fn query(port: u16, req: Request, timeout: Duration) -> Result<String, QueryError> {
    let (answer, cred) = ask(port, req, timeout).map_err(QueryError::Unreachable)?;
    let Some(cred) = cred else {
        return Err(QueryError::Untrusted(format!(
            "the answer on the control socket @{} carried no credentials, so it cannot be told from an impostor's; refused",
            name(port)
        )));
    };
    check_server(port, cred, sys::euid(), &udp_port_owners(port)).map_err(QueryError::Untrusted)?;
    Ok(answer)
}

/// Who holds `dave/PORT`, when it is not this process: the credentials of
/// whatever answers a status request within `timeout`, `None` if nothing
/// answers. Used by a node that could not bind its name, to say who has it.
pub fn holder(port: u16, timeout: Duration) -> Option<Cred> {
    ask(port, Request::Status, timeout).ok()?.1
}

/// Whether an answer on the control socket of the node on UDP `port` may be
/// trusted, from the credentials of the process that sent it, the uid of
/// the process asking (`me`), and the distinct uids holding UDP `port` in
/// this network namespace (`owners`, empty when unknown).
///
/// Trusted: root (who could impersonate anyone anyway); the user asking
/// (only they, or root, can run a process as them); and the user of the node
/// itself, taken to be the only user holding UDP `port`: the node sets
/// neither `SO_REUSEADDR` nor `SO_REUSEPORT`, so no other socket can share
/// its address and port, and a node on `[::]` (the default) holds the port
/// on every address. When several users hold the port (a node bound to one
/// address, another user's socket to another), none of them is trusted
/// unless it is root or the user asking. The error says which uid answered
/// and why it was refused.
pub fn check_server(port: u16, server: Cred, me: u32, owners: &[u32]) -> Result<(), String> {
    if server.uid == 0 || server.uid == me || owners == [server.uid] {
        return Ok(());
    }
    let who = format!(
        "the answer on the control socket @{} came from uid {} (pid {})",
        name(port),
        server.uid,
        server.pid
    );
    let node = match owners {
        [] => format!("and no user could be found holding UDP port {port}"),
        [one] => format!("nor the user running the node on UDP port {port} (uid {one})"),
        many => format!(
            "and UDP port {port} is held by several users (uids {}), so the node's user is not known",
            many.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(format!(
        "{who}, which is neither root nor you (uid {me}), {node}: another user's process may be holding the node's control socket, so its answer was refused (a node that cannot bind its control socket logs /ctl/taken; restart it once the other process is gone, or ask as the node's user)"
    ))
}

/// The distinct uids holding UDP `port`, from `/proc/net/udp` and
/// `/proc/net/udp6` (this network namespace); empty when they cannot be
/// read.
pub fn udp_port_owners(port: u16) -> Vec<u32> {
    let mut owners = Vec::new();
    for f in ["/proc/net/udp", "/proc/net/udp6"] {
        if let Ok(text) = std::fs::read_to_string(f) {
            owners.extend(port_owners_in(&text, port));
        }
    }
    owners.sort_unstable();
    owners.dedup();
    owners
}

/// The uids of the sockets bound to local `port` in the text of
/// `/proc/net/udp` or `/proc/net/udp6` (lines of `sl local_address
/// rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...`, the
/// port in hexadecimal after the address); lines that do not parse are
/// skipped.
pub fn port_owners_in(text: &str, port: u16) -> Vec<u32> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = f.get(1)?.rsplit_once(':')?.1;
            if u16::from_str_radix(local_port, 16).ok()? != port {
                return None;
            }
            f.get(7)?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(uid: u32) -> Cred {
        Cred {
            pid: 4242,
            uid,
            gid: uid,
        }
    }

    #[test]
    fn root_the_asker_and_the_nodes_only_user_are_trusted() {
        // Root's answer, whoever asks.
        assert!(check_server(1618, cred(0), 1000, &[61_234]).is_ok());
        assert!(check_server(1618, cred(0), 1000, &[]).is_ok());
        // Your own process.
        assert!(check_server(1618, cred(1000), 1000, &[]).is_ok());
        assert!(check_server(1618, cred(1000), 1000, &[0, 1001]).is_ok());
        // The one user holding the node's port (a systemd DynamicUser
        // node asked by root or by anyone).
        assert!(check_server(1618, cred(61_234), 0, &[61_234]).is_ok());
        assert!(check_server(1618, cred(61_234), 1000, &[61_234]).is_ok());
    }

    #[test]
    fn anyone_else_is_refused_with_their_uid_named() {
        // Another user squats the name while the node runs as root.
        let e = check_server(1618, cred(1001), 0, &[0]).unwrap_err();
        assert!(e.contains("uid 1001 (pid 4242)"), "{e}");
        assert!(
            e.contains("nor the user running the node on UDP port 1618 (uid 0)"),
            "{e}"
        );
        assert!(e.contains("refused"), "{e}");
        // ... or as a dynamic user, asked by an ordinary user.
        let e = check_server(1618, cred(1001), 1000, &[61_234]).unwrap_err();
        assert!(e.contains("uid 1001") && e.contains("(uid 61234)"), "{e}");
        // No node holds the port at all.
        let e = check_server(1618, cred(1001), 1000, &[]).unwrap_err();
        assert!(
            e.contains("no user could be found holding UDP port 1618"),
            "{e}"
        );
        // The squatter also holds the port on another address: ambiguous.
        let e = check_server(1618, cred(1001), 0, &[1001, 61_234]).unwrap_err();
        assert!(e.contains("several users (uids 1001, 61234)"), "{e}");
        let e = check_server(1618, cred(61_234), 0, &[1001, 61_234]).unwrap_err();
        assert!(e.contains("uid 61234"), "{e}");
    }

    #[test]
    fn port_owners_are_read_from_proc_net_udp() {
        let udp = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
   42: 0100007F:0652 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 123 2 0000000000000000 0\n\
   43: 0200007F:0652 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 124 2 0000000000000000 0\n\
   44: 0100007F:0653 00000000:0000 07 00000000:00000000 00:00000000 00000000    77        0 125 2 0000000000000000 0\n\
   45: garbage\n";
        assert_eq!(port_owners_in(udp, 1618), vec![1000, 0]);
        assert_eq!(port_owners_in(udp, 1619), vec![77]);
        assert!(port_owners_in(udp, 1620).is_empty());
        let udp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  9: 00000000000000000000000000000000:0652 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000 61234        0 126 2 0000000000000000 0\n";
        assert_eq!(port_owners_in(udp6, 1618), vec![61_234]);
    }

    #[test]
    fn this_process_is_found_holding_its_udp_port() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        assert!(udp_port_owners(port).contains(&sys::euid()));
    }
}
