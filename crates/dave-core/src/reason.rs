//! Why a packet was dropped: one table, from which the enums, their order,
//! their counter indexes and their names all come. Status lines, `--json`,
//! `/metrics` and the simulator's reports read [`Reason::ALL`] and
//! [`Reason::name`]; nothing else lists reasons.

use std::fmt;

macro_rules! reasons {
    (
        decode { $( $(#[doc = $dd:literal])* $dv:ident => $dn:literal, )* }
        node { $( $(#[doc = $nd:literal])* $nv:ident => $nn:literal, )* }
    ) => {
        /// Why a datagram could not be decoded. Each is counted separately.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DecodeError {
            $( $(#[doc = $dd])* $dv, )*
        }

        impl DecodeError {
            /// Every decode error, in counter order.
            pub const ALL: [DecodeError; [$(DecodeError::$dv),*].len()] = [$(DecodeError::$dv),*];

            /// Short name, used in counters and logs.
            pub const fn name(self) -> &'static str {
                match self {
                    $( DecodeError::$dv => $dn, )*
                }
            }
        }

        /// The non-decode reasons, numbered for counter indexes.
        #[repr(u8)]
        enum Local {
            $( $nv, )*
        }

        /// Why a packet was dropped or ignored. Every one is counted.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason {
            /// Could not be decoded or failed op validation.
            Decode(DecodeError),
            $( $(#[doc = $nd])* $nv, )*
        }

        /// Number of distinct [`Reason`]s.
        pub const REASONS: usize = DecodeError::ALL.len() + [$(Local::$nv as u8),*].len();

        impl Reason {
            /// Every reason, in counter order: decode errors first.
            pub const ALL: [Reason; REASONS] = {
                let mut all = [Reason::Decode(DecodeError::ALL[0]); REASONS];
                let mut i = 0;
                while i < DecodeError::ALL.len() {
                    all[i] = Reason::Decode(DecodeError::ALL[i]);
                    i += 1;
                }
                let rest = [$(Reason::$nv),*];
                let mut j = 0;
                while j < rest.len() {
                    all[i + j] = rest[j];
                    j += 1;
                }
                all
            };

            /// This reason's place in [`Reason::ALL`] and in `Stats::drops`.
            pub const fn index(self) -> usize {
                match self {
                    Reason::Decode(d) => d as usize,
                    $( Reason::$nv => DecodeError::ALL.len() + Local::$nv as usize, )*
                }
            }

            /// Short name for counters and logs.
            pub const fn name(self) -> &'static str {
                match self {
                    Reason::Decode(d) => d.name(),
                    $( Reason::$nv => $nn, )*
                }
            }
        }
    };
}

reasons! {
    decode {
        /// Longer than the receive buffer (MTU).
        TooLong => "too_long",
        /// A varint, tag or length ran past the end of the buffer, or was malformed.
        Malformed => "malformed",
        /// A known field carried the wrong wire type.
        WireType => "wire_type",
        /// A singular field appeared twice.
        Duplicate => "duplicate_field",
        /// The op value is not one of the four ops.
        UnknownOp => "unknown_op",
        /// A field has a length no valid message has.
        FieldSize => "field_size",
        /// More than NPEER peer descriptors.
        TooManyPeers => "too_many_peers",
        /// A peer descriptor with a bad ip length, port, or address.
        BadPeer => "bad_peer",
        /// A required field for this op is missing.
        Missing => "missing_field",
    }
    node {
        /// Same op from the same source already seen this epoch.
        Filter => "filter",
        /// From one of the node's own addresses.
        FromSelf => "from_self",
        /// A PUT whose canonical encoding exceeds PACKET_MAX (it could not be forwarded).
        Oversize => "oversize",
        /// `work` is not blake3(salt || load).
        WorkMismatch => "work_mismatch",
        /// Difficulty below MIN_WORK.
        LowWork => "low_work",
        /// `time` beyond now + MAX_SKEW.
        Future => "future",
        /// The signature does not verify strictly.
        BadSig => "bad_sig",
        /// An older version of a held name.
        Stale => "stale",
        /// A PEER nobody asked for (or whose token is not the cookie we
        /// sent).
        Unsolicited => "unsolicited_peer",
        /// A GET for a dat not held.
        GetMiss => "get_miss",
        /// A novel PUT from a source without trust while the budget of
        /// signature checks for such sources is spent.
        VerifyBudget => "verify_budget",
        /// A GET from an address that has not proved it receives there.
        Unvalidated => "unvalidated",
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<DecodeError> for Reason {
    fn from(d: DecodeError) -> Reason {
        Reason::Decode(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_numbers_and_names_every_reason_once() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?} is counted at its own place");
        }
        for (i, a) in Reason::ALL.iter().enumerate() {
            for b in &Reason::ALL[i + 1..] {
                assert_ne!(a.name(), b.name(), "two reasons share a name");
            }
        }
        assert_eq!(Reason::ALL[0], Reason::Decode(DecodeError::TooLong));
        assert_eq!(Reason::ALL[REASONS - 1], Reason::Unvalidated);
    }
}
