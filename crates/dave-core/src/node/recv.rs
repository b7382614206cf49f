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
        let d = match wire::decode_datagram(bytes) {
            Ok(d) => d,
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
        let m = d.packet;
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
        // Validated: the sender quoted a cookie we issued to this address,
        // so it receives datagrams there (docs/protocol.md 5.3).
        let valid = self.secrets.check(src, d.token);
        if valid {
            self.stats.validated_in += 1;
        }
        match m {
            Packet::Getpeer { cookie } => self.on_getpeer(src, cookie, valid, bytes.len()),
            Packet::Peer { cookie, list } => self.on_peer(src, cookie, &list, valid),
            Packet::Put(p) => self.on_put(src, &p, valid),
            Packet::Get(g) => self.on_get(src, g, valid),
        }
    }

    /// Marks a validated sender seen, admitting it to the table if it wins
    /// its slot. Only validated messages come here: a forged source address
    /// never enters the table or refreshes an entry.
    pub(super) fn saw(&mut self, src: SocketAddr) -> Option<usize> {
        let i = match self.peers.find(src) {
            Some(i) => i,
            None => self.admit(src)?,
        };
        self.peers.get_mut(i).seen = self.epoch;
        self.refresh_eligible(i);
        Some(i)
    }

    /// A validated PUT from `src` that answers one of our pulls earns
    /// `src` PULL_CREDIT (docs/protocol.md 5.5), once per pull.
    fn answers_pull(&mut self, src: SocketAddr, m: &Put<'_>) -> bool {
        if !self.pulls.iter().any(|p| p.to == Some(src)) {
            return false;
        }
        let name = name_hash(m.pubkey, m.key);
        match self
            .pulls
            .iter_mut()
            .find(|p| p.to == Some(src) && p.name == name)
        {
            Some(p) => {
                *p = Pull::NONE;
                true
            }
            None => false,
        }
    }

    /// Credits `src` with PULL_CREDIT for a validated answer.
    fn credit(&mut self, src: SocketAddr) {
        if let Some(i) = self.peers.find(src) {
            self.peers.add_trust(i, self.cfg.pull_credit);
            self.stats.pull_credits += 1;
        }
    }

    /// A validated address not in the table contests its slot
    /// (docs/protocol.md 5.4); a candidate it was is forgotten either way,
    /// and an edge goes beside the buckets.
    pub(super) fn admit(&mut self, src: SocketAddr) -> Option<usize> {
        let edge = match self.candidates.find(src) {
            Some(c) => self.candidates.remove(c).edge,
            None => false,
        };
        let contest = Contest {
            now: self.epoch,
            silent: self.cfg.ping_epochs,
            live: 2 * self.cfg.ping_epochs,
        };
        match self.peers.add(src, edge, contest) {
            Admit::Added(i) => {
                self.stats.peers_added += 1;
                self.notes.event(|| Note::PeerAdded(src));
                Some(i)
            }
            Admit::Replaced { i, old } => {
                self.stats.peers_added += 1;
                self.stats.peers_evicted += 1;
                self.notes.event(|| Note::PeerAdded(src));
                self.notes.event(|| Note::PeerDropped {
                    addr: old,
                    silence: 0,
                });
                Some(i)
            }
            Admit::Refused => {
                self.stats.peers_full += 1;
                None
            }
        }
    }

    /// One reply to an address that has not proved it receives there, if
    /// the node's budget for such replies allows (docs/protocol.md 5.3).
    ///
    /// The budget is shared by all sources, and each address group may
    /// take at most a [`REPLY_SHARE_SPLIT`]-th of its rate, with a burst
    /// of [`REPLY_SHARE_BURST`]. So the few groups of a loud party, whose
    /// first-contact GETPEERs would otherwise spend the whole budget,
    /// cannot keep the others' handshakes unanswered.
    ///
    /// And one address gets at most [`REPLY_REPEATS`] cookies per
    /// [`REPLY_REPEAT_EPOCHS`], and after a refusal waits before it is
    /// considered again (512 epochs, doubling with each refusal): a party
    /// that asks again and again (it re-learns our address faster than it
    /// keeps it) would otherwise spend the budget within its shares. Its
    /// second cookie comes only from the upper half of the budget, so
    /// while the budget is contested first contacts come first, and not
    /// within 512 epochs of the first (an ask that soon crossed the answer
    /// in flight).
    fn unvalidated_reply_ok(&mut self, src: SocketAddr) -> bool {
        let now = self.epoch;
        let key = self.peers.addr_key(src);
        let r = (key as usize) % REPLY_RECENT;
        let tag = (key >> 32) as u32;
        let mut e = self.reply_recent[r];
        if e.tag != tag || now.saturating_sub(e.since) >= REPLY_REPEAT_EPOCHS {
            e = Recent {
                tag,
                since: now,
                ..Recent::default()
            };
        }
        if u32::from(e.answered) >= REPLY_REPEATS || now < e.next {
            self.stats.reply_repeat += 1;
            return false;
        }
        let period = self.cfg.unvalidated_reply_epochs * REPLY_SHARE_SPLIT;
        let s = self.peers.share_of(src);
        let tat = self.reply_shares[s].max(now);
        let ok = if self.reply_tokens == 0 {
            self.stats.reply_budget += 1;
            false
        } else if e.answered > 0 && self.reply_tokens <= self.cfg.unvalidated_replies / 2 {
            // A repeat takes only from the upper half of the budget, so
            // first contacts come first while the budget is contested.
            self.stats.reply_repeat += 1;
            false
        } else if tat - now > period * (REPLY_SHARE_BURST - 1) {
            self.stats.reply_share += 1;
            false
        } else {
            self.reply_shares[s] = tat + period;
            self.reply_tokens -= 1;
            true
        };
        if ok {
            e.answered += 1;
            // A second ask within the period was sent before the first
            // answer could arrive (honest askers wait PING): it would
            // spend a reply on a cookie the asker already has.
            e.next = now.saturating_add(period);
        } else {
            // Refused: this address is not considered again for a while,
            // twice as long after each refusal (up to the window). A party
            // that asks again as soon as it is refused is then considered
            // no more often than one that asks now and then, and does not
            // take every reply the budget refills.
            e.refused = e.refused.saturating_add(1);
            let wait = period.saturating_mul(1 << (e.refused - 1).min(16));
            e.next = now.saturating_add(wait.min(REPLY_REPEAT_EPOCHS));
        }
        self.reply_recent[r] = e;
        ok
    }

    pub(super) fn on_getpeer(&mut self, src: SocketAddr, cookie: &Cookie, valid: bool, len: usize) {
        let mut m = Msg::op(Op::Peer);
        let echo = *cookie;
        let mine = self.secrets.issue(src);
        m.token = &echo;
        m.cookie = &mine;
        if !valid {
            // A stranger learns our cookie, and nothing else: the answer
            // is one datagram, at most 20 bytes larger than the question.
            // A peer validated within 2 x PING that has no token for us
            // (it learned our address anew) has proved it receives there,
            // so its answer is outside the budget, which is for addresses
            // that have not (docs/protocol.md 5.3).
            let proved = self
                .peers
                .find(src)
                .is_some_and(|i| Self::live(self.peers.get(i), self.epoch, &self.cfg));
            if m.encoded_len() > len + 20 || !(proved || self.unvalidated_reply_ok(src)) {
                return;
            }
            return self.enqueue_raw(src, &m);
        }
        if let Some(i) = self.saw(src) {
            // The asker's cookie is our token for it.
            let p = self.peers.get_mut(i);
            p.token = Some(echo);
            p.token_at = self.epoch;
        }
        let now = self.epoch;
        let open = self.cfg.open_epochs;
        // Up to NPEER peers seen within OPEN epochs, sampled without a scan.
        let mut picked = [0usize; NPEER];
        let rng = &mut self.rng;
        let got = self.peers.sample(
            || rng.next_u64(),
            |p| p.addr != src && p.silence(now) <= open,
            &mut picked,
        );
        for &i in &picked[..got] {
            m.pds[m.npds as usize] = Pd::from_addr(self.peers.get(i).addr);
            m.npds += 1;
        }
        self.enqueue_raw(src, &m);
    }

    /// A PEER is accepted only as the answer to a GETPEER we sent (its
    /// token is the cookie we sent), once per GETPEER; then the sender is
    /// validated and its cookie becomes our token for it.
    pub(super) fn on_peer(&mut self, src: SocketAddr, cookie: &Cookie, m: &PeerList, valid: bool) {
        if !valid {
            return self.drop_packet(Reason::Unsolicited, src);
        }
        let now = self.epoch;
        let i = match self.peers.find(src) {
            Some(i) if self.peers.get(i).awaiting_peer => i,
            Some(_) => return self.drop_packet(Reason::Unsolicited, src),
            None => {
                if self.candidates.find(src).is_none() {
                    return self.drop_packet(Reason::Unsolicited, src);
                }
                let i = self.admit(src);
                // Application requests waiting for a first peer go now.
                self.hurry_gets();
                match i {
                    Some(i) => i,
                    None => return,
                }
            }
        };
        {
            let p = self.peers.get_mut(i);
            p.awaiting_peer = false;
            p.seen = now;
            p.token = Some(*cookie);
            p.token_at = now;
        }
        for pd in m.as_slice() {
            let a = pd.addr();
            if self.is_self(a)
                || !scope_allows(src.ip(), a.ip())
                || self.peers.find(a).is_some()
                || !self.candidates.add(a, false, now)
            {
                self.stats.pds_refused += 1;
                continue;
            }
            self.notes
                .event(|| Note::PeerLearned { addr: a, from: src });
        }
    }

    pub(super) fn on_get(&mut self, src: SocketAddr, m: Get<'_>, valid: bool) {
        if !valid {
            // An answer to an unproven address would let anyone aim our
            // dats at a victim.
            return self.drop_packet(Reason::Unvalidated, src);
        }
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

    /// A PUT is checked and stored whoever sent it (writers pay with work,
    /// not with a handshake), but only a validated one touches the peer
    /// table or earns trust.
    pub(super) fn on_put(&mut self, src: SocketAddr, m: &Put<'_>, valid: bool) {
        let work = m.work;
        if self.store.find_work(work).is_some() {
            self.stats.puts_known += 1;
            if valid {
                self.saw(src);
            }
            return self.on_answer(src, m, valid);
        }
        // Everything cheap first; the signature (about 33 µs) last.
        let d = match check_put(m, self.now_ms, &self.cfg, false) {
            Ok(d) => d,
            Err(r) => return self.drop_packet(r, src),
        };
        // Sources that earned trust (sent valid novel dats) are checked as
        // they come; all others share a budget of checks, so a flood of
        // forged signatures costs a bounded share of a core.
        let sender = if valid { self.peers.find(src) } else { None };
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
                self.peers.clear_trust(i);
            }
            return self.drop_packet(Reason::BadSig, src);
        }
        let now_ms = self.now_ms;
        let ins = self.store.insert(m, d, now_ms);
        let peer = if valid { self.saw(src) } else { None };
        if !ins.is_novel() {
            return self.drop_packet(Reason::Stale, src);
        }
        self.novel(*work, Some(src));
        if let Some(i) = peer {
            self.peers
                .add_trust(i, pow::mass_f64(d, m.time_ms(), now_ms));
        }
        let val_len = m.val.len();
        self.notes.event(|| Note::Novel {
            work: *work,
            difficulty: d,
            val_len,
            from: src,
        });
        self.on_answer(src, m, valid);
    }

    /// A held dat arrived from `src`: it completes the pending GETs it
    /// answers, and a validated one that answers one of our pulls or GETs
    /// earns `src` PULL_CREDIT.
    fn on_answer(&mut self, src: SocketAddr, m: &Put<'_>, valid: bool) {
        let mut answer = valid && self.answers_pull(src, m);
        if !self.gets.is_empty() {
            if let Some(slot) = self.store.find_work(m.work) {
                answer |= self.answer_gets(slot, src) && valid;
            }
        }
        if answer {
            self.credit(src);
        }
    }
}
