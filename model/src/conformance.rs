//! Trace validation: does a run of the implementation refine the model?
//!
//! The implementation records one [`Event`] per step of the model it takes (see
//! [`emm_proofs::trace`]). [`validate`] starts the model of the same variant and configuration
//! in its initial state and, for each recorded event in order, requires that the event is what
//! the model's next step *of that actor* would record: the actor's step is enabled, it is the
//! same kernel step, and it saw the same thing (the node a walk loaded, the frame a fault read,
//! the outcome of a check). The model then takes that step, and the next event is checked in
//! the state it leads to. A run that passes is a behaviour of the model, so every property the
//! model checker proved on the bounded configuration holds of it, step for step.
//!
//! The first event that is not reports the model's state, what the actor's next step in the
//! model is (or why it is not enabled), and the steps that were enabled ([`Divergence`]).
//!
//! ```text
//!  state s0 --e0--> s1 --e1--> s2 ...     e_i = (actor, event)
//!  e_i ok  <=>  enabled(s_i, actor) && expected_event(s_i, actor) == event
//!  s_{i+1}  =   apply(s_i, actor)
//! ```

use crate::model::EmmModel;
use crate::program::Op;
use crate::state::{State, WalkPc, NIL};
use emm_proofs::{ActorId, Event, FaultOutcome, TraceEntry};
use std::fmt;

fn some(n: u8) -> Option<usize> {
    (n != NIL).then_some(n as usize)
}

/// The event that thread `t`'s next step records, or `None` if `t` has finished its program.
/// Defined whether or not the step is enabled (a blocked step has the event it would record).
pub fn expected_event(model: &EmmModel, s: &State, t: usize) -> Option<Event> {
    let th = &s.threads[t];
    let op = *model.program(t).get(th.pc as usize)?;
    let own = model.own(s, t);
    // Teardown's own node is the one its release loop took, NIL outside the loop.
    let d = s.drivers.get(own as usize).copied().unwrap_or_default();
    Some(match op {
        Op::Walk {
            callback,
            resume,
            snapshot,
            ..
        } => match th.wpc {
            // Interval walks start under the subscriptions lock; the implementation has none.
            WalkPc::Idle | WalkPc::Done if resume => Event::Step(op),
            WalkPc::Idle | WalkPc::Done => Event::LoadHead {
                callback,
                node: some(crate::interp::walk_head(s, th, snapshot)),
            },
            WalkPc::Call => Event::Deliver {
                callback,
                notifier: th.cursor as usize,
            },
            WalkPc::Wait => Event::StopWaited {
                notifier: th.cursor as usize,
            },
            WalkPc::LoadNext => Event::LoadNext {
                callback,
                node: some(s.next[th.cursor as usize]),
            },
        },
        Op::CallOwn(callback) | Op::CallTaken(callback) => Event::Deliver {
            callback,
            notifier: own as usize,
        },
        Op::CheckHashed => Event::CheckHashed {
            linked: s.pprev[own as usize] != crate::state::PPREV_NULL,
        },
        Op::UnlinkAll => Event::UnlinkAll { node: some(s.head) },
        Op::Zap(level) => Event::Zap {
            level,
            frame: (s.pte != NIL).then_some(s.next_frame as usize),
        },
        Op::Free(level) => Event::Free {
            level,
            frame: some(th.old[level as usize]),
        },
        Op::FreeFrames => Event::FreeFrames,
        Op::Snapshot => Event::Snapshot {
            released: d.released,
        },
        Op::ReadPte | Op::ReadPteLocked => Event::ReadPte { frame: some(s.pte) },
        Op::CheckInstall | Op::ReadRetryInstall => Event::CheckInstall {
            outcome: if d.released {
                FaultOutcome::Released
            } else if model.fault_retries(s, t) {
                FaultOutcome::Retry
            } else {
                FaultOutcome::Installed(some(th.pte_read))
            },
        },
        _ => Event::Step(op),
    })
}

/// Why an event is not a step of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The configuration has no such actor.
    UnknownActor,
    /// The actor has finished its program in the model.
    Finished,
    /// The actor's next step in the model is a different step, or saw something else.
    Different(Event),
    /// The actor's next step in the model is this event, but it is not enabled: in the model
    /// the actor would block here.
    Blocked(Event),
}

/// The first event of a trace that the model cannot take.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The event's index in the trace.
    pub index: usize,
    /// The event.
    pub entry: TraceEntry,
    /// Why the model cannot take it.
    pub mismatch: Mismatch,
    /// The model's state before the event (after the events before it).
    pub state: State,
    /// The steps the model could take in that state, each actor's with the event it records.
    pub enabled: Vec<TraceEntry>,
    /// The model's state, in words.
    pub summary: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trace event {} ({}) is not a step of the model: ",
            self.index, self.entry
        )?;
        let actor = self.entry.actor;
        match &self.mismatch {
            Mismatch::UnknownActor => write!(f, "the configuration has no actor {actor}")?,
            Mismatch::Finished => write!(f, "{actor} has finished its program")?,
            Mismatch::Different(e) => write!(f, "{actor}'s next step is `{e}`")?,
            Mismatch::Blocked(e) => write!(f, "{actor}'s next step `{e}` is not enabled")?,
        }
        write!(f, "\n  model state:{}", self.summary)?;
        let enabled: Vec<String> = self.enabled.iter().map(|e| e.to_string()).collect();
        write!(f, "\n  enabled steps: {}", enabled.join("; "))
    }
}

impl Divergence {
    /// The divergence of `entry`, trace event `index`, in state `state`.
    fn at(
        model: &EmmModel,
        state: State,
        index: usize,
        entry: TraceEntry,
        mismatch: Mismatch,
    ) -> Box<Divergence> {
        Box::new(Divergence {
            index,
            entry,
            mismatch,
            enabled: enabled_steps(model, &state),
            summary: summary(model, &state),
            state,
        })
    }
}

impl std::error::Error for Divergence {}

/// What an accepted trace did to the model.
#[derive(Clone, Debug)]
pub struct Validated {
    /// The model's state after the last event.
    pub state: State,
    /// The events checked.
    pub events: usize,
    /// Loads of the chain that read a value older than the last store to their link, each
    /// accepted as [`validate_weak`] says; 0 for [`validate`].
    pub late_loads: usize,
}

/// The thread of `actor`, if the configuration has one.
fn thread_of(model: &EmmModel, actor: ActorId) -> Option<usize> {
    model.actors().iter().position(|a| a.id == actor)
}

/// Checks `trace` against `model` from `initial`: each event must be the enabled next step of
/// its actor (see the module docs). Returns the final state, or the first divergence.
pub fn validate(
    model: &EmmModel,
    initial: &State,
    trace: &[TraceEntry],
) -> Result<Validated, Box<Divergence>> {
    let mut s = initial.clone();
    for (index, entry) in trace.iter().enumerate() {
        match step(model, &s, *entry) {
            Ok(next) => s = next,
            Err(mismatch) => return Err(Divergence::at(model, s, index, *entry, mismatch)),
        }
    }
    Ok(Validated {
        state: s,
        events: trace.len(),
        late_loads: 0,
    })
}

/// The step of `entry`, a load of the chain, taken as if its link still held a value it held
/// since the last store to it ordered before the load (see [`validate_weak`]), with the
/// link's current value kept in the state it leads to; `None` if the link held no such value.
fn stale_load(
    model: &EmmModel,
    accepted: &[TraceEntry],
    states: &[State],
    entry: TraceEntry,
) -> Option<State> {
    let t = thread_of(model, entry.actor)?;
    let current = states.last()?;
    let th = &current.threads[t];
    // The link the load reads: head, or the cursor's next (a snapshot walk's first load of a
    // later walk reads no link).
    let link = |s: &State| match entry.event {
        Event::LoadHead { .. } => s.head,
        _ => s.next.get(th.cursor as usize).copied().unwrap_or(NIL),
    };
    let set = |s: &mut State, value: u8| match entry.event {
        Event::LoadHead { .. } => s.head = value,
        _ => {
            if let Some(slot) = s.next.get_mut(th.cursor as usize) {
                *slot = value;
            }
        }
    };
    use crate::program::Op;
    let section = accepted
        .iter()
        .rposition(|e| e.actor == entry.actor && e.event == Event::Step(Op::ReadSideLock))
        .unwrap_or(0);
    // The oldest state whose value of the link the load may still read: the one a fenced store
    // left, walking back from now. A store is fenced if its own thread made it, or if its
    // thread's next synchronize_srcu() start comes before this thread's srcu_read_lock.
    let fenced = |at: usize| {
        let by = accepted[at].actor;
        by == entry.actor
            || accepted[at + 1..section.max(at + 1)]
                .iter()
                .any(|e| e.actor == by && e.event == Event::Step(Op::SynchronizeStart))
    };
    let now = link(current);
    let mut since = 0;
    for k in (1..states.len()).rev() {
        if link(&states[k]) != link(&states[k - 1]) && fenced(k - 1) {
            since = k;
            break;
        }
    }
    states[since..].iter().rev().find_map(|old| {
        let value = link(old);
        if value == now {
            return None;
        }
        let mut then = current.clone();
        set(&mut then, value);
        let mut next = step(model, &then, entry).ok()?;
        set(&mut next, now);
        Some(next)
    })
}

/// [`validate`] for an implementation on weakly ordered atomics, whose walks may load a link
/// that has changed since: an acquire load need not see a release store it is not ordered
/// after, and the model, which is sequentially consistent, has every load read the last store.
/// When a load of the chain (`LoadHead`, `LoadNext`) does not match, it is accepted if its link
/// held the value it read at some point since the last store to it that is ordered before the
/// load: a store of the loading thread itself, or one whose thread then began a grace period
/// (`synchronize_srcu()`'s fence) before the loading thread's current `srcu_read_lock` (its
/// fence): two `SeqCst` fences order every store before the first before every load after
/// the second. Stores since may be unseen. The step is then taken as if the link held that
/// value, and the link keeps its value in the state it leads to. That over-approximates what
/// the C11 model allows (it ignores what locks and acquire loads order besides), so it accepts
/// every weak load a correct execution can make; everything else is checked as [`validate`]
/// checks it. Any other mismatch, or a load of a value its link did not hold in that span, is
/// the divergence.
pub fn validate_weak(
    model: &EmmModel,
    initial: &State,
    trace: &[TraceEntry],
) -> Result<Validated, Box<Divergence>> {
    let mut accepted: Vec<TraceEntry> = Vec::with_capacity(trace.len());
    // states[k]: the model's state before accepted[k]; the last one is the current state.
    let mut states = vec![initial.clone()];
    let mut late_loads = 0;
    for (index, entry) in trace.iter().enumerate() {
        let current = states.last().expect("the initial state");
        let next = match step(model, current, *entry) {
            Ok(next) => next,
            Err(mismatch) => {
                let is_load =
                    matches!(entry.event, Event::LoadHead { .. } | Event::LoadNext { .. });
                let Some(next) = is_load
                    .then(|| stale_load(model, &accepted, &states, *entry))
                    .flatten()
                else {
                    return Err(Divergence::at(
                        model,
                        current.clone(),
                        index,
                        *entry,
                        mismatch,
                    ));
                };
                late_loads += 1;
                next
            }
        };
        accepted.push(*entry);
        states.push(next);
    }
    Ok(Validated {
        state: states.pop().expect("the final state"),
        events: trace.len(),
        late_loads,
    })
}

/// Takes one event: the state after it, or why the model cannot take it.
pub fn step(model: &EmmModel, s: &State, entry: TraceEntry) -> Result<State, Mismatch> {
    let t = thread_of(model, entry.actor).ok_or(Mismatch::UnknownActor)?;
    let expected = expected_event(model, s, t).ok_or(Mismatch::Finished)?;
    if expected != entry.event {
        return Err(Mismatch::Different(expected));
    }
    if !model.enabled(s, t) {
        return Err(Mismatch::Blocked(expected));
    }
    Ok(model.apply(s, t))
}

/// Every enabled step of `s`, as the event it records.
pub fn enabled_steps(model: &EmmModel, s: &State) -> Vec<TraceEntry> {
    (0..model.actors().len())
        .filter(|&t| model.enabled(s, t))
        .filter_map(|t| {
            Some(TraceEntry {
                actor: model.actors()[t].id,
                event: expected_event(model, s, t)?,
            })
        })
        .collect()
}

/// The model's state in words, as the Explorer shows it ([`crate::trace::readable`]), one
/// line per part, indented under the divergence it explains.
pub fn summary(model: &EmmModel, s: &State) -> String {
    crate::trace::readable(model, s)
        .lines()
        .map(|line| format!("\n    {line}"))
        .collect()
}
