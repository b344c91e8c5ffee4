//! Shared helpers of the workspace-level tests: configurations by name, a quick
//! deterministic check, and the status table of a report.

use emm_model::check::{CheckOptions, CheckReport, Progress};
use emm_model::{check, Config, Variant};

/// A configuration from its counts: invalidators, notifiers, registrations, unregistrations.
pub fn cfg(
    invalidators: usize,
    notifiers: usize,
    registrations: usize,
    unregistrations: usize,
) -> Config {
    Config {
        invalidators,
        notifiers,
        registrations,
        unregistrations,
        ..Config::default()
    }
}

/// The small configurations whose verdicts the tests pin, by name.
pub fn pinned_configs() -> Vec<(&'static str, Config)> {
    vec![
        ("default", Config::default()),
        ("empty-chain", cfg(1, 0, 1, 0)),
        (
            "teardown-aging",
            Config {
                teardown: true,
                aging: true,
                ..Config::default()
            },
        ),
        ("two-vms", cfg(2, 2, 1, 1)),
    ]
}

/// The pinned configurations plus two more shapes: nested invalidations, and teardown with no
/// unregistration.
pub fn more_configs() -> Vec<Config> {
    let mut configs: Vec<Config> = pinned_configs().into_iter().map(|(_, c)| c).collect();
    configs.push(Config {
        nested: true,
        ..Config::default()
    });
    configs.push(Config {
        teardown: true,
        unregistrations: 0,
        ..Config::default()
    });
    configs
}

/// Options for a deterministic check: one checker thread (stateright's DFS with symmetry on
/// two threads can count a few states more or less from run to run), no progress output.
pub fn options(symmetry: bool, shortest: bool) -> CheckOptions {
    CheckOptions {
        threads: 1,
        symmetry,
        shortest,
        progress: Progress::Silent,
        ..CheckOptions::default()
    }
}

/// Checks `variant` on `config` deterministically, without the shortest-path search.
pub fn verdicts(variant: Variant, config: Config) -> CheckReport {
    check(variant, config, &options(true, false))
}

/// Each property's status, in the spec's order, as printed (`holds`, `violated`, ...).
pub fn statuses(report: &CheckReport) -> Vec<&'static str> {
    report
        .properties
        .iter()
        .map(|p| p.status.as_str())
        .collect()
}

/// Runs the CLI in-process and returns (exit status, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("emm-check").chain(args.iter().copied());
    let code = emm_model::cli::run(argv, &mut out, &mut err, Progress::Silent);
    (
        code,
        String::from_utf8(out).expect("utf-8 stdout"),
        String::from_utf8(err).expect("utf-8 stderr"),
    )
}
