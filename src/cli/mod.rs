//! The command line's commands that need more than one screen of code.

pub mod files;
