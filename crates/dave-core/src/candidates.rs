//! Candidates (docs/protocol.md 5.3): addresses a node may ask to become
//! peers, but that have not proved they receive datagrams there. Edges
//! (given by the operator) are asked forever, with backoff; an address
//! learned from a PEER message, or remembered from an earlier run, gets at
//! most [`LEARNED_TRIES`] GETPEERs. A candidate enters the peer table only
//! when its PEER answer validates it.

use std::net::SocketAddr;

/// GETPEERs a learned address gets before it is forgotten.
pub const LEARNED_TRIES: u8 = 2;
/// Longest wait between two GETPEERs to an edge, in PING periods (2^5).
const EDGE_BACKOFF_MAX: u8 = 5;

/// One candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Canonical address.
    pub addr: SocketAddr,
    /// Given by the operator.
    pub edge: bool,
    /// GETPEERs sent so far.
    pub tries: u8,
    /// The epoch of the next GETPEER.
    pub next: u64,
}

/// A bounded list of candidates, allocated once.
pub(crate) struct Candidates {
    list: Vec<Candidate>,
    max: usize,
}

impl Candidates {
    pub(crate) fn new(max: usize) -> Candidates {
        Candidates {
            list: Vec::with_capacity(max),
            max,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Candidate> {
        self.list.iter()
    }

    pub(crate) fn find(&self, a: SocketAddr) -> Option<usize> {
        self.list.iter().position(|c| c.addr == a)
    }

    /// Adds a candidate to ask at `now`; false when known or full (an edge
    /// takes the place of the oldest learned one when full).
    pub(crate) fn add(&mut self, addr: SocketAddr, edge: bool, now: u64) -> bool {
        if self.find(addr).is_some() {
            return false;
        }
        if self.list.len() >= self.max {
            match self.list.iter().position(|c| !c.edge) {
                Some(i) if edge => {
                    self.list.remove(i);
                }
                _ => return false,
            }
        }
        self.list.push(Candidate {
            addr,
            edge,
            tries: 0,
            next: now,
        });
        true
    }

    pub(crate) fn remove(&mut self, i: usize) -> Candidate {
        self.list.swap_remove(i)
    }

    /// The first candidate due at `now`, if any: marks its GETPEER sent and
    /// schedules the next (`ping` epochs later, doubling for an edge); a
    /// learned candidate past its tries is forgotten instead.
    pub(crate) fn next_due(&mut self, now: u64, ping: u64) -> Option<SocketAddr> {
        let mut i = 0;
        while i < self.list.len() {
            let c = &mut self.list[i];
            if c.next > now {
                i += 1;
                continue;
            }
            if !c.edge && c.tries >= LEARNED_TRIES {
                self.list.swap_remove(i);
                continue;
            }
            let backoff = if c.edge {
                c.tries.min(EDGE_BACKOFF_MAX)
            } else {
                0
            };
            c.tries = c.tries.saturating_add(1);
            c.next = now.saturating_add(ping << backoff);
            return Some(c.addr);
        }
        None
    }

    /// Asks every candidate again at `now` (an application that wants
    /// peers soon).
    pub(crate) fn hurry(&mut self, now: u64) {
        for c in &mut self.list {
            c.next = c.next.min(now);
        }
    }
}
