//! Every counterexample the checker prints is a shortest one: no path of one step fewer
//! breaks the property (a depth-bounded search, which does not depend on how the checker keeps
//! its discoveries), and the printed path replays and breaks it at its last step.

use crate::common::more_configs;
use emm_model::check::violated_within;
use emm_model::check::CheckOptions;
use emm_model::program::Programs;
use emm_model::{check, Config, EmmModel, Trace, Variant};
use emm_proofs::Prop;

/// Shortest counterexample lengths on each version's default configuration
/// (`Config::default_for`), in steps, as the checker found them.
#[rustfmt::skip]
const DEFAULT_LENGTHS: &[(Variant, Prop, usize)] = &[
    (Variant::EmmV2, Prop::NoStaleSecondary, 19),
    (Variant::EmmV2, Prop::StartEndBalanced, 10),
    (Variant::EmmV2, Prop::NoStartLeftOpen, 19),
    (Variant::EmmStopStart, Prop::NoStaleSecondary, 12),
    (Variant::EmmStopStart, Prop::StartEndBalanced, 18),
    (Variant::EmmStopStart, Prop::NoCallbackAfterUnregister, 13),
    (Variant::EmmStopStart, Prop::WalkIntegrity, 33),
    (Variant::EmmStopStart, Prop::StopStartPaired, 9),
    (Variant::EmmStopStart, Prop::DeadlockFree, 24),
    (Variant::EmmStopStart, Prop::MemorySafe, 19),
    (Variant::EmmStopStart, Prop::NoStartLeftOpen, 30),
    (Variant::MmuNotifierV2_6_27, Prop::NoStaleSecondary, 10),
    (Variant::MmuNotifierV3_9, Prop::NoStaleSecondary, 11),
    (Variant::IntervalV5_5, Prop::MemorySafe, 17),
];

/// Checks that each violated property's trace is a shortest one; returns (property, length).
fn confirm_shortest(variant: Variant, config: Config) -> Vec<(Prop, usize)> {
    let report = check(variant, config, &CheckOptions::deterministic(true, true));
    let model = EmmModel::new(variant, config);
    let mut lengths = Vec::new();
    for p in report
        .properties
        .iter()
        .filter(|p| p.status.as_str() == "violated")
    {
        let trace = p.trace.as_ref().expect("a violation has a trace");
        assert!(
            p.shortest,
            "{variant} {}: the search did not finish",
            p.name
        );
        let len = trace.steps.len();
        assert!(
            !violated_within(&model, p.name, len - 1),
            "{variant} {} {}: a path of {} steps exists",
            config.to_flags(),
            p.name,
            len - 1
        );
        // Replay from the trace's own initial state (its unregistration targets).
        let fixed = EmmModel::new(variant, trace.config(&model));
        let replayed = Trace::from_path(&fixed, &trace.path(&model)).expect("replays");
        let (at, _) = replayed
            .first_violation(&fixed, p.prop)
            .expect("still violates");
        assert_eq!(
            at, len,
            "{variant} {}: violated before its last step",
            p.name
        );
        lengths.push((p.prop, len));
    }
    lengths
}

#[test]
fn shortest_counterexample_lengths_on_the_default_configuration() {
    for variant in Variant::ALL {
        let mut expected: Vec<(Prop, usize)> = DEFAULT_LENGTHS
            .iter()
            .filter(|(v, _, _)| *v == variant)
            .map(|&(_, n, l)| (n, l))
            .collect();
        let mut found = confirm_shortest(variant, Config::default_for(variant));
        expected.sort_unstable();
        found.sort_unstable();
        assert_eq!(found, expected, "{variant}");
    }
}

/// The EMM versions' proof documents tell their counterexamples by their lengths.
#[test]
fn the_proof_documents_quote_the_shortest_lengths() {
    for &(variant, name, len) in DEFAULT_LENGTHS {
        let doc = match variant {
            Variant::EmmV2 => include_str!("../../../proofs/proofs/emm-v2.md"),
            Variant::EmmStopStart => include_str!("../../../proofs/proofs/emm-stop-start.md"),
            _ => continue,
        };
        let heading = format!("## `{name}` ({len} steps");
        assert!(doc.contains(&heading), "{variant}: no heading `{heading}`");
    }
}

#[test]
fn every_printed_counterexample_is_shortest_on_every_pinned_configuration() {
    for config in more_configs() {
        for variant in Variant::ALL {
            if Programs::supports(variant, &config).is_ok() && config != Config::default() {
                confirm_shortest(variant, config);
            }
        }
    }
}

/// The README's sample: the seed's register racing one reclaim invalidation.
#[test]
fn the_readme_sample_is_the_shortest_registration_race() {
    let config = Config::counts(1, 1, 1, 0);
    let found = confirm_shortest(Variant::EmmStopStart, config);
    assert!(found.contains(&(Prop::NoStaleSecondary, 28)), "{found:?}");
    let report = check(
        Variant::EmmStopStart,
        config,
        &CheckOptions::deterministic(true, true),
    );
    let trace = report
        .property(Prop::NoStaleSecondary)
        .trace
        .as_ref()
        .expect("violated");
    let model = EmmModel::new(Variant::EmmStopStart, config);
    let readme = include_str!("../../../README.md");
    assert!(
        readme.contains(&trace.render(&model)),
        "the README's sample table is not what emm-check prints:\n{}",
        trace.render(&model)
    );
    assert!(
        readme.contains(&trace.path(&model)),
        "the README's replay line is not this trace's path"
    );
}
