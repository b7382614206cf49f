//! Propagation: new dats put one after another into random nodes; how
//! fast each reaches every node, the first (no trust yet) and the later
//! ones, against push gossip's ideal.

use super::{fmt_epochs, fmt_ms, median, nearest_rank, TRIAL_GAP_EPOCHS};
use crate::engine::{all_hold, Sim, NEVER};
use crate::error::SimError;
use crate::report::Outcome;

/// Push gossip's ideal: about log2 N + ln N rounds to reach every node.
pub fn ideal_rounds(n: usize) -> f64 {
    let n = n as f64;
    n.log2() + n.ln()
}

pub(super) fn propagation(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
    let cfg = sim.config().clone();
    sim.run_until(cfg.warmup_epochs)?;
    let (s0, e0) = (sim.stats_sum(), sim.epoch());
    const QS: [u64; 4] = [50, 90, 99, 100];
    // Per trial: the epochs to each share of QS, and the share of nodes
    // whose first copy came straight from the writer.
    let mut rows: Vec<([u64; 4], u64)> = Vec::new();
    // Per trial, with --writers: the median arrival at nodes that never
    // write, and at all nodes.
    let mut readers: Vec<(u64, u64)> = Vec::new();
    let only_some_write = cfg.writers_ppm < 1_000_000;
    for _ in 0..cfg.trials {
        let pick = if only_some_write {
            sim.random_writer()
        } else {
            sim.random_up()
        };
        let Some(src) = pick else { break };
        let k = sim.put_new(src, cfg.bits)?;
        let start = sim.epoch();
        loop {
            sim.step()?;
            let e = sim.epoch();
            if e - start >= cfg.epochs || (e - start) % 16 == 0 && all_hold(sim, k) {
                break;
            }
        }
        let mut offs: Vec<u64> = sim
            .up_nodes()
            .into_iter()
            .map(|i| match sim.first_held(i, k) {
                NEVER => NEVER,
                e => e - start,
            })
            .collect();
        let (mut direct, mut relayed) = (0u64, 0u64);
        for i in sim.up_nodes() {
            match sim.first_from(i, k) {
                Some(f) if f == src => direct += 1,
                Some(_) => relayed += 1,
                None => {}
            }
        }
        if only_some_write {
            let mut r: Vec<u64> = sim
                .up_nodes()
                .into_iter()
                .filter(|&i| !sim.is_writer(i))
                .map(|i| match sim.first_held(i, k) {
                    NEVER => NEVER,
                    e => e - start,
                })
                .collect();
            let mut all = offs.clone();
            readers.push((median(&mut r), median(&mut all)));
        }
        offs.sort_unstable();
        rows.push((
            QS.map(|q| nearest_rank(&offs, q)),
            100 * direct / (direct + relayed).max(1),
        ));
        o.arrivals.push(offs);
        sim.untrack(k);
        let until = sim.epoch() + TRIAL_GAP_EPOCHS;
        sim.run_until(until)?;
    }
    // What a node sends, and how its table turns over, while the dats
    // spread (per node that is up at the end, per second of virtual time).
    let (s1, e1) = (sim.stats_sum(), sim.epoch());
    let per = |x: u64| {
        let secs = cfg.ms(e1 - e0) / 1000.0;
        x as f64 / sim.up_nodes().len().max(1) as f64 / secs.max(1e-9)
    };
    // (name, count over the run, decimals)
    let rates = [
        ("bytes_out_per_node_s", s1.bytes_out - s0.bytes_out, 0),
        ("pkts_out_per_node_s", s1.packets_out - s0.packets_out, 0),
        ("added_per_node_s", s1.peers_added - s0.peers_added, 1),
        ("evicted_per_node_s", s1.peers_evicted - s0.peers_evicted, 1),
        ("dropped_per_node_s", s1.peers_dropped - s0.peers_dropped, 1),
    ];
    for (name, n, places) in rates {
        o.put(name, format!("{:.*}", places, per(n)));
    }
    o.put("trials", rows.len());
    o.put("bits", cfg.bits);
    // The first dat meets a network where all trust is zero; later dats
    // meet the trust the earlier ones built (docs/protocol.md 5.5).
    for (name, part) in [
        ("first", &rows[..rows.len().min(1)]),
        ("later", &rows[rows.len().min(1)..]),
    ] {
        if part.is_empty() {
            continue;
        }
        for (j, q) in QS.iter().enumerate() {
            let mut v: Vec<u64> = part.iter().map(|r| r.0[j]).collect();
            let m = median(&mut v);
            o.put(&format!("{name}_e{q}"), fmt_epochs(m));
            o.put(&format!("{name}_ms{q}"), fmt_ms(&cfg, m));
        }
        let mut w: Vec<u64> = part.iter().map(|r| r.1).collect();
        o.put(&format!("{name}_from_writer_pct"), median(&mut w));
        let reached = part.iter().filter(|r| r.0[3] != NEVER).count();
        o.put(
            &format!("{name}_reached_all"),
            format!("{reached}/{}", part.len()),
        );
    }
    if readers.len() > 1 {
        // Later dats only: the first meets a network without trust.
        let mut r: Vec<u64> = readers[1..].iter().map(|x| x.0).collect();
        let mut a: Vec<u64> = readers[1..].iter().map(|x| x.1).collect();
        let (r, a) = (median(&mut r), median(&mut a));
        o.put("later_readers_ms50", fmt_ms(&cfg, r));
        o.put("later_all_ms50", fmt_ms(&cfg, a));
        if r != NEVER && a != NEVER && a > 0 {
            o.put("readers_vs_all", format!("{:.2}", r as f64 / a as f64));
        }
    }
    o.put("ideal_rounds", format!("{:.1}", ideal_rounds(cfg.nodes)));
    for (j, q) in QS.iter().enumerate() {
        o.put(
            &format!("trials_e{q}"),
            rows.iter()
                .map(|r| fmt_epochs(r.0[j]))
                .collect::<Vec<_>>()
                .join(":"),
        );
    }
    o.put(
        "trials_from_writer_pct",
        rows.iter()
            .map(|r| r.1.to_string())
            .collect::<Vec<_>>()
            .join(":"),
    );
    Ok(())
}
