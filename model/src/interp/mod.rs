//! The interpreter: which steps are enabled, and what each one does to the state, with the
//! kernel's semantics for every lock, list and read side (under sequential consistency).
//!
//! Locks. `mmap_sem`, and the `anon_vma` and VMA locks where they are rwsems, take a writer in
//! one step when free; a writer that finds them held queues (the thread's `QUEUED` flag and the
//! lock's waiting count) and takes them in a second step once free. A new reader waits behind
//! a queued writer up to v5.10, and may take a free lock past one from v5.11
//! ([`ReaderAdmission`]). The spinlock `L`, and the `anon_vma` lock where it is a spinlock or
//! a mutex, are plain exclusive locks.
//!
//! Read sides. `synchronize_{s,}rcu()` is two steps: the first marks every thread inside a
//! read-side section now with the synchronizer's grace-period bit, the second waits until no
//! thread carries it; leaving a section (depth 0) clears a thread's bits. A section that begins
//! after the first step is not waited for.
//!
//! Lists. `hlist_*` follow `include/linux/list.h`: `__hlist_del()` writes `*pprev`, faulting
//! (the thread oopses: it stops, keeping what it holds) where `pprev` is `NULL` or
//! `LIST_POISON2`; a walk that loads a freed node's `next` or calls it faults likewise.

mod primitives;
pub mod weak;

use crate::model::{EmmModel, Step};
use crate::state::{
    flags, State, Thread, WalkPc, NIL, PPREV_HEAD, PPREV_NULL, PPREV_POISON, SNAP_EMPTY,
};
use emm_proofs::{Callback, Family, FaultKind, Op, Role};

/// The node a walk that loads its start from `s` begins at: `head`, or for a snapshot walk
/// (`ours@rcu-window`) the snapshot its read-side section took, if an earlier walk took one.
pub(crate) fn walk_head(s: &State, th: &Thread, snapshot: bool) -> u8 {
    let taken = th
        .depth
        .checked_sub(1)
        .and_then(|level| th.snap.get(level as usize))
        .filter(|&&x| snapshot && x != NIL);
    match taken {
        Some(&SNAP_EMPTY) => NIL,
        Some(&x) => x,
        None => s.head,
    }
}

/// The first `invalidate_seq` of an interval-notifier mm (the kernel starts at 2).
pub(crate) const ITREE_INITIAL_SEQ: u8 = 2;

use primitives::{bit, Returned};
use weak::Condition;

impl EmmModel {
    /// Whether thread `t` can take its next step.
    pub fn enabled(&self, s: &State, t: usize) -> bool {
        let program = self.program(t);
        let th = &s.threads[t];
        let Some(&op) = program.get(th.pc as usize) else {
            return false;
        };
        if th.flags & flags::FAULTED != 0 {
            return false;
        }
        let actor = self.actors()[t];
        if !th.started() {
            // A new notifier's driver faults only once its register returned; exit_mmap runs
            // only once no register is running (register needs a reference on mm_users).
            match actor.id.role {
                Role::Drv if !self.role_done(s, Role::Reg, Some(actor.notifier)) => return false,
                Role::Teardown if !self.role_done(s, Role::Reg, None) => return false,
                _ => {}
            }
        }
        let own = self.own(s, t);
        let queued = th.flags & flags::QUEUED != 0;
        match op {
            Op::Walk { callback, .. } => match th.wpc {
                WalkPc::Call => !self.blocked(s, th.cursor, callback),
                WalkPc::Wait => s.drivers[th.cursor as usize].in_progress <= 0,
                _ => true,
            },
            Op::MmapSemLock => !queued || (!s.mmap_sem && s.mmap_readers == 0),
            Op::MmapReadLock => !s.mmap_sem && self.admits_reader(s.mmap_readers, s.mmap_waiting),
            Op::RmapReadLock if self.rmap_exclusive() => !s.rmap_writer && s.rmap_readers == 0,
            Op::RmapReadLock => {
                !s.rmap_writer && self.admits_reader(s.rmap_readers, s.rmap_waiting)
            }
            Op::TakeAllLocks if self.rmap_exclusive() => !s.rmap_writer && s.rmap_readers == 0,
            Op::TakeAllLocks => !queued || (!s.rmap_writer && s.rmap_readers == 0),
            Op::VmaStartWrite => !queued || s.vma_readers == 0,
            Op::SpinLock => !s.spin,
            Op::SynchronizeWait => {
                let slot = self.grace_period_slot(t);
                s.threads[..self.actors().len()]
                    .iter()
                    .all(|u| u.gp & bit(slot) == 0)
            }
            Op::CallOwn(cb) | Op::CallTaken(cb) => !self.blocked(s, own, cb),
            Op::ItreeRemoveWait => {
                th.slot == 0
                    || self.may_load(
                        s,
                        t,
                        weak::ITREE_SEQ,
                        Condition::Not(th.slot),
                        s.itree_seq != th.slot,
                    )
            }
            Op::ItreeRemoveWaitLocked => th.slot == 0 || (!s.spin && s.itree_seq != th.slot),
            Op::GateWait => self.may_load(s, t, weak::STOPPING, Condition::Zero, !s.emm_stopping),
            Op::GateDrain => self.may_load(s, t, weak::ACTIVE, Condition::Zero, s.emm_active == 0),
            Op::Snapshot => {
                let d = &s.drivers[own as usize];
                d.in_progress <= 0 || d.released
            }
            Op::CheckInstall => !s.drivers[own as usize].stopped,
            Op::ReadBegin => !s.spin,
            Op::ReadBeginWait => self.may_load(
                s,
                t,
                weak::ITREE_SEQ,
                Condition::Not(th.slot),
                s.itree_seq != th.slot,
            ),
            _ => true,
        }
    }

    /// Thread `t` takes its next step, its loads reading the last stores. Call only when
    /// [`enabled`](Self::enabled).
    pub fn apply(&self, s: &State, t: usize) -> State {
        self.apply_step(s, Step::of(t))
    }

    /// Takes `step`, one of those [`push_steps`](Self::push_steps) gives.
    pub fn apply_step(&self, s: &State, step: Step) -> State {
        let (t, back) = (step.thread as usize, step.read);
        let before = s;
        let mut s = s.clone();
        let program = self.program_of(t);
        let ops = &program.ops;
        let e = self.own(&s, t);
        let pc = s.threads[t].pc as usize;
        let op = ops[pc];
        // Only these ops can take a notifier out of the chain; walks under way then no longer
        // have to call it.
        let unlinks = matches!(
            op,
            Op::Unlink
                | Op::HlistDelRcu
                | Op::HlistDelInitRcu
                | Op::UnlinkAll
                | Op::ItreeDeferred
                | Op::ItreeRemoveBody
        );
        let linked_before = if unlinks { s.linked() } else { 0 };
        let mut th = s.threads[t];
        if th.wpc == WalkPc::Done {
            // A finished walk stays visible (for walk_integrity) until its thread's next
            // step; after that its record is history that only splits states.
            th.wpc = WalkPc::Idle;
            th.called = 0;
            th.must = 0;
        }
        let jump = program.jump(pc);
        let mut next_pc = pc + 1;
        let mut fault = None;
        match op {
            Op::Walk {
                callback,
                resume,
                early_return,
                nonblock,
                snapshot,
            } => {
                next_pc = pc;
                match th.wpc {
                    WalkPc::Idle | WalkPc::Done if resume => {
                        // The locked lookup found no notifier in range: the loop ends at once.
                        next_pc = pc + 1;
                    }
                    WalkPc::Idle | WalkPc::Done => {
                        th.callback = callback;
                        th.called = 0;
                        th.cursor = walk_head(&s, &th, snapshot);
                        if self.weak_load(&s, t).is_some() {
                            // rcu_dereference(head): under lkmm, maybe an older head.
                            th.cursor = Self::load_link(&mut s, t, weak::HEAD, back, th.cursor);
                        }
                        if snapshot && th.depth > 0 {
                            // One snapshot per window: its first walk loads the head (one
                            // rcu_dereference), the others start from the same node, so a
                            // notifier published since is not theirs to call.
                            th.snap[(th.depth - 1) as usize] = match th.cursor {
                                NIL => SNAP_EMPTY,
                                x => x,
                            };
                            th.must = s.reachable_from(th.cursor) & s.linked();
                        } else {
                            // Those linked behind the node it loaded: every linked one when
                            // it loads the last head.
                            th.must = s.reachable_from(th.cursor) & s.linked();
                        }
                        if th.cursor == NIL {
                            th.wpc = WalkPc::Done;
                            next_pc = pc + 1;
                        } else {
                            th.wpc = WalkPc::Call;
                        }
                    }
                    WalkPc::Call => {
                        let n = th.cursor;
                        if s.freed_nodes & bit(n) != 0 {
                            fault = Some(FaultKind::Freed(n as usize));
                        } else {
                            let before = s.drivers[n as usize].seq;
                            let r = self.deliver(&mut s, n, callback, th.slot, nonblock);
                            self.driver_section(&mut s, t, n, before);
                            th.called |= bit(n);
                            if r == Returned::Again {
                                th.flags |= flags::START_FAILED;
                            }
                            let stop = early_return && r != Returned::Zero;
                            th.wpc = if stop {
                                next_pc = pc + 1;
                                WalkPc::Done
                            } else if callback == Callback::Stop {
                                WalkPc::Wait
                            } else {
                                WalkPc::LoadNext
                            };
                        }
                    }
                    WalkPc::Wait => th.wpc = WalkPc::LoadNext,
                    WalkPc::LoadNext => {
                        if s.freed_nodes & bit(th.cursor) != 0 {
                            fault = Some(FaultKind::Freed(th.cursor as usize));
                        } else {
                            let last = s.next[th.cursor as usize];
                            th.cursor =
                                Self::load_link(&mut s, t, weak::next(th.cursor), back, last);
                            if th.cursor == NIL {
                                th.wpc = WalkPc::Done;
                                next_pc = pc + 1;
                            } else {
                                th.wpc = WalkPc::Call;
                            }
                        }
                    }
                }
            }
            Op::Zap(level) => {
                th.old[level as usize] = s.pte;
                if s.pte != NIL {
                    s.pte = s.next_frame;
                    s.next_frame += 1;
                }
                let pte = s.pte;
                self.store_pte(&mut s, t, pte);
            }
            Op::Free(level) => {
                let f = th.old[level as usize];
                if f != NIL {
                    s.freed |= bit(f);
                }
                th.old[level as usize] = NIL;
            }
            Op::FreeFrames => {
                if s.pte != NIL {
                    s.freed |= bit(s.pte);
                    s.pte = NIL;
                    self.store_pte(&mut s, t, NIL);
                }
            }
            Op::UnmapPte => {
                th.old[0] = s.pte;
                s.pte = NIL;
                self.store_pte(&mut s, t, NIL);
            }
            Op::MmapSemLock => {
                let free = !s.mmap_sem && s.mmap_readers == 0;
                if th.flags & flags::QUEUED != 0 {
                    th.flags &= !flags::QUEUED;
                    s.mmap_waiting -= 1;
                    s.mmap_sem = true;
                } else if free && s.mmap_waiting == 0 {
                    s.mmap_sem = true;
                } else {
                    th.flags |= flags::QUEUED;
                    s.mmap_waiting += 1;
                    next_pc = pc;
                }
            }
            // mmap_write_unlock() also ends every VMA write lock (vma_end_write_all()).
            Op::MmapSemUnlock => {
                s.mmap_sem = false;
                s.vma_locked = false;
            }
            Op::MmapReadLock => s.mmap_readers += 1,
            Op::MmapReadTrylock => {
                if !s.mmap_sem && s.mmap_waiting == 0 {
                    s.mmap_readers += 1;
                } else {
                    next_pc = jump as usize;
                }
            }
            Op::MmapReadUnlock => s.mmap_readers -= 1,
            Op::RmapReadLock => s.rmap_readers += 1,
            Op::RmapReadUnlock => s.rmap_readers -= 1,
            Op::TakeAllLocks => {
                let free = !s.rmap_writer && s.rmap_readers == 0;
                if self.rmap_exclusive()
                    || th.flags & flags::QUEUED == 0 && free && s.rmap_waiting == 0
                {
                    s.rmap_writer = true;
                } else if th.flags & flags::QUEUED != 0 {
                    th.flags &= !flags::QUEUED;
                    s.rmap_waiting -= 1;
                    s.rmap_writer = true;
                } else {
                    th.flags |= flags::QUEUED;
                    s.rmap_waiting += 1;
                    next_pc = pc;
                }
            }
            Op::DropAllLocks => s.rmap_writer = false,
            Op::VmaStartWrite => {
                if s.vma_locked {
                    // Already write-locked by this mm's writer: nothing to do.
                } else if th.flags & flags::QUEUED != 0 {
                    th.flags &= !flags::QUEUED;
                    s.vma_waiting = false;
                    s.vma_locked = true;
                } else if s.vma_readers == 0 {
                    s.vma_locked = true;
                } else {
                    th.flags |= flags::QUEUED;
                    s.vma_waiting = true;
                    next_pc = pc;
                }
            }
            Op::VmaEndWriteAll => s.vma_locked = false,
            Op::LockVmaUnderRcu => {
                if !s.vma_locked && !s.vma_waiting {
                    s.vma_readers += 1;
                    th.flags |= flags::HOLDS_VMA;
                    next_pc = jump as usize;
                }
            }
            Op::FaultUnlock => {
                if th.flags & flags::HOLDS_VMA != 0 {
                    th.flags &= !flags::HOLDS_VMA;
                    s.vma_readers -= 1;
                } else {
                    s.mmap_readers -= 1;
                }
            }
            Op::SpinLock => s.spin = true,
            Op::SpinUnlock => s.spin = false,
            Op::ReadSideLock => th.depth += 1,
            Op::ReadSideUnlock => {
                // The section's snapshot ends with it.
                if let Some(snap) = th.snap.get_mut(th.depth.saturating_sub(1) as usize) {
                    *snap = NIL;
                }
                th.depth -= 1;
                if th.depth == 0 {
                    th.gp = 0;
                }
            }
            Op::SynchronizeStart => {
                let slot = bit(self.grace_period_slot(t));
                s.threads[t] = th;
                for u in s.threads[..self.actors().len()].iter_mut() {
                    if u.depth > 0 {
                        u.gp |= slot;
                    }
                }
                th = s.threads[t];
            }
            Op::SynchronizeWait => {}
            Op::DropMirror => s.drivers[e as usize].mirror = NIL,
            Op::LinkNext | Op::NextToHead => s.next[e as usize] = s.head,
            Op::Publish => {
                s.head = e;
                s.registered |= bit(e);
            }
            Op::HlistAddInit => {
                s.next[e as usize] = s.head;
                s.pprev[e as usize] = PPREV_HEAD;
            }
            Op::HlistAddPublish { .. } => {
                let first = s.next[e as usize];
                s.head = e;
                if first != NIL {
                    s.pprev[first as usize] = e;
                }
                s.registered |= bit(e);
            }
            Op::Unlink => {
                s.registered &= !bit(e);
                if let Err(kind) = Self::emm_unlink(&mut s, e) {
                    fault = Some(kind);
                }
            }
            Op::CallOwn(cb) | Op::CallTaken(cb) => {
                if s.freed_nodes & bit(e) != 0 {
                    fault = Some(FaultKind::Freed(e as usize));
                } else {
                    let before = s.drivers[e as usize].seq;
                    self.deliver(&mut s, e, cb, 0, false);
                    self.driver_section(&mut s, t, e, before);
                }
            }
            Op::CheckHashed => {
                if s.pprev[e as usize] == PPREV_NULL {
                    // Teardown unlinked it: skip release and unlink.
                    s.registered &= !bit(e);
                    next_pc = jump as usize;
                }
            }
            Op::HlistDelRcu => {
                s.registered &= !bit(e);
                match Self::hlist_del(&mut s, e) {
                    Ok(()) => s.pprev[e as usize] = PPREV_POISON,
                    Err(kind) => fault = Some(kind),
                }
            }
            Op::HlistDelInitRcu => {
                if self.actors()[t].id.role == Role::Unreg {
                    s.registered &= !bit(e);
                }
                if s.pprev[e as usize] != PPREV_NULL {
                    match Self::hlist_del(&mut s, e) {
                        Ok(()) => s.pprev[e as usize] = PPREV_NULL,
                        Err(kind) => fault = Some(kind),
                    }
                }
            }
            Op::TakeFirst => {
                if s.head == NIL {
                    th.cursor = NIL;
                    next_pc = jump as usize;
                } else {
                    th.cursor = s.head;
                }
            }
            Op::LoopBack | Op::Goto => next_pc = jump as usize,
            Op::UnlinkAll => {
                if s.head != NIL {
                    let first = s.head;
                    match Self::hlist_del(&mut s, first) {
                        Ok(()) => s.pprev[first as usize] = PPREV_NULL,
                        Err(kind) => fault = Some(kind),
                    }
                    next_pc = pc;
                }
            }
            Op::OwnerFree => s.freed_nodes |= bit(e),
            Op::SkipUnwind => {
                if th.flags & flags::START_FAILED == 0 {
                    next_pc = jump as usize;
                }
            }
            Op::SkipIfStartFailed => {
                if th.flags & flags::START_FAILED != 0 {
                    th.flags &= !flags::START_FAILED;
                    next_pc = jump as usize;
                }
            }
            Op::ItreeStartBody => {
                let seq_before = s.itree_seq;
                s.itree_active += 1;
                th.callback = walk_callback_from(ops, pc);
                th.called = 0;
                th.cursor = s.head;
                th.must = s.linked();
                if s.head != NIL {
                    s.itree_seq |= 1;
                    th.wpc = WalkPc::Call;
                } else {
                    th.wpc = WalkPc::Done;
                }
                th.slot = s.itree_seq;
                self.store_itree_seq(&mut s, t, seq_before);
            }
            Op::ItreeEndBody => {
                s.itree_active -= 1;
                th.slot = 0;
                if s.itree_active > 0 || s.itree_seq & 1 == 0 {
                    next_pc = jump as usize;
                }
            }
            Op::ItreeSeqRelease => {
                let seq_before = s.itree_seq;
                s.itree_seq = s.itree_seq.wrapping_add(1);
                self.store_itree_seq(&mut s, t, seq_before);
            }
            Op::ItreeDeferred => {
                let pending = s.deferred_insert | s.deferred_remove;
                if pending != 0 {
                    let n = pending.trailing_zeros() as u8;
                    if s.freed_nodes & bit(n) != 0 {
                        fault = Some(FaultKind::Freed(n as usize));
                    } else {
                        if s.deferred_insert & bit(n) != 0 {
                            Self::link_at_head(&mut s, n);
                        } else {
                            Self::itree_remove(&mut s, n);
                        }
                        s.deferred_insert &= !bit(n);
                        s.deferred_remove &= !bit(n);
                        next_pc = pc;
                    }
                }
            }
            Op::ItreeInsertBody => {
                let seq_before = s.itree_seq;
                if s.itree_active > 0 {
                    if s.itree_seq & 1 == 1 {
                        s.deferred_insert |= bit(e);
                    } else {
                        s.itree_seq |= 1;
                        Self::link_at_head(&mut s, e);
                    }
                    s.drivers[e as usize].seq = s.itree_seq;
                } else {
                    s.drivers[e as usize].seq = s.itree_seq.wrapping_sub(1);
                    Self::link_at_head(&mut s, e);
                }
                s.registered |= bit(e);
                self.store_itree_seq(&mut s, t, seq_before);
            }
            Op::ItreeRemoveBody => {
                th.slot = 0;
                if s.itree_seq & 1 == 1 {
                    if s.deferred_insert & bit(e) != 0 {
                        s.deferred_insert &= !bit(e);
                    } else {
                        s.deferred_remove |= bit(e);
                        th.slot = s.itree_seq;
                    }
                } else {
                    Self::itree_remove(&mut s, e);
                }
                s.registered &= !bit(e);
            }
            Op::ItreeRemoveWait => {
                if th.slot != 0 {
                    let last = s.itree_seq;
                    Self::load(&mut s, t, weak::ITREE_SEQ, back, last);
                }
                th.slot = 0;
            }
            Op::ItreeRemoveWaitLocked => th.slot = 0,
            Op::GateEnter => {
                s.emm_active += 1;
                let active = s.emm_active;
                Self::atomic(&mut s, t, weak::ACTIVE, active);
            }
            Op::GateCheck => {
                let last = s.emm_stopping as u8;
                if Self::load(&mut s, t, weak::STOPPING, back, last) == 0 {
                    // Entered: skip the back-off and the wait, to the window's first op.
                    next_pc = jump as usize;
                }
            }
            Op::GateBackoff | Op::GateExit => {
                s.emm_active -= 1;
                let active = s.emm_active;
                Self::atomic(&mut s, t, weak::ACTIVE, active);
            }
            // Try to enter again: count in anew.
            Op::GateWait => {
                Self::load(&mut s, t, weak::STOPPING, back, 0);
                next_pc = jump as usize;
            }
            Op::GateStop => {
                s.emm_stopping = true;
                Self::store(&mut s, t, weak::STOPPING, 1);
            }
            Op::GateDrain => {
                Self::load(&mut s, t, weak::ACTIVE, back, 0);
            }
            Op::GateResume => {
                s.emm_stopping = false;
                Self::store(&mut s, t, weak::STOPPING, 0);
            }
            Op::Snapshot => {
                if s.drivers[e as usize].released {
                    next_pc = jump as usize;
                } else {
                    let last = s.drivers[e as usize].seq;
                    th.slot = Self::load(&mut s, t, weak::seq(e), back, last);
                }
            }
            Op::ReadPte => {
                let last = s.pte;
                th.pte_read = Self::load(&mut s, t, weak::PTE, back, last);
            }
            Op::ReadPteLocked => {
                // follow_page(): the PTE under the page table lock, which every zap holds.
                if self.weak_locations().pte {
                    Self::lock(&mut s, t, weak::PTL);
                    Self::unlock(&mut s, t, weak::PTL);
                }
                th.pte_read = s.pte;
            }
            Op::Barrier(b) => Self::barrier(&mut s, t, b),
            Op::CheckInstall | Op::ReadRetryInstall => {
                if op == Op::CheckInstall && self.weak_locations().seq {
                    // The check under mmu_lock reads the last in_progress and seq: every
                    // writer writes them under the same lock.
                    Self::lock(&mut s, t, weak::mmu_lock(e));
                    Self::unlock(&mut s, t, weak::mmu_lock(e));
                }
                s.threads[t] = th;
                let retry = self.fault_retries(&s, t);
                let d = &mut s.drivers[e as usize];
                if !d.released && retry {
                    next_pc = jump as usize;
                } else {
                    if !d.released && th.pte_read != NIL {
                        d.mirror = th.pte_read;
                        d.installed = true;
                    }
                    next_pc = ops.len();
                }
                th.slot = 0;
                th.pte_read = NIL;
            }
            Op::ReadBegin => {
                let d = &s.drivers[e as usize];
                if d.released {
                    next_pc = ops.len();
                } else {
                    th.slot = d.seq;
                    if th.slot != s.itree_seq {
                        // Not invalidating: skip the wait.
                        next_pc = jump as usize;
                    }
                }
            }
            Op::ReadBeginWait => {
                let last = s.itree_seq;
                Self::load(&mut s, t, weak::ITREE_SEQ, back, last);
            }
        }
        if let Some(kind) = fault {
            // The kernel oopses here: the thread runs no more, keeping whatever it holds; it
            // stays at the step that faulted.
            th.set_fault(kind);
            next_pc = pc;
        }
        th.pc = next_pc as u8;
        s.threads[t] = th;
        self.settle(before, &mut s, t, op);
        // A notifier that leaves the chain no longer has to be called by walks under way.
        let removed = if unlinks {
            linked_before & !s.linked()
        } else {
            0
        };
        if removed != 0 {
            for th in s.threads.iter_mut() {
                th.must &= !removed;
            }
        }
        s
    }

    /// Whether the fault of driver thread `t` must retry at its check (KVM: an invalidation is
    /// open or `seq` moved since the snapshot; interval: `mmu_interval_read_retry()`).
    pub fn fault_retries(&self, s: &State, t: usize) -> bool {
        let d = &s.drivers[self.own(s, t) as usize];
        let th: &Thread = &s.threads[t];
        match self.traits().family {
            Family::Interval => d.seq != th.slot,
            _ => d.in_progress > 0 || d.seq != th.slot,
        }
    }
}

/// The callback of the walk that `pc` belongs to (the first walk at or after `pc`).
fn walk_callback_from(program: &[Op], pc: usize) -> Callback {
    program[pc..]
        .iter()
        .find_map(|op| match op {
            Op::Walk { callback, .. } => Some(*callback),
            _ => None,
        })
        .unwrap_or(Callback::Invalidate)
}
