//! Receiving: one datagram through decode, the packet filter, the op's
//! checks and the store.

use super::*;

/// Checks a PUT (docs/protocol.md section 3): sizes, time within `now_ms` +
/// MAX_SKEW, work, difficulty, and, when `sig` is set, the signature. Free of
/// node state so that callers may run it on other threads (a backup loader
/// verifies signatures in parallel, then restores with `sig` unset).
pub fn check_put(m: &Put<'_>, now_ms: u64, cfg: &Config, sig: bool) -> Result<u8, Reason> {
    if m.msg().encoded_len() > PACKET_MAX {
        return Err(Reason::Oversize);
    }
    if m.time_ms() > now_ms.saturating_add(cfg.max_skew_ms) {
        return Err(Reason::Future);
    }
    let load = pow::load(m.key, m.val, m.time);
    let w = pow::work(m.salt, &load);
    if &w != m.work {
        return Err(Reason::WorkMismatch);
    }
    let d = pow::difficulty(&w);
    if d < cfg.min_work {
        return Err(Reason::LowWork);
    }
    if sig && !pow::verify(m.pubkey, m.work, m.sig) {
        return Err(Reason::BadSig);
    }
    Ok(d)
}

impl Node {
    /// Handles one datagram from `src`.
    pub fn handle_packet(&mut self, src: SocketAddr, bytes: &[u8]) {
        let src = canonical(src);
        self.stats.packets_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        let m = match wire::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.drops[Reason::Decode(e).index()] += 1;
                self.notes.event(|| Note::Dropped {
                    reason: Reason::Decode(e),
                    src,
                    bytes: bytes.len(),
                });
                return;
            }
        };
        let op = m.op();
        match self.filter.check(filter::filter_key(src, op)) {
            Verdict::Pass => {}
            // A PUT that answers one of our own GETs was asked for: it
            // passes (at most once per GET, since the answer completes it),
            // so a peer's gossip cannot crowd out its answers.
            Verdict::Seen if matches!(m, Packet::Put(p) if self.answers_pending(&p)) => {}
            Verdict::Seen => {
                self.stats.drops[Reason::Filter.index()] += 1;
                self.notes.event(|| Note::Dropped {
                    reason: Reason::Filter,
                    src,
                    bytes: bytes.len(),
                });
                return;
            }
            // The key was placed but another was evicted: count, and go on.
            Verdict::Full => self.stats.filter_saturated += 1,
        }
        if self.is_self(src) {
            return self.drop_packet(Reason::FromSelf, src);
        }
        self.stats.in_by_op[op] += 1;
        match m {
            Packet::Getpeer => self.on_getpeer(src),
            Packet::Peer(l) => self.on_peer(src, &l),
            Packet::Put(p) => self.on_put(src, &p),
            Packet::Get(g) => self.on_get(src, g),
        }
    }

    /// Marks `src` seen, adding it to the table if there is room.
    pub(super) fn saw(&mut self, src: SocketAddr) -> Option<usize> {
        let now = self.epoch;
        let i = match self.peers.find(src) {
            Some(i) => i,
            None => match self.peers.add(src, now, false) {
                Some(i) => {
                    self.stats.peers_added += 1;
                    self.notes.event(|| Note::PeerAdded(src));
                    i
                }
                None => {
                    self.stats.peers_full += 1;
                    return None;
                }
            },
        };
        self.peers.get_mut(i).seen = now;
        Some(i)
    }

    pub(super) fn on_getpeer(&mut self, src: SocketAddr) {
        self.saw(src);
        let now = self.epoch;
        let open = self.cfg.open_epochs;
        let mut m = Msg::op(Op::Peer);
        // Reservoir-sample up to NPEER peers seen within OPEN epochs.
        let mut seen = 0u64;
        for i in 0..self.peers.len() {
            let p = *self.peers.get(i);
            if p.addr == src || p.silence(now) > open {
                continue;
            }
            seen += 1;
            if (m.npds as usize) < NPEER {
                m.pds[m.npds as usize] = Pd::from_addr(p.addr);
                m.npds += 1;
            } else {
                let r = self.rand() % seen;
                if (r as usize) < NPEER {
                    m.pds[r as usize] = Pd::from_addr(p.addr);
                }
            }
        }
        self.enqueue(src, &m);
    }

    pub(super) fn on_peer(&mut self, src: SocketAddr, m: &PeerList) {
        let Some(i) = self.peers.find(src) else {
            return self.drop_packet(Reason::Unsolicited, src);
        };
        if !self.peers.get(i).awaiting_peer {
            return self.drop_packet(Reason::Unsolicited, src);
        }
        let now = self.epoch;
        {
            let p = self.peers.get_mut(i);
            p.awaiting_peer = false;
            p.seen = now;
        }
        for pd in m.as_slice() {
            let a = pd.addr();
            if self.is_self(a) || !scope_allows(src.ip(), a.ip()) || self.peers.find(a).is_some() {
                self.stats.pds_refused += 1;
                continue;
            }
            if self.peers.add(a, now, false).is_some() {
                self.stats.peers_added += 1;
                self.notes
                    .event(|| Note::PeerLearned { addr: a, from: src });
            } else {
                self.stats.peers_full += 1;
            }
        }
    }

    pub(super) fn on_get(&mut self, src: SocketAddr, m: Get<'_>) {
        self.saw(src);
        let slot = match m {
            Get::Work(w) => self.store.find_work(w),
            Get::Name { pubkey, key } => self.store.find_name(pubkey, key),
        };
        match slot {
            Some(s) => {
                self.stats.gets_answered += 1;
                self.enqueue_dat(src, s);
            }
            None => self.drop_packet(Reason::GetMiss, src),
        }
    }

    pub(super) fn on_put(&mut self, src: SocketAddr, m: &Put<'_>) {
        let work = m.work;
        if let Some(slot) = self.store.find_work(work) {
            self.stats.puts_known += 1;
            self.saw(src);
            if !self.gets.is_empty() {
                self.answer_gets(slot, src);
            }
            return;
        }
        // Everything cheap first; the signature (about 33 µs) last.
        let d = match check_put(m, self.now_ms, &self.cfg, false) {
            Ok(d) => d,
            Err(r) => return self.drop_packet(r, src),
        };
        // Sources that earned trust (sent valid novel dats) are checked as
        // they come; all others share a budget of checks, so a flood of
        // forged signatures costs a bounded share of a core.
        let sender = self.peers.find(src);
        let trusted = sender.is_some_and(|i| self.peers.get(i).trust > 0.0);
        if !trusted {
            if self.verify_tokens == 0 {
                return self.drop_packet(Reason::VerifyBudget, src);
            }
            self.verify_tokens -= 1;
        }
        if !pow::verify(m.pubkey, work, m.sig) {
            // An honest peer only relays dats it verified: one that sends a
            // bad signature loses its trust (and with it the fast lane).
            if let Some(i) = sender {
                self.peers.get_mut(i).trust = 0.0;
            }
            return self.drop_packet(Reason::BadSig, src);
        }
        let now_ms = self.now_ms;
        let ins = self.store.insert(m, d, now_ms);
        let peer = self.saw(src);
        if !ins.is_novel() {
            return self.drop_packet(Reason::Stale, src);
        }
        self.novel(*work);
        if let Some(i) = peer {
            self.peers.get_mut(i).trust += pow::mass_f64(d, m.time_ms(), now_ms);
        }
        let val_len = m.val.len();
        self.notes.event(|| Note::Novel {
            work: *work,
            difficulty: d,
            val_len,
            from: src,
        });
        if !self.gets.is_empty() {
            if let Some(slot) = self.store.find_work(work) {
                self.answer_gets(slot, src);
            }
        }
    }
}
