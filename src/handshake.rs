//! The handshake from a plain blocking `UdpSocket` (docs/protocol.md 5.3),
//! for tools and tests that talk to a node without running one: send a
//! GETPEER issuing a cookie, take the node's cookie from its PEER answer,
//! and quote it as the token of everything sent afterwards.

use dave_core::wire::{self, Cookie, Msg, Op, Packet};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Runs the handshake with `node` from `sock`; returns the token to quote.
/// Datagrams other than the answer that arrive meanwhile are dropped.
pub fn handshake(sock: &UdpSocket, node: SocketAddr, timeout: Duration) -> io::Result<Cookie> {
    let mine: Cookie = rand_cookie(sock);
    let m = Msg {
        op: Op::Getpeer,
        cookie: &mine,
        ..Msg::default()
    };
    let mut buf = [0u8; wire::MTU + 1];
    let n = wire::encode_into(&m, &mut buf).map_err(io::Error::other)?;
    let query = buf[..n].to_vec();
    let old = sock.read_timeout()?;
    let until = Instant::now() + timeout;
    let mut next_send = Instant::now();
    let res = loop {
        let now = Instant::now();
        if now >= until {
            break Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{node} did not answer the handshake within {timeout:?}"),
            ));
        }
        if now >= next_send {
            sock.send_to(&query, node)?;
            next_send = now + Duration::from_millis(100);
        }
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if from == node => {
                if let Ok(d) = wire::decode_datagram(&buf[..n]) {
                    if let (Packet::Peer { cookie, .. }, Some(t)) = (d.packet, d.token) {
                        if *t == mine {
                            break Ok(*cookie);
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => break Err(e),
        }
    };
    sock.set_read_timeout(old)?;
    res
}

pub use dave_core::wire::with_token;

/// A cookie that differs per socket and per call (it only has to be
/// recognised in the answer, not to be secret from the node).
fn rand_cookie(sock: &UdpSocket) -> Cookie {
    let t = Instant::now().elapsed().as_nanos() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let port = sock.local_addr().map_or(0, |a| a.port()) as u64;
    dave_core::splitmix(t ^ port.rotate_left(48)).to_le_bytes()
}
