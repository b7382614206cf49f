//! Address groups (docs/protocol.md 5.4): addresses one party can easily
//! hold many of share a group, and a group holds at most GROUP_MAX entries
//! of a peer table, and one per GROUP_SHARE entries while the table is
//! young, whatever its owner's timing or rate.
//!
//! - IPv4 on the internet: the /16 (as Bitcoin Core's netgroups).
//! - IPv6 on the internet: the /32.
//! - Private IPv4 (RFC 1918, 169.254/16, 100.64/10): the /24, a typical
//!   LAN; an attacker there must hold each address on the link.
//! - Unique-local and link-local IPv6: the /64.
//! - Loopback: the whole address, port included, so many nodes on one
//!   host are not limited (a local test network).

use crate::peers::{scope, Scope};
use std::net::{IpAddr, SocketAddr};

/// The group of an address, as bytes to hash: a tag, the prefix, and (for
/// loopback) the port.
pub fn group(a: SocketAddr) -> [u8; 19] {
    let mut g = [0u8; 19];
    let ip = a.ip().to_canonical();
    let (tag, bytes, keep): (u8, [u8; 16], usize) = match (scope(ip), ip) {
        (Scope::Loopback, IpAddr::V4(v4)) => (1, v4.to_ipv6_mapped().octets(), 16),
        (Scope::Loopback, IpAddr::V6(v6)) => (1, v6.octets(), 16),
        (Scope::Private, IpAddr::V4(v4)) => (2, v4.to_ipv6_mapped().octets(), 12 + 3),
        (Scope::Private, IpAddr::V6(v6)) => (3, v6.octets(), 8),
        (Scope::Global, IpAddr::V4(v4)) => (4, v4.to_ipv6_mapped().octets(), 12 + 2),
        (Scope::Global, IpAddr::V6(v6)) => (5, v6.octets(), 4),
    };
    g[0] = tag;
    g[1..1 + keep].copy_from_slice(&bytes[..keep]);
    if tag == 1 {
        g[17..].copy_from_slice(&a.port().to_le_bytes());
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> [u8; 19] {
        group(s.parse().unwrap())
    }

    #[test]
    fn groups_follow_the_prefixes() {
        assert_eq!(g("203.0.113.1:1"), g("203.0.7.9:2"), "one IPv4 /16");
        assert_ne!(g("203.0.113.1:1"), g("203.1.113.1:1"));
        assert_eq!(g("[2001:db8::1]:1"), g("[2001:db8:ffff::9]:1"), "one /32");
        assert_ne!(g("[2001:db8::1]:1"), g("[2001:db9::1]:1"));
        assert_eq!(g("10.1.2.3:1"), g("10.1.2.200:9"), "one private /24");
        assert_ne!(g("10.1.2.3:1"), g("10.1.3.3:1"));
        assert_eq!(g("[fd00::1]:1"), g("[fd00::2]:1"), "one ULA /64");
        assert_ne!(g("127.0.0.1:1618"), g("127.0.0.1:1619"), "loopback by port");
        assert_ne!(g("[::ffff:203.0.113.1]:1"), g("[2001:db8::1]:1"));
        assert_eq!(
            g("[::ffff:203.0.113.1]:1"),
            g("203.0.200.1:5"),
            "v4-mapped is IPv4"
        );
    }
}
