//! Writing a file's dats to the network: [`Upload`] sends each to several
//! live peers, paced per peer, and asks one of them for it back, driven one
//! step at a time.

use crate::lanes::{smooth, Lanes, NetStats, Pace, DEFAULT_WINDOW, OUTBOX_BUDGET};
use dave_core::{Dat, Event, GetError, GetId, GetOpts, Node, PutError, Query, Reason, MAX_FANOUT};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Options of an [`Upload`].
#[derive(Clone, Copy, Debug)]
pub struct UploadOpts {
    /// Peers each dat is sent to (one of them is asked for it back).
    pub replicas: usize,
    /// Most confirmation GETs in flight.
    pub window: usize,
    /// Give up after this long without a new confirmation.
    pub stall: Duration,
    /// Pacing per peer.
    pub pace: Pace,
}

impl Default for UploadOpts {
    fn default() -> Self {
        UploadOpts {
            replicas: 2,
            window: DEFAULT_WINDOW,
            stall: Duration::from_secs(5),
            pace: Pace::default(),
        }
    }
}

/// Why an upload failed.
#[derive(Debug)]
pub enum UploadError {
    /// Confirmations stopped coming.
    Stalled {
        /// Dats not confirmed.
        missing: usize,
        /// Seconds without progress.
        secs: f64,
        /// Live peers.
        peers: Vec<SocketAddr>,
    },
    /// The node refused one of our own dats (a bug, or a clock far off).
    Refused(String),
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::Stalled {
                missing,
                secs,
                peers,
            } => {
                let list: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
                write!(
                    f,
                    "{missing} dats not confirmed after {secs:.1} s without progress (peers: {})",
                    if list.is_empty() {
                        "none answering".to_string()
                    } else {
                        list.join(", ")
                    }
                )
            }
            UploadError::Refused(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for UploadError {}

#[derive(Clone, Copy, Debug, Default)]
struct DatState {
    /// Lanes it was sent to (bit per lane).
    sent: u64,
    confirmed: bool,
    tries: u32,
}

/// Writes dats to the network: each is sent to `replicas` live peers,
/// paced per peer, and one of them is asked for it back (a GET that only
/// the network may answer); a dat not returned in time is sent again.
/// Dats may be added while it runs (as their proofs of work finish).
pub struct Upload {
    opts: UploadOpts,
    dats: Vec<Option<Dat>>,
    state: Vec<DatState>,
    /// Dats waiting for a copy that one peer is then asked for back: the
    /// first copy, or a re-send after a confirmation timed out.
    push: VecDeque<usize>,
    /// Further copies (`replicas - 1` per dat), sent when `push` has
    /// nothing for a peer; dropped once every live peer has the dat.
    extra: VecDeque<usize>,
    flights: HashMap<GetId, (usize, usize, Instant)>,
    lanes: Lanes,
    srtt: Duration,
    confirmed: usize,
    bytes_confirmed: u64,
    last_progress: Option<Instant>,
    stats: NetStats,
}

impl Upload {
    /// An upload of `total` dats, added with [`Upload::add`].
    pub fn new(total: usize, opts: UploadOpts) -> Upload {
        Upload {
            opts,
            dats: vec![None; total],
            state: vec![DatState::default(); total],
            push: VecDeque::new(),
            extra: VecDeque::new(),
            flights: HashMap::new(),
            lanes: Lanes::default(),
            srtt: Duration::from_millis(30),
            confirmed: 0,
            bytes_confirmed: 0,
            last_progress: None,
            stats: NetStats::default(),
        }
    }

    /// Adds dat `i` (in any order).
    pub fn add(&mut self, i: usize, dat: Dat) {
        if self.dats[i].is_none() {
            self.dats[i] = Some(dat);
            self.push.push_back(i);
            for _ in 1..self.opts.replicas {
                self.extra.push_back(i);
            }
        }
    }

    /// Dats confirmed.
    pub fn confirmed(&self) -> usize {
        self.confirmed
    }

    /// Value bytes confirmed.
    pub fn bytes_confirmed(&self) -> u64 {
        self.bytes_confirmed
    }

    /// True when every dat was added, confirmed by one peer, and sent to
    /// as many as `replicas` (or every live peer, if fewer).
    pub fn is_complete(&self) -> bool {
        self.confirmed == self.dats.len() && self.extra.is_empty()
    }

    /// Request counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Live peers in use.
    pub fn peers(&self) -> usize {
        self.lanes.live()
    }

    /// Sends what may be sent now.
    pub fn step(&mut self, node: &mut Node, now: Instant) -> Result<(), UploadError> {
        let since = *self.last_progress.get_or_insert(now);
        if self.is_complete() {
            return Ok(());
        }
        let outstanding =
            !self.flights.is_empty() || !self.push.is_empty() || !self.extra.is_empty();
        if !outstanding {
            // Waiting for proofs of work, not for the network.
            self.last_progress = Some(now);
        } else if now.duration_since(since) > self.opts.stall {
            return Err(UploadError::Stalled {
                missing: self.dats.len() - self.confirmed,
                secs: now.duration_since(since).as_secs_f64(),
                peers: self.lanes.live_addrs(),
            });
        }
        let (ready, timeout_epochs) = self.lanes.ready(node, now, self.opts.window, self.srtt);
        for li in ready {
            if node.transmit_len() >= OUTBOX_BUDGET || self.flights.len() >= self.opts.window {
                break;
            }
            let lane = self.lanes.lanes[li];
            let bit = 1u64 << li;
            let Some(i) = self.next_push(bit) else {
                continue;
            };
            let Some(dat) = self.dats[i].as_ref() else {
                continue; // only added dats are queued
            };
            let time = dat.time_ms.to_le_bytes();
            match node.put_to(&dat.msg(&time), &[lane.addr]) {
                Ok(_) => self.stats.puts += 1,
                // The node holds a newer dat of this name: the same content
                // (the name is its hash), uploaded again meanwhile. Asking
                // for it back confirms it as well.
                Err(PutError::Invalid(Reason::Stale)) => {}
                Err(e) => return Err(UploadError::Refused(format!("our own dat: {e}"))),
            }
            self.state[i].sent |= bit;
            // Asked back at once: a peer reads its datagrams in order, so
            // the GET finds the PUT stored (they are different ops, so its
            // filter passes both), and the answer clocks the next pair.
            let Some(q) = Query::name(dat.pubkey, &dat.key) else {
                continue; // a file's dats have 32-byte keys
            };
            let opts = GetOpts {
                timeout_epochs,
                network_only: true,
                avoid: [None; MAX_FANOUT],
            };
            match node.get_to(q, opts, lane.addr) {
                Ok(id) => {
                    self.stats.gets += 1;
                    self.flights.insert(id, (i, li, now));
                    self.lanes.lanes[li].sent(now, self.opts.pace);
                }
                Err(GetError::Busy) => {
                    self.push.push_front(i);
                    break;
                }
            }
        }
        Ok(())
    }

    /// The next dat to send to the peer of lane bit `bit`: the first queued
    /// dat this peer does not have yet, else an extra copy.
    fn next_push(&mut self, bit: u64) -> Option<usize> {
        let live = self.lanes.live_mask();
        let mut k = 0;
        while k < self.push.len().min(32) {
            let i = self.push[k];
            if self.state[i].confirmed {
                // A late confirmation beat the re-send: nothing to do.
                self.push.remove(k);
                continue;
            }
            if self.state[i].sent & live == live {
                // Every live peer was sent it: any may be sent it again.
                self.state[i].sent = 0;
            }
            if self.state[i].sent & bit == 0 {
                self.push.remove(k);
                return Some(i);
            }
            k += 1;
        }
        let mut k = 0;
        while k < self.extra.len().min(32) {
            let i = self.extra[k];
            if self.state[i].sent & live == live {
                self.extra.remove(k);
                continue;
            }
            if self.state[i].sent & bit == 0 {
                self.extra.remove(k);
                return Some(i);
            }
            k += 1;
        }
        None
    }

    /// Takes a node event; `false` when it belongs to someone else.
    pub fn on_event(&mut self, ev: &Event, now: Instant) -> bool {
        match *ev {
            Event::Got { id, from, .. } => {
                let Some((i, li, sent)) = self.flights.remove(&id) else {
                    return false;
                };
                self.stats.answered += 1;
                let rtt = now.duration_since(sent);
                if from.is_some() {
                    smooth(&mut self.srtt, rtt);
                }
                self.lanes.lanes[li].answered(now, rtt, self.opts.pace);
                let s = &mut self.state[i];
                if !s.confirmed {
                    s.confirmed = true;
                    self.confirmed += 1;
                    self.bytes_confirmed += self.dats[i].as_ref().map_or(0, |d| d.val.len()) as u64;
                    self.last_progress = Some(now);
                }
                true
            }
            Event::TimedOut { id } => {
                let Some((i, li, _)) = self.flights.remove(&id) else {
                    return false;
                };
                self.stats.timeouts += 1;
                self.lanes.lanes[li].timed_out();
                let s = &mut self.state[i];
                if s.confirmed {
                    // Another copy was confirmed already.
                    return true;
                }
                s.tries += 1;
                // Lost on the way, or dropped by a busy peer: send it again,
                // to the same peer once, then to any other.
                s.sent &= !(1u64 << li);
                if s.tries >= 2 {
                    s.sent |= 1u64 << li;
                }
                self.push.push_front(i);
                true
            }
        }
    }

    /// Abandons the GETs still in flight.
    pub fn cancel(&mut self, node: &mut Node) {
        for id in self.flights.keys() {
            node.cancel(*id);
        }
        self.flights.clear();
    }
}
