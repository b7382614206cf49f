//! Sybil: a share of the nodes are attackers; how fast honest dats spread
//! among the honest nodes, whether honest lookups succeed, and how much
//! of the honest nodes' tables and trust the attackers hold over time.

use super::{fmt_epochs, fmt_ms, median, nearest_rank, SAMPLE_EPOCHS, TRIAL_GAP_EPOCHS};
use crate::config::ppm_pct;
use crate::engine::{all_honest_hold, Sim, NEVER};
use crate::error::SimError;
use crate::report::Outcome;
use dave_core::{Event, GetId, Query};

/// Steps once, and samples the attackers' hold on every `SAMPLE_EPOCHS`.
fn step_sampled(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
    sim.step()?;
    if sim.epoch() % SAMPLE_EPOCHS == 0 {
        o.series.push((sim.epoch(), sim.sybil_hold()));
    }
    Ok(())
}

pub(super) fn sybil(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
    let cfg = sim.config().clone();
    o.put("sybil_pct", ppm_pct(cfg.sybil_ppm));
    o.put(
        "mode",
        if cfg.sybil_ppm == 0 {
            "-"
        } else {
            cfg.sybil_mode.name()
        },
    );
    o.put("attackers", cfg.sybil_nodes());
    while sim.epoch() < cfg.warmup_epochs {
        step_sampled(sim, o)?;
    }
    const QS: [u64; 4] = [50, 90, 99, 100];
    // Per trial: epochs until each share QS of the honest nodes held the
    // dat, and the share that held it when the trial ended.
    let mut rows: Vec<([u64; 4], usize)> = Vec::new();
    let mut ks = Vec::new();
    let mut from_attacker = 0;
    for _ in 0..cfg.trials {
        let Some(src) = sim.random_role(false) else {
            break;
        };
        let k = sim.put_new(src, cfg.bits)?;
        ks.push(k);
        let start = sim.epoch();
        loop {
            step_sampled(sim, o)?;
            let e = sim.epoch() - start;
            if e >= cfg.epochs || e % 16 == 0 && all_honest_hold(sim, k) {
                break;
            }
        }
        let mut offs: Vec<u64> = sim
            .up_nodes()
            .into_iter()
            .filter(|&i| !sim.is_sybil(i))
            .map(|i| match sim.first_held(i, k) {
                NEVER => NEVER,
                e => e - start,
            })
            .collect();
        offs.sort_unstable();
        let held = offs.iter().filter(|&&x| x != NEVER).count();
        // Honest nodes whose first copy came from an attacker (none
        // should: attackers swallow every dat but their own).
        from_attacker += sim
            .up_nodes()
            .into_iter()
            .filter(|&i| !sim.is_sybil(i))
            .filter(|&i| sim.first_from(i, k).is_some_and(|f| sim.is_sybil(f)))
            .count();
        rows.push((
            QS.map(|q| nearest_rank(&offs, q)),
            100 * held / offs.len().max(1),
        ));
        o.arrivals.push(offs);
        sim.untrack(k);
        let until = sim.epoch() + TRIAL_GAP_EPOCHS;
        while sim.epoch() < until {
            step_sampled(sim, o)?;
        }
    }
    o.put("trials", rows.len());
    for (j, q) in QS.iter().enumerate() {
        let mut v: Vec<u64> = rows.iter().map(|r| r.0[j]).collect();
        let m = median(&mut v);
        o.put(&format!("e{q}"), fmt_epochs(m));
        o.put(&format!("ms{q}"), fmt_ms(&cfg, m));
    }
    let reached = rows.iter().filter(|r| r.0[3] != NEVER).count();
    o.put("reached_all", format!("{reached}/{}", rows.len()));
    o.put("from_attacker", from_attacker);
    o.put("held_min_pct", rows.iter().map(|r| r.1).min().unwrap_or(0));
    // Lookups: each trial's dat, by name, from random honest nodes, asking
    // the network only (the answer must come from a peer).
    let mut ids: Vec<(usize, GetId, u32)> = Vec::new();
    for &k in &ks {
        let d = sim.tracked()[k].dat.clone();
        let q = Query::name(d.pubkey, &d.key).expect("short key");
        let mut tries = 0;
        let before = ids.len();
        while ids.len() - before < cfg.gets && tries < 100 * cfg.gets {
            tries += 1;
            let Some(i) = sim.random_role(false) else {
                break;
            };
            if let Some(id) = sim.get(i, q, true) {
                ids.push((i, id, sim.incarnation(i)));
            }
        }
    }
    let asked = ids.len();
    let start = sim.epoch();
    let deadline = start + cfg.epochs_in_ms(cfg.get_timeout_ms) + 1;
    let mut lat = Vec::new();
    while sim.epoch() < deadline && !ids.is_empty() {
        step_sampled(sim, o)?;
        for (i, ev, e) in sim.take_events() {
            let (id, ok) = match ev {
                Event::Got { id, .. } => (id, true),
                Event::TimedOut { id } => (id, false),
            };
            if let Some(p) = ids
                .iter()
                .position(|x| (x.0, x.1, x.2) == (i, id, sim.incarnation(i)))
            {
                ids.swap_remove(p);
                if ok {
                    lat.push(e - start);
                }
            }
        }
    }
    lat.sort_unstable();
    o.put("gets_ok", format!("{}/{asked}", lat.len()));
    o.put(
        "gets_ok_pct",
        format!("{:.1}", 100.0 * lat.len() as f64 / asked.max(1) as f64),
    );
    o.put("get_p50_ms", fmt_ms(&cfg, nearest_rank(&lat, 50)));
    o.put("get_p90_ms", fmt_ms(&cfg, nearest_rank(&lat, 90)));
    // The attackers' hold, averaged over the samples after warmup, and at
    // the end.
    let after: Vec<[f64; 4]> = o
        .series
        .iter()
        .filter(|(e, _)| *e > cfg.warmup_epochs)
        .map(|(_, h)| *h)
        .collect();
    let end = sim.sybil_hold();
    for (j, name) in ["table", "live", "trust", "top"].iter().enumerate() {
        let mean = after.iter().map(|h| h[j]).sum::<f64>() / after.len().max(1) as f64;
        o.put(&format!("{name}_pct"), format!("{:.1}", 100.0 * mean));
        o.put(&format!("{name}_end_pct"), format!("{:.1}", 100.0 * end[j]));
    }
    let st = *sim.sybil_stats();
    o.put("swallowed", st.swallowed);
    o.put("own_sent", st.own_sent);
    o.put("sybil_writes", st.writes);
    o.put("honest_writes", sim.net().writes);
    o.put("lies", st.lies);
    o.put("unsolicited", st.unsolicited);
    // Per honest node over the run: replies to unproven addresses refused
    // because the whole budget was spent, the group's share of it, or the
    // address had had its cookies lately.
    let (mut budget, mut share, mut repeat, mut n) = (0u64, 0u64, 0u64, 0u64);
    for i in (0..sim.len()).filter(|&i| !sim.is_sybil(i)) {
        if let Some(node) = sim.node(i) {
            budget += node.stats().reply_budget;
            share += node.stats().reply_share;
            repeat += node.stats().reply_repeat;
            n += 1;
        }
    }
    let per = |x: u64| format!("{:.0}", x as f64 / n.max(1) as f64);
    o.put("budget_refused", per(budget));
    o.put("share_refused", per(share));
    o.put("repeat_refused", per(repeat));
    Ok(())
}
