//! The model's counterexamples replayed on the real implementation (model to code): one real
//! thread per model actor, released one step at a time in the trace's order.
//!
//! On the historical protocol they come from, the shortest `no_stale_secondary`
//! counterexamples make the real code break the property: a real driver maps a frame that the
//! real page table frees. On the production protocol the same interleaving cannot happen: the
//! replay reports the step the implementation refuses, and returns.

use emm_cli::progress::Style;
use emm_cli::replay_on;
use emm_model::check::CheckOptions;
use emm_model::program::Programs;
use emm_model::{check, Config, EmmModel, Trace, Variant};
use emm_proofs::Prop;
use emm_proofs::Prop::NoStaleSecondary;
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_millis(200);

/// Whether this build of `emm` can replay on real threads: `cargo test --all-features` builds
/// it on the shuttle backend, where the replay says it cannot run (and the CLI exits 2).
fn replay_runs_here() -> bool {
    let here = emm::sync::BACKEND == "std";
    if !here {
        eprintln!(
            "skipped: emm is built on the {} backend",
            emm::sync::BACKEND
        );
    }
    here
}

/// Runs the CLI in-process: (exit status, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("emm-check").chain(args.iter().copied());
    let code = emm_cli::run(argv, &mut out, &mut err, Style::Silent);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// The checker's shortest counterexample of `property` for `variant` on `config`.
fn shortest(variant: Variant, config: Config, property: Prop) -> (EmmModel, Trace) {
    let report = check(variant, config, &CheckOptions::deterministic(true, true));
    let p = report.property(property);
    assert!(p.shortest, "{variant}: the shortest-path search finished");
    let trace = p
        .trace
        .clone()
        .unwrap_or_else(|| panic!("{variant} violates {property} on {config:?}"));
    (EmmModel::new(variant, config), trace)
}

/// The registration race (1 VM, 1 notifier, 1 registration) and the default configuration
/// (which adds an unregistration: its shortest violation is the seed's unregister), where the
/// version has an unregister (`emm@v2` has none).
fn configs(variant: Variant) -> impl Iterator<Item = Config> {
    [Config::counts(1, 1, 1, 0), Config::default()]
        .into_iter()
        .filter(move |c| Programs::supports(variant, c).is_ok())
}

#[test]
fn broken_counterexamples_break_the_real_code() {
    if !replay_runs_here() {
        return;
    }
    for variant in [Variant::EmmStopStart, Variant::EmmV2] {
        for config in configs(variant) {
            let (model, trace) = shortest(variant, config, Prop::NoStaleSecondary);
            let replayed = replay_on(variant, &model, &trace, PATIENCE).expect("replays here");
            let context = format!("{variant} on {}", config.to_flags());
            assert_eq!(replayed.refused, None, "{context}: {replayed:?}");
            assert_eq!(replayed.taken.len(), trace.steps.len(), "{context}");
            assert!(
                replayed
                    .violated_in_replay
                    .iter()
                    .any(|v| v.property == Prop::NoStaleSecondary),
                "{context}: the real driver must map a freed frame: {replayed:?}"
            );
            assert!(replayed.completed, "{context}: every thread ends");
        }
    }
}

/// The production protocol never breaks a property under these schedules. The registration
/// race cannot even be scheduled: the registration waits for the open invalidation. (The
/// seed's unregister race schedules the unregistration wholly before the invalidation, which
/// production follows, safely: its unregister's `release` drops the mirror.)
#[test]
fn broken_counterexamples_cannot_happen_on_the_production_protocol() {
    if !replay_runs_here() {
        return;
    }
    for variant in [Variant::EmmStopStart, Variant::EmmV2] {
        for config in configs(variant) {
            let (model, trace) = shortest(variant, config, Prop::NoStaleSecondary);
            let started = Instant::now();
            let replayed = replay_on(Variant::MmuNotifierV5_12, &model, &trace, PATIENCE)
                .expect("replays here");
            let context = format!("{variant} on {}: {:?}", config.to_flags(), replayed.refused);
            assert!(
                replayed.violated_in_replay.is_empty() && replayed.execution.violations.is_empty(),
                "{context}: {:?}",
                replayed.execution.violations
            );
            assert!(replayed.completed, "{context}: every thread ends");
            // Refused and released, not hung: the patience per step bounds the wait.
            assert!(started.elapsed() < Duration::from_secs(10), "{context}");
            if config.registrations > 0 && config.unregistrations == 0 {
                let (step, _) = replayed
                    .refused
                    .unwrap_or_else(|| panic!("{context}: take-all-locks followed the race"));
                assert_eq!(
                    model.actors()[trace.threads[step]].id.to_string(),
                    "reg0",
                    "{context}: the registration is what waits"
                );
            }
        }
    }
}

#[test]
fn cli_prints_the_implementation_beside_the_model() {
    if !replay_runs_here() {
        return;
    }
    let (model, trace) = shortest(
        Variant::EmmStopStart,
        Config::counts(1, 1, 1, 0),
        NoStaleSecondary,
    );
    let path: Vec<String> = trace
        .threads
        .iter()
        .map(|&t| model.actors()[t].id.to_string())
        .collect();
    let path = path.join(",");
    let base = [
        "replay",
        "--variant",
        "emm-stop-start",
        "--invalidators",
        "1",
        "--notifiers",
        "1",
        "--registrations",
        "1",
        "--unregistrations",
        "0",
        "--path",
        &path,
        "--on-impl",
    ];
    let on_impl = |extra: &[&str]| run(&[&base[..], extra].concat());
    let (code, out, err) = on_impl(&[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("implementation: emm@stop-start"), "{out}");
    assert!(out.contains("the implementation took all"), "{out}");
    assert!(
        out.contains(&format!("on the implementation: {NoStaleSecondary}")),
        "{out}"
    );
    let (code, out, err) = on_impl(&["mmu-notifier@v5.12"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("REFUSED (blocked"), "{out}");
    assert!(out.contains("cannot happen on mmu-notifier@v5.12"), "{out}");
    // The implementation is v5.12's (no per-VMA locks): the newest version, which the old
    // name take-all-locks means, has none.
    for other in ["interval-seq", "take-all-locks"] {
        let (code, _, err) = on_impl(&[other]);
        assert_eq!(code, 2);
        assert!(err.contains("no implementation of that protocol"), "{err}");
    }
}

/// `check --format json` writes a file that `replay FILE --on-impl` replays on real code.
#[test]
fn a_saved_check_replays_on_the_implementation() {
    if !replay_runs_here() {
        return;
    }
    let (code, json, _) = run(&["check", "--variant", "emm@v2", "--format", "json"]);
    assert_eq!(code, 1, "emm@v2 is broken");
    let dir = std::env::temp_dir().join(format!("emm-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("emm-v2.json");
    std::fs::write(&file, json).unwrap();
    let file = file.to_str().unwrap();
    let (code, out, err) = run(&[
        "replay",
        file,
        "--property",
        NoStaleSecondary.name(),
        "--on-impl",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("the implementation took all"), "{out}");
    // The FILE may also follow --on-impl, whose optional PROTOCOL would otherwise take it.
    let (code, swapped, err) = run(&[
        "replay",
        "--on-impl",
        file,
        "--property",
        NoStaleSecondary.name(),
    ]);
    assert_eq!((code, &swapped), (1, &out), "{err}");
    let (code, other, err) = run(&["replay", "--on-impl", "emm-stop-start", file]);
    assert!(code <= 1, "{other}{err}");
    assert!(
        other.contains("on the implementation of emm@stop-start"),
        "{other}"
    );
    assert!(
        out.contains(&format!("on the implementation: {NoStaleSecondary}")),
        "{out}"
    );
    let (code, _, err) = run(&["replay", file, "--on-impl", "--format", "json"]);
    assert_eq!(code, 2);
    assert!(err.contains("--on-impl prints text only"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
