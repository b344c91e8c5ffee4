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

use crate::picture::{self, Panel};
use emm_model::state::State;
use emm_model::trace::{changes, describe_step, readable, Trace};
use emm_model::{EmmModel, Step};
use emm_proofs::{Expectation, Outcome, Prop};
use stateright::{Model, Path, Property};
use std::fmt;
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

    /// Whether `prop` is true of `s` in stateright's sense: an `always` property holds, a
    /// `sometimes` goal is reached. A property that does not apply to the configuration holds
    /// and is never reached.
    fn condition(&self, prop: Prop, s: &Shown) -> bool {
        if !self.inner.applies(prop) {
            return prop.expectation() == Expectation::Always;
        }
        match self.inner.evaluate(prop, &s.state) {
            Outcome::Violated(_) | Outcome::NotReached => false,
            Outcome::Holds | Outcome::Reached => true,
        }
    }
}

/// One stateright property per entry of the spec's property table, each a plain `fn` (stateright
/// takes function pointers, so the property cannot be captured).
macro_rules! explorer_properties {
    ($($kind:ident $by:ident $standing:ident $variant:ident $func:ident { $($entry:tt)* })*) => {
        vec![$(
            explorer_property!($kind, Prop::$variant)
        ),*]
    };
}

macro_rules! explorer_property {
    (always, $prop:expr) => {
        Property::always($prop.name(), |m: &ExplorerModel, s: &Shown| {
            m.condition($prop, s)
        })
    };
    (sometimes, $prop:expr) => {
        Property::sometimes($prop.name(), |m: &ExplorerModel, s: &Shown| {
            m.condition($prop, s)
        })
    };
}

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
        emm_proofs::property_table!(explorer_properties)
    }

    fn format_action(&self, action: &Step) -> String {
        self.inner.format_action(action)
    }

    fn format_step(&self, last: &Shown, action: Step) -> Option<String> {
        let t = action.thread as usize;
        let next = self.inner.apply_step(&last.state, action);
        let changed = changes(&self.inner, &last.state, &next);
        Some(format!(
            "{}: {}{}\n\n{}",
            self.inner.actors()[t].id,
            describe_step(&self.inner, &last.state, action),
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
        let taken: Vec<Step> = steps.iter().filter_map(|(_, a)| *a).collect();
        let trace = Trace::from_steps(&self.inner, init, &taken).ok()?;
        let panel = trace_panel(&self.inner, &trace, None);
        Some(picture::svg(&[panel]))
    }
}

/// A panel for `trace`: highlighting the step after which `property` (or, without one, the
/// first property broken at the end of the trace) is broken, with the reasons as its caption.
pub fn trace_panel<'a>(model: &'a EmmModel, trace: &'a Trace, property: Option<Prop>) -> Panel<'a> {
    let last = trace.states.last().expect("a trace has an initial state");
    let broken: Vec<_> = model
        .violations(last)
        .into_iter()
        .filter(|v| property.is_none_or(|p| p == v.property))
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
        property: first.map(|v| v.property.name().to_string()),
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
