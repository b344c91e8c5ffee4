//! The inductive invariants of the correct variants, one function per variant.
//!
//! An inductive invariant `I` holds in every initial state, is kept by every step (if `I(s)`
//! and `s -> s'` then `I(s')`), and implies every safety property of the spec. The proof
//! documents in `proofs/proofs/` ([`emm_proofs::proofs`]) state each invariant as
//! a list of conjuncts and argue the three facts for any number of threads and notifiers; the
//! functions here are those conjuncts, in the same order and under the same names. The model
//! checks the invariant of its own variant on every state as the `always` property
//! [`Prop::InductiveInvariant`](emm_proofs::Prop::InductiveInvariant), and `tests/tests/inductive.rs` checks that it is inductive: every
//! step from a state that satisfies it, reachable or not, leads to a state that does.
//!
//! Each function returns the name of the first conjunct that is false. Conjuncts are written
//! over the thread program counters through a layout of the programs that records, for each
//! pc, what a thread there holds (locks, SRCU read sides, the drain gate, interval
//! windows) and which walk may be under way there. A count "held at pc" is the number of
//! acquiring ops minus releasing ops before `pc` in the program.

use crate::config::{Variant, MAX_NOTIFIERS};
use crate::model::{Actor, EmmModel};
use crate::program::{Op, Programs};
use crate::state::{State, Thread, WalkPc, NIL};
use emm_proofs::{Callback, Role};

/// The result of checking an invariant: `Err` names the first false conjunct.
pub type Check = Result<(), &'static str>;

/// An invariant: a predicate over the states of one model.
pub type Invariant = fn(&EmmModel, &State) -> Check;

/// The inductive invariant of `variant`; `None` for the broken variants, which have none.
pub fn of(variant: Variant) -> Option<Invariant> {
    match variant {
        Variant::TakeAllLocks => Some(take_all_locks),
        Variant::IntervalSeq => Some(interval_seq),
        Variant::EmmStopDrainStart => Some(emm_stop_drain_start),
        Variant::RcuPublish | Variant::EmmStopStart => None,
    }
}

macro_rules! ensure {
    ($cond:expr, $conjunct:expr) => {
        if !$cond {
            return Err($conjunct);
        }
    };
}

fn bit(n: u8) -> u8 {
    1 << n
}

/// What a thread holds at one pc of its program, and which walk may be under way there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct At {
    /// `mmap_sem` held for write.
    mmap: u8,
    /// Reverse-map locks held for read (two inside a nested invalidation).
    rmap_read: u8,
    /// All reverse-map locks held (`mm_take_all_locks()` done, not yet dropped).
    rmap_write: u8,
    /// The notifier spinlock (or the interval `subscriptions->lock`) held.
    spin: u8,
    /// Inside an SRCU read side.
    srcu_read: u8,
    /// Between the two halves of `synchronize_srcu()`: holds the SRCU mutex.
    srcu_sync: u8,
    /// Drain: `emm_stopping` set by this thread and not yet cleared.
    stopping: u8,
    /// Drain: past `GateDrain` and before `GateResume` (no walk window is open).
    drained: bool,
    /// Interval windows opened by `ItreeStartBody` and not yet closed by `ItreeEndBody`.
    itree: u8,
    /// Drain: counted in `emm_active` (checking the gate, backing off, or inside the window).
    gate: bool,
    /// Drain: inside a walk window (entered through the gate, not yet left).
    inside: bool,
    /// A walk delivering this callback may be under way here.
    walk: Option<Callback>,
    /// The walk here can only be about to call (interval: the first node found under the lock).
    call_only: bool,
    /// A walk delivering this callback may have just finished here.
    done: Option<Callback>,
    /// The thread must be in a walk state here (interval: just after `ItreeStartBody`).
    busy: bool,
}

/// One invalidation window of a program: its start walk and end walk (KVM-style variants), or
/// its `ItreeStartBody` and `ItreeEndBody` around one walk (interval), with the zap and the
/// free of the frame it unmaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    /// The op that opens it: the start walk, or `ItreeStartBody`.
    open: u8,
    /// The walk that calls the notifiers first (`invalidate_start`, `invalidate`, `release`).
    walk: u8,
    /// The walk starts at the node `open` found (interval).
    resume: bool,
    /// `Zap(level)` or `UnmapPte`, if the window unmaps the page.
    zap: Option<u8>,
    /// The `invalidate_end` walk (KVM-style variants).
    end_walk: Option<u8>,
    /// The op that closes it: the end walk, or `ItreeEndBody`.
    close: u8,
    /// `Free(level)`, if the window's frame is freed after it.
    free: Option<u8>,
    /// Which of the thread's `old` frames the zap fills.
    level: u8,
}

/// A position no program has.
const NONE: u8 = u8::MAX;

/// Where the ops the invariants name stand in one program ([`NONE`] where it has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Marks {
    /// The op that links the thread's own notifier: `hlist_add_head_rcu`, the publish, or the
    /// interval insert.
    link: u8,
    /// `e->next = head`, before the publish.
    link_next: u8,
    /// The op that takes the thread's own notifier out: `hlist_del_init_rcu`, the seed's
    /// unlink, or the interval remove.
    unlink: u8,
    /// `release(e)` on the thread's own notifier.
    release: u8,
    /// `emm_stop(e)` on the thread's own (new) notifier.
    own_stop: u8,
    /// The second half of `synchronize_srcu()`.
    sync_wait: u8,
    /// The `emm_stop` walk.
    stop_walk: u8,
    /// The `emm_start` walk.
    start_walk: u8,
    /// Teardown's `release` walk.
    release_walk: u8,
}

impl Marks {
    fn new(ops: &[Op]) -> Marks {
        let mut m = Marks {
            link: NONE,
            link_next: NONE,
            unlink: NONE,
            release: NONE,
            own_stop: NONE,
            sync_wait: NONE,
            stop_walk: NONE,
            start_walk: NONE,
            release_walk: NONE,
        };
        for (pc, op) in ops.iter().enumerate().rev() {
            let pc = pc as u8;
            let mark = match op {
                Op::HlistAddHeadRcu | Op::Publish | Op::ItreeInsertBody => &mut m.link,
                Op::LinkNext => &mut m.link_next,
                Op::HlistDelInitRcu | Op::Unlink | Op::ItreeRemoveBody => &mut m.unlink,
                Op::CallOwn(Callback::Release) => &mut m.release,
                Op::CallOwn(Callback::Stop) => &mut m.own_stop,
                Op::SynchronizeSrcuWait => &mut m.sync_wait,
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
struct RoleLayout {
    /// The program's length.
    len: u8,
    /// `at[pc]` for `pc` in `0..=len`.
    at: Vec<At>,
    windows: Vec<Window>,
    marks: Marks,
}

impl RoleLayout {
    fn new(ops: &[Op]) -> RoleLayout {
        let mut at = vec![At::default(); ops.len() + 1];
        let mut held = At::default();
        // Counts over ops[..pc]; every acquire in these programs is matched by a release,
        // and the only jump forward (CheckHashed) skips a balanced stretch.
        for (pc, a) in at.iter_mut().enumerate() {
            *a = At {
                walk: None,
                call_only: false,
                done: None,
                busy: false,
                gate: false,
                inside: false,
                ..held
            };
            let Some(&op) = ops.get(pc) else { break };
            match op {
                Op::MmapSemLock => held.mmap += 1,
                Op::MmapSemUnlock => held.mmap -= 1,
                Op::RmapReadLock => held.rmap_read += 1,
                Op::RmapReadUnlock => held.rmap_read -= 1,
                Op::TakeAllLocks => held.rmap_write += 1,
                Op::DropAllLocks => held.rmap_write -= 1,
                Op::SpinLock => held.spin += 1,
                Op::SpinUnlock => held.spin -= 1,
                Op::SrcuReadLock => held.srcu_read += 1,
                Op::SrcuReadUnlock => held.srcu_read -= 1,
                Op::SynchronizeSrcuFlip => held.srcu_sync += 1,
                Op::SynchronizeSrcuWait => held.srcu_sync -= 1,
                Op::GateStop => held.stopping += 1,
                Op::GateDrain => held.drained = true,
                Op::GateResume => {
                    held.stopping -= 1;
                    held.drained = false;
                }
                Op::ItreeStartBody => held.itree += 1,
                Op::ItreeEndBody => held.itree -= 1,
                _ => {}
            }
        }
        let walk_cb = |op: Option<&Op>| match op {
            Some(Op::Walk { callback, .. }) => Some(*callback),
            _ => None,
        };
        for pc in 0..=ops.len() {
            let after_start_body = pc >= 1 && ops[pc - 1] == Op::ItreeStartBody;
            let a = &mut at[pc];
            a.walk = walk_cb(ops.get(pc));
            if after_start_body {
                // ItreeStartBody loaded the first node: the walk may already stand on it.
                a.walk = walk_cb(ops.get(pc + 1));
                a.call_only = true;
                a.busy = true;
                a.done = a.walk;
            } else if pc >= 1 {
                a.done = walk_cb(ops.get(pc - 1));
            }
        }
        // The gate: GateEnter, GateCheck, GateBackoff, GateWait, then the window up to and
        // including GateExit. GateCheck jumps past the back-off; GateWait jumps back.
        if let (Some(enter), Some(exit)) = (
            ops.iter().position(|op| *op == Op::GateEnter),
            ops.iter().position(|op| *op == Op::GateExit),
        ) {
            for (pc, a) in at.iter_mut().enumerate() {
                a.inside = pc >= enter + 4 && pc <= exit;
                a.gate = a.inside || pc == enter + 1 || pc == enter + 2;
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
fn windows(ops: &[Op]) -> Vec<Window> {
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
                    walk: pc + 2,
                    resume: true,
                    zap: None,
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
    roles: [RoleLayout; 6],
    /// `roles[thread_role[t]]` is thread `t`'s layout.
    thread_role: Vec<u8>,
    /// The thread that registers each notifier ([`NONE`] for the initial ones).
    registrar: [u8; MAX_NOTIFIERS],
    /// The programs are the variant's own (not an experiment's edit): the invariant applies.
    own: bool,
}

fn role_index(role: Role) -> usize {
    match role {
        Role::Vm => 0,
        Role::Reg => 1,
        Role::Unreg => 2,
        Role::Drv => 3,
        Role::Teardown => 4,
        Role::Aging => 5,
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
enum Phase {
    NotStarted,
    InProgress,
    Complete,
}

/// The phase of the walk at `w` for thread `th`. A `resume` walk began at the
/// `ItreeStartBody` two ops before it, which loaded its first node.
fn phase(th: &Thread, w: u8, resume: bool) -> Phase {
    let walking = matches!(th.wpc, WalkPc::Call | WalkPc::Wait | WalkPc::LoadNext);
    if resume {
        return match th.pc {
            pc if pc + 2 <= w => Phase::NotStarted,
            pc if pc + 1 == w && walking => Phase::InProgress,
            pc if pc == w && walking => Phase::InProgress,
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

/// One state of one model, with the chain's reachability worked out once.
struct Ctx<'a> {
    m: &'a EmmModel,
    s: &'a State,
    lay: &'a Layout,
    /// Notifiers in the configuration.
    nc: usize,
    /// Bit mask of every notifier of the configuration.
    all: u8,
    /// `L`: the notifiers reachable from `head`.
    linked: u8,
    /// `reach[n]`: the notifiers reachable from `n`, `n` included.
    reach: [u8; MAX_NOTIFIERS],
    /// The thread that unregisters each notifier ([`NONE`] if none does).
    unregistrar: [u8; MAX_NOTIFIERS],
}

impl<'a> Ctx<'a> {
    /// Checks the conjunct `chain` (every link is `NULL` or a notifier, and following `next`
    /// from any notifier reaches `NULL`) and works out reachability.
    fn new(m: &'a EmmModel, s: &'a State) -> Result<Ctx<'a>, &'static str> {
        let nc = s.notifier_count as usize;
        let node = |x: u8| x == NIL || (x as usize) < nc;
        ensure!(
            node(s.head)
                && s.next[..nc].iter().all(|&x| node(x))
                && s.next[nc..].iter().all(|&x| x == NIL),
            "chain"
        );
        let mut reach = [0u8; MAX_NOTIFIERS];
        for (n, r) in reach.iter_mut().enumerate().take(nc) {
            let mut x = n as u8;
            while x != NIL {
                ensure!(*r & bit(x) == 0, "chain");
                *r |= bit(x);
                x = s.next[x as usize];
            }
        }
        let linked = if s.head == NIL {
            0
        } else {
            reach[s.head as usize]
        };
        let mut unregistrar = [NONE; MAX_NOTIFIERS];
        for (t, a) in m.actors().iter().enumerate() {
            if a.id.role == Role::Unreg {
                let e = m.own(s, t);
                ensure!((e as usize) < nc, "unregister");
                unregistrar[e as usize] = t as u8;
            }
        }
        Ok(Ctx {
            m,
            s,
            lay: &m.layout,
            nc,
            all: ((1u16 << nc) - 1) as u8,
            linked,
            reach,
            unregistrar,
        })
    }

    fn threads(&self) -> std::ops::Range<usize> {
        0..self.m.actors().len()
    }

    fn role(&self, t: usize) -> Role {
        self.m.actors()[t].id.role
    }

    fn layout(&self, t: usize) -> &'a RoleLayout {
        &self.lay.roles[self.lay.thread_role[t] as usize]
    }

    fn at(&self, t: usize) -> At {
        self.layout(t).at[self.s.threads[t].pc as usize]
    }

    fn done(&self, t: usize) -> bool {
        self.s.threads[t].pc >= self.layout(t).len
    }

    /// The notifiers a walk will still call if they stay reachable: from its cursor if it is
    /// about to call it, from the cursor's `next` if it has called it.
    fn ahead(&self, th: &Thread) -> u8 {
        let from = |x: u8| if x == NIL { 0 } else { self.reach[x as usize] };
        match th.wpc {
            WalkPc::Call => from(th.cursor),
            WalkPc::Wait | WalkPc::LoadNext => from(self.s.next[th.cursor as usize]),
            WalkPc::Idle | WalkPc::Done => 0,
        }
    }

    /// The notifiers a walk holds or may still hold: its cursor and what lies ahead of it.
    fn holdable(&self, th: &Thread) -> u8 {
        match th.wpc {
            WalkPc::Call | WalkPc::Wait | WalkPc::LoadNext => bit(th.cursor) | self.ahead(th),
            WalkPc::Idle | WalkPc::Done => 0,
        }
    }

    /// Whether every notifier in `set` has received `release`.
    fn all_released(&self, set: u8) -> bool {
        (0..self.nc).all(|n| set >> n & 1 == 0 || self.s.drivers[n].released)
    }

    /// The thread that registers notifier `n`, if a registrar does.
    fn registrar_of(&self, n: u8) -> Option<usize> {
        let t = self.lay.registrar[n as usize];
        (t != NONE).then_some(t as usize)
    }

    /// The thread that unregisters notifier `n`, if an unregistrar does.
    fn unregistrar_of(&self, n: u8) -> Option<usize> {
        let t = self.unregistrar[n as usize];
        (t != NONE).then_some(t as usize)
    }

    /// Conjuncts every correct variant shares: `pcs`, `started`, `walks`, `frames`,
    /// `drivers`.
    fn common(&self) -> Check {
        let s = self.s;
        for t in self.threads() {
            ensure!(s.threads[t].pc <= self.layout(t).len, "pcs");
        }
        // started: a new notifier's driver faults only once its register has returned, and
        // teardown runs only once every register has (the model's enabling conditions).
        for t in self.threads() {
            if !s.threads[t].started() {
                continue;
            }
            match self.role(t) {
                Role::Drv => {
                    let reg = self.registrar_of(self.m.actors()[t].notifier);
                    ensure!(reg.is_none_or(|r| self.done(r)), "started");
                }
                Role::Teardown => {
                    let registrars = self.lay.registrar[..self.nc].iter().filter(|&&r| r != NONE);
                    ensure!(
                        registrars.into_iter().all(|&r| self.done(r as usize)),
                        "started"
                    );
                }
                _ => {}
            }
        }
        self.walks()?;
        self.frames()?;
        let stop_start = self.m.variant.has_stop_start();
        for d in &s.drivers[..self.nc] {
            // drivers: release, stop and start as the callbacks count them.
            ensure!(d.released == (d.releases > 0), "drivers");
            ensure!(
                d.starts <= d.stops
                    && d.stops <= d.starts + 1
                    && d.stopped == (d.stops == d.starts + 1),
                "drivers"
            );
            ensure!(stop_start || d.stops == 0, "drivers");
        }
        Ok(())
    }

    /// `walks`: a walk is under way only at a walk op of its program, stands on a notifier,
    /// has called nothing that lies ahead of it, and has called or will reach every notifier
    /// it must call; `must` only holds linked notifiers.
    fn walks(&self) -> Check {
        for t in self.threads() {
            let th = &self.s.threads[t];
            let at = self.at(t);
            ensure!(
                (th.called | th.must) & !self.all == 0 && th.must & !self.linked == 0,
                "walks"
            );
            match th.wpc {
                WalkPc::Idle => ensure!(th.called == 0 && th.must == 0 && !at.busy, "walks"),
                WalkPc::Done => ensure!(
                    at.done == Some(th.callback) && th.cursor == NIL && th.must & !th.called == 0,
                    "walks"
                ),
                WalkPc::Call | WalkPc::Wait | WalkPc::LoadNext => {
                    ensure!(
                        at.walk == Some(th.callback)
                            && (th.cursor as usize) < self.nc
                            && (!at.call_only || th.wpc == WalkPc::Call)
                            && (th.wpc != WalkPc::Wait || th.callback == Callback::Stop),
                        "walks"
                    );
                    let called_cursor = th.called & bit(th.cursor) != 0;
                    ensure!(called_cursor == (th.wpc != WalkPc::Call), "walks");
                    let ahead = self.ahead(th);
                    ensure!(
                        th.called & ahead == 0 && th.must & !(th.called | ahead) == 0,
                        "walks"
                    );
                }
            }
        }
        Ok(())
    }

    /// `frames`: every frame handed out so far is exactly one of: the frame the PTE maps, the
    /// old frame of one invalidation between its zap and its free, or freed; no later frame
    /// is any of these.
    fn frames(&self) -> Check {
        let s = self.s;
        ensure!(s.next_frame <= 8, "frames");
        let mut seen = [0u8; 8];
        let mut note = |f: u8| -> Check {
            ensure!(f < s.next_frame, "frames");
            seen[f as usize] += 1;
            Ok(())
        };
        if s.pte != NIL {
            note(s.pte)?;
        }
        for t in self.threads() {
            let th = &s.threads[t];
            for level in 0..2u8 {
                let f = th.old[level as usize];
                if f == NIL {
                    continue;
                }
                // Only between the zap that set it and the free that clears it.
                let live = self.layout(t).windows.iter().any(|w| {
                    w.level == level
                        && w.zap.is_some_and(|z| th.pc > z)
                        && w.free.is_some_and(|fr| th.pc <= fr)
                });
                ensure!(live, "frames");
                note(f)?;
            }
        }
        for (f, &n) in seen.iter().enumerate() {
            let freed = s.freed & (1 << f) != 0;
            let count = n + freed as u8;
            ensure!(count == (f < s.next_frame as usize) as u8, "frames");
        }
        Ok(())
    }

    /// For KVM-style variants, `O(n)` for every `n`: the invalidations whose
    /// `invalidate_start` reached `n` and whose `invalidate_end` has not, as far as the state
    /// shows it. A window contributes `n` while its start walk has called `n`; between its
    /// start walk and its end walk if `n` is linked; during its end walk if `n` lies ahead.
    fn open_starts(&self) -> [i32; MAX_NOTIFIERS] {
        let mut open = [0i32; MAX_NOTIFIERS];
        for t in self.threads() {
            let th = &self.s.threads[t];
            for w in &self.layout(t).windows {
                let Some(end) = w.end_walk else { continue };
                let mask = match (phase(th, w.walk, false), phase(th, end, false)) {
                    (Phase::InProgress, _) => th.called,
                    (Phase::Complete, Phase::NotStarted) => self.linked,
                    (_, Phase::InProgress) => self.ahead(th),
                    _ => 0,
                };
                for (n, o) in open.iter_mut().enumerate().take(self.nc) {
                    *o += (mask >> n & 1) as i32;
                }
            }
        }
        open
    }

    /// `in_progress` and `mirrors` for KVM-style drivers. Each driver's `in_progress` is
    /// `O(n)`, or more if `lost_ends` allows it and the notifier is released (its ends were
    /// lost when it left the chain). A mapped mirror maps the PTE's frame, through a notifier
    /// that `may_map`, unreleased, with no invalidation open on it.
    fn kvm_drivers(&self, lost_ends: bool, may_map: impl Fn(u8) -> bool) -> Check {
        let s = self.s;
        let open = self.open_starts();
        for (n, &o) in open.iter().enumerate().take(self.nc) {
            let d = &s.drivers[n];
            let count = d.in_progress as i32;
            ensure!(
                count == o || (lost_ends && d.released && count > o),
                "in_progress"
            );
            if d.mirror != NIL {
                ensure!(
                    d.mirror == s.pte && may_map(n as u8) && !d.released && d.in_progress == 0,
                    "mirrors"
                );
            }
        }
        Ok(())
    }

    /// `faults` for the KVM fault path (`Snapshot`, `ReadPte`, `CheckInstall`): the snapshot
    /// is never ahead of `seq`, and a fault whose check would pass read the frame the PTE
    /// maps now.
    fn kvm_faults(&self) -> Check {
        let s = self.s;
        for t in self.threads() {
            if self.role(t) != Role::Drv {
                continue;
            }
            let th = &s.threads[t];
            let d = &s.drivers[self.m.actors()[t].notifier as usize];
            match th.pc {
                0 => ensure!(th.slot == 0 && th.pte_read == NIL, "faults"),
                1 => ensure!(th.slot <= d.seq && th.pte_read == NIL, "faults"),
                2 => {
                    ensure!(th.slot <= d.seq, "faults");
                    let passes = !d.released && d.in_progress == 0 && d.seq == th.slot;
                    ensure!(!passes || th.pte_read == s.pte, "faults");
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The inductive invariant of `take-all-locks` (`proofs/proofs/take-all-locks.md`).
pub fn take_all_locks(m: &EmmModel, s: &State) -> Check {
    let c = Ctx::new(m, s)?;
    c.common()?;
    let l = c.linked;

    // Locks: each lock word is what the threads' pcs say they hold.
    let (mut mmap, mut rmap_read, mut rmap_write, mut spin, mut sync) = (0u8, 0u8, 0u8, 0u8, 0u8);
    let mut readers = [0u8; 2];
    for t in c.threads() {
        let th = &s.threads[t];
        let at = c.at(t);
        mmap += at.mmap;
        rmap_read += at.rmap_read;
        rmap_write += at.rmap_write;
        spin += at.spin;
        if at.srcu_read > 0 {
            ensure!(th.slot <= 1, "srcu");
            readers[th.slot as usize] += 1;
        }
        if at.srcu_sync > 0 {
            sync += 1;
            // It flipped the index: it waits for the readers of the other one.
            ensure!(th.slot == s.srcu_idx ^ 1, "srcu");
        }
    }
    ensure!(mmap <= 1 && s.mmap_sem == (mmap == 1), "mmap_sem");
    // mm_take_all_locks() excludes every invalidation: no reader while the writer holds them.
    ensure!(
        s.rmap_readers == rmap_read
            && rmap_write <= 1
            && s.rmap_writer == (rmap_write == 1)
            && !(s.rmap_writer && rmap_read > 0),
        "rmap"
    );
    ensure!(spin <= 1 && s.spin == (spin == 1), "spin");
    ensure!(
        s.srcu_idx <= 1
            && s.srcu_readers == readers
            && sync <= 1
            && s.srcu_sync == (sync == 1)
            // With no synchronize_srcu() under way, every reader has the current index.
            && (s.srcu_sync || readers[(s.srcu_idx ^ 1) as usize] == 0),
        "srcu"
    );

    // registered: linked notifiers are registered; a registered notifier out of the chain was
    // unlinked by teardown, which released it first.
    ensure!(
        l & !s.registered == 0 && s.registered & !c.all == 0 && c.all_released(s.registered & !l),
        "registered"
    );

    for t in c.threads() {
        let th = &s.threads[t];
        let lay = c.layout(t);
        match c.role(t) {
            Role::Reg => {
                // register: e joins the chain (and the registered set) at hlist_add_head_rcu.
                let e = m.actors()[t].notifier;
                let link = lay.marks.link;
                let inside = (bit(e) & l != 0, bit(e) & s.registered != 0);
                if th.pc <= link {
                    ensure!(inside == (false, false), "register");
                    // Never linked: nothing points to e, no walk stands on it, and no
                    // invalidate_start reached it, so linking it changes no walk's path.
                    ensure!(
                        s.next[..c.nc].iter().all(|&x| x != e)
                            && c.threads().all(|u| c.holdable(&s.threads[u]) & bit(e) == 0)
                            && s.drivers[e as usize].in_progress == 0,
                        "register"
                    );
                } else if th.pc < lay.len {
                    ensure!(inside == (true, true), "register");
                } else {
                    ensure!(inside.1, "register");
                }
            }
            Role::Unreg => {
                let e = m.own(s, t);
                let release = lay.marks.release;
                let del = lay.marks.unlink;
                let wait = lay.marks.sync_wait;
                // unregister: release first, then out of the chain and the registered set.
                ensure!(th.pc > del || s.registered & bit(e) != 0, "unregister");
                ensure!(
                    th.pc <= release || s.drivers[e as usize].released,
                    "unregister"
                );
                ensure!(
                    th.pc <= del || (s.registered | l) & bit(e) == 0,
                    "unregister"
                );
                // The grace period: once e is out of the chain, only readers that were
                // already inside can hold it; synchronize_srcu() waits for all of them.
                if th.pc == wait || th.pc == lay.len {
                    for u in c.threads() {
                        let other = &s.threads[u];
                        if c.holdable(other) & bit(e) != 0 {
                            ensure!(th.pc == wait && u != t, "srcu_grace_period");
                            ensure!(other.slot == th.slot, "srcu_grace_period");
                        }
                    }
                }
            }
            Role::Teardown => {
                let walk = lay.marks.release_walk;
                // No register runs any more: the release walk must call the whole chain.
                ensure!(th.wpc == WalkPc::Idle || th.must == l, "teardown");
                ensure!(c.all_released(th.called), "teardown");
                ensure!(th.pc <= walk || c.all_released(s.registered), "teardown");
            }
            Role::Vm => {
                // Registration is excluded for the whole invalidation: the chain only shrinks.
                ensure!(th.wpc == WalkPc::Idle || th.must == l, "walks");
            }
            Role::Drv | Role::Aging => {}
        }
    }

    // Ends are lost only by notifiers that left the chain, all released; a notifier maps only
    // while linked.
    c.kvm_drivers(true, |n| l & bit(n) != 0)?;
    c.kvm_faults()
}

/// The inductive invariant of `emm-stop-drain-start` (`proofs/proofs/emm-stop-drain-start.md`).
pub fn emm_stop_drain_start(m: &EmmModel, s: &State) -> Check {
    let c = Ctx::new(m, s)?;
    c.common()?;
    let l = c.linked;

    let (mut mmap, mut stopping, mut gate) = (0u8, 0u8, 0u8);
    let (mut drained, mut inside) = (false, false);
    let mut holder = None;
    for t in c.threads() {
        let at = c.at(t);
        mmap += at.mmap;
        stopping += at.stopping;
        gate += at.gate as u8;
        drained |= at.drained;
        inside |= at.inside;
        if at.mmap > 0 {
            holder = Some(t);
        }
    }
    ensure!(mmap <= 1 && s.mmap_sem == (mmap == 1), "mmap_sem");
    // drain: emm_active counts the threads at or past the gate; emm_stopping is set by the
    // mmap_sem holder; once it has drained, no walk window is open.
    ensure!(
        s.emm_active == gate && stopping <= 1 && s.emm_stopping == (stopping == 1),
        "drain"
    );
    ensure!(!(drained && inside), "drain");

    // registered: the seed links and publishes under mmap_sem; teardown does not unlink.
    ensure!(s.registered == l, "registered");

    for t in c.threads() {
        let th = &s.threads[t];
        let lay = c.layout(t);
        match c.role(t) {
            Role::Reg => {
                let e = m.actors()[t].notifier;
                let link_next = lay.marks.link_next;
                let publish = lay.marks.link;
                ensure!((th.pc > publish) == (l & bit(e) != 0), "register");
                // Between e->next = head and the publish, nothing else moves head.
                ensure!(
                    th.pc <= link_next || th.pc > publish || s.next[e as usize] == s.head,
                    "register"
                );
            }
            Role::Unreg => {
                let e = m.own(s, t);
                let unlink = lay.marks.unlink;
                let release = lay.marks.release;
                ensure!((th.pc <= unlink) == (l & bit(e) != 0), "unregister");
                ensure!(
                    th.pc <= release || s.drivers[e as usize].released,
                    "unregister"
                );
            }
            _ => {}
        }
        // walks: every walk runs with the chain frozen, on linked notifiers.
        ensure!(th.wpc == WalkPc::Idle || th.must == l, "walks");
        ensure!(
            !matches!(th.wpc, WalkPc::Call | WalkPc::Wait | WalkPc::LoadNext)
                || l & bit(th.cursor) != 0,
            "walks"
        );
    }

    // stop_start: which notifiers are stopped, from the register or unregister that holds
    // mmap_sem (its stop walk, the stretch between its walks, its start walk) and from the
    // notifiers unregistration took out of the chain stopped.
    let between = holder.map(|r| {
        let th = &s.threads[r];
        let marks = c.layout(r).marks;
        let stop = phase(th, marks.stop_walk, false);
        let start = phase(th, marks.start_walk, false);
        match (stop, start) {
            (Phase::InProgress, _) => th.called,
            (Phase::Complete, Phase::NotStarted) => l,
            (_, Phase::InProgress) => l & !th.called,
            _ => 0,
        }
    });
    for n in 0..c.nc as u8 {
        let expected = if l & bit(n) != 0 {
            between.unwrap_or(0) & bit(n) != 0
        } else {
            let unlinked_by_unregister = c
                .unregistrar_of(n)
                .is_some_and(|u| s.threads[u].pc > c.layout(u).marks.unlink);
            let stopped_before_link = c.registrar_of(n).is_some_and(|r| {
                let lay = c.layout(r);
                let pc = s.threads[r].pc;
                pc > lay.marks.own_stop && pc <= lay.marks.link
            });
            unlinked_by_unregister || stopped_before_link
        };
        ensure!(s.drivers[n as usize].stopped == expected, "stop_start");
    }

    // No end is ever lost: nothing leaves the chain while an invalidation is open. A notifier
    // maps while live: linked, or unlinked by its unregister that has not yet released it.
    let live = |n: u8| {
        l & bit(n) != 0
            || c.unregistrar_of(n).is_some_and(|u| {
                let lay = c.layout(u);
                let pc = s.threads[u].pc;
                pc > lay.marks.unlink && pc <= lay.marks.release
            })
    };
    c.kvm_drivers(false, live)?;
    // teardown: after its release walk, every notifier that can still map is released.
    for t in c.threads() {
        if c.role(t) != Role::Teardown {
            continue;
        }
        let walk = c.layout(t).marks.release_walk;
        ensure!(c.all_released(s.threads[t].called), "teardown");
        ensure!(
            s.threads[t].pc <= walk
                || (0..c.nc as u8).all(|n| !live(n) || s.drivers[n as usize].released),
            "teardown"
        );
    }
    c.kvm_faults()
}

/// The inductive invariant of `interval-seq` (`proofs/proofs/interval-seq.md`).
pub fn interval_seq(m: &EmmModel, s: &State) -> Check {
    let c = Ctx::new(m, s)?;
    c.common()?;
    let l = c.linked;
    let (di, dr) = (s.deferred_insert, s.deferred_remove);
    let odd = s.itree_seq & 1 == 1;

    let (mut spin, mut active) = (0u8, 0u8);
    for t in c.threads() {
        let at = c.at(t);
        spin += at.spin;
        active += at.itree;
    }
    ensure!(spin <= 1 && s.spin == (spin == 1), "spin");
    // itree: active counts the open windows; seq is odd only while one is open; deferred
    // work waits only while seq is odd.
    ensure!(
        s.itree_active == active
            // seq starts at 2 and only grows: an insert outside a round takes seq - 1.
            && s.itree_seq >= crate::model::ITREE_INITIAL_SEQ
            && (!odd || active > 0)
            && ((di | dr) == 0 || odd)
            && di & l == 0
            && dr & !l == 0
            && (di | dr) & !c.all == 0,
        "itree"
    );
    ensure!(s.registered == (l & !dr) | di, "registered");
    for n in 0..c.nc as u8 {
        let d = &s.drivers[n as usize];
        ensure!(d.seq <= s.itree_seq, "itree");
        ensure!((l | di) & bit(n) == 0 || d.seq & 1 == 1, "itree");
        // A deferred insert took the seq of the round it waits for.
        ensure!(di & bit(n) == 0 || d.seq == s.itree_seq, "itree");
        ensure!(d.in_progress == 0, "drivers");
    }
    // A notifier is blocked while the current invalidation round has reached it (or it was
    // inserted during it): read_begin() waits, read_retry() fails.
    let blocked = |n: u8| odd && s.drivers[n as usize].seq == s.itree_seq;

    for t in c.threads() {
        let th = &s.threads[t];
        let lay = c.layout(t);
        // walks: a walk runs inside its window while seq is odd (its round), with the chain
        // frozen; the one exception is a walk that ItreeStartBody found empty, under the lock.
        let found_empty = th.wpc == WalkPc::Done && c.at(t).busy;
        ensure!(
            th.wpc == WalkPc::Idle || found_empty || (odd && th.slot == s.itree_seq),
            "walks"
        );
        ensure!(th.wpc == WalkPc::Idle || th.must == l, "walks");
        if matches!(th.wpc, WalkPc::Call | WalkPc::LoadNext) {
            ensure!(l & bit(th.cursor) != 0, "walks");
            ensure!(
                (0..c.nc as u8).all(|n| th.called & bit(n) == 0 || blocked(n)),
                "walks"
            );
        }
        // collision: once a window's walk is done, every notifier that can map is blocked
        // until the window closes.
        for w in &lay.windows {
            let open = th.pc > w.open && th.pc <= w.close;
            if open && phase(th, w.walk, w.resume) == Phase::Complete {
                ensure!(
                    (0..c.nc as u8).all(|n| (l | di) & bit(n) == 0 || blocked(n)),
                    "collision"
                );
            }
        }
        match c.role(t) {
            Role::Reg => {
                let e = m.actors()[t].notifier;
                let insert = lay.marks.link;
                let placed = (l | di | s.registered) & bit(e) != 0;
                ensure!(placed == (th.pc > insert), "register");
            }
            Role::Unreg => {
                let e = m.own(s, t);
                let remove = lay.marks.unlink;
                // The owner dropped its mirror first; nothing maps it again.
                ensure!(
                    th.pc == 0 || s.drivers[e as usize].mirror == NIL,
                    "unregister"
                );
                if th.pc <= remove {
                    ensure!(
                        l & s.registered & bit(e) != 0 && dr & bit(e) == 0 && th.slot == 0,
                        "unregister"
                    );
                } else {
                    ensure!(s.registered & bit(e) == 0, "unregister");
                    let gone = (l | dr) & bit(e) == 0;
                    // Once the wait returned, the remove has been applied.
                    ensure!(th.pc < lay.len || th.slot == 0, "unregister");
                    if th.slot == 0 {
                        ensure!(gone, "unregister");
                    } else {
                        // A deferred remove: applied when the round it saw ends.
                        ensure!(th.slot & 1 == 1 && th.slot <= s.itree_seq, "unregister");
                        ensure!(
                            if s.itree_seq == th.slot {
                                dr & bit(e) != 0
                            } else {
                                gone
                            },
                            "unregister"
                        );
                    }
                }
            }
            Role::Drv => {
                let n = m.actors()[t].notifier;
                let d = &s.drivers[n as usize];
                // faults: read_begin() returns a seq of a round that has ended, or waits.
                match th.pc {
                    0 => ensure!(th.slot == 0 && th.pte_read == NIL, "faults"),
                    1 => ensure!(
                        th.slot & 1 == 1
                            && th.slot <= d.seq
                            && th.slot <= s.itree_seq
                            && th.pte_read == NIL,
                        "faults"
                    ),
                    2 | 3 => {
                        ensure!(
                            th.slot & 1 == 1 && th.slot <= d.seq && th.slot < s.itree_seq,
                            "faults"
                        );
                        ensure!(th.pc == 3 || th.pte_read == NIL, "faults");
                        let passes = !d.released && d.seq == th.slot;
                        ensure!(th.pc == 2 || !passes || th.pte_read == s.pte, "faults");
                    }
                    _ => {}
                }
            }
            Role::Vm | Role::Teardown | Role::Aging => {}
        }
    }
    for n in 0..c.nc as u8 {
        let d = &s.drivers[n as usize];
        ensure!(!blocked(n) || d.mirror == NIL, "mirrors");
        if d.mirror != NIL {
            ensure!(
                d.mirror == s.pte && (l | di) & bit(n) != 0 && !d.released,
                "mirrors"
            );
        }
    }
    Ok(())
}
