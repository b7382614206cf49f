//! The layout of a file (docs/files.md): the format's constants, the shape
//! of a tree (the arithmetic writer and reader agree on), pointer and root
//! values written and read, and cutting a file into its distinct pieces.
//! Pure: no proof of work, no I/O.

use dave_core::wire::PACKET_MAX;
use std::collections::HashSet;
use std::fmt;

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
            let len = u64::from_le_bytes([
                val[4], val[5], val[6], val[7], val[8], val[9], val[10], val[11],
            ]);
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
        .map_err(|_| LayoutError::TooLarge(data.len() as u64))?;
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
