//! `emm-check replay --on-impl`: the model's traces replayed on the implementation (`emm`, built
//! with its `check` and `trace` features).
//!
//! # Replaying a model trace on the implementation
//!
//! ```text
//!  model trace:  (vm0, e1) (reg0, e2) (reg0, e3) ...      ei: the event the model's step records
//!  real threads: one per actor of the configuration, each parked at its next trace point
//!  step i:       release actor i's thread for one step; wait for its event
//!                  event == ei          -> next step    (same protocol: compared)
//!                  parked, no event     -> refused: not enabled
//!                  no event in time     -> refused: blocked (on another actor)
//!  after:        every thread runs to its end; the ghost's properties say what broke
//! ```
//!
//! Replayed on its own protocol, a counterexample of a broken variant makes the real code
//! break the same property (the seed's registration race makes the real driver map a frame
//! that the real page table then frees). Replayed on the production protocol, the interleaving
//! cannot happen, and the report names the first step the implementation refuses.

use emm::harness::{replay, Refusal, ReplayStep, Replayed, Scenario};
use emm::historical::{EmmStopStart, RcuPublish};
use emm::{Chain, TakeAllLocks};
use emm_model::conformance::expected_event;
use emm_model::{EmmModel, Trace, Variant};
use std::io::Write;
use std::time::Duration;

/// The protocols of the implementation, by the model's variants.
pub const PROTOCOLS: [Variant; 3] = [
    <TakeAllLocks as Chain>::VARIANT,
    <EmmStopStart as Chain>::VARIANT,
    <RcuPublish as Chain>::VARIANT,
];

/// Why `--on-impl NAME` is refused.
pub fn unknown_protocol(name: &str) -> String {
    let names: Vec<&str> = PROTOCOLS.iter().map(|v| v.name()).collect();
    format!(
        "--on-impl {name}: no implementation of that protocol (implemented: {})",
        names.join(", ")
    )
}

/// The scenario of the implementation's harness that runs `model`'s actors, with the
/// unregistrations' targets of the trace's initial state.
pub fn scenario_of(model: &EmmModel, trace: &Trace) -> Scenario {
    let c = &model.config;
    let initial = &trace.states[0];
    Scenario {
        invalidators: c.invalidators,
        nested: c.nested,
        notifiers: c.notifiers,
        registrations: c.registrations,
        unregister: initial.targets[..c.unregistrations]
            .iter()
            .map(|&n| n as usize)
            .collect(),
        teardown: c.teardown,
        aging: c.aging,
        rounds: 1,
    }
}

/// The steps of `trace` to replay on `protocol`: each actor, and (on the trace's own protocol)
/// the event that its model step records, which the implementation's must equal.
pub fn replay_steps(model: &EmmModel, trace: &Trace, protocol: Variant) -> Vec<ReplayStep> {
    let same = protocol == model.variant;
    trace
        .threads
        .iter()
        .enumerate()
        .map(|(i, &t)| ReplayStep {
            actor: model.actors()[t].id,
            expect: if same {
                expected_event(model, &trace.states[i], t)
            } else {
                None
            },
        })
        .collect()
}

/// Replays `trace` on `protocol`'s implementation, or says why it cannot: `protocol` is not one
/// of [`PROTOCOLS`], or this build of `emm` cannot run a replay.
pub fn replay_on(
    protocol: Variant,
    model: &EmmModel,
    trace: &Trace,
    patience: Duration,
) -> Result<Replayed, String> {
    let scenario = scenario_of(model, trace);
    let steps = replay_steps(model, trace, protocol);
    let replayed = match protocol {
        p if p == TakeAllLocks::VARIANT => replay::<TakeAllLocks>(&scenario, &steps, patience),
        p if p == EmmStopStart::VARIANT => replay::<EmmStopStart>(&scenario, &steps, patience),
        p if p == RcuPublish::VARIANT => replay::<RcuPublish>(&scenario, &steps, patience),
        _ => return Err(unknown_protocol(protocol.name())),
    };
    replayed.map_err(|e| format!("--on-impl: {e}"))
}

fn column(text: &str, width: usize) -> String {
    let mut s: String = text.chars().take(width).collect();
    while s.chars().count() < width {
        s.push(' ');
    }
    s
}

/// Replays `trace` (of `model`) on `protocol`, writing the side-by-side report to `out`;
/// returns the exit status (0 the implementation followed the trace and broke nothing, 1 it
/// broke a property, deadlocked, or refused a step of a trace of its own protocol), or why it
/// cannot run here (a usage error: exit 2).
pub fn replay_and_report(
    protocol: Variant,
    model: &EmmModel,
    trace: &Trace,
    patience: Duration,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let variant = model.variant;
    let same = protocol == variant;
    let replayed = replay_on(protocol, model, trace, patience)?;
    let mut w = |line: String| {
        let _ = writeln!(out, "{line}");
    };
    w(format!(
        "replaying {variant}'s trace ({} steps) on the implementation of {protocol}: one \
         real thread per actor, released one step at a time{}",
        trace.steps.len(),
        if same {
            "; each step must record the model's event"
        } else {
            ""
        }
    ));
    w(String::new());
    w(format!(
        "{:>5}  {:<9} {} implementation: {protocol}",
        "step",
        "actor",
        column(&format!("model: {variant}"), 46)
    ));
    for (i, step) in trace.steps.iter().enumerate() {
        let real = match (replayed.taken.get(i), replayed.refused) {
            (Some(event), _) => event.to_string(),
            (None, Some((k, refusal))) if k == i => format!("REFUSED ({refusal})"),
            _ => break,
        };
        w(format!(
            "{:>5}  {:<9} {} {real}",
            step.step,
            step.actor,
            column(&step.action, 46)
        ));
    }
    w(String::new());
    let mut status = 0;
    match replayed.refused {
        None => w(format!(
            "the implementation took all {} steps of the trace",
            trace.steps.len()
        )),
        Some((k, refusal)) => {
            let step = &trace.steps[k];
            w(format!(
                "the implementation refused step {} ({}: {}): {refusal}",
                step.step, step.actor, step.action
            ));
            if same {
                w("the implementation does not refine the model here".into());
                status = 1;
            } else if matches!(refusal, Refusal::Blocked | Refusal::NotEnabled) {
                w(format!("this interleaving cannot happen on {protocol}"));
            }
        }
    }
    if replayed.violated_in_replay.is_empty() {
        w("no property broke on the implementation while it followed the trace".into());
    }
    for v in &replayed.violated_in_replay {
        w(format!("on the implementation: {v}"));
        status = 1;
    }
    let after = replayed.execution.trace.len();
    if replayed.completed {
        w(format!(
            "then every thread ran to its end ({after} steps in all)"
        ));
    } else {
        w("then some threads never ended: the implementation deadlocked".into());
        status = 1;
    }
    for v in &replayed.execution.violations {
        if !replayed
            .violated_in_replay
            .iter()
            .any(|r| r.property == v.property)
        {
            w(format!("after the replay, on the implementation: {v}"));
            status = 1;
        }
    }
    Ok(status)
}
