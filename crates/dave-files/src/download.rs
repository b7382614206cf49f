//! Reading a file from the network: [`Download`] feeds a [`Fetch`] with
//! GETs spread over the node's live peers, driven one step at a time.

use crate::fetch::{Fetch, FetchError, FileInfo, Progress, RootRef, Sink, Want};
use crate::lanes::{smooth, try_timeout, Lanes, NetStats, Pace, DEFAULT_WINDOW, OUTBOX_BUDGET};
use crate::layout::DEFAULT_MAX_LEN;
use dave_core::{Event, GetError, GetId, GetOpts, Node, MAX_FANOUT};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Options of a [`Download`].
#[derive(Clone, Copy, Debug)]
pub struct DownloadOpts {
    /// Most GETs in flight at once (the node's `max_gets` must allow it).
    pub window: usize,
    /// Give up after this long without a new dat.
    pub stall: Duration,
    /// Refuse files longer than this.
    pub max_len: u64,
    /// Pacing per peer.
    pub pace: Pace,
}

impl Default for DownloadOpts {
    fn default() -> Self {
        DownloadOpts {
            window: DEFAULT_WINDOW,
            stall: Duration::from_secs(5),
            max_len: DEFAULT_MAX_LEN,
            pace: Pace::default(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Flight {
    want: Want,
    lane: usize,
    sent: Instant,
    tried: u64,
}

/// Reads a file from the network: a [`Fetch`] fed by GETs spread over the
/// node's live peers, a window of them in flight, each retried on another
/// peer when it times out.
pub struct Download {
    fetch: Fetch,
    opts: DownloadOpts,
    lanes: Lanes,
    flights: HashMap<GetId, Flight>,
    /// Wants to ask again, with the peers already tried and when.
    retries: VecDeque<(Want, u64, Instant)>,
    srtt: Duration,
    last_progress: Option<Instant>,
    stats: NetStats,
}

impl Download {
    /// A download of the file at `root`.
    pub fn new(root: RootRef, opts: DownloadOpts) -> Download {
        Download {
            fetch: Fetch::new(root, opts.max_len),
            opts,
            lanes: Lanes::default(),
            flights: HashMap::new(),
            retries: VecDeque::new(),
            srtt: Duration::from_millis(30),
            last_progress: None,
            stats: NetStats::default(),
        }
    }

    /// What the root said, once it is in.
    pub fn info(&self) -> Option<&FileInfo> {
        self.fetch.info()
    }

    /// How far it has come.
    pub fn progress(&self) -> Progress {
        self.fetch.progress()
    }

    /// Request counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// GETs in flight.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    /// Live peers in use.
    pub fn peers(&self) -> usize {
        self.lanes.live()
    }

    /// True when every dat is in and verified.
    pub fn is_complete(&self) -> bool {
        self.fetch.is_complete()
    }

    /// Sends what may be sent now; fails when nothing arrived for the
    /// stall time.
    pub fn step(&mut self, node: &mut Node, now: Instant) -> Result<(), FetchError> {
        let since = *self.last_progress.get_or_insert(now);
        if self.is_complete() {
            return Ok(());
        }
        if now.duration_since(since) > self.opts.stall {
            return Err(self.stalled(now));
        }
        let (ready, timeout_epochs) = self.lanes.ready(node, now, self.opts.window, self.srtt);
        for li in ready {
            if self.flights.len() >= self.opts.window || node.transmit_len() >= OUTBOX_BUDGET {
                break;
            }
            let lane = self.lanes.lanes[li];
            let bit = 1u64 << li;
            // Retries first, on a peer not yet tried for them.
            let pos = self
                .retries
                .iter()
                .take(64)
                .position(|(_, tried, at)| *at <= now && tried & bit == 0);
            let (want, tried) = match pos.and_then(|p| self.retries.remove(p)) {
                Some((w, t, _)) => (w, t),
                None => match self.fetch.next_want() {
                    Some(w) => (w, 0),
                    None => continue,
                },
            };
            let opts = GetOpts {
                timeout_epochs,
                network_only: false,
                avoid: [None; MAX_FANOUT],
            };
            match node.get_to(want.query, opts, lane.addr) {
                Ok(id) => {
                    self.stats.gets += 1;
                    self.flights.insert(
                        id,
                        Flight {
                            want,
                            lane: li,
                            sent: now,
                            tried: tried | bit,
                        },
                    );
                    self.lanes.lanes[li].sent(now, self.opts.pace);
                }
                Err(GetError::Busy) => {
                    self.retries.push_front((want, tried, now));
                    break;
                }
            }
        }
        Ok(())
    }

    fn stalled(&self, now: Instant) -> FetchError {
        let since = self.last_progress.unwrap_or(now);
        let example = self
            .flights
            .values()
            .map(|f| f.want)
            .chain(self.retries.iter().map(|r| r.0))
            .find(|w| w.level != u8::MAX)
            .and_then(|w| {
                self.fetch
                    .waiting
                    .get(&(w.key, w.level))
                    .map(|p| self.fetch.piece(&w.key, p[0]))
            });
        FetchError::Stalled {
            missing: self.fetch.missing(),
            secs: now.duration_since(since).as_secs_f64(),
            peers: self.lanes.live_addrs(),
            example,
        }
    }

    /// Takes a node event. Returns `Ok(false)` when the event belongs to
    /// someone else (pass it on), `Ok(true)` when it was this download's.
    pub fn on_event(
        &mut self,
        node: &Node,
        ev: &Event,
        sink: &mut dyn Sink,
        now: Instant,
    ) -> Result<bool, FetchError> {
        match *ev {
            Event::Got { id, work, from } => {
                let Some(f) = self.flights.remove(&id) else {
                    return Ok(false);
                };
                let lane = &mut self.lanes.lanes[f.lane];
                let rtt = now.duration_since(f.sent);
                match from {
                    Some(_) => {
                        lane.answered(now, rtt, self.opts.pace);
                        self.stats.answered += 1;
                        smooth(&mut self.srtt, rtt);
                    }
                    None => {
                        // Answered from the node's own store: nothing was
                        // sent, so nothing to pace; the lane may go at once.
                        lane.inflight -= 1;
                        lane.ready = lane.ready.min(now);
                        self.stats.local += 1;
                    }
                }
                let Some(m) = node.dat_by_work(&work) else {
                    // Pruned from the node's store before we read it: ask again.
                    self.fetch.retry(&f.want);
                    return Ok(true);
                };
                let n = self.fetch.deliver(&f.want, &m, sink)?;
                if n > 0 {
                    self.last_progress = Some(now);
                }
                Ok(true)
            }
            Event::TimedOut { id } => {
                let Some(f) = self.flights.remove(&id) else {
                    return Ok(false);
                };
                self.stats.timeouts += 1;
                self.lanes.lanes[f.lane].timed_out();
                // Every live peer tried: wait for gossip, then start over.
                let live = self.lanes.live_mask();
                if live & !f.tried == 0 {
                    let at = now + try_timeout(self.srtt) * 4;
                    self.retries.push_back((f.want, 0, at));
                } else {
                    self.retries.push_front((f.want, f.tried, now));
                }
                Ok(true)
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
