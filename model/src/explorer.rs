//! The model as stateright's Explorer shows it: readable states, each step in kernel terms, and
//! the path so far as a sequence diagram.
//!
//! stateright 0.31's Explorer (`CheckerBuilder::serve`) shows a state as its `Debug` text
//! (`format!("{state:#?}")`), a step as [`Model::format_action`] and, unless "Complete State?"
//! is ticked, as [`Model::format_step`]; it draws [`Model::as_svg`] of the path above them.
//! [`State`]'s `Debug` is a field dump that knows neither the actors nor their programs, so the
//! Explorer runs [`ExplorerModel`], the same model whose states carry the model along
//! ([`Shown`]) and print as the chain, the page, the locks, each driver and each actor's next
//! kernel step. A step prints as the kernel step, what it changed and the state it leads to.
//!
//! The Explorer addresses a path as `#/steps/INIT/A1/A2/...`: the index of the initial state in
//! [`Model::init_states`], then at each state the index of the action taken in
//! [`Model::actions`]. [`explorer_path`] turns a trace into that form.

use crate::config::Variant;
use crate::model::{EmmModel, Step};
use crate::picture::{self, Panel};
use crate::state::{State, NIL};
use crate::trace::{describe, frame, node, Trace};
use emm_proofs::{Expectation, Outcome, PROPERTIES};
use stateright::{Model, Path, Property};
use std::fmt;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The model served to the Explorer: [`EmmModel`] with readable states.
#[derive(Clone, Debug)]
pub struct ExplorerModel {
    inner: Arc<EmmModel>,
}

/// A state of [`ExplorerModel`]: the model's [`State`] and the model that reads it. Equality
/// and hashing see only the state, so fingerprints (and Explorer URLs) are the model's.
#[derive(Clone)]
pub struct Shown {
    /// The state.
    pub state: State,
    model: Arc<EmmModel>,
}

impl PartialEq for Shown {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state
    }
}

impl Eq for Shown {}

impl Hash for Shown {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        self.state.hash(hasher)
    }
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&readable(&self.model, &self.state))
    }
}

/// `state` as the Explorer shows it: the chain (`head -> n0 -> n1 -> NULL`), the page, the
/// locks of the variant, each driver's mirror, counters and flags, each actor's next kernel
/// step, and the properties broken in this state.
pub fn readable(model: &EmmModel, s: &State) -> String {
    let mut out = String::new();
    let notifiers = model.config.total_notifiers();
    // The chain, followed from head; the walk is bounded so a corrupted chain cannot loop.
    let mut chain = String::from("head");
    let mut n = s.head;
    let mut seen = 0u8;
    for _ in 0..=notifiers {
        chain.push_str(" -> ");
        chain.push_str(&node(n));
        if n == NIL || seen & (1 << n) != 0 {
            break;
        }
        seen |= 1 << n;
        n = s.next[n as usize];
    }
    let _ = writeln!(out, "chain     {chain}");
    let outside: Vec<String> = (0..notifiers as u8)
        .filter(|&n| seen & (1 << n) == 0)
        .map(|n| format!("n{n}->next = {}", node(s.next[n as usize])))
        .collect();
    if !outside.is_empty() {
        let _ = writeln!(out, "off chain {}", outside.join(", "));
    }
    let freed: Vec<String> = (0..8u8)
        .filter(|f| s.freed & (1 << f) != 0)
        .map(|f| format!("f{f}"))
        .collect();
    let _ = writeln!(
        out,
        "page      PTE -> {}; freed: {}",
        frame(s.pte),
        if freed.is_empty() {
            "none".into()
        } else {
            freed.join(", ")
        }
    );
    let held = |on: bool| if on { "held" } else { "free" };
    let locks = match model.variant {
        Variant::RcuPublish | Variant::EmmStopStart => {
            format!("mmap_sem {}", held(s.mmap_sem))
        }
        Variant::EmmStopDrainStart => format!(
            "mmap_sem {}; emm_active {}; emm_stopping {}",
            held(s.mmap_sem),
            s.emm_active,
            s.emm_stopping as u8
        ),
        Variant::TakeAllLocks => format!(
            "mmap_sem {}; rmap readers {}{}; spinlock {}; srcu idx {}, readers {}/{}{}",
            held(s.mmap_sem),
            s.rmap_readers,
            if s.rmap_writer {
                ", all taken (mm_take_all_locks)"
            } else {
                ""
            },
            held(s.spin),
            s.srcu_idx,
            s.srcu_readers[0],
            s.srcu_readers[1],
            if s.srcu_sync {
                ", synchronize_srcu running"
            } else {
                ""
            }
        ),
        Variant::IntervalSeq => format!(
            "subscriptions lock {}; invalidate_seq {}{}; active {}",
            held(s.spin),
            s.itree_seq,
            if s.itree_seq & 1 == 1 {
                " (invalidating)"
            } else {
                ""
            },
            s.itree_active
        ),
    };
    let _ = writeln!(out, "locks     {locks}");
    for n in 0..notifiers {
        let d = &s.drivers[n];
        let mut flags = Vec::new();
        if s.registered & (1 << n) != 0 {
            flags.push("registered");
        }
        if d.stopped {
            flags.push("stopped");
        }
        if d.released {
            flags.push("released");
        }
        if d.installed {
            flags.push("installed by fault");
        }
        if s.deferred_insert & (1 << n) != 0 {
            flags.push("insert deferred");
        }
        if s.deferred_remove & (1 << n) != 0 {
            flags.push("remove deferred");
        }
        let stops = if model.variant.has_stop_start() {
            format!(", stops {}, starts {}", d.stops, d.starts)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:<9} n{n}: mirror {}, in_progress {}, seq {}{stops}, releases {}{}{}",
            if n == 0 { "drivers" } else { "" },
            frame(d.mirror),
            d.in_progress,
            d.seq,
            d.releases,
            if flags.is_empty() { "" } else { "; " },
            flags.join(", ")
        );
    }
    for (t, a) in model.actors().iter().enumerate() {
        let done = s.threads[t].pc as usize >= model.program(t).len();
        let at = if done {
            "finished".to_string()
        } else if model.enabled(s, t) {
            format!("next: {}", describe(model, s, t))
        } else {
            format!("blocked at: {}", describe(model, s, t))
        };
        let _ = writeln!(
            out,
            "{:<9} {:<8} {at}",
            if t == 0 { "actors" } else { "" },
            a.id.to_string()
        );
    }
    let view = model.view(s);
    let broken: Vec<String> = emm_proofs::violations(&view)
        .into_iter()
        .filter(|v| model.applies(v.property))
        .map(|v| format!("{}: {}", v.property, v.reason))
        .collect();
    if broken.is_empty() {
        let _ = writeln!(out, "violated  none");
    }
    for (i, b) in broken.iter().enumerate() {
        let _ = writeln!(out, "{:<9} {b}", if i == 0 { "VIOLATED" } else { "" });
    }
    out
}

impl ExplorerModel {
    /// The Explorer's view of `model`. Every state's own status matters there, so it must not
    /// be a [`EmmModel::reporting_once`] model.
    pub fn new(model: EmmModel) -> ExplorerModel {
        ExplorerModel {
            inner: Arc::new(model),
        }
    }

    /// The model inside.
    pub fn model(&self) -> &EmmModel {
        &self.inner
    }

    /// `state` as a state of this model.
    pub fn shown(&self, state: State) -> Shown {
        Shown {
            state,
            model: Arc::clone(&self.inner),
        }
    }

    /// Whether property `index` of [`PROPERTIES`] is true of `s` in stateright's sense: an
    /// `always` property holds, a `sometimes` goal is reached. A property that does not apply
    /// to the configuration holds and is never reached.
    fn condition(&self, index: usize, s: &Shown) -> bool {
        let p = &PROPERTIES[index];
        if !self.inner.applies(p.name) {
            return p.expectation == Expectation::Always;
        }
        match emm_proofs::evaluate(p.name, &self.inner.view(&s.state)) {
            Some(Outcome::Violated(_)) | Some(Outcome::NotReached) => false,
            Some(Outcome::Holds) | Some(Outcome::Reached) | None => true,
        }
    }
}

/// The property conditions, one `fn` per index of [`PROPERTIES`] (stateright takes plain
/// function pointers, so the index cannot be captured).
macro_rules! conditions {
    ($($i:literal)*) => {
        [$(|m: &ExplorerModel, s: &Shown| m.condition($i, s)),*]
    };
}

const CONDITIONS: [fn(&ExplorerModel, &Shown) -> bool; 16] =
    conditions!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);

impl Model for ExplorerModel {
    type State = Shown;
    type Action = Step;

    fn init_states(&self) -> Vec<Shown> {
        self.inner
            .initial_states()
            .into_iter()
            .map(|s| self.shown(s))
            .collect()
    }

    fn actions(&self, state: &Shown, actions: &mut Vec<Step>) {
        self.inner.actions(&state.state, actions)
    }

    fn next_state(&self, state: &Shown, action: Step) -> Option<Shown> {
        self.inner
            .next_state(&state.state, action)
            .map(|s| self.shown(s))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        assert!(
            PROPERTIES.len() <= CONDITIONS.len(),
            "add conditions for the spec's new properties"
        );
        PROPERTIES
            .iter()
            .zip(CONDITIONS)
            .map(|(p, condition)| match p.expectation {
                Expectation::Always => Property::always(p.name, condition),
                Expectation::Sometimes => Property::sometimes(p.name, condition),
            })
            .collect()
    }

    fn format_action(&self, action: &Step) -> String {
        self.inner.format_action(action)
    }

    fn format_step(&self, last: &Shown, action: Step) -> Option<String> {
        let t = action.0 as usize;
        let next = self.inner.apply(&last.state, t);
        let changed = crate::trace::changes(&self.inner, &last.state, &next);
        Some(format!(
            "{}: {}{}\n\n{}",
            self.inner.actors()[t].id,
            describe(&self.inner, &last.state, t),
            if changed.is_empty() {
                String::new()
            } else {
                format!("   [{changed}]")
            },
            readable(&self.inner, &next)
        ))
    }

    fn as_svg(&self, path: Path<Shown, Step>) -> Option<String> {
        let steps = path.into_vec();
        let init = steps.first()?.0.state.clone();
        let threads: Vec<usize> = steps
            .iter()
            .filter_map(|(_, a)| a.map(|s| s.0 as usize))
            .collect();
        let trace = Trace::from_threads(&self.inner, init, &threads).ok()?;
        let panel = trace_panel(&self.inner, &trace, None);
        Some(picture::svg(&[panel]))
    }
}

/// A panel for `trace`: highlighting the step after which `property` (or, without one, the
/// first property broken at the end of the trace) is broken, with the reasons as its caption.
pub fn trace_panel<'a>(model: &'a EmmModel, trace: &'a Trace, property: Option<&str>) -> Panel<'a> {
    let last = trace.states.last().expect("a trace has an initial state");
    let broken: Vec<_> = emm_proofs::violations(&model.view(last))
        .into_iter()
        .filter(|v| model.applies(v.property) && property.is_none_or(|p| p == v.property))
        .collect();
    let first = broken.first();
    let highlight = first
        .and_then(|v| trace.first_violation(model, v.property))
        .map(|(i, _)| i)
        .filter(|&i| i > 0);
    let caption: Vec<String> = if broken.is_empty() {
        vec![format!(
            "after {} steps no property is violated",
            trace.steps.len()
        )]
    } else {
        broken.iter().map(|v| trace.explain(model, v)).collect()
    };
    let title = match first {
        Some(v) => format!(
            "{}: {} violated ({})",
            model.variant,
            v.property,
            model.config.to_flags()
        ),
        None => format!("{}: {}", model.variant, model.config.to_flags()),
    };
    Panel {
        model,
        trace,
        title,
        highlight,
        property: first.map(|v| v.property.to_string()),
        caption,
    }
}

/// The Explorer's path to the end of `trace` (`INIT/A1/A2/...`), or why there is none.
pub fn explorer_path(model: &EmmModel, trace: &Trace) -> Result<String, String> {
    let init = model
        .initial_states()
        .iter()
        .position(|s| *s == trace.states[0])
        .ok_or("the trace does not start in one of the model's initial states")?;
    let mut parts = vec![init.to_string()];
    for (s, &t) in trace.states.iter().zip(&trace.threads) {
        // The Explorer lists a state's actions in `Model::actions` order: the enabled
        // threads, in thread order.
        if !model.enabled(s, t) {
            return Err(format!("{} cannot step here", model.actors()[t].id));
        }
        let index = (0..t).filter(|&u| model.enabled(s, u)).count();
        parts.push(index.to_string());
    }
    Ok(parts.join("/"))
}
