//! The registry's API contract on real threads (the std backend).

#![cfg(not(any(loom, feature = "shuttle")))]

#[cfg(feature = "trace")]
mod conformance;

use emm::harness::{run, Scenario};
use emm::historical::{EmmStopStart, RcuPublish};
use emm::{AddressSpace, Chain, Notifier, Range, RcuWindow, Secondary, TakeAllLocks, TornDown};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

const PAGE: Range = Range {
    start: 0x1000,
    end: 0x2000,
};

/// Counts every callback; `young` is its answer to `clear_young`.
#[derive(Default)]
struct Counter {
    open: AtomicI64,
    starts: AtomicU32,
    ends: AtomicU32,
    releases: AtomicU32,
    young: AtomicBool,
    aged: AtomicU32,
}

impl Notifier for Counter {
    fn invalidate_start(&self, _: Range) {
        self.open.fetch_add(1, Ordering::SeqCst);
        self.starts.fetch_add(1, Ordering::SeqCst);
    }
    fn invalidate_end(&self, _: Range) {
        self.open.fetch_sub(1, Ordering::SeqCst);
        self.ends.fetch_add(1, Ordering::SeqCst);
    }
    fn clear_young(&self, _: Range) -> bool {
        self.aged.fetch_add(1, Ordering::SeqCst);
        self.young.swap(false, Ordering::SeqCst)
    }
    fn release(&self) {
        self.releases.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a protocol does where the versions differ.
#[derive(Clone, Copy)]
struct Quirks {
    /// Unregistering after teardown sends a second `release` (the seed's unregister does;
    /// mmu_notifier's skips a notifier that teardown already unlinked).
    released_again: bool,
    /// EMM V2's walker returns at the first nonzero callback, and V2 has no unregister: a
    /// dropped registration stays linked until teardown.
    emm_v2: bool,
}

fn contract<C: Chain>(quirks: Quirks) {
    let Quirks {
        released_again,
        emm_v2,
    } = quirks;
    let mm = AddressSpace::<C>::new();
    let a = Arc::new(Counter::default());
    let b = Arc::new(Counter::default());
    let ra = mm.register(a.clone()).unwrap();
    let rb = mm.register(b.clone()).unwrap();

    // Nested invalidations: each start has its end, in every notifier.
    mm.invalidate(PAGE, |outer| {
        let inner = outer.nest(PAGE);
        assert_eq!(a.open.load(Ordering::SeqCst), 2);
        inner.end();
        assert_eq!(a.open.load(Ordering::SeqCst), 1);
    });
    assert_eq!(
        (
            a.starts.load(Ordering::SeqCst),
            a.ends.load(Ordering::SeqCst)
        ),
        (2, 2)
    );
    assert_eq!(b.open.load(Ordering::SeqCst), 0);

    // A panicking zap still ends the invalidation.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mm.invalidate(PAGE, |_| panic!("zap failed"));
    }));
    assert!(caught.is_err());
    assert_eq!(
        a.open.load(Ordering::SeqCst),
        0,
        "the end walk ran during the unwind"
    );

    // Aging asks everyone and reports whether anyone was young; V2's walker stops at b (the
    // head, registered last), which answers young, and never asks a.
    b.young.store(true, Ordering::SeqCst);
    assert!(mm.clear_young(PAGE));
    assert!(!mm.clear_young(PAGE));
    assert_eq!(a.aged.load(Ordering::SeqCst), if emm_v2 { 1 } else { 2 });

    // Dropping a registration unregisters it: no callback afterwards (V2: it stays linked).
    drop(rb);
    let before = b.starts.load(Ordering::SeqCst);
    mm.invalidate(PAGE, |_| ());
    assert_eq!(b.starts.load(Ordering::SeqCst), before + u32::from(emm_v2));

    // Teardown releases whoever is registered; registering afterwards fails.
    mm.teardown();
    assert_eq!(a.releases.load(Ordering::SeqCst), 1);
    // b got its release from its unregister, or (V2) from teardown.
    assert_eq!(b.releases.load(Ordering::SeqCst), 1);
    assert_eq!(
        mm.register(Arc::new(Counter::default())).err(),
        Some(TornDown)
    );
    // The handle outlives teardown.
    ra.unregister();
    assert_eq!(
        a.releases.load(Ordering::SeqCst),
        1 + u32::from(released_again)
    );
}

#[test]
fn take_all_locks_contract() {
    contract::<TakeAllLocks>(Quirks {
        released_again: false,
        emm_v2: false,
    });
}

#[test]
fn rcu_window_contract() {
    contract::<RcuWindow>(Quirks {
        released_again: false,
        emm_v2: false,
    });
}

#[test]
fn emm_stop_start_contract() {
    contract::<EmmStopStart>(Quirks {
        released_again: true,
        emm_v2: false,
    });
}

#[test]
fn rcu_publish_contract() {
    contract::<RcuPublish>(Quirks {
        released_again: false,
        emm_v2: true,
    });
}

/// Registration waits for the invalidations already open (mm_take_all_locks), so the new
/// notifier can never see an end without its start.
#[test]
fn register_waits_for_open_invalidations() {
    let mm = AddressSpace::<TakeAllLocks>::new();
    let late = Arc::new(Counter::default());
    let (opened, open) = mpsc::channel();
    let (close, closed) = mpsc::channel::<()>();
    let invalidator = {
        let mm = Arc::clone(&mm);
        thread::spawn(move || {
            mm.invalidate(PAGE, |_| {
                opened.send(()).unwrap();
                closed.recv().unwrap();
            })
        })
    };
    open.recv().unwrap();
    let registered = Arc::new(AtomicBool::new(false));
    let registrar = {
        let (mm, late, registered) = (Arc::clone(&mm), Arc::clone(&late), Arc::clone(&registered));
        thread::spawn(move || {
            let r = mm.register(late).unwrap();
            registered.store(true, Ordering::SeqCst);
            r
        })
    };
    thread::sleep(Duration::from_millis(50));
    assert!(
        !registered.load(Ordering::SeqCst),
        "register returned while an invalidation was open"
    );
    close.send(()).unwrap();
    invalidator.join().unwrap();
    let registration = registrar.join().unwrap();
    assert_eq!(
        late.open.load(Ordering::SeqCst),
        0,
        "no end without its start"
    );
    registration.unregister();
}

/// Unregister returns only once no callback of the notifier runs.
#[test]
fn unregister_waits_for_running_callbacks() {
    struct Slow {
        inside: AtomicBool,
        entered: std::sync::Mutex<Option<mpsc::Sender<()>>>,
    }
    impl Notifier for Slow {
        fn invalidate_start(&self, _: Range) {
            self.inside.store(true, Ordering::SeqCst);
            if let Some(tx) = self.entered.lock().unwrap().take() {
                tx.send(()).unwrap();
            }
            thread::sleep(Duration::from_millis(50));
            self.inside.store(false, Ordering::SeqCst);
        }
    }
    let mm = AddressSpace::<TakeAllLocks>::new();
    let (tx, entered) = mpsc::channel();
    let slow = Arc::new(Slow {
        inside: AtomicBool::new(false),
        entered: std::sync::Mutex::new(Some(tx)),
    });
    let registration = mm.register(slow.clone()).unwrap();
    let invalidator = {
        let mm = Arc::clone(&mm);
        thread::spawn(move || mm.invalidate(PAGE, |_| ()))
    };
    entered.recv().unwrap();
    registration.unregister();
    assert!(
        !slow.inside.load(Ordering::SeqCst),
        "a callback ran after unregister returned"
    );
    invalidator.join().unwrap();
}

/// The driver side: a fault that overlaps an invalidation retries.
#[test]
fn read_retry_sees_invalidations() {
    let tlb = Secondary::new(None::<u64>);
    let s = tlb.read_begin();
    drop(tlb.invalidate_start());
    assert!(
        tlb.lock().read_retry(s),
        "an open invalidation forces a retry"
    );
    drop(tlb.invalidate_end());
    assert!(
        tlb.lock().read_retry(s),
        "an invalidation that ended since the snapshot too"
    );
    let s = tlb.read_begin();
    assert!(!tlb.lock().read_retry(s));
    let released = tlb.release();
    assert!(released.is_released());
}

/// Every kind of actor at once, two of each where the model allows; registrars register,
/// fault and unregister `rounds` times.
fn every_actor(rounds: usize) -> Scenario {
    Scenario {
        invalidators: 2,
        nested: true,
        notifiers: 3,
        registrations: 2,
        unregister: vec![0, 1],
        teardown: true,
        aging: true,
        rounds,
    }
}

/// The harness's scenarios on real threads: many executions of every actor at once, each
/// checked against every property of the spec.
#[test]
fn take_all_locks_on_real_threads() {
    let scenario = every_actor(5);
    for _ in 0..200 {
        run::<TakeAllLocks>(&scenario);
        run::<RcuWindow>(&scenario);
    }
}

/// Every step of real-thread executions, recorded as the model's events, is a behaviour of the
/// model of the same protocol: each event is the enabled next step of its actor, with the same
/// outcome (see `emm_model::conformance`).
#[cfg(feature = "trace")]
#[test]
fn real_thread_runs_refine_the_model() {
    use emm::harness::observe;
    fn check<C: Chain>(scenario: &Scenario, runs: usize) {
        let mut events = 0;
        for _ in 0..runs {
            let execution = observe::<C>(scenario);
            events +=
                conformance::refines::<C>(scenario, &execution).unwrap_or_else(|e| panic!("{e}"));
        }
        eprintln!("{}: {runs} runs, {events} events validated", C::VARIANT);
    }
    let everything = every_actor(1);
    check::<TakeAllLocks>(&everything, 200);
    check::<RcuWindow>(&everything, 200);
    // EMM V2 has no unregister.
    check::<RcuPublish>(
        &Scenario {
            unregister: Vec::new(),
            ..everything.clone()
        },
        200,
    );
    // The seed deadlocks on real threads (the model's deadlock_free finds both): its
    // unregister can leave a walk stopped for ever, and a register's emm_stop waits for an
    // outer invalidation whose nested invalidate_start waits for the emm_start. Neither here.
    check::<EmmStopStart>(
        &Scenario {
            nested: false,
            unregister: Vec::new(),
            ..everything
        },
        200,
    );
}

/// The validation is not vacuous: a real trace with one event moved out of place, with a
/// step the model does not have, or with a different outcome is refused at that event.
#[cfg(feature = "trace")]
#[test]
fn trace_divergences_are_reported() {
    use emm::harness::observe;
    use emm_model::conformance::{validate, Mismatch};
    use emm_proofs::{Event, Op, Role};
    let scenario = Scenario {
        invalidators: 1,
        notifiers: 1,
        registrations: 1,
        ..Scenario::default()
    };
    let execution = observe::<TakeAllLocks>(&scenario);
    let (model, initial) = conformance::model_of::<TakeAllLocks>(&scenario);
    assert!(validate(&model, &initial, &execution.trace).is_ok());

    // The VM's zap moved before its first step: refused at the new first VM event.
    let mut moved = execution.trace.clone();
    let zap = moved
        .iter()
        .position(|e| matches!(e.event, Event::Zap { .. }))
        .expect("the VM zaps");
    let entry = moved.remove(zap);
    let first_vm = moved
        .iter()
        .position(|e| e.actor.role == Role::Vm)
        .expect("the VM steps");
    moved.insert(first_vm, entry);
    let d = validate(&model, &initial, &moved).expect_err("an out-of-place zap is refused");
    assert_eq!(d.index, first_vm);
    assert_eq!(
        d.mismatch,
        Mismatch::Different(Event::Step(Op::RmapReadLock))
    );
    assert!(
        d.to_string()
            .contains("vm0's next step is `rmap lock (read)`"),
        "{d}"
    );
    eprintln!("{d}");

    // A step of another protocol: the drain's `emm_stopping = 1`, taken by the registrar.
    let mut foreign = execution.trace.clone();
    let reg = foreign
        .iter()
        .position(|e| e.actor.role == Role::Reg)
        .expect("the registrar steps");
    let mut step = foreign[reg];
    step.event = Event::Step(Op::GateStop);
    foreign.insert(reg, step);
    let d = validate(&model, &initial, &foreign).expect_err("a foreign step is refused");
    assert_eq!(d.index, reg);
    assert!(matches!(d.mismatch, Mismatch::Different(_)), "{d}");

    // A fault that read another frame than the page table held.
    let mut wrong = execution.trace.clone();
    let read = wrong
        .iter()
        .position(|e| matches!(e.event, Event::ReadPte { .. }))
        .expect("the driver reads the PTE");
    wrong[read].event = Event::ReadPte { frame: Some(7) };
    let d = validate(&model, &initial, &wrong).expect_err("a wrong read is refused");
    assert_eq!(d.index, read);
    assert!(d.to_string().contains("enabled steps:"), "{d}");
}
