//! Counterexamples as pictures: a sequence diagram in SVG (self-contained: no external fonts,
//! styles or scripts, so it opens offline in any browser) or as Mermaid `sequenceDiagram`
//! text.
//!
//! One lifeline per actor of the configuration, one box per step on the lifeline of the actor
//! that took it (the kernel step's name inside), and an arrow from that box to the shared-state
//! column on the right, where the state the step changed is written. The step after which the
//! property is broken is drawn in red on a red band, and the property's name and the reason are
//! the caption. Several counterexamples are stacked in one document, one panel each.

use emm_model::{EmmModel, Trace};
use emm_proofs::Role;
use std::fmt::Write as _;

/// One diagram: a trace of a model, the step to highlight, and its caption.
#[derive(Clone, Debug)]
pub struct Panel<'a> {
    /// The model the trace runs on (its actors are the lifelines).
    pub model: &'a EmmModel,
    /// The steps.
    pub trace: &'a Trace,
    /// The heading: what the diagram shows.
    pub title: String,
    /// The 1-based step to highlight (the one after which the property is broken).
    pub highlight: Option<usize>,
    /// The property the highlighted step breaks, if any.
    pub property: Option<String>,
    /// The caption under the diagram: why the property is broken (one sentence per entry).
    pub caption: Vec<String>,
}

/// Font size of the text, in pixels.
const FONT: f64 = 12.0;
/// Advance of one character of the monospace font at [`FONT`]: generic `monospace` fonts are
/// 0.6 em wide; a little more keeps long labels inside their boxes on every common font.
const CHAR: f64 = 7.4;
/// Height of one step's row.
const ROW: f64 = 24.0;
/// Space around the drawing and between panels.
const MARGIN: f64 = 16.0;
/// Width of the step-number column.
const STEP_COL: f64 = 40.0;
/// Gap between two lifeline columns.
const GAP: f64 = 18.0;
/// Height of an actor's name box at the top of its lifeline.
const HEAD: f64 = 26.0;
/// Characters per caption line.
const CAPTION_CHARS: usize = 110;

/// Escapes `text` for XML character data and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 (the model never writes them).
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR
}

/// Splits `text` into lines of at most `width` characters, at spaces where it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Fill and stroke of an actor's boxes, by role.
fn colours(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Vm => ("#dbeafe", "#1d4ed8"),
        Role::Reg => ("#dcfce7", "#15803d"),
        Role::Unreg => ("#ffedd5", "#c2410c"),
        Role::Drv => ("#ede9fe", "#6d28d9"),
        Role::Teardown => ("#e5e7eb", "#374151"),
        Role::Aging => ("#ccfbf1", "#0f766e"),
        Role::Fault => ("#fef9c3", "#a16207"),
        Role::Oom => ("#fce7f3", "#be185d"),
    }
}

const RED: &str = "#b91c1c";
const RED_BAND: &str = "#fee2e2";

/// A panel's geometry, computed before drawing so that panels can be stacked.
struct Layout {
    /// Each actor's lifeline: its x (centre) and column width.
    columns: Vec<(f64, f64)>,
    /// Left edge of the shared-state column.
    state_x: f64,
    width: f64,
    height: f64,
    caption: Vec<String>,
}

fn layout(p: &Panel<'_>) -> Layout {
    let actors = p.model.actors();
    let mut x = MARGIN + STEP_COL;
    let mut columns = Vec::with_capacity(actors.len());
    for (t, a) in actors.iter().enumerate() {
        let widest = p
            .trace
            .steps
            .iter()
            .zip(&p.trace.threads)
            .filter(|(_, &u)| u == t)
            .map(|(s, _)| text_width(&s.action))
            .fold(text_width(&a.id.to_string()), f64::max);
        let w = widest + 16.0;
        columns.push((x + w / 2.0, w));
        x += w + GAP;
    }
    let state_x = x + 12.0;
    let widest_state = p
        .trace
        .steps
        .iter()
        .map(|s| text_width(&s.state))
        .fold(text_width("shared state"), f64::max);
    let caption: Vec<String> = p
        .caption
        .iter()
        .flat_map(|c| wrap(c, CAPTION_CHARS))
        .collect();
    let widest_caption = caption
        .iter()
        .map(|l| text_width(l))
        .chain([text_width(&p.title) * 15.0 / FONT])
        .fold(0.0, f64::max);
    let width = (state_x + widest_state + MARGIN).max(MARGIN * 2.0 + widest_caption);
    let rows = p.trace.steps.len().max(1) as f64;
    let height = MARGIN + 24.0 + HEAD + 8.0 + rows * ROW + 16.0 + caption.len() as f64 * 18.0;
    Layout {
        columns,
        state_x,
        width,
        height,
        caption,
    }
}

/// Draws one panel with its top at `y0` into `out`.
fn draw(out: &mut String, p: &Panel<'_>, l: &Layout, y0: f64, width: f64) {
    let actors = p.model.actors();
    let _ = writeln!(
        out,
        r##"<g class="panel"><title>{}</title>"##,
        xml_escape(&p.title)
    );
    let title_y = y0 + MARGIN + 6.0;
    let _ = writeln!(
        out,
        r##"<text x="{MARGIN}" y="{title_y:.1}" font-size="15" font-weight="bold">{}</text>"##,
        xml_escape(&p.title)
    );
    let head_y = title_y + 14.0;
    let rows_y = head_y + HEAD + 8.0;
    let bottom = rows_y + p.trace.steps.len() as f64 * ROW;
    // The highlighted step's band goes under everything else in its row.
    if let Some(h) = p.highlight.filter(|&h| h >= 1 && h <= p.trace.steps.len()) {
        let y = rows_y + (h - 1) as f64 * ROW;
        let _ = writeln!(
            out,
            r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{ROW}" fill="{RED_BAND}"/>"##,
            MARGIN / 2.0,
            width - MARGIN
        );
    }
    for (t, a) in actors.iter().enumerate() {
        let (cx, w) = l.columns[t];
        let (fill, stroke) = colours(a.id.role);
        let name = a.id.to_string();
        let _ = writeln!(
            out,
            r##"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{bottom:.1}" stroke="{stroke}" stroke-dasharray="4 3" stroke-opacity="0.6"/>"##,
            head_y + HEAD
        );
        let _ = writeln!(
            out,
            r##"<rect x="{:.1}" y="{head_y:.1}" width="{w:.1}" height="{HEAD}" rx="4" fill="{fill}" stroke="{stroke}"/>"##,
            cx - w / 2.0
        );
        let _ = writeln!(
            out,
            r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" class="actor">{}</text>"##,
            head_y + HEAD / 2.0 + 4.0,
            xml_escape(&name)
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-weight="bold" fill="#4b5563">shared state</text>"##,
        l.state_x,
        head_y + HEAD / 2.0 + 4.0
    );
    for (i, (step, &t)) in p.trace.steps.iter().zip(&p.trace.threads).enumerate() {
        let y = rows_y + i as f64 * ROW;
        let mid = y + ROW / 2.0;
        let hot = p.highlight == Some(step.step);
        let (cx, _) = l.columns[t];
        let (fill, stroke) = colours(actors[t].id.role);
        let stroke = if hot { RED } else { stroke };
        let bw = text_width(&step.action) + 10.0;
        let _ = writeln!(
            out,
            r##"<g class="step" data-step="{}" data-actor="{}">"##,
            step.step,
            xml_escape(&step.actor)
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{}">{}</text>"##,
            MARGIN + STEP_COL - 10.0,
            mid + 4.0,
            if hot { RED } else { "#6b7280" },
            step.step
        );
        let _ = writeln!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="{}"/>"##,
            cx - bw / 2.0,
            y + 3.0,
            ROW - 6.0,
            if hot { 2 } else { 1 }
        );
        let _ = writeln!(
            out,
            r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle"{}>{}</text>"##,
            mid + 4.0,
            if hot {
                r##" fill="#b91c1c" font-weight="bold""##
            } else {
                ""
            },
            xml_escape(&step.action)
        );
        if !step.state.is_empty() {
            let x1 = cx + bw / 2.0;
            let x2 = l.state_x - 4.0;
            let _ = writeln!(
                out,
                r##"<line x1="{x1:.1}" y1="{mid:.1}" x2="{x2:.1}" y2="{mid:.1}" stroke="{}" stroke-opacity="0.5" marker-end="url(#arrow)"/>"##,
                if hot { RED } else { "#9ca3af" }
            );
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}"{}>{}</text>"##,
                l.state_x,
                mid + 4.0,
                if hot {
                    r##" fill="#b91c1c" font-weight="bold""##
                } else {
                    ""
                },
                xml_escape(&step.state)
            );
        }
        let _ = writeln!(out, "</g>");
    }
    let mut y = bottom + 22.0;
    for line in &l.caption {
        // The property's name, where a line starts with it, is the caption's subject: bold.
        let (name, rest) = match &p.property {
            Some(name) if line.starts_with(name.as_str()) => line.split_at(name.len()),
            _ => ("", line.as_str()),
        };
        let _ = writeln!(
            out,
            r##"<text x="{MARGIN}" y="{y:.1}" class="caption"{}><tspan font-weight="bold">{}</tspan>{}</text>"##,
            if p.highlight.is_some() {
                r##" fill="#991b1b""##
            } else {
                ""
            },
            xml_escape(name),
            xml_escape(rest)
        );
        y += 18.0;
    }
    let _ = writeln!(out, "</g>");
}

/// The panels as one SVG document, stacked top to bottom.
pub fn svg(panels: &[Panel<'_>]) -> String {
    let layouts: Vec<Layout> = panels.iter().map(layout).collect();
    let width = layouts.iter().map(|l| l.width).fold(320.0, f64::max).ceil();
    let height = (layouts.iter().map(|l| l.height).sum::<f64>() + MARGIN).ceil();
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="{FONT}">"##
    );
    let _ = writeln!(
        out,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#9ca3af"/></marker></defs>"##
    );
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"##
    );
    let mut y = 0.0;
    for (p, l) in panels.iter().zip(&layouts) {
        draw(&mut out, p, l, y, width);
        y += l.height;
    }
    out.push_str("</svg>\n");
    out
}

/// Makes `text` safe inside a Mermaid message or note: `;` and `#` start statements and
/// entity codes there, so they are written as entity codes.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// One panel as a Mermaid `sequenceDiagram`: a participant per actor and one for the shared
/// state, one message line per step (from the actor to the shared state, the kernel step and
/// what it changed), the highlighted step inside a red `rect`, and the caption as a note.
pub fn mermaid(p: &Panel<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "sequenceDiagram");
    let _ = writeln!(out, "    title {}", mermaid_text(&p.title));
    for a in p.model.actors() {
        let _ = writeln!(out, "    participant {}", a.id);
    }
    let _ = writeln!(out, "    participant mm as shared state");
    for step in &p.trace.steps {
        let hot = p.highlight == Some(step.step);
        if hot {
            let _ = writeln!(out, "    rect rgb(254, 226, 226)");
        }
        let changed = if step.state.is_empty() {
            String::new()
        } else {
            format!(" => {}", step.state)
        };
        let _ = writeln!(
            out,
            "    {}->>mm: {}. {}{}",
            step.actor,
            step.step,
            mermaid_text(&step.action),
            mermaid_text(&changed)
        );
        if hot {
            let _ = writeln!(out, "    end");
        }
    }
    let first = p.model.actors().first().map(|a| a.id.to_string());
    for line in &p.caption {
        let _ = writeln!(
            out,
            "    Note over {},mm: {}",
            first.as_deref().unwrap_or("mm"),
            mermaid_text(line)
        );
    }
    out
}
