//! Application requests: PUTs of the application's own dats, GETs by work
//! or by name, and the events that answer them.

use super::*;

/// What an application GET asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// The dat with this work hash.
    Work([u8; 32]),
    /// The current dat of a name.
    Name {
        /// Owner.
        pubkey: [u8; 32],
        /// Key bytes (first `key_len` are meaningful).
        key: [u8; KEY_MAX],
        /// Key length.
        key_len: u8,
    },
}

impl Query {
    /// A query by a name whose key is 32 bytes (a file's pieces are named
    /// so): always fits.
    pub fn name32(pubkey: [u8; 32], key: &[u8; 32]) -> Query {
        Query::Name {
            pubkey,
            key: *key,
            key_len: 32,
        }
    }

    /// A query by name; `None` if the key is longer than 32 bytes.
    pub fn name(pubkey: [u8; 32], key: &[u8]) -> Option<Query> {
        if key.len() > KEY_MAX {
            return None;
        }
        let mut k = [0u8; KEY_MAX];
        k[..key.len()].copy_from_slice(key);
        Some(Query::Name {
            pubkey,
            key: k,
            key_len: key.len() as u8,
        })
    }
}

/// Options of an application GET.
#[derive(Clone, Copy, Debug)]
pub struct GetOpts {
    /// Give up after this many epochs.
    pub timeout_epochs: u64,
    /// Do not answer from the local store; only a dat arriving from the
    /// network satisfies the request (to confirm that others hold it).
    pub network_only: bool,
    /// Prefer peers other than these (used to ask someone new).
    pub avoid: [Option<SocketAddr>; MAX_FANOUT],
}

impl GetOpts {
    /// Plain options with a timeout.
    pub fn timeout(epochs: u64) -> GetOpts {
        GetOpts {
            timeout_epochs: epochs,
            network_only: false,
            avoid: [None; MAX_FANOUT],
        }
    }
}

/// Identifies an application GET.
pub type GetId = u64;

/// Results of application requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A GET found its dat; read it with [`Node::dat_by_work`].
    Got {
        /// Which request.
        id: GetId,
        /// Work hash of the dat found.
        work: [u8; 32],
        /// Who sent it (`None` when answered from the local store).
        from: Option<SocketAddr>,
    },
    /// A GET ran out of time.
    TimedOut {
        /// Which request.
        id: GetId,
    },
}

/// Why an application PUT was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutError {
    /// The dat fails a check; the reason says which.
    Invalid(Reason),
}

impl std::fmt::Display for PutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PutError::Invalid(r) => write!(f, "dat refused: {}", r.name()),
        }
    }
}

impl std::error::Error for PutError {}

/// Why an application GET could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetError {
    /// `Config::max_gets` requests are already in flight.
    Busy,
}

#[derive(Clone, Copy)]
pub(super) struct Pending {
    pub(super) id: GetId,
    pub(super) query: Query,
    pub(super) deadline: u64,
    pub(super) next_send: u64,
    pub(super) avoid: [Option<SocketAddr>; MAX_FANOUT],
    /// Ask only this peer (see [`Node::get_to`]).
    pub(super) to: Option<SocketAddr>,
}

impl Node {
    /// Peers an application request may go to now: those that answered
    /// recently; before any has, the edges.
    pub(super) fn app_targets(
        &mut self,
        avoid: &[Option<SocketAddr>],
    ) -> [Option<SocketAddr>; MAX_FANOUT] {
        let fanout = self.cfg.fanout.clamp(1, MAX_FANOUT);
        let now = self.epoch;
        let alive = 2 * self.cfg.ping_epochs;
        let mut out = [None; MAX_FANOUT];
        // First choice: live peers not avoided; then live avoided ones. Only
        // validated peers (a request never goes to an unproven address),
        // drawn uniformly (docs/protocol.md 5.5) without a scan.
        let mut got = 0;
        for pass in 0..2 {
            let mut picked = [0usize; MAX_FANOUT];
            let chosen = out;
            let rng = &mut self.rng;
            let n = self.peers.sample(
                || rng.next_u64(),
                |p| {
                    p.silence(now) < alive
                        && !chosen.contains(&Some(p.addr))
                        && (pass == 1 || !avoid.contains(&Some(p.addr)))
                },
                &mut picked[..fanout - got],
            );
            for &i in &picked[..n] {
                out[got] = Some(self.peers.get(i).addr);
                got += 1;
            }
            if got == fanout {
                break;
            }
        }
        out
    }

    /// Checks a PUT exactly as a received one is checked (everything but
    /// whether it is novel); returns its difficulty.
    pub fn check_put(&self, m: &Msg<'_>) -> Result<u8, Reason> {
        check_put(&Put::from_msg(m)?, self.now_ms, &self.cfg, true)
    }

    /// Stores a dat made by this node's application as novel and sends it to
    /// FANOUT peers at once. Returns its work hash; [`Node::last_sent`] says
    /// where it went.
    pub fn put(&mut self, m: &Msg<'_>) -> Result<[u8; 32], PutError> {
        let work = self.put_store(m)?;
        let targets = self.app_targets(&[]);
        self.put_send(work, targets.iter().flatten().copied());
        Ok(work)
    }

    /// Like [`Node::put`], but sends to the peers the caller chose (at most
    /// MAX_FANOUT; none stores without sending). A dat already held is
    /// simply sent again, so a caller can spread many dats over its peers
    /// at its own pace and re-send one that was lost.
    pub fn put_to(&mut self, m: &Msg<'_>, to: &[SocketAddr]) -> Result<[u8; 32], PutError> {
        let work = match <&[u8; 32]>::try_from(m.work) {
            Ok(w) if self.store.find_work(w).is_some() => *w,
            _ => self.put_store(m)?,
        };
        self.put_send(work, to.iter().take(MAX_FANOUT).map(|a| canonical(*a)));
        Ok(work)
    }

    pub(super) fn put_store(&mut self, m: &Msg<'_>) -> Result<[u8; 32], PutError> {
        let m = Put::from_msg(m).map_err(|e| PutError::Invalid(e.into()))?;
        let d = check_put(&m, self.now_ms, &self.cfg, true).map_err(PutError::Invalid)?;
        let work = *m.work;
        let now_ms = self.now_ms;
        match self.store.insert(&m, d, now_ms) {
            Insert::Stale => return Err(PutError::Invalid(Reason::Stale)),
            _ => self.novel(work, None),
        }
        Ok(work)
    }

    pub(super) fn put_send(&mut self, work: [u8; 32], to: impl Iterator<Item = SocketAddr>) {
        self.last_sent.clear();
        let Some(slot) = self.store.find_work(&work) else {
            return;
        };
        for to in to {
            self.last_sent.push(to);
            self.enqueue_dat(to, slot);
        }
        let peers = self.last_sent.len();
        self.notes.event(|| Note::Put { work, peers });
    }

    /// Loads a dat from storage (a backup file, or a restarted simulated
    /// node): checked exactly like a received PUT, stored without being
    /// sent anywhere, and not counted as novel. Stale dats are refused.
    pub fn restore(&mut self, m: &Msg<'_>) -> Result<[u8; 32], PutError> {
        self.restore_checked(m, true)
    }

    /// Like [`Node::restore`], for a dat whose signature the caller has
    /// already verified strictly (with [`check_put`]); everything else is
    /// checked again.
    pub fn restore_preverified(&mut self, m: &Msg<'_>) -> Result<[u8; 32], PutError> {
        self.restore_checked(m, false)
    }

    pub(super) fn restore_checked(&mut self, m: &Msg<'_>, sig: bool) -> Result<[u8; 32], PutError> {
        let m = Put::from_msg(m).map_err(|e| PutError::Invalid(e.into()))?;
        if self.store.find_work(m.work).is_some() {
            return Ok(*m.work);
        }
        let d = check_put(&m, self.now_ms, &self.cfg, sig).map_err(PutError::Invalid)?;
        let work = *m.work;
        let now_ms = self.now_ms;
        match self.store.insert(&m, d, now_ms) {
            Insert::Stale => Err(PutError::Invalid(Reason::Stale)),
            _ => Ok(work),
        }
    }

    /// Hands every novel dat since the last call to `f` (as its canonical
    /// PUT encoding), oldest first. Only with `Config::track_novel`; a dat
    /// pruned or replaced before the call is skipped (its successor is
    /// handed over in its turn).
    pub fn drain_novel(&mut self, mut f: impl FnMut(&[u8])) {
        for i in 0..self.novel_log.len() {
            if let Some(slot) = self.store.find_work(&self.novel_log[i]) {
                f(self.store.record(slot));
            }
        }
        self.novel_log.clear();
    }

    /// True (once) when more novel dats arrived between two drains than the
    /// log holds: the caller must save the whole store instead.
    pub fn take_novel_overflow(&mut self) -> bool {
        std::mem::take(&mut self.novel_overflow)
    }

    /// Adds a candidate to be asked for a handshake (a peer remembered
    /// from an earlier run): it enters the table only if it answers. False
    /// if it is known, is this node, or there is no room.
    pub fn add_peer(&mut self, a: SocketAddr) -> bool {
        let a = canonical(a);
        if self.is_self(a) || self.peers.find(a).is_some() {
            return false;
        }
        self.candidates.add(a, false, self.epoch)
    }

    /// Sends pending application GETs again at the next epoch (a first
    /// peer was just validated).
    pub(super) fn hurry_gets(&mut self) {
        let now = self.epoch;
        for g in &mut self.gets {
            g.next_send = g.next_send.min(now);
        }
    }

    /// Sends a GETPEER to every known peer now, as the node does for a
    /// silent one every PING epochs. A client that spreads a transfer over
    /// many peers calls it to meet them sooner: a busy edge is never
    /// silent, so it would otherwise be asked only once.
    pub fn ask_peers(&mut self) {
        for i in 0..self.peers.len() {
            self.ping(i);
        }
        self.candidates.hurry(self.epoch, self.cfg.ping_epochs);
    }

    /// Starts an application GET. Answered from the store at once when
    /// possible (unless `network_only`), otherwise sent to FANOUT peers now
    /// and again every few PULL periods until found or timed out.
    pub fn get(&mut self, query: Query, opts: GetOpts) -> Result<GetId, GetError> {
        self.get_from(query, opts, None)
    }

    /// Like [`Node::get`], but asks only `to` (now, and again every few PULL
    /// periods until the timeout). A caller that keeps many GETs open
    /// spreads them over its peers itself, and asks another peer after a
    /// timeout.
    pub fn get_to(
        &mut self,
        query: Query,
        opts: GetOpts,
        to: SocketAddr,
    ) -> Result<GetId, GetError> {
        self.get_from(query, opts, Some(canonical(to)))
    }

    pub(super) fn get_from(
        &mut self,
        query: Query,
        opts: GetOpts,
        to: Option<SocketAddr>,
    ) -> Result<GetId, GetError> {
        let id = self.next_get_id;
        if !opts.network_only {
            if let Some(slot) = self.lookup(&query) {
                self.next_get_id += 1;
                let work = self.store.meta(slot).work;
                self.push_event(Event::Got {
                    id,
                    work,
                    from: None,
                });
                return Ok(id);
            }
        }
        if self.gets.len() >= self.cfg.max_gets {
            return Err(GetError::Busy);
        }
        self.next_get_id += 1;
        let p = Pending {
            id,
            query,
            deadline: self.epoch.saturating_add(opts.timeout_epochs),
            next_send: self.epoch + GET_RESEND_PULLS * self.cfg.pull_epochs,
            avoid: opts.avoid,
            to,
        };
        self.gets.push(p);
        self.send_get(&p);
        Ok(id)
    }

    /// Abandons an application GET.
    pub fn cancel(&mut self, id: GetId) {
        self.gets.retain(|g| g.id != id);
    }

    pub(super) fn lookup(&self, q: &Query) -> Option<u32> {
        match q {
            Query::Work(w) => self.store.find_work(w),
            Query::Name {
                pubkey,
                key,
                key_len,
            } => self.store.find_name(pubkey, &key[..*key_len as usize]),
        }
    }

    pub(super) fn send_get(&mut self, g: &Pending) {
        let targets = match g.to {
            Some(to) => {
                let mut t = [None; MAX_FANOUT];
                t[0] = Some(to);
                t
            }
            None => self.app_targets(&g.avoid),
        };
        let (work, pubkey, key): (&[u8], &[u8], &[u8]) = match &g.query {
            Query::Work(w) => (w, &[], &[]),
            Query::Name {
                pubkey,
                key,
                key_len,
            } => (&[], pubkey, &key[..*key_len as usize]),
        };
        let m = Msg {
            op: Op::Get,
            work,
            pubkey,
            key,
            ..Msg::default()
        };
        for to in targets.into_iter().flatten() {
            self.enqueue(to, &m);
        }
    }

    /// True when the PUT `m` would answer a pending application GET.
    pub(super) fn answers_pending(&self, m: &Put<'_>) -> bool {
        self.gets.iter().any(|g| match &g.query {
            Query::Work(w) => m.work == w,
            Query::Name {
                pubkey,
                key,
                key_len,
            } => m.pubkey == pubkey && m.key == &key[..*key_len as usize],
        })
    }

    /// Completes pending GETs that the dat in `slot` (just received from
    /// `from`) answers; true if it answered any.
    pub(super) fn answer_gets(&mut self, slot: u32, from: SocketAddr) -> bool {
        let work = self.store.meta(slot).work;
        let mut answered = false;
        let mut i = 0;
        while i < self.gets.len() {
            let g = self.gets[i];
            let hit = match &g.query {
                Query::Work(w) => *w == work,
                Query::Name { .. } => self.lookup(&g.query) == Some(slot),
            };
            if hit {
                self.gets.swap_remove(i);
                answered = true;
                self.push_event(Event::Got {
                    id: g.id,
                    work,
                    from: Some(from),
                });
            } else {
                i += 1;
            }
        }
        answered
    }

    /// A dat became novel here, from `from` (none: our application): it
    /// enters the ring of fresh dats with PUSHES pushes to make.
    pub(super) fn novel(&mut self, work: [u8; 32], from: Option<SocketAddr>) {
        self.stats.puts_novel += 1;
        if self.cfg.track_novel {
            if self.novel_log.len() < NOVEL_LOG {
                self.novel_log.push(work);
            } else {
                self.novel_overflow = true;
            }
        }
        // Our own application's dats already went to FANOUT peers; how
        // many pushes they add is `own_pushes`.
        let pushes = if from.is_some() {
            self.cfg.pushes
        } else {
            self.cfg.own_pushes
        };
        if pushes == 0 {
            return;
        }
        // Newest at the back; a full ring forgets its oldest.
        if self.ring.len() >= self.cfg.ring {
            self.ring.pop_front();
            self.stats.ring_evicted += 1;
        }
        self.ring.push_back(Fresh {
            work,
            from,
            left: pushes,
        });
    }
}
