//! How a node chooses where its gossip goes (docs/protocol.md 5.5): fresh
//! dats pushed newest first, each a budget of PUSHES times, to peers drawn
//! uniformly, never back to the peer it came from; seeds and pulls drawn by
//! trust; trust that halves and is earned by answering pulls; application
//! sends drawn uniformly. One node, its peers played by the test.

use dave_core::testing::{addr, handshake, with_token, T0_MS};
use dave_core::wire::{self, Cookie, Get, Msg, Packet};
use dave_core::{Config, Dat, Node, Now};
use ed25519_dalek::SigningKey;
use std::net::SocketAddr;

fn signer(b: u8) -> SigningKey {
    SigningKey::from_bytes(&[b; 32])
}

fn dat(key: &[u8], val: &[u8], time_ms: u64) -> Dat {
    Dat::make(key, val, time_ms, 8, &signer(1), 1, None)
        .unwrap()
        .0
}

fn encode(m: &Msg<'_>) -> Vec<u8> {
    let mut buf = [0u8; wire::PACKET_MAX];
    let n = wire::encode_into(m, &mut buf).unwrap();
    buf[..n].to_vec()
}

fn put_bytes(d: &Dat) -> Vec<u8> {
    let time = d.time_ms.to_le_bytes();
    encode(&d.msg(&time))
}

/// A node at addr(0) whose peers enter at once and stay live: DELAY 4
/// epochs, no pings for a long while.
fn node(tweak: impl Fn(&mut Config)) -> Node {
    let mut cfg = Config {
        delay_epochs: 4,
        ping_epochs: 1 << 20,
        drop_epochs: 1 << 22,
        seed: 9,
        ..Config::default().with_dat_cap(1000)
    };
    tweak(&mut cfg);
    let mut n = Node::new(cfg);
    n.add_self_addr(addr(0));
    n.handle_tick(Now {
        epoch: 1,
        unix_ms: T0_MS,
    });
    n
}

fn tick(n: &mut Node) {
    let e = n.epoch() + 1;
    n.handle_tick(Now {
        epoch: e,
        unix_ms: T0_MS + e * 65_537 / 1_000_000,
    });
}

/// One datagram the node sent.
struct Sent {
    to: SocketAddr,
    bytes: Vec<u8>,
    /// Sent in an epoch in which the node pushed a fresh dat (a push slot
    /// sends one PUT; the epoch may also hold a ping or a pull).
    pushed: bool,
}

impl Sent {
    fn is_push(&self) -> bool {
        self.pushed && self.put_work().is_some()
    }

    fn put_work(&self) -> Option<[u8; 32]> {
        match wire::decode(&self.bytes) {
            Ok(Packet::Put(p)) => Some(*p.work),
            _ => None,
        }
    }
}

/// Runs `epochs` epochs, one at a time; returns every datagram sent.
fn run(n: &mut Node, epochs: u64) -> Vec<Sent> {
    let mut out = Vec::new();
    for _ in 0..epochs {
        let before = n.stats().pushes;
        tick(n);
        let pushed = n.stats().pushes > before;
        while let Some((to, b)) = n.peek_transmit() {
            out.push(Sent {
                to,
                bytes: b.to_vec(),
                pushed,
            });
            n.pop_transmit();
        }
    }
    out
}

fn drain(n: &mut Node) {
    while n.peek_transmit().is_some() {
        n.pop_transmit();
    }
}

/// Peers addr(1..=k) complete the handshake; their tokens.
fn peers(n: &mut Node, k: usize) -> Vec<Cookie> {
    let t = (1..=k).map(|i| handshake(n, addr(i))).collect();
    drain(n);
    t
}

#[test]
fn a_fresh_dat_is_never_pushed_back_to_where_it_came_from_and_only_pushes_times() {
    let mut n = node(|c| c.pushes = 8);
    let tokens = peers(&mut n, 1);
    run(&mut n, 10);
    let x = dat(b"x", b"fresh", n.now_ms());
    n.handle_packet(addr(1), &with_token(&put_bytes(&x), &tokens[0]));
    assert!(n.dat_by_work(&x.work).is_some());
    // Its only peer is the one it came from: no push, only seeds (which
    // are anti-entropy, and may send it anything).
    let sent = run(&mut n, 400);
    assert_eq!(n.stats().pushes, 0);
    assert!(n.stats().push_no_peer > 0);
    assert!(n.stats().seeds > 0);
    assert!(sent.iter().all(|s| !s.is_push()));
    // A second peer gets the pushes, all PUSHES of them, and no more.
    let more = handshake(&mut n, addr(2));
    let _ = more;
    let sent = run(&mut n, 400);
    let pushes: Vec<&Sent> = sent.iter().filter(|s| s.is_push()).collect();
    assert_eq!(n.stats().pushes, 8);
    assert_eq!(pushes.len(), 8);
    for s in pushes {
        assert_eq!(s.to, addr(2), "a push went back to its source");
        assert_eq!(s.put_work(), Some(x.work));
    }
    run(&mut n, 2000);
    assert_eq!(n.stats().pushes, 8, "the budget is spent");
    n.check_invariants().unwrap();
}

#[test]
fn the_newest_fresh_dat_is_pushed_first_and_pushes_go_uniformly() {
    let mut n = node(|c| c.pushes = 30);
    let tokens = peers(&mut n, 6);
    run(&mut n, 10);
    let older = dat(b"older", b"1", n.now_ms());
    let newer = dat(b"newer", b"2", n.now_ms());
    n.handle_packet(addr(1), &with_token(&put_bytes(&older), &tokens[0]));
    n.handle_packet(addr(2), &with_token(&put_bytes(&newer), &tokens[1]));
    let sent = run(&mut n, 400);
    let pushed: Vec<[u8; 32]> = sent
        .iter()
        .filter(|s| s.is_push())
        .filter_map(Sent::put_work)
        .collect();
    let mut want = vec![newer.work; 30];
    want.extend(vec![older.work; 30]);
    assert_eq!(pushed, want, "newest first, each its budget");
    // Uniform among the eligible peers other than the source: the newer
    // dat (from addr(2)) went to the 5 others, 6 times each on average.
    let mut per_peer = [0u32; 7];
    for s in sent.iter().filter(|s| s.is_push()) {
        if s.put_work() == Some(newer.work) {
            per_peer[s.to.port() as usize - 20_000] += 1;
        }
    }
    assert_eq!(per_peer[2], 0);
    assert!(
        per_peer[1..]
            .iter()
            .enumerate()
            .all(|(k, &c)| k == 1 || (1..=14).contains(&c)),
        "{per_peer:?}"
    );
}

#[test]
fn trust_halves_and_answers_to_pulls_earn_it() {
    let credit = 0.25;
    let mut n = node(|c| {
        c.trust_half_epochs = 512;
        c.pull_credit = credit;
        c.pushes = 0;
    });
    let tokens = peers(&mut n, 2);
    // A dat from a stranger (not validated: stored, but nobody's trust).
    let x = dat(b"x", b"held", n.now_ms());
    n.handle_packet(addr(9), &put_bytes(&x));
    assert!(n.dat_by_work(&x.work).is_some());
    assert!(n.peers().iter().all(|p| p.trust == 0.0));
    // The node pulls x's name from one of its peers; that peer answers.
    // Run to the first pull: the only one the node has sent.
    let mut pull = None;
    for _ in 0..200 {
        pull = run(&mut n, 1)
            .into_iter()
            .find(|s| matches!(wire::decode(&s.bytes), Ok(Packet::Get(Get::Name { .. }))));
        if pull.is_some() {
            break;
        }
    }
    let pull = pull.expect("a pull within 200 epochs");
    let k = pull.to.port() as usize - 20_001;
    let answer = with_token(&put_bytes(&x), &tokens[k]);
    n.handle_packet(pull.to, &answer);
    let trust = |n: &Node, a: SocketAddr| n.peers().iter().find(|p| p.addr == a).unwrap().trust;
    assert_eq!(trust(&n, pull.to), credit);
    assert_eq!(n.stats().pull_credits, 1);
    // Once per pull: the same answer again (next epoch) earns nothing.
    tick(&mut n);
    n.handle_packet(pull.to, &answer);
    assert_eq!(trust(&n, pull.to), credit);
    // The other peer was not asked: its copy earns nothing.
    let other = addr(if k == 0 { 2 } else { 1 });
    n.handle_packet(other, &with_token(&put_bytes(&x), &tokens[1 - k]));
    assert_eq!(trust(&n, other), 0.0);
    // A novel dat adds its mass; every 512 epochs all trust halves.
    let before = trust(&n, other);
    let y = dat(b"y", b"novel", n.now_ms());
    tick(&mut n);
    n.handle_packet(other, &with_token(&put_bytes(&y), &tokens[1 - k]));
    let earned = trust(&n, other) - before;
    assert!(earned > 0.0);
    while n.epoch() % 512 != 511 {
        tick(&mut n);
    }
    drain(&mut n);
    let (a, b) = (trust(&n, pull.to), trust(&n, other));
    tick(&mut n);
    assert_eq!((trust(&n, pull.to), trust(&n, other)), (a / 2.0, b / 2.0));
    n.check_invariants().unwrap();
}

#[test]
fn application_sends_go_to_peers_drawn_uniformly_not_by_trust() {
    let mut n = node(|c| c.pushes = 0);
    let tokens = peers(&mut n, 10);
    run(&mut n, 10);
    // Peer 1 earns a great deal of trust.
    for i in 0..5u8 {
        let d = dat(&[b't', i], b"trusted", n.now_ms());
        n.handle_packet(addr(1), &with_token(&put_bytes(&d), &tokens[0]));
        tick(&mut n);
    }
    drain(&mut n);
    assert!(n.peers().iter().find(|p| p.addr == addr(1)).unwrap().trust > 0.0);
    let mut per_peer = [0u32; 11];
    for i in 0..300u32 {
        let d = dat(&i.to_le_bytes(), b"app", n.now_ms());
        let time = d.time_ms.to_le_bytes();
        n.put(&d.msg(&time)).unwrap();
        for a in n.last_sent() {
            per_peer[a.port() as usize - 20_000] += 1;
        }
        drain(&mut n);
    }
    // FANOUT 2 of 10 peers: 60 each on average; by trust, peer 1 would get
    // nearly all 300.
    assert_eq!(per_peer[1..].iter().sum::<u32>(), 600);
    assert!(
        per_peer[1..].iter().all(|&c| (30..=95).contains(&c)),
        "{per_peer:?}"
    );
    // Seeds still follow trust: most go to peer 1.
    let sent = run(&mut n, 2000);
    let seeds: Vec<&Sent> = sent
        .iter()
        .filter(|s| !s.is_push() && s.put_work().is_some())
        .collect();
    let to_trusted = seeds.iter().filter(|s| s.to == addr(1)).count();
    assert!(
        to_trusted * 10 > seeds.len() * 9,
        "{to_trusted} of {} seeds to the trusted peer",
        seeds.len()
    );
}

#[test]
fn the_writer_sends_its_own_dat_to_fanout_peers_and_pushes_it_only_own_pushes_times() {
    let mut n = node(|_| {});
    assert_eq!(n.config().own_pushes, dave_core::OWN_PUSHES);
    let tokens = peers(&mut n, 6);
    run(&mut n, 10);
    let mine = dat(b"mine", b"written here", n.now_ms());
    let time = mine.time_ms.to_le_bytes();
    n.put(&mine.msg(&time)).unwrap();
    assert_eq!(n.last_sent().len(), 2, "FANOUT peers at once");
    drain(&mut n);
    run(&mut n, 400);
    let own = dave_core::OWN_PUSHES as u64;
    assert!(own < dave_core::PUSHES as u64);
    assert_eq!(n.stats().pushes, own, "the writer pushes its own dat less");
    // A dat from a peer is pushed PUSHES times.
    let theirs = dat(b"theirs", b"relayed", n.now_ms());
    n.handle_packet(addr(1), &with_token(&put_bytes(&theirs), &tokens[0]));
    run(&mut n, 1000);
    assert_eq!(n.stats().pushes, own + dave_core::PUSHES as u64);
}
