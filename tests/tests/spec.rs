//! The model checks exactly the spec's properties, by the spec's names.

use emm_model::check::model_property_names;
use emm_model::{Config, EmmModel, Variant};
use emm_proofs::{evaluate, Expectation, PROPERTIES};
use stateright::Model;

#[test]
fn model_property_names_equal_the_spec_list() {
    for variant in Variant::ALL {
        let model = EmmModel::new(variant, Config::default());
        let spec: Vec<&str> = PROPERTIES.iter().map(|p| p.name).collect();
        assert_eq!(model_property_names(&model), spec, "{variant}");
    }
}

#[test]
fn model_expectations_equal_the_spec() {
    let model = EmmModel::new(Variant::TakeAllLocks, Config::default());
    for (p, spec) in model.properties().iter().zip(PROPERTIES) {
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
fn every_spec_name_evaluates_on_a_model_state() {
    let model = EmmModel::new(Variant::RcuPublish, Config::default());
    let s = model.initial_state();
    for p in PROPERTIES {
        assert!(evaluate(p.name, &model.view(&s)).is_some(), "{}", p.name);
    }
    assert!(evaluate("no_such_property", &model.view(&s)).is_none());
}

#[test]
fn the_initial_state_satisfies_every_safety_property() {
    for variant in Variant::ALL {
        let model = EmmModel::new(variant, Config::default());
        let s = model.initial_state();
        assert_eq!(emm_proofs::violations(&model.view(&s)), vec![], "{variant}");
    }
}
