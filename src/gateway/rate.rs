//! Per-client limits: the address a client is counted by ([`client_key`],
//! also used for the connection cap), and rate limiting: a token bucket per
//! client address (IPv6: per /64), refilled at [`Limits::rate_per_s`](super::Limits::rate_per_s) up
//! to [`Limits::burst`](super::Limits::burst), the least recently seen
//! client forgotten when [`Limits::clients`](super::Limits::clients) are
//! tracked.

use super::Gateway;
use std::net::IpAddr;
use std::time::Instant;

/// The address a client is counted by: an IPv4 address, or an IPv6 /64
/// (what one IPv6 client usually has); IPv4-mapped IPv6 counts as IPv4.
pub(super) fn client_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::from(o)
        }
        v4 => v4,
    }
}

#[derive(Clone, Copy)]
pub(super) struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Gateway {
    /// Spends one token of the client's bucket; false when it is empty.
    pub(super) fn allow(&mut self, peer: IpAddr) -> bool {
        let key = client_key(peer);
        let now = Instant::now();
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.limits.clients {
            // Forget the least recently seen client.
            if let Some(old) = self
                .buckets
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| *k)
            {
                self.buckets.remove(&old);
            }
        }
        let (rate, burst) = (self.limits.rate_per_s, self.limits.burst);
        let b = self.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
