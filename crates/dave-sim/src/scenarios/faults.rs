//! Faults: everything at once (loss, duplication, reordering, a partition
//! that heals, churn, late joins, hostile senders), then one dat put
//! during the partition, and lookups of it.

use super::fmt_epochs;
use crate::engine::{all_hold, Sim, NEVER};
use crate::error::SimError;
use crate::report::Outcome;
use dave_core::{Event, Query};

pub(super) fn faults(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
    let cfg = sim.config().clone();
    let (at, len) = cfg.partition.unwrap_or((0, 0));
    let split = cfg.warmup_epochs + at.max(1);
    // Put a dat on one side while the network is split.
    sim.run_until(split + len / 4)?;
    let src = sim.random_up().expect("nodes are up");
    let k = sim.put_new(src, cfg.bits)?;
    let heal = split + len.max(1);
    let end = cfg.warmup_epochs + cfg.epochs;
    let mut all_at = NEVER;
    let mut during = 0;
    while sim.epoch() < end {
        sim.step()?;
        if sim.epoch() == heal {
            during = sim
                .up_nodes()
                .into_iter()
                .filter(|&i| sim.first_held(i, k) != NEVER)
                .count();
        }
        if sim.epoch() > heal && all_at == NEVER && sim.epoch() % 16 == 0 && all_hold(sim, k) {
            all_at = sim.epoch() - heal;
        }
    }
    let w = sim.tracked()[k].dat.work;
    let up = sim.up_nodes().len();
    o.put("held_at_heal", during);
    o.put("all_after_heal_e", fmt_epochs(all_at));
    o.put("holders_end", format!("{}/{}", sim.holders(&w), up));
    // Lookups of that dat from random nodes.
    let d = sim.tracked()[k].dat.clone();
    let q = Query::name(d.pubkey, &d.key).expect("short key");
    let mut ids = Vec::new();
    let mut asked = 0;
    for _ in 0..cfg.gets {
        if let Some(i) = sim.random_up() {
            if let Some(id) = sim.get(i, q, true) {
                ids.push((i, id));
                asked += 1;
            }
        }
    }
    let deadline = sim.epoch() + cfg.epochs_in_ms(cfg.get_timeout_ms) + 1;
    let mut got = 0;
    while sim.epoch() < deadline && !ids.is_empty() {
        sim.step()?;
        for (i, ev, _) in sim.take_events() {
            let (id, ok) = match ev {
                Event::Got { id, .. } => (id, true),
                Event::TimedOut { id } => (id, false),
            };
            if let Some(p) = ids.iter().position(|x| *x == (i, id)) {
                ids.swap_remove(p);
                got += usize::from(ok);
            }
        }
    }
    o.put("gets_ok", format!("{got}/{asked}"));
    let n = sim.net();
    o.put("hostile_sent", n.hostile_sent);
    o.put("crashes", n.crashes);
    o.put("joins", n.joins);
    Ok(())
}
