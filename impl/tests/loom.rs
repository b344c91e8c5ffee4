//! Every interleaving (up to a preemption bound) of the registration races, under loom.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p emm --release --test loom`. The bound is
//! `LOOM_MAX_PREEMPTIONS` if set, else [`PREEMPTIONS`]. Each execution checks every safety
//! property of the spec at every observable step (see `emm::harness`), and its trace (every
//! step, as the model's event) is validated against the model of the same protocol: every
//! execution loom explores must be a behaviour of the model. Each test also asserts the goals
//! its scenario must reach in some execution, so that a pass is not vacuous.
#![cfg(loom)]

mod conformance;

use emm::harness::{observe, FailOn, Scenario};
use emm::historical::{EmmStopStart, RcuPublish};
use emm::{Chain, TakeAllLocks};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The default preemption bound: every interleaving with at most this many preemptions.
const PREEMPTIONS: usize = 4;

/// What an exploration saw across all its executions.
#[derive(Debug, Default)]
struct Explored {
    executions: usize,
    /// Trace events validated against the model, over all executions.
    events: usize,
    goals: BTreeSet<&'static str>,
    violated: BTreeSet<&'static str>,
}

/// Explores `scenario` on protocol `C`. The first execution with a violation that `fail_on`
/// selects panics (failing the exploration, as loom reports any panic).
fn explore<C: Chain>(scenario: Scenario, fail_on: FailOn) -> Explored {
    let test = std::thread::current()
        .name()
        .unwrap_or("loom")
        .rsplit("::")
        .next()
        .unwrap_or("loom")
        .to_owned();
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(PREEMPTIONS);
    }
    let executions = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Explored::default()));
    {
        let (executions, seen) = (Arc::clone(&executions), Arc::clone(&seen));
        builder.check(move || {
            executions.fetch_add(1, Ordering::Relaxed);
            let execution = observe::<C>(&scenario);
            let events =
                conformance::refines::<C>(&scenario, &execution).unwrap_or_else(|e| panic!("{e}"));
            let mut seen = seen.lock().unwrap();
            seen.events += events;
            seen.goals.extend(execution.goals.iter().copied());
            seen.violated
                .extend(execution.violations.iter().map(|v| v.property));
            drop(seen);
            execution.judge(fail_on);
        });
    }
    let mut explored = std::mem::take(&mut *seen.lock().unwrap());
    explored.executions = executions.load(Ordering::Relaxed);
    eprintln!(
        "{test} ({}): {} executions, {} trace events validated, goals reached: {:?}",
        C::VARIANT,
        explored.executions,
        explored.events,
        explored.goals
    );
    explored
}

fn assert_reached(explored: &Explored, goals: &[&str]) {
    for goal in goals {
        assert!(
            explored.goals.contains(goal),
            "no execution reached {goal}: {explored:?}"
        );
    }
}

/// A notifier registers while an invalidation is walking the chain, zapping and freeing; its
/// driver then faults the page in. The new driver must never map the freed frame.
#[test]
fn take_all_locks_register_vs_invalidation() {
    let explored = explore::<TakeAllLocks>(
        Scenario {
            invalidators: 1,
            notifiers: 1,
            registrations: 1,
            ..Scenario::default()
        },
        FailOn::Any,
    );
    assert_reached(
        &explored,
        &[
            "registration_overlaps_invalidation",
            "secondary_mapping_installed",
        ],
    );
}

/// Two invalidations race one registration.
#[test]
fn take_all_locks_register_vs_two_invalidations() {
    let explored = explore::<TakeAllLocks>(
        Scenario {
            invalidators: 2,
            registrations: 1,
            ..Scenario::default()
        },
        FailOn::Any,
    );
    assert_reached(
        &explored,
        &[
            "registration_overlaps_invalidation",
            "secondary_mapping_installed",
        ],
    );
}

/// A notifier is unregistered while an invalidation walks: once `unregister` returns, no
/// callback of it may run.
#[test]
fn take_all_locks_unregister_vs_invalidation() {
    let explored = explore::<TakeAllLocks>(
        Scenario {
            invalidators: 1,
            notifiers: 2,
            unregister: vec![0],
            ..Scenario::default()
        },
        FailOn::Any,
    );
    assert_reached(&explored, &["unregister_overlaps_walk"]);
}

/// Two invalidations race an unregister.
#[test]
fn take_all_locks_unregister_vs_two_invalidations() {
    let explored = explore::<TakeAllLocks>(
        Scenario {
            invalidators: 2,
            notifiers: 2,
            unregister: vec![0],
            ..Scenario::default()
        },
        FailOn::Any,
    );
    assert_reached(&explored, &["unregister_overlaps_walk"]);
}

/// A registration and an unregistration race one invalidation.
#[test]
fn take_all_locks_register_and_unregister_vs_invalidation() {
    let explored = explore::<TakeAllLocks>(
        Scenario {
            invalidators: 1,
            notifiers: 1,
            registrations: 1,
            unregister: vec![0],
            ..Scenario::default()
        },
        FailOn::Any,
    );
    assert_reached(
        &explored,
        &[
            "registration_overlaps_invalidation",
            "secondary_mapping_installed",
            "unregister_overlaps_walk",
        ],
    );
}

/// Teardown, an unregister and an invalidation at once.
#[test]
fn take_all_locks_teardown_vs_unregister_vs_invalidation() {
    let explored = explore::<TakeAllLocks>(
        Scenario {
            invalidators: 1,
            notifiers: 2,
            unregister: vec![0],
            teardown: true,
            ..Scenario::default()
        },
        FailOn::Any,
    );
    assert_reached(
        &explored,
        &["teardown_overlaps_unregister", "unregister_overlaps_walk"],
    );
}

/// Teardown races an unregister: every notifier still registered gets `release` before the
/// frames go, and none after its unregister returned.
#[test]
fn take_all_locks_teardown_vs_unregister() {
    let explored = explore::<TakeAllLocks>(
        Scenario {
            invalidators: 0,
            notifiers: 2,
            unregister: vec![0],
            teardown: true,
            ..Scenario::default()
        },
        FailOn::Any,
    );
    assert_reached(&explored, &["teardown_overlaps_unregister"]);
}

/// A nested invalidation (its own start, zap, end and free inside the outer one) races a
/// registration.
#[test]
fn take_all_locks_nested_invalidations() {
    let explored = explore::<TakeAllLocks>(
        Scenario {
            invalidators: 1,
            nested: true,
            registrations: 1,
            ..Scenario::default()
        },
        FailOn::Any,
    );
    assert_reached(
        &explored,
        &[
            "registration_overlaps_invalidation",
            "secondary_mapping_installed",
        ],
    );
}

/// An aging walk races a registration and an invalidation.
#[test]
fn take_all_locks_aging_vs_register() {
    explore::<TakeAllLocks>(
        Scenario {
            invalidators: 1,
            notifiers: 1,
            registrations: 1,
            aging: true,
            ..Scenario::default()
        },
        FailOn::Any,
    );
}

/// The seed patch loses an `invalidate_start`: a walk that read `head` before the new node was
/// published never calls it, the new driver maps the old frame, then receives the end of an
/// invalidation whose start it never saw, and the frame is freed under it.
#[test]
fn emm_stop_start_loses_invalidate_start() {
    let explored = explore::<EmmStopStart>(
        Scenario {
            invalidators: 1,
            notifiers: 1,
            registrations: 1,
            ..Scenario::default()
        },
        FailOn::Nothing,
    );
    assert!(
        explored.violated.contains("start_end_balanced")
            && explored.violated.contains("no_stale_secondary"),
        "loom must find the lost invalidate_start: {explored:?}"
    );
}

/// Loom reports the seed's bug as a failed exploration, naming the property.
#[test]
#[should_panic(expected = "start_end_balanced")]
fn emm_stop_start_fails_under_loom() {
    explore::<EmmStopStart>(
        Scenario {
            invalidators: 1,
            registrations: 1,
            ..Scenario::default()
        },
        FailOn::Property("start_end_balanced"),
    );
}

/// The seed's register links the new notifier before its `emm_start` walk, which then starts
/// a notifier it never stopped: in every execution, with nothing racing it.
#[test]
fn emm_stop_start_starts_unstopped_notifier() {
    let explored = explore::<EmmStopStart>(
        Scenario {
            invalidators: 0,
            notifiers: 1,
            registrations: 1,
            ..Scenario::default()
        },
        FailOn::Nothing,
    );
    assert!(
        explored.violated.contains("stop_start_paired"),
        "{explored:?}"
    );
    assert_eq!(explored.violated.len(), 1, "{explored:?}");
}

/// The seed's unregister restarts only the notifiers still linked: a walk that loaded the
/// unlinked node (the head, n0), stopped by the unregister's `emm_stop`, waits for an
/// `emm_start` that never comes. Loom reports the deadlock (the model's `deadlock_free` and
/// `stop_start_paired`).
#[test]
#[should_panic(expected = "deadlock")]
fn emm_stop_start_unregister_leaves_walk_stopped() {
    explore::<EmmStopStart>(
        Scenario {
            invalidators: 1,
            notifiers: 2,
            unregister: vec![0],
            ..Scenario::default()
        },
        FailOn::Nothing,
    );
}

/// EMM as first posted waits for no walk in unregister: a walk that loaded the node before the
/// unlink calls it after unregister returned.
#[test]
fn rcu_publish_calls_after_unregister() {
    let explored = explore::<RcuPublish>(
        Scenario {
            invalidators: 1,
            notifiers: 2,
            unregister: vec![1],
            ..Scenario::default()
        },
        FailOn::Nothing,
    );
    assert!(
        explored.violated.contains("no_callback_after_unregister"),
        "{explored:?}"
    );
}

/// EMM as first posted loses the same `invalidate_start`.
#[test]
fn rcu_publish_loses_invalidate_start() {
    let explored = explore::<RcuPublish>(
        Scenario {
            invalidators: 1,
            registrations: 1,
            ..Scenario::default()
        },
        FailOn::Nothing,
    );
    assert!(
        explored.violated.contains("no_stale_secondary"),
        "{explored:?}"
    );
}
