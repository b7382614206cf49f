//! How long a proof of work should take here: the search rate measured
//! briefly on every core, before `set` or `setf` starts.

use dave_core::pow::{self, Path};
use std::time::{Duration, Instant};

/// Attempts each core makes to measure the rate (a few milliseconds).
const PROBE: u64 = 1 << 17;

/// Past this, the estimate comes with a warning.
pub(crate) const LONG: Duration = Duration::from_secs(60);

/// Proof-of-work attempts per second on `cores` cores, measured now with
/// the search `solve` uses.
pub(crate) fn rate(cores: usize) -> f64 {
    let load = pow::load(b"estimate", b"", &[0; 8]);
    let path = Path::best();
    let t0 = Instant::now();
    let attempts: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..cores.max(1) as u64)
            .map(|t| {
                // 255 bits never succeeds: every attempt is made.
                s.spawn(move || path.search(&load, 255, t << 40, 1, PROBE).attempts)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    attempts as f64 / t0.elapsed().as_secs_f64().max(1e-9)
}

/// Expected seconds for `dats` proofs of `bits` bits at `rate` attempts
/// per second (2^bits attempts each, on average).
pub(crate) fn expected_secs(dats: u64, bits: u8, rate: f64) -> f64 {
    dats as f64 * 2f64.powi(bits as i32) / rate.max(1.0)
}

/// A duration for people: `0.3 s`, `45 s`, `12 min`, `2.1 h`, `3.4 days`.
pub(crate) fn human(secs: f64) -> String {
    if secs < 0.05 {
        "under 0.1 s".into()
    } else if secs < 10.0 {
        format!("{secs:.1} s")
    } else if secs < 90.0 {
        format!("{secs:.0} s")
    } else if secs < 5400.0 {
        format!("{:.0} min", secs / 60.0)
    } else if secs < 172_800.0 {
        format!("{:.1} h", secs / 3600.0)
    } else if secs < 3.2e9 {
        format!("{:.1} days", secs / 86400.0)
    } else {
        format!("{:.1e} years", secs / 3.156e7)
    }
}

/// An attempt rate: `38 M attempts/s`.
pub(crate) fn per_second(rate: f64) -> String {
    if rate >= 1e9 {
        format!("{:.1} G attempts/s", rate / 1e9)
    } else if rate >= 1e6 {
        format!("{:.0} M attempts/s", rate / 1e6)
    } else {
        format!("{:.0} k attempts/s", rate / 1e3)
    }
}

/// Says, on standard error, what the proof of work should take here, and
/// warns past a minute (with `json`, as one JSON line).
pub(crate) fn announce(dats: u64, bits: u8, json: bool) {
    let cores = pow::cores();
    let r = rate(cores);
    let secs = expected_secs(dats, bits, r);
    if json {
        eprintln!(
            "{{\"estimate\":\"proof_of_work\",\"dats\":{dats},\"bits\":{bits},\"cores\":{cores},\"attempts_per_second\":{r:.0},\"expected_seconds\":{secs:.3},\"long\":{}}}",
            secs > LONG.as_secs_f64()
        );
        return;
    }
    let what = if dats == 1 {
        format!("{bits} bits")
    } else {
        format!("{dats} dats of {bits} bits")
    };
    eprintln!(
        "proof of work: {what}, expected {} here ({} on {cores} cores; each bit doubles it)",
        human(secs),
        per_second(r)
    );
    if secs > LONG.as_secs_f64() {
        eprintln!(
            "daved: warning: that is more than a minute; a lower -d is quicker (Ctrl-C stops)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(0.01), "under 0.1 s");
        assert_eq!(human(0.34), "0.3 s");
        assert_eq!(human(45.2), "45 s");
        assert_eq!(human(720.0), "12 min");
        assert_eq!(human(7560.0), "2.1 h");
        assert_eq!(human(3.0 * 86400.0), "3.0 days");
        assert_eq!(expected_secs(2, 10, 1024.0), 2.0);
    }

    #[test]
    fn the_rate_is_measured() {
        let r = rate(1);
        assert!(r > 1e4, "{r} attempts/s");
    }
}
