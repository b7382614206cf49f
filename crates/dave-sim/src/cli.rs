//! The command line of one run: the getopts flags ([`options`]) and
//! their reading into a [`SimConfig`] ([`config_from`]).

use crate::config::{Scenario, SimConfig, SybilAddrs, SybilMode};

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
    o.optopt("", "loss", "datagram loss in percent (default 8)", "PCT");
    o.optopt(
        "",
        "dup",
        "datagram duplication in percent (default 8)",
        "PCT",
    );
    o.optopt(
        "",
        "churn",
        "percent of nodes down at any moment after warmup (default 8)",
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
        "percent of nodes that join late (default 8)",
        "PCT",
    );
    o.optopt("", "hostile", "hostile senders (default 8)", "N");
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
        "writers",
        "percent of the nodes that write (the writes and tracked dats go into them; the rest only read); default 100",
        "PCT",
    );
    o.optopt(
        "",
        "pushes",
        "PUSHES of every node: pushes of each fresh dat (default 32; 0 = none, seeds only)",
        "N",
    );
    o.optopt(
        "",
        "fanout",
        "FANOUT of every node: peers an application PUT or GET goes to at once (default 2)",
        "N",
    );
    o.optopt(
        "",
        "own-pushes",
        "pushes of a dat a node's own application wrote, beside its FANOUT sends (default 8)",
        "N",
    );
    o.optopt(
        "",
        "trust-half",
        "TRUST_HALF of every node: epochs in which trust halves (default 262144)",
        "EPOCHS",
    );
    o.optopt(
        "",
        "pull-credit",
        "PULL_CREDIT of every node: trust for an answer to a pull or GET (default 1)",
        "X",
    );
    o.optopt(
        "",
        "exchange",
        "EXCHANGE of every node: epochs between GETPEERs asking a peer for peers, 0 for none (default 64)",
        "EPOCHS",
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
        "sybil-addrs",
        "spread (each attacker in an address group of its own) | clustered (all in four groups) | v6 (all in one IPv6 /64, one group); default spread",
        "PLAN",
    );
    o.optopt(
        "",
        "sybil-lead",
        "epochs the attackers start before the honest nodes (default 8)",
        "EPOCHS",
    );
    o.optopt(
        "",
        "sybil-rate",
        "the attackers ping and lie this many times as often (default 1)",
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
    num(m, "pushes", &mut c.pushes)?;
    num(m, "own-pushes", &mut c.own_pushes)?;
    num(m, "fanout", &mut c.fanout)?;
    pct(m, "writers", &mut c.writers_ppm)?;
    num(m, "trust-half", &mut c.trust_half)?;
    num(m, "pull-credit", &mut c.pull_credit)?;
    num(m, "exchange", &mut c.exchange)?;
    pct(m, "sybil", &mut c.sybil_ppm)?;
    if let Some(s) = m.opt_str("sybil-mode") {
        c.sybil_mode = SybilMode::parse(&s)
            .ok_or_else(|| format!("--sybil-mode: {s:?} is not silent, own or eclipse"))?;
    }
    num(m, "sybil-writes", &mut c.sybil_writes_per_s)?;
    if let Some(s) = m.opt_str("sybil-addrs") {
        c.sybil_addrs = SybilAddrs::parse(&s)
            .ok_or_else(|| format!("--sybil-addrs: {s:?} is not spread, clustered or v6"))?;
    }
    num(m, "sybil-lead", &mut c.sybil_lead)?;
    num(m, "sybil-rate", &mut c.sybil_rate)?;
    num(m, "max-peers", &mut c.max_peers)?;
    c.validate()?;
    Ok(c)
}

/// A percentage ("10", "0.5") in parts per million.
fn parse_pct(s: &str) -> Option<u32> {
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
fn parse_ms_us(s: &str) -> Option<u64> {
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
