//! A deterministic network simulator: many [`Node`]s in virtual time.
//!
//! The simulator drives the very same protocol core as the UDP driver: it
//! ticks every node once per epoch (lockstep), hands each datagram to its
//! destination at its arrival epoch, and drains every outbox. Everything the
//! network does to a datagram (latency, loss, duplication, reordering,
//! partitions) and everything that happens to a node (crash, restart with or
//! without its store, late join) is decided by one seeded
//! `Xoshiro256PlusPlus`, so a run is a pure function of its [`SimConfig`].
//! Hostile senders are traffic generators on their own addresses, not
//! modified nodes.
//!
//! After every event (a tick or a delivered datagram) the affected node's
//! bounds are checked ([`Node::check_bounds`]); every `check_every` epochs one
//! node in turn gets the full [`Node::check_invariants`]; at the end every
//! node is checked in full (see [`Sim::final_check`]). A failure carries the
//! one command that replays it.
//!
//! Each epoch runs in three phases:
//!
//! 1. scheduled events, in order: crashes, restarts, joins, partitions, the
//!    background write stream, hostile sends (sequential, the sim's RNG);
//! 2. per node, in node order: tick, then deliver the datagrams that arrive
//!    this epoch in the order they were sent (parallel over contiguous
//!    chunks of nodes: a node's work depends only on its own state and its
//!    inbox, so the result does not depend on the number of threads);
//! 3. routing every datagram sent in phase 2, in node order, through loss,
//!    duplication, partitions and latency (sequential, the sim's RNG).
//!
//! The event log is a sequence of fixed-size binary records (kind, node,
//! peer, size or detail) fed to blake3 as the run goes; `--log FILE` writes
//! the same records as text lines.
//!
//! [`Node`]: dave_core::Node
//! [`Node::check_bounds`]: dave_core::Node::check_bounds
//! [`Node::check_invariants`]: dave_core::Node::check_invariants

mod addr;
mod cli;
mod config;
mod engine;
mod error;
mod event_log;
mod report;
mod scenarios;

pub use cli::{config_from, options};
pub use config::{Scenario, SimConfig, SybilAddrs, SybilMode, ECLIPSE_EVERY};
pub use engine::{NetStats, Sim, SybilStats, Tracked, NEVER};
pub use error::SimError;
pub use report::Outcome;
pub use scenarios::{ideal_rounds, run, run_sim};
