//! The words of a trace: each step named after the kernel statement it transcribes, in the
//! version's own terms (`spin_lock(anon_vma->lock)` in v2.6.27, `down_read(anon_vma->rwsem)`
//! from v3.8), with its outcome, and the shared state a step changed.

use crate::config::Variant;
use crate::model::{EmmModel, Step};
use crate::program::{LockKind, Op};
use crate::state::{flags, State, WalkPc, NIL, PPREV_NULL, PPREV_POISON};
use emm_proofs::{Callback, Family, Role};

/// A node in traces: `nX`, or `NULL`.
pub(crate) fn node(n: u8) -> String {
    if n == NIL {
        "NULL".into()
    } else {
        format!("n{n}")
    }
}

/// A frame in traces: `fX`, or `none`.
pub(crate) fn frame(f: u8) -> String {
    if f == NIL {
        "none".into()
    } else {
        format!("f{f}")
    }
}

/// The version's words for a lock or read-side step (`spin_lock(&anon_vma->lock)` in
/// v2.6.27, `down_read(&anon_vma->rwsem)` from v3.8, `rcu_read_lock` before v3.7).
fn versioned(model: &EmmModel, op: Op) -> Option<String> {
    let t = model.traits();
    let rcu = t.read_side == Some("rcu");
    let exclusive = t.rmap == LockKind::Exclusive;
    let spin_era = model.variant.family() == Family::Emm
        || model.variant == Variant::MmuNotifierV2_6_27
        || model.variant == Variant::OursEmmStopDrainStart;
    Some(match op {
        Op::RmapReadLock if exclusive && spin_era => "spin_lock(anon_vma->lock)".into(),
        Op::RmapReadLock if exclusive => "mutex_lock(anon_vma->mutex)".into(),
        Op::RmapReadLock => "down_read(anon_vma->rwsem)".into(),
        Op::RmapReadUnlock if exclusive && spin_era => "spin_unlock(anon_vma->lock)".into(),
        Op::RmapReadUnlock if exclusive => "mutex_unlock(anon_vma->mutex)".into(),
        Op::RmapReadUnlock => "up_read(anon_vma->rwsem)".into(),
        Op::ReadSideLock if rcu => "rcu_read_lock".into(),
        Op::ReadSideUnlock if rcu => "rcu_read_unlock".into(),
        Op::SynchronizeStart if rcu => "synchronize_rcu: readers to wait for".into(),
        Op::SynchronizeWait if rcu => "synchronize_rcu: those readers gone".into(),
        _ => return None,
    })
}

/// What `step` does from `s`: [`describe`], and under `--memory lkmm` the value its
/// lock-free load reads (which may be an older store than the last) and the access kind of a
/// step that touches a weak location.
pub fn describe_step(model: &EmmModel, s: &State, step: Step) -> String {
    let t = step.thread as usize;
    let Some(world) = s.weak.as_ref() else {
        return describe(model, s, t);
    };
    let th = &s.threads[t];
    let Some(&op) = model.program(t).get(th.pc as usize) else {
        return describe(model, s, t);
    };
    let text = match model.weak_load(s, t) {
        Some((x, _)) if th.fault_kind().is_none() => {
            let history = &world.memory[x as usize];
            let v = history[history.len() - 1 - step.read as usize].value;
            match op {
                Op::GateCheck if v == 0 => "READ_ONCE(emm_stopping) = 0: enter".into(),
                Op::GateCheck => "READ_ONCE(emm_stopping) = 1: back off".into(),
                Op::GateWait => "wait_event: READ_ONCE(emm_stopping) = 0".into(),
                Op::GateDrain => "wait_event: atomic_read(emm_active) = 0".into(),
                Op::Snapshot => format!("fault: s = seq ({v})"),
                Op::ReadPte => format!("fault: read PTE -> {}", frame(v)),
                Op::ReadBeginWait => format!("read_begin: READ_ONCE(invalidate_seq) = {v}"),
                Op::ItreeRemoveWait => format!("remove: READ_ONCE(invalidate_seq) = {v}"),
                Op::Walk { .. } => {
                    // The walk's own words, for the link it reads.
                    let mut shown = s.clone();
                    if x == crate::interp::weak::HEAD {
                        shown.head = v;
                    } else {
                        shown.next[th.cursor as usize] = v;
                    }
                    describe(model, &shown, t)
                }
                _ => describe(model, s, t),
            }
        }
        _ => describe(model, s, t),
    };
    let weak = model.weak_locations();
    let touches_weak = match op {
        Op::GateEnter | Op::GateBackoff | Op::GateExit | Op::GateStop | Op::GateResume => true,
        Op::GateCheck | Op::GateWait | Op::GateDrain => true,
        Op::Zap(_) | Op::UnmapPte | Op::FreeFrames | Op::ReadPte => weak.pte,
        Op::Snapshot | Op::CheckInstall => weak.seq,
        Op::ReadBeginWait | Op::ItreeRemoveWait => weak.itree_seq,
        Op::Walk { .. } => model.weak_load(s, t).is_some(),
        Op::Publish | Op::HlistAddPublish { .. } | Op::LinkNext | Op::NextToHead => weak.chain,
        Op::Unlink | Op::HlistDelRcu | Op::HlistDelInitRcu | Op::UnlinkAll => weak.chain,
        _ => false,
    };
    match op.access() {
        Some(kind) if touches_weak && th.fault_kind().is_none() => {
            format!("{text} [{}]", kind.name())
        }
        _ => text,
    }
}

/// What thread `t` does in its next step from `s`, named after the kernel step.
pub fn describe(model: &EmmModel, s: &State, t: usize) -> String {
    let program = model.program(t);
    let th = &s.threads[t];
    let actor = model.actors()[t];
    let e = model.own(s, t);
    let Some(&op) = program.get(th.pc as usize) else {
        return "(finished)".into();
    };
    if th.fault_kind().is_some() {
        return format!("oopsed at {}", op.kernel_text());
    }
    let last =
        th.pc as usize + 1 == program.len() && matches!(actor.id.role, Role::Reg | Role::Unreg);
    let ret = if last { ", return" } else { "" };
    let queued = th.flags & flags::QUEUED != 0;
    let d = &s.drivers[e.min(crate::config::MAX_NOTIFIERS as u8 - 1) as usize];
    let interval = model.traits().family == Family::Interval;
    let text = match op {
        Op::Walk {
            callback,
            resume,
            nonblock,
            snapshot,
            ..
        } => {
            let cb = callback.kernel_name();
            let nb = if nonblock { " (nonblock)" } else { "" };
            // A snapshot walk after its section's first one starts where that one did.
            let from_snapshot = snapshot
                && th
                    .depth
                    .checked_sub(1)
                    .is_some_and(|level| th.snap[level as usize] != NIL);
            match th.wpc {
                WalkPc::Idle | WalkPc::Done if resume => format!("{cb}: no notifier in range"),
                WalkPc::Idle | WalkPc::Done if from_snapshot => format!(
                    "{cb}: from the window's snap -> {}",
                    node(crate::interp::walk_head(s, th, snapshot))
                ),
                WalkPc::Idle | WalkPc::Done if snapshot => {
                    format!("{cb}: snap = rcu_dereference(head) -> {}", node(s.head))
                }
                WalkPc::Idle | WalkPc::Done => format!("{cb}{nb}: load head -> {}", node(s.head)),
                WalkPc::Call => match callback {
                    Callback::Invalidate if nonblock && model.fails_nonblock(th.cursor) => {
                        format!("invalidate(n{}, nonblock): false, -EAGAIN", th.cursor)
                    }
                    Callback::Invalidate => format!("invalidate(n{}, seq {})", th.cursor, th.slot),
                    Callback::Release if interval => {
                        format!("invalidate(n{}, MMU_NOTIFY_RELEASE)", th.cursor)
                    }
                    Callback::InvalidateStart if nonblock && model.fails_nonblock(th.cursor) => {
                        format!("{cb}(n{}, nonblock): -EAGAIN", th.cursor)
                    }
                    _ if nonblock => format!("{cb}(n{}, nonblock)", th.cursor),
                    _ => format!("{cb}(n{})", th.cursor),
                },
                WalkPc::Wait => format!("{cb}(n{}): wait", th.cursor),
                WalkPc::LoadNext => format!(
                    "{cb}: load n{}->next -> {}",
                    th.cursor,
                    node(s.next[th.cursor as usize])
                ),
            }
        }
        Op::Zap(_) if s.pte == NIL => "zap PTE (already cleared)".into(),
        Op::Zap(_) => format!("zap PTE: {} -> f{}", frame(s.pte), s.next_frame),
        Op::Free(level) => match th.old[level as usize] {
            NIL => "free nothing (PTE was cleared)".into(),
            f => format!("free f{f}"),
        },
        Op::FreeFrames => format!("exit_mmap: free {}", frame(s.pte)),
        Op::UnmapPte => format!("unmap_page_range: clear PTE ({})", frame(s.pte)),
        Op::MmapSemLock if queued => "down_write(mmap_sem): take it".into(),
        Op::MmapSemLock if s.mmap_sem || s.mmap_readers > 0 || s.mmap_waiting > 0 => {
            "down_write(mmap_sem): held, queue".into()
        }
        Op::MmapSemUnlock => format!("up_write(mmap_sem){ret}"),
        Op::MmapReadTrylock if s.mmap_sem || s.mmap_waiting > 0 => {
            "down_read_trylock(mmap_sem): fails".into()
        }
        Op::TakeAllLocks if queued => "mm_take_all_locks: take the rmap lock".into(),
        Op::TakeAllLocks => format!(
            "mm_take_all_locks{}",
            if model.traits().rmap == LockKind::Rwsem
                && (s.rmap_writer || s.rmap_readers > 0 || s.rmap_waiting > 0)
            {
                ": rmap rwsem held, queue"
            } else {
                ""
            }
        ),
        Op::VmaStartWrite if s.vma_locked => "vma_start_write: already write-locked".into(),
        Op::VmaStartWrite if !queued && s.vma_readers > 0 => {
            "vma_start_write: VMA readers, wait".into()
        }
        Op::LockVmaUnderRcu if s.vma_locked || s.vma_waiting => {
            "lock_vma_under_rcu: fails (write-locked), fall back".into()
        }
        Op::LockVmaUnderRcu => "lock_vma_under_rcu: VMA read lock".into(),
        Op::FaultUnlock if th.flags & flags::HOLDS_VMA != 0 => "vma_end_read".into(),
        Op::FaultUnlock => "mmap_read_unlock".into(),
        Op::SpinUnlock => format!("spin_unlock{ret}"),
        Op::SynchronizeWait => format!(
            "{}{ret}",
            versioned(model, op).unwrap_or_else(|| op.kernel_text().into())
        ),
        Op::DropMirror => format!("owner: drop n{e}'s mirror"),
        Op::LinkNext => format!("n{e}->next = head ({})", node(s.head)),
        Op::NextToHead => format!("n{e}->next = head ({})", node(s.head)),
        Op::Publish => format!("rcu_assign_pointer(head, n{e})"),
        Op::HlistAddInit => format!(
            "n{e}->next = first ({}), n{e}->pprev = &h->first",
            node(s.head)
        ),
        Op::HlistAddPublish { rcu: true } => format!("rcu_assign_pointer(h->first, n{e})"),
        Op::HlistAddPublish { rcu: false } => format!("h->first = n{e}"),
        Op::Unlink if s.head == e => format!("unlink n{e}: head = n{e}->next"),
        Op::Unlink => format!("unlink n{e}: prev->next = n{e}->next"),
        Op::HlistDelRcu => format!("hlist_del_rcu(n{e}): *pprev = next, pprev = POISON"),
        Op::HlistDelInitRcu if s.pprev[e as usize] == PPREV_NULL => {
            format!("hlist_del_init_rcu(n{e}): unhashed, nothing")
        }
        Op::HlistDelInitRcu => format!("hlist_del_init_rcu(n{e})"),
        Op::CallOwn(cb) | Op::CallTaken(cb) => format!("{}(n{e})", cb.kernel_name()),
        Op::CheckHashed if s.pprev[e as usize] != PPREV_NULL => {
            format!("hlist_unhashed(n{e}): no")
        }
        Op::CheckHashed => format!("hlist_unhashed(n{e}): yes, skip"),
        Op::TakeFirst if s.head == NIL => "list empty".into(),
        Op::TakeFirst => format!("mn = first (n{})", s.head),
        Op::UnlinkAll if s.head == NIL => "list empty".into(),
        Op::UnlinkAll => format!("hlist_del_init_rcu(first = n{})", s.head),
        Op::OwnerFree => format!("owner: kfree(n{e}){ret}"),
        Op::SkipUnwind if th.flags & flags::START_FAILED != 0 => {
            "a start failed: unwind (end on every notifier)".into()
        }
        Op::SkipUnwind => "every start succeeded: no unwind".into(),
        Op::SkipIfStartFailed if th.flags & flags::START_FAILED != 0 => {
            "start returned -EAGAIN: skip this vma".into()
        }
        Op::SkipIfStartFailed => "start succeeded: unmap".into(),
        Op::ItreeEndBody => format!(
            "mn_itree_inv_end: active = {}{}",
            s.itree_active.saturating_sub(1),
            if s.itree_active == 1 && s.itree_seq & 1 == 1 {
                ", release"
            } else {
                ""
            }
        ),
        Op::ItreeSeqRelease => format!(
            "mn_itree_inv_end: invalidate_seq = {}",
            s.itree_seq.wrapping_add(1)
        ),
        Op::ItreeDeferred => match (s.deferred_insert | s.deferred_remove).trailing_zeros() {
            8 => "mn_itree_inv_end: deferred list done".into(),
            n if s.deferred_insert & (1 << n) != 0 => format!("mn_itree_inv_end: insert n{n}"),
            n => format!("mn_itree_inv_end: remove n{n}"),
        },
        Op::ItreeInsertBody => format!("__mmu_interval_notifier_insert(n{e})"),
        Op::ItreeRemoveBody => format!("mmu_interval_notifier_remove(n{e})"),
        Op::ItreeRemoveWait => format!("remove: wait for READ_ONCE(seq) != {}{ret}", th.slot),
        Op::ItreeRemoveWaitLocked => format!("remove: wait for seq != {} (locked){ret}", th.slot),
        Op::Snapshot if d.released => "fault: released, give up".into(),
        Op::Snapshot => format!("fault: s = seq ({})", d.seq),
        Op::ReadPte => format!("fault: read PTE -> {}", frame(s.pte)),
        Op::ReadPteLocked => format!(
            "fault: follow_page: read PTE under the PTL -> {}",
            frame(s.pte)
        ),
        Op::CheckInstall | Op::ReadRetryInstall => {
            if d.released {
                "fault: lock; released, give up".into()
            } else if model.fault_retries(s, t) {
                "fault: lock; check fails, retry".into()
            } else if th.pte_read == NIL {
                "fault: lock; PTE was empty, nothing to map".into()
            } else {
                format!("fault: lock; check ok, install {}", frame(th.pte_read))
            }
        }
        Op::ReadBegin if d.released => "fault: released, give up".into(),
        Op::ReadBegin => format!(
            "fault: mmu_interval_read_begin: s = {}{}",
            d.seq,
            if d.seq == s.itree_seq {
                " (invalidating)"
            } else {
                ""
            }
        ),
        Op::ReadBeginWait => format!("read_begin: wait for seq != {}", th.slot),
        // The steps that act on no node, frame or value read as the version writes them.
        other => versioned(model, other).unwrap_or_else(|| other.kernel_text().into()),
    };
    text
}

/// The shared state that changed from `a` to `b`: links, PTE, frames, locks, drivers.
pub fn changes(model: &EmmModel, a: &State, b: &State) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| out.push(s);
    if a.head != b.head {
        push(format!("head={}", node(b.head)));
    }
    for n in 0..model.config.total_notifiers() {
        if a.next[n] != b.next[n] {
            push(format!("n{n}->next={}", node(b.next[n])));
        }
    }
    if a.pte != b.pte {
        push(format!("pte={}", frame(b.pte)));
    }
    let freed = b.freed & !a.freed;
    for f in 0..8u8 {
        if freed & (1 << f) != 0 {
            push(format!("f{f} freed"));
        }
    }
    let flag = |on: bool| if on { "held" } else { "free" };
    if a.mmap_sem != b.mmap_sem {
        push(format!("mmap_sem {}", flag(b.mmap_sem)));
    }
    if a.mmap_readers != b.mmap_readers {
        push(format!("mmap_sem readers={}", b.mmap_readers));
    }
    if a.mmap_waiting != b.mmap_waiting {
        push(format!("mmap_sem writers queued={}", b.mmap_waiting));
    }
    if a.rmap_readers != b.rmap_readers {
        push(format!("rmap holders={}", b.rmap_readers));
    }
    if a.rmap_writer != b.rmap_writer {
        push(format!("all rmap locks {}", flag(b.rmap_writer)));
    }
    if a.rmap_waiting != b.rmap_waiting {
        push(format!("rmap writers queued={}", b.rmap_waiting));
    }
    if a.vma_readers != b.vma_readers {
        push(format!("VMA readers={}", b.vma_readers));
    }
    if a.vma_locked != b.vma_locked {
        push(format!(
            "VMA {}",
            if b.vma_locked {
                "write-locked"
            } else {
                "unlocked"
            }
        ));
    }
    if a.spin != b.spin {
        push(format!("lock {}", flag(b.spin)));
    }
    for n in 0..model.config.total_notifiers() {
        if a.pprev[n] != b.pprev[n] && matches!(b.pprev[n], PPREV_NULL | PPREV_POISON) {
            push(format!(
                "n{n}->pprev={}",
                if b.pprev[n] == PPREV_NULL {
                    "NULL"
                } else {
                    "POISON"
                }
            ));
        }
    }
    if a.freed_nodes != b.freed_nodes {
        for n in 0..8u8 {
            if b.freed_nodes & !a.freed_nodes & (1 << n) != 0 {
                push(format!("n{n} freed"));
            }
        }
    }
    let depth = |s: &State| {
        s.threads[..model.actors().len()]
            .iter()
            .filter(|t| t.depth > 0)
            .count()
    };
    if depth(a) != depth(b) {
        push(format!(
            "{} readers={}",
            model.traits().read_side.unwrap_or("rcu"),
            depth(b)
        ));
    }
    for (t, (x, y)) in a
        .threads
        .iter()
        .zip(&b.threads)
        .enumerate()
        .take(model.actors().len())
    {
        if x.fault_kind().is_none() {
            if let Some(kind) = y.fault_kind() {
                push(format!(
                    "{} OOPS: {}",
                    model.actors()[t].id,
                    match kind {
                        emm_proofs::FaultKind::Null => "NULL dereference".to_string(),
                        emm_proofs::FaultKind::Poison => "LIST_POISON2 dereference".to_string(),
                        emm_proofs::FaultKind::Freed(n) => format!("n{n} used after free"),
                    }
                ));
            }
        }
    }
    if a.emm_active != b.emm_active {
        push(format!("emm_active={}", b.emm_active));
    }
    if a.emm_stopping != b.emm_stopping {
        push(format!("emm_stopping={}", b.emm_stopping as u8));
    }
    if a.itree_seq != b.itree_seq {
        push(format!("seq={}", b.itree_seq));
    }
    if a.itree_active != b.itree_active {
        push(format!("active={}", b.itree_active));
    }
    for n in 0..model.config.total_notifiers() as u8 {
        let m = 1 << n;
        if b.deferred_insert & m != a.deferred_insert & m {
            push(format!(
                "n{n} {} deferred insert",
                if b.deferred_insert & m != 0 {
                    "on"
                } else {
                    "off"
                }
            ));
        }
        if b.deferred_remove & m != a.deferred_remove & m {
            push(format!(
                "n{n} {} deferred remove",
                if b.deferred_remove & m != 0 {
                    "on"
                } else {
                    "off"
                }
            ));
        }
    }
    for n in 0..model.config.total_notifiers() {
        let (x, y) = (&a.drivers[n], &b.drivers[n]);
        if x.in_progress != y.in_progress {
            push(format!("drv{n}.in_progress={}", y.in_progress));
        }
        if x.seq != y.seq {
            push(format!("drv{n}.seq={}", y.seq));
        }
        if x.mirror != y.mirror {
            push(format!("drv{n}.mirror={}", frame(y.mirror)));
        }
        if x.stops != y.stops || x.starts != y.starts {
            push(format!(
                "n{n} {} (stops={}, starts={})",
                if y.stopped { "stopped" } else { "running" },
                y.stops,
                y.starts
            ));
        }
        if x.releases != y.releases {
            push(format!("n{n} released"));
        }
    }
    out.join(", ")
}
