//! What determines a run: the [`Scenario`], the [`SybilMode`], and
//! [`SimConfig`] with each scenario's defaults, its checks and the flags
//! that replay it.

use crate::addr::{MAX_CLUSTERED, MAX_NODES, MAX_V6};
use dave_core::{DELAY_EPOCHS, EPOCH_NS};

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

/// Where the attackers' addresses are (docs/protocol.md 5.4; docs/simulation.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SybilAddrs {
    /// Each in an address group of its own, like honest nodes.
    Spread,
    /// All in four address groups.
    Clustered,
    /// All in one IPv6 /64 (one address group); honest nodes stay IPv4.
    V6,
}

impl SybilAddrs {
    /// Every plan.
    pub const ALL: [SybilAddrs; 3] = [SybilAddrs::Spread, SybilAddrs::Clustered, SybilAddrs::V6];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SybilAddrs::Spread => "spread",
            SybilAddrs::Clustered => "clustered",
            SybilAddrs::V6 => "v6",
        }
    }

    /// The plan with this name.
    pub fn parse(s: &str) -> Option<SybilAddrs> {
        SybilAddrs::ALL.into_iter().find(|x| x.name() == s)
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
#[derive(Clone, Debug, PartialEq)]
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
    /// Parts per million of the nodes that write (the write stream and the
    /// tracked dats go into them only); the others only read and relay.
    pub writers_ppm: u32,
    /// PUSHES of every node.
    pub pushes: u32,
    /// Pushes of a dat a node's own application wrote.
    pub own_pushes: u32,
    /// FANOUT of every node: peers an application PUT or GET goes to.
    pub fanout: usize,
    /// TRUST_HALF of every node, in epochs.
    pub trust_half: u64,
    /// PULL_CREDIT of every node.
    pub pull_credit: f64,
    /// EXCHANGE of every node, in epochs (0: no peer exchange).
    pub exchange: u64,
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
    /// Where the attackers' addresses are.
    pub sybil_addrs: SybilAddrs,
    /// The attackers start (and meet each other) this many epochs before
    /// the honest nodes.
    pub sybil_lead: u64,
    /// The attackers send this many times more: they ping every peer this
    /// many times as often, and eclipse attackers send unsolicited PEERs
    /// this many times as often.
    pub sybil_rate: u64,
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
            writers_ppm: 1_000_000,
            pushes: dave_core::PUSHES,
            own_pushes: dave_core::OWN_PUSHES,
            fanout: dave_core::FANOUT,
            trust_half: dave_core::TRUST_HALF_EPOCHS,
            pull_credit: dave_core::PULL_CREDIT,
            exchange: dave_core::EXCHANGE_EPOCHS,
            batch: 1,
            sybil_ppm: 0,
            sybil_mode: SybilMode::Own,
            sybil_writes_per_s: 50,
            max_peers: dave_core::MAX_PEERS,
            sybil_addrs: SybilAddrs::Spread,
            sybil_lead: 0,
            sybil_rate: 1,
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
        flag("pushes", self.pushes.to_string(), d.pushes.to_string());
        flag("fanout", self.fanout.to_string(), d.fanout.to_string());
        flag(
            "own-pushes",
            self.own_pushes.to_string(),
            d.own_pushes.to_string(),
        );
        flag("writers", ppm_pct(self.writers_ppm), ppm_pct(d.writers_ppm));
        flag(
            "trust-half",
            self.trust_half.to_string(),
            d.trust_half.to_string(),
        );
        flag(
            "pull-credit",
            self.pull_credit.to_string(),
            d.pull_credit.to_string(),
        );
        flag(
            "exchange",
            self.exchange.to_string(),
            d.exchange.to_string(),
        );
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
            "sybil-addrs",
            self.sybil_addrs.name().to_string(),
            d.sybil_addrs.name().to_string(),
        );
        flag(
            "sybil-lead",
            self.sybil_lead.to_string(),
            d.sybil_lead.to_string(),
        );
        flag(
            "sybil-rate",
            self.sybil_rate.to_string(),
            d.sybil_rate.to_string(),
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
        if self.sybil_addrs == SybilAddrs::Clustered && self.sybil_nodes() > MAX_CLUSTERED {
            return Err(format!(
                "--sybil-addrs clustered holds at most {MAX_CLUSTERED} attackers"
            ));
        }
        if self.fanout == 0 || self.fanout > dave_core::MAX_FANOUT {
            return Err("--fanout must be 1 to 8".into());
        }
        if self.writers_ppm == 0 {
            return Err("--writers must be above 0%".into());
        }
        if self.sybil_addrs == SybilAddrs::V6 && self.sybil_nodes() > MAX_V6 {
            return Err(format!("--sybil-addrs v6 holds at most {MAX_V6} attackers"));
        }
        if self.sybil_rate == 0 || self.sybil_rate > 1000 {
            return Err("--sybil-rate must be 1..=1000".into());
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

pub(crate) fn ppm_pct(ppm: u32) -> String {
    let s = format!("{}.{:04}", ppm / 10_000, ppm % 10_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub(crate) fn us_ms(us: u64) -> String {
    let s = format!("{}.{:03}", us / 1000, us % 1000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
