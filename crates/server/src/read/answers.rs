//! Answers built by blocking reads, shared by every query that asks the
//! same read of the same store state: when one write wakes fifty watchers
//! of a service, the first builds the answer and the others take a copy.
//!
//! An answer is kept only while the store is at the index it was built at
//! (any applied entry makes it stale; stale answers are dropped on the
//! next insert), and at most `KEPT` at a time. Answers are kept before ACL
//! filtering: each query filters its own copy for its token. Never touches
//! the store.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The most answers kept at once.
pub const KEPT: usize = 256;

/// One built answer and the store state it was built from.
struct Built {
    /// The store's last index and restore index when it was built.
    at: (u64, u64),
    /// The answer's own index.
    index: u64,
    answer: Arc<dyn Any + Send + Sync>,
}

/// The shared answers, by encoded read.
#[derive(Default)]
pub struct Answers {
    kept: Mutex<HashMap<Vec<u8>, Built>>,
    hits: AtomicU64,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("hits", &self.hits.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Answers {
    /// The answer to read `key` built at store state `at`, if kept.
    pub fn get<A: Clone + Send + Sync + 'static>(
        &self,
        key: &[u8],
        at: (u64, u64),
    ) -> Option<(u64, A)> {
        let (index, answer) = {
            let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            let built = kept.get(key).filter(|b| b.at == at)?;
            (built.index, built.answer.clone())
        };
        let answer = answer.downcast_ref::<A>()?.clone();
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some((index, answer))
    }

    /// Keeps `answer` (with its `index`) to read `key` at store state `at`,
    /// dropping the answers of earlier states.
    pub fn put<A: Send + Sync + 'static>(
        &self,
        key: Vec<u8>,
        at: (u64, u64),
        index: u64,
        answer: A,
    ) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|_, b| b.at == at);
        if kept.len() < KEPT {
            let answer = Arc::new(answer);
            kept.insert(key, Built { at, index, answer });
        }
    }

    /// How many times a query took a kept answer instead of building one.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many answers are kept now.
    pub fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// `true` when no answer is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_shared_only_at_the_state_it_was_built_at() {
        let a = Answers::default();
        a.put(b"r".to_vec(), (5, 0), 4, vec![1u8]);
        assert_eq!(a.get::<Vec<u8>>(b"r", (5, 0)), Some((4, vec![1])));
        assert_eq!(a.get::<Vec<u8>>(b"r", (6, 0)), None);
        assert_eq!(a.get::<Vec<u8>>(b"other", (5, 0)), None);
        // Asked as another type: not taken.
        assert_eq!(a.get::<String>(b"r", (5, 0)), None);
        a.put(b"s".to_vec(), (6, 0), 6, vec![2u8]);
        assert_eq!(a.len(), 1, "the earlier state's answer is dropped");
        assert_eq!(a.hits(), 1);
    }

    #[test]
    fn at_most_kept_answers_are_kept() {
        let a = Answers::default();
        for i in 0..KEPT + 10 {
            a.put(i.to_le_bytes().to_vec(), (1, 0), 1, i);
        }
        assert_eq!(a.len(), KEPT);
    }
}
