//! Every counterexample the checker prints is a shortest one: no path of one step fewer
//! breaks the property, and the printed path replays and breaks it at its last step.

use emm_model::check::violated_within;
use emm_model::{check, Config, EmmModel, Trace, Variant};
use emm_tests::{cfg, options};

/// Shortest counterexample lengths, in steps, as the checker found them.
#[rustfmt::skip]
const LENGTHS: &[(Variant, &str, usize)] = &[
    (Variant::RcuPublish, "no_stale_secondary", 17),
    (Variant::RcuPublish, "start_end_balanced", 9),
    (Variant::RcuPublish, "no_callback_after_unregister", 5),
    (Variant::EmmStopStart, "no_stale_secondary", 10),
    (Variant::EmmStopStart, "start_end_balanced", 17),
    (Variant::EmmStopStart, "no_callback_after_unregister", 11),
    (Variant::EmmStopStart, "walk_integrity", 32),
    (Variant::EmmStopStart, "stop_start_paired", 9),
    (Variant::EmmStopStart, "deadlock_free", 22),
];

#[test]
fn shortest_counterexamples_on_the_default_configuration() {
    for variant in [Variant::RcuPublish, Variant::EmmStopStart] {
        let report = check(variant, Config::default(), &options(true, true));
        let model = EmmModel::new(variant, Config::default());
        for p in report
            .properties
            .iter()
            .filter(|p| p.status.as_str() == "violated")
        {
            let trace = p.trace.as_ref().expect("a violation has a trace");
            assert!(p.shortest, "{variant} {}: search did not finish", p.name);
            let len = trace.steps.len();
            let pinned = LENGTHS
                .iter()
                .find(|(v, n, _)| *v == variant && *n == p.name)
                .unwrap_or_else(|| panic!("no pinned length for {variant} {}", p.name));
            assert_eq!(len, pinned.2, "{variant} {}", p.name);
            assert!(
                !violated_within(&model, p.name, len - 1),
                "{variant} {}: a path of {} steps exists",
                p.name,
                len - 1
            );
            let replayed = Trace::from_path(&model, &trace.path(&model)).expect("replays");
            let (at, _) = replayed
                .first_violation(&model, p.name)
                .expect("still violates");
            assert_eq!(
                at, len,
                "{variant} {}: violated before its last step",
                p.name
            );
        }
    }
}

#[test]
fn shortest_counterexamples_with_two_invalidators() {
    let config = cfg(2, 2, 1, 1);
    let model = EmmModel::new(Variant::EmmStopStart, config);
    let report = check(Variant::EmmStopStart, config, &options(true, true));
    let stale = report
        .property("no_stale_secondary")
        .expect("spec property");
    let trace = stale.trace.as_ref().expect("violated");
    assert!(stale.shortest);
    assert_eq!(trace.steps.len(), 20);
    assert!(!violated_within(&model, "no_stale_secondary", 19));
}
