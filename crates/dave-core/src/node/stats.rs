//! A node's counters.

use super::*;

/// Counters. Cheap to copy; drivers diff two copies to get rates.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Datagrams handled.
    pub packets_in: u64,
    /// Bytes handled.
    pub bytes_in: u64,
    /// Datagrams queued for sending.
    pub packets_out: u64,
    /// Bytes queued for sending.
    pub bytes_out: u64,
    /// Accepted datagrams by op.
    pub in_by_op: PerOp,
    /// Queued datagrams by op.
    pub out_by_op: PerOp,
    /// Drops by [`Reason`] (index order of [`Reason::all`]).
    pub drops: [u64; REASONS],
    /// PUTs for dats already held.
    pub puts_known: u64,
    /// Novel PUTs (new names and replacements).
    pub puts_novel: u64,
    /// GETs answered.
    pub gets_answered: u64,
    /// Packets whose filter insert evicted another key (the filter is saturated).
    pub filter_saturated: u64,
    /// Sends dropped because the outbox was full.
    pub outbox_full: u64,
    /// Peers added.
    pub peers_added: u64,
    /// Peers that lost their slot to a newcomer (docs/protocol.md 5.4).
    pub peers_evicted: u64,
    /// Peers dropped for silence.
    pub peers_dropped: u64,
    /// Validated newcomers not added: their slot was held by an occupant
    /// they do not displace, or their group held its share (docs/protocol.md
    /// 5.4).
    pub peers_full: u64,
    /// Peer descriptors refused (self, scope, or already known).
    pub pds_refused: u64,
    /// Dats removed by pruning.
    pub dats_pruned: u64,
    /// Epochs skipped because the driver fell too far behind.
    pub epochs_skipped: u64,
    /// Application events lost because nobody drained them.
    pub events_lost: u64,
    /// Datagrams whose token validated their source.
    pub validated_in: u64,
    /// Replies to unvalidated addresses not sent because the budget for
    /// them was spent.
    pub reply_budget: u64,
    /// Fresh dats pushed (docs/protocol.md 5.5).
    pub pushes: u64,
    /// Random stored dats seeded (anti-entropy).
    pub seeds: u64,
    /// Fresh dats that left the full ring with pushes still to make.
    pub ring_evicted: u64,
    /// Push slots with a fresh dat but no eligible peer besides its source.
    pub push_no_peer: u64,
    /// Validated answers to our pulls and GETs credited with PULL_CREDIT.
    pub pull_credits: u64,
    /// GETPEERs sent for peer exchange (not for silence or a stale token).
    pub exchanges: u64,
    /// Replies to unproven addresses refused because their group had
    /// spent its share of the budget (`reply_budget` counts those refused
    /// because the whole budget was spent).
    pub reply_share: u64,
    /// Replies to unproven addresses refused because the address had its
    /// REPLY_REPEATS cookies lately, or asked again too soon after a
    /// refusal.
    pub reply_repeat: u64,
}

impl Stats {
    /// The count for one reason.
    pub fn drop_count(&self, r: Reason) -> u64 {
        self.drops[r.index()]
    }

    /// All drops together.
    pub fn drops_total(&self) -> u64 {
        self.drops.iter().sum()
    }
}
