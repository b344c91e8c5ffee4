//! Each actor's program: the kernel steps it takes, in order, for each variant.
//!
//! A thread's program counter indexes its program. A [`Op::Walk`] is several steps (load the
//! head, call one notifier, load its `next`, ...), tracked by the thread's walk position. Every
//! other op is one step. Where two kernel statements are merged into one op, the op says why
//! that is sound: the merged part only touches memory that no other thread can write at that
//! moment (a lock the thread holds protects it, or it is not yet published).

use crate::config::{Config, Variant};
use emm_proofs::Callback;

/// One step (or, for [`Op::Walk`], one walk) of an actor's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The programs of every role for one variant and configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programs {
    /// A VM thread's invalidation (with the nested one inside, if configured).
    pub vm: Vec<Op>,
    /// A registrar's `register`.
    pub reg: Vec<Op>,
    /// An unregistrar's `unregister`.
    pub unreg: Vec<Op>,
    /// A newly registered notifier's driver: one fault of the page.
    pub drv: Vec<Op>,
    /// `exit_mmap`.
    pub teardown: Vec<Op>,
    /// The aging walk.
    pub aging: Vec<Op>,
}

const GATE_ENTRY: [Op; 4] = [Op::GateEnter, Op::GateCheck, Op::GateBackoff, Op::GateWait];

fn walk(callback: Callback) -> Op {
    Op::Walk {
        callback,
        resume: false,
    }
}

/// One invalidation at `level`, with `inner` nested between its start walk and its zap.
fn invalidation(variant: Variant, level: u8, inner: &[Op]) -> Vec<Op> {
    use Callback::{Invalidate, InvalidateEnd, InvalidateStart};
    let mut p = Vec::new();
    match variant {
        Variant::RcuPublish | Variant::EmmStopStart | Variant::EmmStopDrainStart => {
            // rcu_read_lock() around the walks is not modelled: nothing in these variants
            // waits for a grace period, so it constrains no interleaving.
            p.push(walk(InvalidateStart));
            p.extend_from_slice(inner);
            p.push(Op::Zap(level));
            p.push(walk(InvalidateEnd));
        }
        Variant::TakeAllLocks => {
            p.extend([
                Op::RmapReadLock,
                Op::SrcuReadLock,
                walk(InvalidateStart),
                Op::SrcuReadUnlock,
            ]);
            p.extend_from_slice(inner);
            p.extend([
                Op::Zap(level),
                Op::SrcuReadLock,
                walk(InvalidateEnd),
                Op::SrcuReadUnlock,
                Op::RmapReadUnlock,
            ]);
        }
        Variant::IntervalSeq => {
            p.extend([
                Op::SpinLock,
                Op::ItreeStartBody,
                Op::SpinUnlock,
                Op::Walk {
                    callback: Invalidate,
                    resume: true,
                },
            ]);
            p.extend_from_slice(inner);
            p.extend([
                Op::Zap(level),
                Op::SpinLock,
                Op::ItreeEndBody,
                Op::SpinUnlock,
            ]);
        }
    }
    p
}

impl Programs {
    /// Builds the programs of `variant` for `config`.
    pub fn new(variant: Variant, config: &Config) -> Programs {
        use Callback::{ClearYoung, Release, Start, Stop};
        let vm = {
            let inner = if config.nested {
                let mut inner = invalidation(variant, 1, &[]);
                inner.push(Op::Free(1));
                inner
            } else {
                Vec::new()
            };
            let mut p = Vec::new();
            if variant == Variant::EmmStopDrainStart {
                p.extend(GATE_ENTRY);
            }
            p.extend(invalidation(variant, 0, &inner));
            if variant == Variant::EmmStopDrainStart {
                p.push(Op::GateExit);
            }
            p.push(Op::Free(0));
            p
        };
        let kvm_fault = vec![Op::Snapshot, Op::ReadPte, Op::CheckInstall];
        match variant {
            Variant::RcuPublish => Programs {
                vm,
                reg: vec![
                    Op::MmapSemLock,
                    Op::LinkNext,
                    Op::Publish,
                    Op::MmapSemUnlock,
                ],
                unreg: vec![
                    Op::DropMirror,
                    Op::MmapSemLock,
                    Op::Unlink,
                    Op::MmapSemUnlock,
                ],
                drv: kvm_fault,
                teardown: vec![walk(Release), Op::FreeFrames],
                aging: vec![walk(ClearYoung)],
            },
            Variant::EmmStopStart => Programs {
                vm,
                reg: vec![
                    Op::MmapSemLock,
                    walk(Stop),
                    Op::LinkNext,
                    Op::Publish,
                    walk(Start),
                    Op::MmapSemUnlock,
                ],
                unreg: vec![
                    Op::MmapSemLock,
                    walk(Stop),
                    Op::Unlink,
                    Op::NextToHead,
                    walk(Start),
                    Op::CallOwn(Release),
                    Op::MmapSemUnlock,
                ],
                drv: kvm_fault,
                teardown: vec![walk(Release), Op::FreeFrames],
                aging: vec![walk(ClearYoung)],
            },
            Variant::EmmStopDrainStart => Programs {
                vm,
                reg: vec![
                    Op::MmapSemLock,
                    Op::GateStop,
                    Op::GateDrain,
                    walk(Stop),
                    // The added line: the new notifier is stopped like the others, so the
                    // emm_start walk below restarts exactly the notifiers it stopped.
                    Op::CallOwn(Stop),
                    Op::LinkNext,
                    Op::Publish,
                    walk(Start),
                    Op::GateResume,
                    Op::MmapSemUnlock,
                ],
                unreg: vec![
                    Op::MmapSemLock,
                    Op::GateStop,
                    Op::GateDrain,
                    walk(Stop),
                    Op::Unlink,
                    // Kept from the seed. Harmless once drained: no walk can stand on `e`.
                    Op::NextToHead,
                    walk(Start),
                    Op::CallOwn(Release),
                    Op::GateResume,
                    Op::MmapSemUnlock,
                ],
                drv: kvm_fault,
                teardown: [
                    &GATE_ENTRY[..],
                    &[walk(Release), Op::GateExit, Op::FreeFrames],
                ]
                .concat(),
                aging: [&GATE_ENTRY[..], &[walk(ClearYoung), Op::GateExit]].concat(),
            },
            Variant::TakeAllLocks => Programs {
                vm,
                reg: vec![
                    Op::MmapSemLock,
                    Op::TakeAllLocks,
                    Op::SpinLock,
                    Op::HlistAddHeadRcu,
                    Op::SpinUnlock,
                    Op::DropAllLocks,
                    Op::MmapSemUnlock,
                ],
                unreg: vec![
                    Op::CheckHashed,
                    Op::SrcuReadLock,
                    Op::CallOwn(Release),
                    Op::SrcuReadUnlock,
                    Op::SpinLock,
                    Op::HlistDelInitRcu,
                    Op::SpinUnlock,
                    Op::SynchronizeSrcuFlip,
                    Op::SynchronizeSrcuWait,
                ],
                drv: kvm_fault,
                teardown: vec![
                    Op::SrcuReadLock,
                    walk(Release),
                    Op::SpinLock,
                    Op::UnlinkAll,
                    Op::SpinUnlock,
                    Op::SrcuReadUnlock,
                    Op::SynchronizeSrcuFlip,
                    Op::SynchronizeSrcuWait,
                    Op::FreeFrames,
                ],
                aging: vec![Op::SrcuReadLock, walk(ClearYoung), Op::SrcuReadUnlock],
            },
            Variant::IntervalSeq => Programs {
                vm,
                reg: vec![Op::SpinLock, Op::ItreeInsertBody, Op::SpinUnlock],
                unreg: vec![
                    Op::DropMirror,
                    Op::SpinLock,
                    Op::ItreeRemoveBody,
                    Op::SpinUnlock,
                    Op::ItreeRemoveWait,
                ],
                drv: vec![
                    Op::ReadBegin,
                    Op::ReadBeginWait,
                    Op::ReadPte,
                    Op::ReadRetryInstall,
                ],
                // exit_mmap(): mn_itree_release() is an invalidation with MMU_NOTIFY_RELEASE
                // over everything; then unmap_vmas() clears the PTEs inside an ordinary
                // invalidation, and the pages are freed after it ends.
                teardown: vec![
                    Op::SpinLock,
                    Op::ItreeStartBody,
                    Op::SpinUnlock,
                    Op::Walk {
                        callback: Release,
                        resume: true,
                    },
                    Op::SpinLock,
                    Op::ItreeEndBody,
                    Op::SpinUnlock,
                    Op::SpinLock,
                    Op::ItreeStartBody,
                    Op::SpinUnlock,
                    Op::Walk {
                        callback: Callback::Invalidate,
                        resume: true,
                    },
                    Op::UnmapPte,
                    Op::SpinLock,
                    Op::ItreeEndBody,
                    Op::SpinUnlock,
                    Op::Free(0),
                ],
                aging: Vec::new(),
            },
        }
    }
}
