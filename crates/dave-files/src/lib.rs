//! Files larger than a dat: a Merkle tree of content-named dats
//! (`docs/files.md` is the contract; this crate implements it).
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
//! The crate has four layers, each usable alone:
//!
//! - the layout: [`layout()`] turns bytes into [`Piece`]s (pure, no proof of
//!   work), [`Shape`] is the arithmetic both sides agree on, [`decode`]
//!   reads a pointer or root value;
//! - [`make_dats`]: proof of work for every piece, one piece per core at a
//!   time (many small solves parallelise better than one solve on many
//!   cores, which must stop every thread at each hit);
//! - [`Fetch`]: the reader's tree walk and verification, with no I/O, so it
//!   can be fed from a node, a test's map, or anything else;
//! - [`Upload`] and [`Download`]: the network side, driven over a
//!   [`Node`](dave_core::Node) one step at a time (a CLI loop or a gateway's event loop
//!   calls `step` and hands over the node's events), pacing requests over
//!   the node's live peers.
//!
//! One file per job: `layout` (format, shape, pieces), `make` (proof of
//! work), `fetch` (the walk), `lanes` (peers and pacing shared by the
//! transfers), `download` and `upload`. Everything public is re-exported
//! here; the modules themselves are private.

mod download;
mod fetch;
mod lanes;
mod layout;
mod make;
mod upload;

pub use download::{Download, DownloadOpts};
pub use fetch::{Fetch, FetchError, FileInfo, PieceRef, Place, Progress, RootRef, Sink, Want};
pub use lanes::{NetStats, Pace, DEFAULT_WINDOW, MAX_LANES};
pub use layout::{
    decode, encode_pointer, encode_root, layout, name_of, root_capacity, Header, Layout,
    LayoutError, Piece, Shape, CHUNK, DEFAULT_MAX_LEN, FANOUT, HEADER, KIND_POINTER, KIND_ROOT,
    MAGIC, MAX_CHILDREN, MAX_DEPTH, NAME_MAX, REF, ROOT_HEADER, VERSION,
};
pub use make::{make_dats, PowProgress};
pub use upload::{Upload, UploadError, UploadOpts};
