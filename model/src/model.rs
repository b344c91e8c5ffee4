//! The stateright model: which steps are enabled, what each one does, and the spec's
//! properties checked on every state.

use crate::config::{Config, Variant};
use crate::interp::weak::WeakLocations;
use crate::interp::ITREE_INITIAL_SEQ;
use crate::invariants::Layout;
use crate::program::{Op, Program, Programs, Traits};
use crate::state::{Driver, State, Thread, WalkPc, MAX_THREADS, NIL, PPREV_HEAD, PPREV_NULL};
use emm_proofs::{
    ActorId, Callback, CallbackView, Family, FrameId, MemoryFault, NotifierId, NotifierSet,
    NotifierView, Observe, Outcome, Prop, Reason, Role, Scope, Violation, WalkView,
};
use stateright::{Model, Property};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// One step of the model: `thread` takes its next step. Each thread's program is
/// deterministic, so naming the thread names the step, but for the store a lock-free load
/// reads under `--memory lkmm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// The thread.
    pub thread: u8,
    /// Which store the step's lock-free load reads, counted back from the last store to the
    /// location: `0` (always, under sequential consistency) the last one.
    pub read: u8,
}

impl Step {
    /// Thread `t`'s step, reading the last store.
    pub fn of(t: usize) -> Step {
        Step {
            thread: t as u8,
            read: 0,
        }
    }
}

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
    /// The invalidation window of a VM thread, a page fault and the OOM reaper: from the op
    /// that begins its start walk (or `mn_itree_inv_start_range`, or the zap before an
    /// `invalidate_page`) to the op after its outer end walk (or `mn_itree_inv_end`, or the
    /// `invalidate_page` walk).
    windows: [(u8, u8); 3],
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
    /// The locations that carry message histories under `--memory lkmm`.
    weak: WeakLocations,
    /// Set once a weak location's history reached [`HISTORY_CAP`](crate::weak::HISTORY_CAP)
    /// stores and older ones, still readable, were dropped.
    capped: Arc<AtomicBool>,
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
        if config.aging && !programs.aging.is_empty() {
            actors.push(actor(Role::Aging, 0, 0));
        }
        if !programs.fault.is_empty() {
            for i in 0..config.vma_faults {
                actors.push(actor(Role::Fault, i, 0));
            }
        }
        if config.oom_reaper && !programs.oom.is_empty() {
            actors.push(actor(Role::Oom, 0, 0));
        }
        debug_assert!(actors.len() <= MAX_THREADS);
        // `unregistrar()` computes these places instead of searching for them.
        debug_assert!(actors
            .iter()
            .enumerate()
            .all(|(t, a)| a.id.role != Role::Unreg
                || t == config.invalidators + config.registrations + a.id.index));
        let window = |p: &Program| {
            let begins = |op: &Op| matches!(op, Op::Walk { .. } | Op::ItreeStartBody | Op::Zap(0));
            let ends = |op: &Op| {
                matches!(
                    op,
                    Op::Walk {
                        callback: Callback::InvalidateEnd | Callback::InvalidatePage,
                        ..
                    } | Op::ItreeEndBody
                )
            };
            (
                p.ops.iter().position(begins).unwrap_or(0) as u8,
                p.ops.iter().rposition(ends).map_or(0, |i| i + 1) as u8,
            )
        };
        let windows = [
            window(&programs.vm),
            window(&programs.fault),
            window(&programs.oom),
        ];
        let teardown_free_pc = programs
            .teardown
            .ops
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
            windows,
            teardown_free_pc,
            halt: Arc::new(AtomicBool::new(false)),
            reported: None,
            applicable: 0,
            layout,
            weak: WeakLocations::default(),
            capped: Arc::new(AtomicBool::new(false)),
        };
        for &p in Prop::ALL {
            if model.applies(p) {
                model.applicable |= p.bit();
            }
        }
        model.weak = WeakLocations::of(
            config.memory,
            model.programs.all().iter().flat_map(|(_, p)| p.ops.iter()),
        );
        model
    }

    /// The locations that carry message histories (none under sequential consistency).
    pub fn weak_locations(&self) -> WeakLocations {
        self.weak
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

    /// Whether some state's weak history reached
    /// [`HISTORY_CAP`](crate::weak::HISTORY_CAP) stores and lost older ones that a thread
    /// could still have read: the search under lkmm then explored fewer reads than the
    /// semantics allows (a violation it found is still real; a "holds" is up to the cap).
    pub fn histories_capped(&self) -> bool {
        self.capped.load(Ordering::Relaxed)
    }

    /// Records that a history was capped.
    pub(crate) fn note_capped(&self) {
        self.capped.store(true, Ordering::Relaxed);
    }

    /// The steps of the program that thread `t` runs.
    pub fn program(&self, t: usize) -> &[Op] {
        &self.program_of(t).ops
    }

    /// The program that thread `t` runs, with its branches and sources.
    pub fn program_of(&self, t: usize) -> &Program {
        self.programs.of(self.actors[t].id.role)
    }

    /// Every role's program.
    pub fn programs(&self) -> &Programs {
        &self.programs
    }

    /// What the checker knows of the version besides its programs.
    pub fn traits(&self) -> &Traits {
        &self.programs.traits
    }

    /// The grace-period slot of synchronizing thread `t`: unregistrar `j` has slot `j`,
    /// teardown the one after the unregistrars' (each concurrent `synchronize_{s,}rcu()` waits
    /// for its own set of readers).
    pub fn grace_period_slot(&self, t: usize) -> u8 {
        let a = self.actors[t].id;
        match a.role {
            Role::Unreg => a.index as u8,
            _ => crate::config::MAX_UNREGISTRATIONS as u8,
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

    /// The notifier thread `t` acts on: the one it registers, drives, or unregisters; for
    /// teardown, the node its release loop took off the list.
    pub fn own(&self, s: &State, t: usize) -> u8 {
        let a = &self.actors[t];
        match a.id.role {
            Role::Unreg => s.targets[a.id.index],
            Role::Teardown => s.threads[t].cursor,
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
        let interval = self.traits().family == Family::Interval;
        let mut s = State {
            targets,
            vm_count: c.invalidators as u8,
            thread_count: self.actors.len() as u8,
            notifier_count: c.total_notifiers() as u8,
            initial_notifiers: c.notifiers as u8,
            head: if c.notifiers > 0 { 0 } else { NIL },
            next: [NIL; crate::config::MAX_NOTIFIERS],
            pprev: [PPREV_NULL; crate::config::MAX_NOTIFIERS],
            registered: 0,
            freed_nodes: 0,
            pte: 0,
            next_frame: 1,
            freed: 0,
            mmap_sem: false,
            mmap_readers: 0,
            mmap_waiting: 0,
            rmap_readers: 0,
            rmap_writer: false,
            rmap_waiting: 0,
            vma_readers: 0,
            vma_locked: false,
            vma_waiting: false,
            spin: false,
            emm_active: 0,
            emm_stopping: false,
            itree_seq: if interval { ITREE_INITIAL_SEQ } else { 0 },
            itree_active: 0,
            deferred_insert: 0,
            deferred_remove: 0,
            drivers: [Driver::default(); crate::config::MAX_NOTIFIERS],
            threads: [Thread::default(); MAX_THREADS],
            weak: None,
        };
        for n in 0..c.notifiers {
            if n + 1 < c.notifiers {
                s.next[n] = (n + 1) as u8;
            }
            // hlist_add_head() left n0 first: its pprev is &h->first, each later one's the
            // previous node's &next. (Only the hlist versions keep pprev.)
            if self.traits().hlist {
                s.pprev[n] = if n == 0 { PPREV_HEAD } else { (n - 1) as u8 };
            }
            s.registered |= bit(n as u8);
            let d = &mut s.drivers[n];
            d.mirror = 0;
            if interval {
                // Inserted while no invalidation was active: seq - 1, never equal to an odd
                // (invalidating) value of the subscriptions' seq.
                d.seq = ITREE_INITIAL_SEQ - 1;
            }
        }
        if self.config.memory == crate::config::Memory::Lkmm {
            s.weak = Some(Box::new(self.initial_world(&s)));
        }
        s
    }

    pub(crate) fn done(&self, s: &State, t: usize) -> bool {
        let th = &s.threads[t];
        th.pc as usize >= self.program(t).len() || th.fault_kind().is_some()
    }

    /// The step at which faulted thread `t` oopsed.
    fn faulting_op(&self, t: usize, th: &Thread) -> Op {
        self.program(t)[th.pc as usize]
    }

    pub(crate) fn role_done(&self, s: &State, role: Role, notifier: Option<u8>) -> bool {
        self.actors.iter().enumerate().all(|(t, a)| {
            a.id.role != role || notifier.is_some_and(|n| a.notifier != n) || self.done(s, t)
        })
    }

    /// Whether some thread can take a step.
    pub fn can_step(&self, s: &State) -> bool {
        (0..self.actors.len()).any(|t| self.enabled(s, t))
    }

    /// Whether every thread has finished.
    pub fn is_final(&self, s: &State) -> bool {
        (0..self.actors.len()).all(|t| self.done(s, t))
    }

    /// What this variant and configuration have, which decides the properties that apply. The
    /// inductive invariant needs a correct variant running its own programs (a model built
    /// from edited programs is another protocol, which that invariant says nothing about).
    /// Interval notifiers have no `invalidate_end` and no `release` callback: at teardown they
    /// get an `MMU_NOTIFY_RELEASE` invalidation, and the unmap that frees the pages is an
    /// invalidation they see, which `no_stale_secondary` judges.
    pub fn scope(&self) -> Scope {
        let c = &self.config;
        let p = &self.programs;
        let walks_in = |p: &Program| p.ops.iter().any(|op| matches!(op, Op::Walk { .. }));
        Scope {
            registrations: c.registrations > 0,
            unregistrations: c.unregistrations > 0,
            walks: self.actors.iter().any(|a| {
                !matches!(a.id.role, Role::Reg | Role::Unreg | Role::Drv)
                    && walks_in(self.programs.of(a.id.role))
            }),
            teardown: c.teardown,
            stop_start: p.delivers(Callback::Stop),
            end_callback: p.delivers(Callback::InvalidateEnd),
            release_callback: p.delivers(Callback::Release)
                && self.traits().family != Family::Interval,
            inductive_invariant: crate::invariants::of(self.variant).is_some()
                && self.layout.own()
                && crate::invariants::covers(&self.config),
        }
    }

    /// Whether `prop` is a property or goal that this variant and configuration can exercise.
    pub fn applies(&self, prop: Prop) -> bool {
        // The inductive invariants are proved for sequential consistency: their conjuncts
        // read the last stores, which under lkmm a thread may not have seen.
        if prop == Prop::InductiveInvariant && self.config.memory == crate::config::Memory::Lkmm {
            return false;
        }
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
                self.push_steps(state, t, actions);
            }
        }
    }

    fn next_state(&self, state: &State, action: Step) -> Option<State> {
        Some(self.apply_step(state, action))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        emm_proofs::property_table!(stateright_properties)
    }

    fn format_action(&self, action: &Step) -> String {
        let name = self
            .actors
            .get(action.thread as usize)
            .map(|a| a.id.to_string())
            .unwrap_or_else(|| format!("thread{}", action.thread));
        match action.read {
            0 => name,
            back => format!("{name} (reads {back} back)"),
        }
    }

    fn format_step(&self, last_state: &State, action: Step) -> Option<String> {
        let t = action.thread as usize;
        let next = self.apply_step(last_state, action);
        Some(format!(
            "{}: {}   [{}]",
            self.actors[t].id,
            crate::trace::describe_step(self, last_state, action),
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
            // A step that oopsed ran no callback.
            if th.fault_kind().is_some() {
                return None;
            }
            let actor = self.model.actors[t];
            if matches!(th.wpc, WalkPc::Call | WalkPc::Wait) {
                return Some(CallbackView {
                    actor: actor.id,
                    notifier: th.cursor as NotifierId,
                    callback: th.callback,
                });
            }
            match self.model.program(t).get(th.pc as usize) {
                Some(Op::CallOwn(cb) | Op::CallTaken(cb)) => Some(CallbackView {
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
            // A finished walk's op is the one before the pc; only a walk that stops at its
            // first failure abandons its invalidation.
            abandoned: finished
                && th.flags & crate::state::flags::START_FAILED != 0
                && th.pc > 0
                && matches!(
                    self.model.program(t)[th.pc as usize - 1],
                    Op::Walk {
                        early_return: true,
                        ..
                    }
                ),
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
        self.model.actors.iter().enumerate().any(|(t, a)| {
            let (begin, end) = match a.id.role {
                Role::Vm => self.model.windows[0],
                Role::Fault => self.model.windows[1],
                Role::Oom => self.model.windows[2],
                _ => return false,
            };
            let th = &self.state.threads[t];
            // Inside the window once the op that begins it has taken its first step.
            let begun = th.pc > begin || (th.pc == begin && th.wpc != WalkPc::Idle);
            begun && th.pc < end && th.fault_kind().is_none()
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

    fn memory_fault(&self) -> Option<MemoryFault> {
        self.model.actors.iter().enumerate().find_map(|(t, a)| {
            let th = &self.state.threads[t];
            let kind = th.fault_kind()?;
            Some(MemoryFault {
                actor: a.id,
                op: self.model.faulting_op(t, th),
                kind,
            })
        })
    }

    fn can_step(&self) -> bool {
        self.model.can_step(self.state)
    }
}
