//! `emm-check litmus`: the project's litmus tests, one per ordering obligation of the
//! protocols and its broken counterpart, come out as their `Result:` lines state; a stated
//! result the semantics does not give is exit 1; bad input is exit 2 with line and column.

use crate::common::{cli, temp_file};

/// The project's litmus tests, from the workspace root.
fn project_tests() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../litmus");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("the litmus directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "litmus"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn every_obligation_holds_and_its_broken_counterpart_does_not() {
    let files = project_tests();
    assert!(files.len() >= 12, "{files:?}");
    let args: Vec<&str> = std::iter::once("litmus")
        .chain(files.iter().map(String::as_str))
        .collect();
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "{} agree with their stated Result, 0 disagree",
            files.len()
        )),
        "{out}"
    );
    // Each obligation's test is Never; its counterpart, the barrier or lock taken out, is
    // Sometimes: the result lines are not all one word.
    for file in &files {
        let name = std::path::Path::new(file)
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let observation = out
            .lines()
            .find(|l| l.starts_with(&format!("Observation {name} ")))
            .unwrap_or_else(|| panic!("no observation of {name}:\n{out}"));
        let broken = ["relaxed", "no-", "unlocked"]
            .iter()
            .any(|w| name.contains(w));
        let want = if broken { "Sometimes" } else { "Never" };
        assert!(
            observation.contains(want),
            "{name}: expected {want}: {observation}"
        );
    }
}

/// Store buffering with and without full barriers, written inline: the semantics must tell
/// them apart, and the output must carry herd7's lines.
#[test]
fn store_buffering_needs_a_barrier_on_both_sides() {
    let sb = |p0_barrier: &str, p1_barrier: &str, result: &str| {
        format!(
            "C SB\n(*\n * Result: {result}\n *)\n{{}}\n\
             P0(int *x, int *y)\n{{\n\tint r0;\n\tWRITE_ONCE(*x, 1);\n\t{p0_barrier}\n\tr0 = READ_ONCE(*y);\n}}\n\
             P1(int *x, int *y)\n{{\n\tint r0;\n\tWRITE_ONCE(*y, 1);\n\t{p1_barrier}\n\tr0 = READ_ONCE(*x);\n}}\n\
             exists (0:r0=0 /\\ 1:r0=0)\n"
        )
    };
    for (p0, p1, result) in [
        ("smp_mb();", "smp_mb();", "Never"),
        ("smp_mb();", "", "Sometimes"),
        ("", "", "Sometimes"),
        ("smp_wmb();", "smp_rmb();", "Sometimes"),
    ] {
        let path = temp_file("sb.litmus", sb(p0, p1, result).as_bytes());
        let (code, out, err) = cli(&["litmus", &path]);
        assert_eq!(code, 0, "{p0} {p1}: {out}{err}");
        for line in [
            "Test SB Allowed",
            "States ",
            "Witnesses",
            "Positive: ",
            "Condition exists (0:r0=0 /\\ 1:r0=0)",
        ] {
            assert!(out.contains(line), "{line}: {out}");
        }
        assert!(out.contains(&format!("Observation SB {result} ")), "{out}");
    }
}

#[test]
fn a_stated_result_the_semantics_does_not_give_is_exit_1() {
    let text = "C MP-wrong\n(* Result: Never *)\n{}\n\
                P0(int *x, int *y)\n{\n\tWRITE_ONCE(*x, 1);\n\tWRITE_ONCE(*y, 1);\n}\n\
                P1(int *x, int *y)\n{\n\tint r0;\n\tint r1;\n\tr0 = READ_ONCE(*y);\n\tr1 = READ_ONCE(*x);\n}\n\
                exists (1:r0=1 /\\ 1:r1=0)\n";
    let path = temp_file("mp.litmus", text.as_bytes());
    let (code, out, _) = cli(&["litmus", &path]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Observation MP-wrong Sometimes 1 "), "{out}");
    assert!(out.contains("DISAGREES: the test states Never"), "{out}");
}

#[test]
fn bad_input_is_exit_2_with_line_and_column() {
    for (text, needle) in [
        (
            "C T\n{}\nP0(int *x)\n{\n\tWRITE_ONCE(*x 1);\n}\nexists (x=1)\n",
            "5:16: expected `,`",
        ),
        (
            "C T\n{}\nP0(int *x)\n{\n\tfrobnicate(x);\n}\nexists (x=1)\n",
            "5:2: unsupported primitive `frobnicate`",
        ),
        ("X86 T\n{}\n", "1:1: expected the header `C NAME`"),
        (
            "C T\n{}\nP0(int *x)\n{\n\tint r0;\n\tr0 = READ_ONCE(*x);\n}\nexists (1:r0=1)\n",
            "no register `1:r0`",
        ),
        ("C T\n(* open\n", "comment not closed"),
    ] {
        let path = temp_file("bad.litmus", text.as_bytes());
        let (code, out, err) = cli(&["litmus", &path]);
        assert_eq!(code, 2, "{text}: {out}{err}");
        assert!(err.contains(needle), "{text}: expected {needle} in {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let path = temp_file("binary.litmus", &[0xff, 0xfe, 0x00]);
    let (code, _, err) = cli(&["litmus", &path]);
    assert_eq!(code, 2);
    assert!(
        err.contains("is not UTF-8 text: not a litmus test"),
        "{err}"
    );
    let (code, _, err) = cli(&["litmus", "/nonexistent/t.litmus"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /nonexistent/t.litmus"), "{err}");
}

#[test]
fn the_state_limit_stops_a_test_with_exit_2() {
    let path = temp_file(
        "sb.litmus",
        b"C SB\n{}\nP0(int *x, int *y)\n{\n\tint r0;\n\tWRITE_ONCE(*x, 1);\n\tr0 = READ_ONCE(*y);\n}\n\
          P1(int *x, int *y)\n{\n\tint r0;\n\tWRITE_ONCE(*y, 1);\n\tr0 = READ_ONCE(*x);\n}\nexists (0:r0=0 /\\ 1:r0=0)\n",
    );
    let (code, _, err) = cli(&["litmus", "--max-states", "3", &path]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("more than 3 states"), "{err}");
}

/// The kernel's own litmus tests (`tools/memory-model/litmus-tests/` and
/// `Documentation/litmus-tests/`), when `EMM_KERNEL_LITMUS` names a directory holding them
/// (they are not part of this repository): every one agrees with its stated `Result:` but
/// those where this model is stronger than LKMM, as `emm-check help memory` lists.
#[test]
fn the_kernels_litmus_tests_agree_but_where_the_model_is_documented_stronger() {
    let Ok(dir) = std::env::var("EMM_KERNEL_LITMUS") else {
        return;
    };
    // Promise-free: load buffering is forbidden here, allowed by LKMM.
    const STRONGER: &[&str] = &["LB+poonceonces"];
    let mut files = Vec::new();
    let mut pending = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("a directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "litmus") {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "no .litmus files found");
    let mut disagree = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("a test");
        let report = emm_model::litmus::run(&text, emm_model::litmus::MAX_STATES)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if report.disagrees() {
            disagree.push(report.test.name.clone());
        }
    }
    disagree.sort();
    assert_eq!(disagree, STRONGER, "of {} tests", files.len());
}
