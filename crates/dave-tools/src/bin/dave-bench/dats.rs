//! The datagrams the benchmarks feed: valid dats made on every core, and
//! the PUT inside one.

use crate::now_ms;
use dave_core::Dat;
use ed25519_dalek::SigningKey;

/// Makes `n` distinct valid 8-bit dats on every core.
pub(crate) fn make_dats(n: usize, val_len: usize) -> Vec<Vec<u8>> {
    make_dats_named(n, val_len, "k")
}

/// Like [`make_dats`], with keys `{prefix}{i}` so that batches made with
/// different prefixes are distinct names. A value longer than fits is cut to
/// the largest that does.
pub(crate) fn make_dats_named(n: usize, val_len: usize, prefix: &str) -> Vec<Vec<u8>> {
    let cores = dave_core::pow::cores();
    let t = now_ms() - 60_000;
    let per = n.div_ceil(cores);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..cores)
            .map(|c| {
                s.spawn(move || {
                    let who = SigningKey::from_bytes(&[c as u8 + 1; 32]);
                    let mut out = Vec::new();
                    for i in c * per..((c + 1) * per).min(n) {
                        let key = format!("{prefix}{i}");
                        let mut val = format!("dat {prefix}{i} ").into_bytes();
                        val.resize(
                            val_len.min(dave_core::wire::max_val_len(key.len(), 8)),
                            b'.',
                        );
                        let d = Dat::make(
                            key.as_bytes(),
                            &val,
                            t + (i % 50_000) as u64,
                            8,
                            &who,
                            1,
                            None,
                        )
                        .expect("fits")
                        .0;
                        let time = d.time_ms.to_le_bytes();
                        let mut buf = [0u8; 1500];
                        let len =
                            dave_core::wire::encode_into(&d.msg(&time), &mut buf).expect("fits");
                        out.push(buf[..len].to_vec());
                    }
                    out
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// The PUT in one of the benchmark's own encodings.
pub(crate) fn put_of(bytes: &[u8]) -> dave_core::wire::Put<'_> {
    match dave_core::wire::decode(bytes) {
        Ok(dave_core::wire::Packet::Put(p)) => p,
        other => panic!("the benchmark made a datagram that is not a PUT: {other:?}"),
    }
}
