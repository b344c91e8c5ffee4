//! The scenario runner: the model's actors (VM threads with an optional nested invalidation,
//! registrars whose driver then faults, unregistrars, teardown, aging) as real threads of the
//! backend in use.

use super::driver::TestDriver;
use super::ghost::Ghost;
use super::page_table::PageTable;
use super::PAGE;
use crate::notifier::Notifier;
use crate::space::{AddressSpace, Chain, Registration};
use crate::sync::{self, thread, Mutex};
use emm_proofs::{
    ActorId, Callback, Event, NotifierId, NotifierSet, Op, Prop, Role, TraceEntry, Violation,
};
use std::collections::BTreeSet;
use std::sync::Arc;

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
    pub goals: BTreeSet<Prop>,
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
    Property(Prop),
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
            // An advisory property (a second release, which the kernel allows) fails nothing.
            FailOn::Any => self
                .violations
                .iter()
                .any(|v| v.property.info().standing == emm_proofs::Standing::Guarantee),
            FailOn::Property(prop) => self.violations.iter().any(|v| v.property == prop),
            FailOn::Nothing => false,
        };
        if fails {
            let list: Vec<String> = self.violations.iter().map(|v| format!("{v}")).collect();
            panic!("property violated: {}", list.join("; "));
        }
    }
}

pub(super) fn spawn(
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
pub(super) fn address_space<C: Chain>(ghost: &Arc<Ghost>) -> Arc<AddressSpace<C>> {
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
pub(super) fn register_initial<C: Chain>(
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
pub(super) struct Registering {
    pub(super) left: Mutex<usize>,
    pub(super) done: sync::Condvar,
}

impl Registering {
    pub(super) fn finish_one(&self) {
        *self.left.lock() -= 1;
        self.done.notify_all();
    }

    pub(super) fn wait_all(&self) {
        drop(self.done.wait_while(self.left.lock(), |left| *left > 0));
    }
}

/// The threads of one execution, running.
pub(super) struct Launched<C: Chain> {
    pub(super) ghost: Arc<Ghost>,
    pub(super) threads: Vec<thread::JoinHandle<()>>,
    pub(super) initial: Vec<(Arc<TestDriver>, Option<Registration<C>>)>,
    pub(super) kept: Arc<std::sync::Mutex<Vec<Registration<C>>>>,
}

/// Sets `scenario` up on protocol `C` and starts its threads.
pub(super) fn launch<C: Chain>(scenario: &Scenario, ghost: Arc<Ghost>) -> Launched<C> {
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
    pub(super) fn conclude(self) -> Execution {
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

pub(super) fn unregister<C: Chain>(
    ghost: &Ghost,
    driver: &TestDriver,
    registration: Registration<C>,
) {
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
    // The owner frees the notifier once unregister has returned (here: drops its handle).
    ghost.point();
    ghost.record(&[Event::Step(Op::OwnerFree)]);
}

/// Teardown: `release` over the chain, then the frames are freed.
pub(super) fn teardown<C: Chain>(mm: &AddressSpace<C>, pt: &PageTable, ghost: &Ghost) {
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
pub(super) fn age<C: Chain>(mm: &AddressSpace<C>, ghost: &Ghost) {
    ghost.walk_begin(Callback::ClearYoung);
    mm.clear_young(PAGE);
    ghost.walk_end();
}

/// One VM thread: invalidate [`PAGE`] (with a nested invalidation inside if asked), zap it,
/// end, free the old frame.
pub(super) fn invalidate<C: Chain>(
    mm: &AddressSpace<C>,
    pt: &PageTable,
    ghost: &Ghost,
    nested: bool,
) {
    ghost.update(|s| s.invalidating += 1);
    let first = ghost.walk_begin(Callback::InvalidateStart);
    let outer = mm.invalidate_range_start(PAGE);
    ghost.walk_end();
    // A snapshot window's later walks reach what its first walk loaded: a notifier registered
    // since is not theirs to call.
    let within = if C::SNAPSHOT_WINDOWS {
        first
    } else {
        NotifierSet(u64::MAX)
    };
    if nested {
        ghost.walk_begin_within(Callback::InvalidateStart, within);
        let inner = outer.nest(PAGE);
        ghost.walk_end();
        let old = pt.zap(1);
        ghost.walk_begin_within(Callback::InvalidateEnd, within);
        inner.end();
        ghost.walk_end();
        pt.free(1, old);
    }
    let old = pt.zap(0);
    ghost.walk_begin_within(Callback::InvalidateEnd, within);
    outer.end();
    ghost.walk_end();
    ghost.update(|s| s.invalidating -= 1);
    pt.free(0, old);
}
