//! Nodes talking to each other in memory: every packet a node queues is
//! delivered one epoch later. No sockets, no clock: each test is exact and
//! repeatable.

use dave_core::testing::{addr, getpeer, handshake, sent_to, with_token, Net, T0_MS};
use dave_core::wire::{self, Cookie, Msg, Op, Packet, Pd};
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

/// A PEER quoting `token`, issuing `cookie`, naming `addrs`.
fn peer_msg_with(token: &Cookie, cookie: &Cookie, addrs: &[SocketAddr]) -> Vec<u8> {
    let mut m = Msg {
        op: Op::Peer,
        token,
        cookie,
        ..Msg::default()
    };
    for (i, a) in addrs.iter().enumerate() {
        m.pds[i] = Pd::from_addr(*a);
    }
    m.npds = addrs.len() as u8;
    let mut buf = [0u8; 256];
    let n = wire::encode_into(&m, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// The cookie in the first GETPEER among `sent`.
fn getpeer_cookie(sent: &[Vec<u8>]) -> Option<Cookie> {
    sent.iter().find_map(|b| match wire::decode(b) {
        Ok(Packet::Getpeer { cookie }) => Some(*cookie),
        _ => None,
    })
}

/// One node with default settings, one epoch in, nothing on the wire.
fn lone_node() -> Net {
    let mut net = Net::new(1, |_, _| {});
    net.run(1);
    net.wire.clear();
    net
}

fn tick(n: &mut Node, epoch: u64) {
    n.handle_tick(Now {
        epoch,
        unix_ms: T0_MS + epoch * 65_537 / 1_000_000,
    });
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
    // Give the newcomer a peer: node 3 as a candidate, validated by the
    // GETPEER/PEER handshake (one round trip) before the GET goes out.
    let q = Query::name(d.pubkey, b"greeting").unwrap();
    assert!(net.nodes[8].add_peer(addr(3)));
    net.run(1);
    let id = {
        net.run(3);
        assert_eq!(
            net.nodes[8].peers().len(),
            1,
            "node 3 answered the handshake"
        );
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
    let getpeer = getpeer(&[1; 8], None);
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

#[test]
fn peer_messages_are_accepted_only_as_answers_and_never_widen_scope() {
    let edge: SocketAddr = "192.0.2.1:1618".parse().unwrap();
    let me: SocketAddr = "192.0.2.99:1618".parse().unwrap();
    let mut cfg = Config::default().with_dat_cap(100);
    cfg.edges = vec![edge];
    let mut n = Node::new(cfg);
    n.add_self_addr(me);
    tick(&mut n, 1);
    // The node asked its edge at start, issuing a cookie; the edge is a
    // candidate, not a peer, until it answers.
    let sent = sent_to(&mut n, edge);
    let asked = getpeer_cookie(&sent).expect("a GETPEER with a cookie to the edge");
    assert!(n.peers().is_empty());
    assert_eq!(n.candidates(), 1);

    // A PEER that does not quote our cookie is refused: from a stranger,
    // or from the edge with another token.
    let stranger: SocketAddr = "198.51.100.7:1618".parse().unwrap();
    let named: SocketAddr = "203.0.113.1:1".parse().unwrap();
    n.handle_packet(stranger, &peer_msg_with(&asked, &[5; 8], &[named]));
    n.handle_packet(edge, &peer_msg_with(&[9; 8], &[5; 8], &[named]));
    assert_eq!(n.stats().drop_count(Reason::Unsolicited), 2);
    assert!(n.peers().is_empty());

    // The edge's real answer validates it; what it names becomes a
    // candidate, except what would widen scope or is us.
    tick(&mut n, 2);
    let global: SocketAddr = "203.0.113.5:1618".parse().unwrap();
    let loopback: SocketAddr = "127.0.0.1:1618".parse().unwrap();
    n.handle_packet(edge, &peer_msg_with(&asked, &[5; 8], &[global, loopback]));
    assert!(n.peers().find(edge).is_some_and(|i| n.peers().get(i).edge));
    assert!(n.peers().find(global).is_none(), "named, not yet validated");
    assert_eq!(n.candidates(), 1, "the global address is a candidate");
    assert_eq!(n.stats().pds_refused, 1, "loopback from a global sender");
    // Only the first answer per GETPEER.
    tick(&mut n, 3);
    n.handle_packet(edge, &peer_msg_with(&asked, &[5; 8], &[]));
    assert_eq!(n.stats().drop_count(Reason::Unsolicited), 3);
    // Everything the node sends the edge now quotes the edge's cookie.
    n.check_invariants().unwrap();

    // A private address from a global sender, and ourselves, are refused:
    // let the edge be pinged again and answer.
    let mut asked = None;
    for e in (4..=1600).step_by(4) {
        tick(&mut n, e);
        if let Some(c) = getpeer_cookie(&sent_to(&mut n, edge)) {
            asked = Some(c);
            break;
        }
    }
    let asked = asked.expect("a silent edge is pinged");
    n.handle_packet(
        edge,
        &peer_msg_with(&asked, &[5; 8], &["10.0.0.1:1618".parse().unwrap(), me]),
    );
    assert_eq!(n.stats().pds_refused, 3);
    n.check_invariants().unwrap();
}

#[test]
fn a_learned_address_gets_two_getpeers_at_most_and_an_edge_is_asked_forever() {
    let edge: SocketAddr = "192.0.2.1:1618".parse().unwrap();
    let mut cfg = Config::default().with_dat_cap(100);
    cfg.edges = vec![edge];
    let mut n = Node::new(cfg);
    tick(&mut n, 1);
    let asked = getpeer_cookie(&sent_to(&mut n, edge)).unwrap();
    let a: SocketAddr = "203.0.113.7:1618".parse().unwrap();
    let b: SocketAddr = "203.0.113.8:1618".parse().unwrap();
    n.handle_packet(edge, &peer_msg_with(&asked, &[5; 8], &[a, b]));
    // Neither answers; count what each is sent over many PING periods.
    let (mut to_a, mut to_edge) = (0, 0);
    for e in 2..200_000u64 {
        tick(&mut n, e);
        while let Some((to, _)) = n.peek_transmit() {
            to_a += (to == a) as u32;
            to_edge += (to == edge) as u32;
            n.pop_transmit();
        }
    }
    assert_eq!(to_a, 2, "a learned address that never answers");
    assert!(n.peers().find(a).is_none() && n.peers().find(b).is_none());
    // The edge answered once, then went silent: it stays (edges are never
    // dropped) and is pinged, with no burst.
    assert!(to_edge >= 2, "the silent edge was pinged {to_edge} times");
    assert!(n.peers().find(edge).is_some());
}

#[test]
fn the_peer_table_is_bounded_and_silent_peers_are_dropped_but_edges_kept() {
    let edge = addr(0);
    let mut cfg = Config::default().with_dat_cap(100);
    cfg.max_peers = 64;
    cfg.edges = vec![edge];
    cfg.drop_epochs = 5000;
    let mut n = Node::new(cfg);
    tick(&mut n, 1);
    let asked = getpeer_cookie(&sent_to(&mut n, edge)).unwrap();
    n.handle_packet(edge, &peer_msg_with(&asked, &[5; 8], &[]));
    // Strangers that never finish the handshake take no place at all.
    for i in 0..1100u16 {
        let a = SocketAddr::from(([198, 51, 100, (i % 250) as u8], 1000 + i));
        n.handle_packet(a, &getpeer(&[1; 8], None));
    }
    assert_eq!(n.peers().len(), 1, "only the edge");
    // Those that do (other ports: an address is considered twice per
    // REPLY_REPEAT_EPOCHS), from one /16, hold one bucket at most.
    for i in 0..100u16 {
        let a = SocketAddr::from(([198, 51, 100, (i % 250) as u8], 3000 + i));
        handshake(&mut n, a);
    }
    assert!(n.peers().len() <= 1 + 16, "{} entries", n.peers().len());
    assert!(n.stats().peers_full > 0);
    // From many groups, they fill the table up to its bound.
    for i in 0..400u16 {
        let a = SocketAddr::from(([198, (i % 200) as u8, (i / 200) as u8, 1], 1618));
        handshake(&mut n, a);
    }
    let held = n.peers().len();
    assert!((40..=65).contains(&held), "{held} entries of 64 + the edge");
    // Silence: everyone but the edge goes after DROP epochs.
    let dropped0 = n.stats().peers_dropped;
    let e0 = n.epoch();
    for e in (e0..=e0 + 12_000).step_by(100) {
        tick(&mut n, e);
        sent_to(&mut n, edge);
    }
    assert_eq!(n.peers().len(), 1);
    assert!(n.peers().get(0).edge);
    assert_eq!(n.stats().peers_dropped - dropped0, held as u64 - 1);
    n.check_invariants().unwrap();
}

#[test]
fn a_stranger_gets_a_cookie_and_nothing_more() {
    let mut net = Net::new(1, |_, _| {});
    net.run(1);
    let who = signer(4);
    let d = dat(b"k", b"held", net.now().unix_ms, 8, &who);
    let time = d.time_ms.to_le_bytes();
    net.nodes[0].put(&d.msg(&time)).unwrap();
    net.collect();
    net.wire.clear();
    let victim = addr(50);
    let n = &mut net.nodes[0];
    // A GETPEER from an unproven address: one PEER, at most 20 bytes more,
    // with a cookie and no peers; no table entry.
    let q = getpeer(&[3; 8], None);
    n.handle_packet(victim, &q);
    let out = sent_to(n, victim);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].len() <= q.len() + 20,
        "{} bytes for {}",
        out[0].len(),
        q.len()
    );
    match wire::decode_datagram(&out[0]).unwrap() {
        wire::Datagram {
            packet: Packet::Peer { list, .. },
            token: Some(t),
        } => {
            assert!(list.as_slice().is_empty());
            assert_eq!(t, &[3; 8], "the asker's cookie, echoed");
        }
        other => panic!("{other:?}"),
    }
    assert!(n.peers().is_empty());
    // A GET of a held dat from an unproven address gets nothing.
    let mut buf = [0u8; 64];
    let get = wire::encode_into(
        &Msg {
            op: Op::Get,
            work: &d.work,
            ..Msg::default()
        },
        &mut buf,
    )
    .unwrap();
    n.handle_packet(victim, &buf[..get]);
    assert!(sent_to(n, victim).is_empty());
    assert_eq!(n.stats().drop_count(Reason::Unvalidated), 1);
    // A PUT from an unproven address is stored (writers pay with work) but
    // earns nothing and makes no entry.
    let d2 = dat(b"k2", b"new", n.now_ms(), 8, &who);
    n.handle_packet(victim, &packet(&d2));
    assert!(n.dat_by_work(&d2.work).is_some());
    assert!(n.peers().is_empty());
    assert!(sent_to(n, victim).is_empty());
    // Once it quotes the cookie it was given, the same GET is answered.
    tick(n, n.epoch() + 1);
    let token = handshake(n, victim);
    let tokened = with_token(&buf[..get], &token);
    tick(n, n.epoch() + 1);
    n.handle_packet(victim, &tokened);
    let answer = sent_to(n, victim);
    assert_eq!(answer.len(), 1);
    assert!(matches!(wire::decode(&answer[0]), Ok(Packet::Put(p)) if *p.work == d.work));
    assert_eq!(n.peers().len(), 1);
}

#[test]
fn replies_to_strangers_stay_within_the_budget_whatever_the_sources() {
    let mut net = lone_node();
    let n = &mut net.nodes[0];
    let q = getpeer(&[3; 8], None);
    // 10,000 forged sources in one epoch: at most the burst is answered.
    let mut answered = 0;
    for i in 0..10_000u32 {
        let a = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 4000));
        n.handle_packet(a, &q);
        while n.peek_transmit().is_some() {
            answered += 1;
            n.pop_transmit();
        }
    }
    let budget = dave_core::UNVALIDATED_REPLIES as usize;
    assert_eq!(answered, budget);
    // The rest were refused by the budget, or by the packet filter (a
    // small filter: some keys collide).
    let filtered = n.stats().drop_count(Reason::Filter);
    let refused = n.stats().reply_budget + n.stats().reply_share;
    assert_eq!(refused + filtered, 10_000 - budget as u64);
    assert!(n.peers().is_empty());
}

/// One address group (here a private /24, 254 addresses) asking for
/// cookies as fast as it can gets its share's burst, and every group on
/// another share is still answered (docs/protocol.md 5.3).
#[test]
fn one_group_cannot_spend_the_reply_budget_of_the_others() {
    let mut net = lone_node();
    let n = &mut net.nodes[0];
    let q = getpeer(&[3; 8], None);
    let loud = |i: u32| SocketAddr::from(([10, 9, 9, 1 + (i % 254) as u8], 4000));
    let mut answered = 0;
    for i in 0..1000u32 {
        n.handle_packet(loud(i), &q);
        answered += sent_to(n, loud(i)).len();
        if i % 254 == 253 {
            tick(n, n.epoch() + 1);
        }
    }
    assert_eq!(answered as u64, dave_core::REPLY_SHARE_BURST);
    // Refused by the group's share, or (each address asked about four
    // times) as an address already considered twice.
    let st = n.stats();
    assert!(st.reply_share >= 254, "{st:?}");
    let filtered = st.drop_count(Reason::Filter);
    assert_eq!(
        st.reply_share + st.reply_repeat + filtered,
        1000 - answered as u64
    );
    assert_eq!(st.reply_budget, 0, "the budget was not spent");
    let share = n.peers().share_of(loud(0));
    let mut others = 0;
    for g in 0..40u8 {
        let a = SocketAddr::from(([10, 20, g, 1], 4000));
        if n.peers().share_of(a) == share {
            continue;
        }
        others += 1;
        n.handle_packet(a, &q);
        assert_eq!(sent_to(n, a).len(), 1, "{a} was not answered");
    }
    assert!(others >= 30);
}

/// Strangers in groups on other shares of the reply budget than those of
/// `spare` ask `n` for cookies until it has sent `want` (or 2,000 have
/// asked); returns the cookies sent.
fn spend_budget(n: &mut Node, spare: &[SocketAddr], want: u64) -> u64 {
    let q = getpeer(&[3; 8], None);
    let theirs: Vec<usize> = spare.iter().map(|&a| n.peers().share_of(a)).collect();
    let mut sent = 0;
    for i in 0..2000u32 {
        if sent == want {
            break;
        }
        let s = SocketAddr::from(([10, 100 + (i >> 8) as u8, i as u8, 1], 4000));
        if !theirs.contains(&n.peers().share_of(s)) {
            n.handle_packet(s, &q);
            sent += sent_to(n, s).len() as u64;
        }
    }
    sent
}

/// An address that has not proved it receives gets REPLY_REPEATS cookies
/// per REPLY_REPEAT_EPOCHS, however often it asks (a cookie stays valid
/// for at least ROTATE, and the second covers a lost first); and after a
/// refusal it is not considered for 512 epochs, so asking again at once
/// does not take the reply the budget refills.
#[test]
fn an_unproven_address_gets_two_cookies_and_waits_after_a_refusal() {
    let mut net = lone_node();
    let n = &mut net.nodes[0];
    let a = SocketAddr::from(([10, 7, 7, 7], 4000));
    let q = getpeer(&[3; 8], None);
    let mut answered = 0;
    for k in 0..20u64 {
        // One per 600 epochs: the budget and the group's share refill.
        tick(n, n.epoch() + 600);
        n.handle_packet(a, &q);
        answered += sent_to(n, a).len();
        assert!(k > 0 || answered == 1);
    }
    assert_eq!(answered as u32, dave_core::REPLY_REPEATS);
    assert_eq!(n.stats().reply_repeat, 18);
    assert_eq!(n.stats().reply_budget + n.stats().reply_share, 0);
    // After the window, it is answered again.
    tick(n, n.epoch() + dave_core::REPLY_REPEAT_EPOCHS);
    n.handle_packet(a, &q);
    assert_eq!(sent_to(n, a).len(), 1);
    // Spend the budget (from groups on other shares than b's and c's);
    // b is refused, and asking again at once is not considered: the reply
    // the budget refills goes to c.
    let (b, c) = (
        SocketAddr::from(([10, 8, 8, 8], 4000)),
        SocketAddr::from(([10, 9, 8, 7], 4000)),
    );
    spend_budget(n, &[b, c], u64::MAX);
    tick(n, n.epoch() + 1);
    n.handle_packet(b, &q);
    assert!(sent_to(n, b).is_empty(), "the budget is spent");
    let repeats = n.stats().reply_repeat;
    tick(n, n.epoch() + 64);
    n.handle_packet(b, &q);
    assert!(sent_to(n, b).is_empty(), "asked again too soon");
    assert_eq!(n.stats().reply_repeat, repeats + 1);
    n.handle_packet(c, &q);
    assert_eq!(
        sent_to(n, c).len(),
        1,
        "the refilled budget went to another"
    );
    tick(n, n.epoch() + 600);
    n.handle_packet(b, &q);
    assert_eq!(sent_to(n, b).len(), 1, "considered again after its wait");
}

/// While the budget for unproven addresses is contested (half or less of
/// it left), an address's second cookie waits and a first contact is
/// answered: a party that keeps re-asking cannot take the replies that
/// newcomers' handshakes need.
#[test]
fn a_repeat_waits_while_first_contacts_take_the_budget() {
    let mut net = lone_node();
    let n = &mut net.nodes[0];
    let q = getpeer(&[3; 8], None);
    let (a, f) = (
        SocketAddr::from(([10, 8, 8, 8], 4000)),
        SocketAddr::from(([10, 9, 8, 7], 4000)),
    );
    n.handle_packet(a, &q);
    assert_eq!(sent_to(n, a).len(), 1, "a's first cookie");
    // Spend the budget down to half, from groups on other shares.
    let half = dave_core::UNVALIDATED_REPLIES / 2;
    let spent = 1 + spend_budget(n, &[a, f], half - 1);
    assert_eq!(spent, half);
    assert_eq!(n.stats().reply_budget + n.stats().reply_share, 0);
    tick(n, n.epoch() + 1);
    n.handle_packet(a, &q);
    assert!(sent_to(n, a).is_empty(), "a repeat while half is left");
    assert_eq!(n.stats().reply_repeat, 1);
    n.handle_packet(f, &q);
    assert_eq!(sent_to(n, f).len(), 1, "a first contact is answered");
    // Once the budget has refilled above half (and a's wait is over), a
    // gets its second cookie.
    tick(n, n.epoch() + 600);
    n.handle_packet(a, &q);
    assert_eq!(sent_to(n, a).len(), 1, "a's second cookie");
}

/// An unproven address that asks again within 512 epochs of its cookie
/// sent that ask before the answer could reach it (an honest asker waits
/// PING, 719 epochs): no second cookie then, even with the budget full,
/// and one after. A loud party that sends both of a candidate's GETPEERs
/// at once would otherwise take two replies for one handshake.
#[test]
fn an_ask_that_crossed_its_answer_gets_no_second_cookie() {
    let mut net = lone_node();
    let n = &mut net.nodes[0];
    let q = getpeer(&[3; 8], None);
    let a = SocketAddr::from(([10, 8, 8, 8], 4000));
    let t0 = n.epoch();
    n.handle_packet(a, &q);
    assert_eq!(sent_to(n, a).len(), 1, "the first cookie");
    for gap in [1, 100, 510] {
        tick(n, t0 + gap);
        let repeats = n.stats().reply_repeat;
        n.handle_packet(a, &q);
        assert!(sent_to(n, a).is_empty(), "asked again {gap} epochs on");
        assert_eq!(n.stats().reply_repeat, repeats + 1);
        assert_eq!(n.stats().reply_budget + n.stats().reply_share, 0);
    }
    tick(n, t0 + 719);
    n.handle_packet(a, &q);
    assert_eq!(sent_to(n, a).len(), 1, "a retry after PING is answered");
}

/// A peer validated within 2 x PING that asks without a token (it
/// learned the address anew) has proved it receives there: it gets its
/// cookie even when the budget for unproven addresses is spent.
#[test]
fn a_proven_peer_without_its_token_is_answered_outside_the_budget() {
    let mut net = lone_node();
    let n = &mut net.nodes[0];
    let friend = addr(7);
    handshake(n, friend);
    assert_eq!(n.peers().len(), 1);
    let q = getpeer(&[3; 8], None);
    // Spend the budget with strangers in many groups.
    for i in 0..2000u32 {
        let a = SocketAddr::from(([10, (i >> 8) as u8, i as u8, 1], 4000));
        n.handle_packet(a, &q);
        sent_to(n, a);
    }
    assert!(n.stats().reply_budget > 0, "the budget is spent");
    let stranger = SocketAddr::from(([10, 99, 99, 1], 4000));
    n.handle_packet(stranger, &q);
    assert!(sent_to(n, stranger).is_empty());
    tick(n, n.epoch() + 1); // one GETPEER per source and epoch passes the filter
                            // A tick may refill one reply: strangers take it until one is refused.
    let before = n.stats().reply_budget;
    for g in 0..8u8 {
        let a = SocketAddr::from(([10, 98, g, 1], 4000));
        n.handle_packet(a, &q);
        sent_to(n, a);
    }
    assert!(n.stats().reply_budget > before, "the budget is still spent");
    n.handle_packet(friend, &q);
    let out = sent_to(n, friend);
    assert_eq!(out.len(), 1, "the proven peer got its cookie");
    assert!(matches!(wire::decode(&out[0]), Ok(Packet::Peer { .. })));
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
    net.nodes[1].handle_packet(me, &getpeer(&[1; 8], None));
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

/// Peer exchange (docs/protocol.md 5.4): a peer that talks to the node
/// all the time is never silent, so pings would never ask it for peers;
/// every EXCHANGE epochs one live peer not asked within PING is.
#[test]
fn peers_that_talk_all_the_time_are_still_asked_for_peers() {
    let asked = |exchange: u64| {
        let mut net = Net::new(1, |_, c| c.exchange_epochs = exchange);
        net.run(1);
        let n = &mut net.nodes[0];
        net.wire.clear();
        let friends = [addr(7), addr(8)];
        let tokens = friends.map(|f| handshake(n, f));
        let ping = n.config().ping_epochs;
        let start = n.epoch() + n.config().delay_epochs;
        let end = start + 3 * ping;
        let mut asked = 0;
        for e in n.epoch() + 1..end {
            tick(n, e);
            if e % 64 == 0 {
                // Each friend says something validated: never silent.
                for (f, t) in friends.iter().zip(&tokens) {
                    n.handle_packet(*f, &getpeer(&[9; 8], Some(t)));
                }
            }
            while let Some((to, b)) = n.peek_transmit() {
                let getpeer = matches!(wire::decode(b), Ok(Packet::Getpeer { .. }));
                if e >= start && getpeer && friends.contains(&to) {
                    asked += 1;
                }
                n.pop_transmit();
            }
        }
        (asked, n.stats().exchanges)
    };
    let (none, _) = asked(0);
    assert_eq!(none, 0, "without peer exchange no talking peer is asked");
    let (some, exchanges) = asked(dave_core::EXCHANGE_EPOCHS);
    // Each friend at most once per PING, so 2 x 3 at most in 3 x PING.
    assert!((4..=6).contains(&some), "asked {some} times");
    assert!(exchanges >= some as u64);
}

/// A GETPEER's answer names live peers (heard from within OPEN = 2 x
/// PING), whether they speak all the time or only when pinged: a party
/// that pings 100 times as often is not named more often for it.
#[test]
fn a_quiet_live_peer_is_named_as_often_as_a_loud_one() {
    let mut net = lone_node();
    let n = &mut net.nodes[0];
    let quiet: Vec<SocketAddr> = (0..8u8)
        .map(|i| SocketAddr::from(([10, i, 0, 1], 4000)))
        .collect();
    let loud: Vec<SocketAddr> = (0..8u8)
        .map(|i| SocketAddr::from(([10, 100 + i, 0, 1], 4000)))
        .collect();
    let asker = SocketAddr::from(([10, 250, 0, 1], 4000));
    for &a in quiet.iter().chain(&loud) {
        handshake(n, a);
    }
    let loud_tokens: Vec<Cookie> = loud.iter().map(|&a| handshake(n, a)).collect();
    let t = handshake(n, asker);
    let (mut named_quiet, mut named_loud) = (0, 0);
    // Half a PING on: the quiet ones have been silent since, the loud
    // ones speak every epoch.
    let start = n.epoch();
    for e in start + 1..start + 700 {
        tick(n, e);
        for (a, lt) in loud.iter().zip(&loud_tokens) {
            n.handle_packet(*a, &getpeer(&[9; 8], Some(lt)));
        }
        if e >= start + 400 {
            n.handle_packet(asker, &getpeer(&[9; 8], Some(&t)));
        }
        for b in sent_to(n, asker) {
            if let Ok(Packet::Peer { list, .. }) = wire::decode(&b) {
                for pd in list.as_slice() {
                    let a = pd.addr();
                    named_quiet += quiet.contains(&a) as u32;
                    named_loud += loud.contains(&a) as u32;
                }
            }
        }
    }
    assert!(
        named_quiet + named_loud >= 400,
        "{named_quiet} + {named_loud}"
    );
    assert!(
        named_quiet * 3 >= named_loud && named_loud * 3 >= named_quiet,
        "quiet named {named_quiet} times, loud {named_loud}"
    );
}

/// Peer exchange asks a new peer for peers at once, not after DELAY (a
/// newcomer has no peer DELAY old but its edges, and would learn the
/// network slower than a party that asks 100 times as often).
#[test]
fn a_new_peer_is_asked_for_peers_before_it_is_delay_old() {
    let mut net = lone_node();
    let n = &mut net.nodes[0];
    let friend = SocketAddr::from(([10, 1, 0, 1], 4000));
    handshake(n, friend);
    let start = n.epoch();
    let mut asked_at = None;
    for e in start + 1..start + n.config().delay_epochs / 2 {
        tick(n, e);
        let getpeer = sent_to(n, friend)
            .iter()
            .any(|b| matches!(wire::decode(b), Ok(Packet::Getpeer { .. })));
        if getpeer && asked_at.is_none() {
            asked_at = Some(e - start);
        }
    }
    assert!(n.stats().exchanges >= 1);
    // By exchange, within EXCHANGE epochs (a ping for silence would come
    // only after PING).
    let at = asked_at.expect("asked for peers before DELAY");
    assert!(at <= dave_core::EXCHANGE_EPOCHS, "asked {at} epochs in");
}
