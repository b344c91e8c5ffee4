//! The reductions of `State::representative` (sorting interchangeable VM threads, renaming the
//! initial notifiers, forgetting the `next` of notifiers nobody can reach) change how many
//! states are stored, never a verdict.

use crate::common::statuses;
use emm_model::check::CheckOptions;
use emm_model::program::Programs;
use emm_model::{check, Config, Variant};

#[test]
fn verdicts_are_equal_with_symmetry_on_and_off() {
    let configs = [
        Config::counts(2, 2, 0, 1),
        Config::counts(2, 1, 1, 0),
        Config::counts(1, 3, 0, 2),
        Config {
            teardown: true,
            ..Config::counts(1, 2, 0, 1)
        },
        Config {
            nested: true,
            ..Config::counts(2, 1, 0, 1)
        },
    ];
    for config in configs {
        for variant in Variant::ALL {
            if Programs::supports(variant, &config).is_err() {
                continue;
            }
            let on = check(variant, config, &CheckOptions::deterministic(true, false));
            let off = check(variant, config, &CheckOptions::deterministic(false, false));
            assert_eq!(
                statuses(&on),
                statuses(&off),
                "{variant} {}",
                config.to_flags()
            );
            assert!(
                on.stats.unique_states < off.stats.unique_states,
                "{variant} {}: symmetry stored {} states, no symmetry {}",
                config.to_flags(),
                on.stats.unique_states,
                off.stats.unique_states
            );
        }
    }
}
