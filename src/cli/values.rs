//! `daved set` and `daved get`: one value, written with proof of work and
//! a signature, or read by work hash or by name.

use super::client::Client;
use super::{estimate, interrupt};
use crate::{difficulty, key_path, rt, Fail};
use dave::driver::wall_ms;
use dave::keys;
use dave_core::pow;
use dave_core::wire::{hex32, parse_hex, Hex, KEY_MAX};
use dave_core::Dat;
use dave_core::{GetOpts, Query, MAX_FANOUT};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) fn parse_name(s: &str) -> Result<Vec<u8>, Fail> {
    let bytes = match s.strip_prefix("hex:") {
        Some(h) => {
            let mut out = vec![0u8; h.len() / 2];
            if h.len() % 2 != 0 || !parse_hex(h, &mut out) {
                return Err(Fail::Usage(format!(
                    "`{s}`: after hex: give an even number of hex digits"
                )));
            }
            out
        }
        None => s.as_bytes().to_vec(),
    };
    if bytes.len() > KEY_MAX {
        return Err(Fail::Usage(format!(
            "name `{s}` is {} bytes; at most {KEY_MAX} fit",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// A name as the user would type it back.
pub(crate) fn show_name(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(t) if !t.starts_with("hex:") && t.chars().all(|c| !c.is_control()) && !t.is_empty() => {
            t.to_string()
        }
        _ => format!("hex:{}", Hex(key)),
    }
}

pub(crate) fn cmd_set(m: &getopts::Matches, val: &[u8]) -> Result<(), Fail> {
    let bits = difficulty(m)?;
    let key = match m.opt_str("key") {
        Some(k) => parse_name(&k)?,
        None => blake3::hash(val).as_bytes().to_vec(),
    };
    let signer = keys::load(&key_path(m)?).map_err(rt)?;
    let max = dave_core::wire::max_val_len(key.len(), pow::SOLVER_SALT_LEN);
    if val.len() > max {
        return Err(Fail::Usage(format!(
            "the value is {} bytes; at most {max} fit in one dat with this name: write it as a file with `daved setf FILE` (or `daved setf -` to read standard input)",
            val.len()
        )));
    }
    // Connect first: there is no point working for a network that is not there.
    let mut c = Client::connect(m)?;
    estimate::announce(1, bits, false);
    let (dat, attempts, took) = solve_with_progress(&key, val, bits, &signer).map_err(rt)?;
    c.settle(Duration::from_millis(300))?;
    let time = dat.time_ms.to_le_bytes();
    let work = c.drv.node_mut().put(&dat.msg(&time)).map_err(rt)?;
    let sent: Vec<SocketAddr> = c.drv.node().last_sent().to_vec();
    if sent.is_empty() {
        return Err(Fail::Runtime(format!(
            "no peer to send to (edges: {})",
            c.edge_list()
        )));
    }
    c.drv.flush();
    let mut avoid = [None; MAX_FANOUT];
    for (a, s) in avoid.iter_mut().zip(&sent) {
        *a = Some(*s);
    }
    let t0 = Instant::now();
    let epochs = c.drv.epochs(c.timeout);
    let id = c
        .drv
        .node_mut()
        .get(
            Query::Work(work),
            GetOpts {
                timeout_epochs: epochs,
                network_only: true,
                avoid,
            },
        )
        .map_err(|e| Fail::Runtime(format!("{e:?}")))?;
    let confirmed = c.wait(id)?;
    let sent_list = sent
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "proof of work: {bits} bits in {:.2} s ({attempts} attempts on {} cores)",
        took.as_secs_f64(),
        pow::cores()
    );
    println!("work   {}", Hex(&work));
    println!("pubkey {}", Hex(&dat.pubkey));
    println!("name   {}", show_name(&dat.key));
    match confirmed {
        Some((_, from)) => {
            let by = from.map_or("the local store".to_string(), |a| a.to_string());
            eprintln!(
                "sent to {sent_list}; confirmed by {by} in {:.3} s",
                t0.elapsed().as_secs_f64()
            );
            Ok(())
        }
        None => Err(Fail::Runtime(format!(
            "sent to {sent_list}, but no peer returned it within {:.1} s (asked: {})",
            c.timeout.as_secs_f64(),
            c.live_peers()
        ))),
    }
}

/// Runs the proof of work on every core, showing progress on a terminal;
/// Ctrl-C ends the process with a clean line.
fn solve_with_progress(
    key: &[u8],
    val: &[u8],
    bits: u8,
    signer: &ed25519_dalek::SigningKey,
) -> Result<(Dat, u64, Duration), dave_core::MakeError> {
    let progress = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let tty = std::io::stderr().is_terminal();
    let t0 = Instant::now();
    let res = std::thread::scope(|s| {
        s.spawn(|| {
            let mut drawn = Instant::now();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                let n = progress.load(Ordering::Relaxed);
                if interrupt::pressed() {
                    interrupt::exit_now(&format!(
                        ": the proof of work stopped after {n} attempts"
                    ));
                }
                if !tty || drawn.elapsed() < Duration::from_millis(200) {
                    continue;
                }
                drawn = Instant::now();
                let secs = t0.elapsed().as_secs_f64();
                // Expected attempts: 2^bits.
                let expect = 2f64.powi(bits as i32);
                eprint!(
                    "\rproof of work: {bits} bits, {n} attempts ({:.1} M/s), {:.1} s, {:.0}% of the expected work ",
                    n as f64 / secs / 1e6,
                    secs,
                    (n as f64 / expect * 100.0).min(999.0)
                );
            }
            if tty {
                eprint!("\r\x1b[K");
                let _ = std::io::stderr().flush();
            }
        });
        let r = Dat::make(
            key,
            val,
            wall_ms(),
            bits,
            signer,
            pow::cores(),
            Some(&progress),
        );
        done.store(true, Ordering::Relaxed);
        r
    });
    let (dat, attempts) = res?;
    Ok((dat, attempts, t0.elapsed()))
}

pub(crate) fn cmd_get(m: &getopts::Matches, args: &[String]) -> Result<(), Fail> {
    let query = match args {
        [h] => Query::Work(
            hex32(h)
                .ok_or_else(|| Fail::Usage(format!("`{h}` is not a work hash (64 hex digits)")))?,
        ),
        [pk, name] => {
            let p = hex32(pk).ok_or_else(|| {
                Fail::Usage(format!("`{pk}` is not a public key (64 hex digits)"))
            })?;
            let key = parse_name(name)?;
            Query::name(p, &key).ok_or_else(|| {
                Fail::Usage(format!("name `{name}` is longer than {KEY_MAX} bytes"))
            })?
        }
        _ => return Err(Fail::Usage("get takes HASH, or PUBKEY NAME".into())),
    };
    let mut c = Client::connect(m)?;
    let epochs = c.drv.epochs(c.timeout);
    let id = c
        .drv
        .node_mut()
        .get(query, GetOpts::timeout(epochs))
        .map_err(|e| Fail::Runtime(format!("{e:?}")))?;
    match c.wait(id)? {
        Some((work, _)) => {
            let node = c.drv.node();
            let dat = node.dat_by_work(&work).ok_or_else(|| {
                Fail::Runtime("the dat was pruned before it could be read".into())
            })?;
            let mut out = std::io::stdout().lock();
            out.write_all(dat.val).map_err(rt)?;
            if std::io::stdout().is_terminal() {
                out.write_all(b"\n").map_err(rt)?;
            }
            out.flush().map_err(rt)?;
            Ok(())
        }
        None => Err(Fail::Runtime(format!(
            "not found: asked {} for {:.1} s",
            c.live_peers(),
            c.timeout.as_secs_f64()
        ))),
    }
}
