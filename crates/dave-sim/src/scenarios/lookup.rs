//! Lookups: GETs for dats of several ages from random nodes, from the
//! store or from the network only; how many are answered and how fast.

use super::{fmt_ms, nearest_rank};
use crate::config::ppm_pct;
use crate::engine::{Sim, NEVER};
use crate::error::SimError;
use crate::report::Outcome;
use dave_core::{Event, GetId, Query};

pub(super) fn lookup(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
    let cfg = sim.config().clone();
    o.put("churn_pct", ppm_pct(cfg.churn_ppm));
    sim.run_until(cfg.warmup_epochs)?;
    let mut ages = cfg.ages_ms.clone();
    ages.sort_unstable_by(|a, b| b.cmp(a));
    let t = sim.epoch() + cfg.epochs_in_ms(ages[0]);
    let mut dats = Vec::new();
    for &age in &ages {
        sim.run_until(t - cfg.epochs_in_ms(age).min(t - sim.epoch()))?;
        let src = loop {
            if let Some(s) = sim.random_up() {
                break s;
            }
            sim.step()?;
        };
        let k = sim.put_new(src, cfg.bits)?;
        sim.untrack(k);
        dats.push((age, k));
    }
    sim.run_until(t)?;
    let timeout = cfg.epochs_in_ms(cfg.get_timeout_ms);
    // (class, network_only, node, id, the node's incarnation)
    let mut queries: Vec<(usize, bool, usize, GetId, u32)> = Vec::new();
    for (c, &(_, k)) in dats.iter().enumerate() {
        let d = sim.tracked()[k].dat.clone();
        let q = Query::name(d.pubkey, &d.key).expect("short key");
        for net_only in [false, true] {
            let mut asked = 0;
            let mut tries = 0;
            while asked < cfg.gets && tries < 100 * cfg.gets {
                tries += 1;
                let Some(i) = sim.random_up() else { break };
                if let Some(id) = sim.get(i, q, net_only) {
                    queries.push((c, net_only, i, id, sim.incarnation(i)));
                    asked += 1;
                }
            }
        }
    }
    let start = sim.epoch();
    let mut done: Vec<Option<(u64, bool)>> = vec![None; queries.len()];
    let end = start + timeout + 1;
    loop {
        for (i, ev, e) in sim.take_events() {
            let (id, ok, local) = match ev {
                Event::Got { id, from, .. } => (id, true, from.is_none()),
                Event::TimedOut { id } => (id, false, false),
            };
            if let Some(qi) = queries
                .iter()
                .position(|q| q.2 == i && q.3 == id && q.4 == sim.incarnation(i))
            {
                if done[qi].is_none() {
                    done[qi] = Some((if ok { e - start } else { NEVER }, local));
                }
            }
        }
        if sim.epoch() >= end || done.iter().all(|d| d.is_some()) {
            break;
        }
        sim.step()?;
    }
    let rtt_epochs = 2.0 * cfg.latency_us as f64 * 1000.0 / cfg.epoch_ns as f64;
    for (c, &(age, _)) in dats.iter().enumerate() {
        for net_only in [false, true] {
            let mut lat = Vec::new();
            let (mut n, mut ok, mut local, mut lost) = (0, 0, 0, 0);
            for (qi, q) in queries.iter().enumerate() {
                if q.0 != c || q.1 != net_only {
                    continue;
                }
                // A node that crashed while asking has no answer to give:
                // not counted as a failed lookup, but reported.
                if done[qi].is_none() && (sim.node(q.2).is_none() || sim.incarnation(q.2) != q.4) {
                    lost += 1;
                    continue;
                }
                n += 1;
                if let Some((e, l)) = done[qi] {
                    if e != NEVER {
                        ok += 1;
                        if l {
                            local += 1;
                        } else {
                            lat.push(e);
                        }
                    }
                }
            }
            let tag = format!("{age}ms{}", if net_only { "_net" } else { "" });
            o.put(&format!("{tag}_ok"), format!("{ok}/{n}"));
            if cfg.churn_ppm > 0 {
                o.put(&format!("{tag}_asker_crashed"), lost);
            }
            if !net_only {
                o.put(&format!("{tag}_local"), format!("{local}/{n}"));
            }
            lat.sort_unstable();
            let p50 = nearest_rank(&lat, 50);
            let p90 = nearest_rank(&lat, 90);
            o.put(&format!("{tag}_p50_ms"), fmt_ms(&cfg, p50));
            o.put(
                &format!("{tag}_p50_rtt"),
                if p50 == NEVER {
                    "-".into()
                } else {
                    format!("{:.2}", p50 as f64 / rtt_epochs)
                },
            );
            o.put(&format!("{tag}_p90_ms"), fmt_ms(&cfg, p90));
        }
    }
    Ok(())
}
