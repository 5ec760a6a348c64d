//! A cache of API objects (pods by `namespace/pod`, namespaces by name) with a TTL, where
//! concurrent lookups of one key share one request.
//!
//! Differences from Fluent Bit's hash table, all in the direction of keeping metadata:
//!
//! - When an expired entry cannot be refreshed (API down, or 404 because the pod is gone
//!   while its last lines are still being read), the old object is served again for
//!   [`STALE_GRACE`] rather than dropping the metadata.
//! - Failures are not cached: the filter decides how long to wait and when to retry.
//! - The cache holds at most `capacity` entries; when full, expired entries go first, then
//!   everything (Fluent Bit evicts at random).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};

use crate::api::LookupError;

/// How long an expired object is served again after a failed refresh.
pub const STALE_GRACE: Duration = Duration::from_secs(60);

type Pending<V> = Shared<BoxFuture<'static, Result<Arc<V>, LookupError>>>;

enum Slot<V> {
    Ready { value: Arc<V>, expires: Option<Instant> },
    Pending { shared: Pending<V>, stale: Option<Arc<V>> },
}

/// Objects by key, with a TTL (`None`: no expiry).
pub struct Cache<V> {
    slots: Mutex<HashMap<String, Slot<V>>>,
    ttl: Option<Duration>,
    capacity: usize,
}

/// What a lookup returned.
#[derive(Debug)]
pub struct Found<V> {
    /// The object.
    pub value: Arc<V>,
    /// When it should be looked up again.
    pub expires: Option<Instant>,
}

impl<V> Clone for Found<V> {
    fn clone(&self) -> Self {
        Found { value: self.value.clone(), expires: self.expires }
    }
}

impl<V: Send + Sync + 'static> Cache<V> {
    /// An empty cache.
    pub fn new(ttl: Option<Duration>, capacity: usize) -> Arc<Self> {
        Arc::new(Cache { slots: Mutex::new(HashMap::new()), ttl, capacity: capacity.max(1) })
    }

    /// The fresh object under `key`, if any (no request).
    pub fn peek(&self, key: &str) -> Option<Found<V>> {
        let slots = self.slots.lock().expect("cache lock");
        match slots.get(key) {
            Some(Slot::Ready { value, expires }) if expires.is_none_or(|e| Instant::now() < e) => {
                Some(Found { value: value.clone(), expires: *expires })
            }
            _ => None,
        }
    }

    /// The object under `key`: cached and fresh, or fetched with `fetch` (one request however
    /// many callers ask at once).
    pub async fn get<F, Fut>(self: &Arc<Self>, key: &str, fetch: F) -> Result<Found<V>, LookupError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, LookupError>> + Send + 'static,
    {
        // Decide under the lock, await outside it (the guard must not live across an await).
        let shared = 'decide: {
            let mut slots = self.slots.lock().expect("cache lock");
            let now = Instant::now();
            let mut stale = None;
            match slots.get(key) {
                Some(Slot::Ready { value, expires }) if expires.is_none_or(|e| now < e) => {
                    return Ok(Found { value: value.clone(), expires: *expires });
                }
                Some(Slot::Ready { value, .. }) => stale = Some(value.clone()),
                // Someone is fetching it already: wait for their answer.
                Some(Slot::Pending { shared, .. }) => break 'decide shared.clone(),
                None => {}
            }
            let cache = Arc::clone(self);
            let owned_key = key.to_owned();
            let fut = fetch();
            let shared = async move {
                let result = fut.await;
                cache.complete(&owned_key, result)
            }
            .boxed()
            .shared();
            if slots.len() >= self.capacity {
                self.evict(&mut slots, now);
            }
            slots.insert(key.to_owned(), Slot::Pending { shared: shared.clone(), stale });
            shared
        };
        self.finish(key, shared).await
    }

    async fn finish(&self, key: &str, shared: Pending<V>) -> Result<Found<V>, LookupError> {
        let value = shared.await?;
        // Whoever completed the request set the expiry; read it back for the caller.
        let expires = match self.slots.lock().expect("cache lock").get(key) {
            Some(Slot::Ready { value: v, expires }) if Arc::ptr_eq(v, &value) => *expires,
            _ => self.ttl.map(|t| Instant::now() + t),
        };
        Ok(Found { value, expires })
    }

    /// Store an object fetched some other way (the kubelet's pod list holds every pod of the
    /// node). A key being fetched is left to its request.
    pub fn insert(&self, key: &str, value: V) {
        let mut slots = self.slots.lock().expect("cache lock");
        if matches!(slots.get(key), Some(Slot::Pending { .. })) {
            return;
        }
        let now = Instant::now();
        if slots.len() >= self.capacity && !slots.contains_key(key) {
            self.evict(&mut slots, now);
        }
        slots.insert(key.to_owned(), Slot::Ready { value: Arc::new(value), expires: self.ttl.map(|t| now + t) });
    }

    /// Number of entries (fresh, expired or being fetched).
    pub fn len(&self) -> usize {
        self.slots.lock().expect("cache lock").len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn complete(&self, key: &str, result: Result<V, LookupError>) -> Result<Arc<V>, LookupError> {
        let mut slots = self.slots.lock().expect("cache lock");
        let now = Instant::now();
        let stale = match slots.remove(key) {
            Some(Slot::Pending { stale, .. }) => stale,
            Some(ready @ Slot::Ready { .. }) => {
                // Inserted meanwhile (kubelet list): keep it, the request's answer is older.
                slots.insert(key.to_owned(), ready);
                None
            }
            None => None,
        };
        match result {
            Ok(v) => {
                let value = Arc::new(v);
                slots.insert(key.to_owned(), Slot::Ready { value: value.clone(), expires: self.ttl.map(|t| now + t) });
                Ok(value)
            }
            Err(e) => match stale {
                Some(value) => {
                    tracing::warn!("refreshing {key} failed ({e}); keeping the metadata fetched before");
                    slots
                        .insert(key.to_owned(), Slot::Ready { value: value.clone(), expires: Some(now + STALE_GRACE) });
                    Ok(value)
                }
                None => Err(e),
            },
        }
    }

    fn evict(&self, slots: &mut HashMap<String, Slot<V>>, now: Instant) {
        slots.retain(|_, s| match s {
            Slot::Ready { expires, .. } => expires.is_none_or(|e| now < e),
            Slot::Pending { .. } => true,
        });
        if slots.len() >= self.capacity {
            slots.retain(|_, s| matches!(s, Slot::Pending { .. }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn coalesces_and_expires() {
        let cache: Arc<Cache<u32>> = Cache::new(Some(Duration::from_millis(200)), 10);
        let calls = Arc::new(AtomicUsize::new(0));
        let fetch = |calls: Arc<AtomicUsize>| {
            move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(7)
            }
        };
        let (a, b) = tokio::join!(cache.get("k", fetch(calls.clone())), cache.get("k", fetch(calls.clone())));
        assert_eq!((*a.unwrap().value, *b.unwrap().value), (7, 7));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        cache.get("k", fetch(calls.clone())).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        cache.get("k", fetch(calls.clone())).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_not_cached_but_stale_is_served() {
        let cache: Arc<Cache<u32>> = Cache::new(Some(Duration::from_millis(50)), 10);
        let err = cache.get("k", || async { Err(LookupError::Transient("down".into())) }).await;
        assert!(err.is_err());
        assert!(cache.get("k", || async { Ok(1) }).await.is_ok());
        tokio::time::sleep(Duration::from_millis(80)).await;
        let stale = cache.get("k", || async { Err(LookupError::NotFound) }).await.unwrap();
        assert_eq!(*stale.value, 1);
    }
}
