//! `daved setf` and `daved getf`: files larger than a dat, over the
//! network, with progress on a terminal (the layout and the transfer
//! engines are `dave_files`; this is the command line around them).

use super::client::Client;
use super::values::parse_name;
use super::{estimate, interrupt};
use crate::{difficulty, key_path, parse_num, rt, Fail};
use dave::driver::wall_ms;
use dave::keys;
use dave::roots::NotAFile;
use dave_core::pow;
use dave_core::wire::{hex32, Hex};
use dave_core::Config;
use dave_core::NEVER;
use dave_core::{Event, Node};
use dave_files::{
    Download, DownloadOpts, FetchError, PowProgress, RootRef, Upload, UploadOpts, DEFAULT_WINDOW,
};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest a client loop turn sleeps (mio rounds it up to a millisecond);
/// it wakes at once when a datagram comes, and answers clock the requests.
const TURN: Duration = Duration::from_micros(250);

/// Node settings for a client that moves a file; `dats` is how many dats
/// its store keeps.
fn file_config(cfg: &mut Config, window: usize, dats: usize) {
    cfg.max_gets = window + 16;
    // The client's own gossip (seeds, pulls, automatic GET re-sends) would
    // compete with its paced requests at the receivers' packet filters; a
    // transfer re-sends and retries by itself.
    cfg.seed_epochs = 1 << 40;
    cfg.pull_epochs = 1 << 40;
    *cfg = cfg.clone().with_dat_cap(dats);
}

/// Dats a client's store keeps. Fetched dats are read out as they arrive,
/// so the store only has to hold them that long; but the nodes also seed
/// their dats to the client (it is their peer), and a dat already held
/// costs a lookup where a new one costs a signature check, so the store
/// is large enough to hold a transfer's worth of them.
const CLIENT_DATS: usize = 16384;

fn window(m: &getopts::Matches) -> Result<usize, Fail> {
    let w = parse_num::<usize>(m, "window", "a number of requests")?.unwrap_or(DEFAULT_WINDOW);
    if !(1..=4096).contains(&w) {
        return Err(Fail::Usage("--window must be between 1 and 4096".into()));
    }
    Ok(w)
}

/// Waits briefly for the peers the edge tells of to answer, so a transfer
/// starts spread over several of them. A GETPEER is answered with at most
/// two peers heard from lately, so it asks again every 50 ms until the
/// count of live peers holds still.
fn gather_peers(c: &mut Client, most: Duration) -> Result<(), Fail> {
    let t0 = Instant::now();
    let (mut seen, mut changed, mut asked) = (0, t0, t0);
    while t0.elapsed() < most {
        c.drv.turn(Duration::from_millis(5)).map_err(rt)?;
        if asked.elapsed() >= Duration::from_millis(50) {
            c.drv.node_mut().ask_peers();
            asked = Instant::now();
        }
        let n = live_peers(c.drv.node());
        if n != seen {
            (seen, changed) = (n, Instant::now());
        } else if changed.elapsed() > Duration::from_millis(250) {
            break;
        }
    }
    Ok(())
}

/// Asks for more peers now and then while a transfer runs (new ones join
/// the transfer as they answer).
struct Asker(Instant);

impl Asker {
    fn tick(&mut self, node: &mut Node) {
        if self.0.elapsed() >= Duration::from_secs(1) {
            node.ask_peers();
            self.0 = Instant::now();
        }
    }
}

fn live_peers(node: &Node) -> usize {
    let alive = 2 * node.config().ping_epochs;
    node.peers()
        .iter()
        .filter(|p| p.seen != NEVER && p.silence(node.epoch()) < alive)
        .count()
}

/// One line of progress on standard error: redrawn on a terminal, a JSON
/// line a second with `--json`, nothing otherwise.
struct Meter {
    tty: bool,
    json: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Meter {
    fn new(json: bool) -> Meter {
        Meter {
            tty: std::io::stderr().is_terminal(),
            json,
            last: None,
            drawn: false,
        }
    }

    fn due(&mut self) -> bool {
        if !self.tty && !self.json {
            return false;
        }
        let every = if self.json {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(200)
        };
        if self.last.is_some_and(|t| t.elapsed() < every) {
            return false;
        }
        self.last = Some(Instant::now());
        true
    }

    fn show(&mut self, human: &str, json: &str) {
        let mut err = std::io::stderr().lock();
        if self.json {
            let _ = writeln!(err, "{json}");
        } else {
            let _ = write!(err, "\r\x1b[K{human}");
            self.drawn = true;
        }
        let _ = err.flush();
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            self.drawn = false;
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Bytes in a human unit.
fn size(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

/// Time left at the rate so far.
fn eta(done: f64, total: f64, secs: f64) -> String {
    if done <= 0.0 || done >= total {
        return String::new();
    }
    let left = secs * (total - done) / done;
    if left < 1.0 {
        ", under a second left".into()
    } else {
        format!(", about {} left", estimate::human(left))
    }
}

/// `done` of `total` as a whole percentage, rounded down: 100% only when
/// all is done.
fn percent(done: u64, total: u64) -> String {
    if total == 0 {
        return "100%".into();
    }
    format!("{}%", (done.min(total) as u128 * 100 / total as u128))
}

/// A JSON string.
fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn read_input(path: &str) -> Result<Vec<u8>, Fail> {
    let mut data = Vec::new();
    if path == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut data)
            .map_err(|e| Fail::Runtime(format!("cannot read standard input: {e}")))?;
    } else {
        data =
            std::fs::read(path).map_err(|e| Fail::Runtime(format!("cannot read {path}: {e}")))?;
    }
    Ok(data)
}

/// `daved setf FILE`: cut, prove, send, confirm; print the root.
pub(crate) fn cmd_setf(m: &getopts::Matches, args: &[String]) -> Result<(), Fail> {
    let [path] = args else {
        return Err(Fail::Usage(
            "setf takes one FILE (or - for standard input)".into(),
        ));
    };
    let bits = difficulty(m)?;
    let window = window(m)?;
    let json = m.opt_present("json");
    let name: Vec<u8> = match m.opt_str("name") {
        Some(n) => n.into_bytes(),
        None if path == "-" => Vec::new(),
        None => {
            use std::os::unix::ffi::OsStrExt;
            Path::new(path)
                .file_name()
                .map(|f| f.as_bytes().to_vec())
                .unwrap_or_default()
        }
    };
    if name.len() > dave_files::NAME_MAX {
        return Err(Fail::Usage(format!(
            "the file name is {} bytes; at most {} fit (choose one with --name)",
            name.len(),
            dave_files::NAME_MAX
        )));
    }
    let signer = keys::load(&key_path(m)?).map_err(rt)?;
    let data = read_input(path)?;
    let lay = dave_files::layout(&data, &name).map_err(rt)?;
    drop(data);
    let total = lay.pieces.len();
    // What is sent: the file's distinct chunks and the tree above them.
    let all_bytes: u64 = lay.pieces.iter().map(|p| p.val.len() as u64).sum();
    // Connect first: there is no point working for a network that is not there.
    let mut c = Client::connect_with(m, |cfg| file_config(cfg, window, CLIENT_DATS))?;
    gather_peers(&mut c, Duration::from_secs(1))?;
    estimate::announce(total as u64, bits, json);

    let t0 = Instant::now();
    let time_ms = wall_ms();
    let cores = pow::cores();
    let progress = PowProgress::default();
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, dave_core::Dat)>();
    let tx = std::sync::Mutex::new(tx);
    let opts = UploadOpts {
        window,
        stall: c.timeout,
        ..UploadOpts::default()
    };
    let mut up = Upload::new(total, opts);
    let mut meter = Meter::new(json);
    let mut asker = Asker(Instant::now());
    let mut pow_done: Option<Duration> = None;
    let mut root = None;
    let result: Result<(), Fail> = std::thread::scope(|s| {
        let worker = s.spawn(|| {
            dave_files::make_dats(
                &lay.pieces,
                bits,
                &signer,
                time_ms,
                cores,
                &progress,
                &stop,
                &|i, d| {
                    let _ = tx
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .send((i, d.clone()));
                },
            )
        });
        let r = (|| {
            let mut made = 0usize;
            while !up.is_complete() {
                c.drv.turn(TURN).map_err(rt)?;
                if interrupt::pressed() {
                    // A proof in progress cannot stop early: end here.
                    meter.clear();
                    interrupt::exit_now(&format!(
                        ": setf stopped with {made} of {total} proofs of work made and {} dats confirmed; nothing was written locally",
                        up.confirmed()
                    ));
                }
                let now = Instant::now();
                while let Ok((i, d)) = rx.try_recv() {
                    if i == total - 1 {
                        root = Some((d.work, d.pubkey));
                    }
                    up.add(i, d);
                    made += 1;
                }
                if made == total && pow_done.is_none() {
                    pow_done = Some(t0.elapsed());
                }
                while let Some(ev) = c.drv.node_mut().poll_event() {
                    up.on_event(&ev, now);
                }
                asker.tick(c.drv.node_mut());
                up.step(c.drv.node_mut(), now).map_err(|e| {
                    Fail::Runtime(format!("{e} (proofs of work done: {made} of {total})"))
                })?;
                c.drv.flush();
                if meter.due() {
                    let secs = t0.elapsed().as_secs_f64();
                    let (done, bytes) = (up.confirmed(), up.bytes_confirmed());
                    meter.show(
                        &format!(
                            "setf: proof of work {made}/{total} dats ({bits} bits, {cores} cores), confirmed {done}/{total}, {} of {} ({}), {}/s, {:.1} s{}, {} peers",
                            size(bytes),
                            size(all_bytes),
                            percent(bytes, all_bytes),
                            size((bytes as f64 / secs.max(1e-9)) as u64),
                            secs,
                            eta(done as f64, total as f64, secs),
                            up.peers()
                        ),
                        &format!(
                            "{{\"progress\":\"setf\",\"made\":{made},\"confirmed\":{done},\"dats\":{total},\"bytes\":{bytes},\"bytes_total\":{all_bytes},\"seconds\":{secs:.3},\"peers\":{}}}",
                            up.peers()
                        ),
                    );
                }
            }
            Ok(())
        })();
        if r.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let _ = worker.join();
        r
    });
    meter.clear();
    result?;
    up.cancel(c.drv.node_mut());
    let took = t0.elapsed();
    let pow_secs = pow_done.unwrap_or(took).as_secs_f64();
    let Some((work, pubkey)) = root else {
        return Err(Fail::Runtime(
            "the upload ended before its root was made".into(),
        ));
    };
    let st = up.stats();
    let chunks = lay.chunk_pieces();
    let pointers = total - chunks - 1;
    let positions = lay.shape.positions();
    let secs = took.as_secs_f64();
    let rate = lay.shape.len as f64 / secs.max(1e-9);
    if json {
        println!(
            "{{\"root\":\"{}\",\"pubkey\":\"{}\",\"name\":\"hex:{}\",\"file_name\":{},\"size\":{},\"dats\":{total},\"chunks\":{chunks},\"pointers\":{pointers},\"places\":{positions},\"height\":{},\"bits\":{bits},\"seconds\":{secs:.3},\"pow_seconds\":{pow_secs:.3},\"network_tail_seconds\":{:.3},\"bytes_per_second\":{rate:.0},\"puts\":{},\"gets\":{},\"timeouts\":{},\"peers\":{},\"window\":{window}}}",
            Hex(&work),
            Hex(&pubkey),
            Hex(&lay.root_key),
            js(&String::from_utf8_lossy(&lay.name)),
            lay.shape.len,
            lay.shape.height,
            secs - pow_secs,
            st.puts,
            st.gets,
            st.timeouts,
            up.peers()
        );
    } else {
        println!("root   {}", Hex(&work));
        println!("pubkey {}", Hex(&pubkey));
        println!("name   hex:{}", Hex(&lay.root_key));
        let repeats = positions - total as u64;
        eprintln!(
            "{} in {total} dats ({chunks} chunks, {pointers} pointers, root; {repeats} repeats free), {secs:.2} s ({}/s): proof of work {pow_secs:.2} s ({bits} bits, {cores} cores), network {:.2} s after the last proof; {} PUTs, {} answered, {} timed out and sent again, {} peers",
            size(lay.shape.len),
            size(rate as u64),
            secs - pow_secs,
            st.puts,
            st.answered,
            st.timeouts,
            up.peers()
        );
    }
    Ok(())
}

/// Largest file `getf -o -` accepts: it is held in memory until verified.
const STDOUT_MAX: u64 = 1 << 30;

/// Where `getf` writes.
enum Dest {
    /// `-o -`: standard output, once everything is verified.
    Stdout,
    /// `-o FILE`: replaced if it exists.
    Given(PathBuf),
    /// The name the root records, in the current directory; never replaced.
    Recorded,
}

/// A recorded name, if it is safe to create in the current directory.
fn safe_name(name: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(name).ok()?;
    let ok = !s.is_empty()
        && s != "."
        && s != ".."
        && !s.starts_with('-')
        && !s.contains('/')
        && !s.chars().any(char::is_control);
    ok.then(|| s.to_string())
}

/// `daved getf HASH` or `daved getf PUBKEY NAME`: fetch, verify, write.
pub(crate) fn cmd_getf(m: &getopts::Matches, args: &[String]) -> Result<(), Fail> {
    let root = match args {
        [h] => RootRef::Work(
            hex32(h)
                .ok_or_else(|| Fail::Usage(format!("`{h}` is not a root hash (64 hex digits)")))?,
        ),
        [pk, name] => {
            let pubkey = hex32(pk).ok_or_else(|| {
                Fail::Usage(format!("`{pk}` is not a public key (64 hex digits)"))
            })?;
            let key: [u8; 32] = parse_name(name)?.try_into().map_err(|_| {
                Fail::Usage(format!(
                    "`{name}` is not a file's name (hex: and 64 digits, as setf printed it)"
                ))
            })?;
            RootRef::Name { pubkey, key }
        }
        _ => return Err(Fail::Usage("getf takes HASH, or PUBKEY NAME".into())),
    };
    let json = m.opt_present("json");
    let dest = match m.opt_str("o").as_deref() {
        Some("-") if json => {
            return Err(Fail::Usage(
                "--json prints its summary on standard output; write the file with -o FILE".into(),
            ))
        }
        Some("-") => Dest::Stdout,
        Some(p) => Dest::Given(PathBuf::from(p)),
        None => Dest::Recorded,
    };
    let window = window(m)?;
    // The temporary file sits beside the destination, so the rename is atomic.
    let dir = match &dest {
        Dest::Given(p) => match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        },
        _ => PathBuf::from("."),
    };
    // Fail on an unwritable destination before using the network.
    let mut part = Part::new(&dest, &dir)?;
    let connected = Client::connect_with(m, |cfg| file_config(cfg, window, CLIENT_DATS))
        .and_then(|mut c| gather_peers(&mut c, Duration::from_millis(500)).map(|_| c));
    let mut c = match connected {
        Ok(c) => c,
        Err(e) => {
            part.discard();
            return Err(e);
        }
    };
    let opts = DownloadOpts {
        window,
        stall: c.timeout,
        // Standard output is written from memory, once all is verified.
        max_len: match dest {
            Dest::Stdout => STDOUT_MAX,
            _ => dave_files::DEFAULT_MAX_LEN,
        },
        ..DownloadOpts::default()
    };
    let mut dl = Download::new(root, opts);
    let mut meter = Meter::new(json);
    let mut asker = Asker(Instant::now());
    let t0 = Instant::now();
    let mut target: Option<PathBuf> = None;
    let r: Result<(), Fail> = (|| {
        while !dl.is_complete() {
            c.drv.turn(TURN).map_err(rt)?;
            interrupt::check()?;
            let now = Instant::now();
            while let Some(ev) = c.drv.node_mut().poll_event() {
                dl.on_event(c.drv.node(), &ev, part.sink(), now)
                    .map_err(|e| fetch_fail(e, &root, dl.info().is_some(), c.drv.node()))?;
                if let (Event::Got { .. }, None, Some(info)) = (ev, &target, dl.info()) {
                    target = Some(decide_target(&dest, &info.name)?);
                }
            }
            asker.tick(c.drv.node_mut());
            dl.step(c.drv.node_mut(), now)
                .map_err(|e| fetch_fail(e, &root, dl.info().is_some(), c.drv.node()))?;
            c.drv.flush();
            if meter.due() {
                let p = dl.progress();
                let secs = t0.elapsed().as_secs_f64();
                let td = p.dats_total.unwrap_or(0);
                meter.show(
                    &format!(
                        "getf: {}/{} dats, {} of {}{}, {}/s, {:.1} s{}, {} peers, {} in flight",
                        p.dats,
                        p.dats_total.map_or("?".into(), |t| t.to_string()),
                        size(p.bytes),
                        p.bytes_total.map_or("?".into(), size),
                        p.bytes_total.map_or(String::new(), |t| format!(" ({})", percent(p.bytes, t))),
                        size((p.bytes as f64 / secs.max(1e-9)) as u64),
                        secs,
                        eta(p.dats as f64, td as f64, secs),
                        dl.peers(),
                        dl.in_flight()
                    ),
                    &format!(
                        "{{\"progress\":\"getf\",\"dats\":{},\"dats_total\":{},\"bytes\":{},\"bytes_total\":{},\"seconds\":{secs:.3},\"peers\":{},\"in_flight\":{}}}",
                        p.dats,
                        p.dats_total.map_or("null".into(), |t| t.to_string()),
                        p.bytes,
                        p.bytes_total.map_or("null".into(), |t| t.to_string()),
                        dl.peers(),
                        dl.in_flight()
                    ),
                );
            }
        }
        Ok(())
    })();
    meter.clear();
    dl.cancel(c.drv.node_mut());
    if let Err(e) = r {
        part.discard();
        return Err(e);
    }
    let took = t0.elapsed().as_secs_f64();
    let Some(info) = dl.info().cloned() else {
        return Err(Fail::Runtime(
            "the download ended before the file's root was read".into(),
        ));
    };
    let target = match target {
        Some(t) => Some(t),
        None => match decide_target(&dest, &info.name) {
            Ok(t) => Some(t),
            Err(e) => {
                part.discard();
                return Err(e);
            }
        },
    };
    let replace = !matches!(dest, Dest::Recorded);
    let written = part.finish(target.as_deref(), replace)?;
    let p = dl.progress();
    let st = dl.stats();
    let rate = info.shape.len as f64 / took.max(1e-9);
    if json {
        println!(
            "{{\"root\":\"{}\",\"pubkey\":\"{}\",\"name\":\"hex:{}\",\"file_name\":{},\"path\":{},\"size\":{},\"dats\":{},\"height\":{},\"seconds\":{took:.3},\"bytes_per_second\":{rate:.0},\"gets\":{},\"answered\":{},\"local\":{},\"timeouts\":{},\"peers\":{},\"window\":{window}}}",
            Hex(&info.root_work),
            Hex(&info.pubkey),
            Hex(&info.root_key),
            js(&String::from_utf8_lossy(&info.name)),
            js(&written),
            info.shape.len,
            p.dats,
            info.shape.height,
            st.gets,
            st.answered,
            st.local,
            st.timeouts,
            dl.peers()
        );
    } else {
        eprintln!(
            "wrote {written}: {} in {} dats, {took:.2} s ({}/s), verified; {} gets ({} timed out and were asked again), window {window}, {} peers",
            size(info.shape.len),
            p.dats,
            size(rate as u64),
            st.gets,
            st.timeouts,
            dl.peers()
        );
    }
    Ok(())
}

/// A failed read, said plainly: a root that never came, a dat that is a
/// value (or a piece of a file) rather than a file's root, or what went
/// wrong with the file. `known` is whether the root was read; `node` is
/// the client's node, which holds the dat a refused root came in.
fn fetch_fail(e: FetchError, root: &RootRef, known: bool, node: &Node) -> Fail {
    if !known {
        if let FetchError::Stalled { secs, peers, .. } = &e {
            let asked = peers
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Fail::Named(
                "root_not_found",
                format!("root not found: no peer had {root} within {secs:.1} s (asked {asked})"),
            );
        }
        match dave::roots::not_a_file(node, root) {
            Some(NotAFile::Piece) => {
                return Fail::Named(
                    "not_a_file",
                    format!(
                        "{root} is a piece inside a file, not a file: give the root setf printed"
                    ),
                )
            }
            Some(NotAFile::Value(len)) => {
                return Fail::Named(
                    "not_a_file",
                    format!(
                        "this is a value, not a file: {root} holds {len} bytes; read it with `{}`",
                        dave::roots::get_command(root)
                    ),
                )
            }
            None => {}
        }
    }
    match e {
        FetchError::Stalled { .. } => Fail::Named("stalled", format!("file {root}: {e}")),
        FetchError::Refused(why) => Fail::Named("refused", format!("file {root} refused: {why}")),
        FetchError::Io(e) => Fail::Named("io", format!("file {root}: cannot write: {e}")),
        e => Fail::Named("bad_file", format!("file {root} refused: {e}")),
    }
}

/// The final path, decided as soon as the root tells the recorded name.
fn decide_target(dest: &Dest, name: &[u8]) -> Result<PathBuf, Fail> {
    match dest {
        Dest::Stdout => Ok(PathBuf::from("-")),
        Dest::Given(p) => Ok(p.clone()),
        Dest::Recorded => {
            let n = safe_name(name).ok_or_else(|| {
                Fail::Runtime(if name.is_empty() {
                    "the file records no name: give -o FILE (or -o - for standard output)".into()
                } else {
                    format!(
                        "the recorded name `{}` is not safe to create here: give -o FILE",
                        String::from_utf8_lossy(name).escape_debug()
                    )
                })
            })?;
            let p = PathBuf::from(&n);
            if p.symlink_metadata().is_ok() {
                return Err(Fail::Runtime(format!(
                    "{n} exists; not replacing it (give -o {n} to replace it)"
                )));
            }
            Ok(p)
        }
    }
}

/// The file being written: a temporary file renamed when complete, or
/// memory for standard output.
enum Part {
    Mem(Vec<u8>),
    File(std::fs::File, PathBuf),
}

impl Part {
    fn new(dest: &Dest, dir: &Path) -> Result<Part, Fail> {
        if let Dest::Stdout = dest {
            return Ok(Part::Mem(Vec::new()));
        }
        let tmp = dir.join(format!(".daved-getf-{}.part", std::process::id()));
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Fail::Runtime(format!("cannot create {}: {e}", tmp.display())))?;
        Ok(Part::File(f, tmp))
    }

    fn sink(&mut self) -> &mut dyn dave_files::Sink {
        match self {
            Part::Mem(v) => v,
            Part::File(f, _) => f,
        }
    }

    fn discard(self) {
        if let Part::File(_, tmp) = self {
            let _ = std::fs::remove_file(tmp);
        }
    }

    /// Syncs and renames the file into place (or prints it); returns where
    /// it went. Without `replace`, an existing file is never overwritten,
    /// even one created since the check (a hard link fails if the name is
    /// taken; a rename would not).
    fn finish(self, target: Option<&Path>, replace: bool) -> Result<String, Fail> {
        match self {
            Part::Mem(v) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&v).and_then(|_| out.flush()).map_err(rt)?;
                Ok("standard output".into())
            }
            Part::File(f, tmp) => {
                let Some(target) = target else {
                    return Err(Fail::Runtime(
                        "no destination for the downloaded file".into(),
                    ));
                };
                let r = f.sync_all().and_then(|_| {
                    if replace {
                        std::fs::rename(&tmp, target)
                    } else {
                        std::fs::hard_link(&tmp, target).and_then(|_| std::fs::remove_file(&tmp))
                    }
                });
                if let Err(e) = r {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(Fail::Runtime(format!(
                        "cannot write {}: {e}",
                        target.display()
                    )));
                }
                Ok(target.display().to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_never_ahead() {
        assert_eq!(percent(0, 10), "0%");
        assert_eq!(percent(1_999_999, 2_000_000), "99%");
        assert_eq!(percent(2_000_000, 2_000_000), "100%");
        assert_eq!(eta(0.0, 10.0, 1.0), "");
        assert_eq!(eta(10.0, 10.0, 1.0), "");
        assert_eq!(eta(99.0, 100.0, 10.0), ", under a second left");
        assert_eq!(eta(50.0, 100.0, 30.0), ", about 30 s left");
        assert_eq!(eta(10.0, 100.0, 600.0), ", about 1.5 h left");
        assert_eq!(eta(10.0, 100.0, 60.0), ", about 9 min left");
    }
}
