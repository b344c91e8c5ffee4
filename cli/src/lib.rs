//! The `emm-check` command: [`emm_model::cli`] with the implementation (`emm`, built with its
//! `trace` feature) linked, so that `emm-check replay --on-impl` replays the model's traces on
//! real code.
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
use emm_model::check::Progress;
use emm_model::cli::OnImplementation;
use emm_model::conformance::expected_event;
use emm_model::{EmmModel, Trace};
use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

/// The protocols of the implementation, by the model's variant names.
pub const PROTOCOLS: [&str; 3] = [
    <TakeAllLocks as Chain>::VARIANT,
    <EmmStopStart as Chain>::VARIANT,
    <RcuPublish as Chain>::VARIANT,
];

/// The implementation, as `emm-check replay --on-impl` uses it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Implementation;

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
pub fn replay_steps(model: &EmmModel, trace: &Trace, protocol: &str) -> Vec<ReplayStep> {
    let same = protocol == model.variant.name();
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

/// Replays `trace` on `protocol`'s implementation.
///
/// # Panics
/// If `protocol` is not one of [`PROTOCOLS`].
pub fn replay_on(protocol: &str, model: &EmmModel, trace: &Trace, patience: Duration) -> Replayed {
    let scenario = scenario_of(model, trace);
    let steps = replay_steps(model, trace, protocol);
    match protocol {
        "take-all-locks" => replay::<TakeAllLocks>(&scenario, &steps, patience),
        "emm-stop-start" => replay::<EmmStopStart>(&scenario, &steps, patience),
        "rcu-publish" => replay::<RcuPublish>(&scenario, &steps, patience),
        other => panic!("no implementation of {other}"),
    }
}

fn column(text: &str, width: usize) -> String {
    let mut s: String = text.chars().take(width).collect();
    while s.chars().count() < width {
        s.push(' ');
    }
    s
}

impl OnImplementation for Implementation {
    fn protocols(&self) -> &[&'static str] {
        &PROTOCOLS
    }

    fn replay(
        &self,
        protocol: &str,
        model: &EmmModel,
        trace: &Trace,
        patience: Duration,
        out: &mut dyn Write,
    ) -> i32 {
        let variant = model.variant.name();
        let same = protocol == variant;
        let replayed = replay_on(protocol, model, trace, patience);
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
        status
    }
}

/// Runs `emm-check` with `args` (the program name first), writing to `out` and `err`, and
/// returns the exit status (see [`emm_model::cli`]).
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, progress: Progress) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    emm_model::cli::run_with(args, out, err, progress, Some(&Implementation))
}
