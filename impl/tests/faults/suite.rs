// The fault suite, included once per protocol by `faults.rs` with `Protocol` in scope.

use emm::{AddressSpace, Notifier, Range, Registration, TornDown};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

const PAGE: Range = Range {
    start: 0x1000,
    end: 0x2000,
};

type Space = Arc<AddressSpace<Protocol>>;

/// Which callback panics (once), if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    Start,
    End,
    Young,
    Release,
}

/// Counts callbacks; panics in the chosen one the first time it runs.
struct Faulty {
    fault: Fault,
    armed: AtomicBool,
    /// Calls of the faulty callback to let through before the panic.
    skip: AtomicU32,
    open: AtomicI64,
    calls: AtomicU32,
    releases: AtomicU32,
}

impl Faulty {
    fn new(fault: Fault) -> Arc<Faulty> {
        Faulty::after(fault, 0)
    }

    fn after(fault: Fault, skip: u32) -> Arc<Faulty> {
        Arc::new(Faulty {
            fault,
            armed: AtomicBool::new(fault != Fault::None),
            skip: AtomicU32::new(skip),
            open: AtomicI64::new(0),
            calls: AtomicU32::new(0),
            releases: AtomicU32::new(0),
        })
    }

    fn maybe_panic(&self, here: Fault) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fault == here
            && self
                .skip
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
            && self.armed.swap(false, Ordering::SeqCst)
        {
            panic!("injected {here:?} fault");
        }
    }
}

impl Notifier for Faulty {
    fn invalidate_start(&self, _: Range) {
        self.maybe_panic(Fault::Start);
        self.open.fetch_add(1, Ordering::SeqCst);
    }
    fn invalidate_end(&self, _: Range) {
        self.maybe_panic(Fault::End);
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
    fn clear_young(&self, _: Range) -> bool {
        self.maybe_panic(Fault::Young);
        false
    }
    fn release(&self) {
        self.maybe_panic(Fault::Release);
        self.releases.fetch_add(1, Ordering::SeqCst);
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Three notifiers, the middle one faulty; the chain is `[after, faulty, before]` (each
/// registration goes first), so `after` is called before the faulty one and `before` after.
fn three(fault: Fault) -> (Space, [Arc<Faulty>; 3], Vec<Registration<Protocol>>) {
    let mm = AddressSpace::<Protocol>::new();
    let notifiers = [
        Faulty::new(Fault::None),
        Faulty::new(fault),
        Faulty::new(Fault::None),
    ];
    let registrations = notifiers
        .iter()
        .map(|n| mm.register(n.clone()).unwrap())
        .collect();
    (mm, notifiers, registrations)
}

/// The address space still works: an invalidation reaches every notifier, balanced; a new
/// registration and an unregistration go through.
fn still_works(mm: &Space, notifiers: &[Arc<Faulty>]) {
    mm.invalidate(PAGE, |_| ());
    for n in notifiers {
        assert_eq!(n.open.load(Ordering::SeqCst), 0);
    }
    let late = Faulty::new(Fault::None);
    let registration = mm.register(late.clone()).expect("registration still works");
    mm.invalidate(PAGE, |_| ());
    assert_eq!(late.calls.load(Ordering::SeqCst), 2);
    registration.unregister();
    assert_eq!(late.releases.load(Ordering::SeqCst), 1);
}

#[test]
fn panicking_invalidate_start_reaches_the_caller_and_leaves_nothing_open() {
    let (mm, [before, faulty, after], registrations) = three(Fault::Start);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| mm.invalidate(PAGE, |_| ())));
    assert!(panic_message(caught.unwrap_err()).contains("injected Start fault"));
    // `after` got its start before the faulty one panicked, and its end on the way out;
    // `before` was never reached.
    assert_eq!(after.calls.load(Ordering::SeqCst), 2);
    assert_eq!(after.open.load(Ordering::SeqCst), 0);
    assert_eq!(before.calls.load(Ordering::SeqCst), 0);
    still_works(&mm, &[before.clone(), faulty.clone(), after.clone()]);
    drop(registrations);
    mm.teardown();
}

#[test]
fn panicking_invalidate_end_still_ends_the_others() {
    let (mm, [before, faulty, after], registrations) = three(Fault::End);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| mm.invalidate(PAGE, |_| ())));
    assert!(panic_message(caught.unwrap_err()).contains("injected End fault"));
    for n in [&before, &after] {
        assert_eq!(n.open.load(Ordering::SeqCst), 0, "the others got their end");
    }
    // The faulty notifier's end never completed: its own count stays open, which is its
    // own business; the chain is not affected.
    assert_eq!(faulty.open.load(Ordering::SeqCst), 1);
    faulty.open.store(0, Ordering::SeqCst);
    still_works(&mm, &[before, faulty, after]);
    drop(registrations);
}

#[test]
fn panicking_clear_young_still_asks_the_others() {
    let (mm, [before, _faulty, after], _registrations) = three(Fault::Young);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| mm.clear_young(PAGE)));
    assert!(caught.is_err());
    assert_eq!(after.calls.load(Ordering::SeqCst), 1);
    assert_eq!(before.calls.load(Ordering::SeqCst), 1);
    assert!(!mm.clear_young(PAGE));
}

#[test]
fn panicking_release_in_unregister_still_unlinks() {
    let (mm, [before, faulty, after], mut registrations) = three(Fault::Release);
    let middle = registrations.remove(1);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| middle.unregister()));
    assert!(panic_message(caught.unwrap_err()).contains("injected Release fault"));
    let calls = faulty.calls.load(Ordering::SeqCst);
    mm.invalidate(PAGE, |_| ());
    assert_eq!(
        faulty.calls.load(Ordering::SeqCst),
        calls,
        "unlinked in spite of the panic"
    );
    still_works(&mm, &[before, after]);
    drop(registrations);
}

#[test]
fn panicking_release_in_teardown_still_tears_down() {
    let (mm, [before, _faulty, after], registrations) = three(Fault::Release);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| mm.teardown()));
    assert!(panic_message(caught.unwrap_err()).contains("injected Release fault"));
    assert_eq!(before.releases.load(Ordering::SeqCst), 1);
    assert_eq!(after.releases.load(Ordering::SeqCst), 1);
    // Everything is unlinked, later registrations are refused, handles still drop cleanly.
    mm.invalidate(PAGE, |_| ());
    assert_eq!(before.calls.load(Ordering::SeqCst), 1);
    assert_eq!(mm.register(Faulty::new(Fault::None)).unwrap_err(), TornDown);
    drop(registrations);
    assert_eq!(
        before.releases.load(Ordering::SeqCst),
        1,
        "no second release"
    );
}

/// A notifier whose first `invalidate_start` unregisters itself (or registers another
/// notifier).
struct Reentrant {
    mm: Space,
    own: Mutex<Option<Registration<Protocol>>>,
    register_instead: bool,
    armed: AtomicBool,
}

impl Notifier for Reentrant {
    fn invalidate_start(&self, _: Range) {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        if self.register_instead {
            let _ = self.mm.register(Faulty::new(Fault::None));
        } else {
            let own = self.own.lock().unwrap().take();
            if let Some(own) = own {
                own.unregister();
            }
        }
    }
}

#[test]
fn writers_from_inside_a_callback_are_refused_not_deadlocked() {
    for register_instead in [false, true] {
        let mm = AddressSpace::<Protocol>::new();
        let other = Faulty::new(Fault::None);
        let _other = mm.register(other.clone()).unwrap();
        let reentrant = Arc::new(Reentrant {
            mm: mm.clone(),
            own: Mutex::new(None),
            register_instead,
            armed: AtomicBool::new(true),
        });
        let own = mm.register(reentrant.clone()).unwrap();
        *reentrant.own.lock().unwrap() = Some(own);
        let (done, finished) = mpsc::channel();
        let worker = {
            let mm = mm.clone();
            thread::spawn(move || {
                let caught = panic::catch_unwind(AssertUnwindSafe(|| mm.invalidate(PAGE, |_| ())));
                done.send(caught.map_err(panic_message)).unwrap();
            })
        };
        let result = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("refused, not deadlocked");
        let message = result.expect_err("the writer panics");
        let operation = if register_instead {
            "register"
        } else {
            "unregister"
        };
        assert!(
            message.contains(&format!("emm: {operation} called from inside a walk")),
            "{message}"
        );
        worker.join().unwrap();
        // The other notifier was not left with an open invalidation.
        assert_eq!(other.open.load(Ordering::SeqCst), 0);
        still_works(&mm, &[other]);
    }
    // The same refusal on a thread that holds an invalidation open.
    let mm = AddressSpace::<Protocol>::new();
    let registration = mm.register(Faulty::new(Fault::None)).unwrap();
    let open = mm.invalidate_range_start(PAGE);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| registration.unregister()));
    assert!(panic_message(caught.unwrap_err()).contains("called from inside a walk"));
    drop(open);
}

/// Blocks inside `invalidate_start` until told to go on.
struct Blocking {
    entered: Mutex<Option<mpsc::Sender<()>>>,
    go: Mutex<mpsc::Receiver<()>>,
    calls: AtomicU32,
}

impl Notifier for Blocking {
    fn invalidate_start(&self, _: Range) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(entered) = self.entered.lock().unwrap().take() {
            entered.send(()).unwrap();
            self.go.lock().unwrap().recv().unwrap();
        }
    }
    fn invalidate_end(&self, _: Range) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_a_handle_during_an_invalidation_waits_for_it() {
    let mm = AddressSpace::<Protocol>::new();
    let (entered_tx, entered) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let blocking = Arc::new(Blocking {
        entered: Mutex::new(Some(entered_tx)),
        go: Mutex::new(go_rx),
        calls: AtomicU32::new(0),
    });
    let handle = mm.register(blocking.clone()).unwrap();
    let invalidator = {
        let mm = mm.clone();
        thread::spawn(move || mm.invalidate(PAGE, |_| ()))
    };
    entered.recv().unwrap();
    let (dropped_tx, dropped) = mpsc::channel();
    let dropper = thread::spawn(move || {
        drop(handle);
        dropped_tx.send(()).unwrap();
    });
    assert!(
        dropped.recv_timeout(Duration::from_millis(100)).is_err(),
        "the drop waits while a callback runs"
    );
    go.send(()).unwrap();
    dropped
        .recv_timeout(Duration::from_secs(10))
        .expect("the drop returns once the invalidation ended");
    invalidator.join().unwrap();
    dropper.join().unwrap();
    // The in-flight invalidation finished with the notifier (start and end), and nothing
    // reached it after the drop returned.
    assert_eq!(blocking.calls.load(Ordering::SeqCst), 2);
    mm.invalidate(PAGE, |_| ());
    assert_eq!(blocking.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn teardown_with_pending_registrations_and_live_handles() {
    for _ in 0..200 {
        let mm = AddressSpace::<Protocol>::new();
        let early = Faulty::new(Fault::None);
        let early_handle = mm.register(early.clone()).unwrap();
        let registrars: Vec<_> = (0..3)
            .map(|_| {
                let mm = mm.clone();
                thread::spawn(move || {
                    let n = Faulty::new(Fault::None);
                    let handle = mm.register(n.clone());
                    (n, handle)
                })
            })
            .collect();
        mm.teardown();
        for registrar in registrars {
            let (n, handle) = registrar.join().unwrap();
            match handle {
                // Registered before the teardown: released once by it, never again.
                Ok(handle) => {
                    assert_eq!(n.releases.load(Ordering::SeqCst), 1);
                    drop(handle);
                    assert_eq!(n.releases.load(Ordering::SeqCst), 1);
                }
                // Refused: never called.
                Err(TornDown) => assert_eq!(n.calls.load(Ordering::SeqCst), 0),
            }
        }
        assert_eq!(early.releases.load(Ordering::SeqCst), 1);
        early_handle.unregister();
        assert_eq!(early.releases.load(Ordering::SeqCst), 1);
        mm.invalidate(PAGE, |_| ());
        assert_eq!(early.calls.load(Ordering::SeqCst), 1);
    }
}

/// A nested invalidation whose `invalidate_start` panics: its started notifiers get their end
/// before the outer invalidation's end walk, which the guard runs while the panic unwinds, so
/// every notifier ends balanced.
#[test]
fn panicking_nested_invalidate_start_is_rolled_back_before_the_outer_end() {
    let mm = AddressSpace::<Protocol>::new();
    let before = Faulty::new(Fault::None);
    let faulty = Faulty::after(Fault::Start, 1);
    let after = Faulty::new(Fault::None);
    let _handles: Vec<_> = [&before, &faulty, &after]
        .iter()
        .map(|n| mm.register((*n).clone()).unwrap())
        .collect();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        mm.invalidate(PAGE, |outer| {
            let _inner = outer.nest(PAGE);
        })
    }));
    assert!(panic_message(caught.unwrap_err()).contains("injected Start fault"));
    for n in [&before, &after] {
        assert_eq!(n.open.load(Ordering::SeqCst), 0);
    }
    // The faulty notifier got the outer start and its end; its nested start panicked.
    assert_eq!(faulty.open.load(Ordering::SeqCst), 0);
    still_works(&mm, &[before, faulty, after]);
}
