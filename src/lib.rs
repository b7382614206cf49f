//! daved, the dave daemon: the thin shell around the [`dave_core`] state
//! machine.
//!
//! This crate holds everything that does IO: the mio event loop and its UDP
//! socket ([`driver`]), system calls ([`sys`]), the control socket and status
//! ([`control`], [`status`]), the backup file ([`backup`]), the writer's key
//! ([`keys`]), the log format ([`logfmt`]), what a file reference that is not
//! a file points to ([`roots`]), edges given by host name and looked up
//! again when silent ([`edges`]) and the HTTP gateway ([`gateway`]).
//! The protocol itself lives in `dave-core`, which cannot do IO.

#![warn(missing_docs)]

pub mod backup;
pub mod control;
pub mod driver;
pub mod edges;
pub mod gateway;
pub mod handshake;
pub mod json;
pub mod keys;
pub mod logfmt;
pub mod roots;
pub mod status;
pub mod sys;
pub mod tokens;
