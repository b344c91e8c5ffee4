//! The stateright model: which steps are enabled, what each one does, and the spec's
//! properties checked on every state.

use crate::config::{Config, Variant};
use crate::invariants::Layout;
use crate::program::{position_before, position_from, Op, Programs};
use crate::state::{Driver, State, Thread, WalkPc, MAX_THREADS, NIL};
use emm_proofs::{
    ActorId, Callback, CallbackView, FrameId, NotifierId, NotifierSet, NotifierView, Observe,
    Outcome, Prop, Reason, Role, Scope, Violation, WalkView,
};
use stateright::{Model, Property};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The first `invalidate_seq` of an interval-notifier mm (the kernel starts at 2).
pub(crate) const ITREE_INITIAL_SEQ: u8 = 2;

/// One step of the model: thread `.0` takes its next step. Each thread's program is
/// deterministic, so naming the thread names the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step(pub u8);

/// One actor of the configuration and the program it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Its name in traces.
    pub id: ActorId,
    /// The notifier it registers or drives (for registrars and drivers; an unregistrar's
    /// notifier is in the state, see [`EmmModel::own`]).
    pub notifier: u8,
}

/// The model of one variant on one configuration.
#[derive(Clone, Debug)]
pub struct EmmModel {
    /// The protocol.
    pub variant: Variant,
    /// The actors.
    pub config: Config,
    programs: Arc<Programs>,
    actors: Arc<[Actor]>,
    /// A VM thread's invalidation window: from the op that begins its start walk (the walk, or
    /// `mn_itree_inv_start_range`) to the op after its outer end walk (or `mn_itree_inv_end`).
    vm_window: (u8, u8),
    /// Teardown has freed the frames once its pc passes this.
    teardown_free_pc: u8,
    /// Set to make every state look terminal, so a running search drains and stops (the CLI's
    /// memory limit). Does not affect `deadlock_free`, which looks at the real steps.
    halt: Arc<AtomicBool>,
    /// With [`reporting_once`](Self::reporting_once): a property's [`Prop::bit`] is set once it
    /// has been discovered in this run.
    reported: Option<Arc<AtomicU64>>,
    /// The [`Prop::bit`] of every property that applies ([`Self::applies`]); one that does not
    /// is never reported.
    applicable: u64,
    /// Where each program holds what, for the inductive invariants.
    pub(crate) layout: Arc<Layout>,
}

/// A state seen through the spec's [`Observe`] interface.
#[derive(Debug)]
pub struct View<'a> {
    model: &'a EmmModel,
    state: &'a State,
    /// The linked set, computed by the first `notifier()` call ([`NIL`] until then): every
    /// property of every state builds a view, and several never ask for a notifier.
    linked: std::cell::Cell<u8>,
}

/// One stateright property per entry of the spec's property table
/// ([`emm_proofs::property_table!`]), in table order. Observation properties call the spec's
/// function on the state's [`View`]; the model's own (the inductive invariant) call the
/// model's method of the same name.
macro_rules! stateright_properties {
    ($($kind:ident $by:ident $standing:ident $variant:ident $func:ident { $($entry:tt)* })*) => {
        vec![$(stateright_property!($kind $by $variant $func)),*]
    };
}

macro_rules! stateright_property {
    (always observation $variant:ident $func:ident) => {
        Property::<EmmModel>::always(Prop::$variant.name(), |m: &EmmModel, s: &State| {
            m.once(Prop::$variant, false, || {
                emm_proofs::properties::$func(&m.view(s)).is_ok()
            })
        })
    };
    (sometimes observation $variant:ident $func:ident) => {
        Property::<EmmModel>::sometimes(Prop::$variant.name(), |m: &EmmModel, s: &State| {
            m.once(Prop::$variant, true, || {
                emm_proofs::goals::$func(&m.view(s))
            })
        })
    };
    (always model $variant:ident $func:ident) => {
        Property::<EmmModel>::always(Prop::$variant.name(), |m: &EmmModel, s: &State| {
            m.once(Prop::$variant, false, || m.$func(s).is_ok())
        })
    };
}

fn bit(n: u8) -> u8 {
    1 << n
}

impl EmmModel {
    /// The model of `variant` on `config`. The configuration must be within the bounds
    /// ([`Config::validate_bounds`]).
    pub fn new(variant: Variant, config: Config) -> EmmModel {
        EmmModel::with_programs(variant, config, Programs::new(variant, &config))
    }

    /// The model of `variant` on `config`, with its actors running `programs` instead of the
    /// variant's own: for experiments that take one mechanism out of a protocol (the tests use
    /// it to show that each correct variant's mechanism is what makes it correct).
    pub fn with_programs(variant: Variant, config: Config, programs: Programs) -> EmmModel {
        debug_assert!(config.validate_bounds().is_ok());
        let mut actors = Vec::new();
        let actor = |role, index: usize, notifier: usize| Actor {
            id: ActorId { role, index },
            notifier: notifier as u8,
        };
        for i in 0..config.invalidators {
            actors.push(actor(Role::Vm, i, 0));
        }
        for i in 0..config.registrations {
            actors.push(actor(Role::Reg, i, config.notifiers + i));
        }
        // Which notifier each unregistration takes is part of the initial state.
        for j in 0..config.unregistrations {
            actors.push(actor(Role::Unreg, j, 0));
        }
        for i in 0..config.registrations {
            let n = config.notifiers + i;
            actors.push(actor(Role::Drv, n, n));
        }
        if config.teardown {
            actors.push(actor(Role::Teardown, 0, 0));
        }
        if config.aging && variant.has_aging() {
            actors.push(actor(Role::Aging, 0, 0));
        }
        debug_assert!(actors.len() <= MAX_THREADS);
        // `unregistrar()` computes these places instead of searching for them.
        debug_assert!(actors
            .iter()
            .enumerate()
            .all(|(t, a)| a.id.role != Role::Unreg
                || t == config.invalidators + config.registrations + a.id.index));
        let begins = |op: &Op| matches!(op, Op::Walk { .. } | Op::ItreeStartBody);
        let ends = |op: &Op| {
            matches!(
                op,
                Op::Walk {
                    callback: Callback::InvalidateEnd,
                    ..
                } | Op::ItreeEndBody
            )
        };
        let vm_window = (
            programs.vm.iter().position(begins).unwrap_or(0) as u8,
            programs.vm.iter().rposition(ends).map_or(0, |i| i + 1) as u8,
        );
        let teardown_free_pc = programs
            .teardown
            .iter()
            .position(|op| matches!(op, Op::FreeFrames | Op::Free(0)))
            .unwrap_or(programs.teardown.len()) as u8;
        let own = programs == Programs::new(variant, &config);
        let layout = Arc::new(Layout::new(&programs, &actors, own));
        let mut model = EmmModel {
            variant,
            config,
            programs: Arc::new(programs),
            actors: actors.into(),
            vm_window,
            teardown_free_pc,
            halt: Arc::new(AtomicBool::new(false)),
            reported: None,
            applicable: 0,
            layout,
        };
        for &p in Prop::ALL {
            if model.applies(p) {
                model.applicable |= p.bit();
            }
        }
        model
    }

    /// The actors, in thread order.
    pub fn actors(&self) -> &[Actor] {
        &self.actors
    }

    /// The thread index of the actor called `name` (`vm0`, `reg0`, `drv2`, `teardown`, ...).
    pub fn actor_by_name(&self, name: &str) -> Option<usize> {
        self.actors.iter().position(|a| a.id.to_string() == name)
    }

    /// The same model, but each property is reported at most once per run: after its first
    /// discovery (a violation, or a goal reached) it reads as not discovered.
    ///
    /// stateright re-records a property's path (a clone of the path and a write to a shared
    /// map) at every later state that violates it or reaches it, and a broken protocol has
    /// millions of such states; that made checks of broken variants several times slower and
    /// kept two checker threads contending. It also makes a single-threaded BFS, which visits
    /// states in order of depth, keep its first (shortest) discovery instead of overwriting it
    /// with later, longer ones. Do not use it where each state's own status matters (the
    /// Explorer).
    pub fn reporting_once(&self) -> EmmModel {
        EmmModel {
            reported: Some(Arc::new(AtomicU64::new(0))),
            halt: Arc::new(AtomicBool::new(false)),
            ..self.clone()
        }
    }

    /// Evaluates property `prop`; `discovery` is the result that counts as a discovery. A
    /// property that does not apply to this variant and configuration is never discovered.
    fn once(&self, prop: Prop, discovery: bool, eval: impl FnOnce() -> bool) -> bool {
        let bit = prop.bit();
        if self.applicable & bit == 0 {
            return !discovery;
        }
        let Some(reported) = &self.reported else {
            return eval();
        };
        if reported.load(Ordering::Relaxed) & bit != 0 {
            return !discovery;
        }
        let result = eval();
        if result == discovery {
            reported.fetch_or(bit, Ordering::Relaxed);
        }
        result
    }

    /// A handle that, once set, makes the model report no steps, so a running search stops.
    pub fn halt_switch(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.halt)
    }

    /// The program that thread `t` runs.
    pub fn program(&self, t: usize) -> &[Op] {
        let p = &self.programs;
        match self.actors[t].id.role {
            Role::Vm => &p.vm,
            Role::Reg => &p.reg,
            Role::Unreg => &p.unreg,
            Role::Drv => &p.drv,
            Role::Teardown => &p.teardown,
            Role::Aging => &p.aging,
        }
    }

    /// The state seen through the spec's [`Observe`] interface.
    pub fn view<'a>(&'a self, state: &'a State) -> View<'a> {
        View {
            model: self,
            state,
            linked: std::cell::Cell::new(NIL),
        }
    }

    /// The thread of unregistrar `j` (they follow the VM threads and the registrars).
    fn unregistrar(&self, j: usize) -> usize {
        self.config.invalidators + self.config.registrations + j
    }

    /// The notifier thread `t` acts on: the one it registers, drives, or unregisters.
    pub fn own(&self, s: &State, t: usize) -> u8 {
        let a = &self.actors[t];
        match a.id.role {
            Role::Unreg => s.targets[a.id.index],
            _ => a.notifier,
        }
    }

    /// The initial states, one per choice of the notifiers that the unregistrations take:
    /// notifiers `n0 -> n1 -> ...` registered, each driver's mirror mapping frame `f0`, every
    /// thread at the start of its program.
    pub fn initial_states(&self) -> Vec<State> {
        self.config
            .target_choices()
            .into_iter()
            .map(|targets| self.initial_state_with(targets))
            .collect()
    }

    /// The first initial state (see [`initial_states`](Self::initial_states)).
    pub fn initial_state(&self) -> State {
        self.initial_states().remove(0)
    }

    fn initial_state_with(&self, targets: [u8; crate::config::MAX_UNREGISTRATIONS]) -> State {
        let c = &self.config;
        let mut s = State {
            targets,
            vm_count: c.invalidators as u8,
            thread_count: self.actors.len() as u8,
            notifier_count: c.total_notifiers() as u8,
            initial_notifiers: c.notifiers as u8,
            head: if c.notifiers > 0 { 0 } else { NIL },
            next: [NIL; crate::config::MAX_NOTIFIERS],
            registered: 0,
            pte: 0,
            next_frame: 1,
            freed: 0,
            mmap_sem: false,
            rmap_readers: 0,
            rmap_writer: false,
            spin: false,
            srcu_idx: 0,
            srcu_readers: [0; 2],
            srcu_sync: false,
            emm_active: 0,
            emm_stopping: false,
            itree_seq: if self.variant == Variant::IntervalSeq {
                ITREE_INITIAL_SEQ
            } else {
                0
            },
            itree_active: 0,
            deferred_insert: 0,
            deferred_remove: 0,
            drivers: [Driver::default(); crate::config::MAX_NOTIFIERS],
            threads: [Thread::default(); MAX_THREADS],
        };
        for n in 0..c.notifiers {
            if n + 1 < c.notifiers {
                s.next[n] = (n + 1) as u8;
            }
            s.registered |= bit(n as u8);
            let d = &mut s.drivers[n];
            d.mirror = 0;
            if self.variant == Variant::IntervalSeq {
                // Inserted while no invalidation was active: seq - 1, never equal to an odd
                // (invalidating) value of the subscriptions' seq.
                d.seq = ITREE_INITIAL_SEQ - 1;
            }
        }
        s
    }

    fn done(&self, s: &State, t: usize) -> bool {
        s.threads[t].pc as usize >= self.program(t).len()
    }

    fn role_done(&self, s: &State, role: Role, notifier: Option<u8>) -> bool {
        self.actors.iter().enumerate().all(|(t, a)| {
            a.id.role != role || notifier.is_some_and(|n| a.notifier != n) || self.done(s, t)
        })
    }

    /// Whether a callback on notifier `n` must block: a stopped notifier blocks
    /// `invalidate_start` and `referenced` (the seed's `emm_stop`).
    fn blocked(&self, s: &State, n: u8, cb: Callback) -> bool {
        s.drivers[n as usize].stopped
            && matches!(cb, Callback::InvalidateStart | Callback::ClearYoung)
    }

    /// Whether thread `t` can take its next step.
    pub fn enabled(&self, s: &State, t: usize) -> bool {
        let program = self.program(t);
        let th = &s.threads[t];
        let Some(&op) = program.get(th.pc as usize) else {
            return false;
        };
        let actor = self.actors[t];
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
        let drv = &s.drivers[own as usize];
        match op {
            Op::Walk { callback, .. } => match th.wpc {
                WalkPc::Call => !self.blocked(s, th.cursor, callback),
                WalkPc::Wait => s.drivers[th.cursor as usize].in_progress <= 0,
                _ => true,
            },
            Op::MmapSemLock => !s.mmap_sem,
            Op::RmapReadLock => !s.rmap_writer,
            Op::TakeAllLocks => !s.rmap_writer && s.rmap_readers == 0,
            Op::SpinLock => !s.spin,
            Op::SynchronizeSrcuFlip => !s.srcu_sync,
            Op::SynchronizeSrcuWait => s.srcu_readers[th.slot as usize] == 0,
            Op::CallOwn(cb) => !self.blocked(s, own, cb),
            Op::ItreeRemoveWait => th.slot == 0 || s.itree_seq != th.slot,
            Op::GateWait => !s.emm_stopping,
            Op::GateDrain => s.emm_active == 0,
            Op::Snapshot => drv.in_progress <= 0 || drv.released,
            Op::CheckInstall => !drv.stopped,
            Op::ReadBegin => !s.spin,
            Op::ReadBeginWait => s.itree_seq != th.slot,
            _ => true,
        }
    }

    /// Whether some thread can take a step.
    pub fn can_step(&self, s: &State) -> bool {
        (0..self.actors.len()).any(|t| self.enabled(s, t))
    }

    /// Whether every thread has finished.
    pub fn is_final(&self, s: &State) -> bool {
        (0..self.actors.len()).all(|t| self.done(s, t))
    }

    /// Delivers `cb` to notifier `n`'s driver, which runs it under its lock.
    fn deliver(&self, s: &mut State, n: u8, cb: Callback, cur_seq: u8) {
        let interval = self.variant == Variant::IntervalSeq;
        let d = &mut s.drivers[n as usize];
        match cb {
            Callback::InvalidateStart => {
                d.in_progress += 1;
                d.mirror = NIL;
            }
            Callback::InvalidateEnd => {
                d.in_progress -= 1;
                d.seq = d.seq.wrapping_add(1);
            }
            Callback::Invalidate => {
                // mmu_interval_set_seq(), then zap the mirror.
                d.seq = cur_seq;
                d.mirror = NIL;
            }
            Callback::Release => {
                if interval {
                    d.seq = cur_seq;
                }
                d.releases = d.releases.saturating_add(1);
                d.released = true;
                d.mirror = NIL;
            }
            Callback::ClearYoung => {}
            Callback::Stop => {
                d.stops = d.stops.saturating_add(1);
                d.stopped = true;
            }
            Callback::Start => {
                d.starts = d.starts.saturating_add(1);
                d.stopped = false;
            }
        }
    }

    /// Unlinks `n` with one store to its predecessor's `next` (or to `head`), keeping
    /// `n->next`, as both the seed's unlink and `hlist_del_rcu()` do.
    fn unlink(s: &mut State, n: u8) {
        if s.head == n {
            s.head = s.next[n as usize];
            return;
        }
        let mut p = s.head;
        for _ in 0..crate::config::MAX_NOTIFIERS {
            if p == NIL {
                return;
            }
            if s.next[p as usize] == n {
                s.next[p as usize] = s.next[n as usize];
                return;
            }
            p = s.next[p as usize];
        }
    }

    fn link_at_head(s: &mut State, n: u8) {
        s.next[n as usize] = s.head;
        s.head = n;
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

    /// Thread `t` takes its next step. Call only when [`enabled`](Self::enabled).
    pub fn apply(&self, s: &State, t: usize) -> State {
        let mut s = s.clone();
        let program = self.program(t);
        let e = self.own(&s, t);
        // Only these ops can take a notifier out of the chain; walks under way then no longer
        // have to call it.
        let unlinks = matches!(
            program[s.threads[t].pc as usize],
            Op::Unlink
                | Op::HlistDelInitRcu
                | Op::UnlinkAll
                | Op::ItreeEndBody
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
        let op = program[th.pc as usize];
        let mut advance = true;
        match op {
            Op::Walk { callback, resume } => {
                advance = false;
                match th.wpc {
                    WalkPc::Idle | WalkPc::Done if resume => {
                        // The locked lookup found no notifier in range: the loop ends at once.
                        advance = true;
                    }
                    WalkPc::Idle | WalkPc::Done => {
                        th.callback = callback;
                        th.cursor = s.head;
                        th.called = 0;
                        th.must = s.linked();
                        if th.cursor == NIL {
                            th.wpc = WalkPc::Done;
                            advance = true;
                        } else {
                            th.wpc = WalkPc::Call;
                        }
                    }
                    WalkPc::Call => {
                        let n = th.cursor;
                        self.deliver(&mut s, n, callback, th.slot);
                        th.called |= bit(n);
                        th.wpc = if callback == Callback::Stop {
                            WalkPc::Wait
                        } else {
                            WalkPc::LoadNext
                        };
                    }
                    WalkPc::Wait => th.wpc = WalkPc::LoadNext,
                    WalkPc::LoadNext => {
                        th.cursor = s.next[th.cursor as usize];
                        if th.cursor == NIL {
                            th.wpc = WalkPc::Done;
                            advance = true;
                        } else {
                            th.wpc = WalkPc::Call;
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
                }
            }
            Op::UnmapPte => {
                th.old[0] = s.pte;
                s.pte = NIL;
            }
            Op::MmapSemLock => s.mmap_sem = true,
            Op::MmapSemUnlock => s.mmap_sem = false,
            Op::RmapReadLock => s.rmap_readers += 1,
            Op::RmapReadUnlock => s.rmap_readers -= 1,
            Op::TakeAllLocks => s.rmap_writer = true,
            Op::DropAllLocks => s.rmap_writer = false,
            Op::SpinLock => s.spin = true,
            Op::SpinUnlock => s.spin = false,
            Op::SrcuReadLock => {
                th.slot = s.srcu_idx;
                s.srcu_readers[th.slot as usize] += 1;
            }
            Op::SrcuReadUnlock => {
                s.srcu_readers[th.slot as usize] -= 1;
                th.slot = 0;
            }
            Op::SynchronizeSrcuFlip => {
                s.srcu_sync = true;
                th.slot = s.srcu_idx;
                s.srcu_idx ^= 1;
            }
            Op::SynchronizeSrcuWait => {
                s.srcu_sync = false;
                th.slot = 0;
            }
            Op::DropMirror => s.drivers[e as usize].mirror = NIL,
            Op::LinkNext | Op::NextToHead => s.next[e as usize] = s.head,
            Op::Publish => {
                s.head = e;
                s.registered |= bit(e);
            }
            Op::HlistAddHeadRcu => {
                Self::link_at_head(&mut s, e);
                s.registered |= bit(e);
            }
            Op::Unlink | Op::HlistDelInitRcu => {
                Self::unlink(&mut s, e);
                s.registered &= !bit(e);
            }
            Op::CallOwn(cb) => self.deliver(&mut s, e, cb, 0),
            Op::CheckHashed => {
                if s.linked() & bit(e) == 0 {
                    // Teardown unlinked it: skip release and unlink, go to synchronize_srcu.
                    s.registered &= !bit(e);
                    advance = false;
                    th.pc = program
                        .iter()
                        .position(|op| *op == Op::SynchronizeSrcuFlip)
                        .unwrap_or(program.len()) as u8;
                }
            }
            Op::UnlinkAll => {
                if s.head != NIL {
                    let first = s.head;
                    s.head = s.next[first as usize];
                    advance = false;
                }
            }
            Op::ItreeStartBody => {
                s.itree_active += 1;
                th.callback = Self::walk_callback_from(program, th.pc as usize);
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
            }
            Op::ItreeEndBody => {
                s.itree_active -= 1;
                if s.itree_active == 0 && s.itree_seq & 1 == 1 {
                    s.itree_seq = s.itree_seq.wrapping_add(1);
                    for n in 0..crate::config::MAX_NOTIFIERS as u8 {
                        if s.deferred_insert & bit(n) != 0 {
                            Self::link_at_head(&mut s, n);
                        }
                        if s.deferred_remove & bit(n) != 0 {
                            Self::unlink(&mut s, n);
                        }
                    }
                    s.deferred_insert = 0;
                    s.deferred_remove = 0;
                }
                th.slot = 0;
            }
            Op::ItreeInsertBody => {
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
                    Self::unlink(&mut s, e);
                }
                s.registered &= !bit(e);
            }
            Op::ItreeRemoveWait => th.slot = 0,
            Op::GateEnter => s.emm_active += 1,
            Op::GateCheck => {
                if !s.emm_stopping {
                    // Entered: skip the back-off and the wait, to the window's first op.
                    advance = false;
                    th.pc = position_from(program, th.pc as usize, Op::GateWait) as u8 + 1;
                }
            }
            Op::GateBackoff | Op::GateExit => s.emm_active -= 1,
            Op::GateWait => {
                // Try to enter again: count in anew.
                advance = false;
                th.pc = position_before(program, th.pc as usize, Op::GateEnter)
                    .expect("a drain's wait follows its count") as u8;
            }
            Op::GateStop => s.emm_stopping = true,
            Op::GateDrain => {}
            Op::GateResume => s.emm_stopping = false,
            Op::Snapshot => {
                if s.drivers[e as usize].released {
                    advance = false;
                    th.pc = program.len() as u8;
                } else {
                    th.slot = s.drivers[e as usize].seq;
                }
            }
            Op::ReadPte => th.pte_read = s.pte,
            Op::CheckInstall | Op::ReadRetryInstall => {
                s.threads[t] = th;
                let retry = self.fault_retries(&s, t);
                let d = &mut s.drivers[e as usize];
                advance = false;
                if !d.released && retry {
                    th.pc = 0;
                } else {
                    if !d.released && th.pte_read != NIL {
                        d.mirror = th.pte_read;
                        d.installed = true;
                    }
                    th.pc = program.len() as u8;
                }
                th.slot = 0;
                th.pte_read = NIL;
            }
            Op::ReadBegin => {
                let d = &s.drivers[e as usize];
                advance = false;
                if d.released {
                    th.pc = program.len() as u8;
                } else {
                    th.slot = d.seq;
                    th.pc += 1;
                    if th.slot != s.itree_seq {
                        // Not invalidating: skip the wait.
                        th.pc = position_from(program, th.pc as usize, Op::ReadBeginWait) as u8 + 1;
                    }
                }
            }
            Op::ReadBeginWait => {}
        }
        if advance {
            th.pc += 1;
        }
        s.threads[t] = th;
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

    /// What this variant and configuration have, which decides the properties that apply. The
    /// inductive invariant needs a correct variant running its own programs (a model built
    /// from edited programs is another protocol, which that invariant says nothing about).
    /// Interval notifiers have no `invalidate_end` and no `release` callback: at teardown they
    /// get an `MMU_NOTIFY_RELEASE` invalidation, and the unmap that frees the pages is an
    /// invalidation they see, which `no_stale_secondary` judges.
    pub fn scope(&self) -> Scope {
        let c = &self.config;
        Scope {
            registrations: c.registrations > 0,
            unregistrations: c.unregistrations > 0,
            teardown: c.teardown,
            stop_start: self.variant.has_stop_start(),
            end_callback: self.variant.has_end_callback(),
            release_callback: self.variant.has_release(),
            inductive_invariant: crate::invariants::of(self.variant).is_some() && self.layout.own(),
        }
    }

    /// Whether `prop` is a property or goal that this variant and configuration can exercise.
    pub fn applies(&self, prop: Prop) -> bool {
        prop.applies(&self.scope())
    }

    /// Checks the variant's inductive invariant on `s`: `Err` names the first false conjunct.
    /// `Ok` for a variant that has none.
    pub fn inductive_invariant(&self, s: &State) -> crate::invariants::Check {
        crate::invariants::of(self.variant).map_or(Ok(()), |invariant| invariant(self, s))
    }

    /// Checks `prop` on `s`, whether or not it [applies](Self::applies).
    pub fn evaluate(&self, prop: Prop, s: &State) -> Outcome {
        if let Some(outcome) = prop.check(&self.view(s)) {
            return outcome;
        }
        debug_assert_eq!(prop, Prop::InductiveInvariant);
        match self.inductive_invariant(s) {
            Ok(()) => Outcome::Holds,
            Err(conjunct) => Outcome::Violated(Violation {
                property: prop,
                reason: Reason::Invariant {
                    variant: self.variant,
                    conjunct,
                },
            }),
        }
    }

    /// The safety properties that apply here and are broken in `s`.
    pub fn violations(&self, s: &State) -> Vec<Violation> {
        Prop::ALL
            .iter()
            .filter(|&&p| self.applies(p))
            .filter_map(|&p| match self.evaluate(p, s) {
                Outcome::Violated(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    /// Whether the fault of driver thread `t` must retry at its check (KVM: an invalidation is
    /// open or `seq` moved since the snapshot; interval: `mmu_interval_read_retry()`).
    pub fn fault_retries(&self, s: &State, t: usize) -> bool {
        let d = &s.drivers[self.own(s, t) as usize];
        let th = &s.threads[t];
        match self.variant {
            Variant::IntervalSeq => d.seq != th.slot,
            _ => d.in_progress > 0 || d.seq != th.slot,
        }
    }
}

impl Model for EmmModel {
    type State = State;
    type Action = Step;

    fn init_states(&self) -> Vec<State> {
        self.initial_states()
    }

    fn actions(&self, state: &State, actions: &mut Vec<Step>) {
        if self.halt.load(Ordering::Relaxed) {
            return;
        }
        for t in 0..self.actors.len() {
            if self.enabled(state, t) {
                actions.push(Step(t as u8));
            }
        }
    }

    fn next_state(&self, state: &State, action: Step) -> Option<State> {
        Some(self.apply(state, action.0 as usize))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        emm_proofs::property_table!(stateright_properties)
    }

    fn format_action(&self, action: &Step) -> String {
        self.actors
            .get(action.0 as usize)
            .map(|a| a.id.to_string())
            .unwrap_or_else(|| format!("thread{}", action.0))
    }

    fn format_step(&self, last_state: &State, action: Step) -> Option<String> {
        let t = action.0 as usize;
        let next = self.apply(last_state, t);
        Some(format!(
            "{}: {}   [{}]",
            self.actors[t].id,
            crate::trace::describe(self, last_state, t),
            crate::trace::changes(self, last_state, &next)
        ))
    }
}

impl View<'_> {
    fn linked(&self) -> u8 {
        if self.linked.get() == NIL {
            self.linked.set(self.state.linked());
        }
        self.linked.get()
    }

    fn walkers(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.model.actors.len()).filter(|&t| self.state.threads[t].wpc != WalkPc::Idle)
    }

    fn callbacks(&self) -> impl Iterator<Item = CallbackView> + '_ {
        (0..self.model.actors.len()).filter_map(|t| {
            let th = &self.state.threads[t];
            let actor = self.model.actors[t];
            if matches!(th.wpc, WalkPc::Call | WalkPc::Wait) {
                return Some(CallbackView {
                    actor: actor.id,
                    notifier: th.cursor as NotifierId,
                    callback: th.callback,
                });
            }
            match self.model.program(t).get(th.pc as usize) {
                Some(Op::CallOwn(cb)) => Some(CallbackView {
                    actor: actor.id,
                    notifier: self.model.own(self.state, t) as NotifierId,
                    callback: *cb,
                }),
                _ => None,
            }
        })
    }

    /// Whether a thread of `role` has started and not finished.
    fn any_in_progress(&self, role: Role) -> bool {
        self.model.actors.iter().enumerate().any(|(t, a)| {
            a.id.role == role && self.state.threads[t].started() && !self.model.done(self.state, t)
        })
    }
}

impl Observe for View<'_> {
    fn notifier_count(&self) -> usize {
        self.model.config.total_notifiers()
    }

    fn notifier(&self, n: NotifierId) -> NotifierView {
        let d = &self.state.drivers[n];
        let b = bit(n as u8);
        NotifierView {
            linked: self.linked() & b != 0,
            registered: self.state.registered & b != 0,
            unregistered: (0..self.model.config.unregistrations).any(|j| {
                self.state.targets[j] as usize == n
                    && self.model.done(self.state, self.model.unregistrar(j))
            }),
            in_progress: d.in_progress as i32,
            mirror: (d.mirror != NIL).then_some(d.mirror as FrameId),
            installed_by_fault: d.installed,
            stops: d.stops as u32,
            starts: d.starts as u32,
            releases: d.releases as u32,
        }
    }

    fn frame_freed(&self, f: FrameId) -> bool {
        f < 8 && self.state.freed & (1 << f) != 0
    }

    fn walk_count(&self) -> usize {
        self.walkers().count()
    }

    fn walk(&self, i: usize) -> WalkView {
        let t = self.walkers().nth(i).expect("walk index in range");
        let th = &self.state.threads[t];
        let finished = th.wpc == WalkPc::Done;
        WalkView {
            actor: self.model.actors[t].id,
            callback: th.callback,
            called: NotifierSet(th.called as u64),
            must_call: NotifierSet(th.must as u64),
            next_call: matches!(th.wpc, WalkPc::Call).then_some(th.cursor as NotifierId),
            holding: matches!(th.wpc, WalkPc::Call | WalkPc::Wait | WalkPc::LoadNext)
                .then_some(th.cursor as NotifierId),
            finished,
        }
    }

    fn callback_count(&self) -> usize {
        self.callbacks().count()
    }

    fn callback(&self, i: usize) -> CallbackView {
        self.callbacks().nth(i).expect("callback index in range")
    }

    fn registration_in_progress(&self) -> bool {
        self.any_in_progress(Role::Reg)
    }

    fn unregistration_in_progress(&self) -> bool {
        self.any_in_progress(Role::Unreg)
    }

    fn invalidation_in_progress(&self) -> bool {
        let (begin, end) = self.model.vm_window;
        self.model.actors.iter().enumerate().any(|(t, a)| {
            let th = &self.state.threads[t];
            // Inside the window once the op that begins it has taken its first step.
            let begun = th.pc > begin || (th.pc == begin && th.wpc != WalkPc::Idle);
            a.id.role == Role::Vm && begun && th.pc < end
        })
    }

    fn teardown_in_progress(&self) -> bool {
        self.any_in_progress(Role::Teardown)
    }

    fn teardown_freed_frames(&self) -> bool {
        self.model.actors.iter().enumerate().any(|(t, a)| {
            a.id.role == Role::Teardown && self.state.threads[t].pc > self.model.teardown_free_pc
        })
    }

    fn is_final(&self) -> bool {
        self.model.is_final(self.state)
    }

    fn can_step(&self) -> bool {
        self.model.can_step(self.state)
    }
}
