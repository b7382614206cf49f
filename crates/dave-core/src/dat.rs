//! An owned dat, and making one: proof of work on every core, then a signature.

use crate::pow;
use crate::wire::{Msg, Put, KEY_MAX};
use ed25519_dalek::SigningKey;
use std::sync::atomic::AtomicU64;

/// A complete, owned PUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dat {
    /// Key within the owner's namespace, 0..=32 bytes.
    pub key: Vec<u8>,
    /// Value.
    pub val: Vec<u8>,
    /// Time, ms since the Unix epoch.
    pub time_ms: u64,
    /// Salt.
    pub salt: Vec<u8>,
    /// Work hash.
    pub work: [u8; 32],
    /// Owner's public key.
    pub pubkey: [u8; 32],
    /// Signature over the work.
    pub sig: [u8; 64],
}

/// Why a dat could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MakeError {
    /// The key is longer than 32 bytes.
    KeyTooLong(usize),
    /// The value does not fit in one datagram.
    ValTooLong {
        /// Bytes given.
        len: usize,
        /// Most bytes that fit with this key.
        max: usize,
    },
}

impl std::fmt::Display for MakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MakeError::KeyTooLong(n) => write!(f, "key is {n} bytes; at most {KEY_MAX} fit"),
            MakeError::ValTooLong { len, max } => write!(
                f,
                "value is {len} bytes; at most {max} fit in one datagram (use setf for larger data)"
            ),
        }
    }
}

impl std::error::Error for MakeError {}

impl Dat {
    /// Computes the proof of work to `bits` on `threads` threads and signs it.
    pub fn make(
        key: &[u8],
        val: &[u8],
        time_ms: u64,
        bits: u8,
        signer: &SigningKey,
        threads: usize,
        progress: Option<&AtomicU64>,
    ) -> Result<(Dat, u64), MakeError> {
        if key.len() > KEY_MAX {
            return Err(MakeError::KeyTooLong(key.len()));
        }
        let max = crate::wire::max_val_len(key.len(), pow::SOLVER_SALT_LEN);
        if val.len() > max {
            return Err(MakeError::ValTooLong {
                len: val.len(),
                max,
            });
        }
        let time = time_ms.to_le_bytes();
        let load = pow::load(key, val, &time);
        let sol = pow::solve(&load, bits, threads, progress);
        let sig = pow::sign(signer, &sol.work);
        Ok((
            Dat {
                key: key.to_vec(),
                val: val.to_vec(),
                time_ms,
                salt: sol.salt.to_vec(),
                work: sol.work,
                pubkey: signer.verifying_key().to_bytes(),
                sig,
            },
            sol.attempts,
        ))
    }

    /// A borrowed PUT message of this dat (the time bytes live in `time`).
    pub fn msg<'a>(&'a self, time: &'a [u8; 8]) -> Msg<'a> {
        self.put(time).msg()
    }

    /// The typed PUT of this dat (the time bytes live in `time`).
    pub fn put<'a>(&'a self, time: &'a [u8; 8]) -> Put<'a> {
        Put {
            key: &self.key,
            val: &self.val,
            time,
            salt: &self.salt,
            work: &self.work,
            pubkey: &self.pubkey,
            sig: &self.sig,
        }
    }

    /// Copies a decoded PUT.
    pub fn from_put(m: &Put<'_>) -> Dat {
        Dat {
            key: m.key.to_vec(),
            val: m.val.to_vec(),
            time_ms: m.time_ms(),
            salt: m.salt.to_vec(),
            work: *m.work,
            pubkey: *m.pubkey,
            sig: *m.sig,
        }
    }

    /// Copies a PUT message, if every field has its size.
    pub fn from_msg(m: &Msg<'_>) -> Option<Dat> {
        Put::from_msg(m).ok().map(|p| Dat::from_put(&p))
    }
}
