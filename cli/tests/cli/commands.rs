//! The `emm-check` command line, run in-process: exit codes, output, the JSON document, and
//! bad input (more of it in `bad_input.rs`; the limits in `limits.rs`).

use crate::common::cli;
use emm_proofs::Prop;

#[test]
fn default_run_prints_one_row_per_variant_and_exits_0() {
    let (code, out, _) = cli(&[]);
    assert_eq!(code, 0);
    for v in emm_model::Variant::ALL {
        let row = out
            .lines()
            .find(|l| l.starts_with(v.name()))
            .unwrap_or_else(|| panic!("no row for {v}:\n{out}"));
        for column in [1, 2] {
            let verdict = row
                .split_whitespace()
                .nth(column)
                .expect("a verdict per memory model");
            assert!(["holds", "violated"].contains(&verdict), "{row}");
        }
    }
    assert!(out.contains("no_stale_secondary"));
}

#[test]
fn list_names_every_variant_and_property() {
    let (code, out, _) = cli(&["list"]);
    assert_eq!(code, 0);
    for v in emm_model::Variant::ALL {
        assert!(out.contains(v.name()), "{v}");
    }
    for p in emm_proofs::PROPERTIES {
        assert!(out.contains(p.name), "{}", p.name);
    }
}

#[test]
fn correct_variants_report_their_inductive_invariant() {
    for variant in [
        "take-all-locks",
        "mmu-notifier@v5.12",
        "interval-seq",
        "emm-stop-drain-start",
    ] {
        let (code, out, _) = cli(&["check", "--variant", variant, "--format", "json"]);
        assert_eq!(code, 0, "{variant}:\n{out}");
        let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
        let invariant = doc["properties"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|p| p["name"] == Prop::InductiveInvariant.name())
            .expect("the invariant is reported");
        assert_eq!(invariant["status"], "holds", "{variant}");
    }
}

#[test]
fn broken_variants_exit_1_with_a_readable_trace() {
    for variant in [
        "emm-stop-start",
        "emm-stop-start",
        "mmu-notifier@v2.6.27",
        "mmu-notifier@v3.9",
    ] {
        let (code, out, _) = cli(&["check", "--variant", variant]);
        assert_eq!(code, 1, "{variant}:\n{out}");
        assert!(out.contains("VIOLATED always no_stale_secondary"), "{out}");
        assert!(out.contains("step  "), "a table header:\n{out}");
        assert!(out.contains("zap PTE"), "kernel step names:\n{out}");
        assert!(
            out.contains("no_stale_secondary violated at step") && out.contains("maps frame f"),
            "the closing sentence names the property, notifier and frame:\n{out}"
        );
        assert!(out.contains("replay: emm-check replay --variant"), "{out}");
        assert!(out.trim_end().ends_with("verdict: violated"));
    }
}

#[test]
fn correct_variants_exit_0_on_both_issue_configurations() {
    for variant in ["take-all-locks", "interval-seq", "emm-stop-drain-start"] {
        for extra in [
            &[][..],
            &[
                "--invalidators",
                "2",
                "--notifiers",
                "2",
                "--registrations",
                "1",
                "--unregistrations",
                "1",
            ][..],
        ] {
            let mut args = vec!["check", "--variant", variant];
            args.extend_from_slice(extra);
            let (code, out, _) = cli(&args);
            assert_eq!(code, 0, "{args:?}:\n{out}");
            assert!(out.trim_end().ends_with("verdict: holds"));
        }
    }
}

#[test]
fn the_replay_line_replays_the_counterexample() {
    let (_, out, _) = cli(&["check", "--variant", "emm-stop-start"]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("replay: emm-check "))
        .expect("a replay line");
    let args: Vec<&str> = line.split_whitespace().collect();
    let (code, replayed, _) = cli(&args);
    assert_eq!(code, 0, "{replayed}");
    assert!(
        replayed.contains("no_stale_secondary violated at step"),
        "{replayed}"
    );
}

#[test]
fn json_has_the_documented_shape() {
    let (code, out, _) = cli(&["check", "--variant", "emm-stop-start", "--format", "json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["variant"], "emm@stop-start");
    for key in [
        "invalidators",
        "notifiers",
        "registrations",
        "unregistrations",
    ] {
        assert_eq!(doc["config"][key], 1, "{key}");
    }
    for key in ["nested", "teardown", "aging"] {
        assert_eq!(doc["config"][key], false, "{key}");
    }
    assert_eq!(doc["verdict"], "violated");
    let props = doc["properties"].as_array().expect("a list");
    assert_eq!(props.len(), emm_proofs::PROPERTIES.len());
    // The model's own property comes last; emm@stop-start is broken, so it has no invariant.
    let last = props.last().expect("a property");
    assert_eq!(last["name"], Prop::InductiveInvariant.name());
    assert_eq!(last["expectation"], "always");
    assert_eq!(last["status"], "n/a");
    for p in props {
        assert!(["always", "sometimes"].contains(&p["expectation"].as_str().unwrap()));
        let status = p["status"].as_str().expect("a status");
        assert!(
            [
                "holds",
                "violated",
                "reached",
                "unreached",
                "n/a",
                "unknown"
            ]
            .contains(&status),
            "{status}"
        );
        if status == "violated" || status == "reached" {
            let trace = p["trace"].as_array().expect("a trace");
            assert!(!trace.is_empty());
            for (i, step) in trace.iter().enumerate() {
                assert_eq!(step["step"], i + 1);
                for key in ["actor", "action", "state"] {
                    assert!(step[key].is_string(), "{key}");
                }
            }
        }
    }
    for key in ["unique_states", "states", "max_depth", "seconds"] {
        assert!(doc["stats"][key].is_number(), "{key}");
    }
}

#[test]
fn notifiers_0_is_a_valid_empty_chain() {
    // With no notifier at the start there is nothing to unregister: the default is then 0.
    let (code, out, err) = cli(&["check", "--variant", "take-all-locks", "--notifiers", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("--notifiers 0 --registrations 1 --unregistrations 0"),
        "{out}"
    );
}

#[test]
fn bad_input_is_a_one_line_reason_and_exit_2() {
    let cases: &[&[&str]] = &[
        &["check", "--variant", "no-such-variant"],
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--invalidators",
            "-1",
        ],
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--invalidators",
            "1000000",
        ],
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--notifiers",
            "99999999999999999999999",
        ],
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--invalidators",
            "0",
        ],
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--notifiers",
            "0",
            "--registrations",
            "0",
            "--unregistrations",
            "0",
        ],
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--notifiers",
            "1",
            "--unregistrations",
            "2",
        ],
        &["check", "--variant", "emm-stop-start", "--threads", "0"],
        &["check", "--variant", "emm-stop-start", "--format", "xml"],
        &["check", "--variant", "emm-stop-start", "--bogus"],
        &["check", "--variant", "emm-stop-start", "--max-states", "0"],
        &["check", "--variant", "emm-stop-start", "--timeout", "0"],
        &["check"],
        &["frobnicate"],
        &[
            "replay",
            "--variant",
            "emm-stop-start",
            "--path",
            "vm0,nobody",
        ],
        &["replay", "--variant", "emm-stop-start", "--path", "drv1"],
        &[
            "explore",
            "--variant",
            "emm-stop-start",
            "--addr",
            "0.0.0.0:3000",
        ],
    ];
    for args in cases {
        let (code, out, err) = cli(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{args:?}: nothing on stdout, got {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err}");
        assert!(err.starts_with("emm-check: error: "), "{args:?}: {err}");
    }
}
