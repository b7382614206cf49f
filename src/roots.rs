//! What a file reference (`getf`, `GET /v1/file`) turned out to point to
//! when it is not a file: the reader refuses such a root, and the command
//! line and the gateway say so plainly.

use dave_core::Node;
use dave_files::{Header, RootRef};

/// A dat that is not a file's root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAFile {
    /// A plain value (`daved set`), of this many bytes.
    Value(usize),
    /// A pointer inside a file's tree.
    Piece,
}

/// Whether the dat `root` names, if `node` holds it, is not a file root
/// (`None` when it is one, or is not held).
pub fn not_a_file(node: &Node, root: &RootRef) -> Option<NotAFile> {
    let d = match root {
        RootRef::Work(w) => node.dat_by_work(w),
        RootRef::Name { pubkey, key } => node.dat_by_name(pubkey, key),
    }?;
    match dave_files::decode(d.val) {
        Ok(Header::Root { .. }) => None,
        Ok(Header::Pointer { .. }) => Some(NotAFile::Piece),
        Err(_) => Some(NotAFile::Value(d.val.len())),
    }
}

/// The `daved get` command that reads what `root` names as a value.
pub fn get_command(root: &RootRef) -> String {
    use dave_core::wire::Hex;
    match root {
        RootRef::Work(w) => format!("daved get {}", Hex(w)),
        RootRef::Name { pubkey, key } => format!("daved get {} hex:{}", Hex(pubkey), Hex(key)),
    }
}
