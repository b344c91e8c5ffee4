//! Counterexamples as pictures (`--format svg` and `--format mermaid`), the Explorer's view of
//! the model, and the README's picture, which must be what the tool draws today.

use crate::common::{
    cli, most_broken_variant, sound_variant, temp_file, variants_violating, xml_elements,
};
use emm_cli::explorer::{explorer_path, ExplorerModel};
use emm_model::trace::readable;
use emm_model::{EmmModel, Trace, Variant};
use emm_proofs::Prop;
use stateright::Model;

/// The command whose output is `docs/emm-stop-start.svg` (after `emm-check`).
const README_PICTURE: &[&str] = &[
    "check",
    "--variant",
    "emm-stop-start",
    "--unregistrations",
    "0",
    "--property",
    Prop::NoStaleSecondary.name(),
    "--format",
    "svg",
];

const README_PICTURE_FILE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/emm-stop-start.svg");

/// The JSON document of `check --format json` for `args`.
fn check_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend(["--format", "json"]);
    let (_, out, _) = cli(&all);
    serde_json::from_str(&out).expect("one JSON document")
}

/// The violated properties of a check document, each with its actors in step order.
fn violations(doc: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    doc["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .filter(|p| p["status"] == "violated")
        .map(|p| {
            let actors = p["trace"]
                .as_array()
                .expect("a trace")
                .iter()
                .map(|s| s["actor"].as_str().expect("an actor").to_string())
                .collect();
            (p["name"].as_str().expect("a name").to_string(), actors)
        })
        .collect()
}

/// Every actor of `variant` on the default configuration with `flags`.
fn actors_of(variant: Variant, config: emm_model::Config) -> Vec<String> {
    EmmModel::new(variant, config)
        .actors()
        .iter()
        .map(|a| a.id.to_string())
        .collect()
}

/// Asserts what every SVG the tool writes must be: well-formed, one root `svg` element in the
/// SVG namespace, and nothing that needs the network or runs code.
fn assert_self_contained_svg(svg: &str) {
    let elements = xml_elements(svg).unwrap_or_else(|e| panic!("not well-formed: {e}"));
    assert_eq!(elements[0], "svg");
    assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg""#));
    for forbidden in [
        "<script",
        "<image",
        "<use",
        "href",
        "@import",
        "@font-face",
        "<style",
    ] {
        assert!(!svg.contains(forbidden), "the SVG contains {forbidden}");
    }
    // The namespace is the only address, and names, never fetches, anything.
    assert_eq!(svg.matches("http").count(), 1);
}

#[test]
fn svg_draws_every_violated_property_with_every_actor_and_step() {
    let variant = most_broken_variant();
    let doc = check_json(&["--variant", variant.name()]);
    let violated = violations(&doc);
    let (code, svg, err) = cli(&["check", "--variant", variant.name(), "--format", "svg"]);
    assert_eq!(code, 1, "the exit status is the verdict's: {err}");
    assert_self_contained_svg(&svg);
    let elements = xml_elements(&svg).expect("well-formed");
    let panels = elements.iter().filter(|e| *e == "g").count();
    let steps: usize = violated.iter().map(|(_, a)| a.len()).sum();
    // One group per panel and one per step.
    assert_eq!(panels, violated.len() + steps, "{svg}");
    let actors = actors_of(variant, emm_model::Config::default());
    for a in &actors {
        // Each panel has a lifeline heading per actor of the configuration.
        let heading = format!(r#"class="actor">{a}</text>"#);
        assert_eq!(svg.matches(&heading).count(), violated.len(), "{a}");
    }
    for (name, steps) in &violated {
        assert!(
            svg.contains(&format!("{name} violated (")),
            "a title for {name}"
        );
        assert!(
            svg.contains(&format!(
                r#"<tspan font-weight="bold">{name}</tspan> violated at step {}"#,
                steps.len()
            )),
            "the caption names {name} and its last step"
        );
    }
    // The highlighted step of each panel is its last one: a red band per panel.
    assert_eq!(svg.matches(r##"fill="#fee2e2""##).count(), violated.len());
    if violated.len() > 1 {
        assert!(err.contains("--property NAME draws one"), "{err}");
    }
}

#[test]
fn svg_and_mermaid_of_one_property() {
    let variant = most_broken_variant();
    let doc = check_json(&["--variant", variant.name()]);
    let (name, actors) = violations(&doc).remove(0);
    let base = ["check", "--variant", variant.name(), "--property", &name];
    let (code, svg, err) = cli(&[&base[..], &["--format", "svg"]].concat());
    assert_eq!(code, 1);
    assert!(err.is_empty(), "one property, no note: {err}");
    assert_self_contained_svg(&svg);
    assert_eq!(svg.matches(r#"<g class="step""#).count(), actors.len());
    for (i, actor) in actors.iter().enumerate() {
        assert!(
            svg.contains(&format!(r#"data-step="{}" data-actor="{actor}""#, i + 1)),
            "step {} by {actor}",
            i + 1
        );
    }

    let (code, mermaid, _) = cli(&[&base[..], &["--format", "mermaid"]].concat());
    assert_eq!(code, 1);
    let lines: Vec<&str> = mermaid.lines().collect();
    assert_eq!(lines[0], "sequenceDiagram");
    let steps: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.trim_start().contains("->>mm: "))
        .collect();
    assert_eq!(steps.len(), actors.len(), "one line per step:\n{mermaid}");
    for (i, (line, actor)) in steps.iter().zip(&actors).enumerate() {
        assert!(
            line.trim_start()
                .starts_with(&format!("{actor}->>mm: {}. ", i + 1)),
            "{line}"
        );
    }
    for a in actors_of(variant, emm_model::Config::default()) {
        assert!(
            lines.contains(&format!("    participant {a}").as_str()),
            "{a}"
        );
    }
    // The breaking step is the last one, inside a red rect; the caption names the property.
    let last = steps.last().expect("a step");
    let at = lines.iter().position(|l| l == last).expect("the last step");
    assert!(lines[at - 1].trim_start().starts_with("rect rgb("));
    assert_eq!(lines[at + 1].trim(), "end");
    assert!(mermaid.contains(&format!("Note over vm0,mm: {name} violated at step")));
}

#[test]
fn mermaid_of_every_violated_property() {
    let variant = most_broken_variant();
    let doc = check_json(&["--variant", variant.name()]);
    let violated = violations(&doc);
    let (code, mermaid, _) = cli(&["check", "--variant", variant.name(), "--format", "mermaid"]);
    assert_eq!(code, 1);
    let diagrams: Vec<&str> = mermaid.split("\nsequenceDiagram").collect();
    assert_eq!(diagrams.len(), violated.len());
    for (diagram, (name, actors)) in diagrams.iter().zip(&violated) {
        assert!(diagram.contains(&format!("{name} violated (")), "{name}");
        let steps = diagram.lines().filter(|l| l.contains("->>mm: ")).count();
        assert_eq!(steps, actors.len(), "{name}");
    }
}

#[test]
fn a_check_with_nothing_violated_draws_a_note_not_a_counterexample() {
    let variant = sound_variant();
    let (code, svg, _) = cli(&["check", "--variant", variant.name(), "--format", "svg"]);
    assert_eq!(code, 0);
    assert_self_contained_svg(&svg);
    assert!(svg.contains("no counterexample to draw"), "{svg}");
    assert!(!svg.contains(r#"class="step""#));
    let (code, mermaid, _) = cli(&["check", "--variant", variant.name(), "--format", "mermaid"]);
    assert_eq!(code, 0);
    assert!(mermaid.starts_with("sequenceDiagram\n"));
    assert!(!mermaid.contains("->>"));
}

#[test]
fn replay_draws_its_trace() {
    let doc = check_json(&["--variant", most_broken_variant().name()]);
    let file = temp_file("check.json", doc.to_string().as_bytes());
    let (name, actors) = violations(&doc).remove(0);
    for (format, marker) in [("svg", r#"<g class="step""#), ("mermaid", "->>mm: ")] {
        let (code, out, err) = cli(&["replay", &file, "--format", format]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.matches(marker).count(), actors.len(), "{format}");
        if format == "svg" {
            assert_self_contained_svg(&out);
            assert!(
                out.contains(&format!("{name}</tspan> violated at step")),
                "{out}"
            );
        } else {
            assert!(out.contains(&format!("{name} violated at step")), "{out}");
        }
    }
}

#[test]
fn the_readme_picture_is_what_the_tool_draws() {
    let (code, svg, _) = cli(README_PICTURE);
    assert_eq!(code, 1);
    assert_self_contained_svg(&svg);
    let committed = std::fs::read_to_string(README_PICTURE_FILE)
        .unwrap_or_else(|e| panic!("{README_PICTURE_FILE}: {e}"));
    assert!(
        committed == svg,
        "docs/emm-stop-start.svg is stale: regenerate it with\n  cargo run --release --bin \
         emm-check -- {} > docs/emm-stop-start.svg",
        README_PICTURE.join(" ")
    );
}

/// The shortest counterexample of `property` on `variant`'s default configuration.
fn shortest(model: &EmmModel, property: &'static str) -> Trace {
    let found = emm_model::check::shortest_paths(
        model,
        std::collections::BTreeSet::from([property]),
        None,
        None,
    );
    let (init, threads) = found.get(property).expect("a counterexample");
    Trace::from_steps(model, init.clone(), threads).expect("it replays")
}

#[test]
fn explorer_states_read_as_the_chain_the_drivers_and_the_actors() {
    let variant = variants_violating(Prop::NoStaleSecondary)[0];
    let model = EmmModel::new(variant, emm_model::Config::default());
    let trace = shortest(&model, Prop::NoStaleSecondary.name());
    let last = trace.states.last().expect("a state");
    let text = readable(&model, last);
    let explorer = ExplorerModel::new(model.clone());
    let shown = explorer
        .init_states()
        .into_iter()
        .next()
        .expect("an initial state");
    // The Explorer prints states with `{:#?}`: that must be the readable form.
    let debug = format!("{shown:#?}");
    assert!(debug.starts_with("chain     head -> n0 -> NULL"), "{debug}");
    assert!(!debug.contains("State {"), "{debug}");
    for line in ["chain", "page", "locks", "drivers", "actors", "VIOLATED"] {
        assert!(text.lines().any(|l| l.starts_with(line)), "{line}:\n{text}");
    }
    for n in 0..model.config.total_notifiers() {
        assert!(text.contains(&format!("n{n}: mirror ")), "n{n}:\n{text}");
    }
    for a in model.actors() {
        assert!(
            text.lines().any(|l| l.contains(&format!(" {} ", a.id))),
            "{}:\n{text}",
            a.id
        );
    }
    assert!(
        text.contains("no_stale_secondary: the secondary MMU of notifier"),
        "{text}"
    );
    // A step reads as the kernel step, what it changed, then the state it leads to.
    let before = &trace.states[trace.states.len() - 2];
    let t = *trace.threads.last().expect("a step");
    let step = explorer
        .format_step(&explorer.shown(before.clone()), emm_model::Step::of(t))
        .expect("a step description");
    let action = &trace.steps.last().expect("a step").action;
    assert!(
        step.starts_with(&format!("{}: {action}", model.actors()[t].id)),
        "{step}"
    );
    assert!(step.ends_with(&text), "{step}");
}

#[test]
fn the_explorer_path_of_a_counterexample_leads_to_its_last_state() {
    for variant in variants_violating(Prop::NoStaleSecondary) {
        let model = EmmModel::new(variant, emm_model::Config::default());
        let trace = shortest(&model, Prop::NoStaleSecondary.name());
        let path = explorer_path(&model, &trace).expect("a path");
        // Follow the indices as the Explorer does: an initial state, then actions by index.
        let explorer = ExplorerModel::new(model.clone());
        let mut indices = path
            .split('/')
            .map(|i| i.parse::<usize>().expect("an index"));
        let mut state = explorer.init_states()[indices.next().expect("an initial index")].clone();
        for i in indices {
            let mut actions = Vec::new();
            explorer.actions(&state, &mut actions);
            state = explorer
                .next_state(&state, actions[i])
                .expect("a next state");
        }
        assert_eq!(
            &state.state,
            trace.states.last().expect("a state"),
            "{variant}"
        );
        assert!(
            explorer
                .properties()
                .iter()
                .any(|p| p.name == Prop::NoStaleSecondary.name()
                    && !(p.condition)(&explorer, &state)),
            "the Explorer sees the violation at the end of the path"
        );
    }
}

#[test]
fn the_explorer_draws_the_path_so_far() {
    let model = EmmModel::new(most_broken_variant(), emm_model::Config::default());
    let explorer = ExplorerModel::new(model);
    let init = explorer.init_states().remove(0);
    let mut actions = Vec::new();
    explorer.actions(&init, &mut actions);
    let next = explorer.next_state(&init, actions[0]).expect("a step");
    let path =
        stateright::Path::from_actions(&explorer, init, [actions[0]].iter()).expect("a path");
    assert_eq!(path.last_state(), &next);
    let svg = explorer.as_svg(path).expect("an SVG");
    assert_self_contained_svg(&svg);
    assert_eq!(svg.matches(r#"<g class="step""#).count(), 1);
}
