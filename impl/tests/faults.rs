//! Faults: callbacks that panic, writers called from inside a walk, teardown and unregister
//! racing registrations, handles dropped while an invalidation is in flight. The crate's two
//! hardened protocols, `TakeAllLocks` and `RcuWindow`, on real threads, each running the same
//! suite (`faults/suite.rs`); the historical protocols are kept as the patches read, without
//! this hardening.

#![cfg(not(any(loom, feature = "shuttle")))]

mod take_all_locks {
    type Protocol = emm::TakeAllLocks;
    include!("faults/suite.rs");
}

mod rcu_window {
    type Protocol = emm::RcuWindow;
    include!("faults/suite.rs");
}

use emm::{AddressSpace, Range, RcuWindow, TakeAllLocks};
use std::panic::{self, AssertUnwindSafe};

const PAGE: Range = Range {
    start: 0x1000,
    end: 0x2000,
};

fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// `TakeAllLocks` refuses a second invalidation or aging walk on a thread that holds one open:
/// with a register queued for the shard write locks in between, the second read lock would
/// wait behind it (std's `RwLock` queues new readers behind a waiting writer) while the
/// register waits for the first. Nesting goes through `Invalidation::nest`.
#[test]
fn take_all_locks_refuses_a_second_window_on_one_thread() {
    let mm = AddressSpace::<TakeAllLocks>::new();
    let open = mm.invalidate_range_start(PAGE);
    let second = panic::catch_unwind(AssertUnwindSafe(|| {
        drop(mm.invalidate_range_start(PAGE));
    }));
    assert!(
        message(second.unwrap_err()).contains("already holds one open"),
        "a second invalidation"
    );
    let aging = panic::catch_unwind(AssertUnwindSafe(|| mm.clear_young(PAGE)));
    assert!(
        message(aging.unwrap_err()).contains("already holds one open"),
        "an aging walk"
    );
    drop(open.nest(PAGE));
    drop(open);
    // Nothing was left held: a registration goes through.
    drop(mm.register(std::sync::Arc::new(Quiet)).unwrap());
}

/// `RcuWindow`'s windows take no lock: a second one on the same thread is its own section,
/// and a registration still completes once both have closed.
#[test]
fn rcu_window_allows_a_second_window_on_one_thread() {
    let mm = AddressSpace::<RcuWindow>::new();
    let open = mm.invalidate_range_start(PAGE);
    let second = mm.invalidate_range_start(PAGE);
    assert!(!mm.clear_young(PAGE));
    drop(second);
    drop(open);
    drop(mm.register(std::sync::Arc::new(Quiet)).unwrap());
}

/// A notifier that does nothing.
struct Quiet;

impl emm::Notifier for Quiet {
    fn invalidate_start(&self, _: Range) {}
}
