//! Candidates (docs/protocol.md 5.3): addresses a node may ask to become
//! peers, but that have not proved they receive datagrams there. Edges
//! (given by the operator) are asked forever, with backoff; an address
//! learned from a PEER message, or remembered from an earlier run, gets at
//! most [`LEARNED_TRIES`] GETPEERs. A candidate enters the peer table only
//! when its PEER answer validates it.

use crate::peers::NEVER;
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
    /// The epoch of the last GETPEER ([`NEVER`] before the first).
    pub asked: u64,
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
            asked: NEVER,
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
            c.asked = now;
            c.next = now.saturating_add(ping << backoff);
            return Some(c.addr);
        }
        None
    }

    /// Asks every candidate again at `now` (an application that wants
    /// peers soon), but none asked within the last `ping` epochs: its
    /// answer may be on its way, and a node refuses a second cookie that
    /// soon (docs/protocol.md 5.3), which would spend a learned
    /// candidate's last try.
    pub(crate) fn hurry(&mut self, now: u64, ping: u64) {
        for c in &mut self.list {
            if c.asked == NEVER || now.saturating_sub(c.asked) >= ping {
                c.next = c.next.min(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hurry_skips_a_candidate_asked_within_ping() {
        let a = SocketAddr::from(([203, 0, 113, 1], 1618));
        let b = SocketAddr::from(([203, 0, 113, 2], 1618));
        let mut c = Candidates::new(8);
        c.add(a, false, 0);
        // a is asked at 0, its retry due at 2000.
        assert_eq!(c.next_due(0, 2000), Some(a), "a is asked");
        c.add(b, false, 10);
        c.hurry(100, 719);
        // b was never asked and goes now; a's answer may be on its way.
        assert_eq!(c.next_due(100, 2000), Some(b));
        assert_eq!(c.next_due(100, 2000), None, "a waits for its retry");
        // Past PING, a hurry brings a's retry forward.
        c.hurry(800, 719);
        assert_eq!(c.next_due(800, 2000), Some(a));
    }
}
