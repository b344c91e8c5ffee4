//! Each variant's verdict, per property, on four small configurations, as the checker found
//! them. Nothing here is known to the model: these tables were taken from `emm-check` runs
//! and pin its behaviour, so a change to the model that changes a verdict shows up here.
//!
//! Columns, in the model's order (`emm_model::PROPERTIES`): no_stale_secondary,
//! start_end_balanced, no_callback_after_unregister, walk_integrity, stop_start_paired,
//! release_before_free, deadlock_free | registration_overlaps_invalidation,
//! secondary_mapping_installed, unregister_overlaps_walk, teardown_overlaps_unregister |
//! inductive_invariant (the correct variants' own, `n/a` for the broken ones).

use crate::common::{more_configs, pinned_configs, statuses, verdicts};
use emm_model::{Config, Variant};
use emm_proofs::Prop;

const H: &str = "holds";
const V: &str = "violated";
const R: &str = "reached";
const NA: &str = "n/a";

#[rustfmt::skip]
fn expected(config: &str, variant: Variant) -> [&'static str; 12] {
    use Variant::*;
    match (config, variant) {
        ("default", RcuPublish)        => [V, V, V, H, NA, NA, H, R, R, R, NA, NA],
        ("default", EmmStopStart)      => [V, V, V, V, V, NA, V, R, R, R, NA, NA],
        ("default", EmmStopDrainStart) => [H, H, H, H, H, NA, H, R, R, R, NA, H],
        ("default", TakeAllLocks)      => [H, H, H, H, NA, NA, H, R, R, R, NA, H],
        ("default", IntervalSeq)       => [H, NA, H, H, NA, NA, H, R, R, R, NA, H],

        ("empty-chain", RcuPublish)        => [V, V, NA, H, NA, NA, H, R, R, NA, NA, NA],
        ("empty-chain", EmmStopStart)      => [V, V, NA, H, V, NA, H, R, R, NA, NA, NA],
        ("empty-chain", EmmStopDrainStart) => [H, H, NA, H, H, NA, H, R, R, NA, NA, H],
        ("empty-chain", TakeAllLocks)      => [H, H, NA, H, NA, NA, H, R, R, NA, NA, H],
        ("empty-chain", IntervalSeq)       => [H, NA, NA, H, NA, NA, H, R, R, NA, NA, H],

        ("teardown-aging", RcuPublish)        => [V, V, V, H, NA, H, H, R, R, R, R, NA],
        ("teardown-aging", EmmStopStart)      => [V, V, V, V, V, H, V, R, R, R, R, NA],
        ("teardown-aging", EmmStopDrainStart) => [H, H, H, H, H, H, H, R, R, R, R, H],
        ("teardown-aging", TakeAllLocks)      => [H, H, H, H, NA, H, H, R, R, R, R, H],
        ("teardown-aging", IntervalSeq)       => [H, NA, H, H, NA, NA, H, R, R, R, R, H],

        ("two-vms", RcuPublish)        => [V, V, V, H, NA, NA, H, R, R, R, NA, NA],
        ("two-vms", EmmStopStart)      => [V, V, V, V, V, NA, V, R, R, R, NA, NA],
        ("two-vms", EmmStopDrainStart) => [H, H, H, H, H, NA, H, R, R, R, NA, H],
        ("two-vms", TakeAllLocks)      => [H, H, H, H, NA, NA, H, R, R, R, NA, H],
        ("two-vms", IntervalSeq)       => [H, NA, H, H, NA, NA, H, R, R, R, NA, H],
        _ => unreachable!("no pinned verdicts for {config}"),
    }
}

fn check_config(name: &str, config: Config) {
    for variant in Variant::ALL {
        let report = verdicts(variant, config);
        assert_eq!(
            statuses(&report),
            expected(name, variant),
            "{variant} on {name} ({})",
            config.to_flags()
        );
        assert!(report.limit.is_none(), "{variant} on {name} hit a limit");
    }
}

#[test]
fn verdicts_on_the_default_configuration() {
    check_config("default", pinned_configs()[0].1);
}

#[test]
fn verdicts_on_an_empty_initial_chain() {
    check_config("empty-chain", pinned_configs()[1].1);
}

#[test]
fn verdicts_with_teardown_and_aging() {
    check_config("teardown-aging", pinned_configs()[2].1);
}

#[test]
fn verdicts_with_two_invalidators_and_two_notifiers() {
    check_config("two-vms", pinned_configs()[3].1);
}

/// The broken variants break `no_stale_secondary` and the correct ones hold everything, on
/// both configurations the issue names (the default, and two VMs with two notifiers).
#[test]
fn broken_and_correct_variants_on_both_issue_configurations() {
    for config in [Config::default(), Config::counts(2, 2, 1, 1)] {
        for variant in Variant::ALL {
            let r = verdicts(variant, config);
            let stale = r.property(Prop::NoStaleSecondary).status;
            match variant {
                Variant::RcuPublish | Variant::EmmStopStart => {
                    assert_eq!(r.verdict.exit_code(), 1, "{variant}");
                    assert_eq!(stale.as_str(), "violated", "{variant}");
                }
                _ => assert_eq!(r.verdict.exit_code(), 0, "{variant}: {:?}", r.violated()),
            }
        }
    }
}

/// A goal that a configuration could exercise but never reaches makes the model vacuous
/// there: no configuration of the tests may leave one unreached.
#[test]
fn no_goal_is_left_unreached() {
    let configs = more_configs();
    for config in configs {
        for variant in Variant::ALL {
            let r = verdicts(variant, config);
            assert_eq!(
                r.unreached(),
                Vec::<Prop>::new(),
                "{variant} {}",
                config.to_flags()
            );
        }
    }
}

/// Unique state counts (one checker thread, symmetry on), pinned so that any change to the
/// model's state or steps shows up in review.
#[rustfmt::skip]
#[test]
fn unique_state_counts() {
    let expect = [
        ("default", Variant::RcuPublish, 1174),
        ("default", Variant::EmmStopStart, 2782),
        ("default", Variant::EmmStopDrainStart, 1510),
        ("default", Variant::TakeAllLocks, 2450),
        ("default", Variant::IntervalSeq, 711),
        ("two-vms", Variant::EmmStopDrainStart, 32681),
        ("two-vms", Variant::TakeAllLocks, 111352),
        ("two-vms", Variant::IntervalSeq, 14399),
    ];
    let configs = pinned_configs();
    for (name, variant, count) in expect {
        let config = configs.iter().find(|(n, _)| *n == name).expect("pinned config").1;
        let r = verdicts(variant, config);
        assert_eq!(r.stats.unique_states, count, "{variant} on {name}");
    }
}

/// A bigger bound: three VM threads, two notifiers, one registration, one unregistration
/// (0.4 M to 3.9 M states per variant, about 10 s in all on two cores).
/// Run with `cargo test --release -p emm-model --test model verdicts -- --ignored`.
#[test]
#[ignore = "about 10 s"]
fn verdicts_with_three_invalidators() {
    let config = Config::counts(3, 2, 1, 1);
    let opts = emm_model::CheckOptions {
        shortest: false,
        ..emm_model::CheckOptions::default()
    };
    for variant in Variant::ALL {
        let r = emm_model::check(variant, config, &opts);
        assert!(r.limit.is_none());
        assert_eq!(r.unreached(), Vec::<Prop>::new(), "{variant}");
        match variant {
            Variant::RcuPublish | Variant::EmmStopStart => {
                assert!(r.violated().contains(&Prop::NoStaleSecondary), "{variant}")
            }
            _ => assert_eq!(r.violated(), Vec::<Prop>::new(), "{variant}"),
        }
    }
}
