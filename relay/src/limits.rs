//! Per-address limits: requests per second, joins per minute, concurrent long-polls.
//!
//! Token buckets keyed by client address (an IPv4 address, or an IPv6 /64: one host
//! usually owns a whole /64). The maps shrink: a bucket that has refilled is the same as no
//! bucket, so the sweeper drops it (governor #171: limiter maps that only grow are a memory
//! leak an attacker can drive), and a map that is still too large refuses new addresses
//! instead of growing without bound.
//!
//! With the Redis store (`--redis`), joins and long-polls are counted in Redis, so the
//! limits hold for the whole farm whichever instance a client reaches (`FarmLimits`);
//! the request-rate bucket stays per process (it guards each process' CPU, and a Redis
//! round trip per request would cost more than the request).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::RateSettings;
use crate::metrics;
use crate::store::StoreError;
use crate::store::redis::{FarmLimits, FarmVerdict};

/// Most addresses tracked per map: a few MB at worst.
const MAX_ENTRIES: usize = 100_000;

/// The key of an address: IPv4 whole, IPv6 by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey(pub(crate) u128);

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => AddrKey(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey(u128::from(u32::from(v4))),
                None => AddrKey((u128::from(v6) >> 64) | (1 << 127)),
            },
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A set of token buckets of one rate and size.
struct Buckets {
    per_sec: f64,
    size: f64,
    map: Mutex<HashMap<AddrKey, Bucket>>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Buckets {
    fn new(per_sec: f64, size: f64) -> Self {
        Buckets {
            per_sec,
            size,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token, or says how long until one is there.
    fn take(&self, key: AddrKey, now: Instant) -> Result<(), Duration> {
        let mut map = lock(&self.map);
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            Self::prune_map(&mut map, now, self.per_sec, self.size);
            if map.len() >= MAX_ENTRIES {
                return Err(Duration::from_secs(1));
            }
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: self.size,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_sec).min(self.size);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_sec))
        }
    }

    fn prune(&self, now: Instant) {
        Self::prune_map(&mut lock(&self.map), now, self.per_sec, self.size);
    }

    /// Drops buckets that are full again by now.
    fn prune_map(map: &mut HashMap<AddrKey, Bucket>, now: Instant, per_sec: f64, size: f64) {
        map.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * per_sec < size
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.map).len()
    }
}

/// All per-address limits of the relay.
pub struct Limiter {
    requests: Buckets,
    joins: Buckets,
    long_polls: Arc<Mutex<HashMap<AddrKey, u32>>>,
    max_long_polls: u32,
    joins_per_minute: u32,
    /// Long-polls last at most this (a farm-wide place is kept that long at most when
    /// its relay dies before giving it back).
    max_wait: Duration,
    farm: Option<FarmLimits>,
}

/// Which limit refused.
#[derive(Debug, Clone, Copy)]
pub enum Limited {
    Requests(Duration),
    Joins(Duration),
    LongPolls,
}

/// Why a join or long-poll was not let through: a limit, or the farm's counters in Redis
/// did not answer.
#[derive(Debug, Clone)]
pub enum Refusal {
    Limited(Limited),
    Store(StoreError),
}

impl Limited {
    /// Seconds for `Retry-After` (at least 1).
    pub fn retry_after(&self) -> u64 {
        match self {
            Limited::Requests(d) | Limited::Joins(d) => d.as_secs_f64().ceil().max(1.0) as u64,
            Limited::LongPolls => 1,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Limited::Requests(_) => "requests",
            Limited::Joins(_) => "joins",
            Limited::LongPolls => "long_polls",
        }
    }
}

impl Limiter {
    pub fn new(s: &RateSettings) -> Self {
        Limiter {
            requests: Buckets::new(f64::from(s.per_second), f64::from(s.burst)),
            joins: Buckets::new(
                f64::from(s.joins_per_minute) / 60.0,
                f64::from(s.joins_per_minute),
            ),
            long_polls: Arc::new(Mutex::new(HashMap::new())),
            max_long_polls: s.max_long_polls,
            joins_per_minute: s.joins_per_minute,
            max_wait: Duration::from_secs(25),
            farm: None,
        }
    }

    /// Counts joins and long-polls in Redis, for every relay of the farm. `max_wait` is
    /// the longest long-poll.
    pub fn with_farm(mut self, farm: FarmLimits, max_wait: Duration) -> Self {
        self.farm = Some(farm);
        self.max_wait = max_wait;
        self
    }

    fn count(limited: Limited) -> Limited {
        ::metrics::counter!(metrics::RATE_LIMITED, "limit" => limited.label()).increment(1);
        limited
    }

    /// One request from `ip`.
    pub fn request(&self, ip: IpAddr) -> Result<(), Limited> {
        self.requests
            .take(ip.into(), Instant::now())
            .map_err(|d| Self::count(Limited::Requests(d)))
    }

    /// One join attempt from `ip` (each is a guess at a nameplate).
    pub async fn join(&self, ip: IpAddr) -> Result<(), Refusal> {
        let Some(farm) = &self.farm else {
            return self
                .joins
                .take(ip.into(), Instant::now())
                .map_err(|d| Refusal::Limited(Self::count(Limited::Joins(d))));
        };
        match farm.join(AddrKey::from(ip).0, self.joins_per_minute).await {
            Ok(FarmVerdict::Allowed) => Ok(()),
            Ok(FarmVerdict::Refused(d)) => Err(Refusal::Limited(Self::count(Limited::Joins(d)))),
            Err(e) => Err(Refusal::Store(e)),
        }
    }

    /// A long-poll from `ip`: held until the guard drops.
    pub async fn long_poll(&self, ip: IpAddr) -> Result<LongPoll, Refusal> {
        let key = AddrKey::from(ip);
        if let Some(farm) = &self.farm {
            // A place outlives the longest long-poll by a margin, so a relay killed while
            // holding it costs the address that place for a minute at most after its
            // last long-poll began.
            let ttl = self.max_wait + Duration::from_secs(60);
            return match farm.take_poll(key.0, self.max_long_polls, ttl).await {
                Ok(true) => {
                    ::metrics::gauge!(metrics::LONG_POLLS_ACTIVE).increment(1.0);
                    Ok(LongPoll {
                        key,
                        held: Held::Farm(farm.clone()),
                    })
                }
                Ok(false) => Err(Refusal::Limited(Self::count(Limited::LongPolls))),
                Err(e) => Err(Refusal::Store(e)),
            };
        }
        let mut map = lock(&self.long_polls);
        let n = map.entry(key).or_insert(0);
        if *n >= self.max_long_polls {
            return Err(Refusal::Limited(Self::count(Limited::LongPolls)));
        }
        *n += 1;
        ::metrics::gauge!(metrics::LONG_POLLS_ACTIVE).increment(1.0);
        Ok(LongPoll {
            key,
            held: Held::Local(Arc::clone(&self.long_polls)),
        })
    }

    /// Drops the buckets that refilled (the sweeper calls it).
    pub fn prune(&self) {
        let now = Instant::now();
        self.requests.prune(now);
        self.joins.prune(now);
    }

    /// Addresses tracked (requests, joins), for tests of the shrinking.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.requests.len(), self.joins.len())
    }
}

/// A long-poll in progress; the count goes down (and the entry away at zero) on drop.
pub struct LongPoll {
    key: AddrKey,
    held: Held,
}

/// Where a long-poll's place is counted.
enum Held {
    Local(Arc<Mutex<HashMap<AddrKey, u32>>>),
    Farm(FarmLimits),
}

impl Drop for LongPoll {
    fn drop(&mut self) {
        match &self.held {
            Held::Local(map) => {
                let mut map = lock(map);
                if let Some(n) = map.get_mut(&self.key) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        map.remove(&self.key);
                    }
                }
            }
            Held::Farm(farm) => {
                // Drop cannot wait: give the place back on the runtime (a guard only
                // exists inside a request, so there is one).
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let (farm, key) = (farm.clone(), self.key.0);
                    rt.spawn(async move { farm.give_poll(key).await });
                }
            }
        }
        ::metrics::gauge!(metrics::LONG_POLLS_ACTIVE).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local limiter never waits: its futures are ready at once.
    fn now_or_never<T>(f: impl std::future::Future<Output = T>) -> T {
        futures_util::FutureExt::now_or_never(f).expect("ready at once")
    }

    fn settings() -> RateSettings {
        RateSettings {
            per_second: 1000,
            burst: 2,
            joins_per_minute: 1,
            max_long_polls: 1,
        }
    }

    #[test]
    fn buckets_refuse_then_shrink() {
        let l = Limiter::new(&settings());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(l.request(ip).is_ok());
        assert!(l.request(ip).is_ok());
        assert!(l.request(ip).is_err());
        assert!(now_or_never(l.join(ip)).is_ok());
        let Err(Refusal::Limited(Limited::Joins(d))) = now_or_never(l.join(ip)) else {
            panic!("second join allowed")
        };
        assert!(d > Duration::from_secs(50));
        assert_eq!(l.sizes(), (1, 1));
        // The request bucket refills in 2 ms; the join bucket needs a minute.
        std::thread::sleep(Duration::from_millis(20));
        l.prune();
        assert_eq!(l.sizes(), (0, 1));
    }

    #[test]
    fn ipv6_counts_by_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddrKey::from(a), AddrKey::from(b));
        assert_ne!(AddrKey::from(a), AddrKey::from(c));
    }

    #[test]
    fn long_polls_are_counted_and_released() {
        let l = Limiter::new(&settings());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let g = now_or_never(l.long_poll(ip)).unwrap();
        assert!(now_or_never(l.long_poll(ip)).is_err());
        drop(g);
        assert!(now_or_never(l.long_poll(ip)).is_ok());
        assert!(lock(&l.long_polls).is_empty());
    }
}
