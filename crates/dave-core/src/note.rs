//! What a node did, for its log: the core records [`Note`]s in a fixed
//! queue and never calls a logger itself (a logger reads the clock, formats
//! and writes). The daemon drains them after each batch of work and writes
//! the `/fn/proc/action` lines (docs/operating.md, Logs).

use crate::reason::Reason;
use crate::wire::EncodeError;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Notes kept between two drains; more are counted as lost.
pub const NOTE_SLOTS: usize = 256;

/// One thing a node did that an operator may want to see.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Note {
    /// A prune ran (always noted): dats kept of dats held, the cap, and the
    /// peer table's size.
    Pruned {
        /// Dats kept.
        kept: usize,
        /// Dats held before.
        before: usize,
        /// DAT_CAP.
        cap: usize,
        /// Peers in the table.
        peers: usize,
    },
    /// A packet was dropped (per event; `Config::notes` only).
    Dropped {
        /// Why.
        reason: Reason,
        /// From whom.
        src: SocketAddr,
        /// Its size.
        bytes: usize,
    },
    /// A message could not be encoded (per event; `Config::notes` only).
    EncodeFailed(EncodeError),
    /// A peer was pinged (per event; `Config::notes` only).
    Pinged(SocketAddr),
    /// A peer was dropped for silence (per event; `Config::notes` only).
    PeerDropped {
        /// The peer.
        addr: SocketAddr,
        /// Epochs it was silent.
        silence: u64,
    },
    /// A peer entered the table because it sent us something (per event;
    /// `Config::notes` only).
    PeerAdded(SocketAddr),
    /// A peer entered the table from a PEER message (per event;
    /// `Config::notes` only).
    PeerLearned {
        /// The new peer.
        addr: SocketAddr,
        /// Who named it.
        from: SocketAddr,
    },
    /// The application's PUT went out (per event; `Config::notes` only).
    Put {
        /// Its work hash.
        work: [u8; 32],
        /// To how many peers.
        peers: usize,
    },
    /// A novel dat arrived (per event; `Config::notes` only).
    Novel {
        /// Its work hash.
        work: [u8; 32],
        /// Its difficulty.
        difficulty: u8,
        /// Its value's length.
        val_len: usize,
        /// Who sent it.
        from: SocketAddr,
    },
}

impl Note {
    /// True for the notes recorded only when `Config::notes` is set.
    pub fn per_event(&self) -> bool {
        !matches!(self, Note::Pruned { .. })
    }
}

/// A bounded queue of notes, allocated once.
pub(crate) struct Notes {
    q: VecDeque<Note>,
    /// Record per-event notes too.
    per_event: bool,
    lost: u64,
}

impl Notes {
    pub(crate) fn new(per_event: bool) -> Notes {
        Notes {
            q: VecDeque::with_capacity(NOTE_SLOTS),
            per_event,
            lost: 0,
        }
    }

    /// Records `n`; when full the newest is lost and counted.
    pub(crate) fn push(&mut self, n: Note) {
        if self.q.len() < NOTE_SLOTS {
            self.q.push_back(n);
        } else {
            self.lost += 1;
        }
    }

    /// Records a per-event note, built only when such notes are wanted: a
    /// node without them pays one branch.
    #[inline]
    pub(crate) fn event(&mut self, n: impl FnOnce() -> Note) {
        if self.per_event {
            self.push(n());
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Note> {
        self.q.pop_front()
    }

    pub(crate) fn lost(&self) -> u64 {
        self.lost
    }

    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }
}
