//! `emm-check history`: the timeline of every family's versions as text, JSON or an SVG grid.

use crate::output::trace_json;
use crate::picture::xml_escape;
use emm_model::check::Status;
use emm_model::history::{columns, History, Probe, Row, PROBES};
use emm_model::EmmModel;
use emm_proofs::{Family, Prop, Standing};
use serde_json::json;
use std::fmt::Write as _;

/// A property's short label in the grid: the initials of its words (`no_stale_secondary` is
/// `nss`), with `*` for an advisory one.
pub fn label(p: Prop) -> String {
    let mut s: String = p
        .name()
        .split('_')
        .filter_map(|w| w.chars().next())
        .collect();
    if p.info().standing == Standing::Advisory {
        s.push('*');
    }
    s
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Violated => "V",
        Status::Holds => "H",
        Status::NotApplicable => "-",
        _ => "?",
    }
}

/// The replay line of a cell's trace.
fn replay(row: &Row, probe: &Probe, trace: &emm_model::Trace) -> String {
    let model = EmmModel::new(row.variant, probe.config);
    crate::output::replay_line(&model, trace)
}

/// The timeline as text: each family's versions with the status of each property, then
/// every violation with its probe, its shortest trace's replay line and its fix.
pub fn text(h: &History) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "emm-check history: every version, on the smallest configurations that exercise each \
         property (memory model: {})",
        h.memory
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "probes:");
    for p in PROBES {
        let _ = writeln!(out, "  {:<20} {}", p.name, p.config.to_flags());
        let _ = writeln!(out, "  {:<20} {}", "", p.exercises);
    }
    let cols: Vec<Prop> = columns().collect();
    let width = |p: &Prop| label(*p).len().max(1);
    for family in Family::ALL {
        let rows: Vec<&Row> = h
            .rows
            .iter()
            .filter(|r| r.variant.family() == family)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let mut head = format!("{:<40} {:<15}", family.name(), "date");
        for p in &cols {
            let _ = write!(head, " {:<w$}", label(*p), w = width(p));
        }
        let _ = writeln!(out, "{}", head.trim_end());
        for r in rows {
            let info = r.variant.info();
            let mut line = format!("{:<40} {:<15}", r.variant.name(), info.date);
            for (p, c) in cols.iter().zip(&r.cells) {
                let _ = write!(line, " {:<w$}", mark(c.status), w = width(p));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "V violated, H holds, - no probe exercises it, ? a limit stopped the search; * advisory \
         (not counted in a verdict)"
    );
    let legend: Vec<String> = cols
        .iter()
        .map(|p| format!("{} {}", label(*p), p.name()))
        .collect();
    for chunk in legend.chunks(4) {
        let _ = writeln!(out, "  {}", chunk.join(", "));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "violations, each with the version that fixed it:");
    for r in &h.rows {
        for c in r.cells.iter().filter(|c| c.status == Status::Violated) {
            let Some((probe, trace)) = &c.found else {
                continue;
            };
            let also: String = c
                .also
                .iter()
                .map(|p| format!(", also {}", p.name))
                .collect();
            let _ = writeln!(
                out,
                "  {} {}: probe {} ({} steps){also}",
                r.variant,
                c.prop,
                probe.name,
                trace.steps.len()
            );
            let _ = writeln!(out, "      {}", replay(r, probe, trace));
            let fix = match (c.prop.info().standing, c.fixed_in) {
                (Standing::Advisory, _) => "advisory: reported, not counted in a verdict".into(),
                (Standing::Guarantee, Some(v)) => {
                    format!("fixed in {v} by {}: {}", v.info().source, v.summary())
                }
                (Standing::Guarantee, None) => "never fixed in this family".into(),
            };
            let _ = writeln!(out, "      {fix}");
        }
    }
    for r in &h.rows {
        for (probe, goal) in &r.unreached {
            let _ = writeln!(
                out,
                "warning: {}: probe {} never reaches goal {goal} (vacuous there)",
                r.variant, probe.name
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "sources:");
    for r in &h.rows {
        let _ = writeln!(
            out,
            "  {:<40} {}",
            r.variant.name(),
            r.variant.info().source
        );
    }
    let states: usize = h.rows.iter().flat_map(|r| &r.probes).map(|(_, n)| n).sum();
    let _ = writeln!(
        out,
        "{} versions, {} checks, {} states stored, {:.2} s",
        h.rows.len(),
        h.rows.iter().map(|r| r.probes.len()).sum::<usize>(),
        states,
        h.seconds
    );
    out
}

/// The timeline as one JSON document.
pub fn json(h: &History) -> serde_json::Value {
    let probes: Vec<_> = PROBES
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "flags": p.config.to_flags(),
                "exercises": p.exercises,
                "config": crate::output::config_json(&p.config),
            })
        })
        .collect();
    let rows: Vec<_> = h
        .rows
        .iter()
        .map(|r| {
            let info = r.variant.info();
            let properties: Vec<_> = r
                .cells
                .iter()
                .map(|c| {
                    let mut v = json!({
                        "name": c.prop.name(),
                        "standing": c.prop.info().standing.as_str(),
                        "status": c.status.as_str(),
                    });
                    if let Some((probe, trace)) = &c.found {
                        v["probe"] = json!(probe.name);
                        v["also"] = json!(c.also.iter().map(|p| p.name).collect::<Vec<_>>());
                        v["steps"] = json!(trace.steps.len());
                        v["replay"] = json!(replay(r, probe, trace));
                        v["trace"] = trace_json(trace);
                        v["fixed_in"] = json!(c.fixed_in.map(|f| f.name()));
                        v["fixed_by"] = json!(c.fixed_in.map(|f| f.info().source));
                    }
                    v
                })
                .collect();
            json!({
                "variant": r.variant.name(),
                "family": info.family.name(),
                "version": info.version,
                "date": info.date,
                "source": info.source,
                "probes": r.probes.iter().map(|(p, n)| json!({"name": p.name, "unique_states": n})).collect::<Vec<_>>(),
                "properties": properties,
                "seconds": r.seconds,
            })
        })
        .collect();
    json!({
        "memory": h.memory.name(),
        "probes": probes,
        "versions": rows,
        "seconds": h.seconds,
    })
}

/// The timeline as a self-contained SVG: one row per version, one column per property, a
/// cell red where violated (labelled with the probe and the fix), green where it holds, grey
/// where no probe exercises it.
pub fn svg(h: &History) -> String {
    let cols: Vec<Prop> = columns().collect();
    let (name_w, date_w, cell_w, row_h, head_h) = (300.0, 90.0, 46.0, 26.0, 70.0);
    let fixes: Vec<String> = h
        .rows
        .iter()
        .flat_map(|r| {
            r.cells
                .iter()
                .filter(|c| c.status == Status::Violated)
                .map(move |c| {
                    format!(
                        "{} {}: {}",
                        r.variant,
                        c.prop,
                        match c.fixed_in {
                            Some(v) => format!("fixed in {v} ({})", v.info().source),
                            None => "never fixed in this family".into(),
                        }
                    )
                })
        })
        .collect();
    let width = name_w + date_w + cell_w * cols.len() as f64 + 20.0;
    let grid_h = head_h + row_h * h.rows.len() as f64;
    let height = grid_h + 30.0 + 16.0 * (fixes.len() as f64 + 2.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"monospace\" font-size=\"12\">"
    );
    let _ = write!(
        s,
        "<rect width=\"{width:.0}\" height=\"{height:.0}\" fill=\"#ffffff\"/>"
    );
    let _ = write!(
        s,
        "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">emm-check history: each \
         version on the probes that exercise each property</text>"
    );
    for (i, p) in cols.iter().enumerate() {
        let x = name_w + date_w + cell_w * i as f64 + cell_w / 2.0;
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            head_h - 8.0,
            xml_escape(&label(*p))
        );
    }
    for (k, r) in h.rows.iter().enumerate() {
        let y = head_h + row_h * k as f64;
        let _ = write!(
            s,
            "<text x=\"10\" y=\"{:.1}\">{}</text><text x=\"{name_w:.0}\" y=\"{:.1}\">{}</text>",
            y + 17.0,
            xml_escape(r.variant.name()),
            y + 17.0,
            xml_escape(r.variant.info().date)
        );
        for (i, c) in r.cells.iter().enumerate() {
            let x = name_w + date_w + cell_w * i as f64;
            let fill = match c.status {
                Status::Violated => "#fecaca",
                Status::Holds => "#bbf7d0",
                Status::NotApplicable => "#e5e7eb",
                _ => "#fde68a",
            };
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" \
                 stroke=\"#9ca3af\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                cell_w - 2.0,
                row_h - 2.0,
                x + cell_w / 2.0,
                y + 17.0,
                mark(c.status)
            );
        }
    }
    let mut y = grid_h + 24.0;
    let legend: Vec<String> = cols
        .iter()
        .map(|p| format!("{} {}", label(*p), p.name()))
        .collect();
    let _ = write!(
        s,
        "<text x=\"10\" y=\"{y:.1}\">{}</text>",
        xml_escape(&legend.join(", "))
    );
    for f in &fixes {
        y += 16.0;
        let _ = write!(s, "<text x=\"10\" y=\"{y:.1}\">{}</text>", xml_escape(f));
    }
    s.push_str("</svg>\n");
    s
}
