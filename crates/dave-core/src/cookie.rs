//! Stateless address validation (docs/protocol.md 5.3): a cookie is a keyed
//! hash of an address under a secret that rotates every ROTATE epochs, the
//! previous secret staying valid. Checking one costs a keyed hash or two
//! and no table lookup, so a node keeps no state for a stranger.

use crate::wire::{Cookie, COOKIE_LEN};
use std::net::{IpAddr, SocketAddr};

/// `cookie_S(A)`: the first 8 bytes of `blake3::keyed_hash(S, ip16 || port
/// as u16 little-endian)`, IPv4 as `::ffff:a.b.c.d`.
pub fn cookie(secret: &[u8; 32], a: SocketAddr) -> Cookie {
    let ip = match a.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let mut input = [0u8; 18];
    input[..16].copy_from_slice(&ip);
    input[16..].copy_from_slice(&a.port().to_le_bytes());
    let h = blake3::keyed_hash(secret, &input);
    let mut c = [0u8; COOKIE_LEN];
    c.copy_from_slice(&h.as_bytes()[..COOKIE_LEN]);
    c
}

/// The current and the previous secret.
pub(crate) struct Secrets {
    cur: [u8; 32],
    prev: [u8; 32],
}

impl Secrets {
    pub(crate) fn new(first: [u8; 32]) -> Secrets {
        Secrets {
            cur: first,
            prev: first,
        }
    }

    /// Replaces the secret; the one it replaces stays valid until the next.
    pub(crate) fn rotate(&mut self, next: [u8; 32]) {
        self.prev = self.cur;
        self.cur = next;
    }

    /// The cookie this node issues to `a` now.
    pub(crate) fn issue(&self, a: SocketAddr) -> Cookie {
        cookie(&self.cur, a)
    }

    /// True when `token` is a cookie this node issued to `a` under the
    /// current or the previous secret: the sender receives at `a`.
    pub(crate) fn check(&self, a: SocketAddr, token: Option<&Cookie>) -> bool {
        match token {
            Some(t) => *t == cookie(&self.cur, a) || *t == cookie(&self.prev, a),
            None => false,
        }
    }
}
