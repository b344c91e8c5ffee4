//! `ours@rcu-window`: a walk that never waits.
//!
//! The model's `ours@rcu-window` (`model/src/program/rcu_window.rs`, proved in
//! `proofs/proofs/rcu-window.md`) on real atomics. The chain is the kernel's RCU hlist: nodes
//! linked by atomic `next` pointers from an atomic `head`, changed only by writers under one
//! lock, and freed only after a grace period. The read side is a sleepable-RCU of our own:
//! per-shard pairs of counters, which a walker increments on entry and decrements on exit.
//!
//! # States and operations
//!
//! ```text
//!  head            : AtomicPtr<Node>        the first node (NULL: empty chain)
//!  node.next       : AtomicPtr<Node>        kept by an unlink, so a walker on it goes on
//!  shards[s].count : [AtomicUsize; 2]       open sections of shard s, by counter index
//!  index           : AtomicUsize            the counter new sections use (0 or 1)
//!  writer          : Mutex<linked nodes>    the kernel's mmu_notifier spinlock
//!  srcu            : Mutex<()>              serialises grace periods
//!
//!  window        i = index; shards[me].count[i] += 1; fence(SeqCst)      srcu_read_lock
//!                snap = head (acquire)      start walk from snap: invalidate_start each
//!                (zap)                      end walk from snap: invalidate_end each
//!                shards[me].count[i] -= 1 (release)                     srcu_read_unlock
//!  register      lock writer; n.next = head; head = n (release); unlock;
//!                synchronize
//!  unregister    if linked: release(n) in a section; lock writer; pred.next = n.next
//!                (release); unlock; synchronize; free n
//!  teardown      in a section: release each from head; lock writer; unlink every node;
//!                unlock; leave the section; synchronize; free the nodes
//!  synchronize   lock srcu; fence(SeqCst); twice: flip index, wait until the other
//!                counter of every shard reads 0 (acquire)
//! ```
//!
//! A walker takes no lock and writes only its own shard's counters: walkers on different
//! shards share no cache line. Register and unregister never block a walker; they wait only
//! for the sections open when they published.
//!
//! # Why it is correct
//!
//! The model's argument (`proofs/proofs/rcu-window.md`), with the orderings that make its
//! steps atomic on a weakly ordered machine:
//!
//! * A window walks one snapshot: the node it loaded first. A notifier published after that
//!   load is not reachable from it, so the window's end walk never calls an `invalidate_end`
//!   whose `invalidate_start` it did not call.
//! * A window whose snapshot misses a new notifier `n` entered its section before `n` was
//!   published, or it would have loaded `n` (the two `SeqCst` fences below); so register's
//!   grace period waits for it, and `n`'s driver may fault only once that window has zapped,
//!   walked its ends and freed its frame.
//! * Once a node is unlinked, only sections open at the unlink can reach it; the unlinker's
//!   grace period waits for them before it frees the node.
//!
//! The loom suite explores this code under loom's C11 model and validates every execution
//! against the model; a node is a [`cell::UnsafeCell`](crate::sync::cell::UnsafeCell), so a
//! walker that reads a node its initialisation or its retirement is not ordered with fails
//! the execution.
//!
//! The module is one file (past 700 lines) on purpose: every `unsafe` block of the crate is
//! here, and its safety argument rests on the orderings of the other functions, so they are
//! read together.

// The one module of the crate with `unsafe`: the nodes are shared by raw pointer between
// walkers and the writer that frees them after a grace period.
#![allow(unsafe_code)]

use crate::notifier::{deliver, Notifier, Range, WALKS};
use crate::space::{Chain, RegistrationId, TornDown, Window};
use crate::sync::cell::UnsafeCell;
use crate::sync::{self, fence, AtomicPtr, AtomicUsize, Mutex, Ordering};
use crossbeam_utils::CachePadded;
use emm_proofs::{Callback, Variant};
#[cfg(any(loom, feature = "trace"))]
use emm_proofs::{Event, Op};
use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

/// One notifier in the chain. Its link is written once, before the node is published, and
/// read by walkers until the node is freed.
struct Node {
    link: UnsafeCell<Link>,
    /// The next node (NULL at the end). An unlink of this node leaves it as it is.
    next: AtomicPtr<Node>,
}

/// What a node carries.
struct Link {
    id: RegistrationId,
    notifier: Arc<dyn Notifier>,
}

impl Node {
    /// Runs `f` on the node's link.
    ///
    /// # Safety
    ///
    /// `node` is not NULL and was reached, inside a section that is still open, from `head`,
    /// from a snapshot loaded in that section, or from the `next` of such a node (or the
    /// caller holds the writer lock and `node` is linked). Nodes are freed only by
    /// [`RcuWindow::retire`], after a grace period that began once the node was unlinked, and
    /// that grace period waits for every section open when it began: every section that can
    /// reach the node.
    #[inline]
    unsafe fn with_link<R>(node: *const Node, f: impl FnOnce(&Link) -> R) -> R {
        // SAFETY: the caller's contract: the node is alive for as long as the section is.
        let node = unsafe { &*node };
        // SAFETY: the link is written only by `Box::new` before the node is published, and
        // is never written again (retirement under loom writes it to show the race).
        node.link.with(|link| f(unsafe { &*link }))
    }

    /// The node's `next`, as a walker loads it.
    ///
    /// # Safety
    ///
    /// As [`with_link`](Self::with_link).
    #[inline]
    unsafe fn load_next(node: *const Node) -> *mut Node {
        // SAFETY: the caller's contract.
        let node = unsafe { &*node };
        // Acquire: pairs with the release store that made this value the node's `next`
        // (a register's publish of the next node is ordered before it by the writer lock, so
        // the next node's link is visible once this load reads its address).
        node.next.load(Ordering::Acquire)
    }
}

/// One shard of the read side: the sections open on it, by counter index. Walkers of
/// different shards write different cache lines.
///
/// Each counter has a cache line of its own: a grace period polls the counter that new
/// sections have just left (see [`RcuWindow::synchronize`]), and on a shared line each poll
/// would take the line from the walkers counting themselves in on the other counter.
type Shard = [CachePadded<AtomicUsize>; 2];

/// What only writers touch, under the writer lock.
struct Writer {
    /// The linked nodes, first to last (the chain as `head` and the `next` pointers give it).
    linked: Vec<*mut Node>,
    /// Under loom: the nodes retired (written, to catch a late reader), freed with the chain.
    #[cfg(loom)]
    retired: Vec<*mut Node>,
    next_id: u64,
    torn_down: bool,
}

// SAFETY: the raw pointers in `Writer` are nodes owned by the chain; they are dereferenced
// only under the writer lock or inside a section, and freed only after a grace period.
unsafe impl Send for Writer {}

/// `ours@rcu-window`: every invalidation window one read-side section walking one snapshot
/// of the chain; register and unregister publish, then wait for a grace period. Walkers take
/// no lock and never wait.
pub struct RcuWindow {
    head: AtomicPtr<Node>,
    /// The writers' locks sit on cache lines of their own: every register and unregister
    /// writes them, and on the line of `head` and `index`, which every walker reads, each
    /// lock and unlock would cost the next walker a cache miss.
    writer: CachePadded<Mutex<Writer>>,
    srcu: CachePadded<Mutex<()>>,
    /// The counter index new sections use; flipped by every grace period, twice.
    index: AtomicUsize,
    shards: Box<[Shard]>,
    /// `shards.len() - 1`; the length is a power of two.
    mask: usize,
    /// The ordering of the publish store (`rcu_assign_pointer`): `Release`, weakened only by
    /// the loom suite's test that the ordering is load-bearing.
    publish: Ordering,
    #[cfg(any(loom, feature = "trace"))]
    trace: crate::trace::Hook,
}

// SAFETY: every shared field is an atomic or a lock; the nodes behind the raw pointers hold
// `Arc<dyn Notifier>`s (`Send + Sync`) and are shared under the grace-period rules above.
unsafe impl Send for RcuWindow {}
// SAFETY: as for `Send`.
unsafe impl Sync for RcuWindow {}

impl fmt::Debug for RcuWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RcuWindow")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl RcuWindow {
    /// An empty chain with `shards` read-side shards, rounded up to a power of two.
    pub fn with_shards(shards: usize) -> RcuWindow {
        let shards = shards.max(1).next_power_of_two();
        RcuWindow {
            head: AtomicPtr::new(ptr::null_mut()),
            writer: CachePadded::new(Mutex::new(Writer {
                linked: Vec::new(),
                #[cfg(loom)]
                retired: Vec::new(),
                next_id: 0,
                torn_down: false,
            })),
            srcu: CachePadded::new(Mutex::new(())),
            index: AtomicUsize::new(0),
            shards: (0..shards)
                .map(|_| {
                    [
                        CachePadded::new(AtomicUsize::new(0)),
                        CachePadded::new(AtomicUsize::new(0)),
                    ]
                })
                .collect(),
            mask: shards - 1,
            publish: Ordering::Release,
            #[cfg(any(loom, feature = "trace"))]
            trace: None,
        }
    }

    /// The number of read-side shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The chain's address, by which a thread marks that it is inside a section of it.
    fn address(&self) -> usize {
        self as *const RcuWindow as usize
    }

    /// Refuses a writer's operation from inside a section of this chain on the calling
    /// thread: its grace period would wait for that section, which waits for it.
    fn refuse_from_read_side(&self, operation: &str) {
        if sync::in_read_side(self.address()) {
            panic!(
                "emm: {operation} called from inside a walk of the same address space (a \
                 notifier callback, or an open invalidation or aging walk on this thread): its \
                 grace period would wait for this thread's own walk to end. Call it after the \
                 walk returns, or from another thread."
            );
        }
    }

    /// `srcu_read_lock()`: counts the calling thread in, and orders that before every load of
    /// the chain in the section.
    #[inline]
    fn open(&self) -> Section<'_> {
        let shard = &self.shards[sync::thread_hint() & self.mask];
        // Relaxed: either index is correct, since a grace period waits for both counters; the
        // flip only keeps a grace period from waiting on sections that began after it.
        let index = self.index.load(Ordering::Relaxed) & 1;
        // Relaxed, then a full fence: the store-load order that the grace period needs. Paired
        // with synchronize()'s fence: either the synchronizer's counter load sees this
        // increment (and waits for the section), or this section's loads of the chain see
        // everything the synchronizer stored before its fence (the publish or the unlink).
        shard[index].fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        Section {
            chain: self,
            counter: &shard[index],
            outer: sync::mark_read_side(self.address()),
            snapshot: Cell::new(None),
            walking: Cell::new(0),
            walk_range: Cell::new(Range::ALL),
            #[cfg(any(loom, feature = "trace"))]
            trace: self.trace.as_deref(),
        }
    }

    /// The sections open on counter `index`, over every shard.
    fn readers(&self, index: usize) -> usize {
        self.shards
            .iter()
            // Acquire: pairs with each section's release decrement, so that once a count reads
            // 0 every load of the chain in those sections happened before what the caller does
            // next (free a node, let a driver fault).
            .map(|shard| shard[index].load(Ordering::Acquire))
            .sum()
    }

    /// `synchronize_srcu()`: returns once every section open when it began has closed.
    fn synchronize(&self) {
        traced!(self.trace, |t| t.point());
        let srcu = self.srcu.lock();
        // Paired with the fence of open(): the publish or unlink stored before this fence is
        // seen by every section whose increment this grace period's loads miss.
        fence(Ordering::SeqCst);
        traced!(self.trace, |t| {
            t.record(&[Event::Step(Op::SynchronizeStart)]);
            t.point();
        });
        // Two flips: a section that loaded the old index before a flip may count itself in
        // after the wait read its counter. It sees this grace period's stores (above), but a
        // later grace period must still wait for it, so every grace period waits on both
        // counters, each once new sections have moved to the other one.
        for _ in 0..2 {
            let old = self.index.load(Ordering::Relaxed) & 1;
            // Relaxed: which counter a section uses never decides what it sees; the fences do.
            self.index.store(old ^ 1, Ordering::Relaxed);
            while self.readers(old) != 0 {
                sync::wait_turn();
            }
        }
        traced!(self.trace, |t| t
            .record(&[Event::Step(Op::SynchronizeWait)]));
        drop(srcu);
    }

    /// Frees `node`, which a grace period that began after its unlink has ended.
    ///
    /// # Safety
    ///
    /// `node` came from `Box::into_raw` in register, was unlinked, and a grace period that
    /// began after the unlink has ended; it is retired once.
    unsafe fn retire(&self, node: *mut Node) {
        #[cfg(loom)]
        {
            // Under loom the node is written instead of freed, and freed with the chain: loom
            // then fails any execution in which a walker's read of the node is not ordered
            // before this write, where a free would have been a use after free.
            // SAFETY: the caller's contract: no section can reach the node any more.
            unsafe { &*node }.link.with_mut(|_| {});
            self.writer.lock().retired.push(node);
        }
        #[cfg(not(loom))]
        {
            let _ = self;
            // SAFETY: the caller's contract: no section can reach the node, and nothing else
            // owns it.
            drop(unsafe { Box::from_raw(node) });
        }
    }
}

impl Drop for RcuWindow {
    fn drop(&mut self) {
        // No section is open (they borrow the chain); the linked nodes (and, under loom, the
        // retired ones) are the chain's alone.
        let mut writer = self.writer.lock();
        #[cfg(loom)]
        let retired = std::mem::take(&mut writer.retired);
        #[cfg(not(loom))]
        let retired = Vec::new();
        for node in std::mem::take(&mut writer.linked)
            .into_iter()
            .chain(retired)
        {
            // SAFETY: unreachable from any section (there is none), owned by the chain.
            drop(unsafe { Box::from_raw(node) });
        }
    }
}

impl crate::space::sealed::Sealed for RcuWindow {}

impl Chain for RcuWindow {
    const VARIANT: Variant = Variant::OursRcuWindow;

    const SNAPSHOT_WINDOWS: bool = true;
    const WEAK_LOADS: bool = true;

    type Window<'a> = Section<'a>;

    fn new() -> Self {
        RcuWindow::with_shards(sync::default_shards())
    }

    #[cfg(any(loom, feature = "trace"))]
    fn traced(tracer: Arc<dyn crate::trace::Tracer>) -> Self {
        let mut chain = RcuWindow::new();
        chain.trace = Some(tracer);
        chain
    }

    fn register(&self, notifier: Arc<dyn Notifier>) -> Result<RegistrationId, TornDown> {
        self.refuse_from_read_side("register");
        traced!(self.trace, |t| t.point());
        let mut writer = self.writer.lock();
        if writer.torn_down {
            return Err(TornDown);
        }
        let id = RegistrationId(writer.next_id);
        writer.next_id += 1;
        traced!(self.trace, |t| {
            t.registering(id);
            t.record(&[Event::Step(Op::SpinLock)]);
            t.point();
        });
        // hlist_add_head_rcu(), private half: n->next = first. Relaxed: head changes only
        // under the writer lock, which this thread holds.
        let node = Box::into_raw(Box::new(Node {
            link: UnsafeCell::new(Link { id, notifier }),
            next: AtomicPtr::new(self.head.load(Ordering::Relaxed)),
        }));
        traced!(self.trace, |t| {
            t.record(&[Event::Step(Op::HlistAddInit)]);
            t.point();
        });
        // Recorded before the store a walker may read: a walk that loads n is then recorded
        // after the publish, and one that still loads the old head reads an older value of
        // head, which the trace validation of weak loads accepts.
        traced!(self.trace, |t| t
            .record(&[Event::Step(Op::HlistAddPublish { rcu: true })]));
        // rcu_assign_pointer(head, n): Release, so a walker that loads n (acquire) sees its
        // link and its next.
        self.head.store(node, self.publish);
        writer.linked.insert(0, node);
        traced!(self.trace, |t| t.point());
        // Recorded while the lock is still held: no other thread's spin_lock can be recorded
        // before it.
        traced!(self.trace, |t| t.record(&[Event::Step(Op::SpinUnlock)]));
        drop(writer);
        // Every window that loaded its snapshot before the publish is a section open now:
        // wait for it, so none zaps or frees after the new driver may fault.
        self.synchronize();
        Ok(id)
    }

    fn unregister(&self, id: RegistrationId) {
        self.refuse_from_read_side("unregister");
        traced!(self.trace, |t| t.point());
        // hlist_unhashed(): whether teardown unlinked it. The writer lock makes the look-up
        // one step; a clone of the notifier's handle outlives the node for the release.
        let notifier = {
            let writer = self.writer.lock();
            let notifier = writer.linked.iter().find_map(|&node| {
                // SAFETY: linked, under the writer lock.
                unsafe { Node::with_link(node, |l| (l.id == id).then(|| l.notifier.clone())) }
            });
            traced!(self.trace, |t| t.record(&[Event::CheckHashed {
                linked: notifier.is_some()
            }]));
            notifier
        };
        let mut released = Ok(());
        if let Some(notifier) = notifier {
            traced!(self.trace, |t| t.point());
            // ->release() first, inside a section, while invalidations may still reach it.
            let section = self.open();
            traced!(self.trace, |t| {
                t.record(&[Event::Step(Op::ReadSideLock)]);
                t.point();
            });
            // A release that panics still unregisters: the panic goes on once the notifier is
            // unlinked and no walk can reach it.
            released = panic::catch_unwind(AssertUnwindSafe(|| notifier.release()));
            drop(section);
            traced!(self.trace, |t| t.point());
            let mut writer = self.writer.lock();
            traced!(self.trace, |t| {
                t.record(&[Event::Step(Op::SpinLock)]);
                t.point();
            });
            // hlist_del_init_rcu(): the predecessor's link skips the node, whose own next is
            // kept for the walkers standing on it. A no-op if teardown unlinked it meanwhile.
            let at = writer.linked.iter().position(|&node| {
                // SAFETY: linked, under the writer lock.
                unsafe { Node::with_link(node, |l| l.id == id) }
            });
            let unlinked = at.map(|at| {
                let node = writer.linked.remove(at);
                // SAFETY: linked until just now, under the writer lock.
                let next = unsafe { &*node }.next.load(Ordering::Relaxed);
                let pred = match at {
                    0 => &self.head,
                    // SAFETY: linked, under the writer lock.
                    _ => unsafe { &(*writer.linked[at - 1]).next },
                };
                // Recorded before the store, as register's publish is.
                traced!(self.trace, |t| t
                    .record(&[Event::Step(Op::HlistDelInitRcu)]));
                // Release: a walker that loads `next` through this new link must see the next
                // node's link, whose publish happened before this store (the writer lock).
                pred.store(next, Ordering::Release);
                node
            });
            traced!(self.trace, |t| {
                if unlinked.is_none() {
                    // Teardown unlinked it: hlist_del_init_rcu() of an unhashed node.
                    t.record(&[Event::Step(Op::HlistDelInitRcu)]);
                }
                t.point();
            });
            traced!(self.trace, |t| t.record(&[Event::Step(Op::SpinUnlock)]));
            drop(writer);
            self.synchronize();
            if let Some(node) = unlinked {
                // SAFETY: unlinked above; the grace period began after the unlink.
                unsafe { self.retire(node) };
            }
        } else {
            // Teardown unlinked it and frees it; wait for the walks that may still hold it.
            self.synchronize();
        }
        if let Err(panic) = released {
            // Dropping a registration while unwinding must not panic again (that aborts).
            if !std::thread::panicking() {
                panic::resume_unwind(panic);
            }
        }
    }

    /// An invalidation's or an aging walk's section.
    #[inline]
    fn window(&self) -> Section<'_> {
        traced!(self.trace, |t| t.point());
        let section = self.open();
        traced!(self.trace, |t| t.record(&[Event::Step(Op::ReadSideLock)]));
        section
    }

    fn teardown(&self) {
        self.refuse_from_read_side("teardown");
        traced!(self.trace, |t| t.point());
        // Refuse new registrations first, so none joins after the release walk and is
        // unlinked without a release.
        self.writer.lock().torn_down = true;
        let section = self.open();
        traced!(self.trace, |t| {
            t.record(&[Event::Step(Op::ReadSideLock)]);
            t.point();
        });
        // The release walk, from the head, inside the section. A release that panics does not
        // stop the teardown: the panic goes on once every notifier is unlinked.
        let released = panic::catch_unwind(AssertUnwindSafe(|| {
            section.walk(Callback::Release, Range::ALL);
        }));
        traced!(self.trace, |t| t.point());
        let mut writer = self.writer.lock();
        traced!(self.trace, |t| t.record(&[Event::Step(Op::SpinLock)]));
        let unlinked = std::mem::take(&mut writer.linked);
        for &node in &unlinked {
            traced!(self.trace, |t| {
                t.point();
                // SAFETY: linked until this store, under the writer lock.
                let n = unsafe { Node::with_link(node, |l| t.node(l.id)) };
                t.record(&[Event::UnlinkAll { node: Some(n) }]);
            });
            // hlist_del_init_rcu(first): the head skips the first node. Release, as in
            // unregister's unlink.
            // SAFETY: linked until this store, under the writer lock.
            let next = unsafe { &*node }.next.load(Ordering::Relaxed);
            self.head.store(next, Ordering::Release);
        }
        traced!(self.trace, |t| {
            t.point();
            t.record(&[Event::UnlinkAll { node: None }]);
        });
        // Recorded while the lock is still held: no other thread's spin_lock can be recorded
        // before it.
        traced!(self.trace, |t| t.record(&[Event::Step(Op::SpinUnlock)]));
        drop(writer);
        drop(section);
        self.synchronize();
        for node in unlinked {
            // SAFETY: unlinked above; the grace period began after the unlinks.
            unsafe { self.retire(node) };
        }
        if let Err(panic) = released {
            panic::resume_unwind(panic);
        }
    }
}

/// An open section of [`RcuWindow`]: its counter, and the snapshot of the chain its first
/// walk loaded, which every later walk of the section starts from.
pub struct Section<'a> {
    chain: &'a RcuWindow,
    counter: &'a AtomicUsize,
    /// The read side the thread was inside before this one (see [`sync::mark_read_side`]).
    outer: usize,
    /// The first node, once the section's first walk has loaded it.
    snapshot: Cell<Option<*mut Node>>,
    /// While a walk runs: 1 + the index of the notifier being called, shifted left by 3, and
    /// the walk's callback as its index in [`WALKS`]; 0 between walks.
    walking: Cell<usize>,
    /// The range of the walk under way.
    walk_range: Cell<Range>,
    #[cfg(any(loom, feature = "trace"))]
    trace: Option<&'a dyn crate::trace::Tracer>,
}

impl fmt::Debug for Section<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Section")
            .field("snapshot_taken", &self.snapshot.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Section<'_> {
    /// The section's first node: the snapshot, loaded by its first walk.
    #[inline]
    fn first(&self) -> *mut Node {
        if let Some(first) = self.snapshot.get() {
            return first;
        }
        // rcu_dereference(head). Acquire (Rust has no consume): pairs with the publish, so the
        // node's link and next are visible.
        let first = self.chain.head.load(Ordering::Acquire);
        self.snapshot.set(Some(first));
        first
    }

    /// Delivers `callback` to the nodes reached from the snapshot, skipping the first `skip`
    /// and stopping after `take`, without recording; for an interrupted walk's remainder.
    #[cold]
    fn finish_interrupted(&self) {
        let walking = self.walking.replace(0);
        let at = (walking >> 3) - 1;
        let (skip, take, callback) = match WALKS[walking & 7] {
            Callback::InvalidateStart => (0, at, Callback::InvalidateEnd),
            other => (at + 1, usize::MAX, other),
        };
        let range = self.walk_range.get();
        let mut node = self.first();
        let mut i = 0;
        while !node.is_null() && i < skip.saturating_add(take) {
            if i >= skip {
                // SAFETY: reached from the snapshot inside this open section.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
                    Node::with_link(node, |l| deliver(&*l.notifier, callback, range))
                }));
            }
            // SAFETY: as above.
            node = unsafe { Node::load_next(node) };
            i += 1;
        }
    }

    /// One walk from the snapshot (`hlist_for_each_entry_srcu()`), delivering `callback`;
    /// whether any `clear_young` answered `true`. If a callback panics, the walk records
    /// where, for [`finish_interrupted`](Self::finish_interrupted), and the panic goes on.
    #[inline]
    fn walk(&self, callback: Callback, range: Range) -> bool {
        if self.walking.get() != 0 {
            self.finish_interrupted();
        }
        let mut node = self.first();
        traced!(self.trace, |t| t.record(&[Event::LoadHead {
            callback,
            // SAFETY: loaded in this open section.
            node: (!node.is_null()).then(|| unsafe { Node::with_link(node, |l| t.node(l.id)) }),
        }]));
        let code = WALKS.iter().position(|&c| c == callback).unwrap_or(0);
        self.walk_range.set(range);
        let mut young = false;
        let mut i = 0;
        while !node.is_null() {
            self.walking.set((i + 1) << 3 | code);
            traced!(self.trace, |t| t.point());
            // SAFETY: reached from the snapshot or a next pointer inside this open section.
            young |= unsafe { Node::with_link(node, |l| deliver(&*l.notifier, callback, range)) };
            traced!(self.trace, |t| t.point());
            // SAFETY: as above.
            node = unsafe { Node::load_next(node) };
            traced!(self.trace, |t| t.record(&[Event::LoadNext {
                callback,
                // SAFETY: loaded in this open section.
                node: (!node.is_null()).then(|| unsafe { Node::with_link(node, |l| t.node(l.id)) }),
            }]));
            i += 1;
        }
        self.walking.set(0);
        young
    }
}

impl Window for Section<'_> {
    #[inline]
    fn invalidate_start(&self, range: Range) {
        self.walk(Callback::InvalidateStart, range);
    }

    #[inline]
    fn invalidate_end(&self, range: Range) {
        traced!(self.trace, |t| t.point());
        self.walk(Callback::InvalidateEnd, range);
    }

    #[inline]
    fn clear_young(&self, range: Range) -> bool {
        self.walk(Callback::ClearYoung, range)
    }
}

impl Drop for Section<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.walking.get() != 0 {
            // A panic is unwinding through the section from inside a walk.
            self.finish_interrupted();
        }
        traced!(self.trace, |t| t.record(&[Event::Step(Op::ReadSideUnlock)]));
        sync::restore_read_side(self.outer);
        // srcu_read_unlock(). Release: every load of the chain in the section happens before
        // a synchronizer's acquire load that reads the count without it.
        self.counter.fetch_sub(1, Ordering::Release);
    }
}

/// [`RcuWindow`] with its publish store weakened to `Relaxed`: the loom suite shows that the
/// release is load-bearing (a walker then reads a node its initialisation is not ordered
/// before). Only under loom.
#[cfg(loom)]
#[derive(Debug)]
pub struct RcuWindowRelaxedPublish(RcuWindow);

#[cfg(loom)]
impl crate::space::sealed::Sealed for RcuWindowRelaxedPublish {}

#[cfg(loom)]
impl Chain for RcuWindowRelaxedPublish {
    const VARIANT: Variant = Variant::OursRcuWindow;
    const SNAPSHOT_WINDOWS: bool = true;
    const WEAK_LOADS: bool = true;
    type Window<'a> = Section<'a>;

    fn new() -> Self {
        let mut chain = RcuWindow::new();
        chain.publish = Ordering::Relaxed;
        RcuWindowRelaxedPublish(chain)
    }

    fn traced(tracer: Arc<dyn crate::trace::Tracer>) -> Self {
        let mut chain = RcuWindow::traced(tracer);
        chain.publish = Ordering::Relaxed;
        RcuWindowRelaxedPublish(chain)
    }

    fn register(&self, notifier: Arc<dyn Notifier>) -> Result<RegistrationId, TornDown> {
        self.0.register(notifier)
    }

    fn unregister(&self, id: RegistrationId) {
        self.0.unregister(id)
    }

    fn window(&self) -> Section<'_> {
        self.0.window()
    }

    fn teardown(&self) {
        self.0.teardown()
    }
}
