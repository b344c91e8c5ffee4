//! Counterexample traces as kernel-doc interleavings: one numbered row per step, one column
//! per actor, the kernel step taken, the shared state it changed, and the broken property.
//!
//! [`describe`] names a step in the version's own words and [`changes`] says what it changed
//! (module `words`); [`Trace`] is a run, rendered as the table and explained in its closing
//! sentence; [`readable`] is a whole state as the Explorer shows it.

mod readable;
mod words;

pub use readable::readable;
pub use words::{changes, describe, describe_step};

use crate::model::{EmmModel, Step};
use crate::state::{State, NIL};
use emm_proofs::{Callback, Outcome, Prop, Role, Violation};
use std::fmt::Write as _;

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// 1-based step number.
    pub step: usize,
    /// The actor that stepped (`vm0`, `reg0`, `drv2`, ...).
    pub actor: String,
    /// The kernel step it took.
    pub action: String,
    /// The shared state the step changed.
    pub state: String,
}

/// A run of the model, as the steps of its actors.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The steps.
    pub steps: Vec<TraceStep>,
    /// The states: `states[0]` is initial, `states[i]` follows step `i`.
    pub states: Vec<State>,
    /// The thread of each step.
    pub threads: Vec<usize>,
    /// Which store each step's lock-free load read, counted back from the last (always `0`
    /// under sequential consistency: [`Step::read`]).
    pub reads: Vec<u8>,
}

/// A step of a replay path that the model cannot take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayError(pub String);

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplayError {}

impl Trace {
    /// Replays thread steps from `init`, one of the model's initial states, each load reading
    /// the last store.
    pub fn from_threads(
        model: &EmmModel,
        init: State,
        threads: &[usize],
    ) -> Result<Trace, ReplayError> {
        let steps: Vec<Step> = threads.iter().map(|&t| Step::of(t)).collect();
        Trace::from_steps(model, init, &steps)
    }

    /// Replays `path` from `init`, one of the model's initial states.
    pub fn from_steps(model: &EmmModel, init: State, path: &[Step]) -> Result<Trace, ReplayError> {
        let mut s = init;
        let mut states = vec![s.clone()];
        let mut steps = Vec::new();
        // Under lkmm, every store to each weak location so far: (step, actor, value).
        let mut stores: Vec<Vec<(usize, String, u8)>> = match &s.weak {
            Some(w) => vec![Vec::new(); w.memory.len()],
            None => Vec::new(),
        };
        for (i, &step) in path.iter().enumerate() {
            let t = step.thread as usize;
            let mut possible = Vec::new();
            if t < model.actors().len() && model.enabled(&s, t) {
                model.push_steps(&s, t, &mut possible);
            }
            if !possible.contains(&step) {
                let who = model
                    .actors()
                    .get(t)
                    .map(|a| a.id.to_string())
                    .unwrap_or_else(|| format!("thread {t}"));
                let enabled: Vec<String> = (0..model.actors().len())
                    .filter(|&u| model.enabled(&s, u))
                    .map(|u| format!("{} ({})", model.actors()[u].id, describe(model, &s, u)))
                    .collect();
                if !possible.is_empty() {
                    let reads: Vec<String> = possible.iter().map(|p| p.read.to_string()).collect();
                    return Err(ReplayError(format!(
                        "step {}: {who}'s load cannot read {} stores back here (it may read: {})",
                        i + 1,
                        step.read,
                        reads.join(", ")
                    )));
                }
                return Err(ReplayError(format!(
                    "step {}: {who} cannot take a step here; enabled: {}",
                    i + 1,
                    if enabled.is_empty() {
                        "none".into()
                    } else {
                        enabled.join(", ")
                    }
                )));
            }
            let next = model.apply_step(&s, step);
            let actor = model.actors()[t].id.to_string();
            let mut action = describe_step(model, &s, step);
            if let Some((x, _)) = model.weak_load(&s, t).filter(|_| step.read > 0) {
                action.push_str(&stale_read(&stores[x as usize], x, step.read, &actor));
            }
            for (x, value) in weak_stores(model, &s, &next, t) {
                stores[x as usize].push((i + 1, actor.clone(), value));
            }
            steps.push(TraceStep {
                step: i + 1,
                actor,
                action,
                state: changes(model, &s, &next),
            });
            states.push(next.clone());
            s = next;
        }
        Ok(Trace {
            steps,
            states,
            threads: path.iter().map(|p| p.thread as usize).collect(),
            reads: path.iter().map(|p| p.read).collect(),
        })
    }

    /// The path of this trace, as the checker's steps.
    pub fn path_steps(&self) -> Vec<Step> {
        self.threads
            .iter()
            .zip(&self.reads)
            .map(|(&t, &read)| Step {
                thread: t as u8,
                read,
            })
            .collect()
    }

    /// Replays a path given as actor names (`vm0,reg0,reg0,...`) from the model's first initial
    /// state (fix the unregistrations' targets in the configuration to pick another). Under
    /// `--memory lkmm`, `vm0@1` is `vm0`'s step whose lock-free load reads the store before
    /// the last.
    pub fn from_path(model: &EmmModel, path: &str) -> Result<Trace, ReplayError> {
        let mut threads = Vec::new();
        for (i, step) in path.split(',').map(str::trim).enumerate() {
            if step.is_empty() && path.trim().is_empty() {
                break;
            }
            let (name, read) = match step.split_once('@') {
                None => (step, 0),
                Some((name, back)) => (
                    name,
                    back.parse::<u8>().map_err(|_| {
                        ReplayError(format!(
                            "step {}: '{step}': after '@' comes how many stores back the load \
                             reads (0, 1, ...)",
                            i + 1
                        ))
                    })?,
                ),
            };
            let t = model.actor_by_name(name).ok_or_else(|| {
                let names: Vec<String> = model.actors().iter().map(|a| a.id.to_string()).collect();
                ReplayError(format!(
                    "step {}: no actor '{name}' in this configuration (actors: {})",
                    i + 1,
                    names.join(", ")
                ))
            })?;
            threads.push(Step {
                thread: t as u8,
                read,
            });
        }
        Trace::from_steps(model, model.initial_state(), &threads)
    }

    /// The configuration of this trace's model with the unregistrations' targets fixed to
    /// those of its initial state, so that a replay starts where the trace did.
    pub fn config(&self, model: &EmmModel) -> crate::Config {
        crate::Config {
            targets: Some(self.states[0].targets),
            ..model.config
        }
    }

    /// The path as actor names, for `emm-check replay --path`.
    pub fn path(&self, model: &EmmModel) -> String {
        let names: Vec<String> = self
            .threads
            .iter()
            .zip(&self.reads)
            .map(|(&t, &read)| match read {
                0 => model.actors()[t].id.to_string(),
                back => format!("{}@{back}", model.actors()[t].id),
            })
            .collect();
        names.join(",")
    }

    /// The first step after which `property` is violated, with the violation.
    pub fn first_violation(&self, model: &EmmModel, property: Prop) -> Option<(usize, Violation)> {
        self.states
            .iter()
            .enumerate()
            .find_map(|(i, s)| match model.evaluate(property, s) {
                Outcome::Violated(v) => Some((i, v)),
                _ => None,
            })
    }

    /// The trace as a table: a numbered row per step, one column per actor, then the shared
    /// state that the step changed.
    pub fn render(&self, model: &EmmModel) -> String {
        let mut cols: Vec<usize> = self.threads.clone();
        cols.sort_unstable();
        cols.dedup();
        let width = |t: usize| {
            let name = model.actors()[t].id.to_string().len();
            self.steps
                .iter()
                .zip(&self.threads)
                .filter(|(_, &u)| u == t)
                .map(|(s, _)| s.action.len())
                .max()
                .unwrap_or(0)
                .max(name)
        };
        let widths: Vec<usize> = cols.iter().map(|&t| width(t)).collect();
        let mut out = String::new();
        let mut line = String::from("step");
        for (&t, w) in cols.iter().zip(&widths) {
            let _ = write!(line, "  {:<w$}", model.actors()[t].id.to_string());
        }
        let _ = writeln!(out, "{line}  changed");
        for (s, &t) in self.steps.iter().zip(&self.threads) {
            line.clear();
            let _ = write!(line, "{:>4}", s.step);
            for (&c, w) in cols.iter().zip(&widths) {
                let text = if c == t { s.action.as_str() } else { "" };
                let _ = write!(line, "  {text:<w$}");
            }
            let _ = write!(line, "  {}", s.state);
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }

    /// Why `v` holds at the end of this trace, in one sentence with the steps that caused it.
    pub fn explain(&self, model: &EmmModel, v: &Violation) -> String {
        let at = self
            .first_violation(model, v.property)
            .map(|(i, _)| i)
            .unwrap_or(self.steps.len());
        let mut text = format!("{} violated at step {at}: {}", v.property, v.reason);
        if v.property == Prop::NoStaleSecondary {
            if let Some(extra) = self.explain_stale(model, at) {
                text.push_str(&extra);
            }
        }
        text.push('.');
        text
    }

    /// For a stale secondary mapping: which step installed it, which step freed the frame,
    /// and whether the freeing thread's invalidation ever reached the notifier.
    fn explain_stale(&self, model: &EmmModel, at: usize) -> Option<String> {
        let s = &self.states[at];
        let n = (0..model.config.total_notifiers())
            .find(|&n| s.drivers[n].mirror != NIL && s.freed & (1 << s.drivers[n].mirror) != 0)?;
        let f = s.drivers[n].mirror;
        let installed = (1..=at).rev().find(|&i| {
            self.states[i].drivers[n].mirror == f && self.states[i - 1].drivers[n].mirror != f
        });
        let freed = (1..=at).find(|&i| {
            self.states[i].freed & (1 << f) != 0 && self.states[i - 1].freed & (1 << f) == 0
        })?;
        let freer = self.threads[freed - 1];
        // KVM counts a start in in_progress; an interval notifier's invalidate() sets its seq.
        let interval = model.traits().family == emm_proofs::Family::Interval;
        let started = (1..freed).any(|i| {
            let (was, is) = (&self.states[i - 1].drivers[n], &self.states[i].drivers[n]);
            self.threads[i - 1] == freer
                && if interval {
                    is.seq != was.seq
                } else {
                    is.in_progress > was.in_progress
                }
        });
        let mut text = String::new();
        match installed {
            Some(i) => {
                let _ = write!(
                    text,
                    " ({} installed f{f} at step {i}; {} freed it at step {freed}",
                    self.steps[i - 1].actor,
                    self.steps[freed - 1].actor
                );
            }
            None => {
                let _ = write!(
                    text,
                    " ({} freed f{f} at step {freed}",
                    self.steps[freed - 1].actor
                );
            }
        }
        // Versions before v4.13 reclaim with invalidate_page after the PTE is cleared and
        // count nothing in flight; a stale mapping there means the page's call was missed.
        let page_only = model.programs().delivers(Callback::InvalidatePage);
        if page_only && matches!(model.actors()[freer].id.role, Role::Vm) {
            let _ = write!(text, "; n{n} never received that page's invalidate_page");
        } else if !started && matches!(model.actors()[freer].id.role, Role::Vm | Role::Fault) {
            let call = if interval {
                "invalidate"
            } else {
                "invalidate_start"
            };
            let _ = write!(text, "; n{n} never received that invalidation's {call}");
        }
        text.push(')');
        Some(text)
    }
}

/// The weak locations that thread `t`'s step from `before` to `after` stored to, with the
/// values it left (under `--memory lkmm`; none otherwise).
fn weak_stores(model: &EmmModel, before: &State, after: &State, t: usize) -> Vec<(u8, u8)> {
    use crate::interp::weak::{seq, ACTIVE, PTE, STOPPING};
    use emm_proofs::Op;
    if before.weak.is_none() {
        return Vec::new();
    }
    let weak = model.weak_locations();
    let mut out = Vec::new();
    match model.program(t).get(before.threads[t].pc as usize) {
        Some(Op::GateEnter | Op::GateBackoff | Op::GateExit) => {
            out.push((ACTIVE, after.emm_active))
        }
        Some(Op::GateStop | Op::GateResume) => out.push((STOPPING, after.emm_stopping as u8)),
        Some(Op::Zap(_) | Op::UnmapPte) if weak.pte => out.push((PTE, after.pte)),
        Some(Op::FreeFrames) if weak.pte && before.pte != NIL => out.push((PTE, after.pte)),
        _ => {}
    }
    if weak.chain {
        use crate::interp::weak::{next, HEAD};
        if before.head != after.head {
            out.push((HEAD, after.head));
        }
        for n in 0..model.config.total_notifiers() {
            if before.next[n] != after.next[n] {
                out.push((next(n as u8), after.next[n]));
            }
        }
    }
    if weak.itree_seq && before.itree_seq != after.itree_seq {
        out.push((crate::interp::weak::ITREE_SEQ, after.itree_seq));
    }
    if weak.seq {
        for n in 0..model.config.total_notifiers() {
            if before.drivers[n].seq != after.drivers[n].seq {
                out.push((seq(n as u8), after.drivers[n].seq));
            }
        }
    }
    out
}

/// Why a load by `actor` of `x` that read `back` stores before the last saw what it saw: the
/// stores after it had not reached its thread.
fn stale_read(stores: &[(usize, String, u8)], x: u8, back: u8, actor: &str) -> String {
    let name = crate::interp::weak::location_name(x);
    let back = back as usize;
    let read = match stores.len().checked_sub(back + 1) {
        Some(i) => format!("{}'s store at step {}", stores[i].1, stores[i].0),
        None => "its first value".into(),
    };
    let newer: Vec<String> = stores[stores.len().saturating_sub(back)..]
        .iter()
        .map(|(step, by, value)| {
            let value = match x {
                crate::interp::weak::PTE => words::frame(*value),
                x if crate::interp::weak::is_link(x) => words::node(*value),
                _ => value.to_string(),
            };
            format!("{by}'s store of {value} at step {step}")
        })
        .collect();
    format!(
        ": reads {read}, because {} to {name} {} not yet visible to {actor}",
        newer.join(" and "),
        if newer.len() == 1 { "is" } else { "are" }
    )
}
