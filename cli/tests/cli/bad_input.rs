//! Every kind of bad input to `emm-check`: each is refused with exit status 2 and one line on
//! stderr that says why, and nothing panics.

use crate::common::{
    assert_usage_error, cli, cli_os, most_broken_variant, sound_variant, temp_file, temp_path,
};
use emm_proofs::Prop;
use std::ffi::OsString;

#[test]
fn unknown_names() {
    assert_usage_error(
        &["check", "--variant", "emm-stop"],
        "unknown variant 'emm-stop'",
    );
    assert_usage_error(&["frobnicate"], "frobnicate");
    assert_usage_error(
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--format",
            "svg",
            "--property",
            "no_stale",
        ],
        "unknown property 'no_stale'",
    );
    assert_usage_error(
        &[
            "explore",
            "--variant",
            "emm-stop-start",
            "--counterexample",
            "nope",
        ],
        "unknown property 'nope'",
    );
    assert_usage_error(
        &["replay", "--variant", "emm-stop-start", "--path", "vm0,vm7"],
        "no actor 'vm7'",
    );
    assert_usage_error(
        &[
            "explore",
            "--variant",
            "emm-stop-start",
            "--path",
            "reg0,nobody",
        ],
        "no actor 'nobody'",
    );
    assert_usage_error(
        &["check", "--variant", "emm-stop-start", "--targets", "x1"],
        "'x1' is not a notifier",
    );
    assert_usage_error(
        &["check", "--variant", "emm-stop-start", "--format", "xml"],
        "xml",
    );
    assert_usage_error(
        &["check", "--variant", "emm-stop-start", "--bogus"],
        "--bogus",
    );
}

#[test]
fn negative_counts() {
    for flag in [
        "--invalidators",
        "--notifiers",
        "--registrations",
        "--unregistrations",
        "--threads",
        "--max-states",
        "--timeout",
        "--max-memory",
    ] {
        assert_usage_error(&["check", "--variant", "emm-stop-start", flag, "-1"], "-1");
        assert_usage_error(
            &[
                "check",
                "--variant",
                "emm-stop-start",
                &format!("{flag}=-7"),
            ],
            "-7",
        );
    }
}

#[test]
fn huge_counts() {
    let past_u64 = "184467440737095516160";
    for flag in [
        "--invalidators",
        "--notifiers",
        "--registrations",
        "--unregistrations",
        "--threads",
        "--max-states",
        "--timeout",
        "--max-memory",
    ] {
        assert_usage_error(
            &["check", "--variant", "emm-stop-start", flag, past_u64],
            past_u64,
        );
    }
    // In range for the type, beyond what the model or the limits allow.
    for (flag, value, why) in [
        ("--invalidators", "1000000", "at most 3"),
        ("--registrations", "3", "at most 2"),
        ("--unregistrations", "3", "at most 2"),
        ("--threads", "257", "257"),
        ("--timeout", "604801", "604801"),
        ("--max-memory", "1099511627777", "1099511627777"),
    ] {
        assert_usage_error(&["check", "--variant", "emm-stop-start", flag, value], why);
    }
    assert_usage_error(
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--notifiers",
            "4",
            "--registrations",
            "2",
        ],
        "at most 5 notifiers",
    );
}

#[test]
fn nothing_to_check() {
    assert_usage_error(
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--invalidators",
            "0",
        ],
        "nothing to check",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--notifiers",
            "0",
            "--registrations",
            "0",
        ],
        "nothing to check",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--unregistrations",
            "2",
        ],
        "only notifiers registered at the start can be unregistered",
    );
    assert_usage_error(
        &["check", "--variant", "emm-stop-start", "--max-states", "0"],
        "0",
    );
    assert_usage_error(
        &["check", "--variant", "emm-stop-start", "--timeout", "0"],
        "0",
    );
    // A property that this configuration cannot exercise, and one that holds.
    assert_usage_error(
        &[
            "explore",
            "--variant",
            "emm-stop-start",
            "--counterexample",
            Prop::ReleaseBeforeFree.name(),
        ],
        "does not apply",
    );
    assert_usage_error(
        &[
            "explore",
            "--variant",
            sound_variant().name(),
            "--counterexample",
            Prop::NoStaleSecondary.name(),
        ],
        "no counterexample: no_stale_secondary holds",
    );
}

#[test]
fn missing_and_conflicting_flags() {
    assert_usage_error(&["check"], "check needs --variant");
    assert_usage_error(&["explore"], "explore needs --variant");
    assert_usage_error(&["replay", "--path", "vm0"], "needs --variant");
    assert_usage_error(
        &["replay", "--variant", "emm-stop-start"],
        "replay needs a FILE",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--property",
            Prop::NoStaleSecondary.name(),
        ],
        "use it with --format svg",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--format",
            "json",
            "--property",
            Prop::WalkIntegrity.name(),
        ],
        "use it with --format svg",
    );
    assert_usage_error(
        &[
            "replay",
            "--variant",
            "emm-stop-start",
            "--path",
            "vm0",
            "--property",
            Prop::WalkIntegrity.name(),
        ],
        "use it with FILE",
    );
    assert_usage_error(
        &[
            "replay",
            "trace.json",
            "--variant",
            "emm-stop-start",
            "--path",
            "vm0",
        ],
        "cannot be used with",
    );
    assert_usage_error(
        &[
            "explore",
            "--variant",
            "emm-stop-start",
            "--counterexample",
            Prop::NoStaleSecondary.name(),
            "--path",
            "vm0",
        ],
        "cannot be used with",
    );
    assert_usage_error(
        &["check", "--variant", "emm-stop-start", "--targets", "n0,n0"],
        "--targets names 2 notifiers but there are 1",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--notifiers",
            "2",
            "--unregistrations",
            "2",
            "--targets",
            "n1,n1",
        ],
        "n1 is unregistered twice",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "emm-stop-start",
            "--format",
            "svg",
            "--format",
            "json",
        ],
        "--format",
    );
    assert_usage_error(
        &[
            "explore",
            "--variant",
            "emm-stop-start",
            "--addr",
            "0.0.0.0:3000",
        ],
        "loopback",
    );
    assert_usage_error(
        &[
            "explore",
            "--variant",
            "emm-stop-start",
            "--addr",
            "localhost",
        ],
        "--addr localhost",
    );
}

#[test]
fn arguments_that_are_not_utf8() {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let args = [
            OsString::from("check"),
            OsString::from("--variant"),
            OsString::from_vec(vec![0x66, 0xff, 0x6f]),
        ];
        let (code, out, err) = cli_os(&args);
        assert_eq!(code, 2, "{out}{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn explore_on_an_address_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("its address").to_string();
    assert_usage_error(
        &["explore", "--variant", "emm-stop-start", "--addr", &addr],
        "cannot listen on",
    );
}

/// A replay document of the first shortest counterexample that `check` prints for the most
/// broken variant on the default configuration, as `replay --format json` writes it.
fn replay_doc() -> serde_json::Value {
    let (_, out, _) = cli(&["check", "--variant", most_broken_variant().name()]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("replay: emm-check "))
        .expect("a replay line");
    let mut args: Vec<&str> = line.split_whitespace().collect();
    args.extend(["--format", "json"]);
    let (code, json, err) = cli(&args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&json).expect("a JSON document")
}

fn replay_file_error(bytes: &[u8], extra: &[&str], needle: &str) {
    let file = temp_file("trace.json", bytes);
    let mut args = vec!["replay", file.as_str()];
    args.extend_from_slice(extra);
    assert_usage_error(&args, needle);
}

#[test]
fn replay_files_that_replay() {
    let doc = replay_doc();
    let file = temp_file("trace.json", doc.to_string().as_bytes());
    let (code, out, err) = cli(&["replay", &file]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" violated at step "), "{out}");
    // The same file with the flags it was made with, given again, and its own JSON again.
    let variant = doc["variant"].as_str().expect("a variant");
    let (code, _, err) = cli(&["replay", &file, "--variant", variant, "--invalidators", "1"]);
    assert_eq!(code, 0, "{err}");
    let (code, json, _) = cli(&["replay", &file, "--format", "json"]);
    assert_eq!(code, 0);
    let again: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(again, doc, "replaying a replay document gives it back");
    // A check document: its first violated property's trace, or the one asked for.
    let (_, check, _) = cli(&["check", "--variant", variant, "--format", "json"]);
    let check_doc: serde_json::Value = serde_json::from_str(&check).expect("JSON");
    let violated: Vec<&str> = check_doc["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .filter(|p| p["status"] == "violated")
        .map(|p| p["name"].as_str().expect("a name"))
        .collect();
    let file = temp_file("check.json", check.as_bytes());
    let (code, out, _) = cli(&["replay", &file]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("{} violated at step", violated[0])),
        "{out}"
    );
    let last = violated[violated.len() - 1];
    let (code, out, _) = cli(&["replay", &file, "--property", last]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("{last} violated at step")), "{out}");
}

#[test]
fn unreadable_replay_files() {
    let missing = temp_path("missing.json");
    assert_usage_error(&["replay", &missing.to_string_lossy()], "cannot read");
    let dir = temp_path("a-directory");
    std::fs::create_dir_all(&dir).expect("a directory");
    assert_usage_error(&["replay", &dir.to_string_lossy()], "cannot read");
    #[cfg(unix)]
    assert_usage_error(&["replay", "/dev/zero"], "larger than 16 MiB");
}

#[test]
fn malformed_replay_files() {
    let doc = replay_doc().to_string();
    let bytes = doc.as_bytes();
    replay_file_error(&bytes[..bytes.len() / 2], &[], "cut short");
    replay_file_error(b"", &[], "cut short");
    replay_file_error(b"\xff\xfe{}", &[], "not UTF-8");
    replay_file_error(b"{\"variant\": ", &[], "cut short");
    replay_file_error(b"{]", &[], "not JSON");
    replay_file_error(b"[1, 2]", &[], "not a trace document");
    replay_file_error(b"{}", &[], "no 'variant'");
    replay_file_error(b"{\"variant\": \"emm-stop-start\"}", &[], "no 'config'");
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&doc).expect("JSON");
        f(&mut v);
        v.to_string().into_bytes()
    };
    replay_file_error(
        &edit(&|v| v["variant"] = "emm-stop".into()),
        &[],
        "unknown variant 'emm-stop'",
    );
    replay_file_error(
        &edit(&|v| v["config"]["invalidators"] = (-1).into()),
        &[],
        "config.invalidators is -1, not a count",
    );
    replay_file_error(
        &edit(&|v| v["config"]["invalidators"] = 9.into()),
        &[],
        "configuration is refused",
    );
    replay_file_error(
        &edit(&|v| v["config"]["targets"] = serde_json::json!(["n9"])),
        &[],
        "n9 is not one of",
    );
    replay_file_error(
        &edit(&|v| v["config"]["targets"] = serde_json::json!(["q"])),
        &[],
        "is not a notifier",
    );
    replay_file_error(&edit(&|v| v["trace"] = 3.into()), &[], "not a list");
    replay_file_error(
        &edit(&|v| v["trace"][1]["step"] = 7.into()),
        &[],
        "step 2 is numbered 7",
    );
    replay_file_error(
        &edit(&|v| {
            v["trace"][0]
                .as_object_mut()
                .expect("a step")
                .remove("action");
        }),
        &[],
        "step 1 has no 'action'",
    );
    replay_file_error(
        &edit(&|v| v["trace"][0]["actor"] = "vm\nevil".into()),
        &[],
        "no actor 'vm\\nevil'",
    );
}

#[test]
fn replay_files_of_another_variant_or_configuration() {
    let doc = replay_doc();
    let file = temp_file("trace.json", doc.to_string().as_bytes());
    let theirs = doc["variant"].as_str().expect("a variant").to_string();
    let other = emm_model::Variant::ALL
        .into_iter()
        .find(|v| v.name() != theirs)
        .expect("another variant");
    assert_usage_error(
        &["replay", &file, "--variant", other.name()],
        &format!("wrong variant: the file holds a trace of {theirs}, not {other}"),
    );
    assert_usage_error(
        &["replay", &file, "--invalidators", "2"],
        "wrong configuration: the file's trace was made with --invalidators 1, not 2",
    );
    assert_usage_error(&["replay", &file, "--teardown"], "made without --teardown");
    assert_usage_error(
        &["replay", &file, "--variant", "nope"],
        "unknown variant 'nope'",
    );
    // The file's own variant or configuration changed: its steps no longer read as the model
    // takes them.
    let mut other = doc.clone();
    other["variant"] = "mmu-notifier@v2.6.27".into();
    replay_file_error(
        other.to_string().as_bytes(),
        &[],
        "a trace of another configuration",
    );
    // A version that lacks one of the file's actors refuses its configuration outright.
    let mut other = doc.clone();
    other["variant"] = "emm@v2".into();
    replay_file_error(
        other.to_string().as_bytes(),
        &[],
        "its configuration is refused: emm@v2 has no unregister",
    );
    let mut other = doc.clone();
    other["config"]["notifiers"] = 2.into();
    replay_file_error(
        other.to_string().as_bytes(),
        &[],
        "a trace of another configuration",
    );
    let mut other = doc;
    other["trace"][0]["state"] = "head=n7".into();
    replay_file_error(other.to_string().as_bytes(), &[], "changed 'head=n7'");
}

#[test]
fn replay_files_whose_path_leaves_the_model() {
    let doc = replay_doc();
    let steps = doc["trace"].as_array().expect("steps").len();
    // vm0's last step frees the frame; one more vm0 step does not exist.
    let mut longer = doc.clone();
    let mut extra = longer["trace"][steps - 1].clone();
    extra["step"] = (steps + 1).into();
    longer["trace"].as_array_mut().expect("steps").push(extra);
    replay_file_error(
        longer.to_string().as_bytes(),
        &[],
        "the path leaves the model",
    );
    // An actor of the configuration that cannot step where the file says it does: drivers of
    // new notifiers fault only once their register returned.
    let mut early = doc;
    early["trace"][0]["actor"] = "drv1".into();
    replay_file_error(
        early.to_string().as_bytes(),
        &[],
        "drv1 cannot take a step here",
    );
}

#[test]
fn a_check_document_without_the_asked_trace() {
    let (_, check, _) = cli(&[
        "check",
        "--variant",
        sound_variant().name(),
        "--format",
        "json",
    ]);
    replay_file_error(
        check.as_bytes(),
        &["--property", Prop::NoStaleSecondary.name()],
        "no_stale_secondary has no trace (its status is holds)",
    );
    let mut doc: serde_json::Value = serde_json::from_str(&check).expect("JSON");
    for p in doc["properties"].as_array_mut().expect("properties") {
        p.as_object_mut().expect("a property").remove("trace");
    }
    replay_file_error(doc.to_string().as_bytes(), &[], "the document has no trace");
}

/// The actors a version lacks are refused with the reason, for every flag that adds one.
#[test]
fn actors_the_version_does_not_have() {
    assert_usage_error(
        &["check", "--variant", "emm@v2", "--unregistrations", "1"],
        "emm@v2 has no unregister",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "mmu-notifier@v5.12",
            "--vma-faults",
            "1",
        ],
        "--vma-faults: mmu-notifier@v5.12 has no page faults under a per-VMA lock",
    );
    assert_usage_error(
        &["check", "--variant", "mmu-notifier@v3.10", "--oom-reaper"],
        "--oom-reaper: mmu-notifier@v3.10 has no non-blocking invalidation",
    );
    assert_usage_error(
        &["check", "--variant", "emm@stop-start", "--oom-reaper"],
        "has no non-blocking invalidation",
    );
    assert_usage_error(
        &["check", "--variant", "mmu-notifier@v2.6.27", "--nested"],
        "sends one invalidate_page after clearing the PTE",
    );
    assert_usage_error(
        &[
            "replay",
            "--variant",
            "emm@v2",
            "--unregistrations",
            "1",
            "--path",
            "vm0",
        ],
        "emm@v2 has no unregister",
    );
}

#[test]
fn bad_values_of_the_new_flags() {
    assert_usage_error(
        &[
            "check",
            "--variant",
            "mmu-notifier@v6.4",
            "--vma-faults",
            "3",
        ],
        "--vma-faults 3: at most 2",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "mmu-notifier@v6.4",
            "--vma-faults",
            "x",
        ],
        "invalid value 'x' for '--vma-faults",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "mmu-notifier@v6.4",
            "--vma-faults",
            "-1",
        ],
        "-1",
    );
    assert_usage_error(
        &[
            "check",
            "--variant",
            "mmu-notifier@v6.4",
            "--oom-reaper=yes",
        ],
        "--oom-reaper",
    );
    assert_usage_error(&["history", "--family", "nope"], "no family 'nope'");
    assert_usage_error(&["history", "--format", "mermaid"], "not mermaid");
    assert_usage_error(&["history", "--threads", "0"], "--threads");
    assert_usage_error(&["history", "--variant", "emm@v2"], "--variant");
}
