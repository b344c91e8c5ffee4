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

/// `RcuWindow`'s read side has a power of two of shards, at least one, and says how many.
#[test]
fn rcu_window_rounds_its_shards_up_to_a_power_of_two() {
    use emm::Chain;
    assert_eq!(RcuWindow::with_shards(3).shards(), 4);
    assert_eq!(RcuWindow::with_shards(0).shards(), 1);
    assert_eq!(RcuWindow::with_shards(8).shards(), 8);
    assert!(format!("{:?}", RcuWindow::with_shards(5)).contains("shards: 8"));
    assert!(RcuWindow::new().shards().is_power_of_two());
}

/// A walk refuses the writers of its own address space only: register on another address
/// space from inside a window is an ordinary registration.
#[test]
fn a_window_refuses_writers_of_its_own_address_space_only() {
    let (mm, other) = (
        AddressSpace::<RcuWindow>::new(),
        AddressSpace::<RcuWindow>::new(),
    );
    let open = mm.invalidate_range_start(PAGE);
    let registration = other.register(std::sync::Arc::new(Quiet)).unwrap();
    registration.unregister();
    let own = panic::catch_unwind(AssertUnwindSafe(|| {
        drop(mm.register(std::sync::Arc::new(Quiet)))
    }));
    assert!(message(own.unwrap_err()).contains("called from inside a walk"));
    drop(open);
}

/// A grace period ends while walks never stop: a thread that always holds a window open
/// (it opens the next before it closes the last) must not starve a registration, because a
/// grace period flips the counter new windows use and waits only for the old one to drain.
#[test]
fn rcu_window_grace_periods_end_under_a_stream_of_overlapping_windows() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;
    let mm = AddressSpace::<RcuWindow>::new();
    let stop = Arc::new(AtomicBool::new(false));
    let walker = {
        let (mm, stop) = (Arc::clone(&mm), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut held = mm.invalidate_range_start(PAGE);
            while !stop.load(Ordering::Relaxed) {
                let next = mm.invalidate_range_start(PAGE);
                drop(held);
                held = next;
            }
            drop(held);
        })
    };
    let (done, registered) = mpsc::channel();
    {
        let mm = Arc::clone(&mm);
        std::thread::spawn(move || {
            for _ in 0..10 {
                mm.register(Arc::new(Quiet)).unwrap().unregister();
            }
            done.send(()).unwrap();
        });
    }
    let outcome = registered.recv_timeout(Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    outcome.expect("ten registrations complete while windows keep opening");
    walker.join().unwrap();
}

/// The `Debug` forms say what state they are in.
#[test]
fn debug_output_shows_the_state() {
    use emm::{Chain, Secondary};
    let tlb = Secondary::new(Some(1u64));
    drop(tlb.invalidate_start());
    drop(tlb.invalidate_end());
    assert!(format!("{tlb:?}").contains("seq: 1"), "{tlb:?}");
    let guard = tlb.invalidate_start();
    assert!(format!("{guard:?}").contains("in_progress: 1"), "{guard:?}");
    drop(guard);
    let chain = RcuWindow::new();
    let section = chain.window();
    assert!(
        format!("{section:?}").contains("snapshot_taken: false"),
        "{section:?}"
    );
}

/// A chain dropped with notifiers still linked (used through `Chain` directly, with no
/// address space to unregister them) drops its references to them.
#[test]
fn rcu_window_drops_what_is_still_linked() {
    use emm::Chain;
    let notifier = std::sync::Arc::new(Quiet);
    let chain = RcuWindow::new();
    chain.register(notifier.clone()).unwrap();
    chain.register(notifier.clone()).unwrap();
    assert_eq!(std::sync::Arc::strong_count(&notifier), 3);
    drop(chain);
    assert_eq!(std::sync::Arc::strong_count(&notifier), 1);
}
