//! The model checks exactly the spec's property table, by the table's names, kinds and order.

use emm_model::check::model_property_names;
use emm_model::{Config, EmmModel, Variant};
use emm_proofs::{evaluate, EvaluatedBy, Expectation, Outcome, Prop, PROPERTIES};
use stateright::Model;

#[test]
fn model_property_names_equal_the_table() {
    let expected: Vec<&str> = PROPERTIES.iter().map(|p| p.name).collect();
    for variant in Variant::ALL {
        let model = EmmModel::new(variant, Config::default());
        assert_eq!(model_property_names(&model), expected, "{variant}");
    }
}

#[test]
fn the_table_is_indexed_by_its_props() {
    for (i, p) in PROPERTIES.iter().enumerate() {
        assert_eq!(p.prop as usize, i, "{}", p.name);
        assert_eq!(Prop::from_name(p.name), Some(p.prop));
        assert_eq!(p.prop.name(), p.name);
    }
    assert_eq!(Prop::ALL.len(), PROPERTIES.len());
    assert_eq!(Prop::from_name("no_such_property"), None);
}

#[test]
fn model_expectations_equal_the_table() {
    let model = EmmModel::new(Variant::MmuNotifierV5_12, Config::default());
    assert_eq!(model.properties().len(), PROPERTIES.len());
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
fn every_property_evaluates_on_a_model_state() {
    let model = EmmModel::new(Variant::EmmV2, Config::default());
    let s = model.initial_state();
    for p in PROPERTIES {
        let spec = evaluate(p.name, &model.view(&s));
        assert_eq!(
            spec.is_some(),
            p.evaluated_by == EvaluatedBy::Observation,
            "{}",
            p.name
        );
        let outcome = model.evaluate(p.prop, &s);
        if let Some(spec) = spec {
            assert_eq!(outcome, spec, "{}", p.name);
        }
    }
    assert!(evaluate("no_such_property", &model.view(&s)).is_none());
}

#[test]
fn the_initial_state_satisfies_every_safety_property() {
    for variant in Variant::ALL {
        let model = EmmModel::new(variant, Config::default());
        for s in model.initial_states() {
            assert_eq!(emm_proofs::violations(&model.view(&s)), vec![], "{variant}");
            assert_eq!(model.violations(&s), vec![], "{variant}");
            for &p in Prop::ALL {
                assert!(
                    !matches!(model.evaluate(p, &s), Outcome::Violated(_)),
                    "{variant}: {p}"
                );
            }
        }
    }
}
