//! `emm-check history`: the timeline of every version, in text, JSON and SVG, and the
//! list of variants with their family, version, date and source.

use crate::common::cli;
use emm_model::Variant;

#[test]
fn the_timeline_names_every_version_with_its_date_and_source() {
    let (code, out, err) = cli(&["history"]);
    assert_eq!(code, 0, "{out}{err}");
    for info in emm_proofs::VARIANTS {
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{} ", info.variant.name())))
            .unwrap_or_else(|| panic!("no row for {}:\n{out}", info.variant));
        assert!(row.contains(info.date), "{row}");
        assert!(out.contains(info.source), "{}", info.variant);
    }
    for probe in emm_model::history::PROBES {
        assert!(out.contains(&probe.config.to_flags()), "{}", probe.name);
    }
    // Each violation gives its replay line and the version that fixed it.
    assert!(out.contains("mmu-notifier@v4.19 no_start_left_open: probe oom-reaper"));
    assert!(out.contains("fixed in mmu-notifier@v5.12 by c2655835fd8c"));
    assert!(out.contains("emm-check replay --variant mmu-notifier@v4.19"));
    assert!(out.contains("14 versions"), "{out}");
}

#[test]
fn every_replay_line_of_the_timeline_replays_its_violation() {
    let (_, out, _) = cli(&["history", "--family", "mmu-notifier"]);
    let mut replayed = 0;
    for line in out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("emm-check replay "))
    {
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        let (code, trace, err) = cli(&args);
        assert_eq!(code, 0, "{line}: {err}");
        assert!(trace.contains(" violated at step "), "{line}:\n{trace}");
        replayed += 1;
    }
    assert!(replayed >= 5, "{out}");
}

#[test]
fn the_family_filter_keeps_one_family() {
    let (code, out, _) = cli(&["history", "--family", "interval"]);
    assert_eq!(code, 0);
    assert!(out.contains("interval@v5.5") && out.contains("interval@v5.18"));
    assert!(!out.contains("mmu-notifier@v3.6 "), "{out}");
    assert!(out.contains("2 versions"), "{out}");
}

#[test]
fn the_json_timeline_has_the_documented_shape() {
    let (code, out, _) = cli(&["history", "--format", "json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let versions = doc["versions"].as_array().expect("a list");
    assert_eq!(versions.len(), Variant::ALL.len());
    assert_eq!(
        doc["probes"].as_array().expect("a list").len(),
        emm_model::history::PROBES.len()
    );
    let v419 = versions
        .iter()
        .find(|v| v["variant"] == "mmu-notifier@v4.19")
        .expect("v4.19");
    assert_eq!(v419["family"], "mmu-notifier");
    assert_eq!(v419["source"], "93065ac753e4");
    let nslo = v419["properties"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|p| p["name"] == "no_start_left_open")
        .expect("the property");
    assert_eq!(nslo["status"], "violated");
    assert_eq!(nslo["probe"], "oom-reaper");
    assert_eq!(nslo["fixed_in"], "mmu-notifier@v5.12");
    assert_eq!(nslo["fixed_by"], "c2655835fd8c");
    assert!(nslo["replay"]
        .as_str()
        .expect("a replay line")
        .starts_with("emm-check replay"));
    assert!(
        nslo["trace"].as_array().is_some_and(|s| !s.is_empty()),
        "{nslo}"
    );
    let ramo = v419["properties"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|p| p["name"] == "release_at_most_once")
        .expect("the property");
    assert_eq!(ramo["standing"], "advisory");
}

#[test]
fn the_svg_timeline_is_one_document_with_every_version() {
    let (code, out, _) = cli(&["history", "--format", "svg"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("<svg") || out.starts_with("<?xml"),
        "{}",
        &out[..80]
    );
    assert!(out.trim_end().ends_with("</svg>"));
    for v in Variant::ALL {
        assert!(out.contains(v.name()), "{v}");
    }
}

#[test]
fn list_shows_family_version_date_and_source() {
    let (code, out, _) = cli(&["list"]);
    assert_eq!(code, 0);
    for info in emm_proofs::VARIANTS {
        let row = out
            .lines()
            .find(|l| l.contains(info.variant.name()))
            .unwrap_or_else(|| panic!("{}", info.variant));
        assert!(row.contains(info.date) || out.contains(info.date), "{row}");
        assert!(out.contains(info.source), "{}", info.variant);
        for alias in info.aliases {
            assert!(out.contains(alias), "{alias}");
        }
    }
}

/// The old names stay as aliases of the versions they now mean.
#[test]
fn the_old_names_are_aliases() {
    for (alias, version) in [
        ("emm-stop-start", "emm@stop-start"),
        ("take-all-locks", "mmu-notifier@v6.4"),
        ("interval-seq", "interval@v5.18"),
        ("rcu-publish", "emm@v2"),
        ("emm-stop-drain-start", "ours@emm-stop-drain-start"),
    ] {
        let (_, out, _) = cli(&["check", "--variant", alias, "--format", "json"]);
        let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
        assert_eq!(doc["variant"], version, "{alias}");
    }
}
