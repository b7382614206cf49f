//! The sans-IO core of dave: an anonymous peer-to-peer key-value store on UDP.
//!
//! Writers pay with proof of work, readers pay by taking part in gossip, and
//! every node keeps a bounded cache of the heaviest values. The protocol this
//! crate implements is `docs/protocol.md` in the repository.
//!
//! [`Node`] is a pure state machine: it never reads a clock, never touches a
//! socket, never spawns a thread (proof-of-work search aside, which a caller
//! runs off the node) and never allocates after it is built. Time comes in as
//! a [`Now`], datagrams as byte slices through [`Node::handle_packet`]; bytes
//! leave through a fixed outbox ([`Node::peek_transmit`],
//! [`Node::pop_transmit`]) and results as [`Event`]s. The crate depends on no
//! IO crate at all, so IO here is a compile error, not a convention.
//!
//! Two namespaces stay public because they are groups of free functions:
//! [`wire`] (the codec) and [`pow`] (proof of work, signatures, mass).
//! Everything else is re-exported here.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod candidates;
mod config;
mod cookie;
mod dat;
mod draw;
mod filter;
mod group;
mod index;
mod node;
mod note;
mod peers;
pub mod pow;
mod pow_simd;
mod reason;
mod store;
pub mod wire;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{
    Config, ConfigError, DAT_CAP, DEFAULT_PORT, DELAY_EPOCHS, DROP_EPOCHS, EPOCH_NS,
    EXCHANGE_EPOCHS, FANOUT, FILTER_CAP, MAX_PEERS, MAX_SKEW_MS, OPEN_EPOCHS, OWN_PUSHES,
    PING_EPOCHS, PROBE, PRUNE_EPOCHS, PULL_CREDIT, PULL_EPOCHS, PUSHES, REPLY_RECENT,
    REPLY_REPEATS, REPLY_REPEAT_EPOCHS, REPLY_SHARE_BURST, REPLY_SHARE_SPLIT, RESEED_EPOCHS, RING,
    ROTATE_EPOCHS, SEED_EPOCHS, TRUST_HALF_EPOCHS, UNVALIDATED_REPLIES, UNVALIDATED_REPLY_EPOCHS,
};
pub use cookie::cookie;
pub use dat::{Dat, MakeError};
pub use group::group;
pub use index::KeyedHash;
pub use node::{
    check_put, Event, GetError, GetId, GetOpts, Node, Now, PutError, Query, Reason, Stats,
    MAX_FANOUT, REASONS,
};
pub use note::{Note, NOTE_SLOTS};
pub use peers::{
    canonical, splitmix, Admit, Contest, Peer, Peers, BUCKET_SLOTS, GROUP_MAX, GROUP_SHARE, NEVER,
    PROTECTED, REPLY_SHARES,
};
pub use store::{Meta, Store};
