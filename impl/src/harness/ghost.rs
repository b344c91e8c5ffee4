//! The ghost: the spec's observable state of one execution, updated at every step that changes
//! it and checked after each update, behind a `std` mutex that loom and shuttle cannot see.

use super::scenario::Execution;
use crate::space::RegistrationId;
use crate::sync::{self, thread};
use emm_proofs::{
    ActorId, Callback, CallbackView, Event, Expectation, FrameId, NotifierId, NotifierSet,
    NotifierView, Observe, Outcome, Prop, TraceEntry, Violation, WalkView,
};
use std::collections::{BTreeMap, BTreeSet};

/// What the ghost knows of one notifier.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct GhostNotifier {
    /// `register` returned (or the notifier was registered before the scenario started).
    pub(super) registered: bool,
    /// `unregister` has begun: from now on a walk may rightly miss the notifier.
    pub(super) unregistering: bool,
    /// `unregister` returned.
    pub(super) unregistered: bool,
    pub(super) in_progress: i32,
    pub(super) mirror: Option<FrameId>,
    pub(super) installed_by_fault: bool,
    pub(super) releases: u32,
    pub(super) stops: u32,
    pub(super) starts: u32,
}

#[derive(Debug, Default)]
pub(super) struct GhostState {
    pub(super) actors: Vec<(thread::ThreadId, ActorId)>,
    pub(super) notifiers: Vec<GhostNotifier>,
    pub(super) freed: Vec<bool>,
    pub(super) walks: Vec<WalkView>,
    pub(super) callbacks: Vec<CallbackView>,
    pub(super) registering: u32,
    pub(super) unregistering: u32,
    pub(super) invalidating: u32,
    pub(super) teardown: bool,
    pub(super) teardown_started: bool,
    pub(super) teardown_freed: bool,
    pub(super) finished: bool,
    pub(super) closed: bool,
    pub(super) goals: BTreeSet<Prop>,
    pub(super) violations: Vec<Violation>,
    pub(super) checks: u64,
    /// The steps of the execution, as the model's events, in the order they happened.
    pub(super) trace: Vec<TraceEntry>,
    /// The notifier number of each registration.
    #[cfg_attr(not(any(loom, feature = "trace")), allow(dead_code))]
    pub(super) ids: BTreeMap<RegistrationId, NotifierId>,
    /// The notifier each thread is about to register.
    pub(super) will_register: Vec<(thread::ThreadId, NotifierId)>,
    /// Actors whose thread has moved on to another actor or ended.
    pub(super) done: BTreeSet<ActorId>,
    /// Set while a replay steps the threads one at a time.
    pub(super) stepping: Option<Stepping>,
}

/// A replay's control of the threads: each waits at its next trace point until granted.
#[derive(Debug, Default)]
pub(super) struct Stepping {
    /// The actor allowed past its next point.
    pub(super) granted: Option<ActorId>,
    /// Actors waiting at a point.
    pub(super) parked: BTreeSet<ActorId>,
    /// The replay is over: every point lets its thread through.
    pub(super) free_run: bool,
}

impl GhostState {
    /// The actor the calling thread acts for; `None` for the thread that set the scenario up
    /// (registering the initial notifiers) and cleans up after it, whose steps are not part of
    /// the execution under check.
    pub(super) fn bound_actor(&self) -> Option<ActorId> {
        let me = sync::current_thread();
        self.actors
            .iter()
            .find(|(id, _)| *id == me)
            .map(|(_, actor)| *actor)
    }

    pub(super) fn actor(&self) -> ActorId {
        self.bound_actor()
            .expect("every thread of a scenario binds its actor before it walks")
    }

    /// The notifiers that a walk beginning now must reach if they stay: registered, not being
    /// unregistered, and not unlinked by a teardown.
    pub(super) fn must_reach(&self) -> NotifierSet {
        if self.teardown_started {
            return NotifierSet(0);
        }
        let mut set = 0;
        for (n, g) in self.notifiers.iter().enumerate() {
            if g.registered && !g.unregistering {
                set |= 1 << n;
            }
        }
        NotifierSet(set)
    }

    /// The walk delivering `callback` that `actor` has under way, if any (a thread runs one walk
    /// at a time).
    pub(super) fn open_walk(
        &mut self,
        actor: ActorId,
        callback: Callback,
    ) -> Option<&mut WalkView> {
        self.walks
            .iter_mut()
            .find(|w| w.actor == actor && !w.finished && w.callback == callback)
    }

    /// Checks every safety property by name, recording the first violation of each; records
    /// the goals reached.
    pub(super) fn check(&mut self) {
        self.checks += 1;
        for &p in Prop::ALL {
            match (p.expectation(), p.check(&*self)) {
                (Expectation::Always, Some(Outcome::Violated(v)))
                    if !self.violations.iter().any(|k| k.property == v.property) =>
                {
                    self.violations.push(v);
                }
                (Expectation::Sometimes, Some(Outcome::Reached)) => {
                    self.goals.insert(p);
                }
                _ => {}
            }
        }
    }
}

impl Observe for GhostState {
    fn notifier_count(&self) -> usize {
        self.notifiers.len()
    }
    fn notifier(&self, n: NotifierId) -> NotifierView {
        let g = self.notifiers[n];
        NotifierView {
            linked: g.registered && !g.unregistered && !self.teardown_started,
            registered: g.registered && !g.unregistered,
            unregistered: g.unregistered,
            in_progress: g.in_progress,
            mirror: g.mirror,
            installed_by_fault: g.installed_by_fault,
            stops: g.stops,
            starts: g.starts,
            releases: g.releases,
        }
    }
    fn frame_freed(&self, f: FrameId) -> bool {
        self.freed.get(f).copied().unwrap_or(false)
    }
    fn walk_count(&self) -> usize {
        self.walks.len()
    }
    fn walk(&self, i: usize) -> WalkView {
        self.walks[i]
    }
    fn callback_count(&self) -> usize {
        self.callbacks.len()
    }
    fn callback(&self, i: usize) -> CallbackView {
        self.callbacks[i]
    }
    fn registration_in_progress(&self) -> bool {
        self.registering > 0
    }
    fn unregistration_in_progress(&self) -> bool {
        self.unregistering > 0
    }
    fn invalidation_in_progress(&self) -> bool {
        self.invalidating > 0
    }
    fn teardown_in_progress(&self) -> bool {
        self.teardown
    }
    fn teardown_freed_frames(&self) -> bool {
        self.teardown_freed
    }
    fn is_final(&self) -> bool {
        self.finished
    }
    fn memory_fault(&self) -> Option<emm_proofs::MemoryFault> {
        // Safe Rust: a walk that holds an unlinked node holds it alive (`Arc`), so a use after
        // free shows up as `no_callback_after_unregister`, not as a fault.
        None
    }
    fn can_step(&self) -> bool {
        // A live execution: loom and shuttle detect a real deadlock themselves.
        true
    }
}

/// The ghost state of one execution: the spec's observable state, updated at every step that
/// changes it and checked after each update.
#[derive(Debug, Default)]
pub struct Ghost {
    pub(super) state: std::sync::Mutex<GhostState>,
    /// Signalled whenever a replay's stepping state changes.
    pub(super) stepped: std::sync::Condvar,
}

impl Ghost {
    /// Applies `f` to the ghost state, then checks every property.
    pub(super) fn update(&self, f: impl FnOnce(&mut GhostState)) {
        let mut state = self.lock();
        if !state.closed {
            f(&mut state);
            state.check();
        }
    }

    /// Stops observing: later steps (the clean-up after an execution) are not checked.
    pub(super) fn close(&self) {
        self.lock().closed = true;
    }

    pub(super) fn read<R>(&self, f: impl FnOnce(&GhostState) -> R) -> R {
        f(&self.lock())
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, GhostState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Binds the calling thread to `actor` (replacing an earlier binding of it, whose actor is
    /// then done).
    pub fn bind(&self, actor: ActorId) {
        self.unbind();
        let me = sync::current_thread();
        self.update(|s| s.actors.push((me, actor)));
    }

    /// The calling thread's actor is done.
    pub(super) fn unbind(&self) {
        let me = sync::current_thread();
        let mut s = self.lock();
        if let Some(i) = s.actors.iter().position(|(id, _)| *id == me) {
            let (_, actor) = s.actors.remove(i);
            s.done.insert(actor);
        }
        drop(s);
        self.stepped.notify_all();
    }

    /// Records `events` as steps of the calling thread's actor (none for the unbound thread
    /// that sets the scenario up and cleans up after it).
    pub(super) fn record(&self, events: &[Event]) {
        let mut s = self.lock();
        if s.closed {
            return;
        }
        if let Some(actor) = s.bound_actor() {
            s.trace
                .extend(events.iter().map(|&event| TraceEntry { actor, event }));
        }
        drop(s);
        self.stepped.notify_all();
    }

    /// A trace point (see [`crate::trace`]): during a replay, waits until the calling thread's
    /// actor is granted its next step.
    pub(super) fn point(&self) {
        let mut s = self.lock();
        let Some(actor) = s.bound_actor() else {
            return;
        };
        loop {
            let Some(stepping) = s.stepping.as_mut() else {
                return;
            };
            if stepping.free_run {
                return;
            }
            if stepping.granted == Some(actor) {
                stepping.granted = None;
                stepping.parked.remove(&actor);
                drop(s);
                self.stepped.notify_all();
                return;
            }
            stepping.parked.insert(actor);
            self.stepped.notify_all();
            s = self.stepped.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// What the execution has shown so far.
    pub(super) fn execution(&self) -> Execution {
        self.read(|s| Execution {
            goals: s.goals.clone(),
            violations: s.violations.clone(),
            checks: s.checks,
            trace: s.trace.clone(),
        })
    }

    /// The calling thread is about to register notifier `n`.
    pub(super) fn will_register(&self, n: NotifierId) {
        let me = sync::current_thread();
        let mut s = self.lock();
        s.will_register.retain(|(id, _)| *id != me);
        s.will_register.push((me, n));
    }

    /// The calling thread's registration got `id`.
    #[cfg_attr(not(any(loom, feature = "trace")), allow(dead_code))]
    pub(super) fn registering(&self, id: RegistrationId) {
        let me = sync::current_thread();
        let mut s = self.lock();
        if let Some(i) = s.will_register.iter().position(|(t, _)| *t == me) {
            let (_, n) = s.will_register.remove(i);
            s.ids.insert(id, n);
        }
    }

    /// The notifier number of registration `id`.
    #[cfg_attr(not(any(loom, feature = "trace")), allow(dead_code))]
    pub(super) fn node(&self, id: RegistrationId) -> NotifierId {
        self.lock().ids.get(&id).copied().unwrap_or(usize::MAX)
    }

    pub(super) fn add_notifier(&self, registered: bool, mirror: Option<FrameId>) -> NotifierId {
        let mut id = 0;
        self.update(|s| {
            id = s.notifiers.len();
            s.notifiers.push(GhostNotifier {
                registered,
                mirror,
                ..GhostNotifier::default()
            });
        });
        id
    }

    /// A walk delivering `callback` begins; what it must call if it stays (returned).
    pub(super) fn walk_begin(&self, callback: Callback) -> NotifierSet {
        self.walk_begin_within(callback, NotifierSet(u64::MAX))
    }

    /// A walk that can reach only `within` begins (a later walk of a snapshot window: what
    /// its first walk had to call); what it must call if it stays (returned).
    pub(super) fn walk_begin_within(&self, callback: Callback, within: NotifierSet) -> NotifierSet {
        let mut must = NotifierSet(0);
        self.update(|s| {
            must = NotifierSet(s.must_reach().0 & within.0);
            let walk = WalkView {
                actor: s.actor(),
                callback,
                called: NotifierSet(0),
                must_call: must,
                next_call: None,
                holding: None,
                finished: false,
                abandoned: false,
            };
            s.walks.push(walk);
        });
        must
    }

    pub(super) fn walk_end(&self) {
        self.update(|s| {
            let me = s.actor();
            let stayed = s.must_reach();
            if let Some(w) = s.walks.iter_mut().find(|w| w.actor == me && !w.finished) {
                w.must_call = NotifierSet(w.must_call.0 & stayed.0);
                w.finished = true;
            }
        });
        // The finished walk was checked above; it leaves the observation now.
        self.update(|s| {
            let me = s.actor();
            s.walks.retain(|w| !(w.actor == me && w.finished));
        });
    }

    pub(super) fn callback_enter(&self, notifier: NotifierId, callback: Callback) {
        self.update(|s| {
            let Some(actor) = s.bound_actor() else {
                return;
            };
            if let Some(w) = s.open_walk(actor, callback) {
                w.next_call = Some(notifier);
                w.holding = Some(notifier);
            }
            let g = &mut s.notifiers[notifier];
            match callback {
                Callback::Release => g.releases += 1,
                Callback::Stop => g.stops += 1,
                Callback::Start => g.starts += 1,
                _ => {}
            }
            s.callbacks.push(CallbackView {
                actor,
                notifier,
                callback,
            });
        });
    }

    pub(super) fn callback_exit(&self, notifier: NotifierId, callback: Callback) {
        self.update(|s| {
            let Some(actor) = s.bound_actor() else {
                return;
            };
            if let Some(w) = s.open_walk(actor, callback) {
                w.called = NotifierSet(w.called.0 | 1 << notifier);
                w.next_call = None;
                w.holding = None;
            }
            if let Some(i) = s
                .callbacks
                .iter()
                .position(|c| c.actor == actor && c.notifier == notifier && c.callback == callback)
            {
                s.callbacks.remove(i);
            }
        });
    }

    pub(super) fn driver_changed(
        &self,
        n: NotifierId,
        in_progress: i64,
        mirror: Option<FrameId>,
        by_fault: bool,
    ) {
        self.update(|s| {
            let g = &mut s.notifiers[n];
            g.in_progress = i32::try_from(in_progress).unwrap_or(i32::MIN);
            g.mirror = mirror;
            g.installed_by_fault = by_fault && mirror.is_some();
        });
    }
}

#[cfg(any(loom, feature = "trace"))]
impl crate::trace::Tracer for Ghost {
    fn point(&self) {
        Ghost::point(self);
    }

    fn record(&self, events: &[Event]) {
        Ghost::record(self, events);
    }

    fn node(&self, id: RegistrationId) -> NotifierId {
        Ghost::node(self, id)
    }

    fn registering(&self, id: RegistrationId) {
        Ghost::registering(self, id);
    }
}
