//! `daved`: run a dave node, or write and read values through the network.

use dave::backup::Backup;
use dave::control::{self, Request};
use dave::driver::{wall_ms, Driver};
use dave::keys;
use dave_core::pow;
use dave_core::wire::{hex32, parse_hex, Hex, KEY_MAX};
use dave_core::Dat;
use dave_core::NEVER;
use dave_core::{Config, DEFAULT_PORT, EPOCH_NS};
use dave_core::{Event, GetId, GetOpts, Node, Query, MAX_FANOUT};
use getopts::Options;
use log::info;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod cli;

const ABOUT: &str =
    "daved: a node and client of dave, an anonymous peer-to-peer key-value store on UDP.";

const EXAMPLES: &str = "\
Commands:
    (none)                 run a node until SIGINT or SIGTERM
    keygen                 make a signing key (default $XDG_CONFIG_HOME/dave/key or ~/.config/dave/key)
    pubkey                 print the public key of your key file
    set VALUE              write VALUE: proof of work on every core, sign, send, confirm
    get HASH               read the dat with this work hash and print its value
    get PUBKEY NAME        read the current value of a name
    setf FILE              write a file of any size (- for standard input) as a tree of dats; print its root
    getf HASH [-o FILE]    read a file by its root hash, verify every dat, write it (-o - for standard output)
    getf PUBKEY NAME       read a file by its root's name (finds the newest upload of the same content)
    status                 print a running local node's status (-p PORT, --json)

Names: `set` without --key names the value by the blake3 hash of the value,
printed as hex:<64 digits>. A NAME argument is taken as UTF-8 text, or as raw
bytes when written hex:<digits>.

Examples:
    daved                                  run a node on [::]:1618
    daved -l 127.0.0.1:1619 -e 127.0.0.1:1618
                                           run a second node that bootstraps from the first
    daved keygen                           make your key (once)
    daved -e 127.0.0.1:1618 set 'hello dave'
    daved -e 127.0.0.1:1618 set --key greeting -d 20 'hello dave'
    daved -e 127.0.0.1:1619 get 0000a4e8...             (a work hash that set printed)
    daved -e 127.0.0.1:1619 get 03a107bf... greeting    (a pubkey and a name)
    daved -e 127.0.0.1:1618 setf photo.jpg             (prints root, pubkey and name)
    daved -e 127.0.0.1:1619 getf 0000c1d2... -o copy.jpg
    daved --backup /var/lib/dave/backup    keep dats across restarts
    daved --rate 2MB                       cap the seed stream at about 2 MB/s
    daved status --json                    ask the local node on port 1618 how it is doing
    daved --http 127.0.0.1:8080            also serve the HTTP gateway and web page (open it in a browser)
    daved -v | grep /d/pr                  watch only pruning

Exit status: 0 success; 1 not found, timed out, or refused (the message says
what was tried); 2 bad usage.";

/// How the program ends.
enum Fail {
    /// Not found, timeout, or an error: exit 1.
    Runtime(String),
    /// Bad usage: exit 2, with usage text.
    Usage(String),
}

/// A node for a configuration built from flags: a setting out of range is
/// a usage error that names it.
fn node(cfg: Config) -> Result<Node, Fail> {
    Node::try_new(cfg).map_err(|e| Fail::Usage(e.to_string()))
}

fn rt<E: std::fmt::Display>(e: E) -> Fail {
    Fail::Runtime(e.to_string())
}

fn options() -> Options {
    let mut o = Options::new();
    o.optopt(
        "l",
        "listen",
        "address to listen on (node: [::]:1618, client: [::]:0)",
        "ADDR",
    );
    o.optmulti(
        "e",
        "edge",
        "bootstrap peer; repeat for more (client default: 127.0.0.1:1618)",
        "ADDR",
    );
    o.optflag(
        "v",
        "verbose",
        "log every packet decision (debug level); RUST_LOG overrides",
    );
    o.optopt(
        "",
        "epoch",
        &format!("base period of the cycle in ns (default {EPOCH_NS})"),
        "NS",
    );
    o.optopt(
        "",
        "cap",
        "dats kept after each prune, DAT_CAP (default 100000)",
        "N",
    );
    o.optopt(
        "",
        "status",
        "seconds between /d/st status lines, 0 for none (default 10)",
        "SECS",
    );
    o.optopt(
        "",
        "http",
        "serve the HTTP gateway and web page on ADDR (off by default; keep it on loopback, e.g. 127.0.0.1:8080, unless you mean to share it)",
        "ADDR",
    );
    o.optopt(
        "",
        "rate",
        "set EPOCH from a seed rate: dats per second (e.g. 1000), or bytes per second of full-size datagrams (e.g. 2MB, 512KB)",
        "RATE",
    );
    o.optopt(
        "p",
        "port",
        "status: the UDP port of the local node to ask (default 1618)",
        "PORT",
    );
    o.optflag(
        "",
        "json",
        "status, setf, getf: print JSON (setf and getf: progress lines on standard error, a summary on standard output)",
    );
    o.optopt(
        "o",
        "output",
        "getf: write the file to FILE (- for standard output; default: the name it records, never replacing a file)",
        "FILE",
    );
    o.optopt(
        "",
        "name",
        "setf: the file name to record (default: FILE's own name)",
        "NAME",
    );
    o.optopt(
        "w",
        "window",
        "setf, getf: requests in flight at once (default 128)",
        "N",
    );
    o.optopt(
        "",
        "backup",
        "keep dats in FILE across restarts (created if missing; peers go to FILE.peers)",
        "FILE",
    );
    o.optopt(
        "t",
        "timeout",
        "client: seconds to wait for the network (default 5)",
        "SECS",
    );
    o.optopt(
        "d",
        "difficulty",
        "set, setf: proof of work in leading zero bits (default 16, least 8)",
        "BITS",
    );
    o.optopt(
        "k",
        "keyfile",
        "key file (default $XDG_CONFIG_HOME/dave/key or ~/.config/dave/key)",
        "FILE",
    );
    o.optopt(
        "",
        "key",
        "set: name the value NAME (text, or hex:<digits>) instead of its hash",
        "NAME",
    );
    o.optflag("", "force", "keygen: replace an existing key file");
    o.optflag("h", "help", "print this help");
    o.optflag("V", "version", "print the version");
    o
}

fn usage(o: &Options) -> String {
    let brief = format!(
        "{ABOUT}\n\nUsage: daved [-l ADDR] [-e ADDR]... [-v] [--epoch NS | --rate RATE] [--cap N] [--backup FILE] [--http ADDR]\n       daved [-e ADDR]... COMMAND [options] [ARGS]"
    );
    format!("{}\n{EXAMPLES}", o.usage(&brief))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = options();
    let m = match o.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("daved: {e}\n\n{}", o.short_usage("daved"));
            eprintln!("Try `daved --help` for commands and examples.");
            return ExitCode::from(2);
        }
    };
    if m.opt_present("h") {
        println!("{}", usage(&o));
        return ExitCode::SUCCESS;
    }
    if m.opt_present("V") {
        println!("daved {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    dave::logfmt::init(m.opt_present("v"));
    match run(&m) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Runtime(msg)) => {
            eprintln!("daved: {msg}");
            ExitCode::from(1)
        }
        Err(Fail::Usage(msg)) => {
            eprintln!("daved: {msg}\n\n{}", o.short_usage("daved"));
            eprintln!("Try `daved --help` for commands and examples.");
            ExitCode::from(2)
        }
    }
}

/// Options each command accepts (beyond -h, -v, -V).
fn allowed(cmd: &str) -> &'static [&'static str] {
    match cmd {
        "" => &["l", "e", "epoch", "rate", "cap", "status", "backup", "http"],
        "status" => &["p", "json"],
        "keygen" => &["k", "force"],
        "pubkey" => &["k"],
        "set" => &["l", "e", "t", "d", "k", "key", "epoch"],
        "get" => &["l", "e", "t", "epoch"],
        "setf" => &["l", "e", "t", "d", "k", "name", "json", "window", "epoch"],
        "getf" => &["l", "e", "t", "o", "json", "window", "epoch"],
        _ => &[],
    }
}

fn run(m: &getopts::Matches) -> Result<(), Fail> {
    let cmd = m.free.first().map(String::as_str).unwrap_or("");
    let args = if m.free.is_empty() {
        &[][..]
    } else {
        &m.free[1..]
    };
    if ![
        "", "keygen", "pubkey", "set", "get", "status", "setf", "getf",
    ]
    .contains(&cmd)
    {
        return Err(Fail::Usage(format!("unknown command `{cmd}`")));
    }
    for name in [
        "l", "e", "epoch", "rate", "cap", "status", "backup", "http", "t", "d", "k", "key",
        "force", "p", "json", "o", "name", "window",
    ] {
        if m.opt_present(name) && !allowed(cmd).contains(&name) {
            let flag = if name.len() == 1 {
                format!("-{name}")
            } else {
                format!("--{name}")
            };
            let what = if cmd.is_empty() {
                "running a node"
            } else {
                cmd
            };
            return Err(Fail::Usage(format!("{flag} does not apply to {what}")));
        }
    }
    match cmd {
        "" => {
            if !args.is_empty() {
                return Err(Fail::Usage("a node takes no arguments".into()));
            }
            run_node(m)
        }
        "keygen" => {
            no_args(args, "keygen")?;
            let path = key_path(m)?;
            let key = keys::generate(&path, m.opt_present("force")).map_err(rt)?;
            eprintln!(
                "wrote a new key to {} (mode 0600); keep it safe: your names belong to it",
                path.display()
            );
            println!("{}", Hex(&key.verifying_key().to_bytes()));
            Ok(())
        }
        "pubkey" => {
            no_args(args, "pubkey")?;
            let key = keys::load(&key_path(m)?).map_err(rt)?;
            println!("{}", Hex(&key.verifying_key().to_bytes()));
            Ok(())
        }
        "status" => {
            no_args(args, "status")?;
            let port = parse_num::<u16>(m, "p", "a port number")?.unwrap_or(DEFAULT_PORT);
            let req = if m.opt_present("json") {
                Request::StatusJson
            } else {
                Request::Status
            };
            let answer = control::query(port, req, Duration::from_secs(2)).map_err(|e| {
                Fail::Runtime(format!(
                    "no node answered on the control socket @{} ({e}): is daved running with port {port} on this host, in this network namespace? (choose the port with -p)",
                    control::name(port)
                ))
            })?;
            println!("{}", answer.trim_end());
            Ok(())
        }
        "set" => {
            if args.len() != 1 {
                return Err(Fail::Usage("set takes one VALUE (quote it if it has spaces; use -- before a value that starts with -)".into()));
            }
            cmd_set(m, args[0].as_bytes())
        }
        "setf" => cli::files::cmd_setf(m, args),
        "getf" => cli::files::cmd_getf(m, args),
        _ => cmd_get(m, args),
    }
}

fn no_args(args: &[String], cmd: &str) -> Result<(), Fail> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(Fail::Usage(format!("{cmd} takes no arguments")))
    }
}

fn key_path(m: &getopts::Matches) -> Result<PathBuf, Fail> {
    match m.opt_str("k") {
        Some(p) => Ok(PathBuf::from(p)),
        None => keys::default_path().map_err(rt),
    }
}

fn parse_num<T: std::str::FromStr>(
    m: &getopts::Matches,
    name: &str,
    what: &str,
) -> Result<Option<T>, Fail> {
    match m.opt_str(name) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| Fail::Usage(format!("--{name} wants {what}, not `{s}`"))),
    }
}

/// Parses `host:port`, `[v6]:port`, or a bare address (port 1618).
fn parse_addr(s: &str) -> Result<SocketAddr, Fail> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    let with_port = if s.contains(':') {
        s.to_string()
    } else {
        format!("{s}:{DEFAULT_PORT}")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| {
            Fail::Usage(format!(
                "`{s}` is not an address (want HOST:PORT, [IPV6]:PORT or IP)"
            ))
        })
}

fn node_config(m: &getopts::Matches, edges: Vec<SocketAddr>) -> Result<Config, Fail> {
    let mut cfg = Config {
        // -v logs every event the node notes, not only prunes and status.
        notes: m.opt_present("v"),
        ..Config::default()
    };
    if let Some(ns) = parse_num::<u64>(m, "epoch", "a number of nanoseconds")? {
        if ns < 1000 {
            return Err(Fail::Usage("--epoch must be at least 1000 ns".into()));
        }
        cfg.epoch_ns = ns;
    }
    if let Some(r) = m.opt_str("rate") {
        if m.opt_present("epoch") {
            return Err(Fail::Usage("give --rate or --epoch, not both".into()));
        }
        cfg.epoch_ns = epoch_for_rate(&r)?;
    }
    if let Some(cap) = parse_num::<usize>(m, "cap", "a number of dats")? {
        if cap == 0 || cap > 50_000_000 {
            return Err(Fail::Usage("--cap must be between 1 and 50000000".into()));
        }
        cfg = cfg.with_dat_cap(cap);
    }
    cfg.edges = edges;
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| Fail::Runtime(format!("no OS randomness: {e}")))?;
    cfg.seed = u64::from_le_bytes(seed);
    Ok(cfg)
}

/// EPOCH for a seed rate: `N` dats per second, or `N[K|M|G]B` bytes per
/// second of full-size datagrams (decimal units; KiB, MiB, GiB also work).
/// One dat is seeded every SEED epochs.
fn epoch_for_rate(s: &str) -> Result<u64, Fail> {
    let bad = || {
        Fail::Usage(format!(
            "--rate wants dats per second (like 1000) or bytes per second (like 2MB or 512KB), not `{s}`"
        ))
    };
    let t = s.trim();
    let units: [(&str, f64); 7] = [
        ("GiB", 1073741824.0),
        ("MiB", 1048576.0),
        ("KiB", 1024.0),
        ("GB", 1e9),
        ("MB", 1e6),
        ("KB", 1e3),
        ("B", 1.0),
    ];
    let dats_per_s = match units.iter().find(|(u, _)| t.ends_with(u)) {
        Some((u, mult)) => {
            let n: f64 = t[..t.len() - u.len()].trim().parse().map_err(|_| bad())?;
            n * mult / dave_core::wire::PACKET_MAX as f64
        }
        None => t.parse::<f64>().map_err(|_| bad())?,
    };
    if !(dats_per_s.is_finite() && dats_per_s > 0.0) {
        return Err(bad());
    }
    let ns = 1e9 / (dave_core::SEED_EPOCHS as f64 * dats_per_s);
    if !(1000.0..=1e12).contains(&ns) {
        return Err(Fail::Usage(format!(
            "--rate {s} is out of range: between 0.0005 and 500000 dats per second"
        )));
    }
    Ok(ns.round() as u64)
}

fn edges(m: &getopts::Matches) -> Result<Vec<SocketAddr>, Fail> {
    m.opt_strs("e").iter().map(|s| parse_addr(s)).collect()
}

fn run_node(m: &getopts::Matches) -> Result<(), Fail> {
    let listen = match m.opt_str("l") {
        Some(s) => parse_addr(&s)?,
        None => SocketAddr::from(([0u16; 8], DEFAULT_PORT)),
    };
    let status = parse_num::<u64>(m, "status", "a number of seconds")?.unwrap_or(10);
    let mut cfg = node_config(m, edges(m)?)?;
    let backup_path = m.opt_str("backup").map(PathBuf::from);
    cfg.track_novel = backup_path.is_some();
    let epoch_ns = cfg.epoch_ns;
    let (cap, nedges) = (cfg.dat_cap, cfg.edges.len());
    let mut drv = Driver::bind(listen, node(cfg)?).map_err(|e| {
        Fail::Runtime(format!(
            "cannot listen on {listen}: {e} (is another node using the port? choose one with -l ADDR)"
        ))
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(rt)?;
    }
    if let Err(e) = drv.enable_control() {
        log::warn!(
            "/d/ctl cannot open the control socket @{}: {e} (daved status will not reach this node)",
            dave::control::name(drv.local_addr().map_or(0, |a| a.port()))
        );
    }
    if let Some(h) = m.opt_str("http") {
        let addr = parse_addr(&h)?;
        drv.enable_gateway(addr, dave::gateway::Limits::default())
            .map_err(|e| {
                Fail::Runtime(format!(
                    "cannot serve HTTP on {addr}: {e} (choose another address with --http)"
                ))
            })?;
    }
    // Tell the node the time before loading: dats are checked against it.
    let now = drv.now();
    drv.node_mut().handle_tick(now);
    let mut backup = match &backup_path {
        Some(p) => Some(Backup::open(p, drv.node_mut(), pow::cores()).map_err(rt)?.0),
        None => None,
    };
    info!(
        "/d/start listening on {} epoch={epoch_ns}ns seed_rate={:.0}dats/s cap={cap} edges={nedges} dats={} rcvbuf={}",
        drv.local_addr().map_err(rt)?,
        1e9 / (dave_core::SEED_EPOCHS as f64 * epoch_ns as f64),
        drv.node().store().len(),
        drv.recv_buffer()
    );
    drv.run(&stop, Duration::from_secs(status), |node| {
        if let Some(b) = backup.as_mut() {
            b.after_turn(node);
        }
    })
    .map_err(rt)?;
    if let Some(b) = backup.take() {
        b.close(drv.node_mut())
            .map_err(|e| Fail::Runtime(format!("could not save the backup on stop: {e}")))?;
    }
    let s = drv.node().stats();
    info!(
        "/d/stop dats={} peers={} packets in={} out={}",
        drv.node().store().len(),
        drv.node().peers().len(),
        s.packets_in,
        s.packets_out
    );
    Ok(())
}

/// A dat found by a GET: its work hash and who sent it.
type Found = ([u8; 32], Option<SocketAddr>);

/// A short-lived node that writes or reads through the network.
struct Client {
    drv: Driver,
    timeout: Duration,
    edges: Vec<SocketAddr>,
}

impl Client {
    fn connect(m: &getopts::Matches) -> Result<Client, Fail> {
        Client::connect_with(m, |_| {})
    }

    /// Like `connect`, with the client node's configuration adjusted first.
    fn connect_with(
        m: &getopts::Matches,
        adjust: impl FnOnce(&mut Config),
    ) -> Result<Client, Fail> {
        let mut edges = edges(m)?;
        if edges.is_empty() {
            edges.push(SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
        }
        let secs = parse_num::<f64>(m, "t", "a number of seconds")?.unwrap_or(5.0);
        if !(secs > 0.0 && secs < 86400.0) {
            return Err(Fail::Usage(
                "--timeout must be between 0 and 86400 seconds".into(),
            ));
        }
        let timeout = Duration::from_secs_f64(secs);
        let mut cfg = node_config(m, edges.clone())?;
        // A client holds few dats and hears few sources.
        cfg = cfg.with_dat_cap(1024);
        cfg.filter_cap = 4096;
        adjust(&mut cfg);
        let listen = match m.opt_str("l") {
            Some(s) => parse_addr(&s)?,
            None => SocketAddr::from(([0u16; 8], 0)),
        };
        let drv = match Driver::bind(listen, node(cfg.clone())?) {
            Ok(d) => d,
            Err(_) if m.opt_str("l").is_none() => {
                Driver::bind(SocketAddr::from(([0, 0, 0, 0], 0)), node(cfg)?)
                    .map_err(|e| Fail::Runtime(format!("cannot open a UDP socket: {e}")))?
            }
            Err(e) => return Err(Fail::Runtime(format!("cannot listen on {listen}: {e}"))),
        };
        let mut c = Client {
            drv,
            timeout,
            edges,
        };
        c.await_edge()?;
        Ok(c)
    }

    fn edge_list(&self) -> String {
        self.edges
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Waits for an edge to answer our GETPEER.
    fn await_edge(&mut self) -> Result<(), Fail> {
        let t0 = Instant::now();
        while t0.elapsed() < self.timeout {
            self.drv.turn(Duration::from_millis(5)).map_err(rt)?;
            if self
                .drv
                .node()
                .peers()
                .iter()
                .any(|p| p.edge && p.seen != NEVER)
            {
                return Ok(());
            }
        }
        Err(Fail::Runtime(format!(
            "no answer from {} within {:.1} s: is a node running there? (start one with `daved`, which listens on [::]:1618)",
            self.edge_list(),
            self.timeout.as_secs_f64()
        )))
    }

    /// Lets learned peers answer our pings, so a confirmation can ask someone new.
    fn settle(&mut self, d: Duration) -> Result<(), Fail> {
        let t0 = Instant::now();
        while t0.elapsed() < d {
            self.drv.turn(Duration::from_millis(5)).map_err(rt)?;
            let live = self
                .drv
                .node()
                .peers()
                .iter()
                .filter(|p| p.seen != NEVER)
                .count();
            if live >= 3 {
                break;
            }
        }
        Ok(())
    }

    /// Runs the loop until GET `id` ends; returns the work found and who sent it.
    fn wait(&mut self, id: GetId) -> Result<Option<Found>, Fail> {
        // The node times the request out itself; this bound is a safety net.
        let hard = Instant::now() + self.timeout + Duration::from_secs(2);
        while Instant::now() < hard {
            self.drv.turn(Duration::from_millis(5)).map_err(rt)?;
            while let Some(ev) = self.drv.node_mut().poll_event() {
                match ev {
                    Event::Got { id: i, work, from } if i == id => return Ok(Some((work, from))),
                    Event::TimedOut { id: i } if i == id => return Ok(None),
                    _ => {}
                }
            }
        }
        Ok(None)
    }

    fn live_peers(&self) -> String {
        let live: Vec<String> = self
            .drv
            .node()
            .peers()
            .iter()
            .filter(|p| p.seen != NEVER)
            .map(|p| p.addr.to_string())
            .collect();
        live.join(", ")
    }
}

fn parse_name(s: &str) -> Result<Vec<u8>, Fail> {
    let bytes = match s.strip_prefix("hex:") {
        Some(h) => {
            let mut out = vec![0u8; h.len() / 2];
            if h.len() % 2 != 0 || !parse_hex(h, &mut out) {
                return Err(Fail::Usage(format!(
                    "`{s}`: after hex: give an even number of hex digits"
                )));
            }
            out
        }
        None => s.as_bytes().to_vec(),
    };
    if bytes.len() > KEY_MAX {
        return Err(Fail::Usage(format!(
            "name `{s}` is {} bytes; at most {KEY_MAX} fit",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// A name as the user would type it back.
fn show_name(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(t) if !t.starts_with("hex:") && t.chars().all(|c| !c.is_control()) && !t.is_empty() => {
            t.to_string()
        }
        _ => format!("hex:{}", Hex(key)),
    }
}

fn cmd_set(m: &getopts::Matches, val: &[u8]) -> Result<(), Fail> {
    let bits = parse_num::<u8>(m, "d", "a number of bits")?.unwrap_or(16);
    if !(pow::MIN_WORK..=64).contains(&bits) {
        return Err(Fail::Usage(format!(
            "-d must be between {} and 64 bits (each bit doubles the work)",
            pow::MIN_WORK
        )));
    }
    let key = match m.opt_str("key") {
        Some(k) => parse_name(&k)?,
        None => blake3::hash(val).as_bytes().to_vec(),
    };
    let signer = keys::load(&key_path(m)?).map_err(rt)?;
    let max = dave_core::wire::max_val_len(key.len(), pow::SOLVER_SALT_LEN);
    if val.len() > max {
        return Err(Fail::Usage(format!(
            "the value is {} bytes; at most {max} fit in one dat with this name",
            val.len()
        )));
    }
    // Connect first: there is no point working for a network that is not there.
    let mut c = Client::connect(m)?;
    let (dat, attempts, took) = solve_with_progress(&key, val, bits, &signer).map_err(rt)?;
    c.settle(Duration::from_millis(300))?;
    let time = dat.time_ms.to_le_bytes();
    let work = c.drv.node_mut().put(&dat.msg(&time)).map_err(rt)?;
    let sent: Vec<SocketAddr> = c.drv.node().last_sent().to_vec();
    if sent.is_empty() {
        return Err(Fail::Runtime(format!(
            "no peer to send to (edges: {})",
            c.edge_list()
        )));
    }
    c.drv.flush();
    let mut avoid = [None; MAX_FANOUT];
    for (a, s) in avoid.iter_mut().zip(&sent) {
        *a = Some(*s);
    }
    let t0 = Instant::now();
    let epochs = c.drv.epochs(c.timeout);
    let id = c
        .drv
        .node_mut()
        .get(
            Query::Work(work),
            GetOpts {
                timeout_epochs: epochs,
                network_only: true,
                avoid,
            },
        )
        .map_err(|e| Fail::Runtime(format!("{e:?}")))?;
    let confirmed = c.wait(id)?;
    let sent_list = sent
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "proof of work: {bits} bits in {:.2} s ({attempts} attempts on {} cores)",
        took.as_secs_f64(),
        pow::cores()
    );
    println!("work   {}", Hex(&work));
    println!("pubkey {}", Hex(&dat.pubkey));
    println!("name   {}", show_name(&dat.key));
    match confirmed {
        Some((_, from)) => {
            let by = from.map_or("the local store".to_string(), |a| a.to_string());
            eprintln!(
                "sent to {sent_list}; confirmed by {by} in {:.3} s",
                t0.elapsed().as_secs_f64()
            );
            Ok(())
        }
        None => Err(Fail::Runtime(format!(
            "sent to {sent_list}, but no peer returned it within {:.1} s (asked: {})",
            c.timeout.as_secs_f64(),
            c.live_peers()
        ))),
    }
}

/// Runs the proof of work on every core, showing progress on a terminal.
fn solve_with_progress(
    key: &[u8],
    val: &[u8],
    bits: u8,
    signer: &ed25519_dalek::SigningKey,
) -> Result<(Dat, u64, Duration), dave_core::MakeError> {
    let progress = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let tty = std::io::stderr().is_terminal();
    let t0 = Instant::now();
    let res = std::thread::scope(|s| {
        if tty {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let n = progress.load(Ordering::Relaxed);
                    let secs = t0.elapsed().as_secs_f64();
                    // Expected attempts: 2^bits.
                    let expect = 2f64.powi(bits as i32);
                    eprint!(
                        "\rproof of work: {bits} bits, {n} attempts ({:.1} M/s), {:.1} s, about {:.0}% of the expected work ",
                        n as f64 / secs / 1e6,
                        secs,
                        (n as f64 / expect * 100.0).min(999.0)
                    );
                }
                eprint!("\r\x1b[K");
                let _ = std::io::stderr().flush();
            });
        }
        let r = Dat::make(
            key,
            val,
            wall_ms(),
            bits,
            signer,
            pow::cores(),
            Some(&progress),
        );
        done.store(true, Ordering::Relaxed);
        r
    });
    let (dat, attempts) = res?;
    Ok((dat, attempts, t0.elapsed()))
}

fn cmd_get(m: &getopts::Matches, args: &[String]) -> Result<(), Fail> {
    let query = match args {
        [h] => Query::Work(
            hex32(h)
                .ok_or_else(|| Fail::Usage(format!("`{h}` is not a work hash (64 hex digits)")))?,
        ),
        [pk, name] => {
            let p = hex32(pk).ok_or_else(|| {
                Fail::Usage(format!("`{pk}` is not a public key (64 hex digits)"))
            })?;
            Query::name(p, &parse_name(name)?).expect("name length checked")
        }
        _ => return Err(Fail::Usage("get takes HASH, or PUBKEY NAME".into())),
    };
    let mut c = Client::connect(m)?;
    let epochs = c.drv.epochs(c.timeout);
    let id = c
        .drv
        .node_mut()
        .get(query, GetOpts::timeout(epochs))
        .map_err(|e| Fail::Runtime(format!("{e:?}")))?;
    match c.wait(id)? {
        Some((work, _)) => {
            let node = c.drv.node();
            let dat = node.dat_by_work(&work).ok_or_else(|| {
                Fail::Runtime("the dat was pruned before it could be read".into())
            })?;
            let mut out = std::io::stdout().lock();
            out.write_all(dat.val).map_err(rt)?;
            if std::io::stdout().is_terminal() {
                out.write_all(b"\n").map_err(rt)?;
            }
            out.flush().map_err(rt)?;
            Ok(())
        }
        None => Err(Fail::Runtime(format!(
            "not found: asked {} for {:.1} s",
            c.live_peers(),
            c.timeout.as_secs_f64()
        ))),
    }
}
