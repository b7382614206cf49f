//! The result of a run: [`Outcome`], its named metrics, and the exact
//! text summary the golden test compares byte for byte. (Tables, CSV and
//! SVG are drawn by the `dave-sim` binary.)

use crate::engine::NetStats;
use dave_core::wire;
use dave_core::{Reason, Stats};
use std::fmt::Write as _;

/// The result of a run: named values (one table row), and what a plot needs.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Named results, in column order.
    pub metrics: Vec<(String, String)>,
    /// Propagation: per trial, for every node up at its end, the epochs
    /// from the put to the node first holding the dat (NEVER if never),
    /// sorted.
    pub arrivals: Vec<Vec<u64>>,
    /// Event-log records.
    pub records: u64,
    /// Hash of the event log.
    pub log_hash: [u8; 32],
    /// Hash of every node's final state.
    pub state_hash: [u8; 32],
    /// Counters of the network.
    pub net: NetStats,
    /// Counters of every node that was up at the end, summed.
    pub stats: Stats,
    /// Sybil: every `SAMPLE_EPOCHS`, the epoch and [`Sim::sybil_hold`].
    ///
    /// [`Sim::sybil_hold`]: crate::Sim::sybil_hold
    pub series: Vec<(u64, [f64; 4])>,
}

impl Outcome {
    pub(crate) fn put(&mut self, k: &str, v: impl std::fmt::Display) {
        self.metrics.push((k.to_string(), v.to_string()));
    }

    /// The value of a metric.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.metrics
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a numeric metric ("-" and absent are None).
    pub fn num(&self, k: &str) -> Option<f64> {
        self.get(k).and_then(|v| v.parse().ok())
    }

    /// A text summary: every metric, the counters and the hashes. Exact:
    /// the golden test compares it byte for byte.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.metrics {
            let _ = writeln!(s, "{k:<20} {v}");
        }
        let _ = writeln!(s, "{:<20} {:?}", "net", self.net);
        let st = &self.stats;
        let _ = writeln!(
            s,
            "{:<20} in {} out {} novel {} known {} answered {} peers+ {} peers- {} full {} refused {} pruned {} outbox_full {} filter_sat {}",
            "nodes",
            st.packets_in,
            st.packets_out,
            st.puts_novel,
            st.puts_known,
            st.gets_answered,
            st.peers_added,
            st.peers_dropped,
            st.peers_full,
            st.pds_refused,
            st.dats_pruned,
            st.outbox_full,
            st.filter_saturated
        );
        let mut drops = String::new();
        for r in Reason::ALL {
            let c = st.drop_count(r);
            if c > 0 {
                let _ = write!(drops, " {}={c}", r.name());
            }
        }
        let _ = writeln!(s, "{:<20}{drops}", "drops");
        let _ = writeln!(s, "{:<20} {}", "records", self.records);
        let _ = writeln!(s, "{:<20} {}", "log", wire::Hex(&self.log_hash));
        let _ = writeln!(s, "{:<20} {}", "state", wire::Hex(&self.state_hash));
        s
    }
}
