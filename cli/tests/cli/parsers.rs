//! Property tests of the two parsers that take untrusted input: the command line and the trace
//! files of `replay FILE`. Whatever they are given, they never panic, and `emm-check` answers
//! with exit status 0, 1 or 2 (3 only if a limit stops a search), with the reason for a 2 on
//! one line.

use crate::common::{cli, cli_os, temp_file};
use emm_cli::{parse, Parsed};
use emm_proofs::Prop;
use proptest::prelude::*;
use std::ffi::OsString;

/// Words that make up plausible command lines: subcommands, flags, values good and bad.
const WORDS: &[&str] = &[
    "check",
    "replay",
    "explore",
    "list",
    "--variant",
    "rcu-publish",
    "emm-stop-start",
    "emm-stop-drain-start",
    "take-all-locks",
    "interval-seq",
    "emm@v2",
    "mmu-notifier@v2.6.27",
    "mmu-notifier@v6.4-without-eeff9a5d47f8",
    "interval@v5.5",
    "history",
    "--family",
    "mmu-notifier",
    "--vma-faults",
    "--oom-reaper",
    "--invalidators",
    "--notifiers",
    "--registrations",
    "--unregistrations",
    "--targets",
    "n0",
    "n1,n0",
    "--nested",
    "--teardown",
    "--aging",
    "--threads",
    "--no-symmetry",
    "--max-states",
    "--timeout",
    "--max-memory",
    "--force",
    "--format",
    "text",
    "json",
    "svg",
    "mermaid",
    "--property",
    Prop::NoStaleSecondary.name(),
    Prop::WalkIntegrity.name(),
    "--path",
    "vm0,reg0",
    "vm0",
    "--counterexample",
    "--addr",
    "127.0.0.1:0",
    "0",
    "1",
    "2",
    "3",
    "-1",
    "99999999999999999999999",
    "--help",
    "--version",
    "",
    "=",
    "--",
];

/// An argument: a word from the list, or any string at all.
fn argument() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => any::<String>(),
        1 => "--[a-z-]{0,16}(=[-a-z0-9,]{0,8})?",
    ]
}

/// Whether running `plan` is cheap enough for a property test (and does not serve forever).
fn quick(plan: &emm_cli::Plan) -> bool {
    match plan.subcommand() {
        "list" | "replay" | "default" => true,
        // A few thousand states at most, by the estimate.
        "check" => plan.estimated_states().is_some_and(|n| n < 5e3),
        _ => false,
    }
}

fn assert_answer(code: i32, err: &str, args: &dyn std::fmt::Debug) {
    assert!([0, 1, 2, 3].contains(&code), "{args:?}: exit {code}");
    if code == 2 {
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("emm-check: error: "), "{args:?}: {err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_command_line_parses_or_is_refused_on_one_line(args in proptest::collection::vec(argument(), 0..8)) {
        let argv = std::iter::once("emm-check".to_string()).chain(args.iter().cloned());
        match parse(argv) {
            Parsed::Usage(reason) => {
                prop_assert!(!reason.is_empty());
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                let (code, out, err) = cli(&refs);
                prop_assert_eq!(code, 2);
                prop_assert!(out.is_empty());
                assert_answer(code, &err, &args);
            }
            Parsed::Print(text) => prop_assert!(!text.is_empty()),
            Parsed::Run(plan) => {
                if quick(&plan) {
                    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                    let (code, _, err) = cli(&refs);
                    assert_answer(code, &err, &args);
                }
            }
        }
    }

    #[test]
    fn any_bytes_as_arguments_never_panic(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..6)) {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let os: Vec<OsString> = args.into_iter().map(OsString::from_vec).collect();
            let argv = std::iter::once(OsString::from("emm-check")).chain(os.iter().cloned());
            if let Parsed::Run(plan) = parse(argv) {
                if !quick(&plan) {
                    return Ok(());
                }
            }
            let (code, _, err) = cli_os(&os);
            assert_answer(code, &err, &os);
        }
    }
}

/// A replay document and a check document to mutate.
fn documents() -> &'static (String, String) {
    static DOCS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    DOCS.get_or_init(|| {
        let (_, check, _) = cli(&["check", "--variant", "emm-stop-start", "--format", "json"]);
        let file = temp_file("check.json", check.as_bytes());
        let (code, replay, err) = cli(&["replay", &file, "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        (replay, check)
    })
}

/// Mutations of a valid document: a byte changed, a cut, a span deleted or repeated.
#[derive(Clone, Debug)]
enum Mutation {
    Byte(usize, u8),
    Cut(usize),
    Delete(usize, usize),
    Repeat(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
        any::<usize>().prop_map(Mutation::Cut),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Mutation::Repeat(i, n)),
    ]
}

fn apply(doc: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = doc.to_vec();
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match *m {
            Mutation::Byte(i, b) => bytes[i % len] = b,
            Mutation::Cut(i) => bytes.truncate(i % len),
            Mutation::Delete(i, n) => {
                let at = i % len;
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Repeat(i, n) => {
                let at = i % len;
                let span = bytes[at..(at + n).min(len)].to_vec();
                bytes.splice(at..at, span);
            }
        }
    }
    bytes
}

/// Replays `bytes` as a file; asserts exit 0 or 2 with one line for a 2.
fn replay_bytes(bytes: &[u8], extra: &[&str]) -> Result<(), TestCaseError> {
    let file = temp_file("fuzz.json", bytes);
    let mut args = vec!["replay", file.as_str()];
    args.extend_from_slice(extra);
    let (code, _, err) = cli(&args);
    prop_assert!(code == 0 || code == 2, "exit {}: {}", code, err);
    assert_answer(code, &err, &args);
    let _ = std::fs::remove_file(&file);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_as_a_trace_file_are_replayed_or_refused_on_one_line(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        replay_bytes(&bytes, &[])?;
        // The parser itself, without the file: never a panic, an error on one line.
        if let Err(e) = emm_cli::tracefile::parse(&bytes, None) {
            prop_assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn any_string_as_a_trace_file_is_replayed_or_refused_on_one_line(text in "\\PC{0,200}") {
        replay_bytes(text.as_bytes(), &[])?;
    }

    #[test]
    fn mutated_trace_files_are_replayed_or_refused_on_one_line(
        mutations in proptest::collection::vec(mutation(), 1..4),
        which in any::<bool>(),
        property in proptest::option::of(proptest::sample::select(vec![Prop::WalkIntegrity.name(), Prop::NoStaleSecondary.name(), Prop::DeadlockFree.name()])),
    ) {
        let (replay, check) = documents();
        let doc = if which { replay } else { check };
        let bytes = apply(doc.as_bytes(), &mutations);
        let extra: Vec<&str> = property.iter().flat_map(|p| ["--property", *p]).collect();
        replay_bytes(&bytes, &extra)?;
    }
}
