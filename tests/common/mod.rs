//! Helpers shared by the tests that run the real `daved` binary.
#![allow(dead_code)] // each test file uses its own share of these

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_daved");

/// A loopback port nobody is using right now.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh, empty temporary directory for one test.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dave-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Nodes killed when the test ends, however it ends.
pub struct Nodes(pub Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `daved` on 127.0.0.1:`port` (bootstrapping from `edge`), logging to `log`.
pub fn start_node(port: u16, edge: Option<u16>, log: &Path, extra: &[&str]) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.args(["-l", &format!("127.0.0.1:{port}")]).args(extra);
    if let Some(e) = edge {
        cmd.args(["-e", &format!("127.0.0.1:{e}")]);
    }
    // A node logs on standard output; errors go to standard error.
    let f = std::fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stderr(f.try_clone().unwrap())
        .stdout(f)
        .spawn()
        .expect("daved starts")
}

/// Bytes a command printed, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The value of the output line that starts with `name` (`root   HEX`).
pub fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name).map(str::trim))
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{out}"))
}

/// Plays a peer on `s` for the node at `node`: answers every GETPEER the
/// node sends with a PEER that quotes its cookie, so the node keeps `s`
/// live, and hands every PUT to `on_put`. Reads until `s` would block;
/// returns how many GETPEERs it answered.
pub fn serve_peer(
    s: &UdpSocket,
    node: std::net::SocketAddr,
    buf: &mut [u8],
    mut on_put: impl FnMut(&[u8; 32]),
) -> usize {
    use dave_core::wire::{self, Msg, Op, Packet};
    let mut n = 0;
    while let Ok((len, from)) = s.recv_from(buf) {
        if from != node {
            continue;
        }
        match wire::decode(&buf[..len]) {
            Ok(Packet::Getpeer { cookie }) => {
                let m = Msg {
                    op: Op::Peer,
                    token: cookie,
                    cookie: &[1; 8],
                    ..Msg::default()
                };
                let mut out = [0u8; 64];
                if let Ok(k) = wire::encode_into(&m, &mut out) {
                    let _ = s.send_to(&out[..k], node);
                    n += 1;
                }
            }
            Ok(Packet::Put(p)) => on_put(p.work),
            _ => {}
        }
    }
    n
}
