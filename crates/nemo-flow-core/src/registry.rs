//! A named, ordered registry with a cached snapshot.
//!
//! Readers take an `Arc` of the sorted entries and call callbacks with no lock held, so a
//! callback may register or deregister middleware itself without deadlock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::{FlowError, FlowResult};

/// One registration.
#[derive(Clone)]
pub struct Entry<T> {
    /// Unique name within its registry.
    pub name: Arc<str>,
    /// Lower runs earlier (for execution intercepts: wraps further out).
    pub priority: i32,
    /// Request intercepts only: stop the chain after this entry.
    pub break_chain: bool,
    /// The callback.
    pub callback: T,
    seq: u64,
}

/// How a registry orders its entries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `(priority, name)` ascending: middleware.
    Priority,
    /// Registration order: subscribers.
    Registration,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Name → entry map kept as a sorted, shared slice.
pub struct Registry<T> {
    what: &'static str,
    order: Order,
    entries: RwLock<Arc<[Entry<T>]>>,
}

impl<T: Clone> Registry<T> {
    /// An empty registry; `what` names the family in error messages.
    pub fn new(what: &'static str, order: Order) -> Self {
        Self {
            what,
            order,
            entries: RwLock::new(Arc::from(Vec::new())),
        }
    }

    /// The current entries, sorted. Cheap: one `Arc` clone.
    pub fn snapshot(&self) -> Arc<[Entry<T>]> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Adds an entry; a taken name is an error and changes nothing.
    pub fn register(
        &self,
        name: &str,
        priority: i32,
        break_chain: bool,
        callback: T,
    ) -> FlowResult<()> {
        if name.is_empty() {
            return Err(FlowError::invalid(
                "name",
                format!("{} name must be a non-empty string", self.what),
            ));
        }
        let mut guard = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if guard.iter().any(|e| &*e.name == name) {
            return Err(FlowError::Registration(format!(
                "{} '{name}' is already registered",
                self.what
            )));
        }
        let mut v: Vec<Entry<T>> = guard.to_vec();
        v.push(Entry {
            name: Arc::from(name),
            priority,
            break_chain,
            callback,
            seq: SEQ.fetch_add(1, Ordering::Relaxed),
        });
        sort(&mut v, self.order);
        *guard = Arc::from(v);
        Ok(())
    }

    /// Removes an entry; returns whether it existed.
    pub fn deregister(&self, name: &str) -> bool {
        let mut guard = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if !guard.iter().any(|e| &*e.name == name) {
            return false;
        }
        let v: Vec<Entry<T>> = guard.iter().filter(|e| &*e.name != name).cloned().collect();
        *guard = Arc::from(v);
        true
    }

    /// Removes everything; returns how many entries there were.
    pub fn clear(&self) -> usize {
        let mut guard = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let n = guard.len();
        *guard = Arc::from(Vec::new());
        n
    }

    /// How entries are ordered.
    pub fn order(&self) -> Order {
        self.order
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn sort<T>(v: &mut [Entry<T>], order: Order) {
    match order {
        Order::Priority => v.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.name.cmp(&b.name))
        }),
        Order::Registration => v.sort_by_key(|e| e.seq),
    }
}

/// Concatenates already-sorted layers (global first, then scopes outer to inner) and, for
/// priority-ordered families, stably re-sorts by priority alone, so ties keep layer order.
pub fn merge_layers<T: Clone>(layers: &[Arc<[Entry<T>]>], order: Order) -> Arc<[Entry<T>]> {
    let non_empty: Vec<&Arc<[Entry<T>]>> = layers.iter().filter(|l| !l.is_empty()).collect();
    match non_empty.as_slice() {
        [] => Arc::from(Vec::new()),
        [only] => Arc::clone(only),
        many => {
            let mut v: Vec<Entry<T>> = many.iter().flat_map(|l| l.iter().cloned()).collect();
            if order == Order::Priority {
                v.sort_by_key(|e| e.priority);
            }
            Arc::from(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<T>(v: &[Entry<T>]) -> Vec<&str> {
        v.iter().map(|e| &*e.name).collect()
    }

    #[test]
    fn sorts_by_priority_then_name_and_refuses_duplicates() {
        let r: Registry<u8> = Registry::new("tool request intercept", Order::Priority);
        r.register("b", 5, false, 0).unwrap();
        r.register("a", 5, false, 0).unwrap();
        r.register("z", 1, false, 0).unwrap();
        assert_eq!(names(&r.snapshot()), ["z", "a", "b"]);
        let err = r.register("a", 9, false, 0).unwrap_err().to_string();
        assert!(err.contains("'a' is already registered"), "{err}");
        assert_eq!(r.len(), 3);
        assert!(r.deregister("a"));
        assert!(!r.deregister("a"));
        assert_eq!(names(&r.snapshot()), ["z", "b"]);
    }

    #[test]
    fn registration_order_registry_keeps_insertion_order() {
        let r: Registry<u8> = Registry::new("subscriber", Order::Registration);
        for n in ["c", "a", "b"] {
            r.register(n, 0, false, 0).unwrap();
        }
        assert_eq!(names(&r.snapshot()), ["c", "a", "b"]);
    }

    #[test]
    fn merge_is_stable_by_priority_across_layers() {
        let g: Registry<u8> = Registry::new("x", Order::Priority);
        let l: Registry<u8> = Registry::new("x", Order::Priority);
        g.register("g20", 20, false, 0).unwrap();
        g.register("g5", 5, false, 0).unwrap();
        l.register("l10", 10, false, 0).unwrap();
        l.register("l5", 5, false, 0).unwrap();
        let m = merge_layers(&[g.snapshot(), l.snapshot()], Order::Priority);
        assert_eq!(names(&m), ["g5", "l5", "l10", "g20"]);
    }

    #[test]
    fn snapshot_taken_before_change_is_unaffected() {
        let r: Registry<u8> = Registry::new("x", Order::Priority);
        r.register("a", 1, false, 0).unwrap();
        let snap = r.snapshot();
        r.register("b", 0, false, 0).unwrap();
        assert_eq!(names(&snap), ["a"]);
        assert_eq!(r.len(), 2);
    }
}
