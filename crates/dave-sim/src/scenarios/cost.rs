//! Cost: packets and bytes per node per second in a steady state, by op,
//! and how much of what a node receives is cover.

use crate::engine::Sim;
use crate::error::SimError;
use crate::report::Outcome;
use dave_core::wire::Op;
use dave_core::Reason;

pub(super) fn cost(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
    let cfg = sim.config().clone();
    sim.run_until(cfg.warmup_epochs)?;
    let s0 = sim.stats_sum();
    let n0 = *sim.net();
    let nodes = sim.up_nodes().len() as f64;
    sim.run_until(cfg.warmup_epochs + cfg.epochs)?;
    let s1 = sim.stats_sum();
    let n1 = *sim.net();
    let secs = cfg.ms(cfg.epochs) / 1000.0;
    let per = |x: u64| x as f64 / nodes / secs;
    let pin = s1.packets_in - s0.packets_in;
    let pout = s1.packets_out - s0.packets_out;
    let bin = s1.bytes_in - s0.bytes_in;
    let bout = s1.bytes_out - s0.bytes_out;
    o.put("writes_per_s", cfg.writes_per_s);
    o.put("pkts_out_per_s", format!("{:.0}", per(pout)));
    o.put("bytes_out_per_s", format!("{:.0}", per(bout)));
    o.put("pkts_in_per_s", format!("{:.0}", per(pin)));
    o.put("bytes_in_per_s", format!("{:.0}", per(bin)));
    for op in Op::ALL {
        o.put(
            &format!("{}_out_per_s", op.name().to_lowercase()),
            format!("{:.1}", per(s1.out_by_op[op] - s0.out_by_op[op])),
        );
    }
    // Gossip slots: pushes of fresh dats and anti-entropy seeds share them
    // (docs/protocol.md 5.5).
    o.put("pushes_per_s", format!("{:.0}", per(s1.pushes - s0.pushes)));
    o.put("seeds_per_s", format!("{:.0}", per(s1.seeds - s0.seeds)));
    o.put(
        "ring_evicted_per_s",
        format!("{:.1}", per(s1.ring_evicted - s0.ring_evicted)),
    );
    let novel_p = n1.novel_pkts - n0.novel_pkts;
    let novel_b = n1.novel_bytes - n0.novel_bytes;
    let delivered = n1.delivered - n0.delivered;
    let cover = |useful: u64, all: u64| {
        if all == 0 {
            "-".to_string()
        } else {
            format!("{:.2}", 100.0 * (1.0 - useful as f64 / all as f64))
        }
    };
    o.put("cover_pkts_pct", cover(novel_p, delivered));
    o.put("cover_bytes_pct", cover(novel_b, bin));
    o.put("novel_per_node_s", format!("{:.1}", per(novel_p)));
    let pct = |x: u64| {
        if pin == 0 {
            "-".to_string()
        } else {
            format!("{:.2}", 100.0 * x as f64 / pin as f64)
        }
    };
    o.put(
        "filter_drop_pct",
        pct(s1.drop_count(Reason::Filter) - s0.drop_count(Reason::Filter)),
    );
    o.put("drop_pct", pct(s1.drops_total() - s0.drops_total()));
    Ok(())
}
