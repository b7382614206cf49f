//! The address plan: where nodes, hostile senders, the forged sources of
//! hostile packets and the phantom peers they advertise live, and the ids
//! that name them in the event log.

use std::net::{Ipv4Addr, SocketAddr};

/// The port every simulated address uses.
pub(crate) const PORT: u16 = 1618;

// The address plan. Everything is in 10/8, so the scope rule of docs/protocol.md
// 5.4 lets nodes pass each other's addresses on, as on one private network.
pub(crate) const NODE_BASE: u32 = 0x0a00_0001; // node i is 10.0.0.1 + i
pub(crate) const SPOOF_NET: u32 = 0x0afd_0000; // forged sources of hostile packets
pub(crate) const PHANTOM_NET: u32 = 0x0afe_0000; // advertised by hostile PEERs; never speaks
pub(crate) const HOSTILE_NET: u32 = 0x0aff_0000; // the hostile senders themselves
/// Most nodes a simulation can hold (node addresses stop below 10.253/16).
pub(crate) const MAX_NODES: usize = (SPOOF_NET - NODE_BASE) as usize;

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

/// The address of node `i`.
pub(crate) fn node_addr(i: usize) -> SocketAddr {
    addr_of(NODE_BASE + i as u32)
}
