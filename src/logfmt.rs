//! Log output: every line starts with a `/fn/proc/action` path so operators
//! can grep for it. A node writes its lines to standard output (so
//! `daved -v | grep /d/pr` works as written); a client command writes its
//! node's lines, only with `-v`, to standard error, since its standard
//! output carries what it prints. On a terminal or a file each line gets a
//! UTC timestamp; under systemd (`JOURNAL_STREAM` set) it gets a `<N>`
//! priority prefix and no timestamp, because journald adds its own.

use dave_core::wire::Hex;
use dave_core::{Note, Reason};
use log::{debug, info, Level, LevelFilter};
use std::io::Write;

/// The syslog priority journald reads from a `<N>` prefix.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for ms since the Unix epoch.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86400) as i64;
    let sod = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms % 1000
    )
}

/// Writes one of the core's notes as its log line.
pub fn log_note(n: &Note) {
    match *n {
        // A prune that dropped nothing (every PRUNE epochs, 2.1 s at the
        // default EPOCH) says nothing the status line does not: only -v
        // shows it.
        Note::Pruned {
            kept,
            before,
            cap,
            peers,
        } if kept >= before => {
            debug!("/d/pr kept {kept} of {before} dats (cap {cap}), {peers} peers")
        }
        Note::Pruned {
            kept,
            before,
            cap,
            peers,
        } => info!("/d/pr kept {kept} of {before} dats (cap {cap}), {peers} peers"),
        Note::Dropped { reason, src, bytes } => match reason {
            Reason::Decode(_) | Reason::Filter => {
                debug!("/lstn/drop/{reason} from {src} ({bytes} bytes)")
            }
            _ => debug!("/d/h/drop/{reason} from {src}"),
        },
        Note::EncodeFailed(e) => debug!("/d/send/encode {e}"),
        Note::Pinged(to) => debug!("/d/pi/ping {to}"),
        Note::PeerDropped { addr, silence } => {
            debug!("/d/pi/drop {addr} silent {silence} epochs")
        }
        Note::PeerAdded(a) => debug!("/d/pi/add {a}"),
        Note::PeerLearned { addr, from } => debug!("/d/pi/learn {addr} from {from}"),
        Note::Put { work, peers } => debug!("/d/put {} to {peers} peers", Hex(&work)),
        Note::Novel {
            work,
            difficulty,
            val_len,
            from,
        } => debug!(
            "/d/h/put/novel {} d={difficulty} {val_len} bytes from {from}",
            Hex(&work)
        ),
    }
}

/// Installs a node's logger, on standard output: info by default, debug
/// with `verbose`; `RUST_LOG` overrides both.
pub fn init(verbose: bool) {
    install(
        if verbose {
            LevelFilter::Debug
        } else {
            LevelFilter::Info
        },
        env_logger::Target::Stdout,
    );
}

/// Installs a client command's logger, on standard error: its node's lines
/// at debug with `verbose`, otherwise only warnings; `RUST_LOG` overrides
/// both.
pub fn init_client(verbose: bool) {
    install(
        if verbose {
            LevelFilter::Debug
        } else {
            LevelFilter::Warn
        },
        env_logger::Target::Stderr,
    );
}

fn install(level: LevelFilter, target: env_logger::Target) {
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let mut b = env_logger::Builder::new();
    b.filter_level(level);
    b.target(target);
    b.parse_env("RUST_LOG");
    b.format(move |buf, rec| {
        if journald {
            writeln!(buf, "<{}>{}", priority(rec.level()), rec.args())
        } else {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            writeln!(buf, "{} {}", utc(ms), rec.args())
        }
    });
    let _ = b.try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::utc(1763700000123), "2025-11-21T04:40:00.123Z");
        assert_eq!(super::utc(951782400000), "2000-02-29T00:00:00.000Z");
    }
}
