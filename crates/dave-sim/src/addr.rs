//! The address plan: where nodes, hostile senders, the forged sources of
//! hostile packets and the phantom peers they advertise live, and the ids
//! that name them in the event log.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The port every simulated address uses.
pub(crate) const PORT: u16 = 1618;

// The address plan. Everything is in 10/8, so the scope rule of
// docs/protocol.md 5.6 lets nodes pass each other's addresses on, as on one
// private network. A private IPv4 address's group is its /24, so every
// honest node gets a /24 of its own: node i is 10.(i / 256).(i % 256).1.
// Attackers either do too ("spread", one group each), or share four /24s
// of 10.240/16 ("clustered"), or all sit in one IPv6 /64 ("v6"), the
// unique-local fd64::/64: a unique-local address's group is its /64 (a
// global one's its /32, which holds the /64 whole, so either way the /64
// is one group), and its private scope lets it and the honest IPv4 nodes
// pass each other's addresses on. Hostile senders, their forged sources
// and the phantoms they name live in 10.253-255/16.
//
// The simulator keys every address by a u32 (latency, the node index, the
// event log): an IPv4 address by itself, the v6 attacker fd64::k+1 by
// 10.241.(k / 256).(k % 256), a block no IPv4 address of the plan uses.
pub(crate) const SPOOF_NET: u32 = 0x0afd_0000; // forged sources of hostile packets
pub(crate) const PHANTOM_NET: u32 = 0x0afe_0000; // advertised by hostile PEERs; never speaks
pub(crate) const HOSTILE_NET: u32 = 0x0aff_0000; // the hostile senders themselves
const CLUSTER_NET: u32 = 0x0af0_0000; // 10.240.g.h: clustered attackers
pub(crate) const V6_NET: u32 = 0x0af1_0000; // the key of v6 attacker k is V6_NET | k
/// The /64 of the v6 attackers (its first four segments).
const V6_PREFIX: [u16; 4] = [0xfd64, 0, 0, 0];
/// Most v6 attackers (the keys of one /16).
pub(crate) const MAX_V6: usize = 0xffff;
/// Groups clustered attackers share.
pub(crate) const CLUSTERS: u32 = 4;
/// Most nodes a simulation can hold (node addresses stop below 10.240/16).
pub(crate) const MAX_NODES: usize = 240 * 256;
/// Most clustered attackers (254 hosts in each of the four /24s).
pub(crate) const MAX_CLUSTERED: usize = (CLUSTERS * 254) as usize;

// Ids in the event log: nodes are their index; the rest are tagged.
pub(crate) const ID_HOSTILE: u32 = 0x4000_0000;
pub(crate) const ID_PHANTOM: u32 = 0x2000_0000;
pub(crate) const ID_SPOOF: u32 = 0x1000_0000;
pub(crate) const ID_NONE: u32 = u32::MAX;

/// The key of an address: an IPv4 address itself; a v6 attacker's its
/// place in V6_NET; 0 for any other IPv6 address.
pub(crate) fn ip_of(a: SocketAddr) -> u32 {
    match a.ip() {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return u32::from(v4);
            }
            let s = v6.segments();
            let k = (u64::from(s[4]) << 48 | u64::from(s[5]) << 32)
                | (u64::from(s[6]) << 16 | u64::from(s[7]));
            if s[..4] == V6_PREFIX && (1..=MAX_V6 as u64).contains(&k) {
                V6_NET | (k - 1) as u32
            } else {
                0
            }
        }
    }
}

pub(crate) fn addr_of(ip: u32) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(ip), PORT))
}

/// The address of node `i` in its own /24.
pub(crate) fn node_addr(i: usize) -> SocketAddr {
    addr_of(0x0a00_0001 | ((i as u32 >> 8) & 0xff) << 16 | (i as u32 & 0xff) << 8)
}

/// The address of the `k`-th clustered attacker: four /24s of 10.240/16.
pub(crate) fn clustered_addr(k: usize) -> SocketAddr {
    let k = k as u32;
    addr_of(CLUSTER_NET | (k % CLUSTERS) << 8 | (k / CLUSTERS + 1))
}

/// The address of the `k`-th v6 attacker: fd64::k+1, all in one /64.
pub(crate) fn v6_addr(k: usize) -> SocketAddr {
    assert!(k < MAX_V6, "v6 attacker {k} outside the plan");
    let [a, b, c, d] = V6_PREFIX;
    let k = k as u64 + 1;
    let ip = Ipv6Addr::new(a, b, c, d, 0, 0, (k >> 16) as u16, k as u16);
    SocketAddr::from((ip, PORT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dave_core::group;

    #[test]
    fn v6_attackers_share_one_group_and_keep_distinct_keys() {
        let g = group(v6_addr(0));
        let mut keys = std::collections::HashSet::new();
        for k in [0, 1, 255, 256, 4097, MAX_V6 - 1] {
            let a = v6_addr(k);
            assert!(a.is_ipv6(), "{a}");
            assert_eq!(group(a), g, "{a} is outside the attackers' group");
            assert_eq!(ip_of(a), V6_NET | k as u32, "{a}");
            assert!(keys.insert(ip_of(a)));
        }
        // Distinct from every IPv4 address of the plan, and from other
        // IPv6 addresses (which have no key).
        assert_ne!(ip_of(node_addr(MAX_NODES - 1)) & 0xffff_0000, V6_NET);
        assert_ne!(
            ip_of(clustered_addr(MAX_CLUSTERED - 1)) & 0xffff_0000,
            V6_NET
        );
        assert_ne!(group(node_addr(0)), g);
        assert_eq!(ip_of("[fd64::1:0:0:1]:1618".parse().unwrap()), 0);
        assert_eq!(ip_of("[fd65::1]:1618".parse().unwrap()), 0);
    }
}
