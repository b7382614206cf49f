//! Scheduled events (phase 1): crashes and restarts (churn), late joins,
//! a partition and its healing, all drawn from the run's RNG; and starting
//! a member's node.

use super::{chance, Sim, NEVER};
use crate::error::SimError;
use crate::event_log::rec;
use dave_core::Node;
use rand_xoshiro::rand_core::Rng;
use std::cmp::Reverse;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) enum Action {
    Crash(u32),
    Restart(u32),
    Join(u32),
    Split,
    Heal,
}

impl Sim {
    pub(super) fn schedule(&mut self, at: u64, a: Action) {
        self.seq += 1;
        self.sched.push(Reverse((at, self.seq, a)));
    }

    pub(super) fn uptime(&mut self) -> u64 {
        // Alternating up and down with means U and D leaves a share
        // D/(U+D) down; that share is c when U = D·(1−c)/c.
        let c = self.cfg.churn_ppm as u64;
        let mean = self.cfg.downtime_epochs.max(1) * (1_000_000 - c) / c.max(1);
        1 + self.below(2 * mean.max(1))
    }

    fn downtime(&mut self) -> u64 {
        1 + self.below(2 * self.cfg.downtime_epochs.max(1))
    }

    /// Starts member `i` (a fresh node; with `keep`, loaded with the store
    /// of its previous incarnation). It is told the previous epoch, so it
    /// ticks with everyone else in this one.
    pub(super) fn start(&mut self, i: usize, keep: bool) -> usize {
        let inc = self.members[i].incarnation;
        let mut node = Node::new(self.node_config(i, inc));
        node.add_self_addr(self.members[i].addr);
        node.handle_tick(self.now_at(self.epoch.saturating_sub(1)));
        let mut restored = 0;
        if keep {
            if let Some(old) = &self.members[i].node {
                let st = old.store();
                for s in 0..st.len() as u32 {
                    if st.put(s).is_some_and(|p| node.restore(&p.msg()).is_ok()) {
                        restored += 1;
                    }
                }
            }
        }
        let m = &mut self.members[i];
        m.node = Some(node);
        m.up = true;
        // A node that lost its store no longer holds what it held.
        if !keep {
            for g in &mut m.got {
                *g = NEVER;
            }
        }
        restored
    }

    pub(super) fn scheduled(&mut self, e: u64) -> Result<(), SimError> {
        while let Some(Reverse((at, _, a))) = self.sched.peek().copied() {
            if at > e {
                break;
            }
            self.sched.pop();
            match a {
                Action::Crash(i) => {
                    let m = &mut self.members[i as usize];
                    if m.node.is_none() {
                        // Not joined yet: it starts churning once it has.
                        let at = e + self.uptime();
                        self.schedule(at, Action::Crash(i));
                    } else if m.up {
                        m.up = false;
                        self.net.crashes += 1;
                        self.log.add(rec::CRASH, i, 0, 0);
                        let at = e + self.downtime();
                        self.schedule(at, Action::Restart(i));
                    }
                }
                Action::Restart(i) => {
                    let keep = chance(&mut self.rng, self.cfg.keep_ppm);
                    self.members[i as usize].incarnation += 1;
                    let n = self.start(i as usize, keep);
                    self.net.restarts[usize::from(!keep)] += 1;
                    self.log.add(rec::RESTART, i, keep as u32, n as u32);
                    let at = e + self.uptime();
                    self.schedule(at, Action::Crash(i));
                }
                Action::Join(i) => {
                    self.start(i as usize, false);
                    self.net.joins += 1;
                    self.log.add(rec::JOIN, i, 0, 0);
                }
                Action::Split => {
                    for k in 0..self.members.len() {
                        self.members[k].side = self.rng.next_u64() & 1 == 1;
                    }
                    self.split = true;
                    self.log.add(rec::SPLIT, 0, 0, 0);
                }
                Action::Heal => {
                    self.split = false;
                    self.log.add(rec::HEAL, 0, 0, 0);
                }
            }
            self.check_bounds(a_node(a))?;
        }
        Ok(())
    }
}

fn a_node(a: Action) -> Option<u32> {
    match a {
        Action::Crash(_) | Action::Split | Action::Heal => None,
        Action::Restart(i) | Action::Join(i) => Some(i),
    }
}
