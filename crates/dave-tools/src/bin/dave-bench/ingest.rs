//! The `ingest` section: known-dat PUTs per second a node takes on a
//! loopback socket from a separate process, against bare receive loops;
//! and that process, the hidden `__ingest-sender` subcommand.

use crate::dats::{make_dats_named, put_of};
use crate::{median, now_ms, si, thread_cpu_secs};
use dave_core::{Config, Node, Now};
use std::time::Instant;

/// The hidden subcommand that runs the `ingest` section's sender.
pub(crate) const SENDER: &str = "__ingest-sender";
/// Source sockets of the sender: the packet filter passes one PUT per
/// source per epoch (on loopback it keys on the full port), and a node that
/// falls behind reads up to RECV_BUDGET (1024) queued datagrams in one
/// epoch, so as many sources as a full peer table keep every one valid.
const SENDER_SOCKETS: usize = 1024;

/// Sends the length-prefixed datagrams of FILE to 127.0.0.1:PORT for SECS
/// seconds, round robin over many source ports, as fast as it can; prints
/// `sent seconds`.
pub(crate) fn ingest_sender(args: &[String]) {
    use std::net::UdpSocket;
    let port: u16 = args[0].parse().expect("port");
    let secs: f64 = args[1].parse().expect("seconds");
    let file = std::fs::read(&args[2]).expect("datagram file");
    let mut dats = Vec::new();
    let mut at = 0;
    while at + 2 <= file.len() {
        let n = u16::from_le_bytes([file[at], file[at + 1]]) as usize;
        dats.push(&file[at + 2..at + 2 + n]);
        at += 2 + n;
    }
    let socks: Vec<UdpSocket> = (0..SENDER_SOCKETS)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(("127.0.0.1", port)).unwrap();
            s
        })
        .collect();
    let t = Instant::now();
    let mut i = 0usize;
    while t.elapsed().as_secs_f64() < secs {
        for _ in 0..SENDER_SOCKETS {
            // A full receive queue drops on the receiver's side, not here.
            let _ = socks[i % SENDER_SOCKETS].send(dats[i % dats.len()]);
            i += 1;
        }
    }
    println!("{i} {}", t.elapsed().as_secs_f64());
}

/// Drops counted on the UDP socket bound to `port` (`/proc/net/udp`).
fn udp_socket_drops(port: u16) -> u64 {
    let s = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let want = format!(":{port:04X}");
    s.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(1)?.ends_with(&want) {
                f.last()?.parse::<u64>().ok()
            } else {
                None
            }
        })
        .sum()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ingest {
    /// `recv_from` until WouldBlock, counting.
    Bare,
    /// `recvmmsg` until WouldBlock, counting.
    BareMmsg,
    /// The real driver and node.
    Driver,
}

/// One ingest run: (datagrams handled per second, sender's datagrams per
/// second, drops on the socket, RcvbufErrors system-wide, receiver CPU
/// seconds per datagram handled, datagrams the node's filter dropped).
fn ingest_run(mode: Ingest, file: &std::path::Path, secs: f64, dats: &[Vec<u8>]) -> [f64; 6] {
    use dave::driver::{Driver, RCVBUF_BYTES, SNDBUF_BYTES};
    use mio::{Events, Interest, Poll, Token};
    use std::os::fd::AsRawFd;
    use std::process::{Command, Stdio};
    let mut driver = None;
    let mut bare = None;
    let port = if mode == Ingest::Driver {
        let mut node = Node::new(Config::default());
        node.handle_tick(Now {
            epoch: 0,
            unix_ms: now_ms(),
        });
        for d in dats {
            node.restore_preverified(&put_of(d).msg()).expect("valid");
        }
        let d = Driver::bind("127.0.0.1:0".parse().unwrap(), node).unwrap();
        let port = d.local_addr().unwrap().port();
        driver = Some(d);
        port
    } else {
        // Configured as the driver configures its socket.
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        let mut s = mio::net::UdpSocket::from_std(s);
        dave::sys::set_recv_buffer(s.as_raw_fd(), RCVBUF_BYTES).unwrap();
        dave::sys::set_send_buffer(s.as_raw_fd(), SNDBUF_BYTES).unwrap();
        let poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut s, Token(0), Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        let port = s.local_addr().unwrap().port();
        bare = Some((s, poll));
        port
    };
    let (_, rcvbuf0) = dave::sys::udp_snmp().unwrap_or((0, 0));
    let cpu0 = thread_cpu_secs();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([SENDER, &port.to_string(), &secs.to_string()])
        .arg(file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Some(child);
    let mut out = String::new();
    let mut handled = 0u64;
    let mut buf = [0u8; 1501];
    let mut batch = dave::sys::RecvBatch::new(32, 1500);
    let mut events = Events::with_capacity(16);
    // Run until the sender has exited, then drain what is queued.
    let mut quiet_polls = 0;
    loop {
        let exited = match &mut child {
            Some(c) => c.try_wait().unwrap().is_some(),
            None => true,
        };
        if exited {
            if let Some(c) = child.take() {
                use std::io::Read;
                c.stdout.unwrap().read_to_string(&mut out).unwrap();
            }
            quiet_polls += 1;
            if quiet_polls > 20 {
                break;
            }
        }
        match (&mut driver, &mut bare) {
            (Some(d), _) => d.turn(std::time::Duration::from_millis(5)).unwrap(),
            (_, Some((s, poll))) => {
                poll.poll(&mut events, Some(std::time::Duration::from_millis(5)))
                    .unwrap();
                loop {
                    let got = if mode == Ingest::Bare {
                        match s.recv_from(&mut buf) {
                            Ok(_) => 1,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                            Err(e) => panic!("{e}"),
                        }
                    } else {
                        batch.recv(s.as_raw_fd()).unwrap()
                    };
                    if got == 0 {
                        break;
                    }
                    handled += got as u64;
                    quiet_polls = 0;
                }
            }
            _ => unreachable!(),
        }
    }
    let cpu = thread_cpu_secs() - cpu0;
    let mut filtered = 0;
    if let Some(d) = &driver {
        handled = d.node().stats().puts_known;
        filtered = d.node().stats().drop_count(dave_core::Reason::Filter);
    }
    let drops = udp_socket_drops(port) as f64;
    let (_, rcvbuf1) = dave::sys::udp_snmp().unwrap_or((0, 0));
    let mut f = out.split_whitespace();
    let sent: f64 = f.next().expect("sender output").parse().unwrap();
    let took: f64 = f.next().expect("sender output").parse().unwrap();
    [
        handled as f64 / took,
        sent / took,
        drops,
        rcvbuf1.saturating_sub(rcvbuf0) as f64,
        cpu / handled.max(1) as f64,
        filtered as f64,
    ]
}

pub(crate) fn bench_ingest() {
    println!("\n## Socket ingest: known-dat PUTs on loopback from a separate process\n");
    const RUNS: usize = 5;
    const SECS: f64 = 2.0;
    let dats = make_dats_named(4096, 1000, "ingest");
    let dir = std::env::temp_dir().join(format!("dave-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("datagrams");
    let mut bytes = Vec::new();
    for d in &dats {
        bytes.extend_from_slice(&(d.len() as u16).to_le_bytes());
        bytes.extend_from_slice(d);
    }
    std::fs::write(&file, &bytes).unwrap();
    let modes = [Ingest::Bare, Ingest::BareMmsg, Ingest::Driver];
    let mut res: Vec<Vec<[f64; 6]>> = vec![Vec::new(); modes.len()];
    // Interleaved, so that a burst of load elsewhere hits every mode alike.
    for _ in 0..RUNS {
        for (i, m) in modes.iter().enumerate() {
            res[i].push(ingest_run(*m, &file, SECS, &dats));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let med = |i: usize, k: usize| median(res[i].iter().map(|r| r[k]).collect());
    let bare = med(0, 0);
    let bare_cpu = med(0, 4);
    println!("| receiver | datagrams/s handled | vs bare `recv_from` loop | receiver CPU per datagram | one core could take | vs bare loop | sender's datagrams/s | dropped on the socket per run | RcvbufErrors per run |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let names = [
        "bare loop: `recv_from` until WouldBlock (the limit)",
        "bare loop: `recvmmsg`, 32 per call",
        "`Driver` + `Node`: known PUTs handled",
    ];
    for (i, n) in names.iter().enumerate() {
        println!(
            "| {n} | {} | {:.2} | {:.2} µs | {}/s | {:.2} | {} | {:.0} | {:.0} |",
            si(med(i, 0)),
            med(i, 0) / bare,
            med(i, 4) * 1e6,
            si(1.0 / med(i, 4)),
            bare_cpu / med(i, 4),
            si(med(i, 1)),
            med(i, 2),
            med(i, 3)
        );
    }
    println!(
        "\nThe node's packet filter dropped {:.0} datagrams per run (a source seen twice in one epoch).",
        med(2, 5)
    );
    println!("Each run: the sender (this program, `{SENDER}`) sends {SECS} s of 1.1 KB known PUTs round robin from {SENDER_SOCKETS} ports.");
    println!("Median of {RUNS} interleaved runs. Reproduce: `cargo run --release --bin dave-bench -- ingest`.");
}
