//! Counterexample traces as kernel-doc interleavings: one numbered row per step, one column
//! per actor, the kernel step taken, the shared state it changed, and the broken property.

use crate::config::Variant;
use crate::model::EmmModel;
use crate::program::{LockKind, Op};
use crate::state::{flags, State, WalkPc, NIL, PPREV_NULL, PPREV_POISON};
use emm_proofs::{Callback, Family, Outcome, Prop, Role, Violation};
use std::fmt::Write as _;

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
            ..
        } => {
            let cb = callback.kernel_name();
            let nb = if nonblock { " (nonblock)" } else { "" };
            match th.wpc {
                WalkPc::Idle | WalkPc::Done if resume => format!("{cb}: no notifier in range"),
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
                    _ => format!("{cb}{nb}(n{})", th.cursor),
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
        Op::HlistAddInit => format!("n{e}->next = first ({}), n{e}->pprev = &h->first", node(s.head)),
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
        Op::ItreeSeqRelease => format!("mn_itree_inv_end: invalidate_seq = {}", s.itree_seq.wrapping_add(1)),
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
    for (t, (x, y)) in a.threads.iter().zip(&b.threads).enumerate().take(model.actors().len()) {
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

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// 1-based step number.
    pub step: usize,
    /// The actor that stepped (`vm0`, `reg0`, `drv2`, ...).
    pub actor: String,
    /// The kernel step it took.
    pub action: String,
    /// The shared state the step changed.
    pub state: String,
}

/// A run of the model, as the steps of its actors.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The steps.
    pub steps: Vec<TraceStep>,
    /// The states: `states[0]` is initial, `states[i]` follows step `i`.
    pub states: Vec<State>,
    /// The thread of each step.
    pub threads: Vec<usize>,
}

/// A step of a replay path that the model cannot take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayError(pub String);

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplayError {}

impl Trace {
    /// Replays thread steps from `init`, one of the model's initial states.
    pub fn from_threads(
        model: &EmmModel,
        init: State,
        threads: &[usize],
    ) -> Result<Trace, ReplayError> {
        let mut s = init;
        let mut states = vec![s.clone()];
        let mut steps = Vec::new();
        for (i, &t) in threads.iter().enumerate() {
            if t >= model.actors().len() || !model.enabled(&s, t) {
                let who = model
                    .actors()
                    .get(t)
                    .map(|a| a.id.to_string())
                    .unwrap_or_else(|| format!("thread {t}"));
                let enabled: Vec<String> = (0..model.actors().len())
                    .filter(|&u| model.enabled(&s, u))
                    .map(|u| format!("{} ({})", model.actors()[u].id, describe(model, &s, u)))
                    .collect();
                return Err(ReplayError(format!(
                    "step {}: {who} cannot take a step here; enabled: {}",
                    i + 1,
                    if enabled.is_empty() {
                        "none".into()
                    } else {
                        enabled.join(", ")
                    }
                )));
            }
            let next = model.apply(&s, t);
            steps.push(TraceStep {
                step: i + 1,
                actor: model.actors()[t].id.to_string(),
                action: describe(model, &s, t),
                state: changes(model, &s, &next),
            });
            states.push(next.clone());
            s = next;
        }
        Ok(Trace {
            steps,
            states,
            threads: threads.to_vec(),
        })
    }

    /// Replays a path given as actor names (`vm0,reg0,reg0,...`) from the model's first initial
    /// state (fix the unregistrations' targets in the configuration to pick another).
    pub fn from_path(model: &EmmModel, path: &str) -> Result<Trace, ReplayError> {
        let mut threads = Vec::new();
        for (i, name) in path.split(',').map(str::trim).enumerate() {
            if name.is_empty() && path.trim().is_empty() {
                break;
            }
            let t = model.actor_by_name(name).ok_or_else(|| {
                let names: Vec<String> = model.actors().iter().map(|a| a.id.to_string()).collect();
                ReplayError(format!(
                    "step {}: no actor '{name}' in this configuration (actors: {})",
                    i + 1,
                    names.join(", ")
                ))
            })?;
            threads.push(t);
        }
        Trace::from_threads(model, model.initial_state(), &threads)
    }

    /// The configuration of this trace's model with the unregistrations' targets fixed to
    /// those of its initial state, so that a replay starts where the trace did.
    pub fn config(&self, model: &EmmModel) -> crate::Config {
        crate::Config {
            targets: Some(self.states[0].targets),
            ..model.config
        }
    }

    /// The path as actor names, for `emm-check replay --path`.
    pub fn path(&self, model: &EmmModel) -> String {
        let names: Vec<String> = self
            .threads
            .iter()
            .map(|&t| model.actors()[t].id.to_string())
            .collect();
        names.join(",")
    }

    /// The first step after which `property` is violated, with the violation.
    pub fn first_violation(&self, model: &EmmModel, property: Prop) -> Option<(usize, Violation)> {
        self.states
            .iter()
            .enumerate()
            .find_map(|(i, s)| match model.evaluate(property, s) {
                Outcome::Violated(v) => Some((i, v)),
                _ => None,
            })
    }

    /// The trace as a table: a numbered row per step, one column per actor, then the shared
    /// state that the step changed.
    pub fn render(&self, model: &EmmModel) -> String {
        let mut cols: Vec<usize> = self.threads.clone();
        cols.sort_unstable();
        cols.dedup();
        let width = |t: usize| {
            let name = model.actors()[t].id.to_string().len();
            self.steps
                .iter()
                .zip(&self.threads)
                .filter(|(_, &u)| u == t)
                .map(|(s, _)| s.action.len())
                .max()
                .unwrap_or(0)
                .max(name)
        };
        let widths: Vec<usize> = cols.iter().map(|&t| width(t)).collect();
        let mut out = String::new();
        let mut line = String::from("step");
        for (&t, w) in cols.iter().zip(&widths) {
            let _ = write!(line, "  {:<w$}", model.actors()[t].id.to_string());
        }
        let _ = writeln!(out, "{line}  changed");
        for (s, &t) in self.steps.iter().zip(&self.threads) {
            line.clear();
            let _ = write!(line, "{:>4}", s.step);
            for (&c, w) in cols.iter().zip(&widths) {
                let text = if c == t { s.action.as_str() } else { "" };
                let _ = write!(line, "  {text:<w$}");
            }
            let _ = write!(line, "  {}", s.state);
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }

    /// Why `v` holds at the end of this trace, in one sentence with the steps that caused it.
    pub fn explain(&self, model: &EmmModel, v: &Violation) -> String {
        let at = self
            .first_violation(model, v.property)
            .map(|(i, _)| i)
            .unwrap_or(self.steps.len());
        let mut text = format!("{} violated at step {at}: {}", v.property, v.reason);
        if v.property == Prop::NoStaleSecondary {
            if let Some(extra) = self.explain_stale(model, at) {
                text.push_str(&extra);
            }
        }
        text.push('.');
        text
    }

    /// For a stale secondary mapping: which step installed it, which step freed the frame,
    /// and whether the freeing thread's invalidation ever reached the notifier.
    fn explain_stale(&self, model: &EmmModel, at: usize) -> Option<String> {
        let s = &self.states[at];
        let n = (0..model.config.total_notifiers())
            .find(|&n| s.drivers[n].mirror != NIL && s.freed & (1 << s.drivers[n].mirror) != 0)?;
        let f = s.drivers[n].mirror;
        let installed = (1..=at).rev().find(|&i| {
            self.states[i].drivers[n].mirror == f && self.states[i - 1].drivers[n].mirror != f
        });
        let freed = (1..=at).find(|&i| {
            self.states[i].freed & (1 << f) != 0 && self.states[i - 1].freed & (1 << f) == 0
        })?;
        let freer = self.threads[freed - 1];
        let started = (1..freed).any(|i| {
            self.threads[i - 1] == freer
                && self.states[i].drivers[n].in_progress > self.states[i - 1].drivers[n].in_progress
        });
        let mut text = String::new();
        match installed {
            Some(i) => {
                let _ = write!(
                    text,
                    " ({} installed f{f} at step {i}; {} freed it at step {freed}",
                    self.steps[i - 1].actor,
                    self.steps[freed - 1].actor
                );
            }
            None => {
                let _ = write!(
                    text,
                    " ({} freed f{f} at step {freed}",
                    self.steps[freed - 1].actor
                );
            }
        }
        if !started && matches!(model.actors()[freer].id.role, Role::Vm | Role::Fault) {
            let _ = write!(
                text,
                "; n{n} never received that invalidation's invalidate_start"
            );
        }
        text.push(')');
        Some(text)
    }
}

/// `state` as the Explorer shows it: the chain (`head -> n0 -> n1 -> NULL`), the page, the
/// locks of the variant, each driver's mirror, counters and flags, each actor's next kernel
/// step, and the properties broken in this state.
pub fn readable(model: &EmmModel, s: &State) -> String {
    let mut out = String::new();
    let notifiers = model.config.total_notifiers();
    // The chain, followed from head; the walk is bounded so a corrupted chain cannot loop.
    let mut chain = String::from("head");
    let mut n = s.head;
    let mut seen = 0u8;
    for _ in 0..=notifiers {
        chain.push_str(" -> ");
        chain.push_str(&node(n));
        if n == NIL || seen & (1 << n) != 0 {
            break;
        }
        seen |= 1 << n;
        n = s.next[n as usize];
    }
    let _ = writeln!(out, "chain     {chain}");
    let outside: Vec<String> = (0..notifiers as u8)
        .filter(|&n| seen & (1 << n) == 0)
        .map(|n| format!("n{n}->next = {}", node(s.next[n as usize])))
        .collect();
    if !outside.is_empty() {
        let _ = writeln!(out, "off chain {}", outside.join(", "));
    }
    let freed: Vec<String> = (0..8u8)
        .filter(|f| s.freed & (1 << f) != 0)
        .map(|f| format!("f{f}"))
        .collect();
    let _ = writeln!(
        out,
        "page      PTE -> {}; freed: {}",
        frame(s.pte),
        if freed.is_empty() {
            "none".into()
        } else {
            freed.join(", ")
        }
    );
    let held = |on: bool| if on { "held" } else { "free" };
    let t = model.traits();
    let mut locks = vec![format!(
        "mmap_sem {}{}{}",
        held(s.mmap_sem),
        if s.mmap_readers > 0 {
            format!(", {} readers", s.mmap_readers)
        } else {
            String::new()
        },
        if s.mmap_waiting > 0 {
            format!(", {} writers queued", s.mmap_waiting)
        } else {
            String::new()
        }
    )];
    locks.push(format!(
        "rmap holders {}{}{}",
        s.rmap_readers,
        if s.rmap_writer {
            ", all taken (mm_take_all_locks)"
        } else {
            ""
        },
        if s.rmap_waiting > 0 {
            ", a writer queued"
        } else {
            ""
        }
    ));
    if t.vma_locks {
        locks.push(format!(
            "VMA readers {}{}",
            s.vma_readers,
            if s.vma_locked { ", write-locked" } else { "" }
        ));
    }
    if let Some(rs) = t.read_side {
        let readers: Vec<String> = model
            .actors()
            .iter()
            .enumerate()
            .filter(|&(u, _)| s.threads[u].depth > 0)
            .map(|(u, a)| {
                let gp = s.threads[u].gp;
                format!("{}{}", a.id, if gp != 0 { " (a grace period waits)" } else { "" })
            })
            .collect();
        locks.push(format!(
            "{rs} readers: {}",
            if readers.is_empty() {
                "none".into()
            } else {
                readers.join(", ")
            }
        ));
    }
    if t.family == Family::Interval {
        locks.push(format!(
            "subscriptions lock {}; invalidate_seq {}{}; active {}",
            held(s.spin),
            s.itree_seq,
            if s.itree_seq & 1 == 1 {
                " (invalidating)"
            } else {
                ""
            },
            s.itree_active
        ));
    } else if t.read_side.is_some() {
        locks.push(format!("notifier lock {}", held(s.spin)));
    }
    if model.variant == Variant::OursEmmStopDrainStart {
        locks.push(format!(
            "emm_active {}; emm_stopping {}",
            s.emm_active, s.emm_stopping as u8
        ));
    }
    let locks = locks.join("; ");
    let _ = writeln!(out, "locks     {locks}");
    for n in 0..notifiers {
        let d = &s.drivers[n];
        let mut flags = Vec::new();
        if s.registered & (1 << n) != 0 {
            flags.push("registered");
        }
        if d.stopped {
            flags.push("stopped");
        }
        if d.released {
            flags.push("released");
        }
        if d.installed {
            flags.push("installed by fault");
        }
        if s.deferred_insert & (1 << n) != 0 {
            flags.push("insert deferred");
        }
        if s.deferred_remove & (1 << n) != 0 {
            flags.push("remove deferred");
        }
        if s.freed_nodes & (1 << n) != 0 {
            flags.push("freed by its owner");
        }
        let stops = if model.programs().delivers(Callback::Stop) {
            format!(", stops {}, starts {}", d.stops, d.starts)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:<9} n{n}: mirror {}, in_progress {}, seq {}{stops}, releases {}{}{}",
            if n == 0 { "drivers" } else { "" },
            frame(d.mirror),
            d.in_progress,
            d.seq,
            d.releases,
            if flags.is_empty() { "" } else { "; " },
            flags.join(", ")
        );
    }
    for (t, a) in model.actors().iter().enumerate() {
        let done = s.threads[t].pc as usize >= model.program(t).len();
        let oopsed = s.threads[t].fault_kind().is_some();
        let at = if done {
            "finished".to_string()
        } else if oopsed {
            describe(model, s, t)
        } else if model.enabled(s, t) {
            format!("next: {}", describe(model, s, t))
        } else {
            format!("blocked at: {}", describe(model, s, t))
        };
        let _ = writeln!(
            out,
            "{:<9} {:<8} {at}",
            if t == 0 { "actors" } else { "" },
            a.id.to_string()
        );
    }
    let view = model.view(s);
    let broken: Vec<String> = emm_proofs::violations(&view)
        .into_iter()
        .filter(|v| model.applies(v.property))
        .map(|v| format!("{}: {}", v.property, v.reason))
        .collect();
    if broken.is_empty() {
        let _ = writeln!(out, "violated  none");
    }
    for (i, b) in broken.iter().enumerate() {
        let _ = writeln!(out, "{:<9} {b}", if i == 0 { "VIOLATED" } else { "" });
    }
    out
}
