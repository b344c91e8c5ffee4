//! Every interleaving (up to a preemption bound) of the registration races, under loom.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p emm --release --test loom`. The bound is
//! `LOOM_MAX_PREEMPTIONS` if set, else [`PREEMPTIONS`] (or the test's own, lower, bound). Each execution checks every safety
//! property of the spec at every observable step (see `emm::harness`), and its trace (every
//! step, as the model's event) is validated against the model of the same protocol: every
//! execution loom explores must be a behaviour of the model. The scenarios come from the table
//! shared with the shuttle suite ([`scenarios`]); each test is one line: scenario, protocol,
//! what must come out.
#![cfg(loom)]

mod conformance;
mod scenarios;

use emm::harness::{observe, FailOn};
use emm::historical::{EmmStopStart, RcuPublish, RcuPublishRelaxedPublish};
use emm::{Chain, RcuWindow, RcuWindowRelaxedPublish, ReadSeq, Secondary, TakeAllLocks};
use emm_proofs::Prop::{NoStaleSecondary, StartEndBalanced, StopStartPaired, WalkIntegrity};
use scenarios::{panic_message, Case, Expect};
use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
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
    /// Loads that read a link older than the last store to it (weak loads the model accepts).
    late_loads: usize,
    goals: BTreeSet<emm_proofs::Prop>,
    violated: BTreeSet<emm_proofs::Prop>,
}

/// Explores `case` on protocol `C` and checks that it shows `expect`.
fn explore<C: Chain>(test: &str, case: Case, expect: Expect, bound: usize) {
    let fail_on = match expect {
        Expect::Holds => FailOn::Any,
        Expect::FailsNaming(p) => FailOn::Property(p),
        Expect::Finds(_) | Expect::FindsOnly(_) | Expect::Deadlocks | Expect::DataRace => {
            FailOn::Nothing
        }
    };
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    let executions = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Explored::default()));
    let scenario = case.scenario.clone();
    let run = {
        let (executions, seen) = (Arc::clone(&executions), Arc::clone(&seen));
        move || {
            builder.check(move || {
                executions.fetch_add(1, Ordering::Relaxed);
                let execution = observe::<C>(&scenario);
                let (events, late_loads) = conformance::refines_weak::<C>(&scenario, &execution)
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut seen = seen.lock().unwrap();
                seen.events += events;
                seen.late_loads += late_loads;
                seen.goals.extend(execution.goals.iter().copied());
                seen.violated
                    .extend(execution.violations.iter().map(|v| v.property));
                drop(seen);
                execution.judge(fail_on);
            })
        }
    };
    let outcome = panic::catch_unwind(AssertUnwindSafe(run));
    let mut explored = std::mem::take(&mut *seen.lock().unwrap());
    explored.executions = executions.load(Ordering::Relaxed);
    eprintln!(
        "{test} ({}): {} executions, {} trace events validated ({} weak loads of an older link), \
         goals reached: {:?}",
        C::VARIANT,
        explored.executions,
        explored.events,
        explored.late_loads,
        explored.goals
    );
    let message = |panic: &Box<dyn std::any::Any + Send>| panic_message(panic.as_ref());
    match (expect, outcome) {
        (Expect::FailsNaming(p), Err(panic)) => {
            assert!(
                message(&panic).contains(p.name()),
                "{test}: {}",
                message(&panic)
            )
        }
        (Expect::Deadlocks, Err(panic)) => {
            assert!(
                message(&panic).contains("deadlock"),
                "{test}: {}",
                message(&panic)
            )
        }
        (Expect::DataRace, Err(panic)) => {
            assert!(
                message(&panic).contains("Causality violation"),
                "{test}: {}",
                message(&panic)
            )
        }
        (Expect::FailsNaming(_) | Expect::Deadlocks | Expect::DataRace, Ok(())) => {
            panic!("{test}: loom must fail the exploration ({expect:?}): {explored:?}")
        }
        (_, Err(panic)) => panic::resume_unwind(panic),
        (Expect::Holds, Ok(())) => {
            for goal in case.goals {
                assert!(
                    explored.goals.contains(goal),
                    "{test}: no execution reached {goal}: {explored:?}"
                );
            }
        }
        (Expect::Finds(props), Ok(())) => {
            for p in props {
                assert!(
                    explored.violated.contains(p),
                    "{test}: no {p}: {explored:?}"
                );
            }
        }
        (Expect::FindsOnly(props), Ok(())) => {
            let want: BTreeSet<_> = props.iter().copied().collect();
            assert_eq!(explored.violated, want, "{test}: {explored:?}");
        }
    }
}

/// The environment variable that makes a test binary run one deadlocking exploration itself
/// (see [`in_child`]).
const CHILD: &str = "EMM_LOOM_DEADLOCK_CHILD";

/// Runs `test`'s exploration in a child process of this test binary and checks that loom
/// reported a deadlock there. Loom reports one by panicking inside the blocked thread; when
/// that thread holds a loom lock (the historical chain's VM thread holds `anon_vma`'s mutex
/// across its walks, as the 2008 VM did), dropping the guard while unwinding re-enters loom's
/// runtime, which has already torn the execution down, and the second panic aborts the
/// process. So the exploration runs in its own process, and its report is read from there.
fn in_child(test: &str) {
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .expect("the test binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{test}: loom must report the deadlock:\n{stderr}"
    );
    assert!(
        stderr.contains("deadlock; threads ="),
        "{test}: the exploration failed, but not on a deadlock:\n{stderr}"
    );
}

/// One loom test: `name: Protocol, scenario, expectation` and, for the scenarios whose
/// exploration at [`PREEMPTIONS`] takes too long for CI, `bound N`.
macro_rules! loom_test {
    ($($(#[$doc:meta])* $name:ident: $chain:ty, $case:ident, $expect:expr $(, bound $bound:literal)?;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            let test = stringify!($name);
            let expect = $expect;
            if matches!(expect, Expect::Deadlocks) && std::env::var(CHILD).as_deref() != Ok(test) {
                return in_child(test);
            }
            let bound = PREEMPTIONS $(.min($bound))?;
            explore::<$chain>(test, scenarios::$case(), expect, bound)
        }
    )*};
}

loom_test! {
    /// The new driver must never map a frame freed under it.
    take_all_locks_register_vs_invalidation: TakeAllLocks, register_vs_invalidation, Expect::Holds;
    take_all_locks_register_vs_two_invalidations: TakeAllLocks, register_vs_two_invalidations, Expect::Holds;
    /// Once `unregister` returns, no callback of the notifier may run.
    take_all_locks_unregister_vs_invalidation: TakeAllLocks, unregister_head_vs_invalidation, Expect::Holds;
    take_all_locks_unregister_vs_two_invalidations: TakeAllLocks, unregister_vs_two_invalidations, Expect::Holds;
    take_all_locks_register_and_unregister_vs_invalidation: TakeAllLocks, register_and_unregister_vs_invalidation, Expect::Holds;
    take_all_locks_teardown_vs_unregister_vs_invalidation: TakeAllLocks, teardown_vs_unregister_vs_invalidation, Expect::Holds;
    /// Every notifier still registered gets `release` before the frames go, none after its
    /// unregister returned.
    take_all_locks_teardown_vs_unregister: TakeAllLocks, teardown_vs_unregister, Expect::Holds;
    take_all_locks_nested_invalidations: TakeAllLocks, nested_invalidation_vs_register, Expect::Holds;
    take_all_locks_aging_vs_register: TakeAllLocks, aging_vs_register, Expect::Holds;
    /// ours@rcu-window on every scenario the production protocol has: walkers that never
    /// wait, register and unregister that wait for a grace period, under loom's C11 model.
    rcu_window_register_vs_invalidation: RcuWindow, register_vs_invalidation, Expect::Holds;
    rcu_window_register_vs_two_invalidations: RcuWindow, register_vs_two_invalidations, Expect::Holds;
    rcu_window_unregister_vs_invalidation: RcuWindow, unregister_head_vs_invalidation, Expect::Holds;
    rcu_window_unregister_tail_vs_invalidation: RcuWindow, unregister_tail_vs_invalidation, Expect::Holds;
    /// RcuWindow's waits are spin loops, each turn a loom branch: this one runs at bound 3.
    rcu_window_unregister_vs_two_invalidations: RcuWindow, unregister_vs_two_invalidations, Expect::Holds, bound 3;
    rcu_window_register_and_unregister_vs_invalidation: RcuWindow, register_and_unregister_vs_invalidation, Expect::Holds, bound 3;
    rcu_window_teardown_vs_unregister_vs_invalidation: RcuWindow, teardown_vs_unregister_vs_invalidation, Expect::Holds, bound 3;
    rcu_window_teardown_vs_unregister: RcuWindow, teardown_vs_unregister, Expect::Holds;
    rcu_window_nested_invalidations: RcuWindow, nested_invalidation_vs_register, Expect::Holds;
    rcu_window_aging_vs_register: RcuWindow, aging_vs_register, Expect::Holds;
    /// The publish's release is load-bearing: with `rcu_assign_pointer` weakened to a relaxed
    /// store, a walker that loads the new node reads its link before the node's
    /// initialisation is ordered before the read, and loom fails the execution.
    rcu_window_needs_the_release_publish: RcuWindowRelaxedPublish, register_vs_invalidation, Expect::DataRace;
    /// The seed loses an `invalidate_start`: a walk that read `head` before the new node was
    /// published never calls it, the new driver maps the old frame, receives the end of an
    /// invalidation whose start it never saw, and the frame is freed under it.
    emm_stop_start_loses_invalidate_start: EmmStopStart, register_vs_invalidation, Expect::Finds(&[StartEndBalanced, NoStaleSecondary]);
    /// Loom reports the seed's bug as a failed exploration, naming the property.
    emm_stop_start_fails_under_loom: EmmStopStart, register_on_empty_chain, Expect::FailsNaming(StartEndBalanced);
    /// The seed's register links the new notifier before its `emm_start` walk, which then
    /// starts a notifier it never stopped, with nothing racing it.
    emm_stop_start_starts_unstopped_notifier: EmmStopStart, register_alone, Expect::FindsOnly(&[StopStartPaired]);
    /// The seed's unregister restarts only the notifiers still linked: a walk stopped on the
    /// unlinked head waits for an `emm_start` that never comes.
    emm_stop_start_unregister_leaves_walk_stopped: EmmStopStart, unregister_head_vs_invalidation, Expect::Deadlocks;
    /// EMM V2's walker returns at the first notifier that answers young: the next one never
    /// gets its clear_young.
    rcu_publish_aging_stops_at_the_first_young: RcuPublish, aging_over_two_notifiers, Expect::FindsOnly(&[WalkIntegrity]);
    /// EMM V2 loses the same invalidate_start as the seed.
    rcu_publish_loses_invalidate_start: RcuPublish, register_on_empty_chain, Expect::Finds(&[NoStaleSecondary]);
    /// EMM V2's `rcu_assign_pointer()` is load-bearing: with the publish weakened to a relaxed
    /// store, a walker that loads the new node reads its `next` (the node's initialisation,
    /// `e->next = mm->emm_notifier`) without that initialisation ordered before the read, and
    /// loom fails the execution.
    rcu_publish_needs_the_release_publish: RcuPublishRelaxedPublish, register_vs_invalidation, Expect::DataRace;
}

/// The frames of [`fault_vs_invalidation`]: the PTE maps `OLD` until the zap maps `NEW`; `OLD`
/// is freed once the invalidation has ended.
const OLD: u64 = 1;
const NEW: u64 = 2;

/// KVM's fault path against one invalidation, with the page-table read lock-free as KVM's
/// GUP-fast read is: `s = read_begin(); pte = READ_ONCE(*ptep); lock; if !read_retry(s)
/// install pte`, while the VM runs `invalidate_start` (the notifier drops the range), the zap
/// (`OLD` -> `NEW`) and `invalidate_end`, after which `OLD` is freed. In every execution the
/// mirror must end without `OLD`.
fn fault_vs_invalidation(read_begin: fn(&Secondary<Option<u64>>) -> ReadSeq) {
    use loom::sync::atomic::AtomicU64;
    let tlb = Arc::new(Secondary::new(None));
    let pte = Arc::new(AtomicU64::new(OLD));
    let vm = {
        let (tlb, pte) = (Arc::clone(&tlb), Arc::clone(&pte));
        loom::thread::spawn(move || {
            *tlb.invalidate_start() = None;
            // The zap: ptep_get_and_clear() and the new PTE. Relaxed: the order that matters
            // is the release of invalidate_end's bump after it.
            pte.store(NEW, Ordering::Relaxed);
            drop(tlb.invalidate_end());
        })
    };
    let fault = {
        let (tlb, pte) = (Arc::clone(&tlb), Arc::clone(&pte));
        loom::thread::spawn(move || {
            let s = read_begin(&tlb);
            // GUP-fast: READ_ONCE(*ptep), no lock. Relaxed: only read_begin orders it.
            let frame = pte.load(Ordering::Relaxed);
            let mut mirror = tlb.lock();
            if !mirror.read_retry(s) {
                *mirror = Some(frame);
            }
        })
    };
    fault.join().expect("the fault thread");
    vm.join().expect("the VM thread");
    assert_ne!(
        *tlb.lock(),
        Some(OLD),
        "the fault maps the zapped frame, freed after the invalidation's end (no_stale_secondary)"
    );
}

/// The fault path's snapshot-then-read order holds with `read_begin`'s acquire.
#[test]
fn secondary_fault_reads_the_pte_after_its_snapshot() {
    loom::model(|| fault_vs_invalidation(Secondary::read_begin));
}

/// `read_begin`'s acquire is load-bearing: with a relaxed snapshot, loom finds the fault that
/// reads the new sequence and the zapped PTE, passes its check and maps the freed frame.
#[test]
fn secondary_fault_needs_the_acquire_snapshot() {
    let outcome = panic::catch_unwind(|| {
        loom::model(|| fault_vs_invalidation(Secondary::read_begin_relaxed));
    });
    let message = panic_message(
        outcome
            .expect_err("loom must find the stale mapping")
            .as_ref(),
    );
    assert!(
        message.contains("maps the zapped frame"),
        "loom failed, but not on the stale mapping: {message}"
    );
}

/// With no writer waiting, the facade's `RwLock` under loom lets a second read lock on one
/// thread in, as std does.
#[test]
fn rwlock_lets_a_second_reader_in_with_no_writer_waiting() {
    loom::model(|| {
        let lock = emm::sync::RwLock::new(());
        let (first, second) = (lock.read(), lock.read());
        drop((second, first));
        drop(lock.write());
    });
}

/// The facade's `RwLock` under loom has std's policy: a new reader waits behind a queued
/// writer. So a thread that takes the read lock twice while another thread's writer waits
/// deadlocks, as on std (where a second `invalidate_range_start` on a thread holding one open,
/// with a `register` queued, would hang), and loom reports it.
#[test]
fn rwlock_reader_waits_behind_a_queued_writer() {
    let test = "rwlock_reader_waits_behind_a_queued_writer";
    if std::env::var(CHILD).as_deref() != Ok(test) {
        return in_child(test);
    }
    loom::model(|| {
        let lock = Arc::new(emm::sync::RwLock::new(()));
        let first = lock.read();
        let writer = {
            let lock = Arc::clone(&lock);
            loom::thread::spawn(move || drop(lock.write()))
        };
        let second = lock.read();
        drop((second, first));
        writer.join().expect("the writer thread");
    });
}
