//! The `sig` section: signature checks and novel PUTs per second on one
//! core.

use crate::bed::Bed;
use crate::{ns_per, si};
use ed25519_dalek::SigningKey;

pub(crate) fn bench_sig() {
    use dave_core::pow;
    use std::hint::black_box;
    println!("\n## Signature checks, one core\n");
    const N: usize = 2048;
    let items: Vec<([u8; 32], [u8; 32], [u8; 64])> = (0..N)
        .map(|i| {
            let key = SigningKey::from_bytes(blake3::hash(&(i as u64).to_le_bytes()).as_bytes());
            let w = *blake3::hash(&(((i as u64) << 32) | 1).to_le_bytes()).as_bytes();
            (key.verifying_key().to_bytes(), w, pow::sign(&key, &w))
        })
        .collect();
    let strict = ns_per(5, N as u64, |i| {
        let (pk, w, sig) = &items[i as usize];
        assert!(black_box(pow::verify(pk, w, sig)));
    });
    let mut bed = Bed::new(2_000, 1_024 + 3_000);
    let fresh = std::mem::take(&mut bed.fresh);
    let s0 = bed.node.stats().puts_novel;
    let novel = bed.feed(fresh.len(), &fresh, |i| i);
    assert_eq!(bed.node.stats().puts_novel - s0, fresh.len() as u64);
    println!("| check | per second | µs each | vs `verify_strict` |");
    println!("|---|---|---|---|");
    let row = |name: &str, ns: f64| {
        println!(
            "| {name} | {} | {:.1} | {:.2} |",
            si(1e9 / ns),
            ns / 1e3,
            strict / ns
        );
    };
    row(
        "`verify_strict` of one signature (the limit for a PUT from the network)",
        strict,
    );
    row(
        "novel full-size PUT through `handle_packet` (decode, work, signature, store)",
        novel,
    );
    println!("\nMedian of 5 runs over {N} distinct keys. Reproduce: `cargo run --release --bin dave-bench -- sig`.");
}
