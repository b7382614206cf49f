//! The reader's walk over a tree, with no I/O: [`Fetch`] hands out the dats
//! it wants, verifies each answer against the name that pointed to it and
//! against the shape the root promised, and writes chunks to a [`Sink`].
//! Also the names a reader uses: [`RootRef`], [`Place`], [`PieceRef`], and
//! why a read fails, [`FetchError`].

use crate::layout::{decode, name_of, Header, Shape, REF};
use dave_core::wire::{Hex, Put};
use dave_core::Query;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;

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
/// chunks arrive (limit it with
/// [`DownloadOpts::max_len`](crate::DownloadOpts::max_len)).
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
    pub(crate) waiting: HashMap<([u8; 32], u8), Vec<Place>>,
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
                query: Query::name32(pubkey, &key),
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
                    query: Query::name32(pubkey, &key),
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
        let Some(info) = self.info.as_ref() else {
            return Ok(0); // not asked for before the root: nobody waits for it
        };
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
        let Some(places) = self.waiting.remove(&(want.key, want.level)) else {
            return Ok(0);
        };
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
        let Some(shape) = self.info.as_ref().map(|i| i.shape.clone()) else {
            return Err(FetchError::Refused(
                "a pointer was opened before the root".into(),
            ));
        };
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
            let Ok(c) = <[u8; 32]>::try_from(c) else {
                continue; // chunks_exact(REF) gives REF = 32 bytes
            };
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
