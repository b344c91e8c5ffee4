//! The kernel's protocol: `mm_take_all_locks()` registration over sharded read sides.
//!
//! This is the kernel's `mmu_notifier` as of v5.12 (`mmu-notifier@v5.12` in the model: the
//! register, unregister and release of d34883d4e35c (v3.10) and b972216e27d1 (v3.17), reclaim
//! bracketing its PTE change with start and end under the reverse-map lock (369ea8242c0f,
//! v4.13)), carried over to a userspace library. It has no per-VMA locks, so v6.4's
//! `vma_start_write()` (eeff9a5d47f8), which only matters to page faults that hold nothing
//! else, has nothing to exclude here, and no non-blocking start (the OOM reaper's).
//!
//! # States and operations
//!
//! ```text
//!  shards[i] : RwLock<chain copy>      one per CPU (rounded up); a thread uses shards[hint]
//!  writer    : Mutex<authoritative chain, torn_down>       the kernel's mmap_sem for write
//!
//!  invalidation   read shards[hint]  -> walk invalidate_start over that shard's copy
//!                 (zap)                 ... the read lock stays held ...
//!                 walk invalidate_end over the same copy -> unlock   (then free frames)
//!  clear_young    read shards[hint]  -> walk -> unlock
//!  register       lock writer; write-lock every shard (mm_take_all_locks);
//!                 push the notifier at the head of every copy; unlock all
//!  unregister     read shards[hint]: release it if linked; lock writer; write-lock every shard;
//!                 remove it from every copy; unlock all            (= del + synchronize_srcu)
//!  teardown       lock writer (held to the end): torn_down = true;
//!                 read shards[hint]: release each; then write-lock every shard and empty
//!                 every copy
//! ```
//!
//! A shard's read lock plays two kernel roles at once: the reverse-map lock that
//! `try_to_unmap()` holds across its invalidation (so `mm_take_all_locks()` excludes every
//! open invalidation window), and the SRCU read side of the walk (so taking the write locks
//! after an unlink is `synchronize_srcu()`).
//!
//! # Why it is correct (the model's `mmu-notifier@v5.12` argument)
//!
//! A registration holds every shard's write lock while it links, so no invalidation window is
//! open anywhere at that moment: every window either closed before the link (its frames are
//! already freed, and the new driver's fault cannot have read them, since it could not fault
//! before `register` returned), or opens after it and reads a copy that contains the notifier.
//! An invalidation reads one copy for both of its walks, so it sends `invalidate_end` exactly to
//! the notifiers it sent `invalidate_start`. An unregister's write locks wait for every window
//! that might still hold the old copy, so none calls the notifier after unregister returns.
//!
//! # Why this protocol (and not interval notifiers or the corrected stop/start)
//!
//! The walk is the hot path: one uncontended read lock on a shard that, as long as the
//! invalidating threads were given distinct shards, no other walker touches, and then a plain
//! loop over a contiguous copy. Invalidations on different CPUs share no cache line. Interval
//! notifiers (`interval@v5.18`) take one lock shared by every invalidation to count it in and out,
//! and the corrected stop/start (`ours@emm-stop-drain-start`) drains on one mm-wide count of open
//! windows: both put every walker on one cache line. `cargo bench -p emm` measures sketches of
//! both walks beside this one: with a second thread invalidating they cost 2.3x to 12x more,
//! while this walk does not slow down (single-threaded the drain's counter is cheaper, by about
//! 2.5 ns with one notifier).
//!
//! Registration pays instead (it waits for every open window), as in the kernel, where
//! registration is rare and invalidation is constant.

use crate::notifier::{deliver, Notifier, Range, WALKS};
use crate::space::{Chain, RegistrationId, TornDown, Window};
use crate::sync::{self, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use crossbeam_utils::CachePadded;
use emm_proofs::{Callback, Variant};
#[cfg(any(loom, feature = "trace"))]
use emm_proofs::{Event, Op};
use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

/// One linked notifier, as each shard's copy of the chain holds it.
#[derive(Clone)]
struct Link {
    id: RegistrationId,
    notifier: Arc<dyn Notifier>,
}

/// What only writers (register, unregister, teardown) touch, under the writer lock.
struct Writer {
    next_id: u64,
    torn_down: bool,
}

/// The kernel's protocol (`mmu-notifier@v5.12`), one of the two this crate offers: walks read
/// a per-CPU copy of the chain under that copy's read lock; registration takes every copy's
/// write lock (`mm_take_all_locks()`).
pub struct TakeAllLocks {
    writer: Mutex<Writer>,
    shards: Box<[CachePadded<RwLock<Vec<Link>>>]>,
    /// `shards.len() - 1`; the length is a power of two, so a thread's shard is a mask away.
    mask: usize,
    #[cfg(any(loom, feature = "trace"))]
    trace: crate::trace::Hook,
}

impl fmt::Debug for TakeAllLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakeAllLocks")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl TakeAllLocks {
    /// An empty chain with `shards` read sides, rounded up to a power of two.
    pub fn with_shards(shards: usize) -> TakeAllLocks {
        let shards = shards.max(1).next_power_of_two();
        TakeAllLocks {
            mask: shards - 1,
            writer: Mutex::new(Writer {
                next_id: 0,
                torn_down: false,
            }),
            shards: (0..shards)
                .map(|_| CachePadded::new(RwLock::new(Vec::new())))
                .collect(),
            #[cfg(any(loom, feature = "trace"))]
            trace: None,
        }
    }

    /// The number of read-side shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// `mm_take_all_locks()`: every shard's write lock, in shard order. Only the holder of the
    /// writer lock calls this, so two callers never interleave their acquisitions.
    fn take_all_locks(&self) -> Vec<RwLockWriteGuard<'_, Vec<Link>>> {
        self.shards.iter().map(|shard| shard.write()).collect()
    }

    /// The chain's address, by which a thread marks that it is inside the chain's read side.
    fn address(&self) -> usize {
        self as *const TakeAllLocks as usize
    }

    /// Refuses a writer's operation from inside a read side of this chain on the calling
    /// thread: it would wait for that read side, which waits for it.
    fn refuse_from_read_side(&self, operation: &str) {
        if sync::in_read_side(self.address()) {
            panic!(
                "emm: {operation} called from inside a walk of the same address space (a \
                 notifier callback, or an open invalidation or aging walk on this thread): it \
                 would wait for this thread's own walk to end. Call it after the walk returns, \
                 or from another thread."
            );
        }
    }

    /// The calling thread's read side.
    #[inline]
    fn open(&self) -> Walks<'_> {
        let shard = sync::thread_hint() & self.mask;
        let copy = self.shards[shard].read();
        Walks {
            copy,
            outer: sync::mark_read_side(self.address()),
            walking: Cell::new(0),
            walk_range: Cell::new(Range::ALL),
            #[cfg(any(loom, feature = "trace"))]
            trace: self.trace.as_deref(),
            #[cfg(any(loom, feature = "trace"))]
            rmap: false,
        }
    }
}

impl crate::space::sealed::Sealed for TakeAllLocks {}

impl Chain for TakeAllLocks {
    const VARIANT: Variant = Variant::MmuNotifierV5_12;

    type Window<'a> = Walks<'a>;

    fn new() -> Self {
        TakeAllLocks::with_shards(sync::default_shards())
    }

    #[cfg(any(loom, feature = "trace"))]
    fn traced(tracer: Arc<dyn crate::trace::Tracer>) -> Self {
        TakeAllLocks {
            trace: Some(tracer),
            ..TakeAllLocks::new()
        }
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
            t.record(&[Event::Step(Op::MmapSemLock)]);
            t.point();
        });
        // Every shard write-locked at once: no invalidation window is open anywhere while the
        // notifier joins, so none can have sent its start walk without it and then send its
        // end walk (or free a frame) after its driver starts faulting.
        let mut copies = self.take_all_locks();
        for copy in &mut copies {
            // hlist_add_head_rcu(): the new notifier goes first.
            copy.insert(
                0,
                Link {
                    id,
                    notifier: Arc::clone(&notifier),
                },
            );
        }
        // The kernel's steps from here to the return happen while every lock is held, so no
        // other step can come between them: one record.
        traced!(self.trace, |t| t.record(&[
            Event::Step(Op::TakeAllLocks),
            Event::Step(Op::SpinLock),
            Event::Step(Op::HlistAddInit),
            Event::Step(Op::HlistAddPublish { rcu: true }),
            Event::Step(Op::SpinUnlock),
            Event::Step(Op::DropAllLocks),
            Event::Step(Op::MmapSemUnlock),
        ]));
        Ok(id)
    }

    fn unregister(&self, id: RegistrationId) {
        self.refuse_from_read_side("unregister");
        traced!(self.trace, |t| t.point());
        let (linked, released) = {
            // As mmu_notifier_unregister(): ->release() before the unlink, from a read side, so
            // the secondary MMU drops its mappings while invalidations may still reach it. A
            // notifier that teardown already unlinked is in no copy and gets no second release.
            let window = self.open();
            let link = window.copy.iter().find(|l| l.id == id).cloned();
            traced!(self.trace, |t| t.record(&[Event::CheckHashed {
                linked: link.is_some()
            }]));
            let mut released = Ok(());
            if let Some(link) = &link {
                traced!(self.trace, |t| {
                    t.record(&[Event::Step(Op::ReadSideLock)]);
                    t.point();
                });
                // A release that panics still unregisters: the panic goes on to the caller
                // once the notifier is unlinked and no walk can reach it.
                released = panic::catch_unwind(AssertUnwindSafe(|| link.notifier.release()));
                traced!(self.trace, |t| t.record(&[Event::Step(Op::ReadSideUnlock)]));
            }
            (link.is_some(), released)
        };
        traced!(self.trace, |t| t.point());
        let writer = self.writer.lock();
        // hlist_del_init_rcu() + synchronize_srcu(): each write lock waits for the walks that
        // still read the old copy of its shard; once all are taken, no walk can reach `id`.
        let mut copies = self.take_all_locks();
        for copy in &mut copies {
            copy.retain(|l| l.id != id);
        }
        traced!(self.trace, |t| {
            if linked {
                t.record(&[
                    Event::Step(Op::SpinLock),
                    Event::Step(Op::HlistDelInitRcu),
                    Event::Step(Op::SpinUnlock),
                ]);
            }
            // No read side is open anywhere: the grace period is over.
            t.record(&[
                Event::Step(Op::SynchronizeStart),
                Event::Step(Op::SynchronizeWait),
            ]);
        });
        // Only the trace tells a linked notifier's unregister from one that teardown unlinked.
        let _ = linked;
        drop(copies);
        drop(writer);
        if let Err(panic) = released {
            // Dropping a registration while unwinding must not panic again (that aborts).
            if !std::thread::panicking() {
                panic::resume_unwind(panic);
            }
        }
    }

    /// The read side of an invalidation or an aging walk. The shard's read lock is the
    /// reverse-map lock that try_to_unmap() and page_referenced() hold to the end.
    #[inline]
    fn window(&self) -> Walks<'_> {
        if sync::in_read_side(self.address()) {
            // A second shard read lock on this thread: with a register queued for the write
            // locks in between, the reader-writer lock (which queues new readers behind a
            // waiting writer) would make this thread wait for a writer that waits for it.
            panic!(
                "emm: an invalidation or aging walk opened on a thread that already holds one \
                 open on the same address space (or from inside a notifier callback): it could \
                 wait behind a queued register that waits for the first. Nest invalidations with \
                 Invalidation::nest, or open the second after the first ends."
            );
        }
        traced!(self.trace, |t| t.point());
        #[cfg_attr(not(any(loom, feature = "trace")), allow(unused_mut))]
        let mut window = self.open();
        traced!(self.trace, |t| {
            t.record(&[Event::Step(Op::RmapReadLock)]);
            window.rmap = true;
        });
        window
    }

    fn teardown(&self) {
        self.refuse_from_read_side("teardown");
        traced!(self.trace, |t| t.point());
        // mmu_notifier_release(): refuse new registrations first, so none joins after the
        // release walk and is unlinked without a release. The writer lock stays held to the
        // end, so no unregister completes between the release walk and the unlink (as in the
        // kernel, where both happen inside one SRCU read side).
        let mut writer = self.writer.lock();
        writer.torn_down = true;
        // The release walk runs under a read side, like every walk: an unregister that races
        // it waits for it, so no release runs after that unregister returns. A release that
        // panics does not stop the teardown: the others are released and every notifier is
        // unlinked before the panic goes on to the caller.
        let released = panic::catch_unwind(AssertUnwindSafe(|| {
            self.open().walk(Callback::Release, false, Range::ALL);
        }));
        traced!(self.trace, |t| t.point());
        let mut copies = self.take_all_locks();
        traced!(self.trace, |t| {
            t.record(&[Event::Step(Op::SpinLock)]);
            for link in copies[0].iter() {
                t.record(&[Event::UnlinkAll {
                    node: Some(t.node(link.id)),
                }]);
            }
            t.record(&[
                Event::UnlinkAll { node: None },
                Event::Step(Op::SpinUnlock),
                Event::Step(Op::ReadSideUnlock),
                Event::Step(Op::SynchronizeStart),
                Event::Step(Op::SynchronizeWait),
            ]);
        });
        for copy in &mut copies {
            copy.clear();
        }
        drop(copies);
        drop(writer);
        if let Err(panic) = released {
            panic::resume_unwind(panic);
        }
    }
}

/// An open read side of [`TakeAllLocks`]: one shard's read lock and its copy of the chain.
pub struct Walks<'a> {
    copy: RwLockReadGuard<'a, Vec<Link>>,
    /// The read side the thread was inside before this one (see [`sync::mark_read_side`]).
    outer: usize,
    /// While a walk runs: 1 + the index of the notifier being called, shifted left by 3, and
    /// the walk's callback as its index in [`WALKS`]; 0 between walks.
    walking: Cell<usize>,
    /// The range of the walk under way.
    walk_range: Cell<Range>,
    #[cfg(any(loom, feature = "trace"))]
    trace: Option<&'a dyn crate::trace::Tracer>,
    /// Opened by an invalidation: its end is also the reverse-map unlock.
    #[cfg(any(loom, feature = "trace"))]
    rmap: bool,
}

impl fmt::Debug for Walks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Walks")
            .field("linked", &self.copy.len())
            .finish()
    }
}

impl Walks<'_> {
    /// What a walk interrupted by a panic in the callback of notifier `walking - 1` leaves to
    /// do, done when the read side closes (the panic unwinds through it) or before its next
    /// walk (an invalidation's end walk, run by its guard while the panic unwinds): the
    /// notifiers that got an `invalidate_start` get their `invalidate_end` (none is left with
    /// an invalidation open that never ends, which would make its faults retry for ever); in
    /// any other walk the notifiers after the one that panicked still get the callback. A
    /// second panic here is swallowed: the first goes on to the caller.
    #[cold]
    fn finish_interrupted(&self) {
        let walking = self.walking.replace(0);
        let at = (walking >> 3) - 1;
        let (rest, callback) = match WALKS[walking & 7] {
            Callback::InvalidateStart => (&self.copy[..at], Callback::InvalidateEnd),
            other => (&self.copy[at + 1..], other),
        };
        let range = self.walk_range.get();
        for link in rest {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                deliver(&*link.notifier, callback, range)
            }));
        }
    }

    /// One walk over the copy, delivering `callback` to each link: as the kernel's
    /// `hlist_for_each_entry_srcu()` inside `srcu_read_lock()` and, if `unlock`,
    /// `srcu_read_unlock()` (teardown unlinks everything before it unlocks). The copy cannot
    /// change while the read lock is held, so each load reads what a writer left. Whether any
    /// `clear_young` answered `true`. If a callback panics, the walk records where, for
    /// [`finish_interrupted`](Self::finish_interrupted), and the panic goes on to the caller.
    #[inline]
    fn walk(&self, callback: Callback, unlock: bool, range: Range) -> bool {
        if self.walking.get() != 0 {
            self.finish_interrupted();
        }
        traced!(self.trace, |t| t.record(&[
            Event::Step(Op::ReadSideLock),
            Event::LoadHead {
                callback,
                node: self.copy.first().map(|l| t.node(l.id)),
            },
        ]));
        let mut young = false;
        // Where a panic would interrupt the walk: one store per walk and one per notifier, no
        // landing pad in the loop (a drop guard here cost more than the walk itself). The
        // callback shares the word with the position: a byte-wide store that a later
        // word-wide load of the read side (moving the guard) reads back stalls the load.
        let code = WALKS.iter().position(|&c| c == callback).unwrap_or(0);
        self.walk_range.set(range);
        for (i, link) in self.copy.iter().enumerate() {
            self.walking.set((i + 1) << 3 | code);
            traced!(self.trace, |t| t.point());
            // Every notifier is asked (no short cut for clear_young): each must clear its own
            // accessed bits.
            young |= deliver(&*link.notifier, callback, range);
            traced!(self.trace, |t| {
                t.point();
                t.record(&[Event::LoadNext {
                    callback,
                    node: self.copy.get(i + 1).map(|l| t.node(l.id)),
                }]);
            });
        }
        self.walking.set(0);
        if unlock {
            traced!(self.trace, |t| t.record(&[Event::Step(Op::ReadSideUnlock)]));
        }
        young
    }
}

impl Window for Walks<'_> {
    #[inline]
    fn invalidate_start(&self, range: Range) {
        self.walk(Callback::InvalidateStart, true, range);
    }

    #[inline]
    fn invalidate_end(&self, range: Range) {
        traced!(self.trace, |t| t.point());
        self.walk(Callback::InvalidateEnd, true, range);
    }

    #[inline]
    fn clear_young(&self, range: Range) -> bool {
        self.walk(Callback::ClearYoung, true, range)
    }
}

impl Drop for Walks<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.walking.get() != 0 {
            // A panic is unwinding through the read side from inside a walk.
            self.finish_interrupted();
        }
        #[cfg(any(loom, feature = "trace"))]
        if self.rmap {
            traced!(self.trace, |t| t.record(&[Event::Step(Op::RmapReadUnlock)]));
        }
        sync::restore_read_side(self.outer);
    }
}
