//! What uploads and downloads share: the node's live peers a transfer
//! spreads its requests over ([`Lanes`]), the pacing of requests to each
//! ([`Pace`]), per-try timeouts, and the request counters ([`NetStats`]).

use dave_core::{Node, NEVER};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Pacing of requests to one peer.
///
/// A node reads its socket in bursts and its packet filter passes one PUT
/// and one GET per source in each burst: a second request that lands in
/// the same burst is dropped. Requests to a peer are therefore clocked by
/// its answers: the next one goes out when the last was answered (the
/// peer has read past it), or, when no answer comes (it did not have the
/// dat, or dropped the request), after twice the peer's smoothed round
/// trip, at least `least` and at most `most`. A peer that is slow to read
/// (busy, or short of CPU) is sent less, by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Least time between two requests to one peer.
    pub least: Duration,
    /// Most time between two requests to one peer (when answers are slow).
    pub most: Duration,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            least: Duration::from_micros(100),
            most: Duration::from_millis(20),
        }
    }
}

/// The most peers a transfer spreads over (a bit mask tracks who was tried).
pub const MAX_LANES: usize = 64;
/// A request is never sent while the node's outbox holds this many datagrams.
pub(crate) const OUTBOX_BUDGET: usize = 192;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Lane {
    pub(crate) addr: SocketAddr,
    live: bool,
    /// When the next request may go.
    pub(crate) ready: Instant,
    /// Smoothed round trip of this peer's answers.
    srtt: Duration,
    pub(crate) inflight: u32,
}

/// The live peers a transfer uses, with their pacing.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    pub(crate) lanes: Vec<Lane>,
    refreshed: Option<Instant>,
    turn: usize,
}

impl Lanes {
    /// Tracks the node's live peers: new ones join, silent ones pause.
    fn refresh(&mut self, node: &Node, now: Instant) {
        if self
            .refreshed
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(20))
        {
            return;
        }
        self.refreshed = Some(now);
        let epoch = node.epoch();
        // Heard from within 2 PING periods (as for application requests),
        // or within the last 2 seconds: a client starved of CPU for a
        // moment should not write its peers off; timeouts catch dead ones.
        let alive = (2 * node.config().ping_epochs).max(node.config().epochs_in_ms(2000));
        for l in &mut self.lanes {
            l.live = false;
        }
        for p in node.peers().iter() {
            let live = p.seen != NEVER && p.silence(epoch) < alive;
            match self.lanes.iter().position(|l| l.addr == p.addr) {
                Some(i) => self.lanes[i].live = live,
                None if live && self.lanes.len() < MAX_LANES => self.lanes.push(Lane {
                    addr: p.addr,
                    live,
                    ready: now,
                    srtt: Duration::from_millis(1),
                    inflight: 0,
                }),
                None => {}
            }
        }
    }

    pub(crate) fn live(&self) -> usize {
        self.lanes.iter().filter(|l| l.live).count()
    }

    pub(crate) fn live_mask(&self) -> u64 {
        self.lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.live)
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    pub(crate) fn live_addrs(&self) -> Vec<SocketAddr> {
        self.lanes
            .iter()
            .filter(|l| l.live)
            .map(|l| l.addr)
            .collect()
    }

    /// Lane indices in a rotating order, so no peer is always first.
    fn order(&mut self) -> impl Iterator<Item = usize> {
        let n = self.lanes.len();
        self.turn = self.turn.wrapping_add(1);
        let start = if n == 0 { 0 } else { self.turn % n };
        (0..n).map(move |k| (start + k) % n)
    }

    /// Refreshes the lanes, then lists, in rotating order, those that may
    /// be sent a request now: live, past their pacing, and below their
    /// share of `window`. Also the per-try GET timeout in epochs.
    pub(crate) fn ready(
        &mut self,
        node: &Node,
        now: Instant,
        window: usize,
        srtt: Duration,
    ) -> (Vec<usize>, u64) {
        self.refresh(node, now);
        let per_lane = (window.div_ceil(self.live().max(1)) + 2) as u32;
        let timeout = try_timeout(srtt);
        let timeout_epochs = node
            .config()
            .epochs_in_ms(timeout.as_millis().max(1) as u64);
        let mut ready: Vec<usize> = self.order().collect();
        ready.retain(|&li| {
            let l = &self.lanes[li];
            l.live && now >= l.ready && l.inflight < per_lane
        });
        (ready, timeout_epochs)
    }
}

/// Per-try timeout from the smoothed round trip: quick to move on to
/// another peer. A miss only means that peer lacks the dat (it answers
/// nothing then), and a late answer is not lost: the node stores it, and
/// the retry finds it in the node's own store.
pub(crate) fn try_timeout(srtt: Duration) -> Duration {
    (srtt * 8).clamp(Duration::from_millis(20), Duration::from_secs(2))
}

impl Lane {
    /// A request went out.
    pub(crate) fn sent(&mut self, now: Instant, pace: Pace) {
        self.inflight += 1;
        self.ready = now + (self.srtt * 2).clamp(pace.least, pace.most);
    }

    /// An answer came back after `rtt`: the peer has read past our last
    /// request, so the next may go at once.
    pub(crate) fn answered(&mut self, now: Instant, rtt: Duration, pace: Pace) {
        self.inflight -= 1;
        smooth(&mut self.srtt, rtt);
        self.ready = self.ready.min(now + pace.least);
    }

    /// A request timed out.
    pub(crate) fn timed_out(&mut self) {
        self.inflight -= 1;
    }
}

pub(crate) fn smooth(srtt: &mut Duration, sample: Duration) {
    *srtt = (*srtt * 7 + sample) / 8;
}

/// Default GETs in flight for a download, and confirmations for an upload.
pub const DEFAULT_WINDOW: usize = 128;

/// Counters of a transfer's requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// PUTs sent.
    pub puts: u64,
    /// GETs sent.
    pub gets: u64,
    /// GETs answered by a peer.
    pub answered: u64,
    /// GETs answered from the node's own store.
    pub local: u64,
    /// GETs that timed out (the peer did not have the dat, or a packet was lost).
    pub timeouts: u64,
}
