//! `dave-crowd`: many addresses against one dave node's peer table, and an
//! honest newcomer beside them (docs/protocol.md 5.3, 5.4).
//!
//! `crowd` holds one UDP socket on each of many addresses (they must be
//! this host's: `scripts/table-netns.sh` adds them to a veth in a network
//! namespace), finishes the handshake from every one, and keeps each
//! alive: a GETPEER quoting its token every MS, and an answer to every ping.
//! `newcomer` does the same from one address and counts the dats the node
//! seeds it; `put` writes dats through the node as a client. Run with
//! `--help` for usage.

use dave::handshake::{handshake, with_token};
use dave_core::wire::{self, Cookie, Msg, Op, Packet, COOKIE_LEN};
use dave_core::Dat;
use ed25519_dalek::SigningKey;
use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HELP: &str = "\
dave-crowd: many addresses against a dave node's peer table, and a newcomer

Usage:
  dave-crowd crowd --node IP:PORT --from IPV4 --count N [--step K] [--secs S] [--every MS]
  dave-crowd newcomer --node IP:PORT --works HEX[,HEX...] [--bind IP] [--secs S] [--every MS] [--stay]
  dave-crowd put --node IP:PORT [--count N]
  dave-crowd addrs --from IPV4 --count N [--step K]

crowd     binds a UDP socket on each of N addresses: IPV4, IPV4 + K, IPV4 +
          2K, ... (K 1 by default; 256 puts each in a /24 of its own),
          skipping host parts .0 and .255; each must be this host's. It
          does the handshake from all of them, then for S seconds (30)
          sends a GETPEER quoting its token from every one every MS (50,
          about the node's PING), takes each fresh cookie the node hands
          back, and answers every GETPEER the node sends. Prints
          `crowd N addresses H handshakes G getpeers P pings D dats`.
newcomer  one socket (on IP, default any), the same handshake and keep-alive;
          counts the dats among WORKS the node sends it. Prints
          `newcomer got K of N dats, first after F ms, all after A ms`
          (`-` when none or not all); stops when it holds all, or after
          S seconds (30); with --stay, after S seconds in any case (an
          honest node stays). Exit 0 when it got all of them, 1 otherwise.
put       as a client (the handshake from an ephemeral port), writes N (5)
          dats with 8 bits of work through the node, checks that the node
          answers a GET for each, and prints their work hashes, one a line.
addrs     prints the addresses `crowd` binds with these options, one a line
          (for the script that adds them to an interface).
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = getopts::Options::new();
    for (name, hint) in [
        ("node", "IP:PORT"),
        ("from", "IPV4"),
        ("count", "N"),
        ("secs", "S"),
        ("every", "MS"),
        ("works", "HEX,..."),
        ("bind", "IP"),
        ("step", "K"),
    ] {
        o.optopt("", name, "", hint);
    }
    o.optflag("", "stay", "");
    o.optflag("h", "help", "");
    let m = match o.parse(&args) {
        Ok(m) => m,
        Err(e) => die(&e.to_string()),
    };
    if m.opt_present("h") {
        println!("{HELP}");
        return;
    }
    let num = |name: &str, default: f64, max: f64| -> f64 {
        match m.opt_str(name) {
            None => default,
            Some(s) => s
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0 && *v <= max)
                .unwrap_or_else(|| die(&format!("--{name} wants a number up to {max}, not `{s}`"))),
        }
    };
    let from = || -> Vec<Ipv4Addr> {
        let from: Ipv4Addr = m
            .opt_str("from")
            .unwrap_or_else(|| die("--from IPV4 is needed"))
            .parse()
            .unwrap_or_else(|_| die("--from wants an IPv4 address"));
        let n = num("count", 200.0, 60_000.0) as usize;
        let step = num("step", 1.0, 16_777_216.0).max(1.0) as u32;
        addrs_from(from, n, step)
    };
    if m.free.first().map(String::as_str) == Some("addrs") {
        for a in from() {
            println!("{a}");
        }
        return;
    }
    let node: SocketAddr = {
        let s = m
            .opt_str("node")
            .unwrap_or_else(|| die("--node IP:PORT is needed"));
        s.parse()
            .unwrap_or_else(|_| die(&format!("--node wants IP:PORT, not `{s}`")))
    };
    let secs = Duration::from_secs_f64(num("secs", 30.0, 3600.0));
    let every = Duration::from_secs_f64(num("every", 50.0, 60_000.0).max(1.0) / 1000.0);
    let code = match m.free.first().map(String::as_str) {
        Some("crowd") => match crowd(node, &from(), secs, every) {
            Ok(c) => {
                println!(
                    "crowd {} addresses {} handshakes {} getpeers {} pings {} dats",
                    c.addrs, c.handshakes, c.getpeers, c.pings, c.dats
                );
                0
            }
            Err(e) => {
                eprintln!("dave-crowd crowd: {e}");
                1
            }
        },
        Some("newcomer") => {
            let works: Vec<[u8; 32]> = m
                .opt_str("works")
                .unwrap_or_else(|| die("newcomer needs --works HEX[,HEX...]"))
                .split(',')
                .map(|s| wire::hex32(s).unwrap_or_else(|| die(&format!("not a work hash: `{s}`"))))
                .collect();
            let ip: IpAddr = match m.opt_str("bind") {
                Some(s) => s
                    .parse()
                    .unwrap_or_else(|_| die(&format!("--bind wants an IP, not `{s}`"))),
                None if node.is_ipv4() => Ipv4Addr::UNSPECIFIED.into(),
                None => std::net::Ipv6Addr::UNSPECIFIED.into(),
            };
            match newcomer(node, ip, &works, secs, every, m.opt_present("stay")) {
                Ok(n) => {
                    let ms = |t: Option<Duration>| {
                        t.map_or("-".into(), |t| format!("{}", t.as_millis()))
                    };
                    println!(
                        "newcomer got {} of {} dats, first after {} ms, all after {} ms",
                        n.got,
                        works.len(),
                        ms(n.first),
                        ms(n.all)
                    );
                    i32::from(n.got < works.len())
                }
                Err(e) => {
                    eprintln!("dave-crowd newcomer: {e}");
                    1
                }
            }
        }
        Some("put") => match put(node, num("count", 5.0, 100.0) as usize) {
            Ok(ws) => {
                for w in ws {
                    println!("{}", wire::Hex(&w));
                }
                0
            }
            Err(e) => {
                eprintln!("dave-crowd put: {e}");
                1
            }
        },
        _ => die("say crowd, newcomer, put or addrs"),
    };
    std::process::exit(code);
}

fn die(msg: &str) -> ! {
    eprintln!("dave-crowd: {msg}\nTry `dave-crowd --help`.");
    std::process::exit(2);
}

/// `n` addresses from `from` up, `step` apart, skipping host parts .0 and
/// .255.
fn addrs_from(from: Ipv4Addr, n: usize, step: u32) -> Vec<Ipv4Addr> {
    let mut out = Vec::with_capacity(n);
    let mut a = u32::from(from);
    while out.len() < n {
        if !matches!(a & 0xff, 0 | 0xff) {
            out.push(Ipv4Addr::from(a));
        }
        a = a
            .checked_add(step)
            .unwrap_or_else(|| die("--count runs past 255.255.255.255"));
    }
    out
}

/// 8 bytes that differ per call.
fn random8(salt: u64) -> [u8; COOKIE_LEN] {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    dave_core::splitmix(t ^ salt ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes()
}

fn encode(m: &Msg) -> Vec<u8> {
    let mut buf = [0u8; wire::MTU];
    let n = wire::encode_into(m, &mut buf).expect("a small message encodes");
    buf[..n].to_vec()
}

fn getpeer(cookie: &Cookie) -> Vec<u8> {
    encode(&Msg {
        op: Op::Getpeer,
        cookie,
        ..Msg::default()
    })
}

/// One address of the crowd, or the newcomer: its socket, the cookie it
/// hands the node, and the latest token the node issued it.
struct Member {
    sock: UdpSocket,
    mine: Cookie,
    token: Option<Cookie>,
}

/// What happened to one member's datagrams since the last look.
#[derive(Default)]
struct Seen {
    pings: u64,
    puts: Vec<[u8; 32]>,
}

impl Member {
    fn new(ip: IpAddr, salt: u64) -> io::Result<Member> {
        let sock = UdpSocket::bind(SocketAddr::new(ip, 0))
            .map_err(|e| io::Error::new(e.kind(), format!("bind {ip}: {e}")))?;
        sock.set_nonblocking(true)?;
        Ok(Member {
            sock,
            mine: random8(salt),
            token: None,
        })
    }

    /// A GETPEER issuing our cookie, quoting the token when we have one.
    fn ask(&self, node: SocketAddr) -> io::Result<()> {
        let g = getpeer(&self.mine);
        let g = self.token.as_ref().map_or(g.clone(), |t| with_token(&g, t));
        self.sock.send_to(&g, node).map(drop)
    }

    /// Reads every datagram waiting: takes the cookie of a PEER answering
    /// ours, answers each GETPEER of the node with a PEER quoting its
    /// cookie, and notes each PUT.
    fn serve(&mut self, node: SocketAddr, seen: &mut Seen) {
        let mut buf = [0u8; wire::MTU + 1];
        while let Ok((n, from)) = self.sock.recv_from(&mut buf) {
            if from != node {
                continue;
            }
            let Ok(d) = wire::decode_datagram(&buf[..n]) else {
                continue;
            };
            match d.packet {
                Packet::Peer { cookie, .. } if d.token == Some(&self.mine) => {
                    self.token = Some(*cookie);
                }
                Packet::Getpeer { cookie } => {
                    let p = encode(&Msg {
                        op: Op::Peer,
                        token: cookie,
                        cookie: &self.mine,
                        ..Msg::default()
                    });
                    let _ = self.sock.send_to(&p, node);
                    seen.pings += 1;
                }
                Packet::Put(p) => seen.puts.push(*p.work),
                _ => {}
            }
        }
    }
}

/// Handshakes from every member at once: a GETPEER from each without a
/// token every 100 ms until its cookie arrives, for at most `limit`.
fn handshake_all(node: SocketAddr, ms: &mut [Member], limit: Duration) -> usize {
    let t0 = Instant::now();
    let mut next = t0;
    let mut seen = Seen::default();
    while t0.elapsed() < limit && ms.iter().any(|m| m.token.is_none()) {
        if Instant::now() >= next {
            for m in ms.iter().filter(|m| m.token.is_none()) {
                let _ = m.ask(node);
            }
            next += Duration::from_millis(100);
        }
        std::thread::sleep(Duration::from_millis(2));
        for m in ms.iter_mut() {
            m.serve(node, &mut seen);
        }
    }
    ms.iter().filter(|m| m.token.is_some()).count()
}

struct CrowdTally {
    addrs: usize,
    handshakes: usize,
    getpeers: u64,
    pings: u64,
    dats: usize,
}

fn crowd(
    node: SocketAddr,
    addrs: &[Ipv4Addr],
    secs: Duration,
    every: Duration,
) -> io::Result<CrowdTally> {
    let mut ms = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| Member::new(IpAddr::V4(*a), i as u64))
        .collect::<io::Result<Vec<_>>>()?;
    let handshakes = handshake_all(node, &mut ms, Duration::from_secs(20));
    if handshakes == 0 {
        return Err(io::Error::other(format!(
            "{node} finished no handshake from {} addresses",
            ms.len()
        )));
    }
    // The node passes one GETPEER per source per epoch (65 µs): the one
    // quoting the cookie goes a little after the handshake's.
    std::thread::sleep(Duration::from_millis(5));
    let mut seen = Seen::default();
    let mut dats = HashSet::new();
    let mut getpeers = 0;
    let t0 = Instant::now();
    let mut next = t0;
    while t0.elapsed() < secs {
        if Instant::now() >= next {
            for m in ms.iter().filter(|m| m.token.is_some()) {
                if m.ask(node).is_ok() {
                    getpeers += 1;
                }
            }
            next += every;
        }
        for m in ms.iter_mut() {
            m.serve(node, &mut seen);
        }
        dats.extend(seen.puts.drain(..));
        std::thread::sleep(Duration::from_millis(1).min(every));
    }
    Ok(CrowdTally {
        addrs: ms.len(),
        handshakes,
        getpeers,
        pings: seen.pings,
        dats: dats.len(),
    })
}

struct NewcomerTally {
    got: usize,
    first: Option<Duration>,
    all: Option<Duration>,
}

fn newcomer(
    node: SocketAddr,
    ip: IpAddr,
    works: &[[u8; 32]],
    secs: Duration,
    every: Duration,
    stay: bool,
) -> io::Result<NewcomerTally> {
    let mut me = [Member::new(ip, 7)?];
    if handshake_all(node, &mut me, Duration::from_secs(10)) == 0 {
        return Err(io::Error::other(format!(
            "{node} did not finish the handshake"
        )));
    }
    std::thread::sleep(Duration::from_millis(5));
    let [mut me] = me;
    let want: HashSet<[u8; 32]> = works.iter().copied().collect();
    let mut got = HashSet::new();
    let mut seen = Seen::default();
    let (mut first, mut all) = (None, None);
    let t0 = Instant::now();
    let mut next = t0;
    while t0.elapsed() < secs && (stay || all.is_none()) {
        if Instant::now() >= next {
            me.ask(node)?;
            next += every;
        }
        me.serve(node, &mut seen);
        for w in seen.puts.drain(..) {
            if want.contains(&w) && got.insert(w) {
                first = first.or(Some(t0.elapsed()));
                if got.len() == want.len() {
                    all = Some(t0.elapsed());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(NewcomerTally {
        got: got.len(),
        first,
        all,
    })
}

/// Writes `n` small dats through `node` as a client and checks, by a GET
/// for each, that the node holds them.
fn put(node: SocketAddr, n: usize) -> io::Result<Vec<[u8; 32]>> {
    let bind = if node.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = UdpSocket::bind(bind)?;
    let token = handshake(&s, node, Duration::from_secs(5))?;
    let who = SigningKey::from_bytes(&[0x63; 32]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut works = Vec::with_capacity(n);
    let mut buf = [0u8; wire::MTU + 1];
    for k in 0..n {
        let key = format!("dave-crowd {now} {k}");
        let (d, _) = Dat::make(
            key.as_bytes(),
            b"a dat for the newcomer",
            now,
            8,
            &who,
            1,
            None,
        )
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
        let time = d.time_ms.to_le_bytes();
        let p = with_token(&encode(&d.msg(&time)), &token);
        let g = with_token(
            &encode(&Msg {
                op: Op::Get,
                work: &d.work,
                ..Msg::default()
            }),
            &token,
        );
        let mut held = false;
        for _ in 0..20 {
            s.send_to(&p, node)?;
            std::thread::sleep(Duration::from_millis(5));
            s.send_to(&g, node)?;
            s.set_read_timeout(Some(Duration::from_millis(200)))?;
            let until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < until && !held {
                match s.recv_from(&mut buf) {
                    Ok((len, from)) if from == node => {
                        held = matches!(wire::decode(&buf[..len]), Ok(Packet::Put(q)) if *q.work == d.work);
                    }
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
            if held {
                break;
            }
        }
        if !held {
            return Err(io::Error::other(format!(
                "{node} did not answer a GET for dat {k} within 4 s"
            )));
        }
        works.push(d.work);
    }
    Ok(works)
}
