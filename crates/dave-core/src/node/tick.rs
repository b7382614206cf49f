//! Time: what a node does each epoch (seeds, pulls, pings and drops,
//! prunes, request timeouts).

use super::*;

impl Node {
    /// Advances to `now.epoch`, running every task that fell due (at most
    /// [`MAX_CATCHUP_EPOCHS`]; older epochs are skipped and counted).
    ///
    /// One call is one batch: a peer is seeded at most one dat per batch,
    /// because a receiver reads a burst in one go and its packet filter
    /// would pass only one of them anyway (docs/protocol.md 5.7).
    pub fn handle_tick(&mut self, now: Now) {
        self.now_ms = now.unix_ms;
        self.batch += 1;
        if !self.started {
            self.started = true;
            self.epoch = now.epoch;
            self.ask_candidates();
        }
        if now.epoch <= self.epoch {
            return;
        }
        let gap = now.epoch - self.epoch;
        if gap > MAX_CATCHUP_EPOCHS {
            let skip = gap - MAX_CATCHUP_EPOCHS;
            self.stats.epochs_skipped += skip;
            self.epoch += skip;
        }
        while self.epoch < now.epoch {
            self.epoch += 1;
            self.tick_one();
        }
    }

    /// Sends a GETPEER to every candidate that is due (docs/protocol.md
    /// 5.3): edges forever with backoff, learned addresses at most twice.
    pub(super) fn ask_candidates(&mut self) {
        let now = self.epoch;
        let ping = self.cfg.ping_epochs;
        for _ in 0..self.candidates.len() {
            let Some(a) = self.candidates.next_due(now, ping) else {
                break;
            };
            self.notes.event(|| Note::Pinged(a));
            let cookie = self.secrets.issue(a);
            let m = Msg {
                op: Op::Getpeer,
                cookie: &cookie,
                ..Msg::default()
            };
            self.enqueue_raw(a, &m);
        }
    }

    pub(super) fn tick_one(&mut self) {
        // Periodic tasks are due when the epoch is a multiple of their
        // period; `Every` tells without a division per task and epoch.
        let e = self.epoch;
        self.filter.reset();
        if self.clocks.rotate.due(e) {
            let mut next = [0u8; 32];
            self.rng.fill_bytes(&mut next);
            self.secrets.rotate(next);
        }
        if self.clocks.reseed.due(e) {
            let b = self.reseed_cursor % self.peers.buckets();
            let seed = self.rng.next_u64();
            self.peers.reseed(b, seed);
            self.reseed_cursor = b + 1;
        }
        if self.clocks.unvalidated_reply.due(e) && self.reply_tokens < self.cfg.unvalidated_replies
        {
            self.reply_tokens += 1;
        }
        if self.candidates.len() > 0 {
            self.ask_candidates();
        }
        if self.clocks.untrusted_verify.due(e)
            && self.verify_tokens < self.cfg.untrusted_verify_burst
        {
            self.verify_tokens += 1;
        }
        if self.clocks.trust_half.due(e) {
            self.peers.halve_trust();
        }
        if self.clocks.seed.due(e) {
            self.seed();
        }
        if self.clocks.pull.due(e) {
            self.pull();
        }
        if self.cfg.exchange_epochs > 0 && self.clocks.exchange.due(e) {
            self.exchange();
        }
        self.sweep_peers();
        if self.clocks.prune.due(e) {
            self.prune();
        }
        if !self.gets.is_empty() {
            self.tick_gets();
        }
    }

    /// A live peer: heard from within 2·PING (docs/protocol.md 5.3-5.5).
    pub fn live(p: &Peer, now: u64, cfg: &Config) -> bool {
        p.silence(now) < 2 * cfg.ping_epochs
    }

    /// Peers that may be sent seeded, pushed or pulled dats: in the table
    /// for DELAY epochs (or an edge), and live.
    pub fn gossip_ok(p: &Peer, now: u64, cfg: &Config) -> bool {
        (p.edge || now.saturating_sub(p.added) >= cfg.delay_epochs) && Self::live(p, now, cfg)
    }

    /// Puts peer `i` in or out of the list of eligible peers by the rule
    /// now ([`Node::gossip_ok`]).
    pub(super) fn refresh_eligible(&mut self, i: usize) {
        let ok = Self::gossip_ok(self.peers.get(i), self.epoch, &self.cfg);
        if ok != self.peers.is_eligible(i) {
            self.peers.set_eligible(i, ok);
        }
    }

    /// One SEED slot: every other one pushes the newest fresh dat with
    /// pushes left; the others, and a push slot with nothing to push, seed
    /// a random stored dat (docs/protocol.md 5.5).
    pub(super) fn seed(&mut self) {
        self.seed_flip = !self.seed_flip;
        if !self.seed_flip && self.push() {
            return;
        }
        self.seed_random();
    }

    /// Pushes the newest fresh dat with pushes left to a peer drawn
    /// uniformly among the eligible ones, never the one it came from.
    fn push(&mut self) -> bool {
        let (now, batch) = (self.epoch, self.batch);
        while let Some(f) = self.ring.back().copied() {
            let Some(slot) = self.store.find_work(&f.work) else {
                // Replaced or pruned since: nothing to push.
                self.ring.pop_back();
                continue;
            };
            let cfg = &self.cfg;
            let rng = &mut self.rng;
            let pick = self.peers.draw_uniform(
                || rng.next_u64(),
                |p| Self::gossip_ok(p, now, cfg),
                |p| p.seeded_batch != batch && Some(p.addr) != f.from,
            );
            let Some(pi) = pick else {
                self.stats.push_no_peer += 1;
                return false;
            };
            if let Some(back) = self.ring.back_mut() {
                back.left -= 1;
                if back.left == 0 {
                    self.ring.pop_back();
                }
            }
            self.peers.get_mut(pi).seeded_batch = batch;
            self.stats.pushes += 1;
            self.enqueue_dat_to(pi, slot);
            return true;
        }
        false
    }

    /// A peer drawn by trust among the eligible ones (PROBE: uniformly now
    /// and then); with `seed`, one not yet seeded in this batch.
    fn draw_by_trust(&mut self, seed: bool) -> Option<usize> {
        let now = self.epoch;
        let batch = if seed { self.batch } else { NEVER - 1 };
        let cfg = &self.cfg;
        let rng = &mut self.rng;
        self.peers.draw_trust(
            cfg.probe,
            || rng.next_u64(),
            |p| Self::gossip_ok(p, now, cfg),
            |p| p.seeded_batch != batch,
        )
    }

    /// Anti-entropy: one random stored dat to a peer drawn by trust.
    fn seed_random(&mut self) {
        if self.store.is_empty() {
            return;
        }
        let Some(pi) = self.draw_by_trust(true) else {
            return;
        };
        self.peers.get_mut(pi).seeded_batch = self.batch;
        let r = self.rand();
        if let Some(s) = self.store.random(r) {
            self.stats.seeds += 1;
            self.enqueue_dat_to(pi, s);
        }
    }

    pub(super) fn pull(&mut self) {
        let r = self.rand();
        let Some(slot) = self.store.random(r) else {
            return;
        };
        let Some(pi) = self.draw_by_trust(false) else {
            return;
        };
        let to = self.peers.get(pi).addr;
        let Some(n) = self.store.name(slot) else {
            return;
        };
        let (pubkey, mut key) = (*n.pubkey, [0u8; KEY_MAX]);
        let klen = n.key.len();
        key[..klen].copy_from_slice(n.key);
        self.pulls[self.pull_cursor] = Pull {
            to: Some(to),
            name: name_hash(&pubkey, &key[..klen]),
        };
        self.pull_cursor = (self.pull_cursor + 1) % PULLS;
        let m = Msg {
            op: Op::Get,
            key: &key[..klen],
            pubkey: &pubkey,
            ..Msg::default()
        };
        self.enqueue(to, &m);
    }

    /// Peer exchange: a GETPEER to a peer drawn uniformly among the live
    /// ones (validated within 2 x PING, however long they have been in
    /// the table) not asked within PING epochs, whether it is silent or
    /// not (docs/protocol.md 5.4). Not only the eligible ones: a node that
    /// waited DELAY epochs before asking a new peer for peers would learn
    /// the network slower than a party that asks 100 times as often.
    fn exchange(&mut self) {
        let now = self.epoch;
        let cfg = &self.cfg;
        let rng = &mut self.rng;
        let mut pick = [0usize; 1];
        let got = self.peers.sample(
            || rng.next_u64(),
            |p| Self::live(p, now, cfg) && p.rested(now, cfg.ping_epochs),
            &mut pick,
        );
        if got == 1 {
            let i = pick[0];
            self.stats.exchanges += 1;
            self.ping(i);
        }
    }

    pub(super) fn ping(&mut self, i: usize) {
        let now = self.epoch;
        let p = self.peers.get_mut(i);
        p.pinged = now;
        p.awaiting_peer = true;
        let to = p.addr;
        self.notes.event(|| Note::Pinged(to));
        let cookie = self.secrets.issue(to);
        let m = Msg {
            op: Op::Getpeer,
            cookie: &cookie,
            ..Msg::default()
        };
        self.enqueue(to, &m);
    }

    /// Visits a share of the table each epoch, so every peer is checked
    /// about once per PING epochs and pings are spread out, not bursty.
    pub(super) fn sweep_peers(&mut self) {
        let n = self.peers.len();
        if n == 0 {
            return;
        }
        let ping = self.cfg.ping_epochs;
        let mut visits = (n as u64).div_ceil(ping) as usize;
        let now = self.epoch;
        while visits > 0 && !self.peers.is_empty() {
            visits -= 1;
            if self.ping_cursor >= self.peers.len() {
                self.ping_cursor = 0;
            }
            let i = self.ping_cursor;
            let p = *self.peers.get(i);
            let heard = if p.seen == NEVER { p.added } else { p.seen };
            let silence = now.saturating_sub(heard);
            if !p.edge && silence >= self.cfg.drop_epochs {
                let addr = p.addr;
                self.notes.event(|| Note::PeerDropped { addr, silence });
                self.peers.remove(i);
                self.stats.peers_dropped += 1;
                continue; // the last peer moved into slot i
            }
            // Silent, or our token for it will soon stop validating (the
            // peer keeps its previous secret valid for one more ROTATE).
            let stale_token =
                p.token.is_none() || now.saturating_sub(p.token_at) >= self.cfg.rotate_epochs / 2;
            let due = p.seen == NEVER || silence >= ping || stale_token;
            if due && p.rested(now, ping) {
                self.ping(i);
            }
            self.refresh_eligible(i);
            self.ping_cursor += 1;
        }
    }

    /// Prunes the store to DAT_CAP now (as every PRUNE epochs).
    pub fn prune_now(&mut self) {
        self.prune();
    }

    pub(super) fn prune(&mut self) {
        let r = self.store.prune(self.now_ms);
        if r.before > r.kept {
            self.stats.dats_pruned += (r.before - r.kept) as u64;
        }
        self.notes.push(Note::Pruned {
            kept: r.kept,
            before: r.before,
            cap: self.store.cap(),
            peers: self.peers.len(),
        });
    }

    pub(super) fn tick_gets(&mut self) {
        let now = self.epoch;
        let mut i = 0;
        while i < self.gets.len() {
            let g = self.gets[i];
            if now >= g.deadline {
                self.gets.swap_remove(i);
                self.push_event(Event::TimedOut { id: g.id });
                continue;
            }
            if now >= g.next_send {
                self.gets[i].next_send = now + GET_RESEND_PULLS * self.cfg.pull_epochs;
                self.send_get(&g);
            }
            i += 1;
        }
    }

    pub(super) fn push_event(&mut self, e: Event) {
        if self.events.len() == EVENT_SLOTS {
            self.events.pop_front();
            self.stats.events_lost += 1;
        }
        self.events.push_back(e);
    }
}

/// A task due every `period` epochs: at each epoch that is a multiple of
/// it. Checked once per epoch in order, it costs a comparison; after a
/// skip of epochs, one division.
#[derive(Clone, Copy, Debug)]
pub(super) struct Every {
    period: u64,
    next: u64,
}

impl Every {
    pub(super) fn new(period: u64) -> Every {
        Every {
            period: period.max(1),
            next: 0,
        }
    }

    /// Whether epoch `e` (above the last one asked) is a multiple
    /// of the period.
    pub(super) fn due(&mut self, e: u64) -> bool {
        if e < self.next {
            return false;
        }
        if e == self.next {
            self.next = e.saturating_add(self.period);
            return true;
        }
        self.next = (e / self.period)
            .saturating_add(1)
            .saturating_mul(self.period);
        e % self.period == 0
    }
}

/// The node's periodic tasks (docs/protocol.md 5.1).
pub(super) struct Clocks {
    pub(super) rotate: Every,
    pub(super) reseed: Every,
    pub(super) unvalidated_reply: Every,
    pub(super) untrusted_verify: Every,
    pub(super) trust_half: Every,
    pub(super) seed: Every,
    pub(super) pull: Every,
    pub(super) prune: Every,
    pub(super) exchange: Every,
}

impl Clocks {
    pub(super) fn new(c: &Config) -> Clocks {
        Clocks {
            rotate: Every::new(c.rotate_epochs),
            reseed: Every::new(c.reseed_epochs),
            unvalidated_reply: Every::new(c.unvalidated_reply_epochs),
            untrusted_verify: Every::new(c.untrusted_verify_epochs),
            trust_half: Every::new(c.trust_half_epochs),
            seed: Every::new(c.seed_epochs),
            pull: Every::new(c.pull_epochs),
            prune: Every::new(c.prune_epochs),
            exchange: Every::new(c.exchange_epochs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Every;

    #[test]
    fn every_is_due_at_the_multiples_of_its_period_whatever_the_skips() {
        for p in [1u64, 2, 3, 53, 4096] {
            let mut ev = Every::new(p);
            let mut e = 0u64;
            let mut r = 12345u64;
            for _ in 0..20_000 {
                r = crate::peers::splitmix(r);
                // Mostly one epoch at a time, sometimes a skip.
                e += if r % 50 == 0 { 1 + r % 10_000 } else { 1 };
                assert_eq!(ev.due(e), e % p == 0, "period {p}, epoch {e}");
            }
        }
    }
}
