//! `--memory lkmm` from the command line: the check, its trace, the replay of its replay line
//! and of its JSON document, and what is refused.

use crate::common::{assert_usage_error, cli, temp_file};

const INTERVAL: &[&str] = &["check", "--variant", "interval@v5.18", "--memory", "lkmm"];

/// The replay line a check printed.
fn replay_line(out: &str) -> Vec<String> {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("replay: emm-check "))
        .unwrap_or_else(|| panic!("no replay line:\n{out}"));
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn a_weak_violation_prints_why_the_load_read_an_old_store() {
    let (code, out, _) = cli(INTERVAL);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no_stale_secondary"), "{out}");
    assert!(out.contains("[READ_ONCE]"), "{out}");
    assert!(out.contains("is not yet visible to drv1"), "{out}");
    // The same configuration holds under sc.
    let (code, out, _) = cli(&["check", "--variant", "interval@v5.18"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_replay_line_of_a_weak_trace_replays_it() {
    let (_, out, _) = cli(INTERVAL);
    let args = replay_line(&out);
    assert!(args.iter().any(|a| a == "lkmm"), "{args:?}");
    assert!(
        args.iter().any(|a| a.contains('@') && a.contains("drv1@")),
        "{args:?}"
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, replayed, err) = cli(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        replayed.contains("is not yet visible to drv1"),
        "{replayed}"
    );
    // Without --memory lkmm the path's choice of an older store is not a step.
    let sc: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| *a != "--memory" && *a != "lkmm")
        .collect();
    let (code, _, err) = cli(&sc);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read 1 stores back"), "{err}");
}

#[test]
fn a_weak_trace_file_replays_with_its_reads() {
    let mut args = INTERVAL.to_vec();
    args.extend(["--format", "json"]);
    let (code, json, _) = cli(&args);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(doc["config"]["memory"], "lkmm");
    let file = temp_file("weak-trace.json", json.as_bytes());
    let (code, out, err) = cli(&["replay", &file]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("is not yet visible"), "{out}");
    assert_usage_error(
        &["replay", &file, "--memory", "sc"],
        "made with --memory lkmm",
    );
    // Edit a step's read: the file no longer describes what the model does.
    let edited = json.replacen("\"read\": 1", "\"read\": 0", 1);
    assert_ne!(edited, json, "the document records a read");
    let file = temp_file("weak-trace-edited.json", edited.as_bytes());
    let (code, _, err) = cli(&["replay", &file]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn memory_flags_are_checked() {
    assert_usage_error(
        &["check", "--variant", "take-all-locks", "--memory", "tso"],
        "invalid value 'tso'",
    );
    let (_, out, _) = cli(INTERVAL);
    let mut args = replay_line(&out);
    args.push("--on-impl".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_usage_error(&args, "--on-impl replays sequentially consistent traces");
}

#[test]
fn history_runs_under_lkmm() {
    let (code, out, err) = cli(&["history", "--family", "interval", "--memory", "lkmm"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("memory model: lkmm"), "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("interval@v5.18"))
        .expect("a row for v5.18");
    assert!(row.contains(" V "), "{row}");
    let (_, sc, _) = cli(&["history", "--family", "interval"]);
    let row = sc
        .lines()
        .find(|l| l.starts_with("interval@v5.18"))
        .expect("a row for v5.18");
    assert!(!row.contains(" V "), "{row}");
}
