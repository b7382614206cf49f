//! The `core` section: `handle_packet` and `handle_tick` of a node with a
//! full store and peer table, each against the work it cannot avoid; and
//! the hidden `__micro` loops of the same paths, for profilers.

use crate::bed::Bed;
use crate::dats::put_of;
use crate::{median, ns_per, thread_cpu_secs};
use dave_core::Now;
use std::time::Instant;

pub(crate) fn bench_core(mut bed: Bed) {
    use dave_core::wire::{self, Msg, Op};
    use std::hint::black_box;
    println!(
        "\n## Core: a node with {} full-size dats and {} live peers\n",
        bed.node.store().len(),
        bed.node.peers().len()
    );
    let n = bed.stored.len();
    let get_of = |d: &[u8]| {
        let m = put_of(d);
        let mut buf = [0u8; 64];
        let len = wire::encode_into(
            &Msg {
                op: Op::Get,
                work: m.work,
                ..Msg::default()
            },
            &mut buf,
        )
        .unwrap();
        buf[..len].to_vec()
    };
    let before = *bed.node.stats();
    // Known PUTs: the common gossip case.
    let stored = bed.stored.clone();
    let known = bed.feed(200_000, &stored, |i| (i * 7919) % n);
    let after = *bed.node.stats();
    assert_eq!(
        after.puts_known - before.puts_known,
        200_000,
        "every known PUT is handled as known"
    );
    // Limit: parse it and look its work up, nothing else.
    let known_lim = bed.batches(
        200_000,
        &stored,
        |i| (i * 7919) % n,
        |node, _, p| {
            black_box(node.store().find_work(put_of(p).work));
        },
    );
    // GETs that hit: answered with a copy of the stored PUT.
    let gets: Vec<Vec<u8>> = stored.iter().map(|d| get_of(d)).collect();
    let s0 = bed.node.stats().gets_answered;
    let get = bed.feed(200_000, &gets, |i| (i * 104729) % n);
    assert_eq!(
        bed.node.stats().gets_answered - s0,
        200_000,
        "every GET hits"
    );
    let mut out = [0u8; 1500];
    let get_lim = bed.batches(
        200_000,
        &gets,
        |i| (i * 104729) % n,
        |node, _, p| {
            let Ok(wire::Packet::Get(wire::Get::Work(w))) = wire::decode(p) else {
                panic!("the benchmark made a GET by work");
            };
            let slot = node.store().find_work(w).unwrap();
            let rec = node.store().record(slot);
            out[..rec.len()].copy_from_slice(rec);
            black_box(&out);
        },
    );
    // GETPEER: answered with up to NPEER peers heard from lately.
    let getpeer = crate::bed::getpeer(); // with a cookie; the bed adds the token
    let gp = bed.feed(100_000, std::slice::from_ref(&getpeer), |_| 0);
    let mut peer = Msg::op(Op::Peer);
    peer.pds[0] = dave_core::wire::Pd::from_addr(bed.peers[1]);
    peer.pds[1] = dave_core::wire::Pd::from_addr(bed.peers[2]);
    peer.npds = 2;
    // Limit: decode, check the token and issue a cookie (a keyed hash
    // each, docs/protocol.md 5.3), read NPEER random entries of the table
    // (a sample, 5.5), encode the answer.
    let secret = [7u8; 32];
    let open = bed.node.config().open_epochs;
    let mut r = 0x9e37_79b9_7f4a_7c15u64;
    let gp_lim = bed.batches(
        100_000,
        std::slice::from_ref(&getpeer),
        |_| 0,
        |node, src, p| {
            black_box(wire::decode(p).is_ok());
            black_box(dave_core::cookie(&secret, src));
            black_box(dave_core::cookie(&secret, src));
            let now = node.epoch();
            let n = node.peers().len() as u64;
            for _ in 0..wire::NPEER {
                r = dave_core::splitmix(r);
                let q = node.peers().get((r % n) as usize);
                black_box(q.addr != src && q.silence(now) <= open);
            }
            black_box(wire::encode_into(black_box(&peer), &mut out).ok());
        },
    );
    // Novel PUTs: proof of work and signature checked, then stored.
    let fresh = std::mem::take(&mut bed.fresh);
    let s0 = *bed.node.stats();
    let novel = bed.feed(fresh.len(), &fresh, |i| i);
    let s1 = *bed.node.stats();
    if s1.puts_novel - s0.puts_novel != fresh.len() as u64 {
        let drops: Vec<String> = dave_core::Reason::ALL
            .iter()
            .filter(|r| s1.drop_count(**r) > s0.drop_count(**r))
            .map(|r| format!("{} {}", r.name(), s1.drop_count(*r) - s0.drop_count(*r)))
            .collect();
        panic!(
            "only {} of {} fresh PUTs were novel; drops: {drops:?}",
            s1.puts_novel - s0.puts_novel,
            fresh.len()
        );
    }
    let novel_lim = ns_per(3, 2000, |i| {
        let m = put_of(&fresh[i as usize]);
        let load = dave_core::pow::load(m.key, m.val, m.time);
        let w = dave_core::pow::work(m.salt, &load);
        black_box(dave_core::pow::verify(m.pubkey, &w, m.sig));
    });
    // Ticks: one driver wake at the default EPOCH runs about 16 epochs.
    const WAKE: u64 = 16;
    let mut samples = Vec::new();
    let mut sent = 0usize;
    for round in 0..400 {
        if round % 16 == 0 {
            bed.hear_from_all();
        }
        let t = Instant::now();
        bed.epoch += WAKE;
        bed.node.handle_tick(Now {
            epoch: bed.epoch,
            unix_ms: bed.now_ms,
        });
        samples.push(t.elapsed().as_nanos() as f64);
        sent += bed.node.transmit_len();
        bed.drain();
    }
    let tick = median(samples);
    let seeded = sent as f64 / 400.0;
    // Limit: per gossip slot, read one random entry of the table (a draw
    // without a scan, docs/protocol.md 5.5), then copy a random stored dat
    // out (a random dat of 100,000 is not in the cache).
    let (now, alive) = (bed.node.epoch(), 2 * bed.node.config().ping_epochs);
    let npeers = bed.node.peers().len() as u64;
    let tick_lim = ns_per(7, 1 << 12, |i| {
        let mut r = i;
        for _ in 0..(WAKE / bed.node.config().seed_epochs) {
            r = dave_core::splitmix(r);
            let q = bed.node.peers().get((r % npeers) as usize);
            black_box(q.silence(now) < alive);
            let rec = &stored[(r >> 20) as usize % n];
            out[..rec.len()].copy_from_slice(black_box(rec));
            black_box(&out);
        }
    });
    println!("| call | ns | limit, ns | limit: the work it cannot avoid | ns / limit |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, ns: f64, lim: f64, what: &str| {
        println!(
            "| {name} | {ns:.0} | {lim:.0} | {what} | {:.1} |",
            ns / lim.max(0.1)
        );
    };
    row(
        "`handle_packet`, known PUT (gossip)",
        known,
        known_lim,
        "decode, look the work up",
    );
    row(
        "`handle_packet`, novel PUT",
        novel,
        novel_lim,
        "decode, hash load and work, verify the signature",
    );
    row(
        "`handle_packet`, GET that hits",
        get,
        get_lim,
        "decode, look up, copy the dat out",
    );
    row(
        "`handle_packet`, GETPEER",
        gp,
        gp_lim,
        "decode, two keyed hashes (token, cookie), read NPEER random table entries, encode a PEER",
    );
    row(
        &format!("`handle_tick`, one wake ({WAKE} epochs, {seeded:.1} datagrams queued)"),
        tick,
        tick_lim,
        "per gossip slot: read one random table entry, copy a random dat out",
    );
    println!("\nMedian over batches of 128 packets (the outbox is drained between batches, untimed). Reproduce: `cargo run --release --bin dave-bench -- core`.");
}

/// Runs one core path many times (for `perf stat -e cycles:u`, which counts
/// this process's cycles however busy the machine is).
pub(crate) fn micro(what: &str) {
    let mut bed = Bed::new(2_000, 1_024);
    let t = thread_cpu_secs();
    match what {
        "getpeer" => {
            let gp: Vec<u8> = Vec::new();
            bed.feed(400_000, std::slice::from_ref(&gp), |_| 0);
        }
        "tick" => {
            for round in 0..20_000 {
                if round % 16 == 0 {
                    bed.hear_from_all();
                }
                bed.tick(16);
            }
        }
        "known" => {
            let stored = bed.stored.clone();
            let n = stored.len();
            bed.feed(2_000_000, &stored, |i| (i * 7919) % n);
        }
        _ => panic!("unknown micro benchmark"),
    }
    println!("{what}: {:.3} s of CPU", thread_cpu_secs() - t);
}
