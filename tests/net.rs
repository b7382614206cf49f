//! Nodes talking to each other in memory: every packet a node queues is
//! delivered one epoch later. No sockets, no clock: each test is exact and
//! repeatable.

use dave_core::testing::{addr, Net, T0_MS};
use dave_core::wire::{self, Msg, Op, Pd};
use dave_core::{Config, Dat};
use dave_core::{Event, GetOpts, Node, Now, Query, Reason};
use ed25519_dalek::SigningKey;
use std::net::SocketAddr;

fn signer(b: u8) -> SigningKey {
    SigningKey::from_bytes(&[b; 32])
}

fn dat(key: &[u8], val: &[u8], time_ms: u64, bits: u8, who: &SigningKey) -> Dat {
    Dat::make(key, val, time_ms, bits, who, 1, None).unwrap().0
}

fn packet(d: &Dat) -> Vec<u8> {
    let time = d.time_ms.to_le_bytes();
    let mut buf = [0u8; wire::PACKET_MAX];
    let n = wire::encode_into(&d.msg(&time), &mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn a_put_reaches_every_node_and_a_get_finds_it() {
    let mut net = Net::new(8, |_, _| {});
    // Let peers meet and pass DELAY (1993 epochs) so gossip flows.
    net.run(2500);
    net.check();
    for (i, n) in net.nodes.iter().enumerate() {
        assert!(!n.peers().is_empty(), "node {i} found no peer");
    }
    let d = dat(
        b"greeting",
        b"hello dave",
        net.now().unix_ms,
        10,
        &signer(1),
    );
    let time = d.time_ms.to_le_bytes();
    let work = net.nodes[5].put(&d.msg(&time)).unwrap();
    net.collect();
    let mut reached_all = None;
    for e in 1..=4000u64 {
        net.run(1);
        if net.holders(&work) == 8 {
            reached_all = Some(e);
            break;
        }
    }
    let e = reached_all.unwrap_or_else(|| {
        panic!(
            "only {} of 8 nodes hold the dat after 4000 epochs",
            net.holders(&work)
        )
    });
    eprintln!("a new dat reached all 8 nodes in {e} epochs");
    net.check();

    // A GET by name from a node that holds it answers from the store; a
    // fresh node with an empty store fetches it from the network.
    let mut fresh = Net::new(1, |_, _| {});
    let mut node = fresh.nodes.pop().unwrap();
    node.add_self_addr(addr(8));
    net.nodes.push(node);
    let now = net.now();
    net.nodes[8].handle_tick(now);
    // Give the newcomer a live peer: it pings node 1 via a GETPEER exchange.
    let q = Query::name(d.pubkey, b"greeting").unwrap();
    net.run(1);
    let id = {
        // Teach node 8 about node 3 by receiving a GETPEER from it (any valid packet adds a peer).
        let mut buf = [0u8; 16];
        let n = wire::encode_into(&Msg::op(Op::Getpeer), &mut buf).unwrap();
        net.nodes[8].handle_packet(addr(3), &buf[..n]);
        net.collect();
        net.run(2);
        net.nodes[8].get(q, GetOpts::timeout(2000)).unwrap()
    };
    net.collect();
    let mut got = None;
    for _ in 0..2000 {
        net.run(1);
        if let Some(ev) = net.nodes[8].poll_event() {
            got = Some(ev);
            break;
        }
    }
    match got {
        Some(Event::Got {
            id: i,
            work: w,
            from,
        }) => {
            assert_eq!(i, id);
            assert_eq!(w, work);
            assert_eq!(from, Some(addr(3)));
            assert_eq!(net.nodes[8].dat_by_work(&w).unwrap().val, b"hello dave");
        }
        other => panic!("expected the dat, got {other:?}"),
    }
}

#[test]
fn a_get_for_a_missing_dat_times_out() {
    let mut net = Net::new(3, |_, _| {});
    net.run(300);
    let id = net.nodes[1]
        .get(Query::Work([7; 32]), GetOpts::timeout(500))
        .unwrap();
    net.collect();
    let mut ev = None;
    for _ in 0..600 {
        net.run(1);
        if let Some(e) = net.nodes[1].poll_event() {
            ev = Some(e);
            break;
        }
    }
    assert_eq!(ev, Some(Event::TimedOut { id }));
    assert!(
        net.nodes[0].stats().drop_count(Reason::GetMiss) > 0,
        "node 0 was asked"
    );
}

#[test]
fn names_follow_the_replacement_rule() {
    let mut net = Net::new(1, |_, _| {});
    net.run(1);
    let n = &mut net.nodes[0];
    let who = signer(2);
    let t = n.now_ms();
    let old = dat(b"k", b"old", t - 10, 8, &who);
    let new = dat(b"k", b"new", t - 5, 8, &who);
    let w_new = packet(&new);
    n.handle_packet(addr(50), &w_new);
    n.handle_packet(addr(51), &packet(&old));
    assert_eq!(
        n.stats().drop_count(Reason::Stale),
        1,
        "an older time is stale"
    );
    let held = n
        .dat_by_name(&who.verifying_key().to_bytes(), b"k")
        .unwrap();
    assert_eq!(held.val, b"new");

    // Equal time: the smaller work hash wins, whichever arrives first.
    let a = dat(b"e", b"a", t, 8, &who);
    let mut b = dat(b"e", b"b", t, 8, &who);
    let mut salt_n = 0u64;
    while b.work == a.work {
        salt_n += 1;
        b = dat(b"e", format!("b{salt_n}").as_bytes(), t, 8, &who);
    }
    let (small, big) = if a.work < b.work { (&a, &b) } else { (&b, &a) };
    n.handle_packet(addr(52), &packet(big));
    n.handle_packet(addr(53), &packet(small));
    let held = n
        .dat_by_name(&who.verifying_key().to_bytes(), b"e")
        .unwrap();
    assert_eq!(*held.work, small.work);
    assert!(
        n.dat_by_work(&big.work).is_none(),
        "the replaced dat is gone from the work index"
    );

    // Another owner's dat under the same key is a different name.
    let other = dat(b"k", b"mine", t, 8, &signer(3));
    n.handle_packet(addr(54), &packet(&other));
    assert_eq!(n.store().len(), 3);
    n.check_invariants().unwrap();
}

#[test]
fn every_invalid_put_is_dropped_and_counted() {
    let mut net = Net::new(1, |_, _| {});
    net.run(1);
    let t = net.nodes[0].now_ms();
    let who = signer(4);
    let good = dat(b"x", b"value", t, 8, &who);
    let time = good.time_ms.to_le_bytes();
    let mut src = 100;
    let mut send = |net: &mut Net, m: &Msg| {
        let mut buf = [0u8; wire::MTU];
        let n = wire::encode_into(m, &mut buf).unwrap();
        src += 1;
        net.nodes[0].handle_packet(addr(src), &buf[..n]);
    };
    // Tampered value: the work no longer matches.
    let mut m = good.msg(&time);
    m.val = b"valuE";
    send(&mut net, &m);
    assert_eq!(net.nodes[0].stats().drop_count(Reason::WorkMismatch), 1);
    // Too little work (a dat solved to fewer than MIN_WORK bits).
    let weak = (0..)
        .map(|i| dat(b"w", format!("{i}").as_bytes(), t, 0, &who))
        .find(|d| dave_core::pow::difficulty(&d.work) < 8)
        .unwrap();
    let wt = weak.time_ms.to_le_bytes();
    send(&mut net, &weak.msg(&wt));
    assert_eq!(net.nodes[0].stats().drop_count(Reason::LowWork), 1);
    // Dated beyond MAX_SKEW; but within it is fine.
    let future = dat(b"f", b"later", t + 10_001, 8, &who);
    let ft = future.time_ms.to_le_bytes();
    send(&mut net, &future.msg(&ft));
    assert_eq!(net.nodes[0].stats().drop_count(Reason::Future), 1);
    let soon = dat(b"f", b"soon", t + 9_000, 8, &who);
    let st = soon.time_ms.to_le_bytes();
    send(&mut net, &soon.msg(&st));
    assert!(net.nodes[0].dat_by_work(&soon.work).is_some());
    // Signed by someone else.
    let mut forged = good.clone();
    forged.sig = dave_core::pow::sign(&signer(5), &good.work);
    send(&mut net, &forged.msg(&time));
    assert_eq!(net.nodes[0].stats().drop_count(Reason::BadSig), 1);
    // A flipped signature bit.
    let mut flipped = good.clone();
    flipped.sig[10] ^= 1;
    send(&mut net, &flipped.msg(&time));
    assert_eq!(net.nodes[0].stats().drop_count(Reason::BadSig), 2);
    // The good one is stored, and a replay costs nothing more.
    send(&mut net, &good.msg(&time));
    send(&mut net, &good.msg(&time));
    assert!(net.nodes[0].dat_by_work(&good.work).is_some());
    assert_eq!(net.nodes[0].stats().puts_known, 1);
    assert_eq!(net.nodes[0].store().len(), 2);
    // Garbage.
    net.nodes[0].handle_packet(addr(300), &[0x02]);
    net.nodes[0].handle_packet(addr(301), &[0xff; 1501]);
    // work_mismatch 1, low_work 1, future 1, bad_sig 2, garbage 2.
    assert_eq!(net.nodes[0].stats().drops_total(), 7);
    net.check();
}

#[test]
fn the_packet_filter_passes_one_op_per_source_per_epoch() {
    let mut net = Net::new(1, |_, _| {});
    net.run(1);
    let getpeer = [];
    for _ in 0..5 {
        net.nodes[0].handle_packet(addr(7), &getpeer);
    }
    assert_eq!(net.nodes[0].stats().drop_count(Reason::Filter), 4);
    // Another op from the same source passes; so does the next epoch.
    net.nodes[0].handle_packet(
        addr(7),
        &[0x08, 0x03, 0x3a, 0x20]
            .iter()
            .copied()
            .chain([0u8; 32])
            .collect::<Vec<_>>(),
    );
    net.run(1);
    net.nodes[0].handle_packet(addr(7), &getpeer);
    assert_eq!(net.nodes[0].stats().drop_count(Reason::Filter), 4);
}

fn peer_msg(addrs: &[SocketAddr]) -> Vec<u8> {
    let mut m = Msg::op(Op::Peer);
    for (i, a) in addrs.iter().enumerate() {
        m.pds[i] = Pd::from_addr(*a);
    }
    m.npds = addrs.len() as u8;
    let mut buf = [0u8; 256];
    let n = wire::encode_into(&m, &mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn peer_messages_are_accepted_only_as_answers_and_never_widen_scope() {
    let edge: SocketAddr = "192.0.2.1:1618".parse().unwrap();
    let me: SocketAddr = "192.0.2.99:1618".parse().unwrap();
    let mut cfg = Config::default().with_dat_cap(100);
    cfg.edges = vec![edge];
    let mut n = Node::new(cfg);
    n.add_self_addr(me);
    n.handle_tick(Now {
        epoch: 1,
        unix_ms: T0_MS,
    });
    // The node pinged its edge at start.
    let (to, bytes) = n.peek_transmit().expect("a GETPEER to the edge");
    assert_eq!(to, edge);
    assert_eq!(wire::decode(bytes).unwrap().op(), Op::Getpeer);
    n.pop_transmit();

    // An unknown sender's PEER is refused.
    let stranger: SocketAddr = "198.51.100.7:1618".parse().unwrap();
    n.handle_packet(stranger, &peer_msg(&["203.0.113.1:1".parse().unwrap()]));
    assert_eq!(n.stats().drop_count(Reason::Unsolicited), 1);
    assert!(n.peers().find("203.0.113.1:1".parse().unwrap()).is_none());

    // The edge's answer is taken, except what would widen scope or is us.
    let global: SocketAddr = "203.0.113.5:1618".parse().unwrap();
    n.handle_packet(
        edge,
        &peer_msg(&[global, "127.0.0.1:1618".parse().unwrap()]),
    );
    assert!(n.peers().find(global).is_some());
    assert!(
        n.peers().find("127.0.0.1:1618".parse().unwrap()).is_none(),
        "loopback from a global sender"
    );
    assert_eq!(n.stats().pds_refused, 1);
    // Only the first answer per GETPEER.
    n.handle_tick(Now {
        epoch: 2,
        unix_ms: T0_MS,
    });
    n.handle_packet(edge, &peer_msg(&["203.0.113.6:1618".parse().unwrap()]));
    assert_eq!(n.stats().drop_count(Reason::Unsolicited), 2);
    // A private address from a global sender, and ourselves, are refused.
    n.handle_tick(Now {
        epoch: 800,
        unix_ms: T0_MS + 50,
    });
    while n.peek_transmit().is_some() {
        n.pop_transmit();
    }
    // Make the edge due for a ping again and answer it.
    n.handle_tick(Now {
        epoch: 1600,
        unix_ms: T0_MS + 100,
    });
    n.handle_packet(edge, &peer_msg(&["10.0.0.1:1618".parse().unwrap(), me]));
    assert!(n.peers().find("10.0.0.1:1618".parse().unwrap()).is_none());
    assert!(n.peers().find(me).is_none());
    n.check_invariants().unwrap();
}

#[test]
fn the_peer_table_is_bounded_and_silent_peers_are_dropped_but_edges_kept() {
    let edge = addr(0);
    let mut cfg = Config::default().with_dat_cap(100);
    cfg.max_peers = 64;
    cfg.edges = vec![edge];
    cfg.drop_epochs = 5000;
    let mut n = Node::new(cfg);
    n.handle_tick(Now {
        epoch: 1,
        unix_ms: T0_MS,
    });
    for i in 0..1000u16 {
        let a = SocketAddr::from(([198, 51, 100, (i % 250) as u8], 1000 + i));
        n.handle_packet(a, &[]);
    }
    assert_eq!(n.peers().len(), 64);
    assert!(n.stats().peers_full > 0);
    // Silence: everyone but the edge goes after DROP epochs.
    for e in (2..=12_000).step_by(100) {
        n.handle_tick(Now {
            epoch: e,
            unix_ms: T0_MS,
        });
        while n.peek_transmit().is_some() {
            n.pop_transmit();
        }
    }
    assert_eq!(n.peers().len(), 1);
    assert!(n.peers().get(0).edge);
    assert_eq!(n.stats().peers_dropped, 63);
    n.check_invariants().unwrap();
}

#[test]
fn prune_keeps_the_most_massive_dats() {
    let mut net = Net::new(1, |_, c| {
        *c = Config::default().with_dat_cap(10);
        c.prune_epochs = 1000;
    });
    net.run(1);
    let t = net.nodes[0].now_ms();
    let who = signer(6);
    // Twenty dats: ten heavy (16 bits), ten light (8 bits), same age.
    let mut heavy = Vec::new();
    for i in 0..20u8 {
        let bits = if i % 2 == 0 { 16 } else { 8 };
        let d = dat(&[i], b"v", t - 1000, bits, &who);
        if dave_core::pow::difficulty(&d.work) >= 16 {
            heavy.push(d.work);
        }
        net.nodes[0].handle_packet(addr(100 + i as usize), &packet(&d));
    }
    assert_eq!(net.nodes[0].store().len(), 20);
    net.run(1000);
    assert_eq!(net.nodes[0].store().len(), 10);
    for w in &heavy {
        assert!(
            net.nodes[0].dat_by_work(w).is_some(),
            "a 16-bit dat was pruned before an 8-bit one"
        );
    }
    net.check();
}

#[test]
fn a_node_never_lists_itself() {
    let mut net = Net::new(3, |_, _| {});
    // Node 1 is told about itself by node 0's PEER answers and by a packet
    // claiming to come from its own address.
    net.run(3000);
    let me = addr(1);
    net.nodes[1].handle_packet(me, &[]);
    assert!(net.nodes[1].stats().drop_count(Reason::FromSelf) >= 1);
    for (i, n) in net.nodes.iter().enumerate() {
        assert!(n.peers().find(addr(i)).is_none(), "node {i} lists itself");
    }
    net.check();
}

#[test]
fn same_seed_same_traffic() {
    let run = || {
        let mut net = Net::new(4, |_, _| {});
        net.run(2200);
        let d = dat(b"k", b"v", net.now().unix_ms, 8, &signer(9));
        let time = d.time_ms.to_le_bytes();
        net.nodes[2].put(&d.msg(&time)).unwrap();
        net.collect();
        net.run(500);
        net.nodes.iter().map(|n| *n.stats()).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}
