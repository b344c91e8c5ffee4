//! Counterexample traces as kernel-doc interleavings: one numbered row per step, one column
//! per actor, the kernel step taken, the shared state it changed, and the broken property.

use crate::config::Variant;
use crate::model::EmmModel;
use crate::program::Op;
use crate::state::{State, WalkPc, NIL};
use emm_proofs::{Callback, Outcome, Prop, Role, Violation};
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

/// What thread `t` does in its next step from `s`, named after the kernel step.
pub fn describe(model: &EmmModel, s: &State, t: usize) -> String {
    let program = model.program(t);
    let th = &s.threads[t];
    let actor = model.actors()[t];
    let e = model.own(s, t);
    let Some(&op) = program.get(th.pc as usize) else {
        return "(finished)".into();
    };
    let last =
        th.pc as usize + 1 == program.len() && matches!(actor.id.role, Role::Reg | Role::Unreg);
    let ret = if last { ", return" } else { "" };
    let d = &s.drivers[e as usize];
    let text = match op {
        Op::Walk { callback, resume } => {
            let cb = callback.kernel_name();
            match th.wpc {
                WalkPc::Idle | WalkPc::Done if resume => format!("{cb}: no notifier in range"),
                WalkPc::Idle | WalkPc::Done => format!("{cb}: load head -> {}", node(s.head)),
                WalkPc::Call => match callback {
                    Callback::Invalidate => format!("invalidate(n{}, seq {})", th.cursor, th.slot),
                    Callback::Release if model.variant == crate::Variant::IntervalSeq => {
                        format!("invalidate(n{}, MMU_NOTIFY_RELEASE)", th.cursor)
                    }
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
        Op::UnmapPte => format!("unmap_vmas: clear PTE ({})", frame(s.pte)),
        Op::MmapSemUnlock => format!("up_write(mmap_sem){ret}"),
        Op::SpinUnlock => format!("spin_unlock{ret}"),
        Op::SrcuReadLock => format!("srcu_read_lock (idx {})", s.srcu_idx),
        Op::SrcuReadUnlock => format!("srcu_read_unlock (idx {})", th.slot),
        Op::SynchronizeSrcuWait => {
            format!("synchronize_srcu: readers of idx {} gone{ret}", th.slot)
        }
        Op::DropMirror => format!("owner: drop n{e}'s mirror"),
        Op::LinkNext => format!("n{e}->next = head ({})", node(s.head)),
        Op::NextToHead => format!("n{e}->next = head ({})", node(s.head)),
        Op::Publish => format!("rcu_assign_pointer(head, n{e})"),
        Op::HlistAddHeadRcu => format!("hlist_add_head_rcu(n{e})"),
        Op::Unlink if s.head == e => format!("unlink n{e}: head = n{e}->next"),
        Op::Unlink => format!("unlink n{e}: prev->next = n{e}->next"),
        Op::HlistDelInitRcu => format!("hlist_del_init_rcu(n{e})"),
        Op::CallOwn(cb) => format!("{}(n{e})", cb.kernel_name()),
        Op::CheckHashed if s.linked() & (1 << e) != 0 => format!("hlist_unhashed(n{e}): no"),
        Op::CheckHashed => format!("hlist_unhashed(n{e}): yes, skip release"),
        Op::UnlinkAll if s.head == NIL => "list empty".into(),
        Op::UnlinkAll => format!("hlist_del_init_rcu(first = n{})", s.head),
        Op::ItreeInsertBody => format!("__mmu_interval_notifier_insert(n{e})"),
        Op::ItreeRemoveBody => format!("mmu_interval_notifier_remove(n{e})"),
        Op::ItreeRemoveWait => format!("remove: wait for seq != {}{ret}", th.slot),
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
        // The steps that act on no node, frame or value read the same as in the spec's list.
        other => other.kernel_text().into(),
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
    if a.rmap_readers != b.rmap_readers {
        push(format!("rmap readers={}", b.rmap_readers));
    }
    if a.rmap_writer != b.rmap_writer {
        push(format!("all rmap locks {}", flag(b.rmap_writer)));
    }
    if a.spin != b.spin {
        push(format!("lock {}", flag(b.spin)));
    }
    if a.srcu_idx != b.srcu_idx {
        push(format!("srcu idx={}", b.srcu_idx));
    }
    if a.srcu_readers != b.srcu_readers {
        push(format!(
            "srcu readers={}/{}",
            b.srcu_readers[0], b.srcu_readers[1]
        ));
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
        if !started && model.actors()[freer].id.role == Role::Vm {
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
    let locks = match model.variant {
        Variant::RcuPublish | Variant::EmmStopStart => {
            format!("mmap_sem {}", held(s.mmap_sem))
        }
        Variant::EmmStopDrainStart => format!(
            "mmap_sem {}; emm_active {}; emm_stopping {}",
            held(s.mmap_sem),
            s.emm_active,
            s.emm_stopping as u8
        ),
        Variant::TakeAllLocks => format!(
            "mmap_sem {}; rmap readers {}{}; spinlock {}; srcu idx {}, readers {}/{}{}",
            held(s.mmap_sem),
            s.rmap_readers,
            if s.rmap_writer {
                ", all taken (mm_take_all_locks)"
            } else {
                ""
            },
            held(s.spin),
            s.srcu_idx,
            s.srcu_readers[0],
            s.srcu_readers[1],
            if s.srcu_sync {
                ", synchronize_srcu running"
            } else {
                ""
            }
        ),
        Variant::IntervalSeq => format!(
            "subscriptions lock {}; invalidate_seq {}{}; active {}",
            held(s.spin),
            s.itree_seq,
            if s.itree_seq & 1 == 1 {
                " (invalidating)"
            } else {
                ""
            },
            s.itree_active
        ),
    };
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
        let stops = if model.variant.has_stop_start() {
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
        let at = if done {
            "finished".to_string()
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
