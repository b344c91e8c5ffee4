//! Trace validation of the implementation's executions against the model: the code shared by
//! the loom, shuttle and thread suites.
//!
//! An execution of a [`Scenario`] on a protocol is a run of the model's configuration with the
//! same actors; its trace (every step, as the model's event) must be a behaviour of the model
//! of the same variant (see `emm_model::conformance`).

use emm::harness::{Execution, Scenario};
use emm::Chain;
use emm_model::config::MAX_UNREGISTRATIONS;
use emm_model::state::{State, NIL};
use emm_model::{Config, EmmModel, Variant};

// A trace is complete only if the protocol records its own steps too.
const _: () = assert!(
    emm::harness::TRACED,
    "validating traces needs the `trace` feature (it is always on under loom and shuttle)"
);

/// The model of protocol `C` on the configuration that `scenario` runs, in its initial state.
///
/// # Panics
/// If the scenario is not one the model has (registrars that repeat their rounds).
pub(crate) fn model_of<C: Chain>(scenario: &Scenario) -> (EmmModel, State) {
    assert!(
        scenario.rounds <= 1,
        "the model's registrar registers once: a trace of {} rounds is not one of its runs",
        scenario.rounds
    );
    let variant: Variant = C::VARIANT;
    let mut targets = [NIL; MAX_UNREGISTRATIONS];
    for (slot, &n) in targets.iter_mut().zip(&scenario.unregister) {
        *slot = n as u8;
    }
    let config = Config {
        invalidators: scenario.invalidators,
        nested: scenario.nested,
        notifiers: scenario.notifiers,
        registrations: scenario.registrations,
        unregistrations: scenario.unregister.len(),
        targets: Some(targets),
        teardown: scenario.teardown,
        aging: scenario.aging,
        vma_faults: 0,
        oom_reaper: false,
        // The implementation's runs are compared step by step with the model's: the
        // sequentially consistent one, whose steps read the last stores.
        memory: emm_model::Memory::Sc,
    };
    config
        .validate_bounds()
        .expect("the scenario is within the model's bounds");
    let model = EmmModel::new(variant, config);
    let initial = model.initial_state();
    (model, initial)
}

/// Checks `execution`'s trace against the model of `C` on `scenario`'s configuration; the
/// error names the first event the model cannot take, the model's state there and its
/// enabled steps.
#[cfg_attr(loom, allow(dead_code))] // loom counts the late loads too: refines_weak
pub(crate) fn refines<C: Chain>(
    scenario: &Scenario,
    execution: &Execution,
) -> Result<usize, String> {
    refines_weak::<C>(scenario, execution).map(|(events, _)| events)
}

/// [`refines`], also returning how many of the trace's loads read a link older than the last
/// store to it, each accepted only if the link held that value since the last grace period's
/// fence before the load (`emm_model::conformance::validate_weak`; for protocols whose walks
/// load with acquire, `Chain::WEAK_LOADS`; the others are validated strictly).
pub(crate) fn refines_weak<C: Chain>(
    scenario: &Scenario,
    execution: &Execution,
) -> Result<(usize, usize), String> {
    let (model, initial) = model_of::<C>(scenario);
    let validate = if C::WEAK_LOADS {
        emm_model::conformance::validate_weak
    } else {
        emm_model::conformance::validate
    };
    validate(&model, &initial, &execution.trace)
        .map(|v| (v.events, v.late_loads))
        .map_err(|d| {
            let recorded: String = execution.trace[..=d.index]
                .iter()
                .enumerate()
                .map(|(i, e)| format!("\n  {i:>3} {e}"))
                .collect();
            format!(
                "{} ({}): {d}\n  the trace up to it:{recorded}",
                C::VARIANT,
                scenario_name(scenario)
            )
        })
}

fn scenario_name(s: &Scenario) -> String {
    format!(
        "{} vm{}, {} notifiers, {} registrations, unregister {:?}{}{}",
        s.invalidators,
        if s.nested { " nested" } else { "" },
        s.notifiers,
        s.registrations,
        s.unregister,
        if s.teardown { ", teardown" } else { "" },
        if s.aging { ", aging" } else { "" },
    )
}
