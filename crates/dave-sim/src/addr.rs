//! The address plan: where nodes, hostile senders, the forged sources of
//! hostile packets and the phantom peers they advertise live, and the ids
//! that name them in the event log.

use std::net::{Ipv4Addr, SocketAddr};

/// The port every simulated address uses.
pub(crate) const PORT: u16 = 1618;

// The address plan. Everything is in 10/8, so the scope rule of
// docs/protocol.md 5.6 lets nodes pass each other's addresses on, as on one
// private network. A private IPv4 address's group is its /24, so every
// honest node gets a /24 of its own: node i is 10.(i / 256).(i % 256).1.
// Attackers either do too ("spread", one group each), or share four /24s
// of 10.240/16 ("clustered"). Hostile senders, their forged sources and
// the phantoms they name live in 10.253-255/16.
pub(crate) const SPOOF_NET: u32 = 0x0afd_0000; // forged sources of hostile packets
pub(crate) const PHANTOM_NET: u32 = 0x0afe_0000; // advertised by hostile PEERs; never speaks
pub(crate) const HOSTILE_NET: u32 = 0x0aff_0000; // the hostile senders themselves
const CLUSTER_NET: u32 = 0x0af0_0000; // 10.240.g.h: clustered attackers
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

pub(crate) fn ip_of(a: SocketAddr) -> u32 {
    match a.ip() {
        std::net::IpAddr::V4(v4) => u32::from(v4),
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(0, u32::from),
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
