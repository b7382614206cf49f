//! Time abuse: dats dated in the future (within and beyond MAX_SKEW) and far
//! in the past. Their mass and trust effect is bounded as docs/protocol.md says:
//! `mass = difficulty / max(1, now - time)`, and `time <= now + MAX_SKEW`.

use dave_core::pow::{age_ms, cmp_mass, mass_f64};
use dave_core::testing::{handshake, with_token};
use dave_core::{Config, Dat};
use dave_core::{Node, Now, Reason};
use ed25519_dalek::SigningKey;
use std::cmp::Ordering;
use std::net::SocketAddr;

const T0_MS: u64 = 1_763_700_000_000;

fn packet(d: &Dat) -> Vec<u8> {
    let time = d.time_ms.to_le_bytes();
    let mut buf = [0u8; 1500];
    let n = dave_core::wire::encode_into(&d.msg(&time), &mut buf).unwrap();
    buf[..n].to_vec()
}

fn node(cap: usize) -> Node {
    let mut cfg = Config::default().with_dat_cap(cap);
    cfg.prune_epochs = 1_000_000; // prunes happen when the test asks
    let mut n = Node::new(cfg);
    n.handle_tick(Now {
        epoch: 1,
        unix_ms: T0_MS,
    });
    n
}

fn src(i: u8) -> SocketAddr {
    // Each in an address group of its own (docs/protocol.md 5.4).
    SocketAddr::from(([198, i, 2, 1], 1618))
}

/// `a` becomes a validated peer of `n`, then sends `d` quoting its token
/// (trust goes only to validated senders).
fn put_from(n: &mut Node, a: SocketAddr, d: &Dat) {
    let token = handshake(n, a);
    n.handle_packet(a, &with_token(&packet(d), &token));
}

fn trust_of(n: &Node, a: SocketAddr) -> f64 {
    n.peers().get(n.peers().find(a).unwrap()).trust
}

#[test]
fn future_dates_buy_at_most_max_skew_of_full_mass() {
    let who = SigningKey::from_bytes(&[31; 32]);
    let mut n = node(100);
    // Beyond MAX_SKEW (10 s): dropped, counted, no trust, no peer entry.
    let far = Dat::make(b"far", b"v", T0_MS + 10_001, 8, &who, 1, None)
        .unwrap()
        .0;
    put_from(&mut n, src(1), &far);
    assert_eq!(n.stats().drop_count(Reason::Future), 1);
    assert!(n.dat_by_work(&far.work).is_none());
    assert_eq!(trust_of(&n, src(1)), 0.0, "an invalid dat earns nothing");
    // Within MAX_SKEW: accepted, but its mass is capped at difficulty / 1 ms,
    // exactly what a dat made this millisecond has.
    let near = Dat::make(b"near", b"v", T0_MS + 10_000, 8, &who, 1, None)
        .unwrap()
        .0;
    let d = dave_core::pow::difficulty(&near.work);
    put_from(&mut n, src(2), &near);
    assert!(n.dat_by_work(&near.work).is_some());
    let trust = trust_of(&n, src(2));
    assert_eq!(trust, d as f64, "trust gain is capped at difficulty/1");
    assert_eq!(age_ms(near.time_ms, T0_MS), 1);
    // The advantage ends at its date: 10 s later it ages like any dat
    // dated then, and 20 s later it weighs what an honest dat of the same
    // difficulty made at T0 + 10 s weighs.
    let honest_later = T0_MS + 10_000;
    assert_eq!(
        cmp_mass(
            d,
            age_ms(near.time_ms, T0_MS + 20_000),
            d,
            age_ms(honest_later, T0_MS + 20_000)
        ),
        Ordering::Equal
    );
    eprintln!(
        "future-dated by 10 s: mass {:.1} now (a 1 ms-old dat: {:.1}; a 1 s-old dat: {:.3}); beyond 10 s: dropped",
        mass_f64(d, near.time_ms, T0_MS),
        mass_f64(d, T0_MS - 1, T0_MS),
        mass_f64(d, T0_MS - 1000, T0_MS)
    );
}

#[test]
fn dats_from_the_distant_past_weigh_nothing_and_go_first() {
    let who = SigningKey::from_bytes(&[32; 32]);
    let mut n = node(5);
    // Time 0 (1970): valid, but its mass and the sender's trust gain are ~0.
    let old = Dat::make(b"old", b"v", 0, 24, &who, 2, None).unwrap().0;
    put_from(&mut n, src(3), &old);
    assert!(n.dat_by_work(&old.work).is_some());
    let gain = trust_of(&n, src(3));
    assert!(gain < 1e-9, "a 24-bit dat from 1970 gave trust {gain}");
    // Even 24 bits of work lose to five fresh 8-bit dats at the next prune.
    let fresh: Vec<Dat> = (0..5u8)
        .map(|i| {
            Dat::make(&[i], b"v", T0_MS - 1000, 8, &who, 1, None)
                .unwrap()
                .0
        })
        .collect();
    for (i, d) in fresh.iter().enumerate() {
        put_from(&mut n, src(10 + i as u8), d);
    }
    n.prune_now();
    assert!(
        n.dat_by_work(&old.work).is_none(),
        "the ancient dat was kept over fresh ones"
    );
    for d in &fresh {
        assert!(n.dat_by_work(&d.work).is_some());
    }
    eprintln!(
        "a 24-bit dat dated 1970: trust gain {gain:.2e}, pruned before 8-bit dats one second old"
    );
}

#[test]
fn trust_from_any_one_dat_is_at_most_its_difficulty() {
    // Mass (and so trust per novel dat) is difficulty / max(1, age): at most
    // the difficulty itself, whatever the claimed time.
    for time in [
        0,
        T0_MS - 1_000_000,
        T0_MS - 1,
        T0_MS,
        T0_MS + 1,
        T0_MS + 10_000,
    ] {
        for d in [8u8, 16, 64] {
            assert!(mass_f64(d, time, T0_MS) <= d as f64);
        }
    }
}
