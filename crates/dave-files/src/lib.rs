//! Files larger than a dat: a Merkle tree of content-named dats
//! (`docs/files.md` is the contract; this module implements it).
//!
//! A file is cut into chunks of [`CHUNK`] bytes. Every dat of a file, chunk
//! or pointer, is named by the blake3 hash of its own value, so the whole
//! tree is a pure content hash tree: a pointer lists the names of its
//! children, and a reader verifies each dat against the name that pointed
//! to it. The root also states the file's length, chunk size, fan-out and
//! name, which fixes the exact shape of the tree before anything else is
//! fetched: a reader knows how many dats to expect, and refuses anything
//! deeper, wider or longer than the root promised.
//!
//! The module has four layers, each usable alone:
//!
//! - the layout: [`layout`] turns bytes into [`Piece`]s (pure, no proof of
//!   work), [`Shape`] is the arithmetic both sides agree on, [`decode`]
//!   reads a pointer or root value;
//! - [`make_dats`]: proof of work for every piece, one piece per core at a
//!   time (many small solves parallelise better than one solve on many
//!   cores, which must stop every thread at each hit);
//! - [`Fetch`]: the reader's tree walk and verification, with no I/O, so it
//!   can be fed from a node, a test's map, or anything else;
//! - [`Upload`] and [`Download`]: the network side, driven over a
//!   [`Node`] one step at a time (a CLI loop or a gateway's event loop
//!   calls `step` and hands over the node's events), pacing requests over
//!   the node's live peers.

use dave_core::wire::{Hex, Put, PACKET_MAX};
use dave_core::Dat;
use dave_core::NEVER;
use dave_core::{Event, GetError, GetId, GetOpts, Node, PutError, Query, Reason, MAX_FANOUT};
use ed25519_dalek::SigningKey;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// First byte of every pointer and root value.
pub const MAGIC: u8 = 0xDF;
/// Layout version written and read.
pub const VERSION: u8 = 1;
/// Kind byte of a pointer.
pub const KIND_POINTER: u8 = 1;
/// Kind byte of a root.
pub const KIND_ROOT: u8 = 2;
/// Bytes before a pointer's child list: magic, version, kind, level.
pub const HEADER: usize = 4;
/// Bytes before a root's name: the pointer header, length (u64 LE), chunk
/// size (u16 LE), fan-out, name length.
pub const ROOT_HEADER: usize = HEADER + 8 + 2 + 1 + 1;
/// Length of a child reference (the child's name, a blake3 hash).
pub const REF: usize = 32;
/// Chunk size written: the largest value that fits a PUT with a 32-byte
/// key and the solver's 8-byte salt (`wire::max_val_len(32, 8)`).
pub const CHUNK: usize = 1231;
/// Children per pointer written: as many references as fit after the header.
pub const FANOUT: usize = (CHUNK - HEADER) / REF;
/// Most levels a reader accepts, the root included: with the written chunk
/// size and fan-out, 37 * 38^5 chunks of 1231 bytes, about 3.6 TB.
pub const MAX_DEPTH: u8 = 6;
/// Longest file name a root records.
pub const NAME_MAX: usize = 255;
/// Most children any dat can list (references that fit in a datagram).
pub const MAX_CHILDREN: usize = PACKET_MAX / REF;
/// Default largest file a reader accepts (64 GiB): a root is only a
/// promise, and the reader's memory and disk follow the stated length.
pub const DEFAULT_MAX_LEN: u64 = 1 << 36;

/// The blake3 hash of a value: the name of every dat of a file.
pub fn name_of(val: &[u8]) -> [u8; 32] {
    *blake3::hash(val).as_bytes()
}

/// The shape of a file's tree: everything follows from the length, the
/// chunk size, the fan-out and the height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// File length in bytes.
    pub len: u64,
    /// Chunk size: every chunk but the last is exactly this long.
    pub chunk: u32,
    /// Children of every pointer but the last of its level.
    pub fanout: u32,
    /// Level of the root: 1 when the root lists the chunks.
    pub height: u8,
    /// Items per level below the root: `counts[0]` chunks, `counts[l]`
    /// pointers of level `l`.
    counts: [u64; MAX_DEPTH as usize],
}

impl Shape {
    /// The shape a root states, or why a reader refuses it.
    pub fn new(len: u64, chunk: u32, fanout: u32, height: u8) -> Result<Shape, String> {
        if chunk == 0 || chunk as usize > PACKET_MAX {
            return Err(format!(
                "chunk size {chunk} is outside 1..={PACKET_MAX} bytes"
            ));
        }
        if fanout < 2 || fanout as usize > MAX_CHILDREN {
            return Err(format!("fan-out {fanout} is outside 2..={MAX_CHILDREN}"));
        }
        if height == 0 || height > MAX_DEPTH {
            return Err(format!(
                "the tree is {height} levels deep; at most {MAX_DEPTH} are accepted"
            ));
        }
        let mut counts = [0u64; MAX_DEPTH as usize];
        counts[0] = len / chunk as u64 + u64::from(len % chunk as u64 != 0);
        for l in 1..height as usize {
            counts[l] = counts[l - 1].div_ceil(fanout as u64);
        }
        Ok(Shape {
            len,
            chunk,
            fanout,
            height,
            counts,
        })
    }

    /// Chunks in the file.
    pub fn chunks(&self) -> u64 {
        self.counts[0]
    }

    /// Items at `level` (0 = chunks); the root is the one item of level `height`.
    pub fn count(&self, level: u8) -> u64 {
        if level >= self.height {
            1
        } else {
            self.counts[level as usize]
        }
    }

    /// Children of the pointer `index` of `level` (the root when `level == height`).
    pub fn children(&self, level: u8, index: u64) -> u64 {
        let below = self.counts[level as usize - 1];
        if level >= self.height {
            return below;
        }
        let f = self.fanout as u64;
        below.saturating_sub(index * f).min(f)
    }

    /// Length of chunk `index`.
    pub fn chunk_len(&self, index: u64) -> u64 {
        let c = self.chunk as u64;
        self.len.saturating_sub(index * c).min(c)
    }

    /// Byte offset of chunk `index`.
    pub fn offset(&self, index: u64) -> u64 {
        index * self.chunk as u64
    }

    /// Dats in the tree counted by position, the root included (a repeated
    /// chunk counts once per place it fills).
    pub fn positions(&self) -> u64 {
        self.counts[..self.height as usize].iter().sum::<u64>() + 1
    }
}

/// A pointer or root value, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header<'a> {
    /// A pointer of `level` (its children are chunks when `level == 1`).
    Pointer {
        /// Level, 1..MAX_DEPTH.
        level: u8,
        /// Child names, 32 bytes each.
        children: &'a [u8],
    },
    /// The root.
    Root {
        /// Its level: the tree's height.
        level: u8,
        /// File length.
        len: u64,
        /// Chunk size.
        chunk: u16,
        /// Fan-out of the pointers below.
        fanout: u8,
        /// File name (bytes as written; may be empty).
        name: &'a [u8],
        /// Child names, 32 bytes each.
        children: &'a [u8],
    },
}

/// Reads a pointer or root value; the error says what is wrong with it.
pub fn decode(val: &[u8]) -> Result<Header<'_>, String> {
    if val.len() < HEADER {
        return Err(format!("{} bytes is too short for a header", val.len()));
    }
    if val[0] != MAGIC {
        return Err(format!(
            "first byte is {:#04x}, not the magic {MAGIC:#04x}",
            val[0]
        ));
    }
    if val[1] != VERSION {
        return Err(format!(
            "layout version {} (this reader knows {VERSION})",
            val[1]
        ));
    }
    let level = val[3];
    let (head, header) = match val[2] {
        KIND_POINTER => (HEADER, None),
        KIND_ROOT => {
            if val.len() < ROOT_HEADER {
                return Err(format!("{} bytes is too short for a root", val.len()));
            }
            let len = u64::from_le_bytes(val[4..12].try_into().expect("8 bytes"));
            let chunk = u16::from_le_bytes([val[12], val[13]]);
            let fanout = val[14];
            let nlen = val[15] as usize;
            if val.len() < ROOT_HEADER + nlen {
                return Err(format!("the name runs past the end ({nlen} bytes)"));
            }
            (
                ROOT_HEADER + nlen,
                Some((len, chunk, fanout, &val[ROOT_HEADER..ROOT_HEADER + nlen])),
            )
        }
        k => return Err(format!("kind {k} is neither pointer (1) nor root (2)")),
    };
    let children = &val[head..];
    if children.len() % REF != 0 {
        return Err(format!(
            "{} bytes of child names is not a whole number of {REF}-byte names",
            children.len()
        ));
    }
    if level == 0 {
        return Err("level 0 belongs to chunks, not pointers".into());
    }
    Ok(match header {
        None => Header::Pointer { level, children },
        Some((len, chunk, fanout, name)) => Header::Root {
            level,
            len,
            chunk,
            fanout,
            name,
            children,
        },
    })
}

/// Writes a pointer value.
pub fn encode_pointer(level: u8, children: &[[u8; 32]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + children.len() * REF);
    v.extend_from_slice(&[MAGIC, VERSION, KIND_POINTER, level]);
    for c in children {
        v.extend_from_slice(c);
    }
    v
}

/// Writes a root value.
pub fn encode_root(shape: &Shape, name: &[u8], children: &[[u8; 32]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(ROOT_HEADER + name.len() + children.len() * REF);
    v.extend_from_slice(&[MAGIC, VERSION, KIND_ROOT, shape.height]);
    v.extend_from_slice(&shape.len.to_le_bytes());
    v.extend_from_slice(&(shape.chunk as u16).to_le_bytes());
    v.push(shape.fanout as u8);
    v.push(name.len() as u8);
    v.extend_from_slice(name);
    for c in children {
        v.extend_from_slice(c);
    }
    v
}

/// Children a root with this name can list.
pub fn root_capacity(name_len: usize) -> usize {
    (CHUNK - ROOT_HEADER - name_len) / REF
}

/// One dat of a file before its proof of work: name and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// blake3 of `val`: the dat's key.
    pub key: [u8; 32],
    /// The value.
    pub val: Vec<u8>,
    /// 0 for a chunk, the level for a pointer, the height for the root.
    pub level: u8,
}

/// A file cut into its distinct pieces.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Distinct pieces, chunks first, then pointers level by level, the
    /// root last: a piece appears once however often its content repeats.
    pub pieces: Vec<Piece>,
    /// The tree's shape.
    pub shape: Shape,
    /// The recorded file name.
    pub name: Vec<u8>,
    /// The root's name (its key).
    pub root_key: [u8; 32],
}

impl Layout {
    /// Pieces that are chunks.
    pub fn chunk_pieces(&self) -> usize {
        self.pieces.iter().filter(|p| p.level == 0).count()
    }
}

/// Why a file cannot be laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The name is longer than [`NAME_MAX`] bytes.
    NameTooLong(usize),
    /// The file needs more than [`MAX_DEPTH`] levels.
    TooLarge(u64),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::NameTooLong(n) => {
                write!(f, "the file name is {n} bytes; at most {NAME_MAX} fit")
            }
            LayoutError::TooLarge(n) => write!(
                f,
                "{n} bytes need a tree deeper than {MAX_DEPTH} levels, which readers refuse"
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

/// Cuts `data` into chunks and builds the tree above them (no proof of
/// work yet). Identical chunks, and identical runs of chunks that start at
/// the same multiple of the fan-out, become one piece.
pub fn layout(data: &[u8], name: &[u8]) -> Result<Layout, LayoutError> {
    if name.len() > NAME_MAX {
        return Err(LayoutError::NameTooLong(name.len()));
    }
    let mut pieces = Vec::new();
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    let mut keys: Vec<[u8; 32]> = Vec::with_capacity(data.len() / CHUNK + 1);
    for c in data.chunks(CHUNK) {
        let key = name_of(c);
        keys.push(key);
        if seen.insert(key) {
            pieces.push(Piece {
                key,
                val: c.to_vec(),
                level: 0,
            });
        }
    }
    let cap = root_capacity(name.len());
    let mut level = 0u8;
    while keys.len() > cap {
        level += 1;
        if level + 1 > MAX_DEPTH {
            return Err(LayoutError::TooLarge(data.len() as u64));
        }
        let mut up = Vec::with_capacity(keys.len().div_ceil(FANOUT));
        for group in keys.chunks(FANOUT) {
            let val = encode_pointer(level, group);
            let key = name_of(&val);
            up.push(key);
            if seen.insert(key) {
                pieces.push(Piece { key, val, level });
            }
        }
        keys = up;
    }
    let shape = Shape::new(data.len() as u64, CHUNK as u32, FANOUT as u32, level + 1)
        .expect("the writer's own parameters are valid");
    debug_assert_eq!(shape.count(level), keys.len() as u64);
    let val = encode_root(&shape, name, &keys);
    let root_key = name_of(&val);
    pieces.push(Piece {
        key: root_key,
        val,
        level: level + 1,
    });
    Ok(Layout {
        pieces,
        shape,
        name: name.to_vec(),
        root_key,
    })
}

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

/// Where fetched bytes go: written at their offset, in any order.
pub trait Sink {
    /// Called once, when the root has stated the length.
    fn set_len(&mut self, _len: u64) -> io::Result<()> {
        Ok(())
    }
    /// Writes `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
}

/// Collects the file in memory, which grows to the file's length as
/// chunks arrive (limit it with [`DownloadOpts::max_len`]).
impl Sink for Vec<u8> {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        // Reserve a little: the length is a promise until the chunks come.
        let len = usize::try_from(len).map_err(|_| io::Error::other("too large for memory"))?;
        self.reserve(len.min(1 << 26));
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let at = offset as usize;
        if self.len() < at + data.len() {
            self.resize(at + data.len(), 0);
        }
        self[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }
}

impl Sink for std::fs::File {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        std::fs::File::set_len(self, len)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, data, offset)
    }
}

/// How a reader names a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootRef {
    /// The root dat's work hash: one exact upload.
    Work([u8; 32]),
    /// The root's name: the same content uploaded again by the same writer
    /// (a refresh) is found under the same name.
    Name {
        /// The writer.
        pubkey: [u8; 32],
        /// The root's key (blake3 of its value).
        key: [u8; 32],
    },
}

impl fmt::Display for RootRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootRef::Work(w) => write!(f, "{}", Hex(w)),
            RootRef::Name { pubkey, key } => write!(f, "{} hex:{}", Hex(pubkey), Hex(key)),
        }
    }
}

/// A place in the tree: `level` 0 is a chunk; the root is at the height.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Level.
    pub level: u8,
    /// Index within the level, from the start of the file.
    pub index: u64,
}

/// A dat the reader wants: what to ask the network, and where it belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// The request.
    pub query: Query,
    /// The name asked for (the work hash for a root asked by work).
    pub key: [u8; 32],
    /// Its level (the tree's height for the root, unknown before: `u8::MAX`).
    pub level: u8,
}

/// The piece of a tree an error is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceRef {
    /// Where it sits (the first place, if its content repeats).
    pub place: Place,
    /// Its name.
    pub key: [u8; 32],
    /// Byte range of the file it covers, when known.
    pub bytes: Option<(u64, u64)>,
    /// True for the root.
    pub root: bool,
}

impl fmt::Display for PieceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.root {
            write!(f, "the root {}", Hex(&self.key))?;
        } else if self.place.level == 0 {
            write!(f, "chunk {} (name {}", self.place.index, Hex(&self.key))?;
            if let Some((a, b)) = self.bytes {
                write!(f, ", bytes {a}..{b}")?;
            }
            write!(f, ")")?;
        } else {
            write!(
                f,
                "pointer {} of level {} (name {}",
                self.place.index,
                self.place.level,
                Hex(&self.key)
            )?;
            if let Some((a, b)) = self.bytes {
                write!(f, ", covering bytes {a}..{b}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum FetchError {
    /// A dat does not match what pointed to it, or breaks the root's
    /// promises: the file is refused, and the piece named.
    Bad {
        /// Which piece.
        piece: PieceRef,
        /// What is wrong.
        why: String,
    },
    /// The root is not a file root, or states a tree the reader refuses.
    Refused(String),
    /// The sink failed.
    Io(io::Error),
    /// The network gave nothing new for too long.
    Stalled {
        /// Places still missing.
        missing: u64,
        /// Seconds waited without progress.
        secs: f64,
        /// Live peers asked.
        peers: Vec<SocketAddr>,
        /// One piece still missing, for the message.
        example: Option<PieceRef>,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Bad { piece, why } => write!(f, "{piece}: {why}"),
            FetchError::Refused(why) => write!(f, "refused: {why}"),
            FetchError::Io(e) => write!(f, "cannot write: {e}"),
            FetchError::Stalled {
                missing,
                secs,
                peers,
                example,
            } => {
                write!(
                    f,
                    "{missing} dats still missing after {secs:.1} s without progress"
                )?;
                if let Some(e) = example {
                    write!(f, " (among them {e})")?;
                }
                let list: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
                if list.is_empty() {
                    write!(f, "; no peer was answering")
                } else {
                    write!(f, "; asked {}", list.join(", "))
                }
            }
        }
    }
}

impl std::error::Error for FetchError {}

impl From<io::Error> for FetchError {
    fn from(e: io::Error) -> Self {
        FetchError::Io(e)
    }
}

/// What the root said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// The tree's shape.
    pub shape: Shape,
    /// The recorded file name.
    pub name: Vec<u8>,
    /// The writer.
    pub pubkey: [u8; 32],
    /// The root dat's work hash.
    pub root_work: [u8; 32],
    /// The root's name.
    pub root_key: [u8; 32],
}

/// How far a transfer has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Dats done, by place (see [`Shape::positions`]).
    pub dats: u64,
    /// Dats in all (once the root is known).
    pub dats_total: Option<u64>,
    /// Bytes of the file done.
    pub bytes: u64,
    /// The file's length (once known).
    pub bytes_total: Option<u64>,
}

/// The reader's walk over a tree: hands out [`Want`]s, takes the dats that
/// answer them, verifies each against the name that pointed to it and
/// against the shape the root promised, and writes chunks to a [`Sink`].
/// No I/O of its own.
pub struct Fetch {
    root: RootRef,
    max_len: u64,
    info: Option<FileInfo>,
    /// Places waiting for each name and level (queued or asked). A name
    /// may fill places at two levels only as a chunk and a pointer (a
    /// pointer's level is part of its value); each level gets its own copy.
    waiting: HashMap<([u8; 32], u8), Vec<Place>>,
    /// Names to ask, per level; the higher levels are served first, so the
    /// walk goes breadth-first and each pointer opens its children early.
    queues: Vec<VecDeque<[u8; 32]>>,
    /// Level of every pointer name seen, to refuse a pointer that lists
    /// one of its own level or above (the only way to make a cycle).
    pointer_levels: HashMap<[u8; 32], u8>,
    root_queued: bool,
    progress: Progress,
}

impl Fetch {
    /// A walk that starts at `root` and refuses files longer than `max_len`.
    pub fn new(root: RootRef, max_len: u64) -> Fetch {
        Fetch {
            root,
            max_len,
            info: None,
            waiting: HashMap::new(),
            queues: Vec::new(),
            pointer_levels: HashMap::new(),
            root_queued: true,
            progress: Progress::default(),
        }
    }

    /// What the root said, once it is in.
    pub fn info(&self) -> Option<&FileInfo> {
        self.info.as_ref()
    }

    /// How far the walk has come.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// True when every place is filled.
    pub fn is_complete(&self) -> bool {
        self.info.is_some() && self.waiting.is_empty()
    }

    /// Places still missing (1 before the root is in).
    pub fn missing(&self) -> u64 {
        match self.progress.dats_total {
            Some(t) => t - self.progress.dats,
            None => 1,
        }
    }

    fn root_want(&self) -> Want {
        match self.root {
            RootRef::Work(w) => Want {
                query: Query::Work(w),
                key: w,
                level: u8::MAX,
            },
            RootRef::Name { pubkey, key } => Want {
                query: Query::name(pubkey, &key).expect("32-byte key"),
                key,
                level: u8::MAX,
            },
        }
    }

    /// The next dat to ask for, highest level first; `None` when everything
    /// known is already asked (more may come as pointers arrive).
    pub fn next_want(&mut self) -> Option<Want> {
        if self.root_queued {
            self.root_queued = false;
            return Some(self.root_want());
        }
        let pubkey = self.info.as_ref()?.pubkey;
        for level in (0..self.queues.len()).rev() {
            if let Some(key) = self.queues[level].pop_front() {
                return Some(Want {
                    query: Query::name(pubkey, &key).expect("32-byte key"),
                    key,
                    level: level as u8,
                });
            }
        }
        None
    }

    /// Puts back a want that was not answered, to be handed out again soon.
    pub fn retry(&mut self, want: &Want) {
        if want.level == u8::MAX {
            self.root_queued = true;
        } else if self.waiting.contains_key(&(want.key, want.level)) {
            self.queues[want.level as usize].push_front(want.key);
        }
    }

    /// A piece reference for error messages.
    pub fn piece(&self, key: &[u8; 32], place: Place) -> PieceRef {
        let bytes = self.info.as_ref().map(|i| {
            let s = &i.shape;
            let per = (s.fanout as u64).pow(place.level as u32) * s.chunk as u64;
            let a = place.index.saturating_mul(per).min(s.len);
            let b = a.saturating_add(per).min(s.len);
            (a, b)
        });
        PieceRef {
            place,
            key: *key,
            bytes,
            root: false,
        }
    }

    fn bad(&self, key: &[u8; 32], place: Place, why: String) -> FetchError {
        FetchError::Bad {
            piece: self.piece(key, place),
            why,
        }
    }

    /// Takes the dat `m` that answers `want` (already checked by a node:
    /// proof of work and signature), verifies it, writes any chunk bytes to
    /// `sink` and queues its children. Returns the places it filled.
    pub fn deliver(
        &mut self,
        want: &Want,
        m: &Put<'_>,
        sink: &mut dyn Sink,
    ) -> Result<u64, FetchError> {
        if want.level == u8::MAX {
            return self.deliver_root(m, sink);
        }
        let info = self.info.as_ref().expect("children come after the root");
        let Some(places) = self.waiting.get(&(want.key, want.level)) else {
            return Ok(0); // a duplicate answer
        };
        let first = places[0];
        if *m.pubkey != info.pubkey {
            return Err(self.bad(
                &want.key,
                first,
                format!(
                    "signed by {}, not by the root's writer {}",
                    Hex(m.pubkey),
                    Hex(&info.pubkey)
                ),
            ));
        }
        if m.key != want.key {
            return Err(self.bad(
                &want.key,
                first,
                format!("the answer is named {}", Hex(m.key)),
            ));
        }
        let h = name_of(m.val);
        if h != want.key {
            let what = if want.level == 0 {
                "content"
            } else {
                "pointer"
            };
            return Err(self.bad(
                &want.key,
                first,
                format!(
                    "{what} hashes to {}, not to the name that pointed to it (tampered)",
                    Hex(&h)
                ),
            ));
        }
        let places = self
            .waiting
            .remove(&(want.key, want.level))
            .expect("checked");
        let shape = info.shape.clone();
        if want.level == 0 {
            for p in &places {
                let expect = shape.chunk_len(p.index);
                if m.val.len() as u64 != expect {
                    return Err(self.bad(
                        &want.key,
                        *p,
                        format!("{} bytes where the length promises {expect}", m.val.len()),
                    ));
                }
                sink.write_at(shape.offset(p.index), m.val)?;
                self.progress.bytes += expect;
            }
        } else {
            let children = match decode(m.val) {
                Ok(Header::Pointer { level, children }) if level == want.level => children,
                Ok(Header::Pointer { level, .. }) => {
                    return Err(self.bad(
                        &want.key,
                        first,
                        format!(
                            "says it is a pointer of level {level}, but sits at level {}",
                            want.level
                        ),
                    ))
                }
                Ok(Header::Root { .. }) => {
                    return Err(self.bad(
                        &want.key,
                        first,
                        "is a root where a pointer belongs".into(),
                    ))
                }
                Err(e) => return Err(self.bad(&want.key, first, format!("not a pointer: {e}"))),
            };
            for p in &places {
                self.open(&want.key, *p, children)?;
            }
        }
        self.progress.dats += places.len() as u64;
        Ok(places.len() as u64)
    }

    /// Checks a pointer's (or the root's) child list against the shape and
    /// queues the children.
    fn open(&mut self, key: &[u8; 32], place: Place, children: &[u8]) -> Result<(), FetchError> {
        let shape = self.info.as_ref().expect("root known").shape.clone();
        let n = (children.len() / REF) as u64;
        let expect = shape.children(place.level, place.index);
        if n != expect {
            let what = if n > expect {
                "more than the stated length allows"
            } else {
                "fewer than the stated length needs"
            };
            return Err(self.bad(key, place, format!("lists {n} children, {what} ({expect})")));
        }
        let below = place.level - 1;
        let first_child = place.index * shape.fanout as u64;
        for (j, c) in children.chunks_exact(REF).enumerate() {
            let c: [u8; 32] = c.try_into().expect("32 bytes");
            if below > 0 {
                match self.pointer_levels.get(&c) {
                    Some(&l) if l > below => {
                        return Err(self.bad(
                            key,
                            place,
                            format!(
                                "lists {} (a pointer of level {l}, above it) as its child: a cycle",
                                Hex(&c)
                            ),
                        ))
                    }
                    _ => {
                        self.pointer_levels.insert(c, below);
                    }
                }
            }
            let child = Place {
                level: below,
                index: first_child + j as u64,
            };
            let entry = self.waiting.entry((c, below)).or_default();
            if entry.is_empty() {
                self.queues[below as usize].push_back(c);
            }
            entry.push(child);
        }
        Ok(())
    }

    fn deliver_root(&mut self, m: &Put<'_>, sink: &mut dyn Sink) -> Result<u64, FetchError> {
        if self.info.is_some() {
            return Ok(0);
        }
        let root_piece = |key: [u8; 32]| PieceRef {
            place: Place { level: 0, index: 0 },
            key,
            bytes: None,
            root: true,
        };
        let (work, pubkey) = (m.work, m.pubkey);
        let key: [u8; 32] = match <[u8; 32]>::try_from(m.key) {
            Ok(k) => k,
            Err(_) => {
                return Err(FetchError::Refused(format!(
                    "the dat {} has a {}-byte key; a file root has a 32-byte name",
                    Hex(work),
                    m.key.len()
                )))
            }
        };
        match self.root {
            RootRef::Work(w) if &w != work => {
                return Err(FetchError::Bad {
                    piece: root_piece(w),
                    why: format!("the answer has work {}", Hex(work)),
                })
            }
            RootRef::Name { pubkey: p, key: k } if (p, k) != (*pubkey, key) => {
                return Err(FetchError::Bad {
                    piece: root_piece(k),
                    why: "the answer has another name".into(),
                })
            }
            _ => {}
        }
        if name_of(m.val) != key {
            return Err(FetchError::Bad {
                piece: root_piece(key),
                why: "its value does not hash to its name (tampered, or not a file)".into(),
            });
        }
        let (level, len, chunk, fanout, name, children) = match decode(m.val) {
            Ok(Header::Root {
                level,
                len,
                chunk,
                fanout,
                name,
                children,
            }) => (level, len, chunk, fanout, name, children),
            Ok(Header::Pointer { .. }) => {
                return Err(FetchError::Refused(
                    "that dat is a pointer inside a file, not a file's root".into(),
                ))
            }
            Err(e) => return Err(FetchError::Refused(format!("not a file root: {e}"))),
        };
        let shape = Shape::new(len, chunk as u32, fanout as u32, level)
            .map_err(|e| FetchError::Refused(format!("the root states {e}")))?;
        if len > self.max_len {
            return Err(FetchError::Refused(format!(
                "the file is {len} bytes, more than the {} this reader accepts",
                self.max_len
            )));
        }
        self.info = Some(FileInfo {
            shape: shape.clone(),
            name: name.to_vec(),
            pubkey: *pubkey,
            root_work: *work,
            root_key: key,
        });
        self.queues = vec![VecDeque::new(); level as usize];
        self.pointer_levels.insert(key, level);
        self.progress.dats_total = Some(shape.positions());
        self.progress.bytes_total = Some(len);
        let place = Place { level, index: 0 };
        if let Err(e) = self.open(&key, place, children) {
            return Err(match e {
                FetchError::Bad { why, .. } => FetchError::Bad {
                    piece: root_piece(key),
                    why,
                },
                e => e,
            });
        }
        sink.set_len(len)?;
        self.progress.dats += 1;
        Ok(1)
    }
}

/// Pacing of requests to one peer.
///
/// A node reads its socket in bursts and its packet filter passes one PUT
/// and one GET per source in each burst: a second request that lands in
/// the same burst is dropped. Requests to a peer are therefore clocked by
/// its answers: the next one goes out when the last was answered (the
/// peer has read past it), or, when no answer comes (it did not have the
/// dat, or dropped the request), after twice the peer's smoothed round
/// trip, at least `least` and at most `most`. A peer that is slow to read
/// (busy, or short of CPU) is sent less, by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Least time between two requests to one peer.
    pub least: Duration,
    /// Most time between two requests to one peer (when answers are slow).
    pub most: Duration,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            least: Duration::from_micros(100),
            most: Duration::from_millis(20),
        }
    }
}

/// The most peers a transfer spreads over (a bit mask tracks who was tried).
pub const MAX_LANES: usize = 64;
/// A request is never sent while the node's outbox holds this many datagrams.
const OUTBOX_BUDGET: usize = 192;

#[derive(Clone, Copy, Debug)]
struct Lane {
    addr: SocketAddr,
    live: bool,
    /// When the next request may go.
    ready: Instant,
    /// Smoothed round trip of this peer's answers.
    srtt: Duration,
    inflight: u32,
}

/// The live peers a transfer uses, with their pacing.
#[derive(Debug, Default)]
struct Lanes {
    lanes: Vec<Lane>,
    refreshed: Option<Instant>,
    turn: usize,
}

impl Lanes {
    /// Tracks the node's live peers: new ones join, silent ones pause.
    fn refresh(&mut self, node: &Node, now: Instant) {
        if self
            .refreshed
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(20))
        {
            return;
        }
        self.refreshed = Some(now);
        let epoch = node.epoch();
        // Heard from within 2 PING periods (as for application requests),
        // or within the last 2 seconds: a client starved of CPU for a
        // moment should not write its peers off; timeouts catch dead ones.
        let alive = (2 * node.config().ping_epochs).max(node.config().epochs_in_ms(2000));
        for l in &mut self.lanes {
            l.live = false;
        }
        for p in node.peers().iter() {
            let live = p.seen != NEVER && p.silence(epoch) < alive;
            match self.lanes.iter().position(|l| l.addr == p.addr) {
                Some(i) => self.lanes[i].live = live,
                None if live && self.lanes.len() < MAX_LANES => self.lanes.push(Lane {
                    addr: p.addr,
                    live,
                    ready: now,
                    srtt: Duration::from_millis(1),
                    inflight: 0,
                }),
                None => {}
            }
        }
    }

    fn live(&self) -> usize {
        self.lanes.iter().filter(|l| l.live).count()
    }

    fn live_mask(&self) -> u64 {
        self.lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.live)
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    fn live_addrs(&self) -> Vec<SocketAddr> {
        self.lanes
            .iter()
            .filter(|l| l.live)
            .map(|l| l.addr)
            .collect()
    }

    /// Lane indices in a rotating order, so no peer is always first.
    fn order(&mut self) -> impl Iterator<Item = usize> {
        let n = self.lanes.len();
        self.turn = self.turn.wrapping_add(1);
        let start = if n == 0 { 0 } else { self.turn % n };
        (0..n).map(move |k| (start + k) % n)
    }

    /// Refreshes the lanes, then lists, in rotating order, those that may
    /// be sent a request now: live, past their pacing, and below their
    /// share of `window`. Also the per-try GET timeout in epochs.
    fn ready(
        &mut self,
        node: &Node,
        now: Instant,
        window: usize,
        srtt: Duration,
    ) -> (Vec<usize>, u64) {
        self.refresh(node, now);
        let per_lane = (window.div_ceil(self.live().max(1)) + 2) as u32;
        let timeout = try_timeout(srtt);
        let timeout_epochs = node
            .config()
            .epochs_in_ms(timeout.as_millis().max(1) as u64);
        let mut ready: Vec<usize> = self.order().collect();
        ready.retain(|&li| {
            let l = &self.lanes[li];
            l.live && now >= l.ready && l.inflight < per_lane
        });
        (ready, timeout_epochs)
    }
}

/// Per-try timeout from the smoothed round trip: quick to move on to
/// another peer. A miss only means that peer lacks the dat (it answers
/// nothing then), and a late answer is not lost: the node stores it, and
/// the retry finds it in the node's own store.
fn try_timeout(srtt: Duration) -> Duration {
    (srtt * 8).clamp(Duration::from_millis(20), Duration::from_secs(2))
}

impl Lane {
    /// A request went out.
    fn sent(&mut self, now: Instant, pace: Pace) {
        self.inflight += 1;
        self.ready = now + (self.srtt * 2).clamp(pace.least, pace.most);
    }

    /// An answer came back after `rtt`: the peer has read past our last
    /// request, so the next may go at once.
    fn answered(&mut self, now: Instant, rtt: Duration, pace: Pace) {
        self.inflight -= 1;
        smooth(&mut self.srtt, rtt);
        self.ready = self.ready.min(now + pace.least);
    }

    /// A request timed out.
    fn timed_out(&mut self) {
        self.inflight -= 1;
    }
}

fn smooth(srtt: &mut Duration, sample: Duration) {
    *srtt = (*srtt * 7 + sample) / 8;
}

/// Options of a [`Download`].
#[derive(Clone, Copy, Debug)]
pub struct DownloadOpts {
    /// Most GETs in flight at once (the node's `max_gets` must allow it).
    pub window: usize,
    /// Give up after this long without a new dat.
    pub stall: Duration,
    /// Refuse files longer than this.
    pub max_len: u64,
    /// Pacing per peer.
    pub pace: Pace,
}

impl Default for DownloadOpts {
    fn default() -> Self {
        DownloadOpts {
            window: DEFAULT_WINDOW,
            stall: Duration::from_secs(5),
            max_len: DEFAULT_MAX_LEN,
            pace: Pace::default(),
        }
    }
}

/// Default GETs in flight for a download, and confirmations for an upload.
pub const DEFAULT_WINDOW: usize = 128;

#[derive(Clone, Copy, Debug)]
struct Flight {
    want: Want,
    lane: usize,
    sent: Instant,
    tried: u64,
}

/// Counters of a transfer's requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// PUTs sent.
    pub puts: u64,
    /// GETs sent.
    pub gets: u64,
    /// GETs answered by a peer.
    pub answered: u64,
    /// GETs answered from the node's own store.
    pub local: u64,
    /// GETs that timed out (the peer did not have the dat, or a packet was lost).
    pub timeouts: u64,
}

/// Reads a file from the network: a [`Fetch`] fed by GETs spread over the
/// node's live peers, a window of them in flight, each retried on another
/// peer when it times out.
pub struct Download {
    fetch: Fetch,
    opts: DownloadOpts,
    lanes: Lanes,
    flights: HashMap<GetId, Flight>,
    /// Wants to ask again, with the peers already tried and when.
    retries: VecDeque<(Want, u64, Instant)>,
    srtt: Duration,
    last_progress: Option<Instant>,
    stats: NetStats,
}

impl Download {
    /// A download of the file at `root`.
    pub fn new(root: RootRef, opts: DownloadOpts) -> Download {
        Download {
            fetch: Fetch::new(root, opts.max_len),
            opts,
            lanes: Lanes::default(),
            flights: HashMap::new(),
            retries: VecDeque::new(),
            srtt: Duration::from_millis(30),
            last_progress: None,
            stats: NetStats::default(),
        }
    }

    /// What the root said, once it is in.
    pub fn info(&self) -> Option<&FileInfo> {
        self.fetch.info()
    }

    /// How far it has come.
    pub fn progress(&self) -> Progress {
        self.fetch.progress()
    }

    /// Request counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// GETs in flight.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    /// Live peers in use.
    pub fn peers(&self) -> usize {
        self.lanes.live()
    }

    /// True when every dat is in and verified.
    pub fn is_complete(&self) -> bool {
        self.fetch.is_complete()
    }

    /// Sends what may be sent now; fails when nothing arrived for the
    /// stall time.
    pub fn step(&mut self, node: &mut Node, now: Instant) -> Result<(), FetchError> {
        let since = *self.last_progress.get_or_insert(now);
        if self.is_complete() {
            return Ok(());
        }
        if now.duration_since(since) > self.opts.stall {
            return Err(self.stalled(now));
        }
        let (ready, timeout_epochs) = self.lanes.ready(node, now, self.opts.window, self.srtt);
        for li in ready {
            if self.flights.len() >= self.opts.window || node.transmit_len() >= OUTBOX_BUDGET {
                break;
            }
            let lane = self.lanes.lanes[li];
            let bit = 1u64 << li;
            // Retries first, on a peer not yet tried for them.
            let pos = self
                .retries
                .iter()
                .take(64)
                .position(|(_, tried, at)| *at <= now && tried & bit == 0);
            let (want, tried) = match pos {
                Some(p) => {
                    let (w, t, _) = self.retries.remove(p).expect("found");
                    (w, t)
                }
                None => match self.fetch.next_want() {
                    Some(w) => (w, 0),
                    None => continue,
                },
            };
            let opts = GetOpts {
                timeout_epochs,
                network_only: false,
                avoid: [None; MAX_FANOUT],
            };
            match node.get_to(want.query, opts, lane.addr) {
                Ok(id) => {
                    self.stats.gets += 1;
                    self.flights.insert(
                        id,
                        Flight {
                            want,
                            lane: li,
                            sent: now,
                            tried: tried | bit,
                        },
                    );
                    self.lanes.lanes[li].sent(now, self.opts.pace);
                }
                Err(GetError::Busy) => {
                    self.retries.push_front((want, tried, now));
                    break;
                }
            }
        }
        Ok(())
    }

    fn stalled(&self, now: Instant) -> FetchError {
        let since = self.last_progress.unwrap_or(now);
        let example = self
            .flights
            .values()
            .map(|f| f.want)
            .chain(self.retries.iter().map(|r| r.0))
            .find(|w| w.level != u8::MAX)
            .and_then(|w| {
                self.fetch
                    .waiting
                    .get(&(w.key, w.level))
                    .map(|p| self.fetch.piece(&w.key, p[0]))
            });
        FetchError::Stalled {
            missing: self.fetch.missing(),
            secs: now.duration_since(since).as_secs_f64(),
            peers: self.lanes.live_addrs(),
            example,
        }
    }

    /// Takes a node event. Returns `Ok(false)` when the event belongs to
    /// someone else (pass it on), `Ok(true)` when it was this download's.
    pub fn on_event(
        &mut self,
        node: &Node,
        ev: &Event,
        sink: &mut dyn Sink,
        now: Instant,
    ) -> Result<bool, FetchError> {
        match *ev {
            Event::Got { id, work, from } => {
                let Some(f) = self.flights.remove(&id) else {
                    return Ok(false);
                };
                let lane = &mut self.lanes.lanes[f.lane];
                let rtt = now.duration_since(f.sent);
                match from {
                    Some(_) => {
                        lane.answered(now, rtt, self.opts.pace);
                        self.stats.answered += 1;
                        smooth(&mut self.srtt, rtt);
                    }
                    None => {
                        // Answered from the node's own store: nothing was
                        // sent, so nothing to pace; the lane may go at once.
                        lane.inflight -= 1;
                        lane.ready = lane.ready.min(now);
                        self.stats.local += 1;
                    }
                }
                let Some(m) = node.dat_by_work(&work) else {
                    // Pruned from the node's store before we read it: ask again.
                    self.fetch.retry(&f.want);
                    return Ok(true);
                };
                let n = self.fetch.deliver(&f.want, &m, sink)?;
                if n > 0 {
                    self.last_progress = Some(now);
                }
                Ok(true)
            }
            Event::TimedOut { id } => {
                let Some(f) = self.flights.remove(&id) else {
                    return Ok(false);
                };
                self.stats.timeouts += 1;
                self.lanes.lanes[f.lane].timed_out();
                // Every live peer tried: wait for gossip, then start over.
                let live = self.lanes.live_mask();
                if live & !f.tried == 0 {
                    let at = now + try_timeout(self.srtt) * 4;
                    self.retries.push_back((f.want, 0, at));
                } else {
                    self.retries.push_front((f.want, f.tried, now));
                }
                Ok(true)
            }
        }
    }

    /// Abandons the GETs still in flight.
    pub fn cancel(&mut self, node: &mut Node) {
        for id in self.flights.keys() {
            node.cancel(*id);
        }
        self.flights.clear();
    }
}

/// Options of an [`Upload`].
#[derive(Clone, Copy, Debug)]
pub struct UploadOpts {
    /// Peers each dat is sent to (one of them is asked for it back).
    pub replicas: usize,
    /// Most confirmation GETs in flight.
    pub window: usize,
    /// Give up after this long without a new confirmation.
    pub stall: Duration,
    /// Pacing per peer.
    pub pace: Pace,
}

impl Default for UploadOpts {
    fn default() -> Self {
        UploadOpts {
            replicas: 2,
            window: DEFAULT_WINDOW,
            stall: Duration::from_secs(5),
            pace: Pace::default(),
        }
    }
}

/// Why an upload failed.
#[derive(Debug)]
pub enum UploadError {
    /// Confirmations stopped coming.
    Stalled {
        /// Dats not confirmed.
        missing: usize,
        /// Seconds without progress.
        secs: f64,
        /// Live peers.
        peers: Vec<SocketAddr>,
    },
    /// The node refused one of our own dats (a bug, or a clock far off).
    Refused(String),
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::Stalled {
                missing,
                secs,
                peers,
            } => {
                let list: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
                write!(
                    f,
                    "{missing} dats not confirmed after {secs:.1} s without progress (peers: {})",
                    if list.is_empty() {
                        "none answering".to_string()
                    } else {
                        list.join(", ")
                    }
                )
            }
            UploadError::Refused(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for UploadError {}

#[derive(Clone, Copy, Debug, Default)]
struct DatState {
    /// Lanes it was sent to (bit per lane).
    sent: u64,
    confirmed: bool,
    tries: u32,
}

/// Writes dats to the network: each is sent to `replicas` live peers,
/// paced per peer, and one of them is asked for it back (a GET that only
/// the network may answer); a dat not returned in time is sent again.
/// Dats may be added while it runs (as their proofs of work finish).
pub struct Upload {
    opts: UploadOpts,
    dats: Vec<Option<Dat>>,
    state: Vec<DatState>,
    /// Dats waiting for a copy that one peer is then asked for back: the
    /// first copy, or a re-send after a confirmation timed out.
    push: VecDeque<usize>,
    /// Further copies (`replicas - 1` per dat), sent when `push` has
    /// nothing for a peer; dropped once every live peer has the dat.
    extra: VecDeque<usize>,
    flights: HashMap<GetId, (usize, usize, Instant)>,
    lanes: Lanes,
    srtt: Duration,
    confirmed: usize,
    bytes_confirmed: u64,
    last_progress: Option<Instant>,
    stats: NetStats,
}

impl Upload {
    /// An upload of `total` dats, added with [`Upload::add`].
    pub fn new(total: usize, opts: UploadOpts) -> Upload {
        Upload {
            opts,
            dats: vec![None; total],
            state: vec![DatState::default(); total],
            push: VecDeque::new(),
            extra: VecDeque::new(),
            flights: HashMap::new(),
            lanes: Lanes::default(),
            srtt: Duration::from_millis(30),
            confirmed: 0,
            bytes_confirmed: 0,
            last_progress: None,
            stats: NetStats::default(),
        }
    }

    /// Adds dat `i` (in any order).
    pub fn add(&mut self, i: usize, dat: Dat) {
        if self.dats[i].is_none() {
            self.dats[i] = Some(dat);
            self.push.push_back(i);
            for _ in 1..self.opts.replicas {
                self.extra.push_back(i);
            }
        }
    }

    /// Dats confirmed.
    pub fn confirmed(&self) -> usize {
        self.confirmed
    }

    /// Value bytes confirmed.
    pub fn bytes_confirmed(&self) -> u64 {
        self.bytes_confirmed
    }

    /// True when every dat was added, confirmed by one peer, and sent to
    /// as many as `replicas` (or every live peer, if fewer).
    pub fn is_complete(&self) -> bool {
        self.confirmed == self.dats.len() && self.extra.is_empty()
    }

    /// Request counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Live peers in use.
    pub fn peers(&self) -> usize {
        self.lanes.live()
    }

    /// Sends what may be sent now.
    pub fn step(&mut self, node: &mut Node, now: Instant) -> Result<(), UploadError> {
        let since = *self.last_progress.get_or_insert(now);
        if self.is_complete() {
            return Ok(());
        }
        let outstanding =
            !self.flights.is_empty() || !self.push.is_empty() || !self.extra.is_empty();
        if !outstanding {
            // Waiting for proofs of work, not for the network.
            self.last_progress = Some(now);
        } else if now.duration_since(since) > self.opts.stall {
            return Err(UploadError::Stalled {
                missing: self.dats.len() - self.confirmed,
                secs: now.duration_since(since).as_secs_f64(),
                peers: self.lanes.live_addrs(),
            });
        }
        let (ready, timeout_epochs) = self.lanes.ready(node, now, self.opts.window, self.srtt);
        for li in ready {
            if node.transmit_len() >= OUTBOX_BUDGET || self.flights.len() >= self.opts.window {
                break;
            }
            let lane = self.lanes.lanes[li];
            let bit = 1u64 << li;
            let Some(i) = self.next_push(bit) else {
                continue;
            };
            let dat = self.dats[i].as_ref().expect("queued dats are added");
            let time = dat.time_ms.to_le_bytes();
            match node.put_to(&dat.msg(&time), &[lane.addr]) {
                Ok(_) => self.stats.puts += 1,
                // The node holds a newer dat of this name: the same content
                // (the name is its hash), uploaded again meanwhile. Asking
                // for it back confirms it as well.
                Err(PutError::Invalid(Reason::Stale)) => {}
                Err(e) => return Err(UploadError::Refused(format!("our own dat: {e}"))),
            }
            self.state[i].sent |= bit;
            // Asked back at once: a peer reads its datagrams in order, so
            // the GET finds the PUT stored (they are different ops, so its
            // filter passes both), and the answer clocks the next pair.
            let q = Query::name(dat.pubkey, &dat.key).expect("32-byte key");
            let opts = GetOpts {
                timeout_epochs,
                network_only: true,
                avoid: [None; MAX_FANOUT],
            };
            match node.get_to(q, opts, lane.addr) {
                Ok(id) => {
                    self.stats.gets += 1;
                    self.flights.insert(id, (i, li, now));
                    self.lanes.lanes[li].sent(now, self.opts.pace);
                }
                Err(GetError::Busy) => {
                    self.push.push_front(i);
                    break;
                }
            }
        }
        Ok(())
    }

    /// The next dat to send to the peer of lane bit `bit`: the first queued
    /// dat this peer does not have yet, else an extra copy.
    fn next_push(&mut self, bit: u64) -> Option<usize> {
        let live = self.lanes.live_mask();
        let mut k = 0;
        while k < self.push.len().min(32) {
            let i = self.push[k];
            if self.state[i].confirmed {
                // A late confirmation beat the re-send: nothing to do.
                self.push.remove(k);
                continue;
            }
            if self.state[i].sent & live == live {
                // Every live peer was sent it: any may be sent it again.
                self.state[i].sent = 0;
            }
            if self.state[i].sent & bit == 0 {
                self.push.remove(k);
                return Some(i);
            }
            k += 1;
        }
        let mut k = 0;
        while k < self.extra.len().min(32) {
            let i = self.extra[k];
            if self.state[i].sent & live == live {
                self.extra.remove(k);
                continue;
            }
            if self.state[i].sent & bit == 0 {
                self.extra.remove(k);
                return Some(i);
            }
            k += 1;
        }
        None
    }

    /// Takes a node event; `false` when it belongs to someone else.
    pub fn on_event(&mut self, ev: &Event, now: Instant) -> bool {
        match *ev {
            Event::Got { id, from, .. } => {
                let Some((i, li, sent)) = self.flights.remove(&id) else {
                    return false;
                };
                self.stats.answered += 1;
                let rtt = now.duration_since(sent);
                if from.is_some() {
                    smooth(&mut self.srtt, rtt);
                }
                self.lanes.lanes[li].answered(now, rtt, self.opts.pace);
                let s = &mut self.state[i];
                if !s.confirmed {
                    s.confirmed = true;
                    self.confirmed += 1;
                    self.bytes_confirmed += self.dats[i].as_ref().map_or(0, |d| d.val.len()) as u64;
                    self.last_progress = Some(now);
                }
                true
            }
            Event::TimedOut { id } => {
                let Some((i, li, _)) = self.flights.remove(&id) else {
                    return false;
                };
                self.stats.timeouts += 1;
                self.lanes.lanes[li].timed_out();
                let s = &mut self.state[i];
                if s.confirmed {
                    // Another copy was confirmed already.
                    return true;
                }
                s.tries += 1;
                // Lost on the way, or dropped by a busy peer: send it again,
                // to the same peer once, then to any other.
                s.sent &= !(1u64 << li);
                if s.tries >= 2 {
                    s.sent |= 1u64 << li;
                }
                self.push.push_front(i);
                true
            }
        }
    }

    /// Abandons the GETs still in flight.
    pub fn cancel(&mut self, node: &mut Node) {
        for id in self.flights.keys() {
            node.cancel(*id);
        }
        self.flights.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_follow_the_wire() {
        assert_eq!(
            CHUNK,
            dave_core::wire::max_val_len(32, dave_core::pow::SOLVER_SALT_LEN)
        );
        assert_eq!(FANOUT, 38);
        assert_eq!(root_capacity(0), 37);
        assert_eq!(root_capacity(NAME_MAX), 30);
    }

    #[test]
    fn shapes() {
        let s = Shape::new(0, 1231, 38, 1).unwrap();
        assert_eq!((s.chunks(), s.positions()), (0, 1));
        let s = Shape::new(1231 * 38 * 5 + 1, 1231, 38, 3).unwrap();
        assert_eq!(s.chunks(), 38 * 5 + 1);
        assert_eq!(s.count(1), 6);
        assert_eq!(s.count(2), 1);
        assert_eq!(s.children(3, 0), 1);
        assert_eq!(s.children(2, 0), 6);
        assert_eq!(s.children(1, 4), 38);
        assert_eq!(s.children(1, 5), 1);
        assert_eq!(s.chunk_len(190), 1);
        assert!(Shape::new(1, 0, 38, 1).is_err());
        assert!(Shape::new(1, 1231, 1, 1).is_err());
        assert!(Shape::new(1, 1231, 38, MAX_DEPTH + 1).is_err());
    }

    #[test]
    fn layouts_dedupe_and_round_trip_headers() {
        let data = vec![7u8; CHUNK * 100];
        let l = layout(&data, b"zeros").unwrap();
        // One distinct chunk, two distinct level-1 pointers (full, short), the root.
        assert_eq!(l.pieces.len(), 4);
        assert_eq!(l.shape.height, 2);
        let root = l.pieces.last().unwrap();
        match decode(&root.val).unwrap() {
            Header::Root {
                level,
                len,
                chunk,
                fanout,
                name,
                children,
            } => {
                assert_eq!(
                    (level, len, chunk, fanout),
                    (2, data.len() as u64, 1231, 38)
                );
                assert_eq!(name, b"zeros");
                assert_eq!(children.len(), 3 * REF);
            }
            h => panic!("{h:?}"),
        }
        for p in &l.pieces {
            assert!(p.val.len() <= CHUNK);
            assert_eq!(p.key, name_of(&p.val));
        }
        assert!(decode(&[MAGIC, 9, 1, 1]).is_err());
        assert!(decode(&[MAGIC, VERSION, 1, 0]).is_err());
        assert!(decode(&[MAGIC, VERSION, 1, 1, 0]).is_err());
    }
}
