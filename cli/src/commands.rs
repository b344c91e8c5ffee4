//! The subcommands: the default verdict table, `list`, `check`, `replay` (with `--on-impl`)
//! and `explore`.

use crate::args::{
    parse, property_name, CheckJob, ExploreJob, Format, HistoryJob, Job, LitmusJob, Parsed, Plan,
    ReplayJob, ReplaySource, Start,
};
use crate::explorer::{self, ExplorerModel};
use crate::output::{
    config_json, print_panels, print_pictures, print_text, report_json, trace_json, usage_error, Io,
};
use crate::progress::{Stderr, Style};
use crate::{on_impl, tracefile};
use emm_model::check::CheckOptions;
use emm_model::{check, estimate, Config, EmmModel, Memory, Trace, Variant};
use emm_proofs::{Expectation, Prop, PROPERTIES};
use serde_json::json;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn run_check(io: &mut Io<'_>, job: &CheckJob) -> i32 {
    let (variant, config) = (job.variant, job.config);
    let opts = CheckOptions {
        threads: job.threads,
        symmetry: job.symmetry,
        max_states: Some(usize::try_from(job.max_states).unwrap_or(usize::MAX)),
        timeout: Some(Duration::from_secs(job.timeout)),
        max_memory: Some(job.max_memory.saturating_mul(1024 * 1024)),
        shortest: true,
        progress: Arc::clone(&io.progress),
    };
    if !job.force {
        let model = EmmModel::new(variant, config);
        let limits = estimate::capacity(
            Some(job.max_states),
            Some(job.timeout),
            opts.max_memory,
            opts.threads,
        );
        // The checker sorts the VM threads only with symmetry on and two or more of them.
        let sorted = opts.symmetry && config.invalidators > 1;
        if let Some(why) = estimate::refusal(&model, sorted, limits) {
            return usage_error(io, &why);
        }
    }
    if config.aging
        && emm_model::program::Programs::new(variant, &config)
            .aging
            .is_empty()
    {
        say!(
            io.err,
            "note: interval notifiers have no clear_young; --aging adds no actor to {variant}"
        );
    }
    let report = check(variant, config, &opts);
    match job.format {
        Format::Text => print_text(io, &report),
        Format::Json => {
            let mut doc = report_json(&report);
            let c = &mut doc["config"];
            c["threads"] = json!(opts.threads);
            c["symmetry"] = json!(opts.symmetry);
            c["max_states"] = json!(job.max_states);
            c["timeout"] = json!(job.timeout);
            c["max_memory"] = json!(job.max_memory);
            say!(
                io.out,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            );
        }
        Format::Svg | Format::Mermaid => print_pictures(io, &report, job.format, job.property),
    }
    report.verdict.exit_code()
}

fn run_default(io: &mut Io<'_>) -> i32 {
    let base = Config::default();
    say!(
        io.out,
        "emm-check: every variant on the default configuration ({})",
        base.to_flags()
    );
    say!(io.out);
    say!(
        io.out,
        "{:<40} {:<9} {:<9} {:<44} {:>8} {:>8} {:>8}",
        "variant",
        "sc",
        "lkmm",
        "violated properties",
        "sc st.",
        "lkmm st.",
        "seconds"
    );
    let opts = CheckOptions {
        shortest: false,
        timeout: Some(Duration::from_secs(600)),
        max_memory: Some(16 << 30),
        progress: Arc::clone(&io.progress),
        ..CheckOptions::default()
    };
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let mut complete = true;
    for variant in Variant::ALL {
        let config = Config::default_for(variant);
        if config != base {
            notes.push(format!(
                "{variant} has no unregister: checked with --unregistrations 0"
            ));
        }
        let sc = check(variant, config, &opts);
        let lkmm = check(
            variant,
            Config {
                memory: Memory::Lkmm,
                ..config
            },
            &opts,
        );
        complete &= sc.limit.is_none() && lkmm.limit.is_none();
        if lkmm.stats.histories_capped {
            notes.push(format!(
                "{variant} under lkmm: a weak history reached {} stores (a loop that stores on \
                 every turn); older stores were dropped",
                emm_model::weak::HISTORY_CAP
            ));
        }
        // One violated property per line, so the table stays narrow; advisory ones marked,
        // and those only the weak memory model breaks.
        let sc_violated = sc.violated();
        let mut all = sc_violated.clone();
        all.extend(
            lkmm.violated()
                .into_iter()
                .filter(|p| !sc_violated.contains(p)),
        );
        let mut lines = all.into_iter().map(|p| {
            let name = match p.info().standing {
                emm_proofs::Standing::Guarantee => p.name().to_string(),
                emm_proofs::Standing::Advisory => format!("({} advisory)", p.name()),
            };
            if sc_violated.contains(&p) {
                name
            } else {
                format!("{name} (lkmm only)")
            }
        });
        say!(
            io.out,
            "{:<40} {:<9} {:<9} {:<44} {:>8} {:>8} {:>8.3}",
            variant.name(),
            sc.verdict.as_str(),
            lkmm.verdict.as_str(),
            lines.next().unwrap_or_else(|| "-".into()),
            sc.stats.unique_states,
            lkmm.stats.unique_states,
            sc.stats.seconds + lkmm.stats.seconds
        );
        for more in lines {
            say!(io.out, "{:<40} {:<9} {:<9} {more}", "", "", "");
        }
        for g in sc.unreached() {
            warnings.push(format!(
                "warning: {variant}: goal {g} was never reached (vacuous there)"
            ));
        }
    }
    for w in &warnings {
        say!(io.err, "{w}");
    }
    say!(io.out);
    for n in &notes {
        say!(io.out, "note: {n}");
    }
    say!(
        io.out,
        "shortest counterexamples: emm-check check --variant NAME; the timeline of the kernel's \
         versions: emm-check history; variants and properties: emm-check list"
    );
    // The run completed unless a limit stopped one of its searches.
    if complete {
        0
    } else {
        3
    }
}

fn run_list(io: &mut Io<'_>) -> i32 {
    say!(io.out, "variants (FAMILY@VERSION, date, source):");
    for family in emm_proofs::Family::ALL {
        say!(io.out, "  {}", family.name());
        for info in emm_proofs::VARIANTS.iter().filter(|i| i.family == family) {
            let aliases = if info.aliases.is_empty() {
                String::new()
            } else {
                format!(" (also: {})", info.aliases.join(", "))
            };
            say!(
                io.out,
                "    {:<40} {:<15} {}{aliases}",
                info.variant.name(),
                info.date,
                info.source
            );
            say!(io.out, "    {:<40} {}", "", info.summary);
        }
    }
    say!(io.out);
    say!(io.out, "properties:");
    for p in PROPERTIES {
        say!(
            io.out,
            "  {:<36} {:<10} {}{}",
            p.name,
            p.expectation.as_str(),
            p.summary,
            if p.standing == emm_proofs::Standing::Advisory {
                " [advisory: not counted in a verdict]"
            } else {
                ""
            }
        );
    }
    0
}

fn run_history(io: &mut Io<'_>, job: &HistoryJob) -> i32 {
    let opts = CheckOptions {
        threads: job.threads,
        shortest: true,
        timeout: Some(Duration::from_secs(600)),
        max_memory: Some(16 << 30),
        progress: Arc::clone(&io.progress),
        ..CheckOptions::default()
    };
    let h = emm_model::history::history_under(&job.families, job.memory, &opts);
    match job.format {
        Format::Json => say!(
            io.out,
            "{}",
            serde_json::to_string_pretty(&crate::history::json(&h)).unwrap_or_default()
        ),
        Format::Svg => {
            let _ = io.out.write_all(crate::history::svg(&h).as_bytes());
        }
        _ => {
            let _ = io.out.write_all(crate::history::text(&h).as_bytes());
        }
    }
    let incomplete = h.rows.iter().any(|r| {
        r.cells
            .iter()
            .any(|c| c.status == emm_model::Status::Unknown)
    });
    if incomplete {
        3
    } else {
        0
    }
}

/// The largest litmus file read: tests are a few hundred bytes.
const MAX_LITMUS_BYTES: u64 = 1 << 20;

/// `emm-check litmus FILE...`: each test's report; then, with more than one file, a summary.
fn run_litmus(io: &mut Io<'_>, job: &LitmusJob) -> i32 {
    let mut status = 0;
    let (mut agree, mut disagree, mut unstated) = (0, 0, 0);
    for path in &job.files {
        let shown = path.display();
        let text = match read_bounded(path, MAX_LITMUS_BYTES, "a litmus test").and_then(|b| {
            String::from_utf8(b)
                .map_err(|_| format!("{shown} is not UTF-8 text: not a litmus test"))
        }) {
            Ok(text) => text,
            Err(e) => {
                say!(io.err, "emm-check: error: {}", crate::output::one_line(&e));
                status = 2;
                continue;
            }
        };
        match emm_model::litmus::run(&text, job.max_states) {
            Ok(report) => {
                let _ = write!(io.out, "{}", report.herd());
                let _ = writeln!(io.out);
                match report.test.result {
                    None => unstated += 1,
                    Some(_) if report.disagrees() => {
                        disagree += 1;
                        if status == 0 {
                            status = 1;
                        }
                    }
                    Some(_) => agree += 1,
                }
            }
            Err(e) => {
                say!(
                    io.err,
                    "emm-check: error: {shown}:{}",
                    crate::output::one_line(&e.to_string())
                );
                status = 2;
            }
        }
    }
    if job.files.len() > 1 {
        let _ = writeln!(
            io.out,
            "{agree} agree with their stated Result, {disagree} disagree, {unstated} state none"
        );
    }
    status
}

fn run_help(io: &mut Io<'_>, topic: &str) -> i32 {
    match crate::help::topic(topic) {
        Some(t) => {
            let _ = io.out.write_all(t.text.as_bytes());
        }
        None => {
            let _ = io.out.write_all(crate::help::index().as_bytes());
        }
    }
    0
}

/// Reads `path`, refusing a file larger than `limit` bytes as not a `what`.
fn read_bounded(path: &std::path::Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "{shown} is larger than {} MiB: not {what}",
            limit >> 20
        ));
    }
    Ok(bytes)
}

/// The model and trace a replay job names, or why there are none.
fn replay_trace(job: &ReplayJob) -> Result<(EmmModel, Trace, Option<Prop>), String> {
    match &job.source {
        ReplaySource::Path(variant, config, path) => {
            let model = EmmModel::new(*variant, *config);
            let trace = Trace::from_path(&model, path)
                .map_err(|e| format!("--path does not replay: {e}"))?;
            Ok((model, trace, job.property))
        }
        ReplaySource::File(path, flags) => {
            let bytes = read_bounded(path, tracefile::MAX_FILE_BYTES, "a trace file")?;
            let shown = path.display();
            let file = tracefile::parse(&bytes, job.property.map(Prop::name))
                .map_err(|e| format!("{shown}: {e}"))?;
            let config = flags.agree(&file).map_err(|e| format!("{shown}: {e}"))?;
            let model = EmmModel::new(file.variant, config);
            let trace = tracefile::replay(&model, &file).map_err(|e| format!("{shown}: {e}"))?;
            // Only a property of the spec can be highlighted.
            let property = file.property.as_deref().and_then(|n| property_name(n).ok());
            Ok((model, trace, job.property.or(property)))
        }
    }
}

fn run_replay(io: &mut Io<'_>, job: &ReplayJob) -> i32 {
    let (model, trace, property) = match replay_trace(job) {
        Ok(x) => x,
        Err(e) => return usage_error(io, &e),
    };
    if let Some(protocol) = &job.on_impl {
        if model.config.memory != Memory::Sc {
            // The implementation steps its threads one at a time on this machine: each step
            // sees the ones before it, so it can only follow a trace in which every load reads
            // the last store.
            return usage_error(
                io,
                "--on-impl replays sequentially consistent traces (--memory sc): the real code, \
                 released one step at a time, cannot make a load read an older store",
            );
        }
        let protocol = if protocol.is_empty() {
            model.variant.name()
        } else {
            protocol.as_str()
        };
        let Ok(protocol) = protocol.parse::<Variant>() else {
            return usage_error(io, &on_impl::unknown_protocol(protocol));
        };
        if !on_impl::PROTOCOLS.contains(&protocol) {
            return usage_error(io, &on_impl::unknown_protocol(protocol.name()));
        }
        return match on_impl::replay_and_report(protocol, &model, &trace, job.patience, io.out) {
            Ok(status) => status,
            Err(why) => usage_error(io, &why),
        };
    }
    let last = trace.states.last().expect("a trace has an initial state");
    let violations = model.violations(last);
    match job.format {
        Format::Json => {
            let v: Vec<_> = violations
                .iter()
                .map(|v| json!({"property": v.property.name(), "reason": trace.explain(&model, v)}))
                .collect();
            say!(
                io.out,
                "{}",
                serde_json::to_string_pretty(&json!({
                    "variant": model.variant.name(),
                    "config": config_json(&trace.config(&model)),
                    "trace": trace_json(&trace),
                    "violations": v,
                }))
                .unwrap_or_default()
            );
        }
        Format::Text => {
            say!(
                io.out,
                "replaying {}  {}",
                model.variant,
                trace.config(&model).to_flags()
            );
            say!(io.out);
            let _ = write!(io.out, "{}", trace.render(&model));
            say!(io.out);
            if violations.is_empty() {
                say!(io.out, "no property is violated in the last state");
            }
            for v in &violations {
                say!(io.out, "{}", trace.explain(&model, v));
            }
        }
        Format::Svg | Format::Mermaid => {
            let panel = explorer::trace_panel(&model, &trace, property);
            print_panels(io, job.format, &[panel]);
        }
    }
    0
}

/// Where the Explorer should open: a description and the path of the last state.
fn explore_start(model: &EmmModel, start: &Start) -> Result<(String, String), String> {
    let trace = match start {
        Start::Path(path) => {
            Trace::from_path(model, path).map_err(|e| format!("--path does not replay: {e}"))?
        }
        Start::Counterexample(prop) => {
            let name = prop.name();
            if !model.applies(*prop) {
                return Err(format!(
                    "{name} does not apply to {} on {}",
                    model.variant,
                    model.config.to_flags()
                ));
            }
            // The same breadth-first search as check's shortest counterexamples, with check's
            // default time limit.
            let deadline = Instant::now() + Duration::from_secs(600);
            let found = check::shortest_paths(
                model,
                std::collections::BTreeSet::from([name]),
                Some(deadline),
                None,
            );
            let (init, threads) = found.get(name).ok_or_else(|| {
                let goal = prop.expectation() == Expectation::Sometimes;
                if goal {
                    format!("no path reaches goal {name} on {}", model.config.to_flags())
                } else {
                    format!(
                        "no counterexample: {name} holds on {} {}",
                        model.variant,
                        model.config.to_flags()
                    )
                }
            })?;
            Trace::from_steps(model, init.clone(), threads).map_err(|e| e.to_string())?
        }
    };
    let what = match start {
        Start::Counterexample(prop) => format!(
            "shortest {} {prop} ({} steps)",
            match prop.expectation() {
                Expectation::Sometimes => "path to",
                Expectation::Always => "counterexample of",
            },
            trace.steps.len()
        ),
        Start::Path(_) => format!("--path ({} steps)", trace.steps.len()),
    };
    Ok((what, explorer::explorer_path(model, &trace)?))
}

fn run_explore(io: &mut Io<'_>, job: &ExploreJob) -> i32 {
    let model = EmmModel::new(job.variant, job.config);
    let start = match job.start.as_ref().map(|s| explore_start(&model, s)) {
        Some(Err(e)) => return usage_error(io, &e),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    // stateright's server panics if it cannot listen: try first, and learn the port that
    // port 0 picks.
    let addr = match std::net::TcpListener::bind(job.addr).and_then(|l| l.local_addr()) {
        Ok(a) => a,
        Err(e) => return usage_error(io, &format!("cannot listen on {}: {e}", job.addr)),
    };
    say!(
        io.out,
        "Explorer for {} ({}): http://{addr}/",
        job.variant,
        job.config.to_flags()
    );
    if let Some((what, path)) = &start {
        say!(io.out, "{what}: http://{addr}/#/steps/{path}");
    }
    let _ = io.out.flush();
    say!(io.err, "emm-check: serving on {addr} (Ctrl-C to stop)");
    use stateright::Model;
    ExplorerModel::new(model).checker().serve(addr);
    0
}

/// Runs a checked command line, showing progress in `style`.
pub fn execute(plan: &Plan, out: &mut dyn Write, err: &mut dyn Write, style: Style) -> i32 {
    let mut io = Io {
        out,
        err,
        progress: Arc::new(Stderr::new(style)),
    };
    match &plan.0 {
        Job::Default => run_default(&mut io),
        Job::List => run_list(&mut io),
        Job::History(job) => run_history(&mut io, job),
        Job::Help(topic) => run_help(&mut io, topic),
        Job::Check(job) => run_check(&mut io, job),
        Job::Replay(job) => run_replay(&mut io, job),
        Job::Explore(job) => run_explore(&mut io, job),
        Job::Litmus(job) => run_litmus(&mut io, job),
    }
}

/// Runs `emm-check` with `args` (the program name first), writing to `out` and `err`, and
/// returns the exit status: 0 every `always` property holds (or the default run completed), 1
/// one is violated, 2 bad usage, 3 a limit stopped the search first.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, style: Style) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match parse(args) {
        Parsed::Print(text) => {
            let _ = write!(out, "{text}");
            0
        }
        Parsed::Usage(reason) => {
            let _ = writeln!(
                err,
                "emm-check: error: {}",
                crate::output::one_line(&reason)
            );
            2
        }
        Parsed::Run(plan) => execute(&plan, out, err, style),
    }
}
