//! The model checks exactly the spec's properties, by the spec's names, and then its own
//! inductive invariant.

use emm_model::check::model_property_names;
use emm_model::invariants::INDUCTIVE_INVARIANT;
use emm_model::{Config, EmmModel, Variant};
use emm_proofs::{evaluate, Expectation, PROPERTIES};
use stateright::Model;

#[test]
fn model_property_names_equal_the_spec_list_then_the_invariant() {
    let mut expected: Vec<&str> = PROPERTIES.iter().map(|p| p.name).collect();
    expected.push(INDUCTIVE_INVARIANT.name);
    let listed: Vec<&str> = emm_model::PROPERTIES.iter().map(|p| p.name).collect();
    assert_eq!(listed, expected);
    for variant in Variant::ALL {
        let model = EmmModel::new(variant, Config::default());
        assert_eq!(model_property_names(&model), expected, "{variant}");
    }
}

#[test]
fn model_expectations_equal_the_spec() {
    let model = EmmModel::new(Variant::TakeAllLocks, Config::default());
    assert_eq!(model.properties().len(), emm_model::PROPERTIES.len());
    for (p, spec) in model.properties().iter().zip(emm_model::PROPERTIES) {
        let always = matches!(p.expectation, stateright::Expectation::Always);
        assert_eq!(
            always,
            spec.expectation == Expectation::Always,
            "{}",
            spec.name
        );
    }
}

#[test]
fn every_property_name_evaluates_on_a_model_state() {
    let model = EmmModel::new(Variant::RcuPublish, Config::default());
    let s = model.initial_state();
    for p in PROPERTIES {
        assert!(evaluate(p.name, &model.view(&s)).is_some(), "{}", p.name);
    }
    for p in emm_model::PROPERTIES {
        assert!(model.evaluate(p.name, &s).is_some(), "{}", p.name);
    }
    assert!(evaluate("no_such_property", &model.view(&s)).is_none());
    assert!(model.evaluate("no_such_property", &s).is_none());
}

#[test]
fn the_initial_state_satisfies_every_safety_property() {
    for variant in Variant::ALL {
        let model = EmmModel::new(variant, Config::default());
        for s in model.initial_states() {
            assert_eq!(emm_proofs::violations(&model.view(&s)), vec![], "{variant}");
            assert_eq!(model.violations(&s), vec![], "{variant}");
        }
    }
}
