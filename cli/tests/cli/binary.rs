//! The real `emm-check` binary: its exit statuses and its streams.

use std::process::Command;

fn emm_check(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_emm-check"))
        .args(args)
        .output()
        .expect("emm-check runs")
}

#[test]
fn default_run_exits_0_with_the_table() {
    let out = emm_check(&[]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("emm@stop-start"), "{stdout}");
}

#[test]
fn a_violation_exits_1_and_bad_usage_exits_2() {
    assert_eq!(
        emm_check(&["check", "--variant", "rcu-publish"])
            .status
            .code(),
        Some(1)
    );
    let bad = emm_check(&["check", "--variant", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown variant 'nope'"));
}

#[test]
fn progress_goes_to_stderr_not_stdout() {
    let out = emm_check(&["check", "--variant", "take-all-locks", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let _: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document");
}
