//! `dave-flood`: a hostile sender, and a harness that measures how an honest
//! node holds up under it, on loopback.
//!
//! `dave-flood run [--secs N]` starts three honest `daved` nodes (A, B, C;
//! B and C bootstrap from A), gives them 200 dats, then starts
//! `dave-flood send` (a separate process) against A and, while it floods,
//! asks A for held dats as an honest client would. It prints A's CPU and
//! memory, the honest GET success rate, A's drops by reason, and the
//! kernel's receive-buffer drops.
//!
//! `dave-flood send --target ADDR --secs N [--kind KIND]` sends, as fast as
//! it can from 256 source ports, a mix of: garbage, PUTs with bad work, PUTs
//! with real proof of work but forged signatures, replays of valid dats,
//! GETs for missing hashes, GETPEER storms, and PEERs nobody asked for.

use dave_core::wire::{self, Msg, Op, Packet, Pd};
use dave_core::Dat;
use ed25519_dalek::SigningKey;
use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KINDS: [&str; 7] = [
    "garbage",
    "bad_work",
    "forged",
    "replay",
    "get_missing",
    "getpeer",
    "peer",
];

const USAGE: &str = "Usage: dave-flood run [--secs N] [--kind KIND]
       dave-flood send --target ADDR [--secs N] [--kind KIND]
       dave-flood --help";

const HELP: &str = "dave-flood: a hostile sender, and a harness that measures how an honest
node holds up under it, on loopback.

  run     starts three honest daved nodes (the daved beside this binary),
          gives them 200 dats, floods the first with `send` from another
          process, and asks it for held dats as an honest client would;
          prints its CPU and memory, the honest GET success rate, its drops
          by reason and the kernel's receive-buffer drops
  send    sends as fast as it can from 256 source ports to ADDR

Options:
  --secs N       how long to flood (default 10)
  --kind KIND    one kind of packet only (default: a mix of all)
  --target ADDR  send: the node to flood (IP:PORT)

Examples:
  cargo build --release && target/release/dave-flood run --secs 20
  target/release/dave-flood run --kind forged
  target/release/dave-flood send --target 127.0.0.1:1618 --secs 5 --kind garbage";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("help")
        || args.iter().any(|a| a == "-h" || a == "--help")
    {
        println!("{HELP}\n\n{USAGE}\nKINDS: {}", KINDS.join(", "));
        return;
    }
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.first().map(String::as_str) {
        Some("send") => {
            let target: SocketAddr = opt("--target")
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| usage());
            let secs: f64 = opt("--secs").and_then(|s| s.parse().ok()).unwrap_or(10.0);
            let kind = opt("--kind");
            if let Some(k) = &kind {
                if !KINDS.contains(&k.as_str()) {
                    usage();
                }
            }
            let sent = send(target, Duration::from_secs_f64(secs), kind.as_deref());
            println!("sent {sent}");
        }
        Some("run") => {
            let secs: f64 = opt("--secs").and_then(|s| s.parse().ok()).unwrap_or(10.0);
            run(Duration::from_secs_f64(secs), opt("--kind"));
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("{USAGE}\nKINDS: {}", KINDS.join(", "));
    std::process::exit(2);
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn encode(m: &Msg) -> Vec<u8> {
    let mut buf = [0u8; wire::MTU];
    let n = wire::encode_into(m, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// The attack packets, prepared before the clock starts.
fn arsenal(kind: Option<&str>) -> Vec<Vec<u8>> {
    let who = SigningKey::from_bytes(&[66; 32]);
    let forger = SigningKey::from_bytes(&[67; 32]);
    let t = now_ms();
    let mut x = 0x9e3779b97f4a7c15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let want = |k: &str| kind.is_none_or(|w| w == k);
    let mut out = Vec::new();
    if want("garbage") {
        for _ in 0..512 {
            let len = (rnd() % 1400) as usize;
            out.push((0..len).map(|_| rnd() as u8).collect());
        }
    }
    if want("bad_work") {
        for i in 0..512u32 {
            let mut work = [0u8; 32];
            work[1..9].copy_from_slice(&rnd().to_le_bytes());
            let time = t.to_le_bytes();
            let key = i.to_le_bytes();
            out.push(encode(&Msg {
                op: Op::Put,
                key: &key,
                val: b"junk",
                time: &time,
                salt: &[1],
                work: &work,
                pubkey: &[7; 32],
                sig: &[9; 64],
                ..Msg::default()
            }));
        }
    }
    if want("forged") {
        // Real 8-bit proof of work, signed by the wrong key: the costly case,
        // since only the signature check can refuse it.
        for i in 0..2048u32 {
            let mut d = Dat::make(&i.to_le_bytes(), b"forged", t, 8, &who, 1, None)
                .unwrap()
                .0;
            d.sig = dave_core::pow::sign(&forger, &d.work);
            let time = d.time_ms.to_le_bytes();
            out.push(encode(&d.msg(&time)));
        }
    }
    if want("replay") {
        for i in 0..256u32 {
            let d = Dat::make(&i.to_le_bytes(), b"replayed", t, 8, &who, 1, None)
                .unwrap()
                .0;
            let time = d.time_ms.to_le_bytes();
            out.push(encode(&d.msg(&time)));
        }
    }
    if want("get_missing") {
        for _ in 0..512 {
            let mut w = [0u8; 32];
            for c in w.chunks_mut(8) {
                c.copy_from_slice(&rnd().to_le_bytes());
            }
            out.push(encode(&Msg {
                op: Op::Get,
                work: &w,
                ..Msg::default()
            }));
        }
    }
    if want("getpeer") {
        out.push(Vec::new());
    }
    if want("peer") {
        for _ in 0..512 {
            let mut m = Msg::op(Op::Peer);
            m.pds[0] = Pd::from_addr(SocketAddr::from((
                [127, 0, 0, 2 + (rnd() % 200) as u8],
                1 + (rnd() % 65000) as u16,
            )));
            m.pds[1] = Pd::from_addr(SocketAddr::from((
                [127, 0, 1, 2 + (rnd() % 200) as u8],
                1 + (rnd() % 65000) as u16,
            )));
            m.npds = 2;
            out.push(encode(&m));
        }
    }
    // Interleave kinds so every stretch of the flood is a mix.
    let mut mixed = Vec::with_capacity(out.len());
    let mut idx: Vec<usize> = (0..out.len()).collect();
    for i in (1..idx.len()).rev() {
        idx.swap(i, (rnd() % (i as u64 + 1)) as usize);
    }
    for i in idx {
        mixed.push(std::mem::take(&mut out[i]));
    }
    mixed
}

fn send(target: SocketAddr, secs: Duration, kind: Option<&str>) -> u64 {
    let packets = arsenal(kind);
    let socks: Vec<UdpSocket> = (0..256)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut i = 0usize;
    while t0.elapsed() < secs {
        for _ in 0..1024 {
            let p = &packets[i % packets.len()];
            if socks[i % socks.len()].send_to(p, target).is_ok() {
                sent += 1;
            }
            i += 1;
        }
    }
    sent
}

/// utime + stime of a process, in clock ticks, and its resident memory in KiB.
fn proc_usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let cpu = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

struct Kill(Vec<Child>);
impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run(secs: Duration, kind: Option<String>) {
    let daved = std::env::current_exe().unwrap().with_file_name("daved");
    if !daved.exists() {
        eprintln!(
            "dave-flood: {} is missing: build it with `cargo build --release`",
            daved.display()
        );
        std::process::exit(1);
    }
    let ports: Vec<u16> = (0..3)
        .map(|_| {
            UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let mut kids = Kill(Vec::new());
    for (i, p) in ports.iter().enumerate() {
        let mut c = Command::new(&daved);
        c.args(["-l", &format!("127.0.0.1:{p}"), "--status", "0"]);
        if i > 0 {
            c.args(["-e", &format!("127.0.0.1:{}", ports[0])]);
        }
        kids.0.push(
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let victim: SocketAddr = format!("127.0.0.1:{}", ports[0]).parse().unwrap();
    let pid = kids.0[0].id();
    std::thread::sleep(Duration::from_millis(300));
    // Honest dats, written to B; they reach A by gossip.
    let who = SigningKey::from_bytes(&[5; 32]);
    let t = now_ms();
    let dats: Vec<Dat> = (0..200u32)
        .map(|i| {
            Dat::make(
                &i.to_le_bytes(),
                format!("honest {i}").as_bytes(),
                t,
                10,
                &who,
                1,
                None,
            )
            .unwrap()
            .0
        })
        .collect();
    let writer = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in &dats {
        let time = d.time_ms.to_le_bytes();
        writer
            .send_to(&encode(&d.msg(&time)), ("127.0.0.1", ports[1]))
            .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_secs(3));

    let snmp0 = dave::sys::udp_snmp().unwrap_or((0, 0));
    let (cpu0, _) = proc_usage(pid);
    let mut attacker = Command::new(std::env::current_exe().unwrap());
    attacker.args([
        "send",
        "--target",
        &victim.to_string(),
        "--secs",
        &secs.as_secs_f64().to_string(),
    ]);
    if let Some(k) = &kind {
        attacker.args(["--kind", k]);
    }
    // The honest client proves its address before the flood (a flood of
    // forged GETPEERs spends the node's budget of replies to strangers,
    // so a newcomer's handshake may wait until it ends).
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let token = dave::handshake::handshake(&client, victim, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the node did not answer the client's handshake: {e}"));
    client.set_nonblocking(true).unwrap();
    let attacker = attacker.stdout(Stdio::piped()).spawn().unwrap();
    let t0 = Instant::now();
    // The honest client: a GET every 5 ms for a held dat, answers counted.
    let mut asked = 0u64;
    let mut answered = HashSet::new();
    let mut rss_max = 0u64;
    let mut buf = [0u8; 2048];
    let mut next_sample = Instant::now();
    while t0.elapsed() < secs {
        let d = &dats[asked as usize % dats.len()];
        let get = encode(&Msg {
            op: Op::Get,
            work: &d.work,
            ..Msg::default()
        });
        client
            .send_to(&dave::handshake::with_token(&get, &token), victim)
            .unwrap();
        asked += 1;
        let until = Instant::now() + Duration::from_millis(5);
        while Instant::now() < until {
            while let Ok((n, _)) = client.recv_from(&mut buf) {
                if let Ok(Packet::Put(m)) = wire::decode(&buf[..n]) {
                    answered.insert((asked, *m.work));
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if Instant::now() >= next_sample {
            rss_max = rss_max.max(proc_usage(pid).1);
            next_sample += Duration::from_millis(500);
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let out = attacker.wait_with_output().unwrap();
    let sent: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("sent ")
        .parse()
        .unwrap_or(0.0);
    let (cpu1, rss_end) = proc_usage(pid);
    let snmp1 = dave::sys::udp_snmp().unwrap_or((0, 0));
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new(&daved)
        .args(["status", "--json", "-p", &ports[0].to_string()])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    // Answers that arrive late still count: GETs are answered or lost.
    let t_late = Instant::now();
    while t_late.elapsed() < Duration::from_millis(300) {
        while let Ok((n, _)) = client.recv_from(&mut buf) {
            if let Ok(Packet::Put(m)) = wire::decode(&buf[..n]) {
                answered.insert((asked, *m.work));
            }
        }
    }
    let got = answered.len().min(asked as usize);
    let cpu = (cpu1 - cpu0) as f64 / clk_tck() / elapsed * 100.0;
    println!(
        "\n## Flood: one hostile process against one node on loopback ({:.0} s{})\n",
        elapsed,
        kind.map(|k| format!(", {k} only")).unwrap_or_default()
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| hostile packets sent | {:.0} ({:.0}/s from 256 ports) |",
        sent,
        sent / elapsed
    );
    println!("| victim CPU | {cpu:.0}% of a core |");
    println!(
        "| victim resident memory | {} KiB at most, {} KiB at the end |",
        rss_max.max(rss_end),
        rss_end
    );
    println!(
        "| honest GETs answered | {got} of {asked} ({:.2}%) |",
        got as f64 * 100.0 / asked.max(1) as f64
    );
    println!(
        "| kernel receive-buffer drops (all UDP sockets) | {} |",
        snmp1.1.saturating_sub(snmp0.1)
    );
    let drops_at = status
        .find("\"drops\":{\"")
        .map(|i| &status[i + 9..])
        .unwrap_or("");
    let drops: Vec<String> = drops_at
        .trim_end_matches(['}', '\n'])
        .split(',')
        .filter(|kv| !kv.ends_with(":0"))
        .map(|kv| kv.replace('"', ""))
        .collect();
    println!("| victim drops by reason | {} |", drops.join(", "));
    println!(
        "\nReproduce: `cargo build --release && target/release/dave-flood run --secs {}`",
        secs.as_secs()
    );
}
