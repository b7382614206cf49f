//! The `log` section: what a log line costs when its level is off, as in a
//! node run without `-v` (the level is a runtime check in every build).

use crate::ns_per;
use std::hint::black_box;

pub(crate) fn bench_log() {
    // The node's own logger at its default level (info): debug lines off.
    dave::logfmt::init(false);
    log::set_max_level(log::LevelFilter::Info);
    assert!(!log::log_enabled!(log::Level::Debug));
    println!("\n## A disabled log line\n");
    const ITERS: u64 = 20_000_000;
    let empty = ns_per(9, ITERS, |i| {
        black_box(i);
    });
    let line = ns_per(9, ITERS, |i| {
        log::debug!("/d/pi/add 127.0.0.1:{}", black_box(i));
    });
    let note = ns_per(9, ITERS, |i| {
        let n = dave_core::Note::PeerAdded(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            black_box(i) as u16,
        )));
        dave::logfmt::log_note(black_box(&n));
    });
    println!("| loop body | ns per iteration | beyond the empty loop |");
    println!("|---|---|---|");
    println!("| empty (`black_box(i)`) | {empty:.2} | |");
    println!(
        "| `log::debug!` with the level at info | {line:.2} | {:.2} ns |",
        line - empty
    );
    println!(
        "| `logfmt::log_note` of a debug-level note (a call, the match on the note, the check) | {note:.2} | {:.2} ns |",
        note - empty
    );
}
