//! The `codec` section: decode and encode nanoseconds per message, each op
//! at its largest, against copying the bytes.

use crate::ns_per;

pub(crate) fn bench_codec() {
    use dave_core::wire::{self, max_val_len, Msg, Op, Pd, KEY_MAX, NPEER, SALT_MAX};
    use std::hint::black_box;
    println!("\n## Codec: ns per message, each op at its largest\n");
    let key = [b'k'; KEY_MAX];
    let salt = [b's'; SALT_MAX];
    let val = vec![b'v'; max_val_len(KEY_MAX, SALT_MAX)];
    let (time, work, pubkey, sig) = ([1u8; 8], [2u8; 32], [3u8; 32], [4u8; 64]);
    let mut peer = Msg::op(Op::Peer);
    for i in 0..NPEER {
        peer.pds[i] = Pd::from_addr(format!("[2001:db8::{i}]:65535").parse().unwrap());
    }
    peer.npds = NPEER as u8;
    let msgs: Vec<(&str, Msg<'_>)> = vec![
        ("GETPEER", Msg::op(Op::Getpeer)),
        ("PEER (2 IPv6 peers)", peer),
        (
            "PUT (1424 bytes)",
            Msg {
                op: Op::Put,
                key: &key,
                val: &val,
                time: &time,
                salt: &salt,
                work: &work,
                pubkey: &pubkey,
                sig: &sig,
                ..Msg::default()
            },
        ),
        (
            "GET by work",
            Msg {
                op: Op::Get,
                work: &work,
                ..Msg::default()
            },
        ),
        (
            "GET by name (32-byte key)",
            Msg {
                op: Op::Get,
                pubkey: &pubkey,
                key: &key,
                ..Msg::default()
            },
        ),
    ];
    println!(
        "| message | bytes | decode ns | encode ns | limit: copy the bytes, ns | encode / limit |"
    );
    println!("|---|---|---|---|---|---|");
    const N: u64 = 1 << 20;
    for (name, m) in &msgs {
        let mut buf = [0u8; 1500];
        let n = wire::encode_into(m, &mut buf).unwrap();
        let bytes = buf[..n].to_vec();
        assert_eq!(
            wire::decode(&bytes).map(|p| p.msg()).as_ref(),
            Ok(m),
            "{name} round-trips"
        );
        let dec = ns_per(7, N, |_| {
            black_box(wire::decode(black_box(&bytes)).is_ok());
        });
        let mut out = [0u8; 1500];
        let enc = ns_per(7, N, |_| {
            black_box(wire::encode_into(black_box(m), &mut out).ok());
        });
        let copy = ns_per(7, N, |_| {
            out[..n].copy_from_slice(black_box(&bytes));
            black_box(&out);
        });
        println!(
            "| {name} | {n} | {dec:.1} | {enc:.1} | {copy:.1} | {:.1} |",
            enc / copy.max(0.1)
        );
    }
    println!("\nDecoding borrows every field, so it reads headers only and can beat the copy. Median of 7 runs of 2^20 calls.");
    println!("Reproduce: `cargo run --release --bin dave-bench -- codec`.");
}
