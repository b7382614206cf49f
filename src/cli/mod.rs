//! The command line's commands; `main.rs` parses flags and dispatches here.

pub mod client;
pub mod estimate;
pub mod files;
pub mod interrupt;
pub mod run;
pub mod usage;
pub mod values;
