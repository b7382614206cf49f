//! dave: an anonymous peer-to-peer key-value store on UDP.
//!
//! Writers pay with proof of work, readers pay by taking part in gossip, and
//! every node keeps a bounded cache of the heaviest values. The protocol is
//! described in `PROTOCOL.md`; this crate is shaped as a pure core
//! ([`node::Node`]: no clock, no sockets, no allocation after construction)
//! driven by a thin mio shell ([`driver::Driver`]).

#![warn(missing_docs)]
// The minimum Rust moved to 1.89 for the AVX-512 proof-of-work search; the
// newer `is_multiple_of` reads no better than `%` in this code.
#![allow(clippy::manual_is_multiple_of)]

pub mod backup;
pub mod config;
pub mod control;
pub mod dat;
pub mod driver;
pub mod files;
pub mod filter;
pub mod gateway;
pub mod index;
pub mod json;
pub mod keys;
pub mod logfmt;
pub mod node;
pub mod peers;
pub mod pow;
pub mod pow_simd;
pub mod sim;
pub mod status;
pub mod store;
pub mod sys;
pub mod wire;

pub use config::Config;
pub use dat::Dat;
pub use node::{Event, GetOpts, Node, Now, Query};
