//! A model trace replayed on real threads, released one step at a time in the trace's order.

//!
//! It needs real threads and the protocol's trace points: the std backend and the `trace`
//! feature. In a build without them (loom, shuttle, or no `trace`) [`replay`] says so with
//! [`ReplayUnavailable`] instead of running.

use super::scenario::{Execution, Scenario};
use crate::space::Chain;
use emm_proofs::{ActorId, Event, Violation};
use std::fmt;
#[cfg(all(feature = "trace", not(loom), not(feature = "shuttle")))]
use {
    super::ghost::{Ghost, GhostState, Stepping},
    super::scenario::launch,
    std::collections::BTreeMap,
    std::sync::Arc,
};

/// Why this build cannot replay a trace on real threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayUnavailable(pub &'static str);

impl fmt::Display for ReplayUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ReplayUnavailable {}

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
pub(super) type Pending = BTreeMap<ActorId, std::collections::VecDeque<Event>>;

/// The replay's side of the stepping: it grants steps and sorts the recorded events.
#[cfg(all(feature = "trace", not(loom), not(feature = "shuttle")))]
pub(super) struct Controller {
    pub(super) ghost: Arc<Ghost>,
    pub(super) pending: Pending,
    /// How many entries of the ghost's trace have been moved to `pending`.
    pub(super) distributed: usize,
    pub(super) patience: std::time::Duration,
}

#[cfg(all(feature = "trace", not(loom), not(feature = "shuttle")))]
impl Controller {
    /// Waits (up to the patience) until `ready` holds, moving newly recorded events into
    /// `pending` first; returns whether it held.
    pub(super) fn wait_for(&mut self, ready: impl Fn(&GhostState, &Pending) -> bool) -> bool {
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

    pub(super) fn next_event(&mut self, actor: ActorId) -> Option<Event> {
        self.pending.get_mut(&actor)?.pop_front()
    }

    pub(super) fn done(&self, actor: ActorId) -> bool {
        self.ghost.lock().done.contains(&actor)
    }

    /// Has `actor` take its next step: the event it recorded, or why it took none.
    pub(super) fn step(&mut self, actor: ActorId) -> Result<Event, Refusal> {
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
) -> Result<Replayed, ReplayUnavailable> {
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
    Ok(Replayed {
        taken,
        refused,
        violated_in_replay,
        execution,
        completed,
    })
}

/// A build without real threads or trace points cannot replay: it says which it lacks.
#[cfg(not(all(feature = "trace", not(loom), not(feature = "shuttle"))))]
pub fn replay<C: Chain>(
    scenario: &Scenario,
    steps: &[ReplayStep],
    patience: std::time::Duration,
) -> Result<Replayed, ReplayUnavailable> {
    let _ = (scenario, steps, patience);
    Err(ReplayUnavailable(if cfg!(any(loom, feature = "shuttle")) {
        "replay runs real threads, and this build of emm runs on the loom or shuttle backend"
    } else {
        "replay needs emm's trace points: build emm with its `trace` feature"
    }))
}
