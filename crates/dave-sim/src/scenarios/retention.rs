//! Retention: how long dats of 8, 16 and 24 bits survive when DAT_CAP is
//! too small, against the mass formula.

use super::{median, SAMPLE_EPOCHS};
use crate::engine::{Sim, NEVER};
use crate::error::SimError;
use crate::report::Outcome;

pub(super) fn retention(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
    let cfg = sim.config().clone();
    sim.run_until(cfg.warmup_epochs)?;
    // Fill the stores past DAT_CAP before the tracked dats are written.
    let fill = (2000 * cfg.effective_dat_cap() as u64)
        .checked_div(cfg.writes_per_s)
        .map_or(0, |ms| cfg.epochs_in_ms(ms));
    let t0 = sim.epoch() + fill.min(cfg.epochs / 2);
    sim.run_until(t0)?;
    let classes = [8u8, 16, 24];
    let mut ks = Vec::new();
    for &b in &classes {
        for _ in 0..cfg.trials {
            let i = sim.random_up().expect("nodes are up");
            let k = sim.put_new(i, b)?;
            sim.untrack(k);
            ks.push((b, k));
        }
    }
    let start = sim.epoch();
    let mut half = vec![NEVER; ks.len()];
    // A dat's life ends the first time fewer than half the nodes hold it:
    // a copy gossiped back into stores with room between two prunes may
    // briefly reach half again, which is not the network keeping it.
    let mut fell = vec![false; ks.len()];
    let mut any = vec![NEVER; ks.len()];
    let mut cutoffs: Vec<f64> = Vec::new();
    let end = cfg.warmup_epochs + cfg.epochs;
    while sim.epoch() < end {
        let next = (sim.epoch() + SAMPLE_EPOCHS).min(end);
        sim.run_until(next)?;
        let up = sim.up_nodes().len();
        cutoffs.extend(
            sim.up_nodes()
                .into_iter()
                .filter_map(|i| sim.cutoff_mass(i)),
        );
        for (j, &(_, k)) in ks.iter().enumerate() {
            let w = sim.tracked()[k].dat.work;
            let h = sim.holders(&w);
            if h * 2 >= up && !fell[j] {
                half[j] = sim.epoch() - start;
            } else if half[j] != NEVER {
                fell[j] = true;
            }
            if h > 0 {
                any[j] = sim.epoch() - start;
            }
        }
    }
    let cap = sim.dat_cap as f64;
    let slack = (sim.dat_cap / 4 + 64) as f64;
    let r = cfg.writes_per_s as f64;
    let mean_bits = if sim.net().writes > 0 {
        sim.net().write_bits as f64 / sim.net().writes as f64
    } else {
        8.0
    };
    cutoffs.sort_by(|a, b| a.total_cmp(b));
    let cut = cutoffs.get(cutoffs.len() / 2).copied().unwrap_or(0.0);
    o.put("cap", sim.dat_cap);
    o.put("writes_per_s", cfg.writes_per_s);
    o.put("stream_bits", format!("{mean_bits:.2}"));
    // Per ms: the mass a dat needs to survive a prune, as measured.
    o.put("cutoff_bits_per_s", format!("{:.1}", cut * 1000.0));
    for &b in &classes {
        let idx: Vec<usize> = (0..ks.len()).filter(|&j| ks[j].0 == b).collect();
        let mut hs: Vec<u64> = idx.iter().map(|&j| half[j]).collect();
        let mut an: Vec<u64> = idx.iter().map(|&j| any[j]).collect();
        // Each dat's own difficulty (a solve to b bits may find more), and
        // the median over the class, like the measured lives.
        let mut ds: Vec<u64> = idx
            .iter()
            .map(|&j| sim.tracked()[ks[j].1].difficulty as u64)
            .collect();
        let d = median(&mut ds) as f64;
        let fmt_s = |e: u64| {
            if e == NEVER {
                "0".to_string()
            } else {
                format!("{:.1}", cfg.ms(e) / 1000.0)
            }
        };
        o.put(&format!("b{b}_bits"), d);
        o.put(&format!("b{b}_half_s"), fmt_s(median(&mut hs)));
        o.put(&format!("b{b}_last_s"), fmt_s(median(&mut an)));
        // The mass formula: a dat of d bits survives a prune while d/age
        // is above the cutoff, so it lives about d/cutoff. With the cutoff
        // measured in the stores...
        if cut > 0.0 {
            o.put(
                &format!("b{b}_formula_s"),
                format!("{:.1}", d / cut / 1000.0),
            );
        }
        // ...and a priori, if every node got every stream dat at once: the
        // cutoff is then (mean stream bits)·R/C, or with the slack held
        // above DAT_CAP between prunes, (mean bits)·R/(C + slack).
        if r > 0.0 {
            o.put(
                &format!("b{b}_full_spread_s"),
                format!(
                    "{:.1}-{:.1}",
                    d * cap / (mean_bits * r),
                    d * (cap + slack) / (mean_bits * r)
                ),
            );
        }
    }
    Ok(())
}
