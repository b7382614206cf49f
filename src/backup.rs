//! The backup file (docs/protocol.md section 7): one record per novel dat, a u16
//! little-endian length and then the PUT message bytes.
//!
//! Records are self-checking: on load each one is decoded and its proof of
//! work and signature verified, so a torn or corrupt stretch is found,
//! reported with its byte offset and size, and never loaded. After a corrupt
//! stretch the loader resynchronises on the next offset where a valid record
//! starts, so one bad byte costs one record, not the rest of the file.
//!
//! On start the file is loaded, pruned to DAT_CAP, and rewritten atomically
//! (temporary file, fsync, rename, fsync of the directory). While running,
//! novel dats are appended and the file is flushed and fsynced at least
//! every second and on stop. When it grows past [`COMPACT_FACTOR`] times
//! the live set it is rewritten from the store.
//!
//! Beside it, `FILE.peers` keeps the peers that answered recently (one
//! address per line), so a restarted node rejoins without its edges.

use dave_core::wire::{self, Op, Packet, MTU};
use dave_core::NEVER;
use dave_core::{check_put, Node};
use log::{debug, info, warn};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The file is compacted when it is larger than this many times the live set.
pub const COMPACT_FACTOR: u64 = 4;
/// ... and larger than this (small files are left alone).
pub const COMPACT_MIN_BYTES: u64 = 4 << 20;
/// Longest time appended records wait before an fsync.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Peers saved in `FILE.peers`.
pub const PEERS_SAVED: usize = 64;
/// How often `FILE.peers` is rewritten.
pub const PEERS_EVERY: Duration = Duration::from_secs(60);
/// A non-empty file that holds no valid record, or whose first valid record
/// comes after this many bytes of garbage, is taken for another program's
/// file and left alone (unless it is one torn record).
pub const FOREIGN_PROBE_BYTES: u64 = 1 << 16;
/// How often a backup whose writes failed is retried with a full rewrite.
pub const RETRY_EVERY: Duration = Duration::from_secs(10);
/// Records verified per parallel batch while loading.
const BATCH: usize = 4096;

/// Why a backup file cannot be used. Each message names the file and the fix.
#[derive(Debug)]
pub enum BackupError {
    /// The path is a directory.
    IsDir(PathBuf),
    /// Opening, reading or writing failed.
    Io(PathBuf, io::Error),
    /// The file holds no valid dave record where one must be.
    Foreign(PathBuf),
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::IsDir(p) => write!(
                f,
                "backup file {} is a directory: give --backup the path of a file (it is created if missing)",
                p.display()
            ),
            BackupError::Io(p, e) if e.kind() == ErrorKind::PermissionDenied => write!(
                f,
                "backup file {}: permission denied: the node must be able to read and write it and its directory (check the owner with `ls -l`, or choose another path with --backup)",
                p.display()
            ),
            BackupError::Io(p, e) => write!(f, "backup file {}: {e}", p.display()),
            BackupError::Foreign(p) => write!(
                f,
                "{} does not look like a dave backup (it does not start with a valid record); it was left untouched: move it aside or choose another path with --backup",
                p.display()
            ),
        }
    }
}

impl std::error::Error for BackupError {}

/// What loading a backup found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Bytes in the file.
    pub file_bytes: u64,
    /// Well-framed records that decoded as PUTs.
    pub records: u64,
    /// Records stored in the node.
    pub loaded: u64,
    /// Records that decoded but failed a check (work, difficulty, time, signature).
    pub invalid: u64,
    /// Records superseded by a newer dat of the same name, or duplicates.
    pub superseded: u64,
    /// Corrupt stretches skipped: (byte offset, length), in file order.
    pub corrupt: Vec<(u64, u64)>,
    /// A torn or corrupt tail that was cut off: (byte offset, length).
    pub tail: Option<(u64, u64)>,
    /// Time spent.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Bytes that did not hold a loadable record.
    pub fn bad_bytes(&self) -> u64 {
        self.corrupt.iter().map(|c| c.1).sum::<u64>() + self.tail.map_or(0, |t| t.1)
    }
}

/// Reads records from a stream, resynchronising after corrupt stretches.
struct Scanner<R: Read> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
}

enum Item {
    /// A record's message bytes (in `buf[start..end]`) at a file offset.
    Record { off: u64, start: usize, end: usize },
    /// A stretch of bytes that are not a record.
    Corrupt { off: u64, len: u64 },
    /// End of the stream.
    End,
}

impl<R: Read> Scanner<R> {
    fn new(src: R) -> Self {
        Scanner {
            src,
            buf: Vec::with_capacity(1 << 17),
            pos: 0,
            base: 0,
            eof: false,
        }
    }

    /// Makes at least `n` bytes available from `pos` unless at EOF.
    fn fill(&mut self, n: usize) -> io::Result<()> {
        if self.buf.len() - self.pos >= n || self.eof {
            return Ok(());
        }
        // Slide the window so the buffer never grows past its first size.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        let mut chunk = [0u8; 1 << 16];
        while self.buf.len() < n.max(1 << 16) {
            match self.src.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A record starts at `pos` if its length is sane, it fits, and its
    /// bytes decode as a PUT.
    fn record_at(&self, p: usize) -> Option<usize> {
        let avail = self.buf.len() - p;
        if avail < 2 {
            return None;
        }
        let len = u16::from_le_bytes([self.buf[p], self.buf[p + 1]]) as usize;
        if len == 0 || len > MTU || avail < 2 + len {
            return None;
        }
        match wire::decode(&self.buf[p + 2..p + 2 + len]) {
            Ok(m) if m.op() == Op::Put => Some(len),
            _ => None,
        }
    }

    fn next(&mut self) -> io::Result<Item> {
        self.fill(2 + MTU)?;
        if self.pos == self.buf.len() {
            return Ok(Item::End);
        }
        if let Some(len) = self.record_at(self.pos) {
            let off = self.base + self.pos as u64;
            let start = self.pos + 2;
            self.pos = start + len;
            return Ok(Item::Record {
                off,
                start,
                end: start + len,
            });
        }
        // Corrupt: advance byte by byte until a record starts or the data ends.
        let off = self.base + self.pos as u64;
        let mut skipped = 0u64;
        loop {
            self.pos += 1;
            skipped += 1;
            self.fill(2 + MTU)?;
            if self.pos >= self.buf.len() || self.record_at(self.pos).is_some() {
                return Ok(Item::Corrupt { off, len: skipped });
            }
        }
    }
}

/// Loads a backup stream into `node`: every record is decoded and verified
/// (signatures on `threads` threads), stale versions lose to newer ones, and
/// the store is pruned to DAT_CAP afterwards.
pub fn load_into<R: Read>(src: R, node: &mut Node, threads: usize) -> io::Result<LoadReport> {
    let t0 = Instant::now();
    let mut rep = LoadReport::default();
    let mut sc = Scanner::new(src);
    // A batch of records copied out of the window: bytes and spans.
    let mut bytes: Vec<u8> = Vec::with_capacity(BATCH * 256);
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(BATCH);
    let mut last_end = 0u64;
    loop {
        let item = sc.next()?;
        match item {
            Item::Record { off, start, end } => {
                rep.records += 1;
                let b = bytes.len();
                bytes.extend_from_slice(&sc.buf[start..end]);
                spans.push((b, bytes.len()));
                last_end = off + 2 + (end - start) as u64;
                if spans.len() == BATCH {
                    verify_batch(node, &bytes, &spans, threads, &mut rep);
                    bytes.clear();
                    spans.clear();
                }
            }
            Item::Corrupt { off, len } => rep.corrupt.push((off, len)),
            Item::End => break,
        }
    }
    verify_batch(node, &bytes, &spans, threads, &mut rep);
    rep.file_bytes = sc.base + sc.buf.len() as u64;
    // A corrupt stretch that runs to the end is the torn tail.
    if let Some(&(off, len)) = rep.corrupt.last() {
        if off + len == rep.file_bytes && off >= last_end {
            rep.tail = Some((off, len));
            rep.corrupt.pop();
        }
    }
    let before = node.store().len();
    node.prune_now();
    rep.loaded = node.store().len() as u64;
    rep.superseded += (before - node.store().len()) as u64;
    rep.elapsed = t0.elapsed();
    Ok(rep)
}

fn verify_batch(
    node: &mut Node,
    bytes: &[u8],
    spans: &[(usize, usize)],
    threads: usize,
    rep: &mut LoadReport,
) {
    if spans.is_empty() {
        return;
    }
    let now_ms = node.now_ms();
    let cfg = node.config().clone();
    let mut ok = vec![false; spans.len()];
    let verify = |chunk_ok: &mut [bool], chunk: &[(usize, usize)]| {
        for (o, &(a, b)) in chunk_ok.iter_mut().zip(chunk) {
            *o = matches!(wire::decode(&bytes[a..b]),
                Ok(Packet::Put(m)) if check_put(&m, now_ms, &cfg, true).is_ok());
        }
    };
    let threads = threads.clamp(1, 64);
    if threads == 1 || spans.len() < 64 {
        // Not worth a thread (and nothing is left running after the call).
        verify(&mut ok, spans);
    } else {
        let per = spans.len().div_ceil(threads);
        std::thread::scope(|s| {
            for (chunk_ok, chunk) in ok.chunks_mut(per).zip(spans.chunks(per)) {
                let verify = &verify;
                s.spawn(move || verify(chunk_ok, chunk));
            }
        });
    }
    for (&(a, b), good) in spans.iter().zip(ok) {
        let (true, Ok(Packet::Put(m))) = (good, wire::decode(&bytes[a..b])) else {
            rep.invalid += 1;
            continue;
        };
        if node.dat_by_work(m.work).is_some() {
            rep.superseded += 1;
            continue;
        }
        match node.restore_preverified(&m.msg()) {
            Ok(_) => {}
            Err(_) => rep.superseded += 1,
        }
    }
}

/// Writes every stored dat to `path` atomically: a temporary file beside
/// it, fsync, rename, fsync of the directory. Returns the bytes written.
pub fn write_atomic(path: &Path, node: &Node) -> io::Result<u64> {
    let tmp = tmp_path(path);
    let res = (|| {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        let mut n = 0u64;
        let store = node.store();
        for i in 0..store.len() as u32 {
            let rec = store.record(i);
            w.write_all(&(rec.len() as u16).to_le_bytes())?;
            w.write_all(rec)?;
            n += 2 + rec.len() as u64;
        }
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(path)?;
        Ok(n)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".tmp");
    PathBuf::from(s)
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// The path of the peers file beside a backup file.
pub fn peers_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".peers");
    PathBuf::from(s)
}

/// A node's backup: the append handle and its bookkeeping.
pub struct Backup {
    path: PathBuf,
    out: BufWriter<File>,
    file_bytes: u64,
    unsynced: u64,
    last_sync: Instant,
    last_peers: Instant,
    /// Records appended since start.
    pub appended: u64,
    /// Compactions done since start.
    pub compactions: u64,
    failed: Option<Instant>,
}

impl Backup {
    /// Loads `path` into `node` (creating it if missing), rewrites it
    /// atomically, restores saved peers, and opens it for appending.
    /// Refuses a directory, an unreadable or unwritable file, or another
    /// program's file, leaving it untouched.
    pub fn open(
        path: &Path,
        node: &mut Node,
        threads: usize,
    ) -> Result<(Backup, LoadReport), BackupError> {
        let err = |e| BackupError::Io(path.to_path_buf(), e);
        if path.is_dir() {
            return Err(BackupError::IsDir(path.to_path_buf()));
        }
        // Open read-write first: a file we cannot write is refused before
        // anything is changed.
        let rep = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => {
                let mut head = [0u8; 2];
                let head_len = (&f).read(&mut head).map_err(err)?;
                let f = {
                    use std::io::Seek;
                    let mut f = f;
                    f.rewind().map_err(err)?;
                    f
                };
                let rep = load_into(io::BufReader::new(f), node, threads).map_err(err)?;
                // A torn first record: a sane length whose bytes never arrived.
                let len0 = u16::from_le_bytes(head) as u64;
                let torn_first =
                    head_len == 2 && (1..=MTU as u64).contains(&len0) && rep.file_bytes < 2 + len0;
                let foreign = if rep.file_bytes == 0 {
                    false
                } else if rep.records == 0 {
                    !torn_first
                } else {
                    matches!(rep.corrupt.first(), Some(&(0, len)) if len >= FOREIGN_PROBE_BYTES)
                };
                if foreign {
                    return Err(BackupError::Foreign(path.to_path_buf()));
                }
                rep
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Create it now so that a directory we cannot write is found at once.
                File::create(path).map_err(err)?;
                sync_dir(path).map_err(err)?;
                LoadReport::default()
            }
            Err(e) => return Err(err(e)),
        };
        if !rep.corrupt.is_empty() {
            // Keep the damaged original for inspection: nothing is lost that
            // someone might still want.
            let mut s = path.as_os_str().to_os_string();
            s.push(".bad");
            let _ = fs::copy(path, PathBuf::from(s));
        }
        let written = write_atomic(path, node).map_err(err)?;
        let f = OpenOptions::new().append(true).open(path).map_err(err)?;
        let mut peers = 0;
        if let Ok(text) = fs::read_to_string(peers_path(path)) {
            for line in text.lines().take(PEERS_SAVED) {
                if let Ok(a) = line.trim().parse::<SocketAddr>() {
                    peers += node.add_peer(a) as usize;
                }
            }
        }
        log_report(path, &rep, written, peers);
        Ok((
            Backup {
                path: path.to_path_buf(),
                out: BufWriter::with_capacity(1 << 16, f),
                file_bytes: written,
                unsynced: 0,
                last_sync: Instant::now(),
                last_peers: Instant::now(),
                appended: 0,
                compactions: 0,
                failed: None,
            },
            rep,
        ))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the file (including what is not yet flushed).
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// [`Backup::after_turn_inner`], and when writing fails (a full disk,
    /// say), a warning and a full rewrite every [`RETRY_EVERY`] until one
    /// succeeds: the store still holds every dat, so nothing is lost once
    /// the disk has room again.
    pub fn after_turn(&mut self, node: &mut Node) {
        if let Some(t) = self.failed {
            node.drain_novel(|_| {});
            node.take_novel_overflow();
            if t.elapsed() < RETRY_EVERY {
                return;
            }
            match self.compact(node) {
                Ok(()) => {
                    info!("/bak/recovered {} is up to date again", self.path.display());
                    self.failed = None;
                }
                Err(e) => {
                    warn!(
                        "/bak/error {}: {e}; retrying in {} s",
                        self.path.display(),
                        RETRY_EVERY.as_secs()
                    );
                    self.failed = Some(Instant::now());
                }
            }
            return;
        }
        if let Err(e) = self.after_turn_inner(node) {
            warn!(
                "/bak/error {}: {e}; the dats stay in memory and the file will be rewritten in {} s",
                self.path.display(),
                RETRY_EVERY.as_secs()
            );
            self.failed = Some(Instant::now());
        }
    }

    /// Appends the node's novel dats; fsyncs if a second has passed; compacts
    /// when the file is much larger than the live set; saves peers now and then.
    pub fn after_turn_inner(&mut self, node: &mut Node) -> io::Result<()> {
        if node.take_novel_overflow() {
            // More novel dats than the log holds: save everything.
            node.drain_novel(|_| {});
            return self.compact(node);
        }
        let mut res = Ok(());
        let (out, file_bytes, unsynced, appended) = (
            &mut self.out,
            &mut self.file_bytes,
            &mut self.unsynced,
            &mut self.appended,
        );
        node.drain_novel(|rec| {
            if res.is_ok() {
                res = out
                    .write_all(&(rec.len() as u16).to_le_bytes())
                    .and_then(|_| out.write_all(rec));
                *file_bytes += 2 + rec.len() as u64;
                *unsynced += 1;
                *appended += 1;
            }
        });
        res?;
        if self.unsynced > 0 && self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        let live = node.store().bytes() as u64 + 2 * node.store().len() as u64;
        if self.file_bytes > COMPACT_MIN_BYTES && self.file_bytes > COMPACT_FACTOR * live.max(1) {
            self.compact(node)?;
        }
        if self.last_peers.elapsed() >= PEERS_EVERY {
            self.last_peers = Instant::now();
            save_peers(&self.path, node);
        }
        Ok(())
    }

    /// Flushes and fsyncs what was appended.
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        debug!(
            "/bak/sync records={} bytes={} appended={}",
            self.unsynced, self.file_bytes, self.appended
        );
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Rewrites the file from the store, atomically, and appends from there.
    pub fn compact(&mut self, node: &Node) -> io::Result<()> {
        self.out.flush()?;
        let before = self.file_bytes;
        let written = write_atomic(&self.path, node)?;
        self.out =
            BufWriter::with_capacity(1 << 16, OpenOptions::new().append(true).open(&self.path)?);
        self.file_bytes = written;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        self.compactions += 1;
        info!(
            "/bak/compact {} bytes -> {written} bytes ({} dats)",
            before,
            node.store().len()
        );
        Ok(())
    }

    /// Final flush, fsync and peer save on stop.
    pub fn close(mut self, node: &mut Node) -> io::Result<()> {
        if self.failed.is_some() {
            self.compact(node)?;
        } else {
            self.after_turn_inner(node)?;
        }
        self.sync()?;
        save_peers(&self.path, node);
        info!(
            "/bak/close {} bytes, {} records appended",
            self.file_bytes, self.appended
        );
        Ok(())
    }
}

fn log_report(path: &Path, rep: &LoadReport, written: u64, peers: usize) {
    info!(
        "/bak/load {}: {} records in {} bytes, loaded {} dats, {} invalid, {} superseded or pruned, {} saved peers, {:.3} s; rewrote {written} bytes",
        path.display(),
        rep.records,
        rep.file_bytes,
        rep.loaded,
        rep.invalid,
        rep.superseded,
        peers,
        rep.elapsed.as_secs_f64()
    );
    for (off, len) in &rep.corrupt {
        warn!(
            "/bak/corrupt {}: {len} bytes at offset {off} were not a valid record and were skipped (the original is kept as {}.bad)",
            path.display(),
            path.display()
        );
    }
    if let Some((off, len)) = rep.tail {
        warn!(
            "/bak/tail {}: cut a torn tail of {len} bytes at offset {off} (a write interrupted by a crash)",
            path.display()
        );
    }
}

/// Writes the peers that answered recently, most trusted first.
pub fn save_peers(path: &Path, node: &Node) {
    let now = node.epoch();
    let live = 2 * node.config().ping_epochs.max(1);
    let mut ps: Vec<_> = node
        .peers()
        .iter()
        .filter(|p| {
            p.seen != NEVER && now.saturating_sub(p.seen) < live.max(node.config().drop_epochs / 4)
        })
        .map(|p| (p.trust, p.addr))
        .collect();
    ps.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let text: String = ps
        .iter()
        .take(PEERS_SAVED)
        .map(|p| format!("{}\n", p.1))
        .collect();
    let target = peers_path(path);
    let tmp = tmp_path(&target);
    let res = fs::write(&tmp, text).and_then(|_| fs::rename(&tmp, &target));
    if let Err(e) = res {
        warn!("/bak/peers cannot save {}: {e}", target.display());
    }
}
