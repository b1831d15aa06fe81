//! The armed faults of one server and the single place where an occurrence is counted.
//!
//! Every trigger site asks [`FaultPlan::fire`] with a selector ("is this a `slow` fault for
//! `tools/list`? then give me its delay"); the first configured fault that matches *and* still
//! has budget fires. Because exhausted faults are skipped, `status:503@1 status:500@1` yields a
//! 503, then a 500, then success — sequences of failures are expressible without new syntax.

use std::sync::Arc;

use crate::fault::Fault;
use crate::state::Counters;

/// One configured fault with its limit and counter key.
#[derive(Debug)]
struct Armed {
    fault: Fault,
    limit: Option<u64>,
    key: String,
}

/// The configured faults plus their occurrence counters.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    armed: Vec<Armed>,
    counters: Arc<Counters>,
}

impl FaultPlan {
    pub(crate) fn new(faults: &[Fault], counters: Arc<Counters>) -> Self {
        let armed = faults
            .iter()
            .map(|f| {
                let (inner, limit) = f.unlimited();
                Armed {
                    fault: inner.clone(),
                    limit,
                    key: inner.to_string(),
                }
            })
            .collect();
        Self { armed, counters }
    }

    /// One occurrence: the first configured fault selected by `select` whose budget allows it
    /// fires, and its selected data is returned.
    pub(crate) fn fire<T>(&self, select: impl Fn(&Fault) -> Option<T>) -> Option<T> {
        self.armed.iter().find_map(|a| {
            let picked = select(&a.fault)?;
            self.counters.take(&a.key, a.limit).then_some(picked)
        })
    }

    /// Like [`fire`](Self::fire) for faults without data.
    pub(crate) fn fires(&self, wanted: impl Fn(&Fault) -> bool) -> bool {
        self.fire(|f| wanted(f).then_some(())).is_some()
    }

    /// The data of the first configured fault selected by `select`, without counting an
    /// occurrence. For structure decided once (the legacy transport, a timer's period) and for
    /// lookups that must stay stable (calling a `filler_<i>` tool).
    pub(crate) fn configured<T>(&self, select: impl Fn(&Fault) -> Option<T>) -> Option<T> {
        self.armed.iter().find_map(|a| select(&a.fault))
    }

    /// Whether a fault selected by `wanted` is configured (no counting).
    pub(crate) fn has(&self, wanted: impl Fn(&Fault) -> bool) -> bool {
        self.armed.iter().any(|a| wanted(&a.fault))
    }

    /// The counters (for stats).
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(specs: &[&str]) -> FaultPlan {
        let faults: Vec<Fault> = specs
            .iter()
            .map(|s| s.parse().expect("valid spec"))
            .collect();
        FaultPlan::new(&faults, Arc::new(Counters::open(None).expect("counters")))
    }

    fn status(f: &Fault) -> Option<u16> {
        match f {
            Fault::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn exhausted_faults_fall_through_to_the_next() {
        let p = plan(&["status:503@1", "status:500@2"]);
        let seen: Vec<Option<u16>> = (0..4).map(|_| p.fire(status)).collect();
        assert_eq!(seen, [Some(503), Some(500), Some(500), None]);
    }

    #[test]
    fn configured_does_not_count() {
        let p = plan(&["tools:3@1"]);
        let count = |f: &Fault| match f {
            Fault::Tools { count } => Some(*count),
            _ => None,
        };
        assert_eq!(p.configured(count), Some(3));
        assert_eq!(p.configured(count), Some(3));
        assert_eq!(p.fire(count), Some(3));
        assert_eq!(p.fire(count), None);
        assert!(p.has(|f| matches!(f, Fault::Tools { .. })));
    }
}
