//! Review caches, as kube-apiserver keeps them for its webhook authenticator and authorizer:
//! bounded, one lifetime for positive and another for negative answers, errors never stored,
//! and identical reviews in flight sent once (the others wait for that answer).
//!
//! Keys are SHA-256 digests: of the token (never the token itself, so a heap dump or a debug
//! print of the cache holds no credential), and of the whole access review spec.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::SubjectAccessReviewSpec;
use moka::future::Cache;
use moka::Expiry;

use crate::milo::{AccessOutcome, MiloError, TokenOutcome};

/// SHA-256 digest used as a cache key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix is enough to correlate; never print more of a token's digest.
        let [a, b, c, d, ..] = self.0;
        write!(f, "Key({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

fn digest(parts: &[&[u8]]) -> Key {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        // Length-prefixed, so different splits of the same bytes are different keys.
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Key(out)
}

/// The token review key: the token's digest with the audiences it is reviewed for.
pub fn token_key(token: &str, audiences: &[String]) -> Key {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(audiences.len() + 1);
    parts.push(token.as_bytes());
    parts.extend(audiences.iter().map(|a| a.as_bytes()));
    digest(&parts)
}

/// The access review key: the whole spec (user, uid, groups, extras, attributes). Its JSON is
/// canonical: struct fields in a fixed order, extras in a sorted map. (It cannot fail to
/// serialize; if it did, there is no key rather than a shared one.)
pub fn access_key(spec: &SubjectAccessReviewSpec) -> Result<Key, serde_json::Error> {
    let json = serde_json::to_vec(spec)?;
    Ok(digest(&[&json]))
}

/// An answer that is cached for the positive or the negative lifetime.
pub trait Polarity {
    fn is_positive(&self) -> bool;
}

impl Polarity for TokenOutcome {
    fn is_positive(&self) -> bool {
        matches!(self, TokenOutcome::Authenticated(_))
    }
}

impl Polarity for AccessOutcome {
    fn is_positive(&self) -> bool {
        matches!(self, AccessOutcome::Allowed)
    }
}

/// Size and lifetimes of one cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    pub capacity: u64,
    pub positive_ttl: Duration,
    pub negative_ttl: Duration,
}

impl CacheConfig {
    /// kube-apiserver's `--authentication-token-webhook-cache-ttl` (2m) and its 10s for
    /// failed authentications.
    pub const TOKEN_DEFAULT: CacheConfig = CacheConfig {
        capacity: 10_000,
        positive_ttl: Duration::from_secs(120),
        negative_ttl: Duration::from_secs(10),
    };
    /// kube-apiserver's `--authorization-webhook-cache-{authorized,unauthorized}-ttl`.
    pub const ACCESS_DEFAULT: CacheConfig = CacheConfig {
        capacity: 10_000,
        positive_ttl: Duration::from_secs(300),
        negative_ttl: Duration::from_secs(30),
    };
}

struct Ttl {
    positive: Duration,
    negative: Duration,
}

impl<V: Polarity> Expiry<Key, Arc<V>> for Ttl {
    fn expire_after_create(&self, _: &Key, value: &Arc<V>, _: Instant) -> Option<Duration> {
        Some(if value.is_positive() {
            self.positive
        } else {
            self.negative
        })
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// This call sent the review.
    Review,
    /// Cached, or the answer of an identical review in flight.
    Cache,
}

/// One review cache.
#[derive(Clone)]
pub struct ReviewCache<V> {
    cache: Cache<Key, Arc<V>>,
}

impl<V: Polarity + Send + Sync + 'static> ReviewCache<V> {
    pub fn new(config: CacheConfig) -> Self {
        let cache = Cache::builder()
            .max_capacity(config.capacity)
            .expire_after(Ttl {
                positive: config.positive_ttl,
                negative: config.negative_ttl,
            })
            .build();
        ReviewCache { cache }
    }

    /// The cached answer for `key`, or the answer of `review` (sent once for all identical
    /// concurrent calls). Errors are handed to every waiting caller and not stored.
    pub async fn get_or_review<F>(&self, key: Key, review: F) -> Result<(Arc<V>, Source), MiloError>
    where
        F: Future<Output = Result<V, MiloError>>,
    {
        let entry = self
            .cache
            .entry(key)
            .or_try_insert_with(async { review.await.map(Arc::new) })
            .await
            .map_err(|e: Arc<MiloError>| (*e).clone())?;
        let source = if entry.is_fresh() {
            Source::Review
        } else {
            Source::Cache
        };
        Ok((entry.into_value(), source))
    }

    /// Entries currently held, after moka's pending maintenance (expiry, eviction) has run.
    pub async fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::authorization::v1::ResourceAttributes;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn config(positive_ms: u64, negative_ms: u64) -> CacheConfig {
        CacheConfig {
            capacity: 100,
            positive_ttl: Duration::from_millis(positive_ms),
            negative_ttl: Duration::from_millis(negative_ms),
        }
    }

    #[test]
    fn token_keys_are_digests_of_token_and_audiences() {
        let k = token_key("secret-token", &[]);
        assert_eq!(k, token_key("secret-token", &[]));
        assert_ne!(k, token_key("secret-token2", &[]));
        assert_ne!(k, token_key("secret-token", &["milo".into()]));
        // Moving bytes between token and audience changes the key.
        assert_ne!(
            token_key("ab", &["c".into()]),
            token_key("a", &["bc".into()])
        );
        let printed = format!("{k:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.len() < 20, "{printed}");
    }

    #[test]
    fn access_keys_cover_the_whole_spec() {
        let spec = SubjectAccessReviewSpec {
            user: Some("bob".into()),
            groups: Some(vec!["g".into()]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some("get".into()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        };
        let key = |s: &SubjectAccessReviewSpec| access_key(s).unwrap();
        let base = key(&spec);
        assert_eq!(base, key(&spec.clone()));
        let mut other = spec.clone();
        other.uid = Some("u".into());
        assert_ne!(base, key(&other));
        let mut other = spec.clone();
        other.extra = Some([("k".to_owned(), vec!["v".to_owned()])].into());
        assert_ne!(base, key(&other));
        let mut other = spec.clone();
        other.resource_attributes.as_mut().unwrap().namespace = Some("ns".into());
        assert_ne!(base, key(&other));
    }

    async fn answer(
        cache: &ReviewCache<AccessOutcome>,
        key: Key,
        calls: &AtomicUsize,
        outcome: Result<AccessOutcome, MiloError>,
    ) -> Result<Source, MiloError> {
        cache
            .get_or_review(key, async {
                calls.fetch_add(1, Ordering::SeqCst);
                outcome
            })
            .await
            .map(|(_, s)| s)
    }

    #[tokio::test]
    async fn positive_and_negative_answers_live_for_their_own_ttl() {
        let cache = ReviewCache::new(config(1500, 300));
        let calls = AtomicUsize::new(0);
        let (yes, no) = (Key([1; 32]), Key([2; 32]));
        let denied = || {
            Ok(AccessOutcome::Denied {
                reason: String::new(),
            })
        };
        assert_eq!(
            answer(&cache, yes, &calls, Ok(AccessOutcome::Allowed)).await,
            Ok(Source::Review)
        );
        assert_eq!(
            answer(&cache, no, &calls, denied()).await,
            Ok(Source::Review)
        );
        assert_eq!(
            answer(&cache, yes, &calls, Ok(AccessOutcome::Allowed)).await,
            Ok(Source::Cache)
        );
        assert_eq!(
            answer(&cache, no, &calls, denied()).await,
            Ok(Source::Cache)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Past the negative TTL only the denial is asked again.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            answer(&cache, yes, &calls, Ok(AccessOutcome::Allowed)).await,
            Ok(Source::Cache)
        );
        assert_eq!(
            answer(&cache, no, &calls, denied()).await,
            Ok(Source::Review)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(
            answer(&cache, yes, &calls, Ok(AccessOutcome::Allowed)).await,
            Ok(Source::Review)
        );
    }

    #[tokio::test]
    async fn a_zero_ttl_turns_the_cache_off() {
        let cache = ReviewCache::new(config(0, 0));
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            assert_eq!(
                answer(&cache, Key([5; 32]), &calls, Ok(AccessOutcome::Allowed)).await,
                Ok(Source::Review)
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = ReviewCache::new(config(60_000, 60_000));
        let calls = AtomicUsize::new(0);
        let key = Key([3; 32]);
        let err = MiloError::Unreachable("connection refused".into());
        assert_eq!(
            answer(&cache, key, &calls, Err(err.clone())).await,
            Err(err)
        );
        assert_eq!(
            answer(&cache, key, &calls, Ok(AccessOutcome::Allowed)).await,
            Ok(Source::Review)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn identical_reviews_in_flight_are_sent_once() {
        let cache = ReviewCache::new(config(60_000, 60_000));
        let calls = Arc::new(AtomicUsize::new(0));
        let (open, gate) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (cache, calls, mut gate) = (cache.clone(), calls.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_review(Key([4; 32]), async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let _ = gate.wait_for(|open| *open).await;
                        Ok(AccessOutcome::Allowed)
                    })
                    .await
                    .map(|(_, s)| s)
            }));
        }
        // Let every task reach the cache, then release the one review.
        tokio::time::sleep(Duration::from_millis(200)).await;
        open.send(true).unwrap();
        let mut sources = Vec::new();
        for t in tasks {
            sources.push(t.await.unwrap().unwrap());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(sources.iter().filter(|s| **s == Source::Review).count(), 1);
    }

    #[tokio::test]
    async fn the_cache_is_bounded() {
        let cache = ReviewCache::new(CacheConfig {
            capacity: 10,
            ..config(60_000, 60_000)
        });
        let calls = AtomicUsize::new(0);
        for i in 0..100u8 {
            answer(&cache, Key([i; 32]), &calls, Ok(AccessOutcome::Allowed))
                .await
                .unwrap();
        }
        let len = cache.entry_count().await;
        assert!(len <= 10, "{len} entries");
    }
}
