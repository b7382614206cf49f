//! The handshake and the table behind it: a script of packets from a few
//! dozen sources (in a few address groups), where a source may quote the
//! cookie the node last handed it, or answer the node's last GETPEER to it
//! with the cookie the node sent, so the fuzzer gets past validation. After
//! every step: every bound, and the amplification bound (what the node
//! sent a source that never proved its address is at most one datagram per
//! datagram received, each at most 20 bytes larger).
#![no_main]
use dave_core::wire::{self, Msg, Op, Packet};
use dave_core::{Config, Node, Now};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

const SOURCES: usize = 48;

fn source(i: u8) -> SocketAddr {
    let i = i as usize % SOURCES;
    // Three groups of 16 in public /16s, so buckets fill and contest.
    SocketAddr::from(([198, 51 + (i / 16) as u8, 7, i as u8], 1618))
}

fuzz_target!(|data: &[u8]| {
    let mut cfg = Config::default().with_dat_cap(32);
    cfg.filter_cap = 1 << 10;
    cfg.max_peers = 32;
    cfg.unvalidated_replies = 8;
    cfg.edges = vec![source(0)];
    let mut node = Node::new(cfg);
    let mut epoch = 1;
    node.handle_tick(Now {
        epoch,
        unix_ms: 1_763_700_000_000,
    });
    // Per source: the cookie the node issued it, the cookie the node sent
    // it in a GETPEER, bytes and datagrams it sent without proof, bytes
    // and datagrams the node sent it before it proved anything.
    let mut issued = [None::<[u8; 8]>; SOURCES];
    let mut asked = [None::<[u8; 8]>; SOURCES];
    let mut proved = [false; SOURCES];
    let mut sent = [(0usize, 0usize); SOURCES];
    let mut got = [(0usize, 0usize); SOURCES];
    let mut i = 0;
    while i + 2 <= data.len() {
        let (op, arg) = (data[i], data[i + 1]);
        i += 2;
        let s = arg as usize % SOURCES;
        let from = source(arg);
        let mut buf = [0u8; 64];
        let msg = match op % 6 {
            0 => {
                epoch += 1 + (arg as u64 % 800);
                node.handle_tick(Now {
                    epoch,
                    unix_ms: 1_763_700_000_000 + epoch / 16,
                });
                None
            }
            // A GETPEER, quoting the issued cookie or not.
            1 | 2 => Some(Msg {
                op: Op::Getpeer,
                cookie: &[arg; 8],
                token: if op % 6 == 2 {
                    issued[s].as_ref().map_or(&[][..], |c| &c[..])
                } else {
                    &[]
                },
                ..Msg::default()
            }),
            // A PEER answering the node's GETPEER (quoting the cookie the
            // node sent), naming two sources.
            3 => {
                if let Some(c) = asked[s] {
                    let mut m = Msg {
                        op: Op::Peer,
                        cookie: &[arg; 8],
                        token: &c,
                        ..Msg::default()
                    };
                    m.pds[0] = wire::Pd::from_addr(source(arg.wrapping_mul(7)));
                    m.pds[1] = wire::Pd::from_addr(source(arg.wrapping_add(11)));
                    m.npds = 2;
                    if let Ok(n) = wire::encode_into(&m, &mut buf) {
                        node.handle_packet(from, &buf[..n]);
                    }
                    proved[s] = true;
                }
                None
            }
            // A GET by work, quoting the cookie or not.
            4 => Some(Msg {
                op: Op::Get,
                work: &[arg; 32],
                token: if arg & 1 == 0 {
                    issued[s].as_ref().map_or(&[][..], |c| &c[..])
                } else {
                    &[]
                },
                ..Msg::default()
            }),
            // Raw bytes from the script.
            _ => {
                let len = (arg as usize % 40).min(data.len() - i);
                node.handle_packet(from, &data[i..i + len]);
                if !proved[s] {
                    sent[s].0 += len;
                    sent[s].1 += 1;
                }
                i += len;
                None
            }
        };
        if let Some(m) = msg {
            if let Ok(n) = wire::encode_into(&m, &mut buf) {
                if !m.token.is_empty() {
                    proved[s] = true;
                }
                if !proved[s] {
                    sent[s].0 += n;
                    sent[s].1 += 1;
                }
                node.handle_packet(from, &buf[..n]);
            }
        }
        while let Some((to, b)) = node.peek_transmit() {
            if let Some(t) = (0..SOURCES).find(|&t| source(t as u8) == to) {
                if let Ok(d) = wire::decode_datagram(b) {
                    match d.packet {
                        Packet::Peer { cookie, .. } => issued[t] = Some(*cookie),
                        Packet::Getpeer { cookie } => asked[t] = Some(*cookie),
                        _ => {}
                    }
                }
                if !proved[t] && !matches!(wire::decode(b), Ok(Packet::Getpeer { .. })) {
                    got[t].0 += b.len();
                    got[t].1 += 1;
                }
            }
            node.pop_transmit();
        }
        if let Err(e) = node.check_bounds() {
            panic!("bound broken: {e}");
        }
        for t in 0..SOURCES {
            assert!(
                got[t].1 <= sent[t].1 && got[t].0 <= sent[t].0 + 20 * sent[t].1,
                "source {t} never proved its address, sent {:?}, was sent {:?}",
                sent[t],
                got[t]
            );
        }
    }
    node.check_invariants().expect("invariants hold");
});
