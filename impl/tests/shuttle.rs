//! Larger configurations than loom can take, under shuttle's random and PCT schedulers.
//!
//! `cargo test --workspace` runs this file through the `emm-shuttle` package (the library's
//! sources built with the `shuttle` feature); `cargo test -p emm --features shuttle --test
//! shuttle` runs it directly. Each test runs a fixed number of schedules per scheduler;
//! `EMM_SHUTTLE_ITERATIONS=N` runs `N` instead. A failing schedule is saved to a file and the
//! test prints the command that replays it (`EMM_SHUTTLE_REPLAY=FILE ...`).
//!
//! Every schedule's trace (every step, as the model's event) is validated against the model
//! of the same protocol, as under loom.
#![cfg(feature = "shuttle")]

mod conformance;
mod scenarios;

use emm::harness::{observe, Execution, FailOn, Scenario};
use emm::historical::EmmStopStart;
use emm::{Chain, RcuWindow, TakeAllLocks};
use emm_proofs::Prop::{self, NoStaleSecondary, StartEndBalanced};
use scenarios::{panic_message, Case, Expect};
use shuttle::scheduler::{PctScheduler, RandomScheduler, Scheduler};
use shuttle::{Config, FailurePersistence, Runner};
use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Schedules per scheduler in the normal test run.
const ITERATIONS: usize = 2_000;

/// PCT's bug depth: schedules with up to this many priority changes are found with good odds.
const PCT_DEPTH: usize = 3;

fn iterations() -> usize {
    match std::env::var("EMM_SHUTTLE_ITERATIONS") {
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("EMM_SHUTTLE_ITERATIONS={n:?} is not a count")),
        Err(_) => ITERATIONS,
    }
}

/// What the schedules of one scheduler saw.
#[derive(Debug, Default)]
struct Explored {
    /// Trace events validated against the model.
    events: usize,
    goals: BTreeSet<Prop>,
    violated: BTreeSet<Prop>,
}

/// The configuration of one exploration, and the directory its failing schedule goes to: a fresh
/// one per run (shuttle numbers its files by scanning the directory, and an exploration that
/// is expected to fail writes one every run).
fn config(test: &str) -> (Config, PathBuf) {
    let dir = std::env::temp_dir()
        .join("emm-shuttle")
        .join(format!("{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory for failing schedules");
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::File(Some(dir.clone()));
    // The harness checks the spec's properties inside callbacks: more stack than the default.
    config.stack_size = 0x40000;
    config.silence_warnings = true;
    (config, dir)
}

/// Runs `scenario` on `C` under `scheduler`; panics (after printing the replay command) on the
/// first schedule whose execution has a violation that `fail_on` selects; collects the rest.
fn explore<C: Chain>(
    test: &str,
    scenario: &Scenario,
    scheduler: impl Scheduler + 'static,
    fail_on: FailOn,
) -> Explored {
    let (config, dir) = config(test);
    let seen = Arc::new(Mutex::new(Explored::default()));
    let body = {
        let (scenario, seen) = (scenario.clone(), Arc::clone(&seen));
        move || {
            let execution: Execution = observe::<C>(&scenario);
            let events =
                conformance::refines::<C>(&scenario, &execution).unwrap_or_else(|e| panic!("{e}"));
            let mut s = seen.lock().unwrap();
            s.events += events;
            s.goals.extend(execution.goals.iter().copied());
            s.violated
                .extend(execution.violations.iter().map(|v| v.property));
            drop(s);
            execution.judge(fail_on);
        }
    };
    if let Ok(file) = std::env::var("EMM_SHUTTLE_REPLAY") {
        shuttle::replay_from_file(body, file);
        return std::mem::take(&mut *seen.lock().unwrap());
    }
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        Runner::new(scheduler, config).run(body);
    }));
    if let Err(panic) = outcome {
        let newest = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
        if let Some(file) = newest {
            eprintln!(
                "replay the failing schedule with:\n  EMM_SHUTTLE_REPLAY={} \
                 cargo test -p emm --features shuttle --test shuttle -- --exact {test}",
                file.path().display()
            );
        }
        panic::resume_unwind(panic);
    }
    std::fs::remove_dir_all(&dir).ok();
    let explored = std::mem::take(&mut *seen.lock().unwrap());
    eprintln!("{test} ({}): {explored:?}", C::VARIANT);
    explored
}

/// Explores `case` on `C` under both schedulers, `iterations()` schedules each, and checks that
/// it shows `expect` (a failing exploration runs the random scheduler only).
fn check<C: Chain>(test: &str, case: Case, expect: Expect) {
    let n = iterations();
    let fail_on = match expect {
        Expect::Holds => FailOn::Any,
        Expect::FailsNaming(p) => FailOn::Property(p),
        Expect::Finds(_) | Expect::FindsOnly(_) | Expect::Deadlocks => FailOn::Nothing,
        Expect::DataRace => unreachable!("shuttle does not check data races; loom does"),
    };
    if let Expect::FailsNaming(_) | Expect::Deadlocks = expect {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            explore::<C>(test, &case.scenario, RandomScheduler::new(n), fail_on)
        }));
        let panic = outcome.expect_err("shuttle must fail the exploration");
        let (_, dir) = config(test);
        std::fs::remove_dir_all(dir).ok();
        let message = panic_message(panic.as_ref());
        let needle = match expect {
            Expect::FailsNaming(p) => p.name(),
            _ => "deadlock",
        };
        assert!(message.contains(needle), "{test}: {message}");
        return;
    }
    let random = explore::<C>(test, &case.scenario, RandomScheduler::new(n), fail_on);
    let pct = explore::<C>(
        test,
        &case.scenario,
        PctScheduler::new(PCT_DEPTH, n),
        fail_on,
    );
    let explored = Explored {
        events: random.events + pct.events,
        goals: random.goals.union(&pct.goals).copied().collect(),
        violated: random.violated.union(&pct.violated).copied().collect(),
    };
    match expect {
        Expect::Holds => {
            for goal in case.goals {
                assert!(
                    explored.goals.contains(goal),
                    "{test}: no schedule reached {goal}: {explored:?}"
                );
            }
        }
        Expect::Finds(props) => {
            for p in props {
                assert!(
                    explored.violated.contains(p),
                    "{test}: no {p}: {explored:?}"
                );
            }
        }
        Expect::FindsOnly(props) => {
            let want: BTreeSet<_> = props.iter().copied().collect();
            assert_eq!(explored.violated, want, "{test}: {explored:?}");
        }
        Expect::FailsNaming(_) | Expect::Deadlocks | Expect::DataRace => {
            unreachable!("handled above")
        }
    }
}

/// One shuttle test: `name: Protocol, scenario, expectation`.
macro_rules! shuttle_test {
    ($($(#[$doc:meta])* $name:ident: $chain:ty, $case:ident, $expect:expr;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            check::<$chain>(stringify!($name), scenarios::$case(), $expect)
        }
    )*};
}

shuttle_test! {
    take_all_locks_two_of_each: TakeAllLocks, two_of_each, Expect::Holds;
    take_all_locks_everything_at_once: TakeAllLocks, everything_at_once, Expect::Holds;
    take_all_locks_three_invalidators: TakeAllLocks, register_vs_three_invalidations, Expect::Holds;
    rcu_window_two_of_each: RcuWindow, two_of_each, Expect::Holds;
    rcu_window_everything_at_once: RcuWindow, everything_at_once, Expect::Holds;
    rcu_window_three_invalidators: RcuWindow, register_vs_three_invalidations, Expect::Holds;
    /// Shuttle finds the seed's lost `invalidate_start` too.
    emm_stop_start_loses_invalidate_start: EmmStopStart, register_vs_two_invalidations_one_notifier, Expect::Finds(&[StartEndBalanced, NoStaleSecondary]);
    /// And reports it as a failing test, with the schedule to replay.
    emm_stop_start_fails_under_shuttle: EmmStopStart, register_on_empty_chain, Expect::FailsNaming(StartEndBalanced);
}

/// A notifier that panics in its first `invalidate_start`, and a well-behaved one, under
/// shuttle: whatever the schedule, the panic reaches the invalidating caller, the other
/// notifier is left with no invalidation open, and register, unregister, invalidations and
/// teardown still work afterwards.
#[test]
fn take_all_locks_survives_a_panicking_callback() {
    use emm::sync::{thread, AtomicBool, AtomicI64, Ordering};
    use emm::{AddressSpace, Notifier, Range};

    struct Counting {
        open: AtomicI64,
        panics_once: AtomicBool,
    }
    impl Notifier for Counting {
        fn invalidate_start(&self, _: Range) {
            if self.panics_once.swap(false, Ordering::SeqCst) {
                panic!("injected fault");
            }
            self.open.fetch_add(1, Ordering::SeqCst);
        }
        fn invalidate_end(&self, _: Range) {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let counting = |panics| {
        Arc::new(Counting {
            open: AtomicI64::new(0),
            panics_once: AtomicBool::new(panics),
        })
    };
    let page = Range::new(0x1000, 0x2000);
    let body = move || {
        let mm = AddressSpace::<TakeAllLocks>::new();
        let good = counting(false);
        let _good = mm.register(good.clone()).unwrap();
        let faulty = counting(true);
        let faulty_handle = mm.register(faulty.clone()).unwrap();
        let invalidators: Vec<_> = (0..2)
            .map(|_| {
                let mm = mm.clone();
                thread::spawn(move || {
                    panic::catch_unwind(AssertUnwindSafe(|| mm.invalidate(page, |_| ()))).is_err()
                })
            })
            .collect();
        let registrar = {
            let mm = mm.clone();
            thread::spawn(move || {
                let late = mm.register(counting(false)).unwrap();
                late.unregister();
            })
        };
        let panicked: usize = invalidators
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        registrar.join().unwrap();
        assert_eq!(panicked, 1, "the one panic reached its invalidating caller");
        assert_eq!(good.open.load(Ordering::SeqCst), 0);
        faulty_handle.unregister();
        mm.invalidate(page, |_| ());
        assert_eq!(good.open.load(Ordering::SeqCst), 0);
        mm.teardown();
    };
    let n = iterations();
    shuttle::check_random(body, n);
    shuttle::check_pct(body, n, PCT_DEPTH);
}

/// The facade's `RwLock` under shuttle has std's policy: a new reader waits behind a queued
/// writer, so a thread that takes the read lock twice while another thread's writer waits
/// deadlocks, as on std, and shuttle reports it. (Shuttle's own `RwLock` fails every second
/// read lock on one thread, waiting writer or not; std's, and this one, only the former.)
#[test]
fn rwlock_reader_waits_behind_a_queued_writer() {
    // With no writer waiting, a second read lock on one thread is let in, as on std (shuttle's
    // own `RwLock` would report a deadlock here).
    shuttle::check_dfs(
        || {
            let lock = emm::sync::RwLock::new(());
            let (first, second) = (lock.read(), lock.read());
            drop((second, first));
            drop(lock.write());
        },
        None,
    );
    let body = || {
        let lock = Arc::new(emm::sync::RwLock::new(()));
        let first = lock.read();
        let writer = {
            let lock = Arc::clone(&lock);
            emm::sync::thread::spawn(move || drop(lock.write()))
        };
        // Let the writer queue (a schedule point: shuttle may also run the second read first).
        emm::sync::thread::yield_now();
        let second = lock.read();
        drop((second, first));
        writer.join().expect("the writer thread");
    };
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| shuttle::check_dfs(body, None)));
    let message = panic_message(
        outcome
            .expect_err("shuttle must report the deadlock")
            .as_ref(),
    );
    assert!(message.contains("deadlock"), "not a deadlock: {message}");
}
