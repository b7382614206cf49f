//! `daved`: run a dave node, or write and read values through the network.

use dave::control::{self, Request};
use dave::keys;
use dave_core::wire::Hex;
use dave_core::Node;
use dave_core::{Config, DEFAULT_PORT};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod cli;
use cli::usage::{self, allowed};

/// How the program ends.
enum Fail {
    /// Not found, timeout, or an error: exit 1.
    Runtime(String),
    /// The same, with a name for it (`--json` prints it as `error`).
    Named(&'static str, String),
    /// Bad usage: exit 2, with usage text.
    Usage(String),
    /// Ctrl-C: exit 130.
    Interrupted,
}

/// A node for a configuration built from flags: a setting out of range is
/// a usage error that names it.
fn node(cfg: Config) -> Result<Node, Fail> {
    Node::try_new(cfg).map_err(|e| Fail::Usage(e.to_string()))
}

fn rt<E: std::fmt::Display>(e: E) -> Fail {
    Fail::Runtime(e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = usage::options();
    let m = match o.parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("daved: {e}\n\n{}", usage::line(""));
            return ExitCode::from(2);
        }
    };
    let cmd = m.free.first().map(String::as_str).unwrap_or("");
    if m.opt_present("h") || cmd == "help" {
        return help(&m);
    }
    if m.opt_present("V") {
        println!("daved {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    // A node logs on standard output; a command's own output goes there,
    // so its node logs on standard error, and only with -v.
    if m.free.is_empty() {
        dave::logfmt::init(m.opt_present("v"));
    } else {
        dave::logfmt::init_client(m.opt_present("v"));
    }
    if !m.free.is_empty() {
        cli::interrupt::install();
    }
    let json = m.opt_present("json");
    let (code, name, msg) = match run(&m) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Fail::Runtime(msg)) => (1, "error", msg),
        Err(Fail::Named(name, msg)) => (1, name, msg),
        Err(Fail::Usage(msg)) => (2, "usage", msg),
        Err(Fail::Interrupted) => (130, "interrupted", "interrupted".to_string()),
    };
    if json {
        // --json: the error is JSON too, where the answer would have been.
        println!(
            "{{\"error\":\"{name}\",\"message\":\"{}\"}}",
            dave::json::escape(&msg)
        );
    } else if code == 2 {
        let known = usage::command(cmd).map_or("", |c| c.name);
        eprintln!("daved: {msg}\n\n{}", usage::line(known));
    } else {
        eprintln!("daved: {msg}");
    }
    ExitCode::from(code)
}

/// `daved --help`, `daved help [COMMAND]`, `daved COMMAND --help`.
fn help(m: &getopts::Matches) -> ExitCode {
    let mut cmd = m.free.first().map(String::as_str);
    // `daved help --help` is help's own.
    if cmd == Some("help") && !(m.free.len() == 1 && m.opt_present("h")) {
        cmd = m.free.get(1).map(String::as_str);
        if m.free.len() > 2 {
            eprintln!(
                "daved: help takes at most one COMMAND\n\n{}",
                usage::line("help")
            );
            return ExitCode::from(2);
        }
    }
    match cmd {
        None => println!("{}", usage::general()),
        Some(c) => match usage::command(c) {
            Some(c) => println!("{}", usage::of(c)),
            None => {
                eprintln!(
                    "daved: unknown command `{c}` (commands: node, keygen, pubkey, set, get, setf, getf, status, help)\n\n{}",
                    usage::line("")
                );
                return ExitCode::from(2);
            }
        },
    }
    ExitCode::SUCCESS
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
            cli::run::run_node(m)
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
            let answer = control::query(port, req, Duration::from_secs(2)).map_err(|e| match e {
                control::QueryError::Unreachable(e) => Fail::Runtime(format!(
                    "no node answered on the control socket @{} ({e}): is daved running with port {port} on this host, in this network namespace? (choose the port with -p)",
                    control::name(port)
                )),
                control::QueryError::Untrusted(why) => Fail::Runtime(why),
            })?;
            println!("{}", answer.trim_end());
            Ok(())
        }
        "set" => {
            if args.len() != 1 {
                return Err(Fail::Usage("set takes one VALUE (quote it if it has spaces; use -- before a value that starts with -)".into()));
            }
            cli::values::cmd_set(m, args[0].as_bytes())
        }
        "setf" => cli::files::cmd_setf(m, args),
        "getf" => cli::files::cmd_getf(m, args),
        _ => cli::values::cmd_get(m, args),
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
        Some(s) => s.parse().map(Some).map_err(|_| {
            let dash = if name.len() == 1 { "-" } else { "--" };
            Fail::Usage(format!("{dash}{name} wants {what}, not `{s}`"))
        }),
    }
}

/// `-d BITS` for set and setf: 8 to 64, default 16; one message for every
/// value outside (too small, too large, not a number).
fn difficulty(m: &getopts::Matches) -> Result<u8, Fail> {
    use dave_core::pow::MIN_WORK;
    let Some(s) = m.opt_str("d") else {
        return Ok(16);
    };
    match s.parse::<u8>() {
        Ok(b) if (MIN_WORK..=64).contains(&b) => Ok(b),
        _ => Err(Fail::Usage(format!(
            "-d wants a difficulty from {MIN_WORK} to 64 bits (each bit doubles the work), not `{s}`"
        ))),
    }
}

/// Parses `IP:PORT`, `[IPV6]:PORT`, a bare IP (port 1618), or a host name
/// with or without `:PORT`, which is resolved now (an IPv4 address first,
/// if it has one). Text that cannot be an address is a usage error; a name
/// that does not resolve is a runtime error that says so.
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
    let bad = || {
        Fail::Usage(format!(
            "`{s}` is not an address (want HOST:PORT, [IPV6]:PORT, IP or HOST)"
        ))
    };
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (s, DEFAULT_PORT),
    };
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !name_ok {
        return Err(bad());
    }
    let found: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(it) => it.collect(),
        Err(e) => {
            return Err(Fail::Runtime(format!(
                "cannot resolve the host name `{host}` (in `{s}`): {e}; check the name, or give an IP address"
            )))
        }
    };
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| {
            Fail::Runtime(format!(
                "the host name `{host}` (in `{s}`) has no address; check the name, or give an IP address"
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

/// A node's edges as given: every `-e`, then those of the `DAVE_EDGES`
/// environment variable (separated by spaces or commas; the systemd unit
/// sets it from /etc/default/dave).
fn node_edge_specs(m: &getopts::Matches) -> Vec<String> {
    let mut specs = m.opt_strs("e");
    if let Ok(v) = std::env::var("DAVE_EDGES") {
        specs.extend(
            v.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    specs
}

/// The edges given as host names, with the addresses they resolved to.
fn named_edges(specs: &[String], edges: &[SocketAddr]) -> Vec<dave::edges::Named> {
    specs
        .iter()
        .zip(edges)
        .filter(|(s, _)| {
            s.parse::<SocketAddr>().is_err()
                && s.trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_err()
        })
        .map(|(s, a)| {
            let (host, port) = match s.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().unwrap_or(a.port())),
                None => (s.as_str(), a.port()),
            };
            dave::edges::Named {
                host: host.to_string(),
                port,
                addr: *a,
            }
        })
        .collect()
}
