//! The EMM list as the 2008 patches read, and its two registration protocols.

use crate::notifier::{Notifier, Range};
use crate::space::{Chain, RegistrationId, TornDown, Window};
use crate::sync::{Condvar, Mutex};
use std::fmt;
use std::sync::Arc;

/// One pointer of the list (`mm->emm_notifier` or `e->next`): each [`load`](AtomicLink::load)
/// and [`store`](AtomicLink::store) is one indivisible step, as an aligned pointer access is.
pub struct AtomicLink(Mutex<Option<Arc<Node>>>);

impl AtomicLink {
    fn new(node: Option<Arc<Node>>) -> AtomicLink {
        AtomicLink(Mutex::new(node))
    }

    /// `rcu_dereference(p)`: reads the pointer.
    pub fn load(&self) -> Option<Arc<Node>> {
        self.0.lock().clone()
    }

    /// A plain store (or `rcu_assign_pointer`: the lock orders the node's initialisation before
    /// it, which is what the publish barrier does).
    pub fn store(&self, node: Option<Arc<Node>>) {
        *self.0.lock() = node;
    }
}

impl fmt::Debug for AtomicLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0.lock() {
            Some(node) => write!(f, "-> {:?}", node.id),
            None => f.write_str("-> NULL"),
        }
    }
}

/// `emm_stop`/`emm_start` state of one notifier. The seed leaves it to each driver ("Notifier
/// must block on invalidate_start and emm_referenced from this point on"); here the list does
/// it for every notifier, so drivers keep the one [`Notifier`] API.
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    stopped: bool,
    /// `invalidate_start`s let through and not yet matched by an `invalidate_end`. Goes
    /// negative when a node gets an end whose start it missed: the seed's bug, not hidden.
    open: i64,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            state: Mutex::new(GateState::default()),
            changed: Condvar::new(),
        }
    }
}

impl Gate {
    /// Before `invalidate_start` or `referenced`: block while stopped.
    fn enter(&self, counts_open: bool) {
        let mut state = self
            .changed
            .wait_while(self.state.lock(), |state| state.stopped);
        if counts_open {
            state.open += 1;
        }
    }

    /// After `invalidate_end`.
    fn end(&self) {
        self.state.lock().open -= 1;
        self.changed.notify_all();
    }

    /// `emm_stop`: block new starts, and wait for the open ones to end.
    fn stop(&self) {
        let mut state = self.state.lock();
        state.stopped = true;
        drop(self.changed.wait_while(state, |state| state.open > 0));
    }

    /// `emm_start`: resume.
    fn start(&self) {
        self.state.lock().stopped = false;
        self.changed.notify_all();
    }
}

/// A node of the list: `struct emm_notifier`.
pub struct Node {
    id: RegistrationId,
    notifier: Arc<dyn Notifier>,
    next: AtomicLink,
    gate: Gate,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// The callbacks that `emm_notify()` delivers.
#[derive(Clone, Copy)]
enum Op {
    InvalidateStart(Range),
    InvalidateEnd(Range),
    Referenced(Range),
    Release,
    Stop,
    Start,
}

/// What register and unregister change under `mmap_sem` for write.
struct Writer {
    next_id: u64,
    torn_down: bool,
}

/// The EMM list shared by both historical protocols; also their read side (walks take no
/// lock).
pub struct List {
    head: AtomicLink,
    /// `mmap_sem`, which the callers of register and unregister hold for write.
    mmap_sem: Mutex<Writer>,
    /// Whether register and unregister bracket their change with `emm_stop`/`emm_start`.
    stop_start: bool,
}

impl fmt::Debug for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("List")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl List {
    fn new(stop_start: bool) -> List {
        List {
            head: AtomicLink::new(None),
            mmap_sem: Mutex::new(Writer {
                next_id: 0,
                torn_down: false,
            }),
            stop_start,
        }
    }

    /// `emm_notify()`: `for (e = rcu_dereference(mm->emm_notifier); e; e = rcu_dereference(e->next))`.
    /// Returns whether any `referenced` callback answered `true`.
    fn notify(&self, op: Op) -> bool {
        let mut young = false;
        let mut node = self.head.load();
        while let Some(e) = node {
            young |= Self::call(&e, op);
            node = e.next.load();
        }
        young
    }

    fn call(e: &Node, op: Op) -> bool {
        match op {
            Op::InvalidateStart(range) => {
                e.gate.enter(true);
                e.notifier.invalidate_start(range);
            }
            Op::InvalidateEnd(range) => {
                e.notifier.invalidate_end(range);
                e.gate.end();
            }
            Op::Referenced(range) => {
                e.gate.enter(false);
                return e.notifier.clear_young(range);
            }
            Op::Release => e.notifier.release(),
            Op::Stop => {
                // Counted on entry, as the model counts the stop before it waits.
                e.notifier.emm_stop();
                e.gate.stop();
            }
            Op::Start => {
                e.notifier.emm_start();
                e.gate.start();
            }
        }
        false
    }

    fn register(&self, notifier: Arc<dyn Notifier>) -> Result<RegistrationId, TornDown> {
        let mut mmap_sem = self.mmap_sem.lock();
        if mmap_sem.torn_down {
            return Err(TornDown);
        }
        let id = RegistrationId(mmap_sem.next_id);
        mmap_sem.next_id += 1;
        if self.stop_start {
            // "Bring all other notifiers into a quiescent state".
            self.notify(Op::Stop);
        }
        // e->next = mm->emm_notifier: `head` only changes under mmap_sem, which we hold.
        let e = Arc::new(Node {
            id,
            notifier,
            next: AtomicLink::new(self.head.load()),
            gate: Gate::default(),
        });
        // rcu_assign_pointer(mm->emm_notifier, e). A walk that loaded `head` before this
        // store never reaches `e`: the lost invalidate_start.
        self.head.store(Some(e));
        if self.stop_start {
            // "Continue notifiers": the walk now includes `e`, which was never stopped.
            self.notify(Op::Start);
        }
        Ok(id)
    }

    fn unregister(&self, id: RegistrationId) {
        let _mmap_sem = self.mmap_sem.lock();
        if self.stop_start {
            self.notify(Op::Stop);
        }
        // The seed's unlink, with plain stores. Its loads read links that only change under
        // mmap_sem, which we hold.
        let mut p = self.head.load();
        let e = match &p {
            Some(first) if first.id == id => {
                self.head.store(first.next.load());
                p
            }
            _ => loop {
                let Some(prev) = p else {
                    // Not linked: teardown never unlinks here, so only a second unregister
                    // of the same id gets here, and the API hands out one handle per id.
                    return;
                };
                let next = prev.next.load();
                if let Some(e) = next.as_ref().filter(|e| e.id == id) {
                    prev.next.store(e.next.load());
                    break next;
                }
                p = next;
            },
        };
        let Some(e) = e else { return };
        if self.stop_start {
            // e->next = mm->emm_notifier: a walk standing on `e` goes back to the head.
            e.next.store(self.head.load());
            self.notify(Op::Start);
            // e->callback(e, mm, emm_release, 0, TASK_SIZE).
            e.notifier.release();
        }
        // No grace period: the caller may free `e` now, while a walk may still hold it.
    }

    fn teardown(&self) {
        self.mmap_sem.lock().torn_down = true;
        // emm_notifier_release(): every notifier gets emm_release; the pages are freed after.
        self.notify(Op::Release);
    }
}

impl Window for &List {
    fn invalidate_start(&self, range: Range) {
        self.notify(Op::InvalidateStart(range));
    }

    fn invalidate_end(&self, range: Range) {
        self.notify(Op::InvalidateEnd(range));
    }

    fn clear_young(&self, range: Range) -> bool {
        self.notify(Op::Referenced(range))
    }
}

macro_rules! historical_chain {
    ($(#[$doc:meta])* $name:ident, $variant:literal, stop_start: $stop_start:literal) => {
        $(#[$doc])*
        pub struct $name(List);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("head", &self.0.head)
                    .finish_non_exhaustive()
            }
        }

        impl Chain for $name {
            const VARIANT: &'static str = $variant;

            // Walks take no read side: nothing in these protocols waits for one.
            type Window<'a> = &'a List;

            fn new() -> Self {
                $name(List::new($stop_start))
            }

            fn register(
                &self,
                notifier: Arc<dyn Notifier>,
            ) -> Result<RegistrationId, TornDown> {
                self.0.register(notifier)
            }

            fn unregister(&self, id: RegistrationId) {
                self.0.unregister(id)
            }

            fn window(&self) -> &List {
                &self.0
            }

            fn teardown(&self) {
                self.0.teardown()
            }
        }
    };
}

historical_chain!(
    /// **Historical, broken: do not use.** EMM as first posted (`rcu-publish`): register
    /// publishes at the head, unregister unlinks with plain stores and waits for nothing, and
    /// sends no `release` (the owner stops its device before it unregisters).
    RcuPublish,
    "rcu-publish",
    stop_start: false
);

historical_chain!(
    /// **Historical, broken: do not use.** The seed patch (`emm-stop-start`): register and
    /// unregister stop every notifier, change the list, and start every notifier again;
    /// unregister then sends the notifier `release`.
    EmmStopStart,
    "emm-stop-start",
    stop_start: true
);
