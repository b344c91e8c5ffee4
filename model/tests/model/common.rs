//! What the model's suites share: the configurations whose verdicts they pin, and a quick
//! deterministic check.

use emm_model::check::{CheckOptions, CheckReport};
use emm_model::{check, Config, Variant};

/// The small configurations whose verdicts the tests pin, by name.
pub(crate) fn pinned_configs() -> Vec<(&'static str, Config)> {
    vec![
        ("default", Config::default()),
        ("empty-chain", Config::counts(1, 0, 1, 0)),
        (
            "teardown-aging",
            Config {
                teardown: true,
                aging: true,
                ..Config::default()
            },
        ),
        ("two-vms", Config::counts(2, 2, 1, 1)),
        (
            "nested",
            Config {
                nested: true,
                ..Config::default()
            },
        ),
        (
            "teardown-no-unregister",
            Config {
                teardown: true,
                unregistrations: 0,
                ..Config::default()
            },
        ),
    ]
}

/// The pinned configurations, and the timeline's probes (`emm_model::history::PROBES`).
pub(crate) fn more_configs() -> Vec<Config> {
    let mut configs: Vec<Config> = pinned_configs().into_iter().map(|(_, c)| c).collect();
    configs.extend(emm_model::history::PROBES.iter().map(|p| p.config));
    configs
}

/// Checks `variant` on `config` deterministically, without the shortest-path search.
pub(crate) fn verdicts(variant: Variant, config: Config) -> CheckReport {
    check(variant, config, &CheckOptions::deterministic(true, false))
}

/// Each property's status, in the table's order, as printed (`holds`, `violated`, ...).
pub(crate) fn statuses(report: &CheckReport) -> Vec<&'static str> {
    report
        .properties
        .iter()
        .map(|p| p.status.as_str())
        .collect()
}
