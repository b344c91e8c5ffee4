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
use crate::space::{AddressSpace, Chain, Registration, TornDown};
use crate::sync::{self, thread, Mutex};
use emm_proofs::{
    evaluate, ActorId, Callback, CallbackView, Expectation, FrameId, NotifierId, NotifierSet,
    NotifierView, Observe, Outcome, Role, Violation, WalkView, PROPERTIES,
};
use std::collections::BTreeSet;
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
pub struct Ghost(std::sync::Mutex<GhostState>);

impl Ghost {
    /// Applies `f` to the ghost state, then checks every property.
    fn update(&self, f: impl FnOnce(&mut GhostState)) {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !state.closed {
            f(&mut state);
            state.check();
        }
    }

    /// Stops observing: later steps (the clean-up after an execution) are not checked.
    fn close(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
    }

    fn read<R>(&self, f: impl FnOnce(&GhostState) -> R) -> R {
        f(&self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Binds the calling thread to `actor` (replacing an earlier binding of it).
    pub fn bind(&self, actor: ActorId) {
        let me = sync::current_thread();
        self.update(|s| {
            s.actors.retain(|(id, _)| *id != me);
            s.actors.push((me, actor));
        });
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

/// A primary page table of one page ([`PAGE`]). Zapping it maps a fresh frame (as a
/// copy-on-write or a migration does); frames are numbered from 0 and never reused, and
/// freeing one only marks it in the ghost, so a stale mirror is detected, not crashed on.
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

    /// Reads the PTE.
    pub fn read(&self) -> Option<FrameId> {
        self.pte.lock().frame
    }

    /// Replaces the mapped frame by a fresh one; returns the old frame, to be freed once the
    /// invalidation around the zap has ended.
    pub fn zap(&self) -> Option<FrameId> {
        let mut pte = self.pte.lock();
        let old = pte.frame;
        if old.is_some() {
            pte.frame = Some(pte.next_frame);
            pte.next_frame += 1;
            self.ghost.update(|s| s.freed.push(false));
        }
        old
    }

    /// Frees a frame that [`zap`](PageTable::zap) returned.
    pub fn free(&self, frame: Option<FrameId>) {
        if let Some(f) = frame {
            self.ghost.update(|s| s.freed[f] = true);
        }
    }

    /// Teardown's `unmap_vmas()` and free: clears the PTE and frees its frame.
    pub fn free_all(&self) {
        let mut pte = self.pte.lock();
        let frame = pte.frame.take();
        self.ghost.update(|s| {
            if let Some(f) = frame {
                s.freed[f] = true;
            }
            s.teardown_freed = true;
        });
    }
}

/// A secondary MMU that follows the contract: its mirror of [`PAGE`] lives in a
/// [`Secondary`], dropped on `invalidate_start` and `release` (after which it never installs
/// again), installed by [`fault`](TestDriver::fault) with the collision check.
pub struct TestDriver {
    index: NotifierId,
    tlb: Secondary<Option<FrameId>>,
    ghost: Arc<Ghost>,
}

impl fmt::Debug for TestDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDriver")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl TestDriver {
    /// A driver known to the ghost as notifier `index`, mirroring `mirror` from the start.
    fn new(ghost: &Arc<Ghost>, registered: bool, mirror: Option<FrameId>) -> Arc<TestDriver> {
        let index = ghost.add_notifier(registered, mirror);
        Arc::new(TestDriver {
            index,
            tlb: Secondary::new(mirror),
            ghost: Arc::clone(ghost),
        })
    }

    /// The driver's notifier number in the spec's observation.
    pub fn index(&self) -> NotifierId {
        self.index
    }

    /// The fault path: snapshot, read the PTE, lock, retry check, install. Gives up (installs
    /// nothing) after a few collisions; returns whether it installed a mapping.
    pub fn fault(&self, page_table: &PageTable) -> bool {
        for _ in 0..FAULT_ATTEMPTS {
            let s = self.tlb.read_begin();
            let pte = page_table.read();
            let mut mirror = self.tlb.lock();
            if mirror.is_released() {
                // The address space is going away: its frames may already be freed.
                return false;
            }
            if mirror.read_retry(s) {
                drop(mirror);
                thread::yield_now();
                continue;
            }
            *mirror = pte;
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), *mirror, true);
            return pte.is_some();
        }
        false
    }

    /// What an owner does before it unregisters: stop the device, drop the mirror.
    pub fn drop_mirror(&self) {
        let mut mirror = self.tlb.lock();
        *mirror = None;
        self.ghost
            .driver_changed(self.index, mirror.in_progress(), None, false);
    }

    /// The driver's open invalidations.
    pub fn in_progress(&self) -> i64 {
        self.tlb.lock().in_progress()
    }

    fn callback(&self, callback: Callback, body: impl FnOnce()) {
        self.ghost.callback_enter(self.index, callback);
        body();
        self.ghost.callback_exit(self.index, callback);
    }
}

impl Notifier for TestDriver {
    fn invalidate_start(&self, range: Range) {
        self.callback(Callback::InvalidateStart, || {
            let mut mirror = self.tlb.invalidate_start();
            if range.overlaps(&PAGE) {
                *mirror = None;
            }
            let by_fault = self
                .ghost
                .read(|s| s.notifiers[self.index].installed_by_fault);
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), *mirror, by_fault);
        });
    }

    fn invalidate_end(&self, _range: Range) {
        self.callback(Callback::InvalidateEnd, || {
            let mirror = self.tlb.invalidate_end();
            let by_fault = self
                .ghost
                .read(|s| s.notifiers[self.index].installed_by_fault);
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), *mirror, by_fault);
        });
    }

    fn clear_young(&self, _range: Range) -> bool {
        self.callback(Callback::ClearYoung, || ());
        false
    }

    fn emm_stop(&self) {
        self.callback(Callback::Stop, || ());
    }

    fn emm_start(&self) {
        self.callback(Callback::Start, || ());
    }

    fn release(&self) {
        self.callback(Callback::Release, || {
            let mut mirror = self.tlb.release();
            *mirror = None;
            self.ghost
                .driver_changed(self.index, mirror.in_progress(), None, false);
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
    /// Notifiers registered before the threads start; their drivers mirror frame 0.
    pub notifiers: usize,
    /// Threads that register a new notifier, whose driver then faults [`PAGE`] in.
    pub registrations: usize,
    /// Threads that unregister one of the initial notifiers each: the numbers here.
    pub unregister: Vec<NotifierId>,
    /// A teardown thread: `teardown()`, then the frames are freed.
    pub teardown: bool,
    /// An aging thread: one `clear_young` walk.
    pub aging: bool,
    /// How many times each registrar registers, faults and unregisters its notifier (the
    /// last registration stays); 1 is the model's registrar.
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
}

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
    })
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
    let ghost = Arc::new(Ghost::default());
    let page_table = Arc::new(PageTable::new(Arc::clone(&ghost)));
    let mm: Arc<AddressSpace<C>> = AddressSpace::new();
    let initial: Vec<(Arc<TestDriver>, Option<Registration<C>>)> = (0..scenario.notifiers)
        .map(|_| {
            let driver = TestDriver::new(&ghost, true, Some(0));
            let registration = mm
                .register(Arc::clone(&driver) as Arc<dyn Notifier>)
                .expect("a fresh address space accepts registrations");
            (driver, Some(registration))
        })
        .collect();
    let mut initial = initial;
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
    for i in 0..scenario.registrations {
        let (mm, pt, g) = (Arc::clone(&mm), Arc::clone(&page_table), Arc::clone(&ghost));
        let kept = Arc::clone(&kept);
        let rounds = scenario.rounds.max(1);
        let actor = ActorId {
            role: Role::Reg,
            index: i,
        };
        threads.push(spawn(&ghost, actor, move || {
            for round in 0..rounds {
                let driver = TestDriver::new(&g, false, None);
                g.update(|s| s.registering += 1);
                let registration = mm.register(Arc::clone(&driver) as Arc<dyn Notifier>);
                let n = driver.index();
                g.update(|s| {
                    s.registering -= 1;
                    s.notifiers[n].registered = registration.is_ok();
                });
                let Ok(registration) = registration else {
                    return;
                };
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
        threads.push(spawn(&ghost, actor, move || teardown(&mm, &pt, &g)));
    }
    if scenario.aging {
        let (mm, g) = (Arc::clone(&mm), Arc::clone(&ghost));
        let actor = ActorId {
            role: Role::Aging,
            index: 0,
        };
        threads.push(spawn(&ghost, actor, move || age(&mm, &g)));
    }
    for t in threads {
        if let Err(panic) = t.join() {
            std::panic::resume_unwind(panic);
        }
    }
    ghost.update(|s| s.finished = true);
    let execution = ghost.read(|s| Execution {
        goals: s.goals.clone(),
        violations: s.violations.clone(),
        checks: s.checks,
    });
    // Cleaning up is not part of the execution under check.
    ghost.close();
    drop(kept);
    drop(initial);
    execution
}

fn unregister<C: Chain>(ghost: &Ghost, driver: &TestDriver, registration: Registration<C>) {
    let n = driver.index();
    driver.drop_mirror();
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
        let old = pt.zap();
        ghost.walk_begin(Callback::InvalidateEnd);
        inner.end();
        ghost.walk_end();
        pt.free(old);
    }
    let old = pt.zap();
    ghost.walk_begin(Callback::InvalidateEnd);
    outer.end();
    ghost.walk_end();
    ghost.update(|s| s.invalidating -= 1);
    pt.free(old);
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
        let mm: Arc<AddressSpace<C>> = AddressSpace::new();
        let mut drivers = Vec::new();
        let mut registrations_held = Vec::new();
        for n in 0..notifiers + registrations {
            let initial = n < notifiers;
            let driver = TestDriver::new(&ghost, initial, initial.then_some(0));
            registrations_held.push(initial.then(|| {
                mm.register(Arc::clone(&driver) as Arc<dyn Notifier>)
                    .expect("a fresh address space accepts registrations")
            }));
            drivers.push(driver);
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
