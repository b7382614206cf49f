//! `dave-sim`: runs the deterministic network simulator and prints its
//! figures as a markdown table, CSV, or an exact text summary; draws
//! propagation curves as SVG.

use dave_sim::{Outcome, Scenario, SimConfig, NEVER};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

const ABOUT: &str = "dave-sim: many dave nodes in virtual time, driven by one seed.";

const EXAMPLES: &str = "\
--nodes, --loss, --dup, --latency, --jitter, --churn, --background,
--writes, --cap, --bits, --probe, --pushes, --trust-half, --pull-credit, --exchange,
--batch, --sybil, --sybil-mode and --max-peers take comma-separated lists: every combination runs and is one
row of the table. --seeds K runs each combination with K seeds (SEED,
SEED+1, ...).

Examples:
    dave-sim                                     100 nodes, 5 propagation trials
    dave-sim -n 100,1000 --loss 0,10             four runs, one table
    dave-sim --scenario lookup --churn 0,20
    dave-sim --scenario cost --format csv
    dave-sim --scenario faults --format summary  every counter and the log hash
    dave-sim --scenario sybil --sybil 0,10,30,50 --sybil-mode silent,own,eclipse
    dave-sim -n 1000 --svg docs/propagation.svg  curves of the trials

A failed invariant prints the command that replays the run, and exits 1.";

/// Flags whose value may be a comma-separated list (a sweep).
const SWEEP: &[&str] = &[
    "nodes",
    "loss",
    "background",
    "churn",
    "latency",
    "jitter",
    "writes",
    "cap",
    "dup",
    "bits",
    "probe",
    "writers",
    "pushes",
    "own-pushes",
    "fanout",
    "trust-half",
    "pull-credit",
    "exchange",
    "batch",
    "sybil",
    "sybil-mode",
    "sybil-addrs",
    "sybil-lead",
    "sybil-rate",
    "max-peers",
];

/// Every flag of one run, as `dave_sim::options` defines them.
const FLAGS: &[&str] = &[
    "scenario",
    "nodes",
    "seed",
    "warmup",
    "epochs",
    "epoch",
    "latency",
    "jitter",
    "loss",
    "dup",
    "churn",
    "downtime",
    "keep",
    "join",
    "hostile",
    "hostile-every",
    "partition",
    "background",
    "writes",
    "cap",
    "filter",
    "edges",
    "trials",
    "bits",
    "ages",
    "gets",
    "timeout",
    "check-every",
    "probe",
    "writers",
    "pushes",
    "own-pushes",
    "fanout",
    "trust-half",
    "pull-credit",
    "exchange",
    "batch",
    "sybil",
    "sybil-mode",
    "sybil-writes",
    "sybil-addrs",
    "sybil-lead",
    "sybil-rate",
    "max-peers",
];

static REPLAY: Mutex<String> = Mutex::new(String::new());

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = dave_sim::options();
    o.optopt(
        "",
        "format",
        "md (default), csv, or summary (every counter and hashes)",
        "FMT",
    );
    o.optopt(
        "",
        "seeds",
        "runs per combination, seeds SEED.. (default 1)",
        "K",
    );
    o.optopt(
        "",
        "threads",
        "cores to use (default: 2 from 300 nodes up); results do not depend on it",
        "N",
    );
    o.optopt("", "svg", "draw the propagation curves into FILE (sybil scenario: the attackers' share of tables and trust over time)", "FILE");
    o.optopt(
        "",
        "svg-scale",
        "propagation runs of several sizes: draw the rounds to reach 99% and 100% of the nodes against N, beside push gossip's log2 N + ln N, into FILE",
        "FILE",
    );
    o.optopt(
        "",
        "svg-spread",
        "sybil scenario: draw how honest dats spread among the honest nodes into FILE",
        "FILE",
    );
    o.optopt(
        "",
        "log",
        "write the event log as text to FILE (one run only)",
        "FILE",
    );
    o.optflag("q", "quiet", "no progress on standard error");
    o.optflag("h", "help", "this help");
    let m = match o.parse(&args) {
        Ok(m) => m,
        Err(e) => return usage(&o, &e.to_string()),
    };
    if m.opt_present("h") {
        println!("{}\n{}", o.usage(ABOUT), EXAMPLES);
        return ExitCode::SUCCESS;
    }
    if !m.free.is_empty() {
        return usage(&o, &format!("unexpected argument {:?}", m.free[0]));
    }
    let format = m.opt_str("format").unwrap_or_else(|| "md".into());
    if !["md", "csv", "summary"].contains(&format.as_str()) {
        return usage(&o, "--format must be md, csv or summary");
    }
    let seeds: u64 = match m.opt_str("seeds").map(|s| s.parse()) {
        None => 1,
        Some(Ok(k)) if k > 0 => k,
        Some(_) => return usage(&o, "--seeds must be a positive number"),
    };
    let threads_flag: Option<usize> = match m.opt_str("threads").map(|s| s.parse()) {
        None => None,
        Some(Ok(t)) if t > 0 => Some(t),
        Some(_) => return usage(&o, "--threads must be a positive number"),
    };
    let quiet = m.opt_present("q");

    // Expand the sweep into one argument list per run.
    let mut runs: Vec<Vec<String>> = vec![Vec::new()];
    for f in FLAGS {
        let Some(v) = m.opt_str(f) else { continue };
        let values: Vec<String> = if SWEEP.contains(f) {
            v.split(',').map(str::to_string).collect()
        } else {
            vec![v]
        };
        runs = runs
            .into_iter()
            .flat_map(|r| {
                values.iter().map(move |x| {
                    let mut r = r.clone();
                    r.push(format!("--{f}"));
                    r.push(x.clone());
                    r
                })
            })
            .collect();
    }
    let mut cfgs: Vec<SimConfig> = Vec::new();
    for r in &runs {
        let one = match dave_sim::options().parse(r) {
            Ok(x) => x,
            Err(e) => return usage(&o, &e.to_string()),
        };
        let c = match dave_sim::config_from(&one) {
            Ok(c) => c,
            Err(e) => return usage(&o, &e),
        };
        for s in 0..seeds {
            cfgs.push(SimConfig {
                seed: c.seed + s,
                ..c.clone()
            });
        }
    }
    if m.opt_present("log") && cfgs.len() > 1 {
        return usage(&o, "--log takes one run only");
    }

    std::panic::set_hook(Box::new(|info| {
        eprintln!("dave-sim: panic: {info}");
        if let Ok(r) = REPLAY.lock() {
            eprintln!("replay: {r}");
        }
    }));

    let mut outcomes: Vec<(SimConfig, Outcome)> = Vec::new();
    for c in &cfgs {
        if let Ok(mut r) = REPLAY.lock() {
            *r = c.replay();
        }
        let threads = threads_flag.unwrap_or(if c.nodes >= 300 {
            dave_core::pow::cores().min(2)
        } else {
            1
        });
        let t = Instant::now();
        let mut s = match dave_sim::Sim::new(c, threads) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("dave-sim: {e}");
                return ExitCode::from(1);
            }
        };
        let built = t.elapsed();
        if let Some(path) = m.opt_str("log") {
            if let Err(e) = s.log_to(std::path::Path::new(&path)) {
                eprintln!("dave-sim: cannot write {path}: {e}");
                return ExitCode::from(1);
            }
        }
        let out = match dave_sim::run_sim(&mut s) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("dave-sim: {e}");
                return ExitCode::from(1);
            }
        };
        let wall = t.elapsed().as_secs_f64();
        if !quiet {
            let events = out.net.ticks + out.net.delivered;
            eprintln!(
                "# {} : {} epochs, {:.0} events ({:.2e} ticks + {:.2e} datagrams) in {:.1} s (build {:.1} s): {:.2e} events/s on {} thread(s), {:.1} s per virtual second{}",
                c.replay(),
                s.epoch(),
                events as f64,
                out.net.ticks as f64,
                out.net.delivered as f64,
                wall,
                built.as_secs_f64(),
                events as f64 / (wall - built.as_secs_f64()).max(1e-9),
                threads,
                wall / (c.ms(s.epoch()) / 1000.0).max(1e-9),
                peak_rss().map_or(String::new(), |mb| format!(", peak memory {mb} MB so far"))
            );
        }
        outcomes.push((c.clone(), out));
    }

    let mut stdout = std::io::stdout().lock();
    let text = match format.as_str() {
        "summary" => outcomes
            .iter()
            .map(|(c, o)| format!("# {}\n{}", c.replay(), o.summary()))
            .collect::<Vec<_>>()
            .join("\n"),
        f => table(&outcomes, f == "csv"),
    };
    let _ = write!(stdout, "{text}");
    let series = outcomes.iter().any(|(_, o)| !o.series.is_empty());
    let plots = [
        ("svg", if series { svg_series } else { svg }),
        ("svg-spread", svg),
        ("svg-scale", svg_scale),
    ];
    for (flag, draw) in plots {
        let Some(path) = m.opt_str(flag) else {
            continue;
        };
        if let Err(e) = std::fs::write(&path, draw(&outcomes)) {
            eprintln!("dave-sim: cannot write {path}: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

fn usage(o: &getopts::Options, msg: &str) -> ExitCode {
    eprintln!("dave-sim: {msg}\n{}", o.short_usage("dave-sim"));
    ExitCode::from(2)
}

/// One row per run; the columns are every metric name, in first-seen order.
fn table(rows: &[(SimConfig, Outcome)], csv: bool) -> String {
    let mut cols: Vec<String> = Vec::new();
    for (_, o) in rows {
        for (k, _) in &o.metrics {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let cell = |o: &Outcome, k: &str| o.get(k).unwrap_or("").to_string();
    let mut s = String::new();
    if csv {
        s.push_str(&cols.join(","));
        s.push('\n');
        for (_, o) in rows {
            let r: Vec<String> = cols.iter().map(|k| cell(o, k)).collect();
            s.push_str(&r.join(","));
            s.push('\n');
        }
    } else {
        s.push_str(&format!("| {} |\n", cols.join(" | ")));
        s.push_str(&format!("|{}\n", "---|".repeat(cols.len())));
        for (_, o) in rows {
            let r: Vec<String> = cols.iter().map(|k| cell(o, k)).collect();
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
    }
    s
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// The frame both plots share: a white page with a title, a 0–100% axis
/// with its grid, and a legend to the right of the plot area.
struct Frame {
    w: f64,
    h: f64,
    l: f64,
    t: f64,
    pw: f64,
    ph: f64,
}

impl Frame {
    fn new() -> Frame {
        let (w, h) = (820.0, 460.0);
        let (l, r, t, b) = (60.0, 250.0, 34.0, 50.0);
        Frame {
            w,
            h,
            l,
            t,
            pw: w - l - r,
            ph: h - t - b,
        }
    }

    fn y(&self, share: f64) -> f64 {
        self.t + self.ph - self.ph * share.clamp(0.0, 1.0)
    }

    /// The page, the title and the y axis.
    fn open(&self, title: &str) -> String {
        self.open_with(title, |k| format!("{}%", k * 20))
    }

    /// The page, the title and a y axis whose k-th of 6 labels (k = 0..=5,
    /// bottom up) is `label(k)`.
    fn open_with(&self, title: &str, label: impl Fn(usize) -> String) -> String {
        let (w, h, l) = (self.w, self.h, self.l);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n<text x=\"{:.1}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{title}</text>\n",
            l + self.pw / 2.0
        );
        for k in 0..=5 {
            let y = self.y(k as f64 / 5.0);
            s.push_str(&format!(
                "<line x1=\"{l}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
                l + self.pw,
                l - 6.0,
                y + 4.0,
                label(k)
            ));
        }
        s
    }

    /// A vertical grid line at `x` with its label.
    fn tick(&self, s: &mut String, x: f64, label: &str) {
        let bottom = self.t + self.ph;
        s.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#ddd\"/>\n<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>\n",
            self.t,
            bottom + 16.0
        ));
    }

    /// The x axis caption and the plot's border.
    fn caption(&self, s: &mut String, text: &str) {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{text}</text>\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n",
            self.l + self.pw / 2.0,
            self.h - 12.0,
            self.l,
            self.t,
            self.pw,
            self.ph
        ));
    }

    /// A curve through `pts`, dashed or not.
    fn curve(&self, s: &mut String, color: &str, dashed: bool, pts: &[(f64, f64)]) {
        let dash = if dashed {
            " stroke-dasharray=\"6,4\""
        } else {
            ""
        };
        let p: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"{dash} points=\"{}\"/>\n",
            p.join(" ")
        ));
    }

    /// Legend entry `n`.
    fn legend(&self, s: &mut String, n: usize, color: &str, label: &str) {
        let x = self.l + self.pw;
        let ly = self.t + 10.0 + 18.0 * n as f64;
        s.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{label}</text>\n",
            x + 12.0,
            x + 34.0,
            x + 40.0,
            ly + 4.0
        ));
    }

    /// What solid and dashed mean, below `n` legend entries; closes the page.
    /// With `dashed` empty, only the solid note.
    fn close(&self, mut s: String, n: usize, solid: &str, dashed: &str) -> String {
        let x = self.l + self.pw + 12.0;
        let ly = self.t + 10.0 + 18.0 * n as f64 + 10.0;
        if dashed.is_empty() {
            s.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{ly:.1}\">{solid}</text>\n</svg>\n"
            ));
            return s;
        }
        s.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{ly:.1}\">solid: {solid}</text>\n<text x=\"{x:.1}\" y=\"{:.1}\">dashed: {dashed}</text>\n</svg>\n",
            ly + 16.0
        ));
        s
    }
}

/// Share of nodes holding a new dat against ms since the put, on a log
/// scale: per run, a solid curve for the first dat (all trust zero) and a
/// dashed one for the later dats pooled. Sybil runs: one solid curve per
/// run, every trial pooled, among the honest nodes (trust has formed
/// before the first). Plain SVG, no dependencies.
fn svg(rows: &[(SimConfig, Outcome)]) -> String {
    let f = Frame::new();
    let (mut lo, mut hi) = (f64::MAX, 1.0f64);
    for (c, o) in rows {
        for a in o.arrivals.iter().flatten() {
            if *a != NEVER && *a > 0 {
                lo = lo.min(c.ms(*a));
                hi = hi.max(c.ms(*a));
            }
        }
    }
    let x0 = 10f64.powf(lo.min(hi).log10().floor());
    let x1 = 10f64.powf(hi.log10().ceil());
    let xpos = |ms: f64| f.l + f.pw * (ms.max(x0).log10() - x0.log10()) / (x1.log10() - x0.log10());
    let title = if rows.iter().all(|(c, _)| c.scenario == Scenario::Sybil) {
        "Honest nodes holding a new honest dat, by time since it was put"
    } else {
        "Nodes holding a new dat, by time since it was put"
    };
    let mut s = f.open(title);
    let mut d = x0;
    while d <= x1 * 1.0001 {
        f.tick(&mut s, xpos(d), &trim(d));
        d *= 10.0;
    }
    f.caption(&mut s, "ms since the put (log scale; EPOCH = 65.537 µs)");
    let mut n = 0;
    for (c, o) in rows {
        if o.arrivals.is_empty() {
            continue;
        }
        let color = COLORS[n % COLORS.len()];
        let sybil = c.scenario == Scenario::Sybil;
        let (first, later): (Vec<u64>, Vec<u64>) = if sybil {
            (o.arrivals.iter().flatten().copied().collect(), Vec::new())
        } else {
            (
                o.arrivals[0].clone(),
                o.arrivals[1..].iter().flatten().copied().collect(),
            )
        };
        for (mut v, dashed) in [(first, false), (later, true)] {
            if v.is_empty() {
                continue;
            }
            v.sort_unstable();
            let total = v.len() as f64;
            let mut pts = Vec::new();
            let steps = 400;
            let mut idx = 0;
            for k in 0..=steps {
                let ms =
                    10f64.powf(x0.log10() + (x1.log10() - x0.log10()) * k as f64 / steps as f64);
                while idx < v.len() && v[idx] != NEVER && c.ms(v[idx]) <= ms {
                    idx += 1;
                }
                pts.push((xpos(ms), f.y(idx as f64 / total)));
            }
            f.curve(&mut s, color, dashed, &pts);
        }
        let probe = if c.probe != dave_core::PROBE {
            format!(" PROBE={}", c.probe)
        } else {
            String::new()
        };
        let label = if !sybil {
            format!(
                "N={} bg={} loss={}%{probe}",
                c.nodes,
                c.background,
                o.get("loss_pct").unwrap_or("?")
            )
        } else if c.sybil_ppm == 0 {
            format!("N={}, no attackers", c.nodes)
        } else {
            format!(
                "N={}, {}% {}",
                c.nodes,
                o.get("sybil_pct").unwrap_or("?"),
                c.sybil_mode.name()
            )
        };
        f.legend(&mut s, n, color, &label);
        n += 1;
    }
    if rows.iter().all(|(c, _)| c.scenario == Scenario::Sybil) {
        return f.close(s, n, "honest nodes holding honest dats", "");
    }
    f.close(s, n, "first dat (no trust yet)", "later dats")
}

/// Sybil runs: the attackers' share of the honest nodes' trust (solid) and
/// of their peer tables (dashed) against time, one colour per run.
fn svg_series(rows: &[(SimConfig, Outcome)]) -> String {
    let f = Frame::new();
    let mut x1 = 0.1f64;
    for (c, o) in rows {
        if let Some((e, _)) = o.series.last() {
            x1 = x1.max(c.ms(*e) / 1000.0);
        }
    }
    let x1 = (x1 * 2.0).ceil() / 2.0;
    let xpos = |secs: f64| f.l + f.pw * secs / x1;
    let mut s = f.open("Attackers' share of honest nodes' trust and peer tables");
    let step = if x1 > 5.0 { 1.0 } else { 0.5 };
    let mut x = 0.0;
    while x <= x1 + 1e-9 {
        f.tick(&mut s, xpos(x), &trim(x));
        x += step;
    }
    f.caption(&mut s, "seconds of virtual time (EPOCH = 65.537 µs)");
    let mut n = 0;
    for (c, o) in rows {
        if o.series.is_empty() || c.sybil_ppm == 0 {
            continue;
        }
        let color = COLORS[n % COLORS.len()];
        for (j, dashed) in [(2usize, false), (0, true)] {
            let pts: Vec<(f64, f64)> = o
                .series
                .iter()
                .map(|(e, v)| (xpos(c.ms(*e) / 1000.0), f.y(v[j])))
                .collect();
            f.curve(&mut s, color, dashed, &pts);
        }
        let tables = if c.max_peers != dave_core::MAX_PEERS {
            format!(", tables of {}", c.max_peers)
        } else {
            String::new()
        };
        let label = format!(
            "{}% {}{tables}",
            o.get("sybil_pct").unwrap_or("?"),
            c.sybil_mode.name()
        );
        f.legend(&mut s, n, color, &label);
        n += 1;
    }
    f.close(s, n, "share of trust", "share of table entries")
}

/// Propagation runs of several sizes: rounds (mean link latencies) for
/// later dats to reach 99% (solid) and 100% (dashed) of the nodes, and
/// for the first dat to reach 99% (dotted), against N on a log axis,
/// beside push gossip's log2 N + ln N rounds (grey).
fn svg_scale(rows: &[(SimConfig, Outcome)]) -> String {
    let f = Frame::new();
    let mut pts: Vec<(f64, [Option<f64>; 3])> = rows
        .iter()
        .filter(|(c, _)| c.scenario == Scenario::Propagation)
        .map(|(c, o)| {
            let round = c.latency_us as f64 / 1000.0;
            let r = |k: &str| o.num(k).map(|ms| ms / round);
            (
                c.nodes as f64,
                [r("later_ms99"), r("later_ms100"), r("first_ms99")],
            )
        })
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (n0, n1) = match (pts.first(), pts.last()) {
        (Some(a), Some(b)) => (a.0.max(2.0), b.0.max(a.0 * 10.0)),
        _ => (10.0, 10_000.0),
    };
    let x0 = 10f64.powf(n0.log10().floor());
    let x1 = 10f64.powf(n1.log10().ceil());
    let xpos = |n: f64| f.l + f.pw * (n.log10() - x0.log10()) / (x1.log10() - x0.log10());
    let ideal = |n: f64| n.log2() + n.ln();
    let top = (ideal(x1) / 5.0).ceil() * 5.0;
    let mut s = f.open_with("Rounds to reach the nodes, by network size", |k| {
        trim(top * k as f64 / 5.0)
    });
    let mut d = x0;
    while d <= x1 * 1.0001 {
        f.tick(&mut s, xpos(d), &trim(d));
        d *= 10.0;
    }
    f.caption(
        &mut s,
        "nodes (log scale); a round is one mean link latency",
    );
    let grid: Vec<(f64, f64)> = (0..=100)
        .map(|k| {
            let n = 10f64.powf(x0.log10() + (x1.log10() - x0.log10()) * k as f64 / 100.0);
            (xpos(n), f.y(ideal(n) / top))
        })
        .collect();
    f.curve(&mut s, "#999", false, &grid);
    f.legend(&mut s, 0, "#999", "push gossip: log2 N + ln N");
    let names = [
        "later dats, 99%",
        "later dats, 100% (dashed)",
        "first dat, 99%",
    ];
    for (j, name) in names.iter().enumerate() {
        let color = COLORS[j % COLORS.len()];
        let line: Vec<(f64, f64)> = pts
            .iter()
            .filter_map(|(n, v)| v[j].map(|r| (xpos(*n), f.y(r / top))))
            .collect();
        f.curve(&mut s, color, j == 1, &line);
        for (x, y) in &line {
            s.push_str(&format!(
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{color}\"/>\n"
            ));
        }
        f.legend(&mut s, j + 1, color, name);
    }
    f.close(s, names.len() + 1, "measured, 10 writes a second", "")
}

/// The process's peak resident memory in MB (Linux: VmHWM), if known.
/// In a sweep it is the largest run's so far.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
