//! The peer table alone: admissions (validated addresses from a few
//! groups, some edges), removals, trust, silence and reseeds in any order;
//! after every step the table's own check (every entry indexed and in its
//! slot), the bound, at most one bucket of entries per address group, and
//! a group that grows grows only below its share (GROUP_SHARE).
#![no_main]
use dave_core::{group, Contest, KeyedHash, Peers, GROUP_MAX};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::net::SocketAddr;

fn addr(b: u8, c: u8) -> SocketAddr {
    // 64 public /16s, so groups collide in buckets and contest slots, and
    // a table of 48 holds one entry of most groups.
    SocketAddr::from(([203, b % 64, c, 1 + (b >> 6)], 1618))
}

fuzz_target!(|data: &[u8]| {
    let mut p = Peers::new(48, 2, KeyedHash::new(1, 2), KeyedHash::new(3, 4));
    let mut now = 1u64;
    for w in data.chunks(3) {
        let [op, b, c] = [w[0], *w.get(1).unwrap_or(&0), *w.get(2).unwrap_or(&0)];
        let contest = Contest {
            now,
            silent: 719,
            live: 1438,
        };
        match op % 6 {
            0 | 1 => {
                // A group grows only below its share of the table.
                let a = addr(b, c);
                let held = p.group_entries(a);
                let bucketed = p.iter().filter(|e| !e.edge).count();
                p.add(a, false, contest);
                let now_held = p.group_entries(a);
                assert!(
                    now_held <= held || now_held <= Peers::group_cap(held, bucketed),
                    "a group of {held} grew to {now_held} in a table of {bucketed}"
                );
            }
            2 if !p.is_empty() => p.remove(b as usize % p.len()),
            3 if !p.is_empty() => {
                let i = b as usize % p.len();
                p.get_mut(i).trust = c as f64;
                p.get_mut(i).seen = now;
            }
            4 => p.reseed(b as usize % p.buckets(), u64::from(c) << 8 | u64::from(b)),
            5 => now += u64::from(b) * 16,
            _ => {}
        }
        if op == 0xff {
            p.add(addr(b, c), true, contest);
        }
        if let Err(e) = p.check(&[]) {
            panic!("{e}");
        }
        assert!(p.len() <= p.max());
        let mut per_group: HashMap<[u8; 19], usize> = HashMap::new();
        for e in p.iter().filter(|e| !e.edge) {
            *per_group.entry(group(e.addr)).or_default() += 1;
        }
        assert!(
            per_group.values().all(|&n| n <= GROUP_MAX),
            "{per_group:?}"
        );
    }
});
