//! The kernel steps that the actors of the protocols take, by name.
//!
//! The model's programs are lists of these steps (`emm_model::program`, where each step of each
//! version cites the kernel function and commit or mail it transcribes), the implementation's
//! trace records them ([`crate::trace`]), and a trace of one is checked against the other by
//! these names. Each step is one indivisible action of the model; where the kernel's code is
//! several statements, the step says why no other thread can tell them apart (what they touch
//! is private, or only read under a lock the thread holds).
//!
//! Branches and loops (`if (!hlist_unhashed(...))`, `while (!hlist_empty(...))`, a trylock that
//! falls back) are steps whose next position depends on what they read; the model's programs
//! record where each one goes, found from labels, never typed as numbers.

use crate::Callback;

/// One step (or, for [`Op::Walk`], one walk) of an actor's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A walk over the chain delivering `callback` to each notifier: the first step loads
    /// `head` (with `resume`, the walk starts at the node an earlier step loaded: interval
    /// notifiers find the first node under the subscriptions lock), then one step calls the
    /// node and one loads its `next`.
    Walk {
        /// What the walk delivers.
        callback: Callback,
        /// Continue from the node already loaded instead of loading `head`.
        resume: bool,
        /// `if (x) return x;`: the walk stops at the first callback that returns nonzero
        /// (the EMM walker before the fixup of 2 Apr 2008, 12:03; the interval notifier's walk
        /// stops at the first `invalidate()` that fails a non-blocking start).
        early_return: bool,
        /// The start of a non-blocking invalidation (`blockable == false`, the OOM reaper): a
        /// notifier that cannot start without sleeping returns `-EAGAIN`.
        nonblock: bool,
        /// The walks of one read-side section share one load of `head` (`ours@rcu-window`):
        /// the first walk of the section loads it, the later ones start from that snapshot.
        snapshot: bool,
    },
    /// Zap the PTE of invalidation `level` (0 outer, 1 nested): remember the old frame and map
    /// a fresh one (if the page is still mapped): a migration, or a copy-on-write.
    Zap(u8),
    /// Free the frame that invalidation `level` zapped.
    Free(u8),
    /// Teardown frees the address space's frames: the PTE is cleared and its frame freed.
    FreeFrames,
    /// `unmap_vmas()` / `unmap_page_range()` inside an invalidation: clear the PTE, remembering
    /// the frame for the free after the invalidation ends.
    UnmapPte,
    /// `down_write(&mm->mmap_sem)`: takes it if it is free; otherwise queues (a queued writer
    /// holds back new readers, as the kernel's rwsem does) and takes it when it is free.
    MmapSemLock,
    /// `up_write(&mm->mmap_sem)` (`mmap_write_unlock()`, which since the per-VMA locks also
    /// ends every VMA write lock: `vma_end_write_all()`).
    MmapSemUnlock,
    /// `down_read(&mm->mmap_sem)`: waits while a writer holds it or, where the version's rwsem
    /// queues readers behind a waiting writer, while one waits.
    MmapReadLock,
    /// `down_read_trylock(&mm->mmap_sem)`: fails, and the thread goes elsewhere, if a writer
    /// holds or waits for it.
    MmapReadTrylock,
    /// `up_read(&mm->mmap_sem)`.
    MmapReadUnlock,
    /// The reverse-map lock of the page's `anon_vma`, as reclaim and aging take it: a
    /// spinlock (v2.6.27) or a mutex (v3.0-v3.7), exclusive; the rwsem for read since v3.8.
    RmapReadLock,
    /// Drop the reverse-map lock.
    RmapReadUnlock,
    /// `mm_take_all_locks()`: the `anon_vma` lock for write (queueing like [`Op::MmapSemLock`]
    /// where it is an rwsem). `mutex_lock(&mm_all_locks_mutex)` is part of the step: it is only
    /// ever taken with `mmap_sem` held for write, which this thread holds.
    TakeAllLocks,
    /// `mm_drop_all_locks()`: the `anon_vma` lock released.
    DropAllLocks,
    /// `vma_start_write()` in `mm_take_all_locks()` (v6.4): wait for the VMA's readers, then
    /// mark it write-locked so that `lock_vma_under_rcu()` fails until `vma_end_write_all()`.
    VmaStartWrite,
    /// `vma_end_write_all()` in `mm_drop_all_locks()` (v6.4, v6.5).
    VmaEndWriteAll,
    /// `lock_vma_under_rcu()`: `vma_start_read()`'s seq check, read-trylock and recheck, one
    /// step (the VMA lock's writer can only set the seq while it holds the lock for write, which
    /// the trylock then fails on). On success the fault goes on under the VMA read lock; on
    /// failure it falls back to `mmap_sem`.
    LockVmaUnderRcu,
    /// The fault's unlock: `vma_end_read()` if it holds the VMA read lock, else
    /// `mmap_read_unlock()`.
    FaultUnlock,
    /// `spin_lock()` of the notifier list (`mmu_notifier_mm->lock`, or the interval
    /// `subscriptions->lock`).
    SpinLock,
    /// `spin_unlock()` of that lock.
    SpinUnlock,
    /// `rcu_read_lock()` (before v3.7) or `srcu_read_lock(&srcu)` (v3.7 on).
    ReadSideLock,
    /// `rcu_read_unlock()` or `srcu_read_unlock(&srcu, id)`.
    ReadSideUnlock,
    /// `synchronize_rcu()` / `synchronize_srcu()`, first half: the read-side sections open now
    /// are the ones it waits for.
    SynchronizeStart,
    /// The second half: every one of those sections has ended.
    SynchronizeWait,
    /// The owner, before it unregisters, stops its device using the range: the driver drops
    /// its mirror under its lock. For the protocols whose unregister sends no `release`
    /// (interval notifiers), this is how a driver ends its mirror.
    DropMirror,
    /// `e->next = mm->emm_notifier` (register). One step: `head` only changes under
    /// `mmap_sem`, which this thread holds, and `e` is not yet published.
    LinkNext,
    /// `rcu_assign_pointer(mm->emm_notifier, e)`: publish `e` at the head.
    Publish,
    /// `hlist_add_head()` / `hlist_add_head_rcu()`, the private half: `n->next = first;
    /// n->pprev = &h->first`. `n` is not reachable yet.
    HlistAddInit,
    /// The public half: `h->first = n` (a plain store before v5.3, `rcu_assign_pointer()` from
    /// 543bdb2d825f), and `first->pprev = &n->next`, which no lock-free reader reads (only
    /// `hlist_unhashed()`, which sees non-NULL either way).
    HlistAddPublish {
        /// `rcu_assign_pointer()` rather than a plain store.
        rcu: bool,
    },
    /// The seed's unlink: `p = head; if (e == p) head = e->next; else { while (p->next != e)
    /// p = p->next; p->next = e->next; }`. One store step: the loads read links that only
    /// change under `mmap_sem`, which this thread holds. If `e` is not in the list the search
    /// dereferences `NULL`.
    Unlink,
    /// The seed's `e->next = mm->emm_notifier` after the unlink.
    NextToHead,
    /// Call `callback` on the thread's own notifier (`e->callback(e, mm, emm_release, ...)`,
    /// `ops->release()` in unregister, `emm_stop` of the new notifier).
    CallOwn(Callback),
    /// Call `callback` on the node the thread took off the list (`mn->ops->release(mn, mm)` in
    /// the release loop of v2.6.27 and v3.9).
    CallTaken(Callback),
    /// `if (!hlist_unhashed(&mn->hlist))`: go on if the thread's own notifier is hashed, else
    /// skip to the branch's end.
    CheckHashed,
    /// `hlist_del_rcu()` of the thread's own notifier: `*pprev = next; if (next)
    /// next->pprev = pprev; n->pprev = LIST_POISON2`. Faults if `pprev` is `NULL` or poisoned.
    HlistDelRcu,
    /// `hlist_del_init_rcu()` of the thread's own notifier, or in a release loop of the node it
    /// took: nothing if `pprev` is `NULL`, else `__hlist_del()` and `n->pprev = NULL`.
    HlistDelInitRcu,
    /// A release loop's `while (!hlist_empty(list)) { mn = first; ...`: take the first node, or
    /// leave the loop.
    TakeFirst,
    /// The end of a loop's body: back to its head.
    LoopBack,
    /// v3.6 on, teardown: `while (!hlist_empty(list)) hlist_del_init_rcu(first)`, one node per
    /// step.
    UnlinkAll,
    /// The owner frees the notifier (or interval subscription) once its unregister (or remove)
    /// has returned, as the API allows.
    OwnerFree,
    /// The end of an `if` branch: skip the `else`.
    Goto,
    /// v5.12's `if (ret)` around the unwind walk: skip it if every non-blocking start succeeded.
    SkipUnwind,
    /// The OOM reaper's `if (mmu_notifier_invalidate_range_start_nonblock(...)) { ret = false;
    /// continue; }`: skip the unmap and the end if the start failed.
    SkipIfStartFailed,
    /// `mn_itree_inv_start_range()` under the lock: `active++`, find the first overlapping
    /// notifier, if any `seq |= 1`; remember `cur_seq`.
    ItreeStartBody,
    /// `mn_itree_inv_end()` under the lock, first half: `active--`; unless that reached 0 with
    /// `seq` odd, the function returns (to its `spin_unlock`).
    ItreeEndBody,
    /// `mn_itree_inv_end()`: `subscriptions->invalidate_seq++`. A step of its own: the v5.5
    /// remove reads `invalidate_seq` without the lock.
    ItreeSeqRelease,
    /// `mn_itree_inv_end()`: one entry of the deferred list, `interval_tree_insert()` or
    /// `interval_tree_remove()` on the subscription and `hlist_del()` of its entry, one entry
    /// per step; the step after the last goes on.
    ItreeDeferred,
    /// `__mmu_interval_notifier_insert()` under the lock: defer while invalidating, otherwise
    /// insert (setting `seq |= 1` if an invalidation is active); set the notifier's seq.
    ItreeInsertBody,
    /// `mmu_interval_notifier_remove()` under the lock: defer while invalidating (remember
    /// `seq`), cancel a pending deferred insert, or remove.
    ItreeRemoveBody,
    /// `mmu_interval_notifier_remove()` (v5.5-v5.17): `wait_event(wq,
    /// READ_ONCE(invalidate_seq) != seq)`, reading the seq without the lock.
    ItreeRemoveWait,
    /// `mmu_interval_notifier_remove()` (v5.18, 319561669a59): `wait_event(wq,
    /// mmu_interval_seq_released(...))`, which reads the seq under the lock.
    ItreeRemoveWaitLocked,
    /// Drain: `atomic_inc(&mm->emm_active)` at the start of a walk window.
    GateEnter,
    /// Drain: `if (READ_ONCE(mm->emm_stopping))` back off, else enter the window.
    GateCheck,
    /// Drain: back off, `atomic_dec(&mm->emm_active)`.
    GateBackoff,
    /// Drain: `wait_event(!mm->emm_stopping)`, then try to enter again.
    GateWait,
    /// Drain: `atomic_dec(&mm->emm_active)` at the end of a walk window.
    GateExit,
    /// Drain, registrar side: `mm->emm_stopping = 1`.
    GateStop,
    /// Drain, registrar side: `wait_event(atomic_read(&mm->emm_active) == 0)`.
    GateDrain,
    /// Drain, registrar side: `mm->emm_stopping = 0`, wake the waiters.
    GateResume,
    /// KVM fault: `s = kvm->mmu_invalidate_seq` (waits while `in_progress > 0`: such a
    /// snapshot can only end in a retry).
    Snapshot,
    /// Fault: read the primary PTE with no lock held (`get_user_pages_fast()`, v2.6.28 on;
    /// `hmm_range_fault()`'s page walk): a `READ_ONCE()` of the PTE.
    ReadPte,
    /// Fault: read the primary PTE under the page table lock (`get_user_pages()`'s
    /// `follow_page()`, v2.6.27's KVM: "implicit mb(), we'll read before PT lock is unlocked").
    ReadPteLocked,
    /// A barrier, as the version writes it (`smp_rmb()` in KVM's fault, the drain's full
    /// barriers). Under sequential consistency it orders nothing, and the checker drops it.
    Barrier(Barrier),
    /// KVM fault, under the driver's lock: `if (in_progress || seq != s) retry; install`.
    CheckInstall,
    /// `mmu_interval_read_begin()`: `s = sub->invalidate_seq`, invalidating if it equals the
    /// subscriptions' seq. One step: a read-only section under the subscriptions lock.
    ReadBegin,
    /// `mmu_interval_read_begin()`: `wait_event(wq, invalidate_seq != s)`.
    ReadBeginWait,
    /// Interval fault, under the driver's lock: `if (mmu_interval_read_retry(sub, s)) retry;
    /// install`.
    ReadRetryInstall,
}

/// A barrier of the kernel's memory model (`Documentation/memory-barriers.txt`): the
/// protocols' programs have them as steps, and `emm-check litmus` reads them in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Barrier {
    /// `smp_mb()`: orders every access before it against every access after it.
    Mb,
    /// `smp_wmb()`: orders stores before it against stores after it.
    Wmb,
    /// `smp_rmb()`: orders loads before it against loads after it.
    Rmb,
    /// `smp_mb__before_atomic()`: a full barrier before a non-returning atomic.
    MbBeforeAtomic,
    /// `smp_mb__after_atomic()`: a full barrier after a non-returning atomic.
    MbAfterAtomic,
    /// `smp_mb__after_spinlock()`: a full barrier after a `spin_lock()`.
    MbAfterSpinlock,
    /// `smp_mb__after_unlock_lock()`: a full barrier after an unlock and a lock.
    MbAfterUnlockLock,
    /// `smp_mb__after_srcu_read_unlock()`: a full barrier after an `srcu_read_unlock()`.
    MbAfterSrcuReadUnlock,
}

impl Barrier {
    /// Every barrier.
    pub const ALL: [Barrier; 8] = [
        Barrier::Mb,
        Barrier::Wmb,
        Barrier::Rmb,
        Barrier::MbBeforeAtomic,
        Barrier::MbAfterAtomic,
        Barrier::MbAfterSpinlock,
        Barrier::MbAfterUnlockLock,
        Barrier::MbAfterSrcuReadUnlock,
    ];

    /// The kernel's name of the barrier (`smp_mb`).
    pub fn name(self) -> &'static str {
        self.call().trim_end_matches("()")
    }

    /// The barrier as a statement (`smp_mb()`).
    pub fn call(self) -> &'static str {
        match self {
            Barrier::Mb => "smp_mb()",
            Barrier::Wmb => "smp_wmb()",
            Barrier::Rmb => "smp_rmb()",
            Barrier::MbBeforeAtomic => "smp_mb__before_atomic()",
            Barrier::MbAfterAtomic => "smp_mb__after_atomic()",
            Barrier::MbAfterSpinlock => "smp_mb__after_spinlock()",
            Barrier::MbAfterUnlockLock => "smp_mb__after_unlock_lock()",
            Barrier::MbAfterSrcuReadUnlock => "smp_mb__after_srcu_read_unlock()",
        }
    }

    /// The barrier called `name` (`smp_mb`), if it is one.
    pub fn from_name(name: &str) -> Option<Barrier> {
        Barrier::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// How a step touches a location that another thread accesses without the lock it holds: the
/// kernel's access kind, which decides what the memory model lets it see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// A plain C load or store (the model treats it as `READ_ONCE`/`WRITE_ONCE`, without
    /// LKMM's data-race check).
    Plain,
    /// `READ_ONCE()`.
    ReadOnce,
    /// `WRITE_ONCE()`.
    WriteOnce,
    /// `rcu_dereference()` (`srcu_dereference()`, `hlist_for_each_entry_rcu()`'s loads).
    RcuDereference,
    /// `rcu_assign_pointer()`.
    RcuAssignPointer,
    /// A non-returning atomic (`atomic_inc()`, `atomic_dec()`): unordered.
    AtomicRmw,
    /// A value-returning atomic (`atomic_dec_and_test()`): a full barrier on each side.
    AtomicRmwReturn,
    /// `atomic_read()`: a `READ_ONCE()` of the counter.
    AtomicRead,
    /// Loads and stores inside a critical section of a lock whose every writer holds it: the
    /// lock's acquire and release order them.
    Locked,
}

impl Access {
    /// The kind in the kernel's words.
    pub fn name(self) -> &'static str {
        match self {
            Access::Plain => "plain",
            Access::ReadOnce => "READ_ONCE",
            Access::WriteOnce => "WRITE_ONCE",
            Access::RcuDereference => "rcu_dereference",
            Access::RcuAssignPointer => "rcu_assign_pointer",
            Access::AtomicRmw => "non-returning atomic",
            Access::AtomicRmwReturn => "value-returning atomic",
            Access::AtomicRead => "atomic_read",
            Access::Locked => "under its lock",
        }
    }
}

impl Op {
    /// The kernel access kind of the step's shared access, where it has one whose ordering
    /// matters: what traces under `--memory lkmm` show beside the step.
    pub fn access(self) -> Option<Access> {
        Some(match self {
            Op::Walk { .. } => Access::RcuDereference,
            Op::Publish | Op::HlistAddPublish { rcu: true } => Access::RcuAssignPointer,
            Op::LinkNext
            | Op::NextToHead
            | Op::Unlink
            | Op::HlistAddInit
            | Op::HlistAddPublish { rcu: false } => Access::Plain,
            Op::HlistDelRcu | Op::HlistDelInitRcu | Op::UnlinkAll => Access::WriteOnce,
            Op::GateEnter | Op::GateBackoff | Op::GateExit => Access::AtomicRmw,
            Op::GateCheck | Op::GateWait => Access::ReadOnce,
            Op::GateDrain => Access::AtomicRead,
            Op::GateStop | Op::GateResume => Access::WriteOnce,
            Op::Snapshot => Access::Plain,
            Op::ReadPte => Access::ReadOnce,
            Op::ItreeRemoveWait | Op::ReadBeginWait => Access::ReadOnce,
            Op::Zap(_)
            | Op::UnmapPte
            | Op::FreeFrames
            | Op::ReadPteLocked
            | Op::CheckInstall
            | Op::ReadRetryInstall
            | Op::ReadBegin
            | Op::ItreeStartBody
            | Op::ItreeEndBody
            | Op::ItreeSeqRelease
            | Op::ItreeDeferred
            | Op::ItreeInsertBody
            | Op::ItreeRemoveBody
            | Op::ItreeRemoveWaitLocked
            | Op::TakeFirst
            | Op::DropMirror => Access::Locked,
            _ => return None,
        })
    }

    /// The step in the kernel's words, without the state it acts on (the model's traces add
    /// the nodes, frames and values, and name each version's locks).
    pub fn kernel_text(self) -> &'static str {
        match self {
            Op::Walk { callback, .. } => callback.kernel_name(),
            Op::Zap(_) => "zap PTE",
            Op::Free(_) => "free the zapped frame",
            Op::FreeFrames => "exit_mmap: free the frames",
            Op::UnmapPte => "unmap_page_range: clear PTE",
            Op::MmapSemLock => "down_write(mmap_sem)",
            Op::MmapSemUnlock => "up_write(mmap_sem)",
            Op::MmapReadLock => "down_read(mmap_sem)",
            Op::MmapReadTrylock => "down_read_trylock(mmap_sem)",
            Op::MmapReadUnlock => "up_read(mmap_sem)",
            Op::RmapReadLock => "rmap lock (read)",
            Op::RmapReadUnlock => "rmap unlock",
            Op::TakeAllLocks => "mm_take_all_locks",
            Op::DropAllLocks => "mm_drop_all_locks",
            Op::VmaStartWrite => "mm_take_all_locks: vma_start_write",
            Op::VmaEndWriteAll => "mm_drop_all_locks: vma_end_write_all",
            Op::LockVmaUnderRcu => "lock_vma_under_rcu",
            Op::FaultUnlock => "vma_end_read / mmap_read_unlock",
            Op::SpinLock => "spin_lock",
            Op::SpinUnlock => "spin_unlock",
            Op::ReadSideLock => "srcu_read_lock",
            Op::ReadSideUnlock => "srcu_read_unlock",
            Op::SynchronizeStart => "synchronize_srcu: readers to wait for",
            Op::SynchronizeWait => "synchronize_srcu: those readers gone",
            Op::DropMirror => "owner: drop the mirror",
            Op::LinkNext => "e->next = head",
            Op::Publish => "rcu_assign_pointer(head, e)",
            Op::HlistAddInit => "hlist_add_head: n->next = first, n->pprev = &h->first",
            Op::HlistAddPublish { rcu: true } => {
                "hlist_add_head_rcu: rcu_assign_pointer(h->first, n)"
            }
            Op::HlistAddPublish { rcu: false } => "hlist_add_head: h->first = n",
            Op::Unlink => "unlink e",
            Op::NextToHead => "e->next = head (after unlink)",
            Op::CallOwn(callback) | Op::CallTaken(callback) => callback.kernel_name(),
            Op::CheckHashed => "hlist_unhashed(e)",
            Op::HlistDelRcu => "hlist_del_rcu(e)",
            Op::HlistDelInitRcu => "hlist_del_init_rcu(e)",
            Op::TakeFirst => "mn = first",
            Op::LoopBack => "loop",
            Op::UnlinkAll => "hlist_del_init_rcu(first)",
            Op::OwnerFree => "owner: kfree(e)",
            Op::Goto => "else",
            Op::SkipUnwind => "if (ret): unwind",
            Op::SkipIfStartFailed => "if (start failed) skip",
            Op::ItreeStartBody => "mn_itree_inv_start_range",
            Op::ItreeEndBody => "mn_itree_inv_end: active--",
            Op::ItreeSeqRelease => "mn_itree_inv_end: invalidate_seq++",
            Op::ItreeDeferred => "mn_itree_inv_end: deferred list",
            Op::ItreeInsertBody => "__mmu_interval_notifier_insert",
            Op::ItreeRemoveBody => "mmu_interval_notifier_remove",
            Op::ItreeRemoveWait => "remove: wait for READ_ONCE(seq) to move",
            Op::ItreeRemoveWaitLocked => "remove: wait for seq to move (under the lock)",
            Op::GateEnter => "atomic_inc(emm_active)",
            Op::GateCheck => "check emm_stopping",
            Op::GateBackoff => "emm_stopping: atomic_dec(emm_active)",
            Op::GateWait => "wait for !emm_stopping",
            Op::GateExit => "atomic_dec(emm_active)",
            Op::GateStop => "emm_stopping = 1",
            Op::GateDrain => "wait for emm_active == 0",
            Op::GateResume => "emm_stopping = 0",
            Op::Snapshot => "fault: s = seq",
            Op::ReadPte => "fault: read PTE",
            Op::ReadPteLocked => "fault: read PTE under the PTL",
            Op::Barrier(b) => b.call(),
            Op::CheckInstall => "fault: lock; check; install",
            Op::ReadBegin => "fault: mmu_interval_read_begin",
            Op::ReadBeginWait => "read_begin: wait for seq to move",
            Op::ReadRetryInstall => "fault: lock; mmu_interval_read_retry; install",
        }
    }

    /// A walk that loads `head`, calls every node, and accumulates nothing: the form most
    /// versions' walkers have.
    pub const fn walk(callback: Callback) -> Op {
        Op::Walk {
            callback,
            resume: false,
            early_return: false,
            nonblock: false,
            snapshot: false,
        }
    }

    /// A walk of an invalidation window that walks one snapshot of the chain: its section's
    /// first walk loads `head`, the others start where that one did.
    pub const fn snapshot_walk(callback: Callback) -> Op {
        Op::Walk {
            callback,
            resume: false,
            early_return: false,
            nonblock: false,
            snapshot: true,
        }
    }
}
