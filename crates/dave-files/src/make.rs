//! Making a tree of dats: proof of work for every piece, one piece per core
//! at a time (many small solves parallelise better than one solve on many
//! cores, which must stop every thread at each hit).

use crate::layout::Piece;
use dave_core::Dat;
use ed25519_dalek::SigningKey;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Counters a caller can watch while [`make_dats`] runs.
#[derive(Debug, Default)]
pub struct PowProgress {
    /// Pieces done.
    pub dats: AtomicU64,
    /// Hash attempts made (updated every few thousand attempts).
    pub attempts: AtomicU64,
}

/// Makes every piece into a dat (proof of work to `bits`, signed, all
/// stamped `time_ms`) on `threads` threads, each solving one piece at a
/// time; `done` is called from the worker threads with each piece's index
/// and dat as soon as it is made (for pushing while the rest is worked
/// on). Setting `stop` makes the threads return after their current
/// piece. Returns the dats made, in piece order.
#[allow(clippy::too_many_arguments)]
pub fn make_dats(
    pieces: &[Piece],
    bits: u8,
    signer: &SigningKey,
    time_ms: u64,
    threads: usize,
    progress: &PowProgress,
    stop: &AtomicBool,
    done: &(dyn Fn(usize, &Dat) + Sync),
) -> Vec<Dat> {
    let next = AtomicUsize::new(0);
    let threads = threads.clamp(1, pieces.len().max(1));
    let mut parts: Vec<Vec<(usize, Dat)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = pieces.get(i) else { break };
                        let (dat, _) = Dat::make(
                            &p.key,
                            &p.val,
                            time_ms,
                            bits,
                            signer,
                            1,
                            Some(&progress.attempts),
                        )
                        .expect("pieces fit in a dat by construction");
                        progress.dats.fetch_add(1, Ordering::Relaxed);
                        done(i, &dat);
                        mine.push((i, dat));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a proof-of-work thread panicked"))
            .collect()
    });
    let mut all: Vec<(usize, Dat)> = parts.iter_mut().flat_map(std::mem::take).collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, d)| d).collect()
}
