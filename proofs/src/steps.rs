//! The kernel steps that the actors of the protocols take, by name.
//!
//! The model's programs are lists of these steps (`emm_model::program`), the implementation's
//! trace records them ([`crate::trace`]), and a trace of one is checked against the other by
//! these names. Each step is one indivisible action of the model; where the kernel's code is
//! several statements, the model's program says why merging them is sound.

use crate::Callback;

/// One step (or, for [`Op::Walk`], one walk) of an actor's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A walk over the chain delivering `callback` to each notifier. With `resume`, the walk
    /// starts at the node an earlier op already loaded (interval notifiers find the first node
    /// under the subscriptions lock), otherwise its first step loads `head`.
    Walk {
        /// What the walk delivers.
        callback: Callback,
        /// Continue from the node already loaded instead of loading `head`.
        resume: bool,
    },
    /// Zap the PTE of invalidation `level` (0 outer, 1 nested): remember the old frame and map
    /// a fresh one (if the page is still mapped).
    Zap(u8),
    /// Free the frame that invalidation `level` zapped.
    Free(u8),
    /// Teardown frees the address space's frames: the PTE is cleared and its frame freed.
    FreeFrames,
    /// Teardown's `unmap_vmas()` inside an invalidation: clear the PTE, remembering the frame
    /// for the free after the invalidation ends.
    UnmapPte,
    /// `down_write(&mm->mmap_sem)` (blocks while held).
    MmapSemLock,
    /// `up_write(&mm->mmap_sem)`.
    MmapSemUnlock,
    /// Take the page's reverse-map lock for read (`anon_vma_lock_read` in `try_to_unmap`).
    RmapReadLock,
    /// Drop the reverse-map lock taken for read.
    RmapReadUnlock,
    /// `mm_take_all_locks()`: every reverse-map lock for write (blocks while any is held).
    TakeAllLocks,
    /// `mm_drop_all_locks()`.
    DropAllLocks,
    /// `spin_lock()` of the notifier list (`mmu_notifier_mm->lock`, or the interval
    /// `subscriptions->lock`).
    SpinLock,
    /// `spin_unlock()` of that lock.
    SpinUnlock,
    /// `srcu_read_lock(&srcu)`: join the current grace-period index.
    SrcuReadLock,
    /// `srcu_read_unlock(&srcu, idx)`.
    SrcuReadUnlock,
    /// `synchronize_srcu()`, first half: take the SRCU mutex and flip the index.
    SynchronizeSrcuFlip,
    /// `synchronize_srcu()`, second half: wait until no reader of the old index remains.
    SynchronizeSrcuWait,
    /// The owner, before it unregisters, stops its device using the range: the driver drops
    /// its mirror under its lock. For the protocols whose unregister sends no `release`
    /// (`rcu-publish`, interval notifiers), this is how a driver ends its mirror.
    DropMirror,
    /// `e->next = mm->emm_notifier` (register). One step: `head` only changes under
    /// `mmap_sem`, which this thread holds, and `e` is not yet published.
    LinkNext,
    /// `rcu_assign_pointer(mm->emm_notifier, e)`: publish `e` at the head.
    Publish,
    /// `hlist_add_head_rcu(&e->hlist, &mm->mmu_notifier_mm->list)`: `e->next = first` and the
    /// publish of `e`. One step: the list only changes under the notifier lock, which this
    /// thread holds, and `e` is private until the publish.
    HlistAddHeadRcu,
    /// The seed's unlink: `if (head == e) head = e->next; else { find p; p->next = e->next; }`.
    /// One store step: the loads before the store read links that only change under
    /// `mmap_sem`, which this thread holds.
    Unlink,
    /// The seed's `e->next = mm->emm_notifier` after the unlink.
    NextToHead,
    /// Call `callback` on the thread's own notifier (`e->callback(e, mm, emm_release, ...)`,
    /// `ops->release()` in unregister, `emm_stop` of the new notifier).
    CallOwn(Callback),
    /// `if (!hlist_unhashed(&subscription->hlist))`: skip the release and the unlink if
    /// teardown already unlinked the notifier.
    CheckHashed,
    /// `hlist_del_init_rcu()`: unlink, keeping the forward pointer.
    HlistDelInitRcu,
    /// Teardown's loop `while (!hlist_empty) hlist_del_init_rcu(first)`: one node per step.
    UnlinkAll,
    /// `mn_itree_inv_start_range()` under the lock: `active++`, find the first overlapping
    /// notifier, if any `seq |= 1`; remember `cur_seq`.
    ItreeStartBody,
    /// `mn_itree_inv_end()` under the lock: `active--`; at 0 with `seq` odd, `seq++` and apply
    /// the deferred inserts and removes.
    ItreeEndBody,
    /// `__mmu_interval_notifier_insert()` under the lock: defer while invalidating, otherwise
    /// insert (setting `seq |= 1` if an invalidation is active); set the notifier's seq.
    ItreeInsertBody,
    /// `mmu_interval_notifier_remove()` under the lock: defer while invalidating (remember
    /// `seq`), cancel a pending deferred insert, or remove.
    ItreeRemoveBody,
    /// `mmu_interval_notifier_remove()`: `wait_event(wq, invalidate_seq != seq)`.
    ItreeRemoveWait,
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
    /// Fault: read the primary PTE, no lock held.
    ReadPte,
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

impl Op {
    /// The step in the kernel's words, without the state it acts on (the model's traces add
    /// the nodes, frames and values).
    pub fn kernel_text(self) -> &'static str {
        match self {
            Op::Walk { callback, .. } => callback.kernel_name(),
            Op::Zap(_) => "zap PTE",
            Op::Free(_) => "free the zapped frame",
            Op::FreeFrames => "exit_mmap: free the frames",
            Op::UnmapPte => "unmap_vmas: clear PTE",
            Op::MmapSemLock => "down_write(mmap_sem)",
            Op::MmapSemUnlock => "up_write(mmap_sem)",
            Op::RmapReadLock => "rmap lock (read)",
            Op::RmapReadUnlock => "rmap unlock",
            Op::TakeAllLocks => "mm_take_all_locks",
            Op::DropAllLocks => "mm_drop_all_locks",
            Op::SpinLock => "spin_lock",
            Op::SpinUnlock => "spin_unlock",
            Op::SrcuReadLock => "srcu_read_lock",
            Op::SrcuReadUnlock => "srcu_read_unlock",
            Op::SynchronizeSrcuFlip => "synchronize_srcu: flip index",
            Op::SynchronizeSrcuWait => "synchronize_srcu: old readers gone",
            Op::DropMirror => "owner: drop the mirror",
            Op::LinkNext => "e->next = head",
            Op::Publish => "rcu_assign_pointer(head, e)",
            Op::HlistAddHeadRcu => "hlist_add_head_rcu(e)",
            Op::Unlink => "unlink e",
            Op::NextToHead => "e->next = head (after unlink)",
            Op::CallOwn(callback) => callback.kernel_name(),
            Op::CheckHashed => "hlist_unhashed(e)",
            Op::HlistDelInitRcu => "hlist_del_init_rcu(e)",
            Op::UnlinkAll => "hlist_del_init_rcu(first)",
            Op::ItreeStartBody => "mn_itree_inv_start_range",
            Op::ItreeEndBody => "mn_itree_inv_end",
            Op::ItreeInsertBody => "__mmu_interval_notifier_insert",
            Op::ItreeRemoveBody => "mmu_interval_notifier_remove",
            Op::ItreeRemoveWait => "remove: wait for seq to move",
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
            Op::CheckInstall => "fault: lock; check; install",
            Op::ReadBegin => "fault: mmu_interval_read_begin",
            Op::ReadBeginWait => "read_begin: wait for seq to move",
            Op::ReadRetryInstall => "fault: lock; mmu_interval_read_retry; install",
        }
    }
}
