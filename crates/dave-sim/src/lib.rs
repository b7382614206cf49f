//! A deterministic network simulator: many [`Node`]s in virtual time.
//!
//! The simulator drives the very same protocol core as the UDP driver: it
//! ticks every node once per epoch (lockstep), hands each datagram to its
//! destination at its arrival epoch, and drains every outbox. Everything the
//! network does to a datagram (latency, loss, duplication, reordering,
//! partitions) and everything that happens to a node (crash, restart with or
//! without its store, late join) is decided by one seeded
//! `Xoshiro256PlusPlus`, so a run is a pure function of its [`SimConfig`].
//! Hostile senders are traffic generators on their own addresses, not
//! modified nodes.
//!
//! After every event (a tick or a delivered datagram) the affected node's
//! bounds are checked ([`Node::check_bounds`]); every `check_every` epochs one
//! node in turn gets the full [`Node::check_invariants`]; at the end every
//! node is checked in full (see [`Sim::final_check`]). A failure carries the
//! one command that replays it.
//!
//! Each epoch runs in three phases:
//!
//! 1. scheduled events, in order: crashes, restarts, joins, partitions, the
//!    background write stream, hostile sends (sequential, the sim's RNG);
//! 2. per node, in node order: tick, then deliver the datagrams that arrive
//!    this epoch in the order they were sent (parallel over contiguous
//!    chunks of nodes: a node's work depends only on its own state and its
//!    inbox, so the result does not depend on the number of threads);
//! 3. routing every datagram sent in phase 2, in node order, through loss,
//!    duplication, partitions and latency (sequential, the sim's RNG).
//!
//! The event log is a sequence of fixed-size binary records (kind, node,
//! peer, size or detail) fed to blake3 as the run goes; `--log FILE` writes
//! the same records as text lines.

use dave_core::splitmix;
use dave_core::wire::{self, Msg, Op, Packet, Pd, NPEER};
use dave_core::{pow, Dat};
use dave_core::{Config, DELAY_EPOCHS, EPOCH_NS};
use dave_core::{Event, GetId, GetOpts, Node, Now, Query, Reason, Stats, MAX_FANOUT};
use ed25519_dalek::SigningKey;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};

/// The wall clock at epoch 0, in ms since the Unix epoch (21 November 2025).
pub const T0_MS: u64 = 1_763_700_000_000;
/// "Never" for epoch fields.
pub const NEVER: u64 = u64::MAX;
/// The port every simulated address uses.
pub const PORT: u16 = 1618;

// The address plan. Everything is in 10/8, so the scope rule of docs/protocol.md
// 5.4 lets nodes pass each other's addresses on, as on one private network.
const NODE_BASE: u32 = 0x0a00_0001; // node i is 10.0.0.1 + i
const SPOOF_NET: u32 = 0x0afd_0000; // forged sources of hostile packets
const PHANTOM_NET: u32 = 0x0afe_0000; // advertised by hostile PEERs; never speaks
const HOSTILE_NET: u32 = 0x0aff_0000; // the hostile senders themselves
/// Most nodes a simulation can hold (node addresses stop below 10.253/16).
pub const MAX_NODES: usize = (SPOOF_NET - NODE_BASE) as usize;

// Ids in the event log: nodes are their index; the rest are tagged.
const ID_HOSTILE: u32 = 0x4000_0000;
const ID_PHANTOM: u32 = 0x2000_0000;
const ID_SPOOF: u32 = 0x1000_0000;
const ID_NONE: u32 = u32::MAX;

/// Epochs between two propagation trials, so one trial's last packets do
/// not overlap the next.
const TRIAL_GAP_EPOCHS: u64 = 1024;
/// Epochs between holder counts in the retention scenario.
const SAMPLE_EPOCHS: u64 = 1024;
/// Outbox slots per simulated node: the simulator drains the outbox after
/// every event, so a handful would do; 64 keeps memory low at 5000 nodes.
const SIM_OUTBOX_SLOTS: usize = 64;
/// Bytes of each simulated value.
const VAL_LEN: usize = 64;
/// Distinct writer keys for background and stream dats.
const WRITERS: usize = 16;

/// Which experiment a run performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// New dats put one after another; how fast each reaches every node.
    Propagation,
    /// GETs for dats of several ages from random nodes.
    Lookup,
    /// Packets and bytes per node per second in a steady state.
    Cost,
    /// How long dats of 8, 16 and 24 bits survive when DAT_CAP is too small.
    Retention,
    /// Everything at once (loss, duplication, reordering, a partition that
    /// heals, churn, late joins, hostile senders), then one dat and lookups.
    Faults,
    /// A share of the nodes are attackers ([`SybilMode`]): how fast honest
    /// dats spread among the honest nodes, whether honest lookups succeed,
    /// and how much of the honest nodes' tables and trust the attackers hold.
    Sybil,
}

/// What Sybil attackers do. They run the same `Node` core as everyone (so
/// they answer pings, store what they are sent and earn trust like any
/// peer); the simulator filters what they send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SybilMode {
    /// Take every dat, send none: no gossip, no answers to GETs.
    Silent,
    /// Send only the attackers' own dats, which they write at
    /// `sybil_writes_per_s` to earn trust; swallow every other dat.
    Own,
    /// `Own`, and lie about peers: every PEER an attacker sends names only
    /// attackers, and each attacker sends unsolicited PEERs of attackers to
    /// random honest nodes every [`ECLIPSE_EVERY`] epochs.
    Eclipse,
}

impl SybilMode {
    /// Every mode.
    pub const ALL: [SybilMode; 3] = [SybilMode::Silent, SybilMode::Own, SybilMode::Eclipse];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SybilMode::Silent => "silent",
            SybilMode::Own => "own",
            SybilMode::Eclipse => "eclipse",
        }
    }

    /// The mode with this name.
    pub fn parse(s: &str) -> Option<SybilMode> {
        SybilMode::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Epochs between two unsolicited PEERs of one eclipse attacker.
pub const ECLIPSE_EVERY: u64 = 64;

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 6] = [
        Scenario::Propagation,
        Scenario::Lookup,
        Scenario::Cost,
        Scenario::Retention,
        Scenario::Faults,
        Scenario::Sybil,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Propagation => "propagation",
            Scenario::Lookup => "lookup",
            Scenario::Cost => "cost",
            Scenario::Retention => "retention",
            Scenario::Faults => "faults",
            Scenario::Sybil => "sybil",
        }
    }

    /// The scenario with this name.
    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Everything that determines a run. Rates are in parts per million so that
/// no decision depends on floating point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The experiment.
    pub scenario: Scenario,
    /// Nodes at the start (late joiners included).
    pub nodes: usize,
    /// Seed of everything.
    pub seed: u64,
    /// Epochs before measuring: peers meet and pass DELAY.
    pub warmup_epochs: u64,
    /// Epochs measured (propagation: the most one trial may take).
    pub epochs: u64,
    /// Length of an epoch in ns (the nodes' EPOCH).
    pub epoch_ns: u64,
    /// Mean one-way latency of a link, in µs. Each link's own latency is
    /// uniform in [mean/2, 3·mean/2), fixed for the run.
    pub latency_us: u64,
    /// Mean of the per-datagram jitter added to the link latency, in µs
    /// (uniform in [0, 2·jitter]); jitter above one epoch reorders.
    pub jitter_us: u64,
    /// Chance a datagram is lost.
    pub loss_ppm: u32,
    /// Chance a datagram is delivered twice (each copy with its own jitter).
    pub dup_ppm: u32,
    /// Share of nodes down at any moment (after warmup).
    pub churn_ppm: u32,
    /// Mean downtime of a crash, in epochs (uniform in [1, 2·mean]).
    pub downtime_epochs: u64,
    /// Chance a restarting node keeps its store.
    pub keep_ppm: u32,
    /// Share of nodes that join late (uniformly during the first half of
    /// the measured epochs).
    pub join_ppm: u32,
    /// Hostile senders.
    pub hostile: usize,
    /// Epochs between two packets of one hostile sender.
    pub hostile_every: u64,
    /// A partition into two random halves: (epochs after warmup, length).
    pub partition: Option<(u64, u64)>,
    /// Dats every node holds from the start (8 bits, loaded with restore).
    pub background: usize,
    /// New 8-bit dats per second written into random nodes.
    pub writes_per_s: u64,
    /// DAT_CAP of every node; 0 means enough for every dat of the run.
    pub dat_cap: usize,
    /// FILTER_CAP of every node.
    pub filter_cap: usize,
    /// Bootstrap edges per node, drawn at random among the first nodes.
    pub edges: usize,
    /// Tracked dats (propagation trials; per difficulty in retention).
    pub trials: usize,
    /// Difficulty of tracked dats.
    pub bits: u8,
    /// Ages of the dats looked up, in ms.
    pub ages_ms: Vec<u64>,
    /// Lookups per age (and as many again asking the network only).
    pub gets: usize,
    /// Timeout of a lookup, in ms.
    pub get_timeout_ms: u64,
    /// Epochs between full invariant checks (of one node in turn).
    pub check_every: u64,
    /// PROBE of every node (1/PROBE: chance a selection ignores trust;
    /// 1 makes every selection uniform).
    pub probe: u32,
    /// Epochs per wake: a node ticks once every `batch` epochs (catching
    /// up, as the UDP driver does after a timer wake) and reads what
    /// arrived since at that wake. 1 is lockstep.
    pub batch: u64,
    /// Share of the nodes that are Sybil attackers.
    pub sybil_ppm: u32,
    /// What the attackers do.
    pub sybil_mode: SybilMode,
    /// New 8-bit dats per second the attackers write, in all (own and
    /// eclipse modes).
    pub sybil_writes_per_s: u64,
    /// MAX_PEERS of every node.
    pub max_peers: usize,
}

impl SimConfig {
    /// The defaults of a scenario.
    pub fn new(scenario: Scenario) -> SimConfig {
        let base = SimConfig {
            scenario,
            nodes: 100,
            seed: 1,
            // Three DELAYs: peers learn each other by GETPEER and become
            // eligible for gossip DELAY epochs after they meet.
            warmup_epochs: 3 * DELAY_EPOCHS,
            epochs: 30_000,
            epoch_ns: EPOCH_NS,
            latency_us: 20_000,
            jitter_us: 2_000,
            loss_ppm: 0,
            dup_ppm: 0,
            churn_ppm: 0,
            downtime_epochs: 15_259, // one second
            keep_ppm: 500_000,
            join_ppm: 0,
            hostile: 0,
            hostile_every: 8,
            partition: None,
            background: 0,
            writes_per_s: 0,
            dat_cap: 0,
            filter_cap: 4096,
            edges: 3,
            trials: 5,
            bits: 16,
            ages_ms: vec![10, 100, 1000, 4000],
            gets: 50,
            get_timeout_ms: 2000,
            check_every: 4096,
            probe: dave_core::PROBE,
            batch: 1,
            sybil_ppm: 0,
            sybil_mode: SybilMode::Own,
            sybil_writes_per_s: 50,
            max_peers: dave_core::MAX_PEERS,
        };
        match scenario {
            Scenario::Propagation => base,
            Scenario::Lookup => SimConfig {
                epochs: 0,
                background: 1000,
                ..base
            },
            Scenario::Cost => SimConfig {
                epochs: 3 * 15_259,
                background: 1000,
                writes_per_s: 100,
                ..base
            },
            Scenario::Retention => SimConfig {
                epochs: 20 * 15_259,
                dat_cap: 1000,
                writes_per_s: 500,
                trials: 3,
                ..base
            },
            Scenario::Faults => SimConfig {
                nodes: 60,
                epochs: 40_000,
                loss_ppm: 50_000,
                dup_ppm: 20_000,
                jitter_us: 5_000,
                churn_ppm: 100_000,
                downtime_epochs: 3_000,
                join_ppm: 100_000,
                hostile: 3,
                partition: Some((0, 4_000)),
                background: 100,
                writes_per_s: 50,
                trials: 1,
                ages_ms: vec![100],
                gets: 20,
                ..base
            },
            Scenario::Sybil => SimConfig {
                trials: 4,
                writes_per_s: 50,
                sybil_ppm: 300_000,
                gets: 25,
                ..base
            },
        }
    }

    /// The epochs in `ms` milliseconds at this EPOCH (at least 1).
    pub fn epochs_in_ms(&self, ms: u64) -> u64 {
        ((ms as u128 * 1_000_000 / self.epoch_ns.max(1) as u128) as u64).max(1)
    }

    /// Milliseconds in `epochs` epochs.
    pub fn ms(&self, epochs: u64) -> f64 {
        epochs as f64 * self.epoch_ns as f64 / 1e6
    }

    /// DAT_CAP the nodes get: the configured one, or room for every dat.
    pub fn effective_dat_cap(&self) -> usize {
        if self.dat_cap > 0 {
            return self.dat_cap;
        }
        let secs = (self.warmup_epochs + self.epochs + self.lookup_span()) as u128
            * self.epoch_ns as u128
            / 1_000_000_000
            + 1;
        let writes = (self.writes_per_s as u128 * secs) as usize;
        self.background + writes + 3 * self.trials + self.ages_ms.len() + 256
    }

    fn lookup_span(&self) -> u64 {
        match self.scenario {
            Scenario::Lookup | Scenario::Faults => {
                let age = self.ages_ms.iter().copied().max().unwrap_or(0);
                self.epochs_in_ms(age) + 2 * self.epochs_in_ms(self.get_timeout_ms)
            }
            _ => 0,
        }
    }

    /// The flags that make this configuration, leaving out those at their
    /// scenario default and the seed.
    pub fn to_args(&self) -> Vec<String> {
        let d = SimConfig::new(self.scenario);
        let mut a = vec!["--scenario".to_string(), self.scenario.name().to_string()];
        let mut flag = |name: &str, v: String, dv: String| {
            if v != dv {
                a.push(format!("--{name}"));
                a.push(v);
            }
        };
        flag("nodes", self.nodes.to_string(), d.nodes.to_string());
        flag(
            "warmup",
            self.warmup_epochs.to_string(),
            d.warmup_epochs.to_string(),
        );
        flag("epochs", self.epochs.to_string(), d.epochs.to_string());
        flag("epoch", self.epoch_ns.to_string(), d.epoch_ns.to_string());
        flag("latency", us_ms(self.latency_us), us_ms(d.latency_us));
        flag("jitter", us_ms(self.jitter_us), us_ms(d.jitter_us));
        flag("loss", ppm_pct(self.loss_ppm), ppm_pct(d.loss_ppm));
        flag("dup", ppm_pct(self.dup_ppm), ppm_pct(d.dup_ppm));
        flag("churn", ppm_pct(self.churn_ppm), ppm_pct(d.churn_ppm));
        flag(
            "downtime",
            self.downtime_epochs.to_string(),
            d.downtime_epochs.to_string(),
        );
        flag("keep", ppm_pct(self.keep_ppm), ppm_pct(d.keep_ppm));
        flag("join", ppm_pct(self.join_ppm), ppm_pct(d.join_ppm));
        flag("hostile", self.hostile.to_string(), d.hostile.to_string());
        flag(
            "hostile-every",
            self.hostile_every.to_string(),
            d.hostile_every.to_string(),
        );
        let part = |p: Option<(u64, u64)>| match p {
            Some((at, len)) => format!("{at}+{len}"),
            None => "none".to_string(),
        };
        flag("partition", part(self.partition), part(d.partition));
        flag(
            "background",
            self.background.to_string(),
            d.background.to_string(),
        );
        flag(
            "writes",
            self.writes_per_s.to_string(),
            d.writes_per_s.to_string(),
        );
        flag("cap", self.dat_cap.to_string(), d.dat_cap.to_string());
        flag(
            "filter",
            self.filter_cap.to_string(),
            d.filter_cap.to_string(),
        );
        flag("edges", self.edges.to_string(), d.edges.to_string());
        flag("trials", self.trials.to_string(), d.trials.to_string());
        flag("bits", self.bits.to_string(), d.bits.to_string());
        let ages = |v: &[u64]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(":")
        };
        flag("ages", ages(&self.ages_ms), ages(&d.ages_ms));
        flag("gets", self.gets.to_string(), d.gets.to_string());
        flag(
            "timeout",
            self.get_timeout_ms.to_string(),
            d.get_timeout_ms.to_string(),
        );
        flag(
            "check-every",
            self.check_every.to_string(),
            d.check_every.to_string(),
        );
        flag("probe", self.probe.to_string(), d.probe.to_string());
        flag("batch", self.batch.to_string(), d.batch.to_string());
        flag("sybil", ppm_pct(self.sybil_ppm), ppm_pct(d.sybil_ppm));
        flag(
            "sybil-mode",
            self.sybil_mode.name().to_string(),
            d.sybil_mode.name().to_string(),
        );
        flag(
            "sybil-writes",
            self.sybil_writes_per_s.to_string(),
            d.sybil_writes_per_s.to_string(),
        );
        flag(
            "max-peers",
            self.max_peers.to_string(),
            d.max_peers.to_string(),
        );
        a
    }

    /// The command that replays this run.
    pub fn replay(&self) -> String {
        format!(
            "cargo run --release --bin dave-sim -- {} --seed {}",
            self.to_args().join(" "),
            self.seed
        )
    }

    /// Checks that the configuration can run.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes < 2 || self.nodes > MAX_NODES {
            return Err(format!("--nodes must be 2..={MAX_NODES}"));
        }
        if self.epoch_ns == 0 {
            return Err("--epoch must be positive".into());
        }
        for (name, v) in [
            ("loss", self.loss_ppm),
            ("dup", self.dup_ppm),
            ("keep", self.keep_ppm),
            ("join", self.join_ppm),
        ] {
            if v > 1_000_000 {
                return Err(format!("--{name} is a percentage (0..=100)"));
            }
        }
        if self.churn_ppm >= 1_000_000 {
            return Err("--churn must be below 100".into());
        }
        if self.bits > 40 {
            return Err("--bits above 40 would take days".into());
        }
        if self.batch == 0 || self.batch > 1 << 14 {
            return Err("--batch must be 1..=16384 epochs".into());
        }
        if self.hostile > 0xffff {
            return Err("--hostile must be below 65536".into());
        }
        if self.sybil_ppm > 0 && self.honest_nodes() < 2 {
            return Err("--sybil leaves fewer than 2 honest nodes".into());
        }
        if self.max_peers == 0 {
            return Err("--max-peers must be positive".into());
        }
        Ok(())
    }

    /// Attacker nodes: the share `sybil_ppm` of the nodes, rounded.
    pub fn sybil_nodes(&self) -> usize {
        ((self.nodes as u64 * self.sybil_ppm as u64 + 500_000) / 1_000_000) as usize
    }

    /// Honest nodes.
    pub fn honest_nodes(&self) -> usize {
        self.nodes - self.sybil_nodes().min(self.nodes)
    }
}

/// The flags of one run, for getopts (the `dave-sim` command line).
pub fn options() -> getopts::Options {
    let mut o = getopts::Options::new();
    o.optopt(
        "",
        "scenario",
        "propagation | lookup | cost | retention | faults | sybil (default propagation)",
        "NAME",
    );
    o.optopt("n", "nodes", "nodes (default 100)", "N");
    o.optopt("", "seed", "seed of the run (default 1)", "N");
    o.optopt(
        "",
        "warmup",
        "epochs before measuring (default 5979 = 3 x DELAY)",
        "EPOCHS",
    );
    o.optopt(
        "",
        "epochs",
        "epochs measured; propagation: the most one trial may take",
        "EPOCHS",
    );
    o.optopt("", "epoch", "EPOCH in ns (default 65537)", "NS");
    o.optopt(
        "",
        "latency",
        "mean one-way link latency in ms (default 20); links are uniform in [L/2, 3L/2)",
        "MS",
    );
    o.optopt(
        "",
        "jitter",
        "mean per-datagram jitter in ms (default 2), uniform in [0, 2J]",
        "MS",
    );
    o.optopt("", "loss", "datagram loss in percent (default 0)", "PCT");
    o.optopt(
        "",
        "dup",
        "datagram duplication in percent (default 0)",
        "PCT",
    );
    o.optopt(
        "",
        "churn",
        "percent of nodes down at any moment after warmup (default 0)",
        "PCT",
    );
    o.optopt(
        "",
        "downtime",
        "mean epochs a crashed node stays down (default 15259 = 1 s)",
        "EPOCHS",
    );
    o.optopt(
        "",
        "keep",
        "percent of restarts that keep their store (default 50)",
        "PCT",
    );
    o.optopt(
        "",
        "join",
        "percent of nodes that join late (default 0)",
        "PCT",
    );
    o.optopt("", "hostile", "hostile senders (default 0)", "N");
    o.optopt(
        "",
        "hostile-every",
        "epochs between two packets of a hostile sender (default 8)",
        "EPOCHS",
    );
    o.optopt(
        "",
        "partition",
        "split the nodes in two halves AT epochs after warmup for LEN epochs",
        "AT+LEN",
    );
    o.optopt(
        "",
        "background",
        "8-bit dats every node holds from the start",
        "N",
    );
    o.optopt(
        "",
        "writes",
        "new 8-bit dats per second, each put into a random node",
        "N",
    );
    o.optopt(
        "",
        "cap",
        "DAT_CAP of every node (default: room for every dat of the run)",
        "N",
    );
    o.optopt("", "filter", "FILTER_CAP of every node (default 4096)", "N");
    o.optopt("", "edges", "bootstrap edges per node (default 3)", "N");
    o.optopt(
        "",
        "trials",
        "tracked dats: propagation trials, or dats per difficulty in retention",
        "N",
    );
    o.optopt(
        "",
        "bits",
        "difficulty of tracked dats (default 16)",
        "BITS",
    );
    o.optopt(
        "",
        "ages",
        "ages of looked-up dats in ms, colon-separated (default 10:100:1000:4000)",
        "MS:MS",
    );
    o.optopt(
        "",
        "gets",
        "lookups per age, and as many asking the network only (default 50)",
        "N",
    );
    o.optopt("", "timeout", "lookup timeout in ms (default 2000)", "MS");
    o.optopt(
        "",
        "check-every",
        "epochs between full invariant checks of one node (default 4096)",
        "EPOCHS",
    );
    o.optopt(
        "",
        "probe",
        "PROBE of every node (default 1000; 1 = selection ignores trust)",
        "N",
    );
    o.optopt(
        "",
        "batch",
        "epochs per wake: nodes tick every B epochs and read at the wake (default 1, lockstep)",
        "B",
    );
    o.optopt(
        "",
        "sybil",
        "percent of nodes that are attackers (default 0; sybil scenario 30)",
        "PCT",
    );
    o.optopt(
        "",
        "sybil-mode",
        "silent (send no dat) | own (send only their own dats, written to earn trust) | eclipse (own, and PEERs name only attackers); default own",
        "MODE",
    );
    o.optopt(
        "",
        "sybil-writes",
        "new 8-bit dats per second the attackers write, in all (default 50)",
        "N",
    );
    o.optopt(
        "",
        "max-peers",
        "MAX_PEERS of every node (default 1024)",
        "N",
    );
    o
}

/// Reads the flags of [`options`] into a configuration.
pub fn config_from(m: &getopts::Matches) -> Result<SimConfig, String> {
    let scenario = match m.opt_str("scenario") {
        Some(s) => Scenario::parse(&s).ok_or_else(|| format!("unknown scenario {s:?}"))?,
        None => Scenario::Propagation,
    };
    let mut c = SimConfig::new(scenario);
    fn num<T: std::str::FromStr>(
        m: &getopts::Matches,
        name: &str,
        into: &mut T,
    ) -> Result<(), String> {
        if let Some(s) = m.opt_str(name) {
            *into = s
                .parse()
                .map_err(|_| format!("--{name}: {s:?} is not a number"))?;
        }
        Ok(())
    }
    fn pct(m: &getopts::Matches, name: &str, into: &mut u32) -> Result<(), String> {
        if let Some(s) = m.opt_str(name) {
            *into = parse_pct(&s).ok_or_else(|| format!("--{name}: {s:?} is not a percentage"))?;
        }
        Ok(())
    }
    fn ms(m: &getopts::Matches, name: &str, into: &mut u64) -> Result<(), String> {
        if let Some(s) = m.opt_str(name) {
            *into =
                parse_ms_us(&s).ok_or_else(|| format!("--{name}: {s:?} is not milliseconds"))?;
        }
        Ok(())
    }
    num(m, "nodes", &mut c.nodes)?;
    num(m, "seed", &mut c.seed)?;
    num(m, "warmup", &mut c.warmup_epochs)?;
    num(m, "epochs", &mut c.epochs)?;
    num(m, "epoch", &mut c.epoch_ns)?;
    ms(m, "latency", &mut c.latency_us)?;
    ms(m, "jitter", &mut c.jitter_us)?;
    pct(m, "loss", &mut c.loss_ppm)?;
    pct(m, "dup", &mut c.dup_ppm)?;
    pct(m, "churn", &mut c.churn_ppm)?;
    num(m, "downtime", &mut c.downtime_epochs)?;
    pct(m, "keep", &mut c.keep_ppm)?;
    pct(m, "join", &mut c.join_ppm)?;
    num(m, "hostile", &mut c.hostile)?;
    num(m, "hostile-every", &mut c.hostile_every)?;
    if let Some(s) = m.opt_str("partition") {
        c.partition = if s == "none" {
            None
        } else {
            let (a, l) = s
                .split_once('+')
                .ok_or_else(|| format!("--partition: {s:?} is not AT+LEN"))?;
            let p = |x: &str| {
                x.parse::<u64>()
                    .map_err(|_| format!("--partition: {s:?} is not AT+LEN"))
            };
            Some((p(a)?, p(l)?))
        };
    }
    num(m, "background", &mut c.background)?;
    num(m, "writes", &mut c.writes_per_s)?;
    num(m, "cap", &mut c.dat_cap)?;
    num(m, "filter", &mut c.filter_cap)?;
    num(m, "edges", &mut c.edges)?;
    num(m, "trials", &mut c.trials)?;
    num(m, "bits", &mut c.bits)?;
    if let Some(s) = m.opt_str("ages") {
        c.ages_ms = s
            .split(':')
            .map(|x| x.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("--ages: {s:?} is not MS:MS:..."))?;
    }
    num(m, "gets", &mut c.gets)?;
    num(m, "timeout", &mut c.get_timeout_ms)?;
    num(m, "check-every", &mut c.check_every)?;
    num(m, "probe", &mut c.probe)?;
    num(m, "batch", &mut c.batch)?;
    pct(m, "sybil", &mut c.sybil_ppm)?;
    if let Some(s) = m.opt_str("sybil-mode") {
        c.sybil_mode = SybilMode::parse(&s)
            .ok_or_else(|| format!("--sybil-mode: {s:?} is not silent, own or eclipse"))?;
    }
    num(m, "sybil-writes", &mut c.sybil_writes_per_s)?;
    num(m, "max-peers", &mut c.max_peers)?;
    c.validate()?;
    Ok(c)
}

/// A percentage ("10", "0.5") in parts per million.
pub fn parse_pct(s: &str) -> Option<u32> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 4 || whole.is_empty() && frac.is_empty() {
        return None;
    }
    let w: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..4 {
        f *= 10;
    }
    let ppm = w.checked_mul(10_000)?.checked_add(f)?;
    (ppm <= 1_000_000).then_some(ppm as u32)
}

/// Milliseconds ("20", "0.5") in µs.
pub fn parse_ms_us(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || whole.is_empty() && frac.is_empty() {
        return None;
    }
    let w: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..3 {
        f *= 10;
    }
    w.checked_mul(1000)?.checked_add(f)
}

fn ppm_pct(ppm: u32) -> String {
    let s = format!("{}.{:04}", ppm / 10_000, ppm % 10_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn us_ms(us: u64) -> String {
    let s = format!("{}.{:03}", us / 1000, us % 1000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A failed run: what went wrong, when, and how to replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    /// The epoch of the failure.
    pub epoch: u64,
    /// What went wrong.
    pub msg: String,
    /// The command that replays the run.
    pub replay: String,
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed at epoch {}: {}\nreplay: {}",
            self.epoch, self.msg, self.replay
        )
    }
}

impl std::error::Error for SimError {}

// ---- the event log ----

/// Kinds of event-log records.
mod rec {
    pub const EPOCH: u8 = b'e';
    pub const DELIVER: u8 = b'D';
    pub const TO_DOWN: u8 = b'Z';
    pub const SEND: u8 = b'S';
    pub const LOST: u8 = b'L';
    pub const CUT: u8 = b'P';
    pub const DUP: u8 = b'2';
    pub const CRASH: u8 = b'C';
    pub const RESTART: u8 = b'R';
    pub const JOIN: u8 = b'J';
    pub const SPLIT: u8 = b'X';
    pub const HEAL: u8 = b'Y';
    pub const PUT: u8 = b'W';
    pub const GET: u8 = b'G';
    pub const GOT: u8 = b'g';
    pub const TIMEOUT: u8 = b't';
    pub const HOSTILE: u8 = b'H';
    pub const WRITE: u8 = b'w';
    pub const SYBIL: u8 = b'y';
}

const REC_LEN: usize = 13;

fn push_rec(buf: &mut Vec<u8>, kind: u8, a: u32, b: u32, c: u32) {
    buf.push(kind);
    buf.extend_from_slice(&a.to_le_bytes());
    buf.extend_from_slice(&b.to_le_bytes());
    buf.extend_from_slice(&c.to_le_bytes());
}

fn rec_name(kind: u8) -> &'static str {
    match kind {
        rec::EPOCH => "epoch",
        rec::DELIVER => "deliver",
        rec::TO_DOWN => "to_down",
        rec::SEND => "send",
        rec::LOST => "lost",
        rec::CUT => "cut",
        rec::DUP => "dup",
        rec::CRASH => "crash",
        rec::RESTART => "restart",
        rec::JOIN => "join",
        rec::SPLIT => "split",
        rec::HEAL => "heal",
        rec::PUT => "put",
        rec::GET => "get",
        rec::GOT => "got",
        rec::TIMEOUT => "timeout",
        rec::HOSTILE => "hostile",
        rec::WRITE => "write",
        rec::SYBIL => "sybil",
        _ => "?",
    }
}

fn id_name(id: u32) -> String {
    if id >> 24 == 10 {
        format!("{}", Ipv4Addr::from(id))
    } else if id == ID_NONE {
        "-".into()
    } else if id & ID_HOSTILE != 0 {
        format!("h{}", id & 0xffff)
    } else if id & ID_PHANTOM != 0 {
        format!("phantom{}", id & 0xffff)
    } else if id & ID_SPOOF != 0 {
        format!("spoof{}", id & 0xffff)
    } else {
        format!("n{id}")
    }
}

struct Log {
    hasher: blake3::Hasher,
    buf: Vec<u8>,
    records: u64,
    text: Option<std::io::BufWriter<std::fs::File>>,
    epoch: u64,
}

impl Log {
    fn flush_buf(&mut self) {
        self.hasher.update(&self.buf);
        self.records += (self.buf.len() / REC_LEN) as u64;
        if let Some(w) = &mut self.text {
            for r in self.buf.chunks_exact(REC_LEN) {
                let (a, b, c) = (
                    u32::from_le_bytes(r[1..5].try_into().expect("4")),
                    u32::from_le_bytes(r[5..9].try_into().expect("4")),
                    u32::from_le_bytes(r[9..13].try_into().expect("4")),
                );
                let kind = r[0];
                if kind == rec::EPOCH {
                    self.epoch = a as u64 | (b as u64) << 32;
                    continue;
                }
                let _ = writeln!(
                    w,
                    "{} {} {} {} {}",
                    self.epoch,
                    rec_name(kind),
                    id_name(a),
                    id_name(b),
                    c
                );
            }
        }
        self.buf.clear();
    }

    fn add(&mut self, kind: u8, a: u32, b: u32, c: u32) {
        push_rec(&mut self.buf, kind, a, b, c);
    }

    fn append(&mut self, other: &[u8]) {
        self.buf.extend_from_slice(other);
    }
}

// ---- the network ----

#[derive(Clone, Copy)]
struct Hdr {
    to: u32,
    from: SocketAddr,
    from_id: u32,
    off: u32,
    len: u16,
}

/// Datagrams that arrive in one epoch.
#[derive(Default)]
struct Bucket {
    hdrs: Vec<Hdr>,
    bytes: Vec<u8>,
}

/// What one chunk of nodes produced in phase 2.
#[derive(Default)]
struct Out {
    sends: Vec<(u32, SocketAddr, u32, u16)>,
    bytes: Vec<u8>,
    log: Vec<u8>,
    events: Vec<(u32, Event)>,
    arrivals: Vec<(u32, u32, u32)>,
    ticks: u64,
    delivered: u64,
    to_down: u64,
    novel_pkts: u64,
    novel_bytes: u64,
    error: Option<(u32, String)>,
}

impl Out {
    fn clear(&mut self) {
        self.sends.clear();
        self.bytes.clear();
        self.log.clear();
        self.events.clear();
        self.arrivals.clear();
        self.error = None;
    }
}

struct Member {
    node: Option<Node>,
    addr: SocketAddr,
    up: bool,
    incarnation: u32,
    side: bool,
    /// Which epochs are this node's wakes (`(e + phase) % batch == 0`).
    phase: u64,
    edges: Vec<SocketAddr>,
    /// First epoch each tracked dat was held by this member's store (reset
    /// when it restarts without its store).
    got: Vec<u64>,
    /// Who delivered that first copy (an event-log id).
    got_from: Vec<u32>,
    /// An attacker (see [`SybilMode`]).
    sybil: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Action {
    Crash(u32),
    Restart(u32),
    Join(u32),
    Split,
    Heal,
}

/// What hostile senders send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attack {
    Garbage,
    Mutated,
    Replay,
    BadWork,
    LowWork,
    BadSig,
    Future,
    UnsolicitedPeer,
    SpoofGetpeer,
    Reflect,
}

const ATTACKS: [Attack; 10] = [
    Attack::Garbage,
    Attack::Mutated,
    Attack::Replay,
    Attack::BadWork,
    Attack::LowWork,
    Attack::BadSig,
    Attack::Future,
    Attack::UnsolicitedPeer,
    Attack::SpoofGetpeer,
    Attack::Reflect,
];

/// Counters of the whole network, kept by the simulator itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Node ticks run.
    pub ticks: u64,
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Datagrams sent by nodes.
    pub sent: u64,
    /// Datagrams lost on the way.
    pub lost: u64,
    /// Datagrams duplicated.
    pub duplicated: u64,
    /// Datagrams cut by a partition.
    pub cut: u64,
    /// Datagrams that arrived at a node that was down.
    pub to_down: u64,
    /// Datagrams sent to addresses advertised by hostile PEERs, by op.
    pub to_phantom: [u64; 4],
    /// Datagrams sent to forged sources, by op (reflection).
    pub to_spoofed: [u64; 4],
    /// Bytes sent to forged sources, by op.
    pub to_spoofed_bytes: [u64; 4],
    /// Datagrams sent to hostile senders.
    pub to_hostile: u64,
    /// Datagrams hostile senders sent.
    pub hostile_sent: u64,
    /// Bytes hostile senders sent.
    pub hostile_bytes: u64,
    /// Bytes of forged GETs sent for reflection.
    pub reflect_bytes: u64,
    /// Datagrams that stored a novel dat.
    pub novel_pkts: u64,
    /// Bytes of those datagrams.
    pub novel_bytes: u64,
    /// Crashes.
    pub crashes: u64,
    /// Restarts (with store, without).
    pub restarts: [u64; 2],
    /// Late joins.
    pub joins: u64,
    /// Dats written by the background stream.
    pub writes: u64,
    /// Sum of the difficulty of those dats.
    pub write_bits: u64,
    /// Full invariant checks run.
    pub checks: u64,
}

/// What the Sybil attackers did, counted by the simulator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SybilStats {
    /// PUTs attackers' nodes sent that the simulator swallowed (gossip
    /// and answers to GETs).
    pub swallowed: u64,
    /// PUTs of the attackers' own dats let through.
    pub own_sent: u64,
    /// Dats the attackers wrote.
    pub writes: u64,
    /// PEERs rewritten to name only attackers.
    pub lies: u64,
    /// Unsolicited PEERs sent to honest nodes.
    pub unsolicited: u64,
}

/// Who signs a dat the simulator makes, and which write stream it is in.
#[derive(Clone, Copy)]
enum Signer {
    /// One of the simulated writers.
    Writer,
    /// The attackers' key.
    Attacker,
}

/// What becomes of a datagram an attacker sends.
enum Filtered {
    Pass,
    Drop,
    Replace(Vec<u8>),
}

// Sybil log details.
const SY_SWALLOW: u32 = 0;
const SY_LIE: u32 = 1;
const SY_UNSOLICITED: u32 = 2;

/// A dat the simulator made and follows.
#[derive(Clone, Debug)]
pub struct Tracked {
    /// The dat.
    pub dat: Dat,
    /// The epoch it was put.
    pub epoch: u64,
    /// The node it was put into.
    pub node: usize,
    /// Its difficulty.
    pub difficulty: u8,
}

/// The simulator.
pub struct Sim {
    cfg: SimConfig,
    rng: Xoshiro256PlusPlus,
    members: Vec<Member>,
    wheel: Vec<Bucket>,
    sched: BinaryHeap<Reverse<(u64, u64, Action)>>,
    seq: u64,
    epoch: u64,
    dat_cap: usize,
    threads: usize,
    outs: Vec<Out>,
    log: Log,
    lat_key: u64,
    net: NetStats,
    writers: Vec<SigningKey>,
    next_key: u64,
    write_acc: u128,
    split: bool,
    check_cursor: usize,
    tracked: Vec<Tracked>,
    active: Vec<u32>,
    events: Vec<(usize, Event, u64)>,
    hostile_next: Vec<u64>,
    hostile_pool: Vec<Vec<u8>>,
    hostile_kinds: Vec<Attack>,
    capture: Vec<Vec<u8>>,
    capture_n: u64,
    scratch: Vec<u8>,
    sybils: Vec<u32>,
    sybil_key: SigningKey,
    sybil_acc: u128,
    sybil_stats: SybilStats,
}

fn ip_of(a: SocketAddr) -> u32 {
    match a.ip() {
        std::net::IpAddr::V4(v4) => u32::from(v4),
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(0, u32::from),
    }
}

fn addr_of(ip: u32) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(ip), PORT))
}

/// The address of node `i`.
pub fn node_addr(i: usize) -> SocketAddr {
    addr_of(NODE_BASE + i as u32)
}

fn rand_below(rng: &mut Xoshiro256PlusPlus, n: u64) -> u64 {
    ((rng.next_u64() as u128 * n as u128) >> 64) as u64
}

fn chance(rng: &mut Xoshiro256PlusPlus, ppm: u32) -> bool {
    ppm > 0 && rand_below(rng, 1_000_000) < ppm as u64
}

fn derive(seed: u64, a: u64, b: u64) -> u64 {
    splitmix(splitmix(seed ^ splitmix(a)) ^ b)
}

fn op_of(bytes: &[u8]) -> Option<Op> {
    wire::decode(bytes).ok().map(|m| m.op())
}

fn encode(m: &Msg<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; wire::MTU];
    let n = wire::encode_into(m, &mut buf).expect("a simulated message fits");
    buf.truncate(n);
    buf
}

fn dat_packet(d: &Dat) -> Vec<u8> {
    let t = d.time_ms.to_le_bytes();
    encode(&d.msg(&t))
}

impl Sim {
    /// Builds the network at epoch 0: every node that does not join late is
    /// started and given the background dats. `threads` only sets how many
    /// cores phase 2 and the preload use; results do not depend on it.
    pub fn new(cfg: &SimConfig, threads: usize) -> Result<Sim, SimError> {
        let fail = |msg: String| SimError {
            epoch: 0,
            msg,
            replay: cfg.replay(),
        };
        cfg.validate().map_err(fail)?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
        let threads = threads.clamp(1, 64).min(cfg.nodes);
        let lat_max_us = cfg.latency_us * 3 / 2 + 2 * cfg.jitter_us;
        // Room for the slowest datagram plus the wait for its node's wake.
        let wheel = (us_to_epochs(lat_max_us, cfg.epoch_ns) + cfg.batch.max(1) + 2)
            .next_power_of_two() as usize;
        let writers = (0..WRITERS as u64)
            .map(|w| {
                let mut k = [0u8; 32];
                for (j, c) in k.chunks_mut(8).enumerate() {
                    c.copy_from_slice(&derive(cfg.seed, 0x5717e5 + w, j as u64).to_le_bytes());
                }
                SigningKey::from_bytes(&k)
            })
            .collect();
        let joiners: Vec<bool> = (0..cfg.nodes)
            .map(|i| i > cfg.edges && chance(&mut rng, cfg.join_ppm))
            .collect();
        let first: Vec<usize> = (0..cfg.nodes).filter(|&i| !joiners[i]).collect();
        let mut members = Vec::with_capacity(cfg.nodes);
        for (i, &late) in joiners.iter().enumerate() {
            let mut edges = Vec::new();
            let pool = first.len().saturating_sub(usize::from(!late));
            let want = cfg.edges.min(pool);
            while edges.len() < want {
                let j = first[rand_below(&mut rng, first.len() as u64) as usize];
                let a = node_addr(j);
                if j != i && !edges.contains(&a) {
                    edges.push(a);
                }
            }
            members.push(Member {
                node: None,
                addr: node_addr(i),
                up: false,
                incarnation: 0,
                side: false,
                phase: derive(cfg.seed, 0xba7c4, i as u64) % cfg.batch.max(1),
                edges,
                got: Vec::new(),
                got_from: Vec::new(),
                sybil: false,
            });
        }
        let mut sim = Sim {
            dat_cap: cfg.effective_dat_cap(),
            cfg: cfg.clone(),
            lat_key: rng.next_u64(),
            rng,
            members,
            wheel: (0..wheel).map(|_| Bucket::default()).collect(),
            sched: BinaryHeap::new(),
            seq: 0,
            epoch: 0,
            threads,
            outs: (0..threads).map(|_| Out::default()).collect(),
            log: Log {
                hasher: blake3::Hasher::new(),
                buf: Vec::new(),
                records: 0,
                text: None,
                epoch: 0,
            },
            net: NetStats::default(),
            writers,
            next_key: 0,
            write_acc: 0,
            split: false,
            check_cursor: 0,
            tracked: Vec::new(),
            active: Vec::new(),
            events: Vec::new(),
            hostile_next: Vec::new(),
            hostile_pool: Vec::new(),
            hostile_kinds: Vec::new(),
            capture: Vec::new(),
            capture_n: 0,
            scratch: Vec::new(),
            sybils: Vec::new(),
            sybil_key: SigningKey::from_bytes(&[0x5b; 32]),
            sybil_acc: 0,
            sybil_stats: SybilStats::default(),
        };
        // The attackers: a uniform sample of the nodes (a partial shuffle).
        let k = cfg.sybil_nodes();
        if k > 0 {
            let mut idx: Vec<u32> = (0..cfg.nodes as u32).collect();
            for j in 0..k {
                let r = j + sim.below((cfg.nodes - j) as u64) as usize;
                idx.swap(j, r);
            }
            let mut chosen = idx[..k].to_vec();
            chosen.sort_unstable();
            for &i in &chosen {
                sim.members[i as usize].sybil = true;
            }
            sim.sybils = chosen;
        }
        for (i, &late) in joiners.iter().enumerate() {
            if late {
                let span = (cfg.epochs / 2).max(1);
                let at = cfg.warmup_epochs + 1 + sim.below(span);
                sim.schedule(at, Action::Join(i as u32));
            } else {
                sim.start(i, false);
            }
        }
        sim.preload()?;
        if cfg.churn_ppm > 0 {
            for i in 0..cfg.nodes {
                let at = cfg.warmup_epochs + 1 + sim.uptime();
                sim.schedule(at, Action::Crash(i as u32));
            }
        }
        if let Some((at, len)) = cfg.partition {
            let s = cfg.warmup_epochs + at.max(1);
            sim.schedule(s, Action::Split);
            sim.schedule(s + len.max(1), Action::Heal);
        }
        sim.init_hostiles();
        Ok(sim)
    }

    /// Writes the event log as text lines (`epoch kind a b detail`) to `path`.
    pub fn log_to(&mut self, path: &std::path::Path) -> std::io::Result<()> {
        self.log.text = Some(std::io::BufWriter::new(std::fs::File::create(path)?));
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The time as nodes are told it at epoch `e`.
    pub fn now_at(&self, e: u64) -> Now {
        Now {
            epoch: e,
            unix_ms: T0_MS + (e as u128 * self.cfg.epoch_ns as u128 / 1_000_000) as u64,
        }
    }

    /// Network counters.
    pub fn net(&self) -> &NetStats {
        &self.net
    }

    /// Nodes (members) in the simulation, up or not.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when there are no members (never, once built).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Node `i`, if it is up.
    pub fn node(&self, i: usize) -> Option<&Node> {
        let m = &self.members[i];
        if m.up {
            m.node.as_ref()
        } else {
            None
        }
    }

    /// How many times node `i` has been restarted.
    pub fn incarnation(&self, i: usize) -> u32 {
        self.members[i].incarnation
    }

    /// Indexes of the nodes that are up.
    pub fn up_nodes(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].up)
            .collect()
    }

    /// A uniformly random node that is up.
    pub fn random_up(&mut self) -> Option<usize> {
        let up = self.up_nodes();
        if up.is_empty() {
            None
        } else {
            Some(up[self.below(up.len() as u64) as usize])
        }
    }

    /// A uniformly random up node that is an attacker (`sybil`) or honest.
    pub fn random_role(&mut self, sybil: bool) -> Option<usize> {
        let up: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].up && self.members[i].sybil == sybil)
            .collect();
        if up.is_empty() {
            None
        } else {
            Some(up[self.below(up.len() as u64) as usize])
        }
    }

    /// Whether node `i` is an attacker.
    pub fn is_sybil(&self, i: usize) -> bool {
        self.members[i].sybil
    }

    /// What the attackers did.
    pub fn sybil_stats(&self) -> &SybilStats {
        &self.sybil_stats
    }

    /// The attackers' hold on the honest nodes that are up, each a mean
    /// over those nodes: the share of table entries that are attackers; of
    /// the peers gossip may go to now (in the table for DELAY, heard from
    /// within 2·PING); of trust; and the share of honest nodes whose most
    /// trusted peer is an attacker (of those that trust anyone).
    pub fn sybil_hold(&self) -> [f64; 4] {
        let mut sum = [0.0f64; 4];
        let mut n = [0u64; 4];
        for m in self.members.iter().filter(|m| m.up && !m.sybil) {
            let Some(node) = &m.node else { continue };
            let c = node.config();
            let now = node.epoch();
            let (mut all, mut bad) = (0u64, 0u64);
            let (mut live, mut live_bad) = (0u64, 0u64);
            let (mut trust, mut trust_bad) = (0.0f64, 0.0f64);
            let mut top: Option<(f64, bool)> = None;
            for p in node.peers().iter() {
                let id = self.id_of(p.addr);
                let sy = (id as usize) < self.members.len() && self.members[id as usize].sybil;
                all += 1;
                bad += sy as u64;
                if Node::gossip_ok(p, now, c) {
                    live += 1;
                    live_bad += sy as u64;
                }
                trust += p.trust;
                if sy {
                    trust_bad += p.trust;
                }
                if p.trust > 0.0 && top.is_none_or(|(t, _)| p.trust > t) {
                    top = Some((p.trust, sy));
                }
            }
            for (k, (num, den)) in [
                (bad as f64, all as f64),
                (live_bad as f64, live as f64),
                (trust_bad, trust),
            ]
            .into_iter()
            .enumerate()
            {
                if den > 0.0 {
                    sum[k] += num / den;
                    n[k] += 1;
                }
            }
            if let Some((_, sy)) = top {
                sum[3] += sy as u64 as f64;
                n[3] += 1;
            }
        }
        std::array::from_fn(|k| if n[k] > 0 { sum[k] / n[k] as f64 } else { 0.0 })
    }

    /// The dats being followed.
    pub fn tracked(&self) -> &[Tracked] {
        &self.tracked
    }

    /// The first epoch node `i` held tracked dat `k` (NEVER if not yet).
    pub fn first_held(&self, i: usize, k: usize) -> u64 {
        self.members[i].got[k]
    }

    /// The mass (difficulty per ms of age) of node `i`'s DAT_CAP-th
    /// heaviest dat now: what a dat must beat to survive a prune. `None`
    /// when the node is down or holds no more than DAT_CAP dats.
    pub fn cutoff_mass(&self, i: usize) -> Option<f64> {
        let n = self.node(i)?;
        let st = n.store();
        let cap = st.cap();
        if st.len() <= cap || cap == 0 {
            return None;
        }
        let now = n.now_ms();
        let mut m: Vec<f64> = (0..st.len() as u32)
            .map(|s| {
                let x = st.meta(s);
                x.difficulty as f64 / pow::age_ms(x.time_ms, now) as f64
            })
            .collect();
        let (_, c, _) = m.select_nth_unstable_by(cap - 1, |a, b| b.total_cmp(a));
        Some(*c)
    }

    /// Who delivered node `i`'s first copy of tracked dat `k`: a node
    /// index, or `None` (put there, restored, or not held).
    pub fn first_from(&self, i: usize, k: usize) -> Option<usize> {
        let f = self.members[i].got_from[k];
        (f < ID_SPOOF).then_some(f as usize)
    }

    /// Up nodes holding the dat with this work hash.
    pub fn holders(&self, work: &[u8; 32]) -> usize {
        self.members
            .iter()
            .filter(|m| {
                m.up && m
                    .node
                    .as_ref()
                    .is_some_and(|n| n.dat_by_work(work).is_some())
            })
            .count()
    }

    /// Application events since the last call: (node, event, epoch).
    pub fn take_events(&mut self) -> Vec<(usize, Event, u64)> {
        std::mem::take(&mut self.events)
    }

    /// Records and hash of the event log so far.
    pub fn log_digest(&self) -> (u64, [u8; 32]) {
        (self.log.records, *self.log.hasher.finalize().as_bytes())
    }

    fn below(&mut self, n: u64) -> u64 {
        rand_below(&mut self.rng, n)
    }

    fn schedule(&mut self, at: u64, a: Action) {
        self.seq += 1;
        self.sched.push(Reverse((at, self.seq, a)));
    }

    fn uptime(&mut self) -> u64 {
        // Alternating up and down with means U and D leaves a share
        // D/(U+D) down; that share is c when U = D·(1−c)/c.
        let c = self.cfg.churn_ppm as u64;
        let mean = self.cfg.downtime_epochs.max(1) * (1_000_000 - c) / c.max(1);
        1 + self.below(2 * mean.max(1))
    }

    fn downtime(&mut self) -> u64 {
        1 + self.below(2 * self.cfg.downtime_epochs.max(1))
    }

    fn err(&self, msg: String) -> SimError {
        SimError {
            epoch: self.epoch,
            msg,
            replay: self.cfg.replay(),
        }
    }

    fn node_config(&self, i: usize, incarnation: u32) -> Config {
        let mut c = Config::default().with_dat_cap(self.dat_cap);
        c.epoch_ns = self.cfg.epoch_ns;
        c.filter_cap = self.cfg.filter_cap;
        c.outbox_slots = SIM_OUTBOX_SLOTS;
        c.probe = self.cfg.probe;
        c.max_peers = self.cfg.max_peers;
        c.seed = derive(self.cfg.seed, i as u64, incarnation as u64);
        c.edges = self.members[i].edges.clone();
        c
    }

    /// Starts member `i` (a fresh node; with `keep`, loaded with the store
    /// of its previous incarnation). It is told the previous epoch, so it
    /// ticks with everyone else in this one.
    fn start(&mut self, i: usize, keep: bool) -> usize {
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

    fn preload(&mut self) -> Result<(), SimError> {
        if self.cfg.background == 0 {
            return Ok(());
        }
        let now_ms = self.now_at(0).unix_ms;
        let mut pkts = Vec::with_capacity(self.cfg.background);
        for _ in 0..self.cfg.background {
            // Ages spread over the last minute, so masses differ.
            let age = self.below(60_000);
            let d = self.make_dat(8, now_ms - age);
            pkts.push(dat_packet(&d));
        }
        // Every node would verify the same signatures: verify each dat once
        // here, strictly, and load the verified bytes into every node.
        let cfg0 = self.node_config(0, 0);
        for p in &pkts {
            let m = match wire::decode(p) {
                Ok(Packet::Put(m)) => m,
                Ok(other) => {
                    return Err(self.err(format!("background dat is a {}", other.op().name())))
                }
                Err(e) => return Err(self.err(format!("background dat: {e}"))),
            };
            dave_core::check_put(&m, now_ms, &cfg0, true)
                .map_err(|r| self.err(format!("background dat refused: {}", r.name())))?;
        }
        let chunk = self.members.len().div_ceil(self.threads);
        let pkts = &pkts;
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .members
                .chunks_mut(chunk)
                .map(|ms| {
                    s.spawn(move || {
                        for m in ms.iter_mut().filter(|m| m.up) {
                            let n = m.node.as_mut().expect("up");
                            for p in pkts {
                                let msg = wire::decode(p).map_err(|e| e.to_string())?;
                                n.restore_preverified(&msg.msg())
                                    .map_err(|e| e.to_string())?;
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a preload thread panicked".into()))
                })
                .collect()
        });
        for r in results {
            r.map_err(|e| self.err(format!("background dat refused: {e}")))?;
        }
        Ok(())
    }

    /// Makes a dat of `bits` difficulty with the given time, signed by one
    /// of the simulated writers. The solver runs on one thread, so the
    /// result depends only on the inputs.
    fn make_dat(&mut self, bits: u8, time_ms: u64) -> Dat {
        self.make_dat_by(bits, time_ms, Signer::Writer)
    }

    /// [`Sim::make_dat`], signed by one of the writers or by the attackers.
    fn make_dat_by(&mut self, bits: u8, time_ms: u64, by: Signer) -> Dat {
        self.next_key += 1;
        let w = match by {
            Signer::Writer => Some(self.below(WRITERS as u64) as usize),
            Signer::Attacker => None,
        };
        let key = self.next_key.to_le_bytes();
        let mut val = [0u8; VAL_LEN];
        for c in val.chunks_mut(8) {
            c.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        let signer = w.map_or(&self.sybil_key, |w| &self.writers[w]);
        Dat::make(&key, &val, time_ms, bits, signer, 1, None)
            .expect("a simulated dat fits")
            .0
    }

    /// Makes a new dat of `bits` difficulty, puts it into node `i` as its
    /// application would, and follows it. Returns its tracking index.
    pub fn put_new(&mut self, i: usize, bits: u8) -> Result<usize, SimError> {
        let now_ms = self.now_at(self.epoch).unix_ms;
        let d = self.make_dat(bits, now_ms);
        let k = self.tracked.len();
        let t = d.time_ms.to_le_bytes();
        let up = self.members[i].up;
        let node = self.members[i]
            .node
            .as_mut()
            .filter(|_| up)
            .ok_or_else(|| SimError {
                epoch: self.epoch,
                msg: format!("put into node {i}, which is down"),
                replay: self.cfg.replay(),
            })?;
        node.put(&d.msg(&t)).map_err(|e| SimError {
            epoch: self.epoch,
            msg: format!("node {i} refused a fresh dat: {e}"),
            replay: self.cfg.replay(),
        })?;
        let sent = node.last_sent().len() as u32;
        self.log.add(rec::PUT, i as u32, k as u32, sent);
        self.tracked.push(Tracked {
            difficulty: pow::difficulty(&d.work),
            dat: d,
            epoch: self.epoch,
            node: i,
        });
        for m in &mut self.members {
            m.got.push(NEVER);
            m.got_from.push(ID_NONE);
        }
        self.members[i].got[k] = self.epoch;
        self.active.push(k as u32);
        Ok(k)
    }

    /// Stops watching tracked dat `k` arrive (saves work in phase 2).
    pub fn untrack(&mut self, k: usize) {
        self.active.retain(|&x| x as usize != k);
    }

    /// Starts a GET at node `i`. `None` when the node is down or busy.
    pub fn get(&mut self, i: usize, q: Query, network_only: bool) -> Option<GetId> {
        if !self.members[i].up {
            return None;
        }
        let timeout = self.cfg.epochs_in_ms(self.cfg.get_timeout_ms);
        let n = self.members[i].node.as_mut()?;
        let opts = GetOpts {
            timeout_epochs: timeout,
            network_only,
            avoid: [None; MAX_FANOUT],
        };
        let id = n.get(q, opts).ok()?;
        self.log
            .add(rec::GET, i as u32, id as u32, network_only as u32);
        // An answer from the store comes at once.
        while let Some(ev) = n.poll_event() {
            log_event(&mut self.log.buf, i as u32, &ev);
            self.events.push((i, ev, self.epoch));
        }
        Some(id)
    }

    /// Runs until epoch `e`.
    pub fn run_until(&mut self, e: u64) -> Result<(), SimError> {
        while self.epoch < e {
            self.step()?;
        }
        Ok(())
    }

    /// Runs one epoch.
    pub fn step(&mut self) -> Result<(), SimError> {
        let e = self.epoch + 1;
        self.epoch = e;
        self.log.add(rec::EPOCH, e as u32, (e >> 32) as u32, 0);
        self.scheduled(e)?;
        self.stream(Signer::Writer)?;
        self.stream(Signer::Attacker)?;
        self.hostiles(e);
        self.eclipse(e);
        let slot = (e as usize) & (self.wheel.len() - 1);
        let mut bucket = std::mem::take(&mut self.wheel[slot]);
        // Stable: datagrams for one node keep the order they were sent in.
        bucket.hdrs.sort_by_key(|h| h.to);
        self.phase_nodes(e, &bucket);
        bucket.hdrs.clear();
        bucket.bytes.clear();
        self.wheel[slot] = bucket;
        self.route(e)?;
        if self.cfg.check_every > 0 && e % self.cfg.check_every == 0 {
            self.check_one()?;
        }
        if self.log.buf.len() > 1 << 16 {
            self.log.flush_buf();
        }
        Ok(())
    }

    fn scheduled(&mut self, e: u64) -> Result<(), SimError> {
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

    fn check_bounds(&self, i: Option<u32>) -> Result<(), SimError> {
        if let Some(i) = i {
            if let Some(n) = self.node(i as usize) {
                n.check_bounds()
                    .map_err(|m| self.err(format!("node {i}: {m}")))?;
            }
        }
        Ok(())
    }

    /// The accumulator of a write stream's dats per epoch.
    fn acc(&mut self, by: Signer) -> &mut u128 {
        match by {
            Signer::Writer => &mut self.write_acc,
            Signer::Attacker => &mut self.sybil_acc,
        }
    }

    /// A stream of new 8-bit dats, each put into a random node as its
    /// application would. The writers' stream (`writes_per_s`) goes into
    /// any node, or only honest ones when there are attackers. The
    /// attackers' own stream (own and eclipse modes, `sybil_writes_per_s`)
    /// is signed with the attackers' key and put into random attackers,
    /// which gossip it and earn the trust of whoever they reach first.
    fn stream(&mut self, by: Signer) -> Result<(), SimError> {
        let rate = match by {
            Signer::Writer => self.cfg.writes_per_s,
            Signer::Attacker
                if self.sybils.is_empty() || self.cfg.sybil_mode == SybilMode::Silent =>
            {
                0
            }
            Signer::Attacker => self.cfg.sybil_writes_per_s,
        };
        if rate == 0 || self.epoch <= 1 {
            return Ok(());
        }
        *self.acc(by) += rate as u128 * self.cfg.epoch_ns as u128;
        while *self.acc(by) >= 1_000_000_000 {
            *self.acc(by) -= 1_000_000_000;
            let pick = match by {
                Signer::Writer if self.sybils.is_empty() => self.random_up(),
                Signer::Writer => self.random_role(false),
                Signer::Attacker => self.random_role(true),
            };
            let Some(i) = pick else {
                return Ok(());
            };
            let now_ms = self.now_at(self.epoch).unix_ms;
            let d = self.make_dat_by(8, now_ms, by);
            let t = d.time_ms.to_le_bytes();
            let n = self.members[i].node.as_mut().expect("up");
            if n.put(&d.msg(&t)).is_ok() {
                match by {
                    Signer::Writer => {
                        self.net.writes += 1;
                        self.net.write_bits += pow::difficulty(&d.work) as u64;
                    }
                    Signer::Attacker => self.sybil_stats.writes += 1,
                }
                let attacker = matches!(by, Signer::Attacker) as u32;
                self.log.add(rec::WRITE, i as u32, attacker, 0);
            }
            self.check_bounds(Some(i as u32))?;
        }
        Ok(())
    }

    /// A PEER naming `NPEER` random attackers.
    fn attacker_peer(&mut self) -> Vec<u8> {
        let mut m = Msg::op(Op::Peer);
        for k in 0..NPEER {
            let r = self.below(self.sybils.len() as u64) as usize;
            let j = self.sybils[r];
            m.pds[k] = Pd::from_addr(node_addr(j as usize));
        }
        m.npds = NPEER as u8;
        encode(&m)
    }

    /// Eclipse mode: every attacker that is up sends an unsolicited PEER
    /// of attackers to a random honest node every `ECLIPSE_EVERY` epochs.
    fn eclipse(&mut self, e: u64) {
        if self.cfg.sybil_mode != SybilMode::Eclipse {
            return;
        }
        for s in 0..self.sybils.len() {
            let a = self.sybils[s];
            if !self.members[a as usize].up || (e + a as u64) % ECLIPSE_EVERY != 0 {
                continue;
            }
            let Some(to) = self.random_role(false) else {
                return;
            };
            let pkt = self.attacker_peer();
            self.sybil_stats.unsolicited += 1;
            self.log.add(rec::SYBIL, a, to as u32, SY_UNSOLICITED);
            self.route_one(e, a, node_addr(to), &pkt);
        }
    }

    /// What an attacker's datagram becomes on the wire.
    fn sybil_out(&mut self, from: u32, data: &[u8]) -> Filtered {
        let Ok(m) = wire::decode(data) else {
            return Filtered::Pass;
        };
        match m {
            Packet::Put(m) => {
                let own = self.cfg.sybil_mode != SybilMode::Silent
                    && m.pubkey == self.sybil_key.verifying_key().as_bytes();
                if own {
                    self.sybil_stats.own_sent += 1;
                    Filtered::Pass
                } else {
                    self.sybil_stats.swallowed += 1;
                    self.log.add(rec::SYBIL, from, 0, SY_SWALLOW);
                    Filtered::Drop
                }
            }
            Packet::Peer(_) if self.cfg.sybil_mode == SybilMode::Eclipse => {
                self.sybil_stats.lies += 1;
                self.log.add(rec::SYBIL, from, 0, SY_LIE);
                Filtered::Replace(self.attacker_peer())
            }
            _ => Filtered::Pass,
        }
    }

    // ---- phase 2 ----

    fn phase_nodes(&mut self, e: u64, bucket: &Bucket) {
        let now = self.now_at(e);
        let n = self.members.len();
        let chunk = n.div_ceil(self.threads);
        for o in &mut self.outs {
            o.clear();
        }
        let tracked: Vec<(u32, [u8; 32])> = self
            .active
            .iter()
            .map(|&k| (k, self.tracked[k as usize].dat.work))
            .collect();
        let hdrs = &bucket.hdrs;
        let bytes = &bucket.bytes[..];
        let batch = self.cfg.batch;
        if self.threads == 1 {
            work(
                &mut self.members,
                0,
                hdrs,
                bytes,
                now,
                &tracked,
                batch,
                &mut self.outs[0],
            );
            return;
        }
        let tracked = &tracked;
        std::thread::scope(|s| {
            let mut jobs = self
                .members
                .chunks_mut(chunk)
                .zip(self.outs.iter_mut())
                .enumerate()
                .map(|(c, (ms, out))| {
                    let base = (c * chunk) as u32;
                    let lo = hdrs.partition_point(|h| h.to < base);
                    let hi = hdrs.partition_point(|h| h.to < base + ms.len() as u32);
                    (base, ms, &hdrs[lo..hi], out)
                })
                .collect::<Vec<_>>();
            let first = jobs.remove(0);
            for (base, ms, h, out) in jobs {
                s.spawn(move || work(ms, base, h, bytes, now, tracked, batch, out));
            }
            let (base, ms, h, out) = first;
            work(ms, base, h, bytes, now, tracked, batch, out);
        });
    }

    // ---- phase 3 ----

    fn route(&mut self, e: u64) -> Result<(), SimError> {
        let mut outs = std::mem::take(&mut self.outs);
        let mut err = None;
        // Everything in node order, whatever the chunks: first what the
        // nodes did, then where their datagrams go.
        for o in &mut outs {
            self.log.append(&o.log);
            self.net.ticks += o.ticks;
            self.net.delivered += o.delivered;
            self.net.to_down += o.to_down;
            self.net.novel_pkts += o.novel_pkts;
            self.net.novel_bytes += o.novel_bytes;
            o.ticks = 0;
            o.delivered = 0;
            o.to_down = 0;
            o.novel_pkts = 0;
            o.novel_bytes = 0;
            if let (None, Some((i, m))) = (&err, o.error.take()) {
                err = Some(self.err(format!("node {i}: {m}")));
            }
            for &(i, k, from) in &o.arrivals {
                self.members[i as usize].got[k as usize] = e;
                self.members[i as usize].got_from[k as usize] = from;
            }
            for &(i, ev) in &o.events {
                self.events.push((i as usize, ev, e));
            }
        }
        for o in &outs {
            for &(from, to, off, len) in &o.sends {
                let data = &o.bytes[off as usize..off as usize + len as usize];
                if self.members[from as usize].sybil {
                    match self.sybil_out(from, data) {
                        Filtered::Drop => continue,
                        Filtered::Replace(p) => {
                            self.route_one(e, from, to, &p);
                            continue;
                        }
                        Filtered::Pass => {}
                    }
                }
                self.route_one(e, from, to, data);
            }
        }
        self.outs = outs;
        match err {
            Some(x) => Err(x),
            None => Ok(()),
        }
    }

    fn id_of(&self, a: SocketAddr) -> u32 {
        let ip = ip_of(a);
        if a.port() != PORT {
            return ID_NONE;
        }
        if ip >= NODE_BASE && ((ip - NODE_BASE) as usize) < self.members.len() {
            ip - NODE_BASE
        } else if ip & 0xffff_0000 == HOSTILE_NET && ((ip & 0xffff) as usize) < self.cfg.hostile {
            ID_HOSTILE | (ip & 0xffff)
        } else if ip & 0xffff_0000 == PHANTOM_NET {
            ID_PHANTOM | (ip & 0xffff)
        } else if ip & 0xffff_0000 == SPOOF_NET {
            ID_SPOOF | (ip & 0xffff)
        } else {
            ID_NONE
        }
    }

    fn latency(&mut self, a: u32, b: u32) -> u64 {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let h = splitmix(self.lat_key ^ ((lo as u64) << 32 | hi as u64));
        let mean = self.cfg.latency_us;
        let base = mean / 2 + ((h as u128 * (mean + 1) as u128) >> 64) as u64;
        let jitter = if self.cfg.jitter_us > 0 {
            self.below(2 * self.cfg.jitter_us + 1)
        } else {
            0
        };
        us_to_epochs(base + jitter, self.cfg.epoch_ns)
    }

    fn push(&mut self, arrive: u64, to: u32, from: SocketAddr, from_id: u32, data: &[u8]) {
        // A datagram waits in the socket until its node's next wake.
        let b = self.cfg.batch;
        let arrive = match (arrive + self.members[to as usize].phase) % b {
            0 => arrive,
            r => arrive + b - r,
        };
        let mask = self.wheel.len() - 1;
        let b = &mut self.wheel[(arrive as usize) & mask];
        b.hdrs.push(Hdr {
            to,
            from,
            from_id,
            off: b.bytes.len() as u32,
            len: data.len() as u16,
        });
        b.bytes.extend_from_slice(data);
    }

    /// Sends one datagram through the network from a node or a hostile sender.
    fn route_one(&mut self, e: u64, from_id: u32, to: SocketAddr, data: &[u8]) {
        self.net.sent += 1;
        let from = self.addr_of_id(from_id);
        let to_id = self.id_of(to);
        if to_id != ID_NONE && to_id & (ID_HOSTILE | ID_PHANTOM | ID_SPOOF) == 0 {
            let j = to_id as usize;
            if self.split
                && from_id < ID_SPOOF
                && self.members[from_id as usize].side != self.members[j].side
            {
                self.net.cut += 1;
                self.log.add(rec::CUT, from_id, to_id, data.len() as u32);
                return;
            }
            if chance(&mut self.rng, self.cfg.loss_ppm) {
                self.net.lost += 1;
                self.log.add(rec::LOST, from_id, to_id, data.len() as u32);
                return;
            }
            let lat = self.latency(ip_of(from), ip_of(to));
            self.log.add(
                rec::SEND,
                from_id,
                to_id,
                (lat as u32) << 11 | data.len() as u32,
            );
            self.push(e + lat, to_id, from, from_id, data);
            if chance(&mut self.rng, self.cfg.dup_ppm) {
                self.net.duplicated += 1;
                let lat2 = self.latency(ip_of(from), ip_of(to));
                self.log.add(rec::DUP, from_id, to_id, lat2 as u32);
                self.push(e + lat2, to_id, from, from_id, data);
            }
            if self.cfg.hostile > 0 && data.len() > 2 && data[..2] == [0x08, 0x02] {
                self.capture_put(data);
            }
            return;
        }
        self.log.add(rec::SEND, from_id, to_id, data.len() as u32);
        if to_id == ID_NONE {
            return;
        }
        if to_id & ID_HOSTILE != 0 {
            self.net.to_hostile += 1;
            // A hostile sender answers every GETPEER it is sent with
            // addresses that will never speak: an eclipse attempt.
            if op_of(data) == Some(Op::Getpeer) && from_id < ID_SPOOF {
                let mut m = Msg::op(Op::Peer);
                for k in 0..NPEER {
                    let ph = PHANTOM_NET | (self.rng.next_u64() & 0xffff) as u32;
                    m.pds[k] = Pd::from_addr(addr_of(ph));
                }
                m.npds = NPEER as u8;
                let pkt = encode(&m);
                let lat = self.latency(ip_of(to), ip_of(from));
                self.net.hostile_sent += 1;
                self.net.hostile_bytes += pkt.len() as u64;
                self.log.add(rec::HOSTILE, to_id, from_id, 100);
                self.push(e + lat, from_id, to, to_id, &pkt);
            }
        } else if let Some(op) = op_of(data) {
            if to_id & ID_PHANTOM != 0 {
                self.net.to_phantom[op as usize] += 1;
            } else {
                self.net.to_spoofed[op as usize] += 1;
                self.net.to_spoofed_bytes[op as usize] += data.len() as u64;
            }
        }
    }

    fn addr_of_id(&self, id: u32) -> SocketAddr {
        if id & ID_HOSTILE != 0 {
            addr_of(HOSTILE_NET | (id & 0xffff))
        } else if id & ID_SPOOF != 0 {
            addr_of(SPOOF_NET | (id & 0xffff))
        } else {
            self.members[id as usize].addr
        }
    }

    fn capture_put(&mut self, data: &[u8]) {
        self.capture_n += 1;
        // Keep a sample: every 61st PUT, in a ring of 32.
        if self.capture_n % 61 != 1 {
            return;
        }
        let k = ((self.capture_n / 61) % 32) as usize;
        if self.capture.len() <= k {
            self.capture.push(data.to_vec());
        } else {
            self.capture[k].clear();
            self.capture[k].extend_from_slice(data);
        }
    }

    // ---- hostile senders ----

    fn init_hostiles(&mut self) {
        if self.cfg.hostile == 0 {
            return;
        }
        let now_ms = self.now_at(0).unix_ms;
        let k = SigningKey::from_bytes(&[0x66; 32]);
        let good = Dat::make(b"hostile", b"a valid dat", now_ms, 8, &k, 1, None)
            .expect("fits")
            .0;
        // Tampered value: the work no longer matches.
        let mut bad_work = good.clone();
        bad_work.val = b"a valid daT".to_vec();
        // Honest work below MIN_WORK.
        let low = (0u32..)
            .map(|i| {
                Dat::make(b"low", &i.to_le_bytes(), now_ms, 0, &k, 1, None)
                    .expect("fits")
                    .0
            })
            .find(|d| pow::difficulty(&d.work) < 8)
            .expect("most salts are below 8 bits");
        let mut bad_sig = good.clone();
        bad_sig.sig[17] ^= 0x20;
        // Valid work and signature, dated a day ahead.
        let future = Dat::make(b"future", b"later", now_ms + 86_400_000, 8, &k, 1, None)
            .expect("fits")
            .0;
        self.hostile_pool = vec![
            dat_packet(&bad_work),
            dat_packet(&low),
            dat_packet(&bad_sig),
            dat_packet(&future),
        ];
        self.hostile_kinds = vec![
            Attack::BadWork,
            Attack::LowWork,
            Attack::BadSig,
            Attack::Future,
        ];
        for _ in 0..self.cfg.hostile {
            let at = 1 + self.below(self.cfg.hostile_every.max(1));
            self.hostile_next.push(at);
        }
    }

    fn hostiles(&mut self, e: u64) {
        for h in 0..self.cfg.hostile {
            if self.hostile_next[h] > e {
                continue;
            }
            self.hostile_next[h] = e + self.cfg.hostile_every.max(1);
            let to = self.below(self.members.len() as u64) as u32;
            let attack = ATTACKS[self.below(ATTACKS.len() as u64) as usize];
            let mut from_id = ID_HOSTILE | h as u32;
            let mut pkt = std::mem::take(&mut self.scratch);
            pkt.clear();
            match attack {
                Attack::Garbage => {
                    let n = self.below(1600) as usize;
                    for _ in 0..n {
                        pkt.push(self.rng.next_u64() as u8);
                    }
                }
                Attack::Mutated | Attack::Replay => {
                    if self.capture.is_empty() {
                        pkt.extend_from_slice(&[0x08, 0x02]);
                    } else {
                        let k = self.below(self.capture.len() as u64) as usize;
                        pkt.extend_from_slice(&self.capture[k]);
                        if attack == Attack::Mutated {
                            let flips = 1 + self.below(4);
                            for _ in 0..flips {
                                let at = self.below(pkt.len() as u64) as usize;
                                pkt[at] ^= 1 << self.below(8);
                            }
                        }
                    }
                }
                Attack::BadWork | Attack::LowWork | Attack::BadSig | Attack::Future => {
                    let k = self
                        .hostile_kinds
                        .iter()
                        .position(|x| *x == attack)
                        .expect("pooled");
                    pkt.extend_from_slice(&self.hostile_pool[k]);
                }
                Attack::UnsolicitedPeer => {
                    let mut m = Msg::op(Op::Peer);
                    for k in 0..NPEER {
                        let ph = PHANTOM_NET | (self.rng.next_u64() & 0xffff) as u32;
                        m.pds[k] = Pd::from_addr(addr_of(ph));
                    }
                    m.npds = NPEER as u8;
                    pkt.extend_from_slice(&encode(&m));
                }
                Attack::SpoofGetpeer => {
                    // An empty datagram is a GETPEER, from a forged source.
                    from_id = ID_SPOOF | (self.rng.next_u64() & 0xffff) as u32;
                }
                Attack::Reflect => {
                    // A GET for a dat nodes hold, from the victim's address.
                    from_id = ID_SPOOF | (self.rng.next_u64() & 0xffff) as u32;
                    let work = self
                        .capture
                        .first()
                        .and_then(|c| match wire::decode(c) {
                            Ok(Packet::Put(p)) => Some(*p.work),
                            _ => None,
                        })
                        .unwrap_or([0; 32]);
                    let m = Msg {
                        op: Op::Get,
                        work: &work,
                        ..Msg::default()
                    };
                    let b = encode(&m);
                    self.net.reflect_bytes += b.len() as u64;
                    pkt.extend_from_slice(&b);
                }
            }
            self.net.hostile_sent += 1;
            self.net.hostile_bytes += pkt.len() as u64;
            let code = ATTACKS.iter().position(|a| *a == attack).expect("listed") as u32;
            self.log.add(rec::HOSTILE, from_id, to, code);
            let from = self.addr_of_id(from_id);
            if !chance(&mut self.rng, self.cfg.loss_ppm) {
                let lat = self.latency(ip_of(from), ip_of(self.members[to as usize].addr));
                self.push(e + lat, to, from, from_id, &pkt);
            }
            self.scratch = pkt;
        }
    }

    // ---- checks ----

    fn check_one(&mut self) -> Result<(), SimError> {
        let n = self.members.len();
        for _ in 0..n {
            let i = self.check_cursor % n;
            self.check_cursor += 1;
            if let Some(node) = self.node(i) {
                let r = node
                    .check_invariants()
                    .map_err(|m| self.err(format!("node {i}: {m}")));
                self.net.checks += 1;
                return r;
            }
        }
        Ok(())
    }

    /// Checks every up node in full: its bounds, its store and peer table,
    /// and every stored dat against the checks of a received PUT. Nodes
    /// hold mostly the same dats, so each distinct stored record is
    /// verified once and the verdict reused (a record's check depends only
    /// on its bytes and the clock, which is the same for every node).
    pub fn final_check(&mut self) -> Result<(), SimError> {
        let mut verified: fnv::FnvHashMap<[u8; 32], bool> = fnv::FnvHashMap::default();
        for i in 0..self.members.len() {
            let Some(n) = self.node(i) else { continue };
            let fail = |m: String| self.err(format!("final check, node {i}: {m}"));
            n.check_bounds().map_err(fail)?;
            n.store().check().map_err(fail)?;
            n.peers().check(n.self_addrs()).map_err(fail)?;
            let st = n.store();
            for s in 0..st.len() as u32 {
                let h = *blake3::hash(st.record(s)).as_bytes();
                let ok = match verified.get(&h) {
                    Some(ok) => *ok,
                    None => {
                        let ok = st.put(s).is_some_and(|p| n.check_put(&p.msg()).is_ok());
                        verified.insert(h, ok);
                        ok
                    }
                };
                if !ok {
                    return Err(fail(format!(
                        "stored dat {} fails its checks",
                        wire::Hex(&st.meta(s).work)
                    )));
                }
            }
        }
        self.net.checks += 1;
        Ok(())
    }

    /// A hash of every node's state (counters, stored records, peers), for
    /// comparing runs.
    pub fn state_digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        for m in &self.members {
            h.update(&[m.up as u8]);
            h.update(&m.incarnation.to_le_bytes());
            let Some(n) = &m.node else { continue };
            h.update(format!("{:?}", n.stats()).as_bytes());
            let st = n.store();
            for s in 0..st.len() as u32 {
                h.update(st.record(s));
            }
            for p in n.peers().iter() {
                h.update(format!("{} {} {} {}", p.addr, p.trust, p.added, p.seen).as_bytes());
            }
        }
        *h.finalize().as_bytes()
    }

    /// Sums the counters of every node that is up.
    pub fn stats_sum(&self) -> Stats {
        let mut s = Stats::default();
        for m in &self.members {
            let Some(n) = m.node.as_ref().filter(|_| m.up) else {
                continue;
            };
            add_stats(&mut s, n.stats());
        }
        s
    }

    /// Mean peer-table size, and mean number of peers a node would gossip
    /// to now (in the table for DELAY, heard from within 2·PING).
    pub fn peer_means(&self) -> (f64, f64) {
        let (mut n, mut total, mut live) = (0u64, 0u64, 0u64);
        for m in &self.members {
            let Some(node) = m.node.as_ref().filter(|_| m.up) else {
                continue;
            };
            n += 1;
            let c = node.config();
            let now = node.epoch();
            total += node.peers().len() as u64;
            live += node
                .peers()
                .iter()
                .filter(|p| Node::gossip_ok(p, now, c))
                .count() as u64;
        }
        let n = n.max(1) as f64;
        (total as f64 / n, live as f64 / n)
    }

    /// Flushes the event log (hash and text file).
    pub fn flush_log(&mut self) {
        self.log.flush_buf();
        if let Some(w) = &mut self.log.text {
            let _ = w.flush();
        }
    }
}

fn a_node(a: Action) -> Option<u32> {
    match a {
        Action::Crash(_) | Action::Split | Action::Heal => None,
        Action::Restart(i) | Action::Join(i) => Some(i),
    }
}

fn us_to_epochs(us: u64, epoch_ns: u64) -> u64 {
    (us as u128 * 1000).div_ceil(epoch_ns.max(1) as u128).max(1) as u64
}

fn add_stats(s: &mut Stats, n: &Stats) {
    s.packets_in += n.packets_in;
    s.bytes_in += n.bytes_in;
    s.packets_out += n.packets_out;
    s.bytes_out += n.bytes_out;
    for op in Op::ALL {
        s.in_by_op[op] += n.in_by_op[op];
        s.out_by_op[op] += n.out_by_op[op];
    }
    for k in 0..s.drops.len() {
        s.drops[k] += n.drops[k];
    }
    s.puts_known += n.puts_known;
    s.puts_novel += n.puts_novel;
    s.gets_answered += n.gets_answered;
    s.filter_saturated += n.filter_saturated;
    s.outbox_full += n.outbox_full;
    s.peers_added += n.peers_added;
    s.peers_dropped += n.peers_dropped;
    s.peers_full += n.peers_full;
    s.pds_refused += n.pds_refused;
    s.dats_pruned += n.dats_pruned;
    s.epochs_skipped += n.epochs_skipped;
    s.events_lost += n.events_lost;
}

/// Phase 2 for one chunk of members: tick each up node, then hand it the
/// datagrams that arrive for it this epoch; drain everything it sends.
// The arguments are the disjoint pieces each thread borrows; a struct would
// only rename them.
#[allow(clippy::too_many_arguments)]
fn work(
    members: &mut [Member],
    base: u32,
    hdrs: &[Hdr],
    bytes: &[u8],
    now: Now,
    tracked: &[(u32, [u8; 32])],
    batch: u64,
    out: &mut Out,
) {
    let mut p = hdrs.partition_point(|h| h.to < base);
    for (k, m) in members.iter_mut().enumerate() {
        let i = base + k as u32;
        if m.up && (now.epoch + m.phase) % batch == 0 {
            let n = m.node.as_mut().expect("up");
            n.handle_tick(now);
            out.ticks += 1;
            after_event(n, i, out);
        }
        while p < hdrs.len() && hdrs[p].to == i {
            let h = hdrs[p];
            p += 1;
            if !m.up {
                out.to_down += 1;
                push_rec(&mut out.log, rec::TO_DOWN, i, h.from_id, h.len as u32);
                continue;
            }
            let n = m.node.as_mut().expect("up");
            let data = &bytes[h.off as usize..h.off as usize + h.len as usize];
            let novel = n.stats().puts_novel;
            n.handle_packet(h.from, data);
            out.delivered += 1;
            push_rec(&mut out.log, rec::DELIVER, i, h.from_id, h.len as u32);
            if n.stats().puts_novel != novel {
                out.novel_pkts += 1;
                out.novel_bytes += h.len as u64;
                for &(t, w) in tracked {
                    if m.got[t as usize] == NEVER && n.dat_by_work(&w).is_some() {
                        m.got[t as usize] = now.epoch;
                        out.arrivals.push((i, t, h.from_id));
                    }
                }
            }
            after_event(n, i, out);
        }
    }
}

fn after_event(n: &mut Node, i: u32, out: &mut Out) {
    if out.error.is_none() {
        if let Err(m) = n.check_bounds() {
            out.error = Some((i, m));
        }
    }
    while let Some((to, b)) = n.peek_transmit() {
        out.sends
            .push((i, to, out.bytes.len() as u32, b.len() as u16));
        out.bytes.extend_from_slice(b);
        n.pop_transmit();
    }
    while let Some(ev) = n.poll_event() {
        log_event(&mut out.log, i, &ev);
        out.events.push((i, ev));
    }
}

/// An application event in the log; the peer is its raw IPv4 address.
fn log_event(buf: &mut Vec<u8>, i: u32, ev: &Event) {
    let (kind, id, from) = match *ev {
        Event::Got { id, from, .. } => (rec::GOT, id, from.map_or(ID_NONE, ip_of)),
        Event::TimedOut { id } => (rec::TIMEOUT, id, ID_NONE),
    };
    push_rec(buf, kind, i, id as u32, from);
}

// ---- scenarios ----

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
    pub series: Vec<(u64, [f64; 4])>,
}

impl Outcome {
    fn put(&mut self, k: &str, v: impl std::fmt::Display) {
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

/// Push gossip's ideal: about log2 N + ln N rounds to reach every node.
pub fn ideal_rounds(n: usize) -> f64 {
    let n = n as f64;
    n.log2() + n.ln()
}

fn propagation(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
    let cfg = sim.config().clone();
    sim.run_until(cfg.warmup_epochs)?;
    const QS: [u64; 4] = [50, 90, 99, 100];
    // Per trial: the epochs to each share of QS, and the share of nodes
    // whose first copy came straight from the writer.
    let mut rows: Vec<([u64; 4], u64)> = Vec::new();
    for _ in 0..cfg.trials {
        let Some(src) = sim.random_up() else { break };
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
    o.put("trials", rows.len());
    o.put("bits", cfg.bits);
    // The first dat meets a network where all trust is zero; later dats
    // meet the trust the earlier ones built (docs/protocol.md 5.3).
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

fn all_hold(sim: &Sim, k: usize) -> bool {
    sim.members.iter().all(|m| !m.up || m.got[k] != NEVER)
}

fn all_honest_hold(sim: &Sim, k: usize) -> bool {
    sim.members
        .iter()
        .all(|m| m.sybil || !m.up || m.got[k] != NEVER)
}

fn lookup(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
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

fn cost(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
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

fn retention(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
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
            if h * 2 >= up {
                half[j] = sim.epoch() - start;
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

fn faults(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
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

/// Steps once, and samples the attackers' hold on every `SAMPLE_EPOCHS`.
fn step_sampled(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
    sim.step()?;
    if sim.epoch() % SAMPLE_EPOCHS == 0 {
        o.series.push((sim.epoch(), sim.sybil_hold()));
    }
    Ok(())
}

fn sybil(sim: &mut Sim, o: &mut Outcome) -> Result<(), SimError> {
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
    Ok(())
}
