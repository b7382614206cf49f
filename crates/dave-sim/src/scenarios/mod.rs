//! The experiments: [`run`] builds the network, [`run_sim`] dispatches to
//! the configured scenario (one file each) and checks every node at the
//! end; and the helpers the scenarios share.

mod cost;
mod faults;
mod lookup;
mod propagation;
mod retention;
mod sybil;

pub use propagation::ideal_rounds;

use crate::config::{ppm_pct, us_ms, Scenario, SimConfig};
use crate::engine::{Sim, NEVER};
use crate::error::SimError;
use crate::report::Outcome;
use cost::cost;
use faults::faults;
use lookup::lookup;
use propagation::propagation;
use retention::retention;
use sybil::sybil;

/// Epochs between two propagation trials, so one trial's last packets do
/// not overlap the next.
const TRIAL_GAP_EPOCHS: u64 = 1024;

/// Epochs between holder counts in the retention scenario.
const SAMPLE_EPOCHS: u64 = 1024;

/// Builds the network and runs the configured scenario.
pub fn run(cfg: &SimConfig, threads: usize) -> Result<Outcome, SimError> {
    let mut sim = Sim::new(cfg, threads)?;
    run_sim(&mut sim)
}

/// Runs the configured scenario on a built network, then checks every node.
pub fn run_sim(sim: &mut Sim) -> Result<Outcome, SimError> {
    let mut o = Outcome::default();
    let cfg = sim.config().clone();
    o.put("scenario", cfg.scenario.name());
    o.put("nodes", cfg.nodes);
    o.put("seed", cfg.seed);
    o.put("latency_ms", us_ms(cfg.latency_us));
    o.put("loss_pct", ppm_pct(cfg.loss_ppm));
    o.put("background", cfg.background);
    match cfg.scenario {
        Scenario::Propagation => propagation(sim, &mut o)?,
        Scenario::Lookup => lookup(sim, &mut o)?,
        Scenario::Cost => cost(sim, &mut o)?,
        Scenario::Retention => retention(sim, &mut o)?,
        Scenario::Faults => faults(sim, &mut o)?,
        Scenario::Sybil => sybil(sim, &mut o)?,
    }
    let (peers, live) = sim.peer_means();
    o.put("peers", format!("{peers:.1}"));
    o.put("gossip_peers", format!("{live:.1}"));
    o.put("epochs_run", sim.epoch());
    sim.final_check()?;
    sim.flush_log();
    let (records, hash) = sim.log_digest();
    o.records = records;
    o.log_hash = hash;
    o.state_hash = sim.state_digest();
    o.net = *sim.net();
    o.stats = sim.stats_sum();
    Ok(o)
}

/// The q-th percentile (0..=100) of sorted values, by the nearest-rank rule.
fn nearest_rank(sorted: &[u64], q: u64) -> u64 {
    if sorted.is_empty() {
        return NEVER;
    }
    let r = (q as usize * sorted.len()).div_ceil(100).max(1);
    sorted[r - 1]
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    if v.is_empty() {
        NEVER
    } else {
        v[(v.len() - 1) / 2]
    }
}

fn fmt_epochs(e: u64) -> String {
    if e == NEVER {
        "-".into()
    } else {
        e.to_string()
    }
}

fn fmt_ms(cfg: &SimConfig, e: u64) -> String {
    if e == NEVER {
        "-".into()
    } else {
        format!("{:.1}", cfg.ms(e))
    }
}
