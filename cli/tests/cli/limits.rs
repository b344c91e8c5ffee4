//! The limits: `--max-states`, `--timeout` and `--max-memory` stop a search cleanly with exit 3
//! and say what was covered; a configuration whose estimated state space is beyond them is
//! refused up front (exit 2) with the estimate, unless `--force`.

use crate::common::{assert_usage_error, cli};
use emm_model::check::CheckOptions;
use emm_model::estimate::{Estimate, HIGH, LOW};
use emm_model::{Config, EmmModel, Variant};

/// The largest configuration the model accepts: hundreds of millions of states or more.
const HUGE: &[&str] = &[
    "--invalidators",
    "3",
    "--nested",
    "--notifiers",
    "3",
    "--registrations",
    "2",
    "--unregistrations",
    "2",
    "--teardown",
    "--aging",
];

fn args<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    [head, tail].concat()
}

#[test]
fn estimate_brackets_the_real_count() {
    let configs = [
        Config::default(),
        Config::counts(1, 0, 1, 0),
        Config::counts(2, 1, 1, 0),
        Config::counts(1, 2, 1, 1),
        Config {
            nested: true,
            ..Config::default()
        },
        Config {
            teardown: true,
            ..Config::default()
        },
    ];
    for variant in Variant::ALL {
        for config in configs {
            let stored =
                emm_model::check(variant, config, &CheckOptions::deterministic(true, false))
                    .stats
                    .unique_states as f64;
            let sorted = config.invalidators > 1;
            let e = Estimate::of(&EmmModel::new(variant, config), sorted);
            assert!(
                e.low() <= stored && stored <= e.high(),
                "{variant} {}: {stored} states, estimate {} ({LOW}..{HIGH} x)",
                config.to_flags(),
                e.count
            );
        }
    }
}

#[test]
fn a_state_limit_stops_the_search_with_exit_3() {
    let flags = ["--invalidators", "2", "--notifiers", "2"];
    let config = Config::counts(2, 2, 1, 1);
    let model = EmmModel::new(Variant::MmuNotifierV5_12, config);
    // A limit the estimate accepts, well below what the whole search generates.
    let limit = (Estimate::of(&model, true).low() * 2.0).ceil() as usize;
    let whole = emm_model::check(
        Variant::MmuNotifierV5_12,
        config,
        &CheckOptions::deterministic(true, false),
    )
    .stats
    .states;
    assert!(whole > 4 * limit, "the limit must fall inside the search");
    let limit = limit.to_string();
    let (code, out, _) = cli(&args(
        &["check", "--variant", "take-all-locks"],
        &[&flags[..], &["--max-states", &limit]].concat(),
    ));
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("INCOMPLETE: --max-states stopped the search after"),
        "{out}"
    );
    assert!(
        out.contains("unknown"),
        "unchecked statuses are unknown:\n{out}"
    );
    assert!(out.trim_end().ends_with("verdict: incomplete"));

    let (code, json, _) = cli(&args(
        &["check", "--variant", "take-all-locks", "--format", "json"],
        &[&flags[..], &["--max-states", &limit]].concat(),
    ));
    assert_eq!(code, 3);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(doc["limit"], "--max-states");
    assert_eq!(doc["verdict"], "incomplete");
    let covered = doc["stats"]["states"].as_u64().expect("a count");
    assert!(
        covered >= limit.parse::<u64>().expect("a count"),
        "{covered}"
    );
    assert!(doc["stats"]["unique_states"].as_u64().expect("a count") > 0);
}

#[test]
fn a_violation_found_before_a_limit_still_exits_1() {
    let (code, out, _) = cli(&[
        "check",
        "--variant",
        "emm-stop-start",
        "--max-states",
        "20000",
    ]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn a_state_space_beyond_the_limits_is_refused_with_its_estimate() {
    let flags = ["--invalidators", "2", "--notifiers", "2"];
    let model = EmmModel::new(Variant::MmuNotifierV5_12, Config::counts(2, 2, 1, 1));
    // Half the estimate's low end: refused, however fast the machine.
    let limit = ((Estimate::of(&model, true).low() / 2.0).floor() as u64).max(1);
    let limit = limit.to_string();
    let base = args(
        &["check", "--variant", "take-all-locks"],
        &[&flags[..], &["--max-states", &limit]].concat(),
    );
    assert_usage_error(&base, "estimated");
    assert_usage_error(
        &base,
        &format!("the at most {limit} that --max-states allows"),
    );
    assert_usage_error(&base, "--force");
    // --force searches anyway, and the limit stops it.
    let (code, out, _) = cli(&args(&base, &["--force"]));
    assert_eq!(code, 3, "{out}");

    // The largest configuration is beyond the default limits.
    assert_usage_error(
        &args(&["check", "--variant", "take-all-locks"], HUGE),
        "estimated",
    );
    assert_usage_error(
        &args(
            &["check", "--variant", "take-all-locks", "--timeout", "1"],
            HUGE,
        ),
        "estimated",
    );
}

#[test]
fn a_timeout_stops_the_search_with_exit_3() {
    let (code, out, _) = cli(&args(
        &[
            "check",
            "--variant",
            "take-all-locks",
            "--timeout",
            "1",
            "--force",
            "--format",
            "json",
        ],
        HUGE,
    ));
    assert_eq!(code, 3, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["limit"], "--timeout");
    assert_eq!(doc["verdict"], "incomplete");
    assert!(doc["stats"]["seconds"].as_f64().expect("seconds") < 10.0);
    assert!(doc["stats"]["unique_states"].as_u64().expect("a count") > 0);
    for p in doc["properties"].as_array().expect("properties") {
        assert!(
            ["unknown", "violated", "reached", "n/a"]
                .contains(&p["status"].as_str().expect("a status")),
            "nothing holds or is unreached on an incomplete search: {p}"
        );
    }
}

#[test]
fn a_memory_limit_stops_the_search_with_exit_3() {
    let (code, out, _) = cli(&[
        "check",
        "--variant",
        "take-all-locks",
        "--invalidators",
        "3",
        "--notifiers",
        "2",
        "--max-memory",
        "16",
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("INCOMPLETE: --max-memory stopped the search after"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("verdict: incomplete"));
}

#[test]
fn the_help_explains_the_estimate() {
    let (code, help, _) = cli(&["check", "--help"]);
    assert_eq!(code, 0);
    for words in ["estimated", "1 + 2N", "--force"] {
        assert!(help.contains(words), "{words}:\n{help}");
    }
}
