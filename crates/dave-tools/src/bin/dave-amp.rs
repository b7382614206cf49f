//! `dave-amp`: how much a dave node sends to an address that never asked
//! for anything (reflection and amplification), measured.
//!
//! An attacker sends datagrams in a victim's name; the victim stays silent
//! and counts what the node sends it. The bound the protocol promises
//! (docs/protocol.md 5.3) is one answer per datagram, at most 20 bytes
//! larger: received bytes <= sent bytes + 20 x sent datagrams.
//!
//! `dave-amp run` measures it on loopback against a `daved` it starts,
//! sending from the victim's own socket (the node sees the victim's address
//! as the source). `forge`, `count`, `client` and `put` are the pieces
//! `scripts/amplify-netns.sh` runs in network namespaces, where the source
//! address is forged from a raw socket. Run with `--help` for usage.
//!
//! One file (over 800 lines): its subcommands share one way of building,
//! sending and counting datagrams, so that loopback and namespace figures
//! are measured alike.

use dave::handshake::{handshake, with_token};
use dave_core::wire::{self, Cookie, Msg, Op, Packet, COOKIE_LEN};
use dave_core::Dat;
use ed25519_dalek::SigningKey;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HELP: &str = "\
dave-amp: what a dave node sends to an address that never asked (amplification)

Usage:
  dave-amp run [--secs S] [--after S] [--every MS] [--cases LIST] [--daved PATH]
  dave-amp forge --src IP[-LAST]:PORT --dst IP:PORT --case C [--secs S] [--every MS] [--work HEX]
  dave-amp count --bind IP:PORT --secs S
  dave-amp client --node IP:PORT --work HEX [--count N] [--every MS] [--wait MS]
  dave-amp put --node IP:PORT

run     starts `daved` on 127.0.0.1 (the one beside this binary unless
        --daved), gives it one dat of the largest size, checks that an
        honest client that did the handshake gets it (a node that does no
        handshake, revision 1, is written and asked without a token), then
        for each case sends datagrams in a
        silent victim's name, from the victim's own socket, every MS (80)
        for S seconds (10), and counts what the victim receives until AFTER
        seconds (3) later. Each case has a fresh victim socket. Prints a
        markdown table, whether the bound held, and how many addresses
        entered the node's peer table (`peers_added` in `daved status
        --json`: one, the honest client, unless a victim entered too).
        Exit 1 if the bound or the table check failed.
forge   sends case C with the forged source address SRC from a raw socket
        (IPv4, IP_HDRINCL; needs root). With a range (10.77.0.200-250:1618)
        each round sends one datagram from every address in it; a round
        starts every MS. Case e first does the handshake from this host's
        own address. Prints `sent N datagrams B bytes` (UDP payload bytes).
count   a silent victim: binds IP:PORT, never sends, and after S seconds
        prints `received N datagrams B bytes`.
client  an honest client: the handshake, then COUNT (20) GETs for the dat
        WORK, one every MS (250), each answered if a PUT of it arrives
        within WAIT ms (1000; what arrived before the GET is discarded).
        Prints the handshake time, each GET, and `answered K of N`.
put     writes one dat (8 bits of work) to the node, checks that it is
        held, and prints its work hash.

Cases (payload sizes in bytes):
  a  one GETPEER (10)
  b  a GETPEER every MS (10)
  c  a GET of a dat the node holds, every MS (36)
  d  an empty datagram every MS (0)
  e  a GETPEER quoting a real cookie of the node, issued to another address
     (the attacker's own), every MS (20)
  f  a GETPEER quoting a random token, every MS (20)

Options:
  --secs S      seconds of sending (default 10)
  --after S     run: seconds of counting after the sending ends (default 3)
  --every MS    period of sending (default 80; client: 250)
  --cases LIST  run: the cases, e.g. abcd (default abcdef)
  --daved PATH  run: the daved binary
  -h, --help    this help

Reproduce the table in docs/security.md:
  cargo build --release && target/release/dave-amp run";

const CASES: [(char, &str); 6] = [
    ('a', "one GETPEER"),
    ('b', "GETPEER every 80 ms"),
    ('c', "GET of a held dat every 80 ms"),
    ('d', "empty datagram every 80 ms"),
    (
        'e',
        "GETPEER with another address's cookie as token, every 80 ms",
    ),
    ('f', "GETPEER with a random token, every 80 ms"),
];

/// The most a node may send to an unproven address per datagram received.
const SLACK: u64 = 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = getopts::Options::new();
    for (name, hint) in [
        ("secs", "S"),
        ("after", "S"),
        ("every", "MS"),
        ("cases", "LIST"),
        ("daved", "PATH"),
        ("src", "IP[-LAST]:PORT"),
        ("dst", "IP:PORT"),
        ("case", "C"),
        ("work", "HEX"),
        ("bind", "IP:PORT"),
        ("node", "IP:PORT"),
        ("count", "N"),
        ("wait", "MS"),
    ] {
        o.optopt("", name, "", hint);
    }
    o.optflag("h", "help", "");
    let m = match o.parse(&args) {
        Ok(m) => m,
        Err(e) => die(&e.to_string()),
    };
    if m.opt_present("h") {
        println!("{HELP}");
        return;
    }
    let num = |name: &str, default: f64| -> f64 {
        match m.opt_str(name) {
            None => default,
            Some(s) => s
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 3600.0)
                .unwrap_or_else(|| die(&format!("--{name} wants a number, not `{s}`"))),
        }
    };
    let addr = |name: &str| -> SocketAddr {
        let s = m
            .opt_str(name)
            .unwrap_or_else(|| die(&format!("--{name} is needed")));
        s.parse()
            .unwrap_or_else(|_| die(&format!("--{name} wants IP:PORT, not `{s}`")))
    };
    let work = || -> Option<[u8; 32]> {
        m.opt_str("work")
            .map(|s| unhex(&s).unwrap_or_else(|| die("--work wants 64 hex digits (a work hash)")))
    };
    let secs = Duration::from_secs_f64(num("secs", 10.0));
    match m.free.first().map(String::as_str) {
        Some("run") => {
            let cases = m.opt_str("cases").unwrap_or_else(|| "abcdef".into());
            if cases.is_empty() || !cases.chars().all(|c| CASES.iter().any(|k| k.0 == c)) {
                die("--cases wants letters among abcdef");
            }
            let daved = m.opt_str("daved").map(PathBuf::from);
            let every = Duration::from_secs_f64(num("every", 80.0) / 1000.0);
            let after = Duration::from_secs_f64(num("after", 3.0));
            std::process::exit(run(daved, &cases, secs, every, after));
        }
        Some("forge") => {
            let case = case_arg(m.opt_str("case"));
            let (srcs, port) =
                src_range(&m.opt_str("src").unwrap_or_else(|| die("--src is needed")));
            let SocketAddr::V4(dst) = addr("dst") else {
                die("--dst must be IPv4")
            };
            let every = Duration::from_secs_f64(num("every", 80.0) / 1000.0);
            if case == 'c' && m.opt_str("work").is_none() {
                die("case c needs --work HEX (the dat to ask for)");
            }
            match forge(&srcs, port, dst, case, secs, every, work()) {
                Ok(t) => println!("sent {} datagrams {} bytes", t.0, t.1),
                Err(e) => {
                    eprintln!("dave-amp forge: {e}");
                    std::process::exit(1);
                }
            }
        }
        Some("count") => {
            let (n, b) = count(addr("bind"), secs);
            println!("received {n} datagrams {b} bytes");
        }
        Some("client") => {
            let w = work().unwrap_or_else(|| die("client needs --work HEX"));
            let n = num("count", 20.0) as u64;
            let every = Duration::from_secs_f64(num("every", 250.0) / 1000.0);
            let wait = Duration::from_secs_f64(num("wait", 1000.0) / 1000.0);
            std::process::exit(client(addr("node"), &w, n, every, wait));
        }
        Some("put") => match put(addr("node")) {
            Ok(w) => println!("{}", wire::Hex(&w)),
            Err(e) => {
                eprintln!("dave-amp put: {e}");
                std::process::exit(1);
            }
        },
        _ => die("say run, forge, count, client or put"),
    }
}

fn die(msg: &str) -> ! {
    eprintln!("dave-amp: {msg}\nTry `dave-amp --help`.");
    std::process::exit(2);
}

fn case_arg(s: Option<String>) -> char {
    match s
        .as_deref()
        .map(|s| s.chars().collect::<Vec<_>>())
        .as_deref()
    {
        Some([c]) if CASES.iter().any(|k| k.0 == *c) => *c,
        _ => die("--case wants one of a, b, c, d, e, f"),
    }
}

/// `10.77.0.200-250:1618`: the addresses .200 to .250, port 1618.
fn src_range(s: &str) -> (Vec<Ipv4Addr>, u16) {
    let bad = || -> ! { die(&format!("--src wants IP[-LAST]:PORT (IPv4), not `{s}`")) };
    let (ips, port) = s.rsplit_once(':').unwrap_or_else(|| bad());
    let port: u16 = port.parse().unwrap_or_else(|_| bad());
    let (first, last) = match ips.split_once('-') {
        Some((a, l)) => (a, Some(l)),
        None => (ips, None),
    };
    let first: Ipv4Addr = first.parse().unwrap_or_else(|_| bad());
    let o = first.octets();
    let last = match last {
        None => o[3],
        Some(l) => l.parse::<u8>().unwrap_or_else(|_| bad()),
    };
    if last < o[3] {
        bad();
    }
    let ips = (o[3]..=last)
        .map(|d| Ipv4Addr::new(o[0], o[1], o[2], d))
        .collect();
    (ips, port)
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut w = [0u8; 32];
    for (i, b) in w.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(w)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn encode(m: &Msg) -> Vec<u8> {
    let mut buf = [0u8; wire::MTU];
    let n = wire::encode_into(m, &mut buf).expect("a small message encodes");
    buf[..n].to_vec()
}

/// 8 bytes that differ from run to run.
fn random8() -> [u8; COOKIE_LEN] {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    dave_core::splitmix(t ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes()
}

fn getpeer() -> Vec<u8> {
    let cookie: Cookie = random8();
    encode(&Msg {
        op: Op::Getpeer,
        cookie: &cookie,
        ..Msg::default()
    })
}

/// The datagram of case `c` (`foreign`: the node's cookie for another
/// address, for case e; `work`: the held dat, for case c).
fn payload(c: char, work: Option<&[u8; 32]>, foreign: Option<&Cookie>) -> Vec<u8> {
    match c {
        'a' | 'b' => getpeer(),
        'c' => encode(&Msg {
            op: Op::Get,
            work: work.expect("case c has a dat"),
            ..Msg::default()
        }),
        'd' => Vec::new(),
        'e' => with_token(&getpeer(), foreign.expect("case e has a cookie")),
        _ => with_token(&getpeer(), &random8()),
    }
}

/// The node's cookie for an address of this host other than the victim's:
/// a real token, stale for any other address.
fn foreign_cookie(node: SocketAddr) -> io::Result<Cookie> {
    let bind = if node.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = UdpSocket::bind(bind)?;
    handshake(&s, node, Duration::from_secs(5))
}

/// Datagrams and bytes, sent and received, for one case.
#[derive(Clone, Copy, Default)]
struct Tally {
    sent_n: u64,
    sent_b: u64,
    recv_n: u64,
    recv_b: u64,
}

impl Tally {
    fn bound(&self) -> u64 {
        self.sent_b + SLACK * self.sent_n
    }
    fn holds(&self) -> bool {
        self.recv_n <= self.sent_n && self.recv_b <= self.bound()
    }
    fn ratio(&self) -> String {
        if self.sent_b == 0 {
            if self.recv_b == 0 {
                "0 (nothing for nothing)".into()
            } else {
                format!("{} B for 0 B", self.recv_b)
            }
        } else {
            format!("{:.2}x", self.recv_b as f64 / self.sent_b as f64)
        }
    }
}

/// Sends `p` from `sock` to `node` every `every` for `secs` (once for case
/// a), reading what arrives, and keeps reading until `after` past the end.
fn victim_case(
    sock: &UdpSocket,
    node: SocketAddr,
    p: &[u8],
    once: bool,
    secs: Duration,
    every: Duration,
    after: Duration,
) -> io::Result<Tally> {
    let mut t = Tally::default();
    let mut buf = [0u8; wire::MTU + 1];
    let t0 = Instant::now();
    let mut next = t0;
    let stop_sending = t0 + secs;
    let stop = stop_sending + after;
    loop {
        let now = Instant::now();
        if now >= stop {
            break;
        }
        if now >= next && now < stop_sending && !(once && t.sent_n > 0) {
            sock.send_to(p, node)?;
            t.sent_n += 1;
            t.sent_b += p.len() as u64;
            next += every;
        }
        let wake = if now < stop_sending {
            next.min(stop)
        } else {
            stop
        };
        let wait = wake.saturating_duration_since(Instant::now());
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                t.recv_n += 1;
                t.recv_b += n as u64;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(t)
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A dat the node is given, made with 8 bits of work: as large as a dat
/// can be, so that whatever a node sends of it weighs the most.
fn make_dat(tag: &str) -> Dat {
    let who = SigningKey::from_bytes(&[0x61; 32]);
    let val = vec![b'd'; wire::max_val_len(tag.len(), dave_core::pow::SOLVER_SALT_LEN)];
    Dat::make(tag.as_bytes(), &val, now_ms(), 8, &who, 1, None)
        .expect("a dat of the largest size")
        .0
}

/// Asks for `work` with `token` from `sock`; true when a PUT of it arrives
/// within `wait`. The socket is drained first: a client that did the
/// handshake is also seeded the node's dats while it is heard from (2 PING,
/// 94 ms), so a PUT that arrived before the GET proves nothing. One that
/// arrives after it is the answer or, rarely, a seed the node sent then.
fn ask(
    sock: &UdpSocket,
    node: SocketAddr,
    token: Option<&Cookie>,
    work: &[u8; 32],
    wait: Duration,
) -> io::Result<bool> {
    let get = encode(&Msg {
        op: Op::Get,
        work,
        ..Msg::default()
    });
    let get = token.map_or(get.clone(), |t| with_token(&get, t));
    // What arrived before this GET (a seed of the same dat, say) is no
    // answer to it.
    sock.set_nonblocking(true)?;
    let mut buf = [0u8; wire::MTU + 1];
    while sock.recv_from(&mut buf).is_ok() {}
    sock.set_nonblocking(false)?;
    sock.send_to(&get, node)?;
    let until = Instant::now() + wait;
    while Instant::now() < until {
        sock.set_read_timeout(Some(
            until
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if from == node => {
                if let Ok(Packet::Put(p)) = wire::decode(&buf[..n]) {
                    if p.work == work {
                        return Ok(true);
                    }
                }
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
    Ok(false)
}

/// Sends one dat to `node` (a PUT from an unproven address is stored) and
/// checks, as an honest client, that the node holds it.
fn put(node: SocketAddr) -> io::Result<[u8; 32]> {
    let d = make_dat(&format!("dave-amp {}", now_ms()));
    let time = d.time_ms.to_le_bytes();
    let bind = if node.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = UdpSocket::bind(bind)?;
    // A revision-1 node (before address validation) does no handshake:
    // then the dat is written and asked for without a token.
    let token = match handshake(&s, node, Duration::from_secs(5)) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("dave-amp: {e}; writing and asking without a token");
            None
        }
    };
    let m = encode(&d.msg(&time));
    let m = token.map_or(m.clone(), |t| with_token(&m, &t));
    for _ in 0..20 {
        s.send_to(&m, node)?;
        if ask(
            &s,
            node,
            token.as_ref(),
            &d.work,
            Duration::from_millis(200),
        )? {
            return Ok(d.work);
        }
    }
    Err(io::Error::other(format!(
        "{node} did not answer a GET for the dat within 4 s"
    )))
}

fn client(node: SocketAddr, work: &[u8; 32], n: u64, every: Duration, wait: Duration) -> i32 {
    let bind = if node.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = match UdpSocket::bind(bind) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dave-amp client: {e}");
            return 1;
        }
    };
    let t0 = Instant::now();
    // A revision-1 node does no handshake: then the GETs go without a token.
    let token = match handshake(&s, node, Duration::from_secs(5)) {
        Ok(t) => {
            println!("handshake in {} ms", t0.elapsed().as_millis());
            Some(t)
        }
        Err(e) => {
            println!("handshake failed: {e}; asking without a token");
            None
        }
    };
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..n {
        let start = Instant::now();
        let at = t0.elapsed().as_millis();
        match ask(&s, node, token.as_ref(), work, wait) {
            Ok(true) => {
                answered += 1;
                slowest = slowest.max(start.elapsed());
                println!(
                    "GET {i} at +{at} ms: answered in {:.1} ms",
                    start.elapsed().as_secs_f64() * 1000.0
                );
            }
            Ok(false) => println!("GET {i} at +{at} ms: no answer"),
            Err(e) => eprintln!("dave-amp client: GET {i}: {e}"),
        }
        let next = start + every;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    println!(
        "answered {answered} of {n} (slowest answer {:.1} ms)",
        slowest.as_secs_f64() * 1000.0
    );
    0
}

fn count(bind: SocketAddr, secs: Duration) -> (u64, u64) {
    let s = UdpSocket::bind(bind).unwrap_or_else(|e| die(&format!("bind {bind}: {e}")));
    let until = Instant::now() + secs;
    let mut buf = [0u8; 65536];
    let (mut n, mut b) = (0, 0);
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        let _ = s.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        if let Ok((len, _)) = s.recv_from(&mut buf) {
            n += 1;
            b += len as u64;
        }
    }
    (n, b)
}

/// An IPv4 header and a UDP header (with its checksum) around `payload`.
fn ip_udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut p = Vec::with_capacity(20 + udp_len);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    // id (the kernel fills 0), don't fragment, TTL 64, UDP, header checksum
    // (the kernel fills it).
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src.ip().octets());
    p.extend_from_slice(&dst.ip().octets());
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.ip().octets());
    add(&dst.ip().octets());
    add(&[0, 17]);
    add(&(udp_len as u16).to_be_bytes());
    add(&udp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    udp[6..8].copy_from_slice(&if c == 0 { 0xffff } else { c }.to_be_bytes());
    p.extend_from_slice(&udp);
    p
}

/// A raw IPv4 socket that sends whole IP packets (IP_HDRINCL).
struct Raw(i32);

impl Raw {
    fn open() -> io::Result<Raw> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Raw(fd))
    }

    fn send(&self, packet: &[u8], dst: SocketAddrV4) -> io::Result<()> {
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(dst.ip().octets()),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: the buffer and the address are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.0,
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// Sends case `c` in the name of every address of `srcs` (port `port`):
/// one round every `every`, for `secs` (case a: one round).
fn forge(
    srcs: &[Ipv4Addr],
    port: u16,
    dst: SocketAddrV4,
    c: char,
    secs: Duration,
    every: Duration,
    work: Option<[u8; 32]>,
) -> io::Result<(u64, u64)> {
    let foreign = if c == 'e' {
        Some(foreign_cookie(SocketAddr::V4(dst)).unwrap_or_else(|e| {
            eprintln!(
                "dave-amp: the attacker's own handshake failed ({e}): a random token instead"
            );
            random8()
        }))
    } else {
        None
    };
    let raw = Raw::open()?;
    let packets: Vec<(Vec<u8>, usize)> = srcs
        .iter()
        .map(|ip| {
            let p = payload(c, work.as_ref(), foreign.as_ref());
            (ip_udp(SocketAddrV4::new(*ip, port), dst, &p), p.len())
        })
        .collect();
    let (mut n, mut b) = (0u64, 0u64);
    let t0 = Instant::now();
    let mut next = t0;
    loop {
        for (p, len) in &packets {
            match raw.send(p, dst) {
                Ok(()) => {
                    n += 1;
                    b += *len as u64;
                }
                // A full queue loses this datagram; it was not sent.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(e) => return Err(e),
            }
        }
        if c == 'a' || t0.elapsed() >= secs {
            break;
        }
        next += every;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok((n, b))
}

/// The `/d/pi/add ADDR` lines of a `daved -v` log: addresses that entered
/// the peer table (a release build logs none: debug lines are compiled out).
fn added_peers(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split("/d/pi/add ").nth(1))
        .map(|a| a.trim().to_string())
        .collect()
}

fn run(
    daved: Option<PathBuf>,
    cases: &str,
    secs: Duration,
    every: Duration,
    after: Duration,
) -> i32 {
    let given = daved.clone();
    let daved = daved.unwrap_or_else(|| {
        std::env::current_exe()
            .expect("the path of this binary")
            .with_file_name("daved")
    });
    if !daved.exists() {
        eprintln!(
            "dave-amp: {} is missing: build it with `cargo build --release` (or give --daved)",
            daved.display()
        );
        return 1;
    }
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free loopback port")
        .port();
    let node: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
    let log_path = std::env::temp_dir().join(format!("dave-amp-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("a log file in the temp dir");
    let _node = Kill(
        Command::new(&daved)
            .args(["-v", "--status", "0", "-l", &node.to_string()])
            .env_remove("RUST_LOG")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("daved starts"),
    );
    // The dat of case c, stored and checked by an honest client.
    let work = match put(node) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("dave-amp: giving the node a dat failed: {e}");
            return 1;
        }
    };
    eprintln!(
        "node {node} holds dat {}; an honest client's GET is answered",
        wire::Hex(&work)
    );
    let mut rows = Vec::new();
    let mut victims = Vec::new();
    for c in cases.chars() {
        let foreign = if c == 'e' {
            match foreign_cookie(node) {
                Ok(k) => Some(k),
                Err(e) => {
                    eprintln!("dave-amp: the attacker's own handshake failed ({e}): a random token instead");
                    Some(random8())
                }
            }
        } else {
            None
        };
        let p = payload(c, Some(&work), foreign.as_ref());
        let victim = UdpSocket::bind("127.0.0.1:0").expect("a victim socket");
        let va = victim.local_addr().expect("bound");
        victims.push(va.to_string());
        eprintln!("case {c}: victim {va}, {} bytes a datagram", p.len());
        let t = victim_case(&victim, node, &p, c == 'a', secs, every, after)
            .unwrap_or_else(|e| panic!("case {c}: {e}"));
        rows.push((c, t));
    }
    // Let the last log lines land, then read the status and the log.
    std::thread::sleep(Duration::from_millis(200));
    let status = Command::new(&daved)
        .args(["status", "--json", "-p", &port.to_string()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // One address was added by a validated message: the honest client of
    // `put`. Any other would be a victim's (nothing else talks to the node).
    let added_n = json_num(&status, "\"peers_added\":");
    let added = added_peers(&std::fs::read_to_string(&log_path).unwrap_or_default());
    let _ = std::fs::remove_file(&log_path);
    let entered: Vec<&String> = added.iter().filter(|a| victims.contains(a)).collect();
    let table_ok = entered.is_empty() && added_n == Some(1);

    let ms = every.as_millis();
    println!(
        "\n## Amplification on loopback: a silent victim, {} s of sending every {ms} ms, counted until {} s after\n",
        secs.as_secs_f64(),
        after.as_secs_f64()
    );
    println!("| case | sent in the victim's name | the victim received | bytes received / sent | bound: sent + 20 B a datagram | holds |");
    println!("|---|---|---|---|---|---|");
    let mut ok = table_ok;
    for (c, t) in &rows {
        let what = CASES
            .iter()
            .find(|k| k.0 == *c)
            .map_or("", |k| k.1)
            .replace("80 ms", &format!("{ms} ms"));
        println!(
            "| ({c}) {what} | {}, {} B | {}, {} B | {} | {} B | {} |",
            datagrams(t.sent_n),
            t.sent_b,
            datagrams(t.recv_n),
            t.recv_b,
            t.ratio(),
            t.bound(),
            if t.holds() { "yes" } else { "**no**" }
        );
        ok &= t.holds();
    }
    println!(
        "\nAddresses added to the peer table (`peers_added` in `daved status --json`): {}{}.",
        added_n.map_or("?".into(), |p| p.to_string()),
        match added_n {
            Some(1) => " (the one honest client)".to_string(),
            Some(n) if n > 1 => format!(" (the one honest client and {} more)", n - 1),
            _ => String::new(),
        }
    );
    if !entered.is_empty() {
        println!("\nVictims' addresses among them: {entered:?}.");
    }
    println!(
        "\nReproduce: `cargo build --release && target/release/dave-amp run --secs {} --after {} --every {ms} --cases {cases}{}`",
        secs.as_secs_f64(),
        after.as_secs_f64(),
        given.map_or(String::new(), |p| format!(" --daved {}", p.display()))
    );
    if ok {
        0
    } else {
        1
    }
}

fn datagrams(n: u64) -> String {
    format!("{n} datagram{}", if n == 1 { "" } else { "s" })
}

fn json_num(json: &str, key: &str) -> Option<u64> {
    let at = json.find(key)? + key.len();
    let digits: String = json[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
