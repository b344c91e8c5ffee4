//! Where each program holds what: for every pc of a role's program, the locks, read sides,
//! drain gate and interval windows a thread there holds, and which walk may be under way; the
//! invalidation windows of the program; and the marks (the positions of the ops the conjuncts
//! name), all derived from the program itself.

use crate::config::MAX_NOTIFIERS;
use crate::model::Actor;
use crate::program::{Op, Program, Programs};
use crate::state::{Thread, WalkPc};
use emm_proofs::{Callback, Role};

/// What a thread holds at one pc of its program, and which walk may be under way there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct At {
    /// `mmap_sem` held for write.
    pub(super) mmap: u8,
    /// Reverse-map locks held for read (two inside a nested invalidation).
    pub(super) rmap_read: u8,
    /// All reverse-map locks held (`mm_take_all_locks()` done, not yet dropped).
    pub(super) rmap_write: u8,
    /// Every VMA write-locked (`vma_start_write()` in `mm_take_all_locks()`, v6.4), until
    /// `up_write(mmap_sem)` ends the write locks (`vma_end_write_all()`).
    pub(super) vma_write: u8,
    /// The notifier spinlock (or the interval `subscriptions->lock`) held.
    pub(super) spin: u8,
    /// Inside an SRCU read side.
    pub(super) srcu_read: u8,
    /// Between the two halves of `synchronize_srcu()`: holds the SRCU mutex.
    pub(super) srcu_sync: u8,
    /// Drain: `emm_stopping` set by this thread and not yet cleared.
    pub(super) stopping: u8,
    /// Drain: past `GateDrain` and before `GateResume` (no walk window is open).
    pub(super) drained: bool,
    /// Interval windows opened by `ItreeStartBody` and not yet closed by `ItreeEndBody`.
    pub(super) itree: u8,
    /// Drain: counted in `emm_active` (checking the gate, backing off, or inside the window).
    pub(super) gate: bool,
    /// Drain: inside a walk window (entered through the gate, not yet left).
    pub(super) inside: bool,
    /// A walk delivering this callback may be under way here.
    pub(super) walk: Option<Callback>,
    /// The walk here can only be about to call (interval: the first node found under the lock).
    pub(super) call_only: bool,
    /// A walk delivering this callback may have just finished here.
    pub(super) done: Option<Callback>,
    /// The thread must be in a walk state here (interval: just after `ItreeStartBody`).
    pub(super) busy: bool,
}

/// One invalidation window of a program: its start walk and end walk (KVM-style variants), or
/// its `ItreeStartBody` and `ItreeEndBody` around one walk (interval), with the zap and the
/// free of the frame it unmaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Window {
    /// The op that opens it: the start walk, or `ItreeStartBody`.
    pub(super) open: u8,
    /// The walk that calls the notifiers first (`invalidate_start`, `invalidate`, `release`).
    pub(super) walk: u8,
    /// The walk starts at the node `open` found (interval).
    pub(super) resume: bool,
    /// `Zap(level)` or `UnmapPte`, if the window unmaps the page.
    pub(super) zap: Option<u8>,
    /// Its walks start from one snapshot of the chain (`ours@rcu-window`).
    pub(super) snapshot: bool,
    /// The thread's snapshot slot its walks use: its read-side depth at the start walk, less
    /// one (a nested window inside the outer one's section shares the outer's snapshot).
    pub(super) slot: u8,
    /// The `invalidate_end` walk (KVM-style variants).
    pub(super) end_walk: Option<u8>,
    /// The op that closes it: the end walk, or `ItreeEndBody`.
    pub(super) close: u8,
    /// `Free(level)`, if the window's frame is freed after it.
    pub(super) free: Option<u8>,
    /// Which of the thread's `old` frames the zap fills.
    pub(super) level: u8,
}

/// A position no program has.
pub(super) const NONE: u8 = u8::MAX;

/// Where the ops the invariants name stand in one program ([`NONE`] where it has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Marks {
    /// The op that links the thread's own notifier: `hlist_add_head_rcu`, the publish, or the
    /// interval insert.
    pub(super) link: u8,
    /// `e->next = head`, before the publish.
    pub(super) link_next: u8,
    /// `hlist_add_head`'s private half, before its publish.
    pub(super) link_init: u8,
    /// The owner's `kfree` once unregister returned.
    pub(super) owner_free: u8,
    /// The op that takes the thread's own notifier out: `hlist_del_init_rcu`, the seed's
    /// unlink, or the interval remove.
    pub(super) unlink: u8,
    /// `release(e)` on the thread's own notifier.
    pub(super) release: u8,
    /// `emm_stop(e)` on the thread's own (new) notifier.
    pub(super) own_stop: u8,
    /// The second half of `synchronize_srcu()`.
    pub(super) sync_wait: u8,
    /// The interval remove's wait for the invalidation round it saw to end.
    pub(super) remove_wait: u8,
    /// The `emm_stop` walk.
    pub(super) stop_walk: u8,
    /// The `emm_start` walk.
    pub(super) start_walk: u8,
    /// Teardown's `release` walk.
    pub(super) release_walk: u8,
    /// The KVM fault's `s = seq`.
    pub(super) snapshot: u8,
    /// The fault's PTE read.
    pub(super) read_pte: u8,
    /// The KVM fault's check and install under the driver's lock.
    pub(super) check_install: u8,
    /// `mmu_interval_read_begin()`.
    pub(super) read_begin: u8,
    /// Its wait for the invalidation round to end.
    pub(super) read_begin_wait: u8,
    /// The interval fault's `mmu_interval_read_retry()` and install.
    pub(super) read_retry: u8,
    /// The drain's check of `emm_stopping`.
    pub(super) gate_check: u8,
    /// The drain's back-off.
    pub(super) gate_backoff: u8,
    /// The drain's wait for `emm_stopping` to clear.
    pub(super) gate_wait: u8,
    /// The drain's count out at the window's end.
    pub(super) gate_exit: u8,
}

impl Marks {
    pub(super) fn new(ops: &[Op]) -> Marks {
        let mut m = Marks {
            link: NONE,
            link_next: NONE,
            link_init: NONE,
            owner_free: NONE,
            unlink: NONE,
            release: NONE,
            own_stop: NONE,
            sync_wait: NONE,
            remove_wait: NONE,
            stop_walk: NONE,
            start_walk: NONE,
            release_walk: NONE,
            snapshot: NONE,
            read_pte: NONE,
            check_install: NONE,
            read_begin: NONE,
            read_begin_wait: NONE,
            read_retry: NONE,
            gate_check: NONE,
            gate_backoff: NONE,
            gate_wait: NONE,
            gate_exit: NONE,
        };
        for (pc, op) in ops.iter().enumerate().rev() {
            let pc = pc as u8;
            let mark = match op {
                Op::HlistAddPublish { .. } | Op::Publish | Op::ItreeInsertBody => &mut m.link,
                Op::LinkNext => &mut m.link_next,
                Op::HlistAddInit => &mut m.link_init,
                Op::OwnerFree => &mut m.owner_free,
                Op::HlistDelInitRcu | Op::HlistDelRcu | Op::Unlink | Op::ItreeRemoveBody => {
                    &mut m.unlink
                }
                Op::CallOwn(Callback::Release) => &mut m.release,
                Op::CallOwn(Callback::Stop) => &mut m.own_stop,
                Op::SynchronizeWait => &mut m.sync_wait,
                Op::ItreeRemoveWait | Op::ItreeRemoveWaitLocked => &mut m.remove_wait,
                Op::Snapshot => &mut m.snapshot,
                Op::ReadPte | Op::ReadPteLocked => &mut m.read_pte,
                Op::CheckInstall => &mut m.check_install,
                Op::ReadBegin => &mut m.read_begin,
                Op::ReadBeginWait => &mut m.read_begin_wait,
                Op::ReadRetryInstall => &mut m.read_retry,
                Op::GateCheck => &mut m.gate_check,
                Op::GateBackoff => &mut m.gate_backoff,
                Op::GateWait => &mut m.gate_wait,
                Op::GateExit => &mut m.gate_exit,
                Op::Walk { callback, .. } => match callback {
                    Callback::Stop => &mut m.stop_walk,
                    Callback::Start => &mut m.start_walk,
                    Callback::Release => &mut m.release_walk,
                    _ => continue,
                },
                _ => continue,
            };
            // Scanning backwards leaves the first occurrence.
            *mark = pc;
        }
        m
    }
}

/// Positions in one role's program and what a thread holds at each of them.
#[derive(Clone, Debug)]
pub(super) struct RoleLayout {
    /// The program's length.
    pub(super) len: u8,
    /// `at[pc]` for `pc` in `0..=len`.
    pub(super) at: Vec<At>,
    pub(super) windows: Vec<Window>,
    pub(super) marks: Marks,
}

/// What a thread holds before each step, found along the program's control flow from its
/// first step (the steps no path reaches hold nothing); and the positions where the paths
/// disagree or a release has nothing to release.
fn held_along_every_path(program: &Program) -> (Vec<At>, Vec<u8>) {
    let ops = &program.ops[..];
    let mut at: Vec<Option<At>> = vec![None; ops.len() + 1];
    let mut conflicts = Vec::new();
    let mut work = vec![(0usize, At::default())];
    while let Some((pc, held)) = work.pop() {
        match at[pc] {
            Some(seen) if seen == held => continue,
            Some(_) => {
                conflicts.push(pc as u8);
                continue;
            }
            None => at[pc] = Some(held),
        }
        let Some(&op) = ops.get(pc) else { continue };
        let mut after = held;
        let ok = step_holds(op, &mut after);
        if !ok {
            conflicts.push(pc as u8);
        }
        work.extend(program.successors(pc).map(|next| (next, after)));
    }
    conflicts.sort_unstable();
    conflicts.dedup();
    (
        at.into_iter().map(Option::unwrap_or_default).collect(),
        conflicts,
    )
}

/// Applies `op`'s acquire or release to `held`; false if it releases what is not held.
fn step_holds(op: Op, held: &mut At) -> bool {
    fn up(n: &mut u8) -> bool {
        *n += 1;
        true
    }
    fn down(n: &mut u8) -> bool {
        match n.checked_sub(1) {
            Some(m) => {
                *n = m;
                true
            }
            None => false,
        }
    }
    match op {
        Op::MmapSemLock => up(&mut held.mmap),
        Op::MmapSemUnlock => down(&mut held.mmap),
        Op::RmapReadLock => up(&mut held.rmap_read),
        Op::RmapReadUnlock => down(&mut held.rmap_read),
        Op::TakeAllLocks => up(&mut held.rmap_write),
        Op::DropAllLocks => down(&mut held.rmap_write),
        Op::VmaStartWrite => up(&mut held.vma_write),
        Op::VmaEndWriteAll => down(&mut held.vma_write),
        Op::SpinLock => up(&mut held.spin),
        Op::SpinUnlock => down(&mut held.spin),
        Op::ReadSideLock => up(&mut held.srcu_read),
        Op::ReadSideUnlock => down(&mut held.srcu_read),
        Op::SynchronizeStart => up(&mut held.srcu_sync),
        Op::SynchronizeWait => down(&mut held.srcu_sync),
        Op::GateStop => up(&mut held.stopping),
        Op::GateDrain => {
            held.drained = true;
            true
        }
        Op::GateResume => {
            held.drained = false;
            down(&mut held.stopping)
        }
        Op::ItreeStartBody => up(&mut held.itree),
        Op::ItreeEndBody => down(&mut held.itree),
        _ => true,
    }
}

impl RoleLayout {
    pub(super) fn new(program: &Program) -> RoleLayout {
        let ops = &program.ops[..];
        // Two paths into a step that disagree cannot happen in a well-formed program (a test
        // checks every version's); the first path found is kept.
        let (mut at, _conflicts) = held_along_every_path(program);
        let walk_cb = |op: Option<&Op>| match op {
            Some(Op::Walk { callback, .. }) => Some(*callback),
            _ => None,
        };
        for pc in 0..=ops.len() {
            let after_start_body = pc >= 1 && ops[pc - 1] == Op::ItreeStartBody;
            let a = &mut at[pc];
            a.walk = walk_cb(ops.get(pc));
            if after_start_body {
                // ItreeStartBody loaded the first node: the walk it begins may already stand
                // on it.
                a.walk = ops[pc..].iter().find_map(|op| walk_cb(Some(op)));
                a.call_only = true;
                a.busy = true;
                a.done = a.walk;
            } else if pc >= 1 {
                a.done = walk_cb(ops.get(pc - 1));
            }
        }
        // The gate: GateEnter, GateCheck, GateBackoff, GateWait, then the window up to and
        // including GateExit. GateCheck jumps past the back-off; GateWait jumps back. A thread
        // is counted in emm_active from GateEnter's step until GateBackoff's or GateExit's.
        let marks = Marks::new(ops);
        if marks.gate_exit != NONE {
            for (pc, a) in at.iter_mut().enumerate() {
                let pc = pc as u8;
                a.inside = pc > marks.gate_wait && pc <= marks.gate_exit;
                a.gate = a.inside || pc == marks.gate_check || pc == marks.gate_backoff;
            }
        }
        RoleLayout {
            len: ops.len() as u8,
            at,
            windows: windows(ops),
            marks: Marks::new(ops),
        }
    }
}

/// The invalidation windows of a program.
pub(super) fn windows(ops: &[Op]) -> Vec<Window> {
    let is_walk =
        |op: &Op, cb: Callback| matches!(op, Op::Walk { callback, .. } if *callback == cb);
    let mut out = Vec::new();
    if ops.contains(&Op::ItreeStartBody) {
        // Interval: each ItreeStartBody opens a window that the matching ItreeEndBody closes.
        let mut open: Vec<Window> = Vec::new();
        for (pc, op) in ops.iter().enumerate() {
            let pc = pc as u8;
            match op {
                Op::ItreeStartBody => open.push(Window {
                    open: pc,
                    // The walk that resumes from the node this op found.
                    walk: ops[pc as usize..]
                        .iter()
                        .position(|op| matches!(op, Op::Walk { resume: true, .. }))
                        .map_or(NONE, |i| pc + i as u8),
                    resume: true,
                    zap: None,
                    snapshot: false,
                    slot: 0,
                    end_walk: None,
                    close: pc,
                    free: None,
                    level: 0,
                }),
                Op::Zap(level) => {
                    if let Some(w) = open.last_mut() {
                        w.zap = Some(pc);
                        w.level = *level;
                    }
                }
                Op::UnmapPte => {
                    if let Some(w) = open.last_mut() {
                        w.zap = Some(pc);
                    }
                }
                Op::ItreeEndBody => {
                    if let Some(mut w) = open.pop() {
                        w.close = pc;
                        if w.zap.is_some() {
                            w.free = ops[pc as usize..]
                                .iter()
                                .position(|op| *op == Op::Free(w.level))
                                .map(|i| pc + i as u8);
                        }
                        out.push(w);
                    }
                }
                _ => {}
            }
        }
        out.sort_by_key(|w| w.open);
        return out;
    }
    // KVM-style: the l-th invalidate_start walk opens level l; the first invalidate_end walk
    // after Zap(l) closes it.
    let starts = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| is_walk(op, Callback::InvalidateStart))
        .map(|(pc, _)| pc as u8);
    for (level, start) in starts.enumerate() {
        let level = level as u8;
        let Some(zap) = ops.iter().position(|op| *op == Op::Zap(level)) else {
            continue;
        };
        let Some(end) = ops[zap..]
            .iter()
            .position(|op| is_walk(op, Callback::InvalidateEnd))
            .map(|i| (zap + i) as u8)
        else {
            continue;
        };
        out.push(Window {
            open: start,
            walk: start,
            resume: false,
            zap: Some(zap as u8),
            snapshot: matches!(ops[start as usize], Op::Walk { snapshot: true, .. }),
            // Reclaim's program is straight-line: its depth at the walk counts the sections
            // opened and not closed before it.
            slot: ops[..start as usize]
                .iter()
                .fold(0i32, |depth, op| match op {
                    Op::ReadSideLock => depth + 1,
                    Op::ReadSideUnlock => depth - 1,
                    _ => depth,
                })
                .saturating_sub(1) as u8,
            end_walk: Some(end),
            close: end,
            free: ops
                .iter()
                .position(|op| *op == Op::Free(level))
                .map(|p| p as u8),
            level,
        });
    }
    out
}

/// What the invariants need to know about a model's programs and actors: a [`RoleLayout`]
/// per role, each thread's role, and each new notifier's registrar.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(super) roles: [RoleLayout; 8],
    /// `roles[thread_role[t]]` is thread `t`'s layout.
    pub(super) thread_role: Vec<u8>,
    /// The thread that registers each notifier ([`NONE`] for the initial ones).
    pub(super) registrar: [u8; MAX_NOTIFIERS],
    /// The programs are the variant's own (not an experiment's edit): the invariant applies.
    pub(super) own: bool,
}

pub(super) fn role_index(role: Role) -> usize {
    match role {
        Role::Vm => 0,
        Role::Reg => 1,
        Role::Unreg => 2,
        Role::Drv => 3,
        Role::Teardown => 4,
        Role::Aging => 5,
        Role::Fault => 6,
        Role::Oom => 7,
    }
}

impl Layout {
    /// The layout of `programs` run by `actors`; `own` says whether they are the variant's own
    /// programs.
    pub(crate) fn new(programs: &Programs, actors: &[Actor], own: bool) -> Layout {
        let mut registrar = [NONE; MAX_NOTIFIERS];
        for (t, a) in actors.iter().enumerate() {
            if a.id.role == Role::Reg {
                registrar[a.notifier as usize] = t as u8;
            }
        }
        Layout {
            thread_role: actors.iter().map(|a| role_index(a.id.role) as u8).collect(),
            registrar,
            roles: [
                RoleLayout::new(&programs.vm),
                RoleLayout::new(&programs.reg),
                RoleLayout::new(&programs.unreg),
                RoleLayout::new(&programs.drv),
                RoleLayout::new(&programs.teardown),
                RoleLayout::new(&programs.aging),
                RoleLayout::new(&programs.fault),
                RoleLayout::new(&programs.oom),
            ],
            own,
        }
    }

    /// Whether the programs are the variant's own.
    pub(crate) fn own(&self) -> bool {
        self.own
    }
}

/// Where a walk op stands for one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    NotStarted,
    InProgress,
    Complete,
}

/// The phase of the walk at `w` for thread `th`. A walk that resumes from a node an earlier op
/// loaded (`opened_at`, the interval's `ItreeStartBody`) is under way from just after that op.
pub(super) fn phase(th: &Thread, w: u8, opened_at: Option<u8>) -> Phase {
    let walking = matches!(th.wpc, WalkPc::Call | WalkPc::Wait | WalkPc::LoadNext);
    if let Some(open) = opened_at {
        // The walk resumes from the node `open` (ItreeStartBody) loaded: under way from just
        // after it, if the thread stands on a node.
        return match th.pc {
            pc if pc <= open => Phase::NotStarted,
            pc if pc <= w && walking => Phase::InProgress,
            _ => Phase::Complete,
        };
    }
    if th.pc < w || (th.pc == w && !walking) {
        Phase::NotStarted
    } else if th.pc == w {
        Phase::InProgress
    } else {
        Phase::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Variant};

    /// Every program of every version, with every actor it has, holds the same locks on
    /// every path into each step and never releases what it does not hold.
    #[test]
    fn every_program_balances_its_locks_on_every_path() {
        for variant in Variant::ALL {
            let mut config = Config {
                teardown: true,
                aging: true,
                ..Config::default_for(variant)
            };
            config.oom_reaper = Programs::supports(
                variant,
                &Config {
                    oom_reaper: true,
                    ..config
                },
            )
            .is_ok();
            config.vma_faults = usize::from(
                Programs::supports(
                    variant,
                    &Config {
                        vma_faults: 1,
                        ..config
                    },
                )
                .is_ok(),
            );
            let programs = Programs::new(variant, &config);
            for (role, program) in programs.all() {
                let (at, conflicts) = held_along_every_path(program);
                assert_eq!(conflicts, Vec::<u8>::new(), "{variant} {role:?}");
                let end = at[program.len()];
                assert_eq!(
                    (
                        end.mmap,
                        end.rmap_read,
                        end.rmap_write,
                        end.spin,
                        end.srcu_read
                    ),
                    (0, 0, 0, 0, 0),
                    "{variant} {role:?} ends holding a lock"
                );
            }
        }
    }
}
