//! The `footprint` section: resident memory, binary size and CPU of
//! `daved`, idle, holding many dats, and in a 5-node network.

use crate::dats::make_dats_named;
use crate::daved::{daved_json, daved_path, free_port, json_num, spawn_daved};
use crate::median;
use std::time::Instant;

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let l = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() * 1024.0
}

/// CPU time a process has used, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap() / 1e9
}

/// Sends novel dats to a node from many ports until it holds `want` dats:
/// one from each port first, slowly (a node checks few signatures from
/// sources without trust), then the rest at a pace its one core can verify.
fn feed_daved(port: u16, dats: &[Vec<u8>], want: usize) {
    use std::net::UdpSocket;
    const FEED_SOCKETS: usize = 256;
    let socks: Vec<UdpSocket> = (0..FEED_SOCKETS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let to = ("127.0.0.1", port);
    for attempt in 0..4 {
        for (i, d) in dats.iter().enumerate() {
            let _ = socks[i % FEED_SOCKETS].send_to(d, to);
            if attempt == 0 && i < FEED_SOCKETS {
                std::thread::sleep(std::time::Duration::from_micros(1500));
            } else if i % 16 == 15 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < 5.0 {
            std::thread::sleep(std::time::Duration::from_millis(200));
            if json_num(&daved_json(port), "version", "dats") as usize >= want {
                return;
            }
        }
    }
    panic!("the node did not take {want} dats");
}

pub(crate) fn bench_footprint() {
    println!("\n## Footprint\n");
    const RUNS: usize = 3;
    const SECS: f64 = 10.0;
    let daved = daved_path();
    let size = std::fs::metadata(&daved).unwrap().len() as f64;
    // A lone node: resident memory and CPU while nothing happens.
    let mut idle_rss = Vec::new();
    let mut idle_cpu = Vec::new();
    for _ in 0..RUNS {
        let port = free_port();
        let mut c = spawn_daved(port, None);
        std::thread::sleep(std::time::Duration::from_secs(2));
        idle_rss.push(rss(c.id()));
        let (c0, t0) = (cpu_secs(c.id()), Instant::now());
        std::thread::sleep(std::time::Duration::from_secs_f64(SECS));
        idle_cpu.push((cpu_secs(c.id()) - c0) / t0.elapsed().as_secs_f64());
        let _ = c.kill();
        let _ = c.wait();
    }
    // Resident memory with dats, beyond their own encoded bytes.
    let dats = make_dats_named(100_000, 100, "fp");
    let mut with = Vec::new();
    for _ in 0..RUNS {
        let port = free_port();
        let mut c = spawn_daved(port, None);
        std::thread::sleep(std::time::Duration::from_secs(1));
        let base = rss(c.id());
        let mut row = Vec::new();
        let mut fed = 0;
        for n in [10_000, 100_000] {
            feed_daved(port, &dats[fed..n], n);
            fed = n;
            std::thread::sleep(std::time::Duration::from_millis(500));
            let enc: usize = dats[..n].iter().map(Vec::len).sum();
            let r = rss(c.id());
            row.push((r, (r - base - enc as f64) / n as f64));
        }
        with.push(row);
        let _ = c.kill();
        let _ = c.wait();
    }
    // Five nodes gossiping 200 dats of 1 KB.
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let mut kids: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| spawn_daved(*p, (i > 0).then_some(ports[0])))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let gossip = make_dats_named(200, 1000, "gossip");
    feed_daved(ports[0], &gossip, 200);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut gossip_cpu = Vec::new();
    let mut gossip_pkts = Vec::new();
    for _ in 0..RUNS {
        let c0: Vec<f64> = kids.iter().map(|k| cpu_secs(k.id())).collect();
        let p0: Vec<f64> = ports
            .iter()
            .map(|p| json_num(&daved_json(*p), "totals", "packets_out"))
            .collect();
        let t0 = Instant::now();
        std::thread::sleep(std::time::Duration::from_secs_f64(SECS));
        let dt = t0.elapsed().as_secs_f64();
        let c1: Vec<f64> = kids.iter().map(|k| cpu_secs(k.id())).collect();
        let p1: Vec<f64> = ports
            .iter()
            .map(|p| json_num(&daved_json(*p), "totals", "packets_out"))
            .collect();
        gossip_cpu.push(c1.iter().zip(&c0).map(|(a, b)| a - b).sum::<f64>() / 5.0 / dt);
        gossip_pkts.push(p1.iter().zip(&p0).map(|(a, b)| a - b).sum::<f64>() / 5.0 / dt);
    }
    let held: Vec<f64> = ports
        .iter()
        .map(|p| json_num(&daved_json(*p), "version", "dats"))
        .collect();
    for k in &mut kids {
        let _ = k.kill();
        let _ = k.wait();
    }
    let mib = |b: f64| b / (1 << 20) as f64;
    let idle = median(idle_rss);
    let r10 = median(with.iter().map(|r| r[0].0).collect());
    let r100 = median(with.iter().map(|r| r[1].0).collect());
    let avg10 = median(with.iter().map(|r| r[0].1).collect());
    let avg100 = median(with.iter().map(|r| r[1].1).collect());
    let enc = |a: usize, b: usize| dats[a..b].iter().map(Vec::len).sum::<usize>() as f64;
    // The slope between 10,000 and 100,000 dats: what one more dat costs,
    // without the structures that the first packets make resident.
    let marginal = median(
        with.iter()
            .map(|r| (r[1].0 - r[0].0 - enc(10_000, 100_000)) / 90_000.0)
            .collect(),
    );
    println!("| figure | value | target |");
    println!("|---|---|---|");
    println!(
        "| resident memory, idle (VmRSS) | {:.2} MiB | under 4 MiB |",
        mib(idle)
    );
    println!(
        "| resident memory, 10,000 dats of {} B encoded | {:.2} MiB | |",
        enc(0, 10_000) as usize / 10_000,
        mib(r10)
    );
    println!("| resident memory, 100,000 dats | {:.2} MiB | |", mib(r100));
    println!(
        "| bytes per dat beyond its encoding, from 10,000 to 100,000 dats | {marginal:.0} B | under 96 B |"
    );
    println!(
        "| the same averaged from idle (with the indexes, packet filter and outbox pages the first packets touch) | {avg10:.0} B at 10,000, {avg100:.0} B at 100,000 | |"
    );
    println!(
        "| stripped release binary (`daved`) | {:.2} MiB | |",
        mib(size)
    );
    println!(
        "| CPU, lone idle node, default EPOCH | {:.2}% of a core | under 2% |",
        100.0 * median(idle_cpu)
    );
    println!(
        "| CPU, each node of 5 gossiping 200 dats of 1 KB | {:.2}% of a core ({:.0} datagrams/s sent per node; dats held: {held:?}) | |",
        100.0 * median(gossip_cpu),
        median(gossip_pkts)
    );
    println!("\nMemory: median of {RUNS} nodes, dats sent over loopback. CPU: median of {RUNS} windows of {SECS} s (`/proc/PID/schedstat`).");
    println!("Reproduce: `cargo build --release && target/release/dave-bench footprint`.");
}
