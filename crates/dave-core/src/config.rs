//! Protocol constants (docs/protocol.md section 5) and a node's configuration.

use std::net::SocketAddr;

/// Default base period of the cycle, in nanoseconds.
pub const EPOCH_NS: u64 = 65537;
/// Default UDP port.
pub const DEFAULT_PORT: u16 = 1618;
/// 1/PROBE: chance that selection ignores trust.
pub const PROBE: u32 = 1000;
/// Epochs before a new peer is sent dats.
pub const DELAY_EPOCHS: u64 = 1993;
/// Epochs of silence after which a peer is no longer advertised: 2 x PING,
/// the window in which a peer counts as live for everything else (the
/// contract's OPEN is 257). A node pings a peer silent for PING, so every
/// live peer is heard within it, however quiet; with 257, answers named
/// the peers heard most often, and a party that pings 100 times as often
/// was named more than its share (docs/protocol.md, Decisions).
pub const OPEN_EPOCHS: u64 = 2 * PING_EPOCHS;
/// Epochs of silence before a peer is pinged with GETPEER.
pub const PING_EPOCHS: u64 = 719;
/// Epochs of silence before a peer is dropped.
pub const DROP_EPOCHS: u64 = 106033;
/// Epochs between prunes.
pub const PRUNE_EPOCHS: u64 = 32768;
/// Epochs between sending one dat to one peer.
pub const SEED_EPOCHS: u64 = 2;
/// Epochs between sending one GET to one peer.
pub const PULL_EPOCHS: u64 = 53;
/// Peers an application PUT or GET goes to at once.
pub const FANOUT: usize = 2;
/// How far in the future a dat's time may be, in ms.
pub const MAX_SKEW_MS: u64 = 10_000;
/// Recently novel dats kept for pushing.
pub const RING: usize = 1024;
/// Peer table bound.
pub const MAX_PEERS: usize = 1024;
/// Dats kept after a prune.
pub const DAT_CAP: usize = 100_000;
/// Packet filter slots.
pub const FILTER_CAP: usize = 1 << 20;
/// Epochs per signature check granted to sources without trust (shared).
pub const UNTRUSTED_VERIFY_EPOCHS: u64 = 4;
/// Burst of such checks.
pub const UNTRUSTED_VERIFY_BURST: u64 = 64;
/// Datagrams the outbox holds before sends are dropped (and counted).
pub const OUTBOX_SLOTS: usize = 256;
/// Epochs between two cookie secrets (docs/protocol.md 5.3): about 69 s.
pub const ROTATE_EPOCHS: u64 = 1 << 20;
/// Replies to unvalidated addresses, all together: a burst of this many,
/// refilled one per [`UNVALIDATED_REPLY_EPOCHS`].
pub const UNVALIDATED_REPLIES: u64 = 64;
/// Epochs per reply to an unvalidated address, all sources together: at
/// the default EPOCH about 480 a second of 22 bytes. Small on purpose: a
/// reply to a forged on-link address that never answers ARP waits in the
/// kernel for the 3 s ARP timeout, charged (about 1 KB of truesize) to the
/// node's socket; 3 s of these replies must stay well below its 2 MiB send
/// buffer, or the node's own sends stall (docs/security.md).
pub const UNVALIDATED_REPLY_EPOCHS: u64 = 32;
/// One address group's share of the budget for replies to unproven
/// addresses: at most one such reply per REPLY_SHARE_SPLIT x
/// [`UNVALIDATED_REPLY_EPOCHS`] epochs (at the default EPOCH about 30 a
/// second, a sixteenth of the whole), so that a few groups cannot spend
/// the budget every honest newcomer's first contact needs.
pub const REPLY_SHARE_SPLIT: u64 = 16;
/// Replies to unproven addresses one group may send at once, above its
/// share's rate.
pub const REPLY_SHARE_BURST: u64 = 4;
/// An address that has not proved it receives gets at most
/// [`REPLY_REPEATS`] cookies per this many epochs (ROTATE/4, about 17 s):
/// a cookie stays valid for at least ROTATE, so an honest asker needs one,
/// or two when the first is lost. After a refusal an address waits
/// REPLY_SHARE_SPLIT x UNVALIDATED_REPLY_EPOCHS epochs before it is
/// considered again, twice as long after each further refusal, up to this
/// window: a party that asks again whenever it is refused would otherwise
/// take every reply the budget refills.
pub const REPLY_REPEAT_EPOCHS: u64 = ROTATE_EPOCHS / 4;
/// Cookies per address per [`REPLY_REPEAT_EPOCHS`]. A second one is sent
/// only while more than half of [`UNVALIDATED_REPLIES`] is left: when the
/// budget is contested, newcomers' first contacts come before repeats.
pub const REPLY_REPEATS: u32 = 2;
/// Addresses remembered for that rule, in a fixed array indexed by a keyed
/// hash of the address (a newer address takes an older one's place).
pub const REPLY_RECENT: usize = 2048;
/// Epochs between redrawing one bucket's rank seed (docs/protocol.md 5.4):
/// about 0.27 s, so with 64 buckets each is redrawn every 17 s and an
/// entry that won its slot on rank defends it against a fresh draw that
/// often; short enough that nobody keeps a slot for having come first,
/// long enough that tables do not churn (a slot changes hands on a new
/// seed only when a contender asks for it).
pub const RESEED_EPOCHS: u64 = 4096;
/// Pushes of each fresh dat (docs/protocol.md 5.5), chosen in the
/// simulator (docs/simulation.md).
pub const PUSHES: u32 = 32;
/// Epochs in which trust halves: about 17 s.
pub const TRUST_HALF_EPOCHS: u64 = 1 << 18;
/// Pushes of a dat this node's own application wrote, beside its FANOUT
/// sends. Every peer the writer sends a new dat to got it straight from
/// its writer, so fewer pushes hide the writer better; but with none, a
/// writer whose FANOUT peers swallow its dat loses it (docs/simulation.md,
/// figure 7: 8 keeps both within bounds).
pub const OWN_PUSHES: u32 = 8;
/// Trust earned by a validated answer to one of our pulls or GETs, chosen
/// in the simulator (docs/simulation.md).
pub const PULL_CREDIT: f64 = 1.0;
/// Epochs between two GETPEERs sent to ask for peers (peer exchange), each
/// to a peer drawn uniformly among the live ones that were not asked
/// within PING epochs (docs/protocol.md 5.4): about 240 a second. Pings
/// go only to silent peers, and the peers a node hears from constantly
/// would otherwise never be asked; a node that learns addresses slower
/// than an attacker who asks 100 times as often fills its table with the
/// attacker's (docs/simulation.md, figure 6). 0: none.
pub const EXCHANGE_EPOCHS: u64 = 64;
/// Candidates (edges and learned addresses not yet validated) kept.
pub const CANDIDATES: usize = 64;
/// Application GETs in flight at once.
pub const MAX_GETS: usize = 16;
/// Application events queued before the oldest is overwritten (and counted).
pub const EVENT_SLOTS: usize = 64;
/// An application GET is sent again every this many PULL periods.
pub const GET_RESEND_PULLS: u64 = 4;

/// Everything a node is configured with. Epoch counts scale with `epoch_ns`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base period in ns (used by drivers to turn time into epochs).
    pub epoch_ns: u64,
    /// Dats kept after a prune.
    pub dat_cap: usize,
    /// Extra dats the store holds between prunes before pruning early.
    pub dat_slack: usize,
    /// Packet filter slots.
    pub filter_cap: usize,
    /// Peer table bound.
    pub max_peers: usize,
    /// Least difficulty accepted.
    pub min_work: u8,
    /// Allowed future skew of `time`, in ms.
    pub max_skew_ms: u64,
    /// Bootstrap peers: pinged at start, never dropped.
    pub edges: Vec<SocketAddr>,
    /// Seed of the node's random number generator.
    pub seed: u64,
    /// Outbox slots.
    pub outbox_slots: usize,
    /// Recently novel dats kept for pushing.
    pub ring: usize,
    /// See [`DELAY_EPOCHS`].
    pub delay_epochs: u64,
    /// See [`OPEN_EPOCHS`].
    pub open_epochs: u64,
    /// See [`PING_EPOCHS`].
    pub ping_epochs: u64,
    /// See [`DROP_EPOCHS`].
    pub drop_epochs: u64,
    /// See [`PRUNE_EPOCHS`].
    pub prune_epochs: u64,
    /// See [`SEED_EPOCHS`].
    pub seed_epochs: u64,
    /// See [`PULL_EPOCHS`].
    pub pull_epochs: u64,
    /// See [`PROBE`].
    pub probe: u32,
    /// See [`FANOUT`].
    pub fanout: usize,
    /// One signature check for a source without trust per this many
    /// epochs, shared by all such sources (at the default EPOCH, about 3,800
    /// a second: an eighth of a core).
    pub untrusted_verify_epochs: u64,
    /// Checks such sources may burst above that rate.
    pub untrusted_verify_burst: u64,
    /// Remember novel dats for [`crate::node::Node::drain_novel`] (a backup file).
    pub track_novel: bool,
    /// Application GETs in flight at once (see [`MAX_GETS`]); a client
    /// fetching a file raises it to keep a window of requests open.
    pub max_gets: usize,
    /// Record a [`crate::Note`] for every event (packets dropped, peers
    /// added and dropped, pings, dats), not only for prunes: the daemon's
    /// `-v`. Off, each such place costs one branch.
    pub notes: bool,
    /// See [`ROTATE_EPOCHS`].
    pub rotate_epochs: u64,
    /// See [`UNVALIDATED_REPLIES`].
    pub unvalidated_replies: u64,
    /// See [`UNVALIDATED_REPLY_EPOCHS`].
    pub unvalidated_reply_epochs: u64,
    /// See [`RESEED_EPOCHS`].
    pub reseed_epochs: u64,
    /// See [`PUSHES`].
    pub pushes: u32,
    /// See [`OWN_PUSHES`].
    pub own_pushes: u32,
    /// See [`TRUST_HALF_EPOCHS`].
    pub trust_half_epochs: u64,
    /// See [`PULL_CREDIT`].
    pub pull_credit: f64,
    /// See [`EXCHANGE_EPOCHS`] (0: no peer exchange).
    pub exchange_epochs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            epoch_ns: EPOCH_NS,
            dat_cap: DAT_CAP,
            dat_slack: DAT_CAP / 4 + 64,
            filter_cap: FILTER_CAP,
            max_peers: MAX_PEERS,
            min_work: crate::pow::MIN_WORK,
            max_skew_ms: MAX_SKEW_MS,
            edges: Vec::new(),
            seed: 0,
            outbox_slots: OUTBOX_SLOTS,
            ring: RING,
            delay_epochs: DELAY_EPOCHS,
            open_epochs: OPEN_EPOCHS,
            ping_epochs: PING_EPOCHS,
            drop_epochs: DROP_EPOCHS,
            prune_epochs: PRUNE_EPOCHS,
            seed_epochs: SEED_EPOCHS,
            pull_epochs: PULL_EPOCHS,
            probe: PROBE,
            fanout: FANOUT,
            untrusted_verify_epochs: UNTRUSTED_VERIFY_EPOCHS,
            untrusted_verify_burst: UNTRUSTED_VERIFY_BURST,
            track_novel: false,
            max_gets: MAX_GETS,
            notes: false,
            rotate_epochs: ROTATE_EPOCHS,
            unvalidated_replies: UNVALIDATED_REPLIES,
            unvalidated_reply_epochs: UNVALIDATED_REPLY_EPOCHS,
            reseed_epochs: RESEED_EPOCHS,
            pushes: PUSHES,
            own_pushes: OWN_PUSHES,
            trust_half_epochs: TRUST_HALF_EPOCHS,
            pull_credit: PULL_CREDIT,
            exchange_epochs: EXCHANGE_EPOCHS,
        }
    }
}

impl Config {
    /// Sets DAT_CAP and a slack in proportion.
    pub fn with_dat_cap(mut self, cap: usize) -> Self {
        self.dat_cap = cap;
        self.dat_slack = cap / 4 + 64;
        self
    }

    /// Epochs in `ms` milliseconds (at least 1).
    pub fn epochs_in_ms(&self, ms: u64) -> u64 {
        let epochs = (ms as u128 * 1_000_000).checked_div(self.epoch_ns as u128);
        epochs
            .map_or(u64::MAX, |e| e.min(u64::MAX as u128) as u64)
            .max(1)
    }

    /// Checks every setting once, when a node is built
    /// ([`crate::Node::try_new`]): after this nothing re-checks them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one: [(&'static str, u64); 17] = [
            ("epoch_ns (--epoch, --rate)", self.epoch_ns),
            ("dat_cap (--cap)", self.dat_cap as u64),
            ("dat_slack", self.dat_slack as u64),
            ("filter_cap", self.filter_cap as u64),
            ("outbox_slots", self.outbox_slots as u64),
            ("ring", self.ring as u64),
            ("ping_epochs", self.ping_epochs),
            ("prune_epochs", self.prune_epochs),
            ("seed_epochs", self.seed_epochs),
            ("pull_epochs", self.pull_epochs),
            ("untrusted_verify_epochs", self.untrusted_verify_epochs),
            ("max_gets", self.max_gets as u64),
            ("fanout", self.fanout as u64),
            ("rotate_epochs", self.rotate_epochs),
            ("reseed_epochs", self.reseed_epochs),
            ("unvalidated_reply_epochs", self.unvalidated_reply_epochs),
            ("trust_half_epochs", self.trust_half_epochs),
        ];
        for (name, v) in at_least_one {
            if v == 0 {
                return Err(ConfigError {
                    name,
                    want: "at least 1",
                });
            }
        }
        if self.fanout > crate::node::MAX_FANOUT {
            return Err(ConfigError {
                name: "fanout",
                want: "at most MAX_FANOUT (8)",
            });
        }
        if !(self.pull_credit >= 0.0 && self.pull_credit.is_finite()) {
            return Err(ConfigError {
                name: "pull_credit",
                want: "a finite number, zero or more",
            });
        }
        if self.max_peers == 0 && self.edges.is_empty() {
            return Err(ConfigError {
                name: "max_peers",
                want: "at least 1 (or some edges)",
            });
        }
        Ok(())
    }
}

/// A setting out of its range: names the setting (and its flag) and says
/// what it must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting, with the `daved` flag that sets it where there is one.
    pub name: &'static str,
    /// What it must be.
    pub want: &'static str,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} must be {}", self.name, self.want)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_setting_is_refused_once_and_named() {
        assert_eq!(Config::default().validate(), Ok(()));
        let bad = Config {
            seed_epochs: 0,
            ..Config::default()
        };
        let e = bad.validate().unwrap_err();
        assert_eq!(e.to_string(), "seed_epochs must be at least 1");
        assert!(crate::Node::try_new(bad).is_err());
        let bad = Config {
            epoch_ns: 0,
            ..Config::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("--epoch"));
        assert_eq!(bad.epochs_in_ms(5), u64::MAX, "no division by zero");
        let bad = Config {
            fanout: 9,
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }
}
