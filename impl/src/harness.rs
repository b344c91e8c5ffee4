//! A test harness that checks the spec's properties on real executions of the registry.
//!
//! It provides what the loom, shuttle and thread tests share, and what a user needs to check
//! a notifier-based driver of their own:
//!
//! * [`PageTable`]: a primary page table of one page, whose zap maps a fresh frame and whose
//!   frames are freed by the VM after the invalidation. A freed frame is only marked, never
//!   reused, so a secondary MMU that still maps it is *detected*, not crashed on.
//! * [`TestDriver`]: a secondary MMU that follows the contract with [`Secondary`]: drop the
//!   mirror on `invalidate_start`, fault with `read_begin`/`read_retry`.
//! * [`Scenario`] and [`run`]: the actors of the model's configuration (VM threads, with a
//!   nested invalidation; registrars, whose driver then faults; unregistrars; teardown; aging)
//!   as real threads of the backend in use (std, loom or shuttle).
//! * [`Sequential`]: the same operations one at a time, for the state-machine test against the
//!   model's step semantics.
//! * The execution's trace ([`Execution::trace`]): every step as the model's event, recorded
//!   by the page table, the drivers and (with the `trace` feature, and under loom and shuttle)
//!   the protocol itself, for `emm_model::conformance` to validate.
//! * `replay` (std build with the `trace` feature): a model trace replayed on real threads,
//!   released one step at a time in the trace's order ([`ReplayStep`], [`Replayed`]).
//!
//! Every step that changes what the spec observes (a callback entered or left, a driver's
//! mirror or count changed, a registration or unregistration returned, a walk begun or ended,
//! a frame freed) updates a *ghost* copy of the [`Observe`] state and checks every safety
//! property of [`emm_proofs::PROPERTIES`] on it, by name, through [`emm_proofs::evaluate`]. The
//! first violation of each property is recorded and the execution goes on (so that one run
//! shows, say, the missed `invalidate_start` both as `start_end_balanced` and, a few steps
//! later, as `no_stale_secondary`); at its end [`run`] panics naming each one, which fails the
//! loom or shuttle execution, and [`observe`] returns them. The ghost sits behind a `std` mutex that is never held across an operation of the
//! backend, so it adds no synchronisation and no scheduling point that loom or shuttle could
//! see: it observes the execution without ordering it.
//!
//! The historical chains tell a notifier when they stop and start it
//! ([`Notifier::emm_stop`]), so `stop_start_paired` is checked on their real runs too.
//! `deadlock_free` is the one property the ghost cannot decide (it would need to know whether
//! a blocked thread can ever step); loom and shuttle report a deadlock themselves.

use crate::notifier::{Notifier, Range};
use crate::secondary::Secondary;
use crate::space::RegistrationId;
use crate::space::{AddressSpace, Chain, Registration, TornDown};
use crate::sync::{self, thread, Mutex};
use emm_proofs::{
    evaluate, ActorId, Callback, CallbackView, Event, Expectation, FaultOutcome, FrameId,
    NotifierId, NotifierSet, NotifierView, Observe, Op, Outcome, Role, TraceEntry, Violation,
    WalkView, PROPERTIES,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// The one page of the harness's address space.
pub const PAGE: Range = Range {
    start: 0x1000,
    end: 0x2000,
};

/// How many times a fault reads the page table again before it gives up (installing
/// nothing, which is always safe). Bounded so that loom and shuttle explore finite runs.
const FAULT_ATTEMPTS: usize = 3;

/// What the ghost knows of one notifier.
#[derive(Clone, Copy, Debug, Default)]
struct GhostNotifier {
    /// `register` returned (or the notifier was registered before the scenario started).
    registered: bool,
    /// `unregister` has begun: from now on a walk may rightly miss the notifier.
    unregistering: bool,
    /// `unregister` returned.
    unregistered: bool,
    in_progress: i32,
    mirror: Option<FrameId>,
    installed_by_fault: bool,
    releases: u32,
    stops: u32,
    starts: u32,
}

#[derive(Debug, Default)]
struct GhostState {
    actors: Vec<(thread::ThreadId, ActorId)>,
    notifiers: Vec<GhostNotifier>,
    freed: Vec<bool>,
    walks: Vec<WalkView>,
    callbacks: Vec<CallbackView>,
    registering: u32,
    unregistering: u32,
    invalidating: u32,
    teardown: bool,
    teardown_started: bool,
    teardown_freed: bool,
    finished: bool,
    closed: bool,
    goals: BTreeSet<&'static str>,
    violations: Vec<Violation>,
    checks: u64,
    /// The steps of the execution, as the model's events, in the order they happened.
    trace: Vec<TraceEntry>,
    /// The notifier number of each registration.
    #[cfg_attr(not(any(loom, feature = "trace")), allow(dead_code))]
    ids: BTreeMap<RegistrationId, NotifierId>,
    /// The notifier each thread is about to register.
    will_register: Vec<(thread::ThreadId, NotifierId)>,
    /// Actors whose thread has moved on to another actor or ended.
    done: BTreeSet<ActorId>,
    /// Set while a replay steps the threads one at a time.
    stepping: Option<Stepping>,
}

/// A replay's control of the threads: each waits at its next trace point until granted.
#[derive(Debug, Default)]
struct Stepping {
    /// The actor allowed past its next point.
    granted: Option<ActorId>,
    /// Actors waiting at a point.
    parked: BTreeSet<ActorId>,
    /// The replay is over: every point lets its thread through.
    free_run: bool,
}

impl GhostState {
    /// The actor the calling thread acts for; `None` for the thread that set the scenario up
    /// (registering the initial notifiers) and cleans up after it, whose steps are not part of
    /// the execution under check.
    fn bound_actor(&self) -> Option<ActorId> {
        let me = sync::current_thread();
        self.actors
            .iter()
            .find(|(id, _)| *id == me)
            .map(|(_, actor)| *actor)
    }

    fn actor(&self) -> ActorId {
        self.bound_actor()
            .expect("every thread of a scenario binds its actor before it walks")
    }

    /// The notifiers that a walk beginning now must reach if they stay: registered, not being
    /// unregistered, and not unlinked by a teardown.
    fn must_reach(&self) -> NotifierSet {
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
    fn open_walk(&mut self, actor: ActorId, callback: Callback) -> Option<&mut WalkView> {
        self.walks
            .iter_mut()
            .find(|w| w.actor == actor && !w.finished && w.callback == callback)
    }

    /// Checks every safety property by name, recording the first violation of each; records
    /// the goals reached.
    fn check(&mut self) {
        self.checks += 1;
        for p in PROPERTIES {
            match (p.expectation, evaluate(p.name, &*self)) {
                (Expectation::Always, Some(Outcome::Violated(v)))
                    if !self.violations.iter().any(|k| k.property == v.property) =>
                {
                    self.violations.push(v);
                }
                (Expectation::Sometimes, Some(Outcome::Reached)) => {
                    self.goals.insert(p.name);
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
    fn can_step(&self) -> bool {
        // A live execution: loom and shuttle detect a real deadlock themselves.
        true
    }
}

/// The ghost state of one execution: the spec's observable state, updated at every step that
/// changes it and checked after each update.
#[derive(Debug, Default)]
pub struct Ghost {
    state: std::sync::Mutex<GhostState>,
    /// Signalled whenever a replay's stepping state changes.
    stepped: std::sync::Condvar,
}

impl Ghost {
    /// Applies `f` to the ghost state, then checks every property.
    fn update(&self, f: impl FnOnce(&mut GhostState)) {
        let mut state = self.lock();
        if !state.closed {
            f(&mut state);
            state.check();
        }
    }

    /// Stops observing: later steps (the clean-up after an execution) are not checked.
    fn close(&self) {
        self.lock().closed = true;
    }

    fn read<R>(&self, f: impl FnOnce(&GhostState) -> R) -> R {
        f(&self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GhostState> {
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
    fn unbind(&self) {
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
    fn record(&self, events: &[Event]) {
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
    fn point(&self) {
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
    fn execution(&self) -> Execution {
        self.read(|s| Execution {
            goals: s.goals.clone(),
            violations: s.violations.clone(),
            checks: s.checks,
            trace: s.trace.clone(),
        })
    }

    /// The calling thread is about to register notifier `n`.
    fn will_register(&self, n: NotifierId) {
        let me = sync::current_thread();
        let mut s = self.lock();
        s.will_register.retain(|(id, _)| *id != me);
        s.will_register.push((me, n));
    }

    /// The calling thread's registration got `id`.
    #[cfg_attr(not(any(loom, feature = "trace")), allow(dead_code))]
    fn registering(&self, id: RegistrationId) {
        let me = sync::current_thread();
        let mut s = self.lock();
        if let Some(i) = s.will_register.iter().position(|(t, _)| *t == me) {
            let (_, n) = s.will_register.remove(i);
            s.ids.insert(id, n);
        }
    }

    /// The notifier number of registration `id`.
    #[cfg_attr(not(any(loom, feature = "trace")), allow(dead_code))]
    fn node(&self, id: RegistrationId) -> NotifierId {
        self.lock().ids.get(&id).copied().unwrap_or(usize::MAX)
    }

    fn add_notifier(&self, registered: bool, mirror: Option<FrameId>) -> NotifierId {
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

    fn walk_begin(&self, callback: Callback) {
        self.update(|s| {
            let walk = WalkView {
                actor: s.actor(),
                callback,
                called: NotifierSet(0),
                must_call: s.must_reach(),
                next_call: None,
                holding: None,
                finished: false,
            };
            s.walks.push(walk);
        });
    }

    fn walk_end(&self) {
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

    fn callback_enter(&self, notifier: NotifierId, callback: Callback) {
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

    fn callback_exit(&self, notifier: NotifierId, callback: Callback) {
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

    fn driver_changed(
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

/// A primary page table of one page ([`PAGE`]). Zapping it maps a fresh frame (as a
/// copy-on-write or a migration does); frames are numbered from 0 and never reused, and
/// freeing one only marks it in the ghost, so a stale mirror is detected, not crashed on.
///
/// Each operation is a step of the model and records its event under the page table's lock.
#[derive(Debug)]
pub struct PageTable {
    pte: Mutex<Pte>,
    ghost: Arc<Ghost>,
}

#[derive(Debug)]
struct Pte {
    frame: Option<FrameId>,
    next_frame: FrameId,
}

impl PageTable {
    /// A page table mapping frame 0.
    pub fn new(ghost: Arc<Ghost>) -> PageTable {
        ghost.update(|s| s.freed = vec![false]);
        PageTable {
            pte: Mutex::new(Pte {
                frame: Some(0),
                next_frame: 1,
            }),
            ghost,
        }
    }

    /// Reads the PTE (a fault's read).
    pub fn read(&self) -> Option<FrameId> {
        self.ghost.point();
        let pte = self.pte.lock();
        self.ghost.record(&[Event::ReadPte { frame: pte.frame }]);
        pte.frame
    }

    /// Replaces the mapped frame by a fresh one for the invalidation at nesting `level`;
    /// returns the old frame, to be freed once the invalidation around the zap has ended.
    pub fn zap(&self, level: u8) -> Option<FrameId> {
        self.ghost.point();
        let mut pte = self.pte.lock();
        let old = pte.frame;
        if old.is_some() {
            pte.frame = Some(pte.next_frame);
            pte.next_frame += 1;
            self.ghost.update(|s| s.freed.push(false));
        }
        self.ghost.record(&[Event::Zap {
            level,
            frame: pte.frame,
        }]);
        old
    }

    /// Frees a frame that [`zap`](PageTable::zap) at `level` returned.
    pub fn free(&self, level: u8, frame: Option<FrameId>) {
        self.ghost.point();
        let _pte = self.pte.lock();
        if let Some(f) = frame {
            self.ghost.update(|s| s.freed[f] = true);
        }
        self.ghost.record(&[Event::Free { level, frame }]);
    }

    /// Teardown's `unmap_vmas()` and free: clears the PTE and frees its frame.
    pub fn free_all(&self) {
        self.ghost.point();
        let mut pte = self.pte.lock();
        let frame = pte.frame.take();
        self.ghost.update(|s| {
            if let Some(f) = frame {
                s.freed[f] = true;
            }
            s.teardown_freed = true;
        });
        self.ghost.record(&[Event::FreeFrames]);
    }
}

/// A secondary MMU that follows the contract: its mirror of [`PAGE`] lives in a
/// [`Secondary`], dropped on `invalidate_start` and `release` (after which it never installs
/// again), installed by [`fault`](TestDriver::fault) with the collision check.
///
/// Each callback records its delivery under the driver's lock, where it takes effect.
pub struct TestDriver {
    index: NotifierId,
    tlb: Secondary<Option<FrameId>>,
    ghost: Arc<Ghost>,
    /// Under a protocol that stops notifiers: whether this one is stopped (between `emm_stop`
    /// and `emm_start`, the seed's driver must not install mappings).
    stop: Option<StopGate>,
}

/// A driver's `emm_stop` state, which its fault's install waits on.
#[derive(Debug)]
struct StopGate {
    stopped: Mutex<bool>,
    started: sync::Condvar,
}

impl StopGate {
    fn new() -> StopGate {
        StopGate {
            stopped: Mutex::new(false),
            started: sync::Condvar::new(),
        }
    }
}

impl fmt::Debug for TestDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDriver")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl TestDriver {
    /// A driver of a protocol `C` notifier, known to the ghost as notifier `index`, mirroring
    /// `mirror` from the start.
    fn new<C: Chain>(
        ghost: &Arc<Ghost>,
        registered: bool,
        mirror: Option<FrameId>,
    ) -> Arc<TestDriver> {
        let index = ghost.add_notifier(registered, mirror);
        Arc::new(TestDriver {
            index,
            tlb: Secondary::new(mirror),
            ghost: Arc::clone(ghost),
            stop: C::STOPS_NOTIFIERS.then(StopGate::new),
        })
    }

    /// The driver's notifier number in the spec's observation.
    pub fn index(&self) -> NotifierId {
        self.index
    }

    /// The fault path: snapshot, read the PTE, lock, retry check, install. Gives up (installs
    /// nothing) after a few collisions; returns whether it installed a mapping.
    ///
    /// The snapshot is taken under the driver's lock and only while no invalidation is open:
    /// one taken during an invalidation could only end in a retry, so the driver waits
    /// instead, as the model's fault does (and as KVM's `mmu_invalidate_retry_gfn_unsafe()`
    /// pre-check lets it).
    pub fn fault(&self, page_table: &PageTable) -> bool {
        for _ in 0..FAULT_ATTEMPTS {
            self.ghost.point();
            let s = {
                let mirror = self.tlb.lock();
                if mirror.is_released() {
                    // The address space is going away: its frames may already be freed.
                    self.ghost.record(&[Event::Snapshot { released: true }]);
                    return false;
                }
                if mirror.in_progress() > 0 {
                    drop(mirror);
                    thread::yield_now();
                    continue;
                }
                let s = self.tlb.read_begin();
                self.ghost.record(&[Event::Snapshot { released: false }]);
                s
            };
            let pte = page_table.read();
            self.ghost.point();
            // A stopped driver installs nothing until emm_start: the install waits, holding
            // the stop state so that no emm_stop comes between the wait and the install.
            let _running = self.stop.as_ref().map(|gate| {
                gate.started
                    .wait_while(gate.stopped.lock(), |stopped| *stopped)
            });
            let mut mirror = self.tlb.lock();
            if mirror.is_released() {
                self.ghost.record(&[Event::CheckInstall {
                    outcome: FaultOutcome::Released,
                }]);
                return false;
            }
            if mirror.read_retry(s) {
                self.ghost.record(&[Event::CheckInstall {
                    outcome: FaultOutcome::Retry,
                }]);
                drop(mirror);
                thread::yield_now();
                continue;
            }
            *mirror = pte;
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), *mirror, true);
            self.ghost.record(&[Event::CheckInstall {
                outcome: FaultOutcome::Installed(pte),
            }]);
            return pte.is_some();
        }
        false
    }

    /// What an owner does before it unregisters, when the protocol sends no `release` on
    /// unregister: stop the device, drop the mirror.
    pub fn drop_mirror(&self) {
        self.ghost.point();
        let mut mirror = self.tlb.lock();
        *mirror = None;
        self.ghost
            .driver_changed(self.index, mirror.in_progress(), None, false);
        self.ghost.record(&[Event::Step(Op::DropMirror)]);
    }

    /// The driver's open invalidations.
    pub fn in_progress(&self) -> i64 {
        self.tlb.lock().in_progress()
    }

    /// Runs a callback's `body`, which records the delivery where the callback takes effect.
    fn callback(&self, callback: Callback, body: impl FnOnce(Event)) {
        self.ghost.callback_enter(self.index, callback);
        body(Event::Deliver {
            callback,
            notifier: self.index,
        });
        self.ghost.callback_exit(self.index, callback);
    }

    fn by_fault(&self) -> bool {
        self.ghost
            .read(|s| s.notifiers[self.index].installed_by_fault)
    }
}

impl Notifier for TestDriver {
    fn invalidate_start(&self, range: Range) {
        self.callback(Callback::InvalidateStart, |delivered| {
            let mut mirror = self.tlb.invalidate_start();
            if range.overlaps(&PAGE) {
                *mirror = None;
            }
            let by_fault = self.by_fault();
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), *mirror, by_fault);
            self.ghost.record(&[delivered]);
        });
    }

    fn invalidate_end(&self, _range: Range) {
        self.callback(Callback::InvalidateEnd, |delivered| {
            let mirror = self.tlb.invalidate_end();
            let by_fault = self.by_fault();
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), *mirror, by_fault);
            self.ghost.record(&[delivered]);
        });
    }

    fn clear_young(&self, _range: Range) -> bool {
        self.callback(Callback::ClearYoung, |delivered| {
            self.ghost.record(&[delivered])
        });
        false
    }

    fn emm_stop(&self) {
        self.callback(Callback::Stop, |delivered| {
            let _stopped = self.stop.as_ref().map(|gate| {
                let mut stopped = gate.stopped.lock();
                *stopped = true;
                stopped
            });
            self.ghost.record(&[delivered]);
        });
    }

    fn emm_start(&self) {
        self.callback(Callback::Start, |delivered| {
            let _started = self.stop.as_ref().map(|gate| {
                let mut stopped = gate.stopped.lock();
                *stopped = false;
                gate.started.notify_all();
                stopped
            });
            self.ghost.record(&[delivered]);
        });
    }

    fn release(&self) {
        self.callback(Callback::Release, |delivered| {
            let mut mirror = self.tlb.release();
            *mirror = None;
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), None, false);
            self.ghost.record(&[delivered]);
        });
    }
}

/// The actors of one execution, as in the model's configuration (`emm-check --help`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// VM threads, each invalidating [`PAGE`] once (zap, then free the old frame).
    pub invalidators: usize,
    /// Each invalidation nests a second one (with its own zap and free) inside it.
    pub nested: bool,
    /// Notifiers registered before the threads start; their drivers mirror frame 0. The
    /// chain is `n0 -> n1 -> ...`, as in the model.
    pub notifiers: usize,
    /// Threads that register a new notifier, whose driver then faults [`PAGE`] in. Registrar
    /// `i`'s (first) notifier is number `notifiers + i`.
    pub registrations: usize,
    /// Threads that unregister one of the initial notifiers each: the numbers here.
    pub unregister: Vec<NotifierId>,
    /// A teardown thread: `teardown()`, then the frames are freed. It starts once every
    /// registration has returned (in the kernel, `register` holds a reference that keeps
    /// `exit_mmap` away).
    pub teardown: bool,
    /// An aging thread: one `clear_young` walk.
    pub aging: bool,
    /// How many times each registrar registers, faults and unregisters its notifier (the
    /// last registration stays); 1 is the model's registrar, and the only count whose traces
    /// the model can check.
    pub rounds: usize,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            invalidators: 1,
            nested: false,
            notifiers: 0,
            registrations: 0,
            unregister: Vec::new(),
            teardown: false,
            aging: false,
            rounds: 1,
        }
    }
}

impl Scenario {
    /// The number of threads [`run`] spawns.
    pub fn threads(&self) -> usize {
        self.invalidators
            + self.registrations
            + self.unregister.len()
            + usize::from(self.teardown)
            + usize::from(self.aging)
    }
}

/// What one execution of a scenario showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// The goals of the spec that the execution reached.
    pub goals: BTreeSet<&'static str>,
    /// The first violation of each safety property that broke, in the order they broke.
    pub violations: Vec<Violation>,
    /// How many times every property was checked.
    pub checks: u64,
    /// Every step the actors took, as the model's events (complete only when the protocol
    /// records its own steps too: with the `trace` feature, and under loom and shuttle; see
    /// [`TRACED`]).
    pub trace: Vec<TraceEntry>,
}

/// Whether this build records the protocols' steps, so that [`Execution::trace`] is complete.
pub const TRACED: bool = cfg!(any(loom, feature = "trace"));

/// Which violations fail an exploration (see [`Execution::judge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// Any violated property: how a correct protocol is checked.
    Any,
    /// This property: how a test shows that a broken protocol breaks it, whatever else it
    /// breaks on the way.
    Property(&'static str),
    /// None: the exploration only collects what broke.
    Nothing,
}

impl Execution {
    /// Panics if a property was violated, naming each one and why: the message that fails a
    /// loom or shuttle exploration.
    pub fn assert_holds(&self) {
        self.judge(FailOn::Any);
    }

    /// Panics, naming every violated property and why, if a violation that `fail_on` selects
    /// happened in this execution.
    pub fn judge(&self, fail_on: FailOn) {
        let fails = match fail_on {
            FailOn::Any => !self.violations.is_empty(),
            FailOn::Property(name) => self.violations.iter().any(|v| v.property == name),
            FailOn::Nothing => false,
        };
        if fails {
            let list: Vec<String> = self.violations.iter().map(|v| format!("{v}")).collect();
            panic!("property violated: {}", list.join("; "));
        }
    }
}

fn spawn(
    ghost: &Arc<Ghost>,
    actor: ActorId,
    body: impl FnOnce() + Send + 'static,
) -> thread::JoinHandle<()> {
    let ghost = Arc::clone(ghost);
    thread::spawn(move || {
        ghost.bind(actor);
        body();
        ghost.unbind();
    })
}

/// The address space of an execution: recording its protocol's steps into the ghost where
/// the build traces.
fn address_space<C: Chain>(ghost: &Arc<Ghost>) -> Arc<AddressSpace<C>> {
    #[cfg(any(loom, feature = "trace"))]
    return AddressSpace::with_tracer(Arc::clone(ghost) as Arc<dyn crate::trace::Tracer>);
    #[cfg(not(any(loom, feature = "trace")))]
    {
        let _ = ghost;
        AddressSpace::new()
    }
}

/// `notifiers` drivers mirroring frame 0, registered so that the chain reads `n0 -> n1 ->
/// ...` (each registration goes to the head, so the last is registered first).
fn register_initial<C: Chain>(
    ghost: &Arc<Ghost>,
    mm: &Arc<AddressSpace<C>>,
    notifiers: usize,
) -> Vec<(Arc<TestDriver>, Option<Registration<C>>)> {
    let drivers: Vec<Arc<TestDriver>> = (0..notifiers)
        .map(|_| TestDriver::new::<C>(ghost, true, Some(0)))
        .collect();
    let mut registrations: Vec<Option<Registration<C>>> = Vec::new();
    for driver in drivers.iter().rev() {
        ghost.will_register(driver.index());
        let registration = mm
            .register(Arc::clone(driver) as Arc<dyn Notifier>)
            .expect("a fresh address space accepts registrations");
        registrations.push(Some(registration));
    }
    registrations.reverse();
    drivers.into_iter().zip(registrations).collect()
}

/// A count of registrations still under way, which teardown waits to reach zero.
#[derive(Debug)]
struct Registering {
    left: Mutex<usize>,
    done: sync::Condvar,
}

impl Registering {
    fn finish_one(&self) {
        *self.left.lock() -= 1;
        self.done.notify_all();
    }

    fn wait_all(&self) {
        drop(self.done.wait_while(self.left.lock(), |left| *left > 0));
    }
}

/// The threads of one execution, running.
struct Launched<C: Chain> {
    ghost: Arc<Ghost>,
    threads: Vec<thread::JoinHandle<()>>,
    initial: Vec<(Arc<TestDriver>, Option<Registration<C>>)>,
    kept: Arc<std::sync::Mutex<Vec<Registration<C>>>>,
}

/// Sets `scenario` up on protocol `C` and starts its threads.
fn launch<C: Chain>(scenario: &Scenario, ghost: Arc<Ghost>) -> Launched<C> {
    let page_table = Arc::new(PageTable::new(Arc::clone(&ghost)));
    let mm: Arc<AddressSpace<C>> = address_space(&ghost);
    let mut initial = register_initial(&ghost, &mm, scenario.notifiers);
    // Registrar i's first notifier is number notifiers + i, as in the model.
    let first: Vec<Arc<TestDriver>> = (0..scenario.registrations)
        .map(|_| TestDriver::new::<C>(&ghost, false, None))
        .collect();
    // Teardown waits for the registrations only where both run (a lock more to explore).
    let registering = (scenario.teardown && scenario.registrations > 0).then(|| {
        Arc::new(Registering {
            left: Mutex::new(scenario.registrations),
            done: sync::Condvar::new(),
        })
    });
    // The registrations that the scenario's threads leave in place, dropped (unregistered)
    // after the execution has been checked.
    let kept: Arc<std::sync::Mutex<Vec<Registration<C>>>> = Arc::default();
    let mut threads = Vec::new();

    for i in 0..scenario.invalidators {
        let (mm, pt, g) = (Arc::clone(&mm), Arc::clone(&page_table), Arc::clone(&ghost));
        let nested = scenario.nested;
        let actor = ActorId {
            role: Role::Vm,
            index: i,
        };
        threads.push(spawn(&ghost, actor, move || {
            invalidate(&mm, &pt, &g, nested)
        }));
    }
    for (i, driver) in first.into_iter().enumerate() {
        let (mm, pt, g) = (Arc::clone(&mm), Arc::clone(&page_table), Arc::clone(&ghost));
        let kept = Arc::clone(&kept);
        let registering = registering.clone();
        let rounds = scenario.rounds.max(1);
        let actor = ActorId {
            role: Role::Reg,
            index: i,
        };
        threads.push(spawn(&ghost, actor, move || {
            let mut driver = driver;
            for round in 0..rounds {
                if round > 0 {
                    g.bind(actor);
                    driver = TestDriver::new::<C>(&g, false, None);
                }
                let n = driver.index();
                g.update(|s| s.registering += 1);
                g.will_register(n);
                let registration = mm.register(Arc::clone(&driver) as Arc<dyn Notifier>);
                g.update(|s| {
                    s.registering -= 1;
                    s.notifiers[n].registered = registration.is_ok();
                });
                if round == 0 {
                    if let Some(registering) = &registering {
                        registering.finish_one();
                    }
                }
                let Ok(registration) = registration else {
                    return;
                };
                // The register returned: the thread now acts as the new notifier's driver.
                g.bind(ActorId {
                    role: Role::Drv,
                    index: n,
                });
                driver.fault(&pt);
                if round + 1 < rounds {
                    unregister(&g, &driver, registration);
                } else {
                    // The last registration stays until the execution ends.
                    kept.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(registration);
                }
            }
        }));
    }
    for (i, &target) in scenario.unregister.iter().enumerate() {
        let g = Arc::clone(&ghost);
        let (driver, registration) = &mut initial[target];
        let registration = registration
            .take()
            .expect("each initial notifier is unregistered at most once");
        let driver = Arc::clone(driver);
        let actor = ActorId {
            role: Role::Unreg,
            index: i,
        };
        threads.push(spawn(&ghost, actor, move || {
            unregister(&g, &driver, registration)
        }));
    }
    if scenario.teardown {
        let (mm, pt, g) = (Arc::clone(&mm), Arc::clone(&page_table), Arc::clone(&ghost));
        let actor = ActorId {
            role: Role::Teardown,
            index: 0,
        };
        threads.push(spawn(&ghost, actor, move || {
            if let Some(registering) = registering {
                registering.wait_all();
            }
            teardown(&mm, &pt, &g)
        }));
    }
    if scenario.aging {
        let (mm, g) = (Arc::clone(&mm), Arc::clone(&ghost));
        let actor = ActorId {
            role: Role::Aging,
            index: 0,
        };
        threads.push(spawn(&ghost, actor, move || age(&mm, &g)));
    }
    Launched {
        ghost,
        threads,
        initial,
        kept,
    }
}

impl<C: Chain> Launched<C> {
    /// What the execution showed so far; observing stops (the clean-up after an execution is
    /// not part of it).
    fn conclude(self) -> Execution {
        let ghost = self.ghost;
        ghost.update(|s| s.finished = true);
        let execution = ghost.execution();
        ghost.close();
        drop(self.kept);
        drop(self.initial);
        execution
    }
}

/// Runs one execution of `scenario` on protocol `C`, with the backend of this build, checking
/// every safety property at every observable step, and panics naming every property that broke
/// (see [`Execution::assert_holds`]). [`observe`] returns the violations instead.
pub fn run<C: Chain>(scenario: &Scenario) -> Execution {
    let execution = observe::<C>(scenario);
    execution.assert_holds();
    execution
}

/// Runs one execution of `scenario` on protocol `C` like [`run`], and returns what it showed
/// without judging it.
pub fn observe<C: Chain>(scenario: &Scenario) -> Execution {
    let mut launched = launch::<C>(scenario, Arc::new(Ghost::default()));
    for t in std::mem::take(&mut launched.threads) {
        if let Err(panic) = t.join() {
            std::panic::resume_unwind(panic);
        }
    }
    launched.conclude()
}

fn unregister<C: Chain>(ghost: &Ghost, driver: &TestDriver, registration: Registration<C>) {
    let n = driver.index();
    if !C::RELEASES_ON_UNREGISTER {
        driver.drop_mirror();
    }
    ghost.update(|s| {
        s.unregistering += 1;
        s.notifiers[n].unregistering = true;
    });
    registration.unregister();
    ghost.update(|s| {
        s.unregistering -= 1;
        s.notifiers[n].unregistered = true;
    });
}

/// Teardown: `release` over the chain, then the frames are freed.
fn teardown<C: Chain>(mm: &AddressSpace<C>, pt: &PageTable, ghost: &Ghost) {
    ghost.update(|s| {
        s.teardown = true;
        s.teardown_started = true;
    });
    ghost.walk_begin(Callback::Release);
    mm.teardown();
    ghost.walk_end();
    pt.free_all();
    ghost.update(|s| s.teardown = false);
}

/// One aging walk over [`PAGE`].
fn age<C: Chain>(mm: &AddressSpace<C>, ghost: &Ghost) {
    ghost.walk_begin(Callback::ClearYoung);
    mm.clear_young(PAGE);
    ghost.walk_end();
}

/// One VM thread: invalidate [`PAGE`] (with a nested invalidation inside if asked), zap it,
/// end, free the old frame.
fn invalidate<C: Chain>(mm: &AddressSpace<C>, pt: &PageTable, ghost: &Ghost, nested: bool) {
    ghost.update(|s| s.invalidating += 1);
    ghost.walk_begin(Callback::InvalidateStart);
    let outer = mm.invalidate_range_start(PAGE);
    ghost.walk_end();
    if nested {
        ghost.walk_begin(Callback::InvalidateStart);
        let inner = outer.nest(PAGE);
        ghost.walk_end();
        let old = pt.zap(1);
        ghost.walk_begin(Callback::InvalidateEnd);
        inner.end();
        ghost.walk_end();
        pt.free(1, old);
    }
    let old = pt.zap(0);
    ghost.walk_begin(Callback::InvalidateEnd);
    outer.end();
    ghost.walk_end();
    ghost.update(|s| s.invalidating -= 1);
    pt.free(0, old);
}

/// The scenario's operations one at a time, on the calling thread: the implementation side of
/// the sequential state-machine test against the model's step semantics. Notifier numbers
/// follow the model: the initial notifiers first, then one per registrar, in registrar order.
pub struct Sequential<C: Chain> {
    ghost: Arc<Ghost>,
    page_table: PageTable,
    mm: Arc<AddressSpace<C>>,
    drivers: Vec<Arc<TestDriver>>,
    registrations: Vec<Option<Registration<C>>>,
    nested: bool,
}

impl<C: Chain> fmt::Debug for Sequential<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sequential")
            .field("protocol", &C::VARIANT)
            .field("notifiers", &self.drivers.len())
            .finish_non_exhaustive()
    }
}

impl<C: Chain> Sequential<C> {
    /// `notifiers` registered notifiers mirroring frame 0, and `registrations` more drivers
    /// ready to register; invalidations nest a second one if `nested`.
    pub fn new(notifiers: usize, registrations: usize, nested: bool) -> Sequential<C> {
        let ghost = Arc::new(Ghost::default());
        let page_table = PageTable::new(Arc::clone(&ghost));
        let mm: Arc<AddressSpace<C>> = address_space(&ghost);
        let (mut drivers, mut registrations_held): (Vec<_>, Vec<_>) =
            register_initial(&ghost, &mm, notifiers).into_iter().unzip();
        for _ in 0..registrations {
            drivers.push(TestDriver::new::<C>(&ghost, false, None));
            registrations_held.push(None);
        }
        Sequential {
            ghost,
            page_table,
            mm,
            drivers,
            registrations: registrations_held,
            nested,
        }
    }

    fn act(&self, role: Role, index: usize) {
        self.ghost.bind(ActorId { role, index });
    }

    /// VM thread `vm`'s invalidation, to its free.
    pub fn invalidate(&mut self, vm: usize) {
        self.act(Role::Vm, vm);
        invalidate(&self.mm, &self.page_table, &self.ghost, self.nested);
    }

    /// Registers notifier `n` (one of the registrars' drivers).
    pub fn register(&mut self, n: NotifierId) -> Result<(), TornDown> {
        self.act(Role::Reg, n);
        self.ghost.will_register(n);
        let registration = self
            .mm
            .register(Arc::clone(&self.drivers[n]) as Arc<dyn Notifier>)?;
        self.ghost.update(|s| s.notifiers[n].registered = true);
        self.registrations[n] = Some(registration);
        Ok(())
    }

    /// Notifier `n`'s driver faults the page in; whether it installed a mapping.
    pub fn fault(&mut self, n: NotifierId) -> bool {
        self.act(Role::Drv, n);
        self.drivers[n].fault(&self.page_table)
    }

    /// Unregistrar `unreg` unregisters notifier `n`.
    ///
    /// # Panics
    /// If `n` is not registered.
    pub fn unregister(&mut self, unreg: usize, n: NotifierId) {
        self.act(Role::Unreg, unreg);
        let registration = self.registrations[n]
            .take()
            .expect("unregister a registered notifier");
        unregister(&self.ghost, &self.drivers[n], registration);
    }

    /// Teardown: `release` over the chain, then the frames are freed.
    pub fn teardown(&mut self) {
        self.act(Role::Teardown, 0);
        teardown(&self.mm, &self.page_table, &self.ghost);
    }

    /// One aging walk.
    pub fn clear_young(&mut self) {
        self.act(Role::Aging, 0);
        age(&self.mm, &self.ghost);
    }

    /// Notifier `n` as the spec observes it.
    pub fn notifier(&self, n: NotifierId) -> NotifierView {
        self.ghost.read(|s| s.notifier(n))
    }

    /// Whether frame `f` has been freed.
    pub fn frame_freed(&self, f: FrameId) -> bool {
        self.ghost.read(|s| s.frame_freed(f))
    }

    /// The violations seen so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.ghost.read(|s| s.violations.clone())
    }
}

/// Why the implementation did not take a step of a replayed trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The actor's thread did not reach its next step, or started it and did not finish it,
    /// within the replay's patience: it waits (for a lock, a grace period, a stopped
    /// notifier) on another actor.
    Blocked,
    /// The actor's thread took its turn, found its step could not be taken yet (a fault
    /// while an invalidation is open) and waits to try again.
    NotEnabled,
    /// The actor has finished in the implementation.
    Finished,
    /// The actor took a different step (only reported when the trace is of the same
    /// protocol).
    Different(Event),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Blocked => f.write_str("blocked: the thread waits on another actor"),
            Refusal::NotEnabled => f.write_str("not enabled: the thread checked and waits"),
            Refusal::Finished => f.write_str("finished: the actor has no steps left"),
            Refusal::Different(e) => write!(f, "a different step: {e}"),
        }
    }
}

/// One step of a model trace to replay: the actor, and the event the model's step records
/// (compared with the implementation's when the protocols are the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayStep {
    /// Who steps.
    pub actor: ActorId,
    /// What the model's step records; `None` to follow the schedule without comparing.
    pub expect: Option<Event>,
}

/// What a replay did.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// The implementation's event for each step taken, in the trace's order.
    pub taken: Vec<Event>,
    /// The step the implementation refused (its index in the trace) and why; `None` if every
    /// step was taken.
    pub refused: Option<(usize, Refusal)>,
    /// The properties the implementation broke while it followed the trace.
    pub violated_in_replay: Vec<Violation>,
    /// The execution, once every thread was let run to its end after the replay.
    pub execution: Execution,
    /// Whether every thread ended after the replay (within the patience); a deadlocked thread
    /// is left behind.
    pub completed: bool,
}

/// Events recorded and not yet matched to a step of the replayed trace, per actor.
#[cfg(all(feature = "trace", not(loom), not(feature = "shuttle")))]
type Pending = BTreeMap<ActorId, std::collections::VecDeque<Event>>;

/// The replay's side of the stepping: it grants steps and sorts the recorded events.
#[cfg(all(feature = "trace", not(loom), not(feature = "shuttle")))]
struct Controller {
    ghost: Arc<Ghost>,
    pending: Pending,
    /// How many entries of the ghost's trace have been moved to `pending`.
    distributed: usize,
    patience: std::time::Duration,
}

#[cfg(all(feature = "trace", not(loom), not(feature = "shuttle")))]
impl Controller {
    /// Waits (up to the patience) until `ready` holds, moving newly recorded events into
    /// `pending` first; returns whether it held.
    fn wait_for(&mut self, ready: impl Fn(&GhostState, &Pending) -> bool) -> bool {
        let deadline = std::time::Instant::now() + self.patience;
        let mut s = self.ghost.lock();
        loop {
            for entry in &s.trace[self.distributed..] {
                self.pending
                    .entry(entry.actor)
                    .or_default()
                    .push_back(entry.event);
            }
            self.distributed = s.trace.len();
            if ready(&s, &self.pending) {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            s = self
                .ghost
                .stepped
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn next_event(&mut self, actor: ActorId) -> Option<Event> {
        self.pending.get_mut(&actor)?.pop_front()
    }

    fn done(&self, actor: ActorId) -> bool {
        self.ghost.lock().done.contains(&actor)
    }

    /// Has `actor` take its next step: the event it recorded, or why it took none.
    fn step(&mut self, actor: ActorId) -> Result<Event, Refusal> {
        // An event the implementation recorded with an earlier one (a merged step) is this
        // step's.
        self.wait_for(|_, _| true);
        if let Some(event) = self.next_event(actor) {
            return Ok(event);
        }
        let has_event = |p: &Pending| p.get(&actor).is_some_and(|q| !q.is_empty());
        let parked = |s: &GhostState| {
            s.stepping
                .as_ref()
                .is_some_and(|st| st.granted.is_none() && st.parked.contains(&actor))
        };
        // Wait for the actor to stand at its next point ...
        let at_point = self.wait_for(|s, p| has_event(p) || s.done.contains(&actor) || parked(s));
        if let Some(event) = self.next_event(actor) {
            return Ok(event);
        }
        if self.done(actor) {
            return Err(Refusal::Finished);
        }
        if !at_point {
            return Err(Refusal::Blocked);
        }
        // ... then let it take one step, and see what it recorded.
        if let Some(st) = self.ghost.lock().stepping.as_mut() {
            st.granted = Some(actor);
        }
        self.ghost.stepped.notify_all();
        let moved = self.wait_for(|s, p| has_event(p) || s.done.contains(&actor) || parked(s));
        match self.next_event(actor) {
            Some(event) => Ok(event),
            None if self.done(actor) => Err(Refusal::Finished),
            None if moved => Err(Refusal::NotEnabled),
            None => Err(Refusal::Blocked),
        }
    }
}

/// Replays `steps` on protocol `C`, running `scenario`'s actors as real threads that stop at
/// every trace point and are released one step at a time, in the trace's order. Stops at the
/// first step the implementation refuses (see [`Refusal`]), waiting at most `patience` for a
/// thread; then lets every thread run to its end and returns what happened.
#[cfg(all(feature = "trace", not(loom), not(feature = "shuttle")))]
pub fn replay<C: Chain>(
    scenario: &Scenario,
    steps: &[ReplayStep],
    patience: std::time::Duration,
) -> Replayed {
    let ghost = Arc::new(Ghost::default());
    ghost.lock().stepping = Some(Stepping::default());
    let mut launched = launch::<C>(scenario, Arc::clone(&ghost));
    let mut controller = Controller {
        ghost: Arc::clone(&ghost),
        pending: Pending::new(),
        distributed: 0,
        patience,
    };
    let mut taken = Vec::new();
    let mut refused = None;
    for (k, step) in steps.iter().enumerate() {
        match controller.step(step.actor) {
            Ok(event) if step.expect.is_some_and(|e| e != event) => {
                refused = Some((k, Refusal::Different(event)));
                break;
            }
            Ok(event) => taken.push(event),
            Err(refusal) => {
                refused = Some((k, refusal));
                break;
            }
        }
    }

    let violated_in_replay = ghost.read(|s| s.violations.clone());
    // Let every thread run to its end, and wait (a while) for them.
    if let Some(st) = ghost.lock().stepping.as_mut() {
        st.free_run = true;
    }
    ghost.stepped.notify_all();
    let deadline = std::time::Instant::now() + patience.max(std::time::Duration::from_secs(1)) * 4;
    while launched.threads.iter().any(|t| !t.is_finished()) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let completed = launched.threads.iter().all(|t| t.is_finished());
    let execution = if completed {
        for t in std::mem::take(&mut launched.threads) {
            if let Err(panic) = t.join() {
                std::panic::resume_unwind(panic);
            }
        }
        launched.conclude()
    } else {
        // A deadlocked thread cannot be joined: leave the threads and what they hold.
        let execution = ghost.execution();
        ghost.close();
        std::mem::forget(launched);
        execution
    };
    Replayed {
        taken,
        refused,
        violated_in_replay,
        execution,
        completed,
    }
}
