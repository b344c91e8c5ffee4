//! The EMM list as the 2008 patches read, and its two registration protocols.
//!
//! The list is `mm->emm_notifier -> e -> e->next -> ... -> NULL`, each pointer an
//! [`AtomicLink`]. Walkers follow it with no lock: `rcu_dereference()`, an `Acquire` load.
//! Register and unregister change it under `mmap_sem` for write: register initialises the new
//! node (`e->next = mm->emm_notifier`) and publishes it with `rcu_assign_pointer()`, a
//! `Release` store; unregister unlinks with the seed's pointer stores. Nodes are never freed
//! while the list lives (see [`Writer::nodes`]): the 2008 protocols have no grace period, so
//! nothing here could tell when a walker is done with one.

// `unsafe` only in `AtomicLink::load`, whose block says why it is sound; the loom suite
// exercises it in every historical scenario.
#![allow(unsafe_code)]

use crate::notifier::{Notifier, Range};
use crate::space::{Chain, RegistrationId, TornDown, Window};
use crate::sync::{AtomicPtr, Condvar, Mutex, MutexGuard, Ordering};
use emm_proofs::{Callback, Variant};
#[cfg(any(loom, feature = "trace"))]
use emm_proofs::{Event, Op};
use std::fmt;
use std::ptr;
use std::sync::Arc;

/// One pointer of the list (`mm->emm_notifier` or `e->next`): each load and store is one
/// indivisible step, as an aligned pointer access is. Non-null values are nodes the list owns
/// (`Writer::nodes`).
pub(crate) struct AtomicLink(AtomicPtr<Node>);

impl AtomicLink {
    fn new(node: Option<&Node>) -> AtomicLink {
        AtomicLink(AtomicPtr::new(as_ptr(node)))
    }

    /// `rcu_dereference(p)`. Acquire (Rust has no consume; the kernel's is the address
    /// dependency): pairs with the release store that made this value the link's, so the
    /// node's initialisation (its `next`, its notifier) happens before this walker reads it.
    fn load(&self) -> Option<&Node> {
        let node = self.0.load(Ordering::Acquire);
        // SAFETY: a non-null value of a link is `Arc::as_ptr` of a node that `Writer::nodes`
        // holds until the list is dropped, and the list outlives every borrow of its links
        // (the head's, or a node's that was itself loaded from the list), so the node outlives
        // the returned reference. It is initialised for this thread: a node first becomes
        // reachable through the release publish, after it was built, and the later stores
        // link only nodes already reachable (loom checks this pairing: with a relaxed publish
        // it reports the walker's read of the node's `next` as a causality violation).
        unsafe { node.as_ref() }
    }

    /// Stores `node` with `order`: `Release` for the publish (`rcu_assign_pointer()`),
    /// `Relaxed` for the seed's plain stores (see [`List::store`]).
    fn store(&self, node: Option<&Node>, order: Ordering) {
        self.0.store(as_ptr(node), order);
    }
}

/// The pointer a link holds for `node`.
fn as_ptr(node: Option<&Node>) -> *mut Node {
    node.map_or(ptr::null_mut(), |n| ptr::from_ref(n).cast_mut())
}

impl fmt::Debug for AtomicLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.load() {
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
    /// Before `invalidate_start` or `referenced`: wait while stopped. The callback then runs
    /// under the returned guard, so that letting it through and its effect on the driver are
    /// one step, as the model's call is: a concurrent `emm_stop` sees either both or neither.
    fn running(&self) -> MutexGuard<'_, GateState> {
        self.changed
            .wait_while(self.state.lock(), |state| state.stopped)
    }
}

/// A node of the list: `struct emm_notifier`.
pub(crate) struct Node {
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
enum Delivery {
    InvalidateStart(Range),
    InvalidateEnd(Range),
    Referenced(Range),
    Release,
    Stop,
    Start,
}

impl Delivery {
    fn callback(self) -> Callback {
        match self {
            Delivery::InvalidateStart(_) => Callback::InvalidateStart,
            Delivery::InvalidateEnd(_) => Callback::InvalidateEnd,
            Delivery::Referenced(_) => Callback::ClearYoung,
            Delivery::Release => Callback::Release,
            Delivery::Stop => Callback::Stop,
            Delivery::Start => Callback::Start,
        }
    }
}

/// What register and unregister change under `mmap_sem` for write.
struct Writer {
    next_id: u64,
    torn_down: bool,
    /// Every node ever registered, owned here until the list is dropped: the links hold raw
    /// pointers to them. The kernel freed an unregistered node at once, while a walk could
    /// still hold it (the seed has no grace period); here the walk reads valid memory and the
    /// harness reports the call on an unregistered notifier instead.
    nodes: Vec<Arc<Node>>,
}

/// The EMM list shared by both historical protocols. Walks take no lock of EMM's; an
/// invalidation or aging walk runs under the page's `anon_vma` lock, which the VM's rmap walk
/// takes (a spinlock in 2008) and EMM's register never does.
pub(crate) struct List {
    head: AtomicLink,
    /// `mmap_sem`, which the callers of register and unregister hold for write.
    mmap_sem: Mutex<Writer>,
    /// The page's `anon_vma->lock`, as `try_to_unmap_anon()` and `page_referenced_anon()`
    /// hold it around the notifier calls.
    anon_vma: Mutex<()>,
    /// Whether register and unregister bracket their change with `emm_stop`/`emm_start`.
    stop_start: bool,
    /// The walker of EMM V2: `if (x) return x;`, stop at the first nonzero callback (before
    /// the accumulating fixup of 2 Apr 2008, 12:03).
    early_return: bool,
    /// The ordering of the publish store, `rcu_assign_pointer()`: `Release`, weakened only by
    /// loom's test that it is load-bearing.
    publish: Ordering,
    #[cfg(any(loom, feature = "trace"))]
    trace: crate::trace::Hook,
    /// On real threads, makes a traced access of a link and its record one step (see
    /// [`List::one_step`]).
    #[cfg(all(feature = "trace", not(any(loom, feature = "shuttle"))))]
    one_step: std::sync::Mutex<()>,
}

impl fmt::Debug for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("List")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl List {
    fn new(stop_start: bool, publish: Ordering) -> List {
        List {
            head: AtomicLink::new(None),
            mmap_sem: Mutex::new(Writer {
                next_id: 0,
                torn_down: false,
                nodes: Vec::new(),
            }),
            anon_vma: Mutex::new(()),
            stop_start,
            // The seed sits on the accumulating walker; V2 (RcuPublish) returns early.
            early_return: !stop_start,
            publish,
            #[cfg(any(loom, feature = "trace"))]
            trace: None,
            #[cfg(all(feature = "trace", not(any(loom, feature = "shuttle"))))]
            one_step: std::sync::Mutex::new(()),
        }
    }

    /// Held across a traced access of a link and its record, so that a trace lists accesses
    /// in the order they took effect. Only real threads need it: loom and shuttle run a thread
    /// from one of their operations to the next without preempting it, so the record right
    /// after an access is already in order, and a `std` lock held across their next operation
    /// would stop the only thread that runs. The lock also orders the accesses it covers,
    /// which is why the orderings of this list are checked under loom, not on real threads.
    #[cfg(any(loom, feature = "trace"))]
    fn one_step(&self) -> impl Sized + '_ {
        #[cfg(not(any(loom, feature = "shuttle")))]
        return Some(self.one_step.lock().unwrap_or_else(|p| p.into_inner()));
        #[cfg(any(loom, feature = "shuttle"))]
        None::<std::sync::MutexGuard<'_, ()>>
    }

    /// Loads `link` (the head, or a node's `next`), recording the walk's load in the load.
    #[cfg_attr(not(any(loom, feature = "trace")), allow(unused_variables))]
    fn load<'a>(&self, link: &'a AtomicLink, head: bool, callback: Callback) -> Option<&'a Node> {
        #[cfg(any(loom, feature = "trace"))]
        if let Some(t) = &self.trace {
            t.point();
            let _one_step = self.one_step();
            let loaded = link.load();
            let node = loaded.map(|e| t.node(e.id));
            t.record(&[if head {
                Event::LoadHead { callback, node }
            } else {
                Event::LoadNext { callback, node }
            }]);
            return loaded;
        }
        link.load()
    }

    /// Stores `node` into `link`, recording `step` in the store.
    #[cfg_attr(not(any(loom, feature = "trace")), allow(unused_variables))]
    fn store(&self, link: &AtomicLink, node: Option<&Node>, step: StoreStep) {
        let order = match step {
            StoreStep::Publish => self.publish,
            // The seed's unlink and its `e->next = mm->emm_notifier` are plain stores: Relaxed,
            // as transcribed. Each points to a node already linked, built before this
            // unregister took mmap_sem. A walker that reads such a pointer without being
            // ordered after that node's initialisation (through the publish it loaded, or a
            // gate) would read the node unordered, which loom reports as a causality
            // violation; the historical loom scenarios reach none (their unregisters unlink
            // nodes built before the threads start).
            // (LinkNext is the node's initialisation, never a store of this function.)
            StoreStep::Unlink | StoreStep::NextToHead | StoreStep::LinkNext => Ordering::Relaxed,
        };
        #[cfg(any(loom, feature = "trace"))]
        if let Some(t) = &self.trace {
            t.point();
            let _one_step = self.one_step();
            link.store(node, order);
            t.record(&[Event::Step(step.op())]);
            return;
        }
        link.store(node, order)
    }

    /// `emm_notify()`: `for (e = rcu_dereference(mm->emm_notifier); e; e = rcu_dereference(e->next))`.
    /// Returns whether any `referenced` callback answered `true`; V2's walker returns at the
    /// first that does, and the notifiers after it get nothing.
    fn notify(&self, op: Delivery) -> bool {
        let callback = op.callback();
        let mut young = false;
        let mut node = self.load(&self.head, true, callback);
        while let Some(e) = node {
            traced!(self.trace, |t| t.point());
            let x = self.call(e, op);
            young |= x;
            if x && self.early_return {
                return true;
            }
            node = self.load(&e.next, false, callback);
        }
        young
    }

    /// The read side of an invalidation or an aging walk: the page's `anon_vma` lock.
    fn window(&self) -> ListWindow<'_> {
        traced!(self.trace, |t| t.point());
        let anon_vma = self.anon_vma.lock();
        traced!(self.trace, |t| t.record(&[Event::Step(Op::RmapReadLock)]));
        ListWindow {
            list: self,
            _anon_vma: anon_vma,
        }
    }

    /// Delivers `op` to `e`. Each callback runs under its node's gate lock, so that the gate's
    /// state and the callback's effect change in one step.
    fn call(&self, e: &Node, op: Delivery) -> bool {
        match op {
            Delivery::InvalidateStart(range) => {
                let mut gate = e.gate.running();
                gate.open += 1;
                e.notifier.invalidate_start(range);
            }
            Delivery::InvalidateEnd(range) => {
                let mut gate = e.gate.state.lock();
                e.notifier.invalidate_end(range);
                gate.open -= 1;
                e.gate.changed.notify_all();
            }
            Delivery::Referenced(range) => {
                let _gate = e.gate.running();
                return e.notifier.clear_young(range);
            }
            Delivery::Release => e.notifier.release(),
            Delivery::Stop => {
                // emm_stop: block new starts (counted on entry, as the model counts the stop
                // before it waits) ...
                {
                    let mut gate = e.gate.state.lock();
                    gate.stopped = true;
                    e.notifier.emm_stop();
                }
                traced!(self.trace, |t| t.point());
                // ... then wait for the open ones to end.
                let gate = e
                    .gate
                    .changed
                    .wait_while(e.gate.state.lock(), |g| g.open > 0);
                traced!(self.trace, |t| t.record(&[Event::StopWaited {
                    notifier: t.node(e.id)
                }]));
                drop(gate);
            }
            Delivery::Start => {
                let mut gate = e.gate.state.lock();
                e.notifier.emm_start();
                gate.stopped = false;
                e.gate.changed.notify_all();
            }
        }
        false
    }

    fn register(&self, notifier: Arc<dyn Notifier>) -> Result<RegistrationId, TornDown> {
        traced!(self.trace, |t| t.point());
        let mut mmap_sem = self.mmap_sem.lock();
        if mmap_sem.torn_down {
            return Err(TornDown);
        }
        let id = RegistrationId(mmap_sem.next_id);
        mmap_sem.next_id += 1;
        traced!(self.trace, |t| {
            t.registering(id);
            t.record(&[Event::Step(Op::MmapSemLock)]);
        });
        if self.stop_start {
            // "Bring all other notifiers into a quiescent state".
            self.notify(Delivery::Stop);
        }
        // e->next = mm->emm_notifier: the node's initialisation, private until the publish
        // below. `head` only changes under mmap_sem, which we hold.
        let next = AtomicLink::new(self.load_for(StoreStep::LinkNext));
        mmap_sem.nodes.push(Arc::new(Node {
            id,
            notifier,
            next,
            gate: Gate::default(),
        }));
        let e = mmap_sem.nodes.last().map(|e| &**e);
        // rcu_assign_pointer(mm->emm_notifier, e): Release, so a walker whose acquire load
        // reads `e` sees the initialisation above. A walk that loaded `head` before this
        // store never reaches `e`: the lost invalidate_start.
        self.store(&self.head, e, StoreStep::Publish);
        if self.stop_start {
            // "Continue notifiers": the walk now includes `e`, which was never stopped.
            self.notify(Delivery::Start);
        }
        traced!(self.trace, |t| {
            t.point();
            t.record(&[Event::Step(Op::MmapSemUnlock)]);
        });
        drop(mmap_sem);
        Ok(id)
    }

    /// Loads `head` for the store `step` (`e->next = head`), recording the step in the load:
    /// `head` only changes under mmap_sem, which the caller holds, so the load and the store
    /// into the private (or stopped) node are one step.
    fn load_for(&self, step: StoreStep) -> Option<&Node> {
        #[cfg(any(loom, feature = "trace"))]
        if let Some(t) = &self.trace {
            t.point();
            let _one_step = self.one_step();
            let first = self.head.load();
            t.record(&[Event::Step(step.op())]);
            return first;
        }
        let _ = step;
        self.head.load()
    }

    fn unregister(&self, id: RegistrationId) {
        if !self.stop_start {
            // EMM V2 has no unregister: the notifier stays linked until exit_mmap's
            // emm_release, as its XPMEM driver expected ("the unregister will be done
            // automatically by emm_notifier_release()", <20080401205637.474020250@sgi.com>).
            return;
        }
        traced!(self.trace, |t| t.point());
        let mmap_sem = self.mmap_sem.lock();
        traced!(self.trace, |t| t.record(&[Event::Step(Op::MmapSemLock)]));
        if self.stop_start {
            self.notify(Delivery::Stop);
        }
        // The seed's unlink, with plain stores. Its loads read links that only change under
        // mmap_sem, which we hold.
        let mut p = self.head.load();
        let e = match p {
            Some(first) if first.id == id => {
                self.store(&self.head, first.next.load(), StoreStep::Unlink);
                first
            }
            _ => loop {
                let Some(prev) = p else {
                    // Not linked: teardown never unlinks here, so only a second unregister
                    // of the same id gets here, and the API hands out one handle per id.
                    return;
                };
                let next = prev.next.load();
                if let Some(e) = next.filter(|e| e.id == id) {
                    self.store(&prev.next, e.next.load(), StoreStep::Unlink);
                    break e;
                }
                p = next;
            },
        };
        if self.stop_start {
            // e->next = mm->emm_notifier: a walk standing on `e` goes back to the head.
            let first = self.head.load();
            self.store(&e.next, first, StoreStep::NextToHead);
            self.notify(Delivery::Start);
            // e->callback(e, mm, emm_release, 0, TASK_SIZE).
            traced!(self.trace, |t| t.point());
            e.notifier.release();
        }
        traced!(self.trace, |t| {
            t.point();
            t.record(&[Event::Step(Op::MmapSemUnlock)]);
        });
        drop(mmap_sem);
        // No grace period: the caller may free `e` now, while a walk may still hold it.
    }

    fn teardown(&self) {
        self.mmap_sem.lock().torn_down = true;
        // emm_notifier_release(): every notifier gets emm_release; the pages are freed after.
        self.notify(Delivery::Release);
    }
}

/// The stores of register and unregister that are steps of the model.
#[derive(Clone, Copy)]
enum StoreStep {
    LinkNext,
    Publish,
    Unlink,
    NextToHead,
}

#[cfg(any(loom, feature = "trace"))]
impl StoreStep {
    fn op(self) -> Op {
        match self {
            StoreStep::LinkNext => Op::LinkNext,
            StoreStep::Publish => Op::Publish,
            StoreStep::Unlink => Op::Unlink,
            StoreStep::NextToHead => Op::NextToHead,
        }
    }
}

/// An open read side of the EMM list: the walks of one invalidation or aging pass, under the
/// page's `anon_vma` lock.
pub struct ListWindow<'a> {
    list: &'a List,
    _anon_vma: MutexGuard<'a, ()>,
}

impl fmt::Debug for ListWindow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListWindow").finish_non_exhaustive()
    }
}

impl Window for ListWindow<'_> {
    fn invalidate_start(&self, range: Range) {
        self.list.notify(Delivery::InvalidateStart(range));
    }

    fn invalidate_end(&self, range: Range) {
        self.list.notify(Delivery::InvalidateEnd(range));
    }

    fn clear_young(&self, range: Range) -> bool {
        self.list.notify(Delivery::Referenced(range))
    }
}

impl Drop for ListWindow<'_> {
    fn drop(&mut self) {
        // Recorded while the lock is still held: the guard drops after this body.
        traced!(self.list.trace, |t| {
            t.point();
            t.record(&[Event::Step(Op::RmapReadUnlock)]);
        });
    }
}

macro_rules! historical_chain {
    ($(#[$doc:meta])* $name:ident, $variant:expr, stop_start: $stop_start:literal) => {
        historical_chain!($(#[$doc])* $name, $variant, stop_start: $stop_start, publish: Release);
    };
    ($(#[$doc:meta])* $name:ident, $variant:expr, stop_start: $stop_start:literal, publish: $publish:ident) => {
        $(#[$doc])*
        pub struct $name(List);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("head", &self.0.head)
                    .finish_non_exhaustive()
            }
        }

        impl crate::space::sealed::Sealed for $name {}

        impl Chain for $name {
            const VARIANT: Variant = $variant;

            // Walks take no read side of EMM's: nothing in these protocols waits for one.
            type Window<'a> = ListWindow<'a>;

            fn new() -> Self {
                $name(List::new($stop_start, Ordering::$publish))
            }

            #[cfg(any(loom, feature = "trace"))]
            fn traced(tracer: Arc<dyn crate::trace::Tracer>) -> Self {
                $name(List {
                    trace: Some(tracer),
                    ..List::new($stop_start, Ordering::$publish)
                })
            }

            // Walks load the links with acquire loads and no lock of the writer's.
            const WEAK_LOADS: bool = true;

            const RELEASES_ON_UNREGISTER: bool = $stop_start;

            const STOPS_NOTIFIERS: bool = $stop_start;

            fn register(
                &self,
                notifier: Arc<dyn Notifier>,
            ) -> Result<RegistrationId, TornDown> {
                self.0.register(notifier)
            }

            fn unregister(&self, id: RegistrationId) {
                self.0.unregister(id)
            }

            fn window(&self) -> ListWindow<'_> {
                self.0.window()
            }

            fn teardown(&self) {
                self.0.teardown()
            }
        }
    };
}

historical_chain!(
    /// **Historical, broken: do not use.** EMM V2 (`emm@v2`, once `rcu-publish`): register
    /// publishes at the head with `rcu_assign_pointer`, walks return at the first nonzero
    /// callback, and there is no unregister (a dropped registration stays linked until
    /// teardown).
    RcuPublish,
    Variant::EmmV2,
    stop_start: false
);

historical_chain!(
    /// **Historical, broken: do not use.** The seed patch (`emm-stop-start`): register and
    /// unregister stop every notifier, change the list, and start every notifier again;
    /// unregister then sends the notifier `release`.
    EmmStopStart,
    Variant::EmmStopStart,
    stop_start: true
);

#[cfg(loom)]
historical_chain!(
    /// EMM V2 with its `rcu_assign_pointer()` weakened to a relaxed store: loom's test that the
    /// publish's release is load-bearing (a walker that loads the new node reads its `next`
    /// before the node's initialisation is ordered before the read). Only under loom.
    RcuPublishRelaxedPublish,
    Variant::EmmV2,
    stop_start: false,
    publish: Relaxed
);
