//! What the subcommands print: the text report of a check, its JSON document, the pictures of
//! its counterexamples, and the one-line usage errors.

use crate::args::Format;
use crate::explorer;
use crate::picture::{self, Panel};
use emm_model::check::{CheckReport, Limit, PropertyResult, Stats, Status};
use emm_model::{Config, EmmModel, Progress, Trace};
use emm_proofs::Prop;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

/// Where the command's output goes, and how progress is shown.
pub(crate) struct Io<'a> {
    pub(crate) out: &'a mut dyn Write,
    pub(crate) err: &'a mut dyn Write,
    pub(crate) progress: Arc<dyn Progress>,
}

/// `msg` on one line: control characters (a newline from a file or an argument) are escaped.
pub(crate) fn one_line(msg: &str) -> String {
    msg.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

pub(crate) fn usage_error(io: &mut Io<'_>, msg: &str) -> i32 {
    say!(io.err, "emm-check: error: {}", one_line(msg));
    2
}

/// The command that replays `trace` on the model.
pub fn replay_line(model: &EmmModel, trace: &Trace) -> String {
    format!(
        "emm-check replay --variant {} {} --path {}",
        model.variant,
        trace.config(model).to_flags(),
        trace.path(model)
    )
}

fn stats_json(s: &Stats) -> serde_json::Value {
    json!({
        "unique_states": s.unique_states,
        "states": s.states,
        "max_depth": s.max_depth,
        "seconds": s.seconds,
        "search_seconds": s.search_seconds,
        "states_per_second": s.states_per_second,
        "memory_bytes": s.memory_bytes,
        "bytes_per_state": s.bytes_per_state,
        "shortest_seconds": s.shortest_seconds,
        "peak_rss_bytes": s.peak_rss_bytes,
        "histories_capped": s.histories_capped,
    })
}

/// A trace's steps as the `trace` array of the JSON documents.
pub(crate) fn trace_json(trace: &Trace) -> serde_json::Value {
    trace
        .steps
        .iter()
        .zip(&trace.reads)
        .map(|(s, &read)| {
            let mut step = json!({
                "step": s.step,
                "actor": s.actor,
                "action": s.action,
                "state": s.state,
            });
            // Which store a lock-free load read under lkmm (absent: the last one).
            if read > 0 {
                step["read"] = json!(read);
            }
            step
        })
        .collect()
}

/// A configuration as the `config` object of the JSON documents.
pub fn config_json(c: &Config) -> serde_json::Value {
    json!({
        "invalidators": c.invalidators,
        "notifiers": c.notifiers,
        "registrations": c.registrations,
        "unregistrations": c.unregistrations,
        "targets": c.targets.map(|t| {
            t[..c.unregistrations]
                .iter()
                .map(|n| format!("n{n}"))
                .collect::<Vec<_>>()
        }),
        "nested": c.nested,
        "teardown": c.teardown,
        "aging": c.aging,
        "vma_faults": c.vma_faults,
        "oom_reaper": c.oom_reaper,
        "memory": c.memory.name(),
    })
}

/// A check's report as the JSON document of `emm-check check --format json`.
pub fn report_json(r: &CheckReport) -> serde_json::Value {
    let c = &r.model.config;
    let properties: Vec<_> = r
        .properties
        .iter()
        .map(|p| {
            let mut v = json!({
                "name": p.name,
                "expectation": p.expectation.as_str(),
                "standing": p.prop.info().standing.as_str(),
                "status": p.status.as_str(),
            });
            if let Some(t) = &p.trace {
                v["trace"] = trace_json(t);
                v["shortest"] = json!(p.shortest);
                v["replay"] = json!(replay_line(&r.model, t));
                if p.status == Status::Violated {
                    if let Some((_, viol)) = t.first_violation(&r.model, p.prop) {
                        v["reason"] = json!(t.explain(&r.model, &viol));
                    }
                }
            }
            v
        })
        .collect();
    json!({
        "variant": r.model.variant.name(),
        "config": config_json(c),
        "verdict": r.verdict.as_str(),
        "limit": r.limit.map(Limit::flag),
        "properties": properties,
        "stats": stats_json(&r.stats),
    })
}

pub(crate) fn print_text(io: &mut Io<'_>, r: &CheckReport) {
    let m = &r.model;
    let out = &mut *io.out;
    say!(out, "checking {}  {}", m.variant, m.config.to_flags());
    let s = &r.stats;
    say!(
        out,
        "explored {} unique states ({} generated, depth {}) in {:.2} s: {:.2} M states/s, \
         {:.1} bytes/state",
        s.unique_states,
        s.states,
        s.max_depth,
        s.search_seconds,
        s.states_per_second / 1e6,
        s.bytes_per_state
    );
    if s.histories_capped {
        say!(
            out,
            "note: a weak location's history reached {} stores and lost older ones a thread \
             could still read (a loop that stores on every turn): reads of those were not \
             explored",
            emm_model::weak::HISTORY_CAP
        );
    }
    if let Some(l) = r.limit {
        say!(
            out,
            "INCOMPLETE: {} stopped the search after {} unique states ({} generated, depth {}); \
             the statuses below cover only that part",
            l.flag(),
            s.unique_states,
            s.states,
            s.max_depth
        );
    }
    say!(
        out,
        "peak memory {:.1} MiB; whole check {:.2} s",
        s.peak_rss_bytes as f64 / (1024.0 * 1024.0),
        s.seconds
    );
    say!(out);
    say!(out, "{:<36} {:<10} status", "property", "expect");
    for p in &r.properties {
        say!(
            out,
            "{:<36} {:<10} {}",
            p.name,
            p.expectation.as_str(),
            p.status.as_str()
        );
    }
    for p in r
        .properties
        .iter()
        .filter(|p| p.status == Status::Unreached)
    {
        say!(
            io.err,
            "warning: goal {} was never reached: the model is vacuous there for this \
             configuration",
            p.name
        );
    }
    let out = &mut *io.out;
    for p in r.properties.iter().filter(|p| p.status == Status::Violated) {
        let Some(t) = &p.trace else { continue };
        say!(out);
        say!(
            out,
            "VIOLATED always {}  ({} steps{})",
            p.name,
            t.steps.len(),
            if p.shortest { ", shortest" } else { "" }
        );
        say!(out);
        let _ = write!(out, "{}", t.render(m));
        if let Some((_, v)) = t.first_violation(m, p.prop) {
            say!(out);
            say!(out, "{}", t.explain(m, &v));
        }
        say!(out, "replay: {}", replay_line(m, t));
    }
    say!(out);
    say!(out, "verdict: {}", r.verdict.as_str());
}

/// A panel for one property of a check: its counterexample with the breaking step highlighted,
/// or, for a goal, the path that reaches it.
fn property_panel<'a>(model: &'a EmmModel, p: &PropertyResult, trace: &'a Trace) -> Panel<'a> {
    match p.status {
        Status::Violated => explorer::trace_panel(model, trace, Some(p.prop)),
        _ => Panel {
            model,
            trace,
            title: format!(
                "{}: goal {} reached ({})",
                model.variant,
                p.name,
                model.config.to_flags()
            ),
            highlight: Some(trace.steps.len()),
            property: Some(p.name.to_string()),
            caption: vec![format!(
                "{} is reached after step {}: {}.",
                p.name,
                trace.steps.len(),
                p.prop.info().summary
            )],
        },
    }
}

/// A diagram with no steps that says why there is nothing to draw.
fn message_panel<'a>(model: &'a EmmModel, empty: &'a Trace, message: String) -> Panel<'a> {
    Panel {
        model,
        trace: empty,
        title: format!("{}: {}", model.variant, model.config.to_flags()),
        highlight: None,
        property: None,
        caption: vec![message],
    }
}

pub(crate) fn print_panels(io: &mut Io<'_>, format: Format, panels: &[Panel<'_>]) {
    match format {
        Format::Svg => {
            let _ = io.out.write_all(picture::svg(panels).as_bytes());
        }
        _ => {
            let texts: Vec<String> = panels.iter().map(picture::mermaid).collect();
            let _ = io.out.write_all(texts.join("\n").as_bytes());
        }
    }
}

pub(crate) fn print_pictures(io: &mut Io<'_>, r: &CheckReport, format: Format, only: Option<Prop>) {
    let m = &r.model;
    let chosen: Vec<(&PropertyResult, &Trace)> = r
        .properties
        .iter()
        .filter(|p| match only {
            Some(prop) => p.prop == prop,
            None => p.status == Status::Violated,
        })
        .filter_map(|p| Some((p, p.trace.as_ref()?)))
        .collect();
    let empty = Trace::from_threads(m, m.initial_state(), &[]).expect("the empty path replays");
    let panels: Vec<Panel<'_>> = if chosen.is_empty() {
        let message = match only.map(|prop| r.property(prop)) {
            Some(p) => format!(
                "{} {}: no trace to draw (verdict: {})",
                p.name,
                p.status.as_str(),
                r.verdict.as_str()
            ),
            None => format!(
                "verdict: {}; no property is violated, so there is no counterexample to draw",
                r.verdict.as_str()
            ),
        };
        vec![message_panel(m, &empty, message)]
    } else {
        chosen
            .iter()
            .map(|(p, t)| property_panel(m, p, t))
            .collect()
    };
    print_panels(io, format, &panels);
    if only.is_none() && chosen.len() > 1 {
        let names: Vec<&str> = chosen.iter().map(|(p, _)| p.name).collect();
        say!(
            io.err,
            "emm-check: {} counterexamples, one diagram each: {} (--property NAME draws one)",
            chosen.len(),
            names.join(", ")
        );
    }
}
