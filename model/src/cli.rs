//! The `emm-check` command line: parsing, the subcommands, and their output.
//!
//! The binary is a thin wrapper around [`run`], so that tests drive the same code with
//! their own output buffers. Exit status: 0 every `always` property holds (or the default run
//! completed), 1 one is violated, 2 bad usage, 3 a limit stopped the search first.

use crate::check::{CheckOptions, CheckReport, Limit, Progress, Stats, Status};
use crate::{check, Config, EmmModel, Trace, Variant, PROPERTIES};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "emm-check",
    version,
    about = "Model-check the MMU/EMM notifier registration protocols",
    long_about = "Model-check the MMU/EMM notifier registration protocols.\n\nWith no \
                  subcommand, checks every variant on the default configuration (1 invalidator, \
                  1 notifier, 1 registration, 1 unregistration) and prints a verdict table."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the variants and the properties.
    List,
    /// Exhaustively check one variant and print each violated property's shortest
    /// counterexample. Exit status: 0 all hold, 1 one is violated, 2 bad usage, 3 a limit
    /// stopped the search first.
    Check(CheckArgs),
    /// Replay a path (from a counterexample's replay line) and print its trace.
    Replay(ReplayArgs),
    /// Serve stateright's Explorer web UI for the model on localhost.
    Explore(ExploreArgs),
}

#[derive(Args, Debug, Clone)]
struct ModelArgs {
    /// The protocol variant (see `emm-check list`).
    #[arg(long)]
    variant: String,
    /// VM threads, each running one invalidation.
    #[arg(long, default_value_t = 1)]
    invalidators: usize,
    /// Notifiers registered at the start (0: the chain starts empty).
    #[arg(long, default_value_t = 1)]
    notifiers: usize,
    /// Notifiers registered concurrently; each driver faults once register returns.
    #[arg(long, default_value_t = 1)]
    registrations: usize,
    /// Unregistrations of notifiers registered at the start (default: 1, or 0 when the chain
    /// starts empty).
    #[arg(long)]
    unregistrations: Option<usize>,
    /// The notifiers the unregistrations take, in order (`n1,n0`); default: every choice.
    #[arg(long, value_delimiter = ',')]
    targets: Option<Vec<String>>,
    /// Each VM thread nests a second invalidation inside its first.
    #[arg(long)]
    nested: bool,
    /// Add an exit_mmap: release over the chain, then free the frames.
    #[arg(long)]
    teardown: bool,
    /// Add an aging walk (clear_young over the chain).
    #[arg(long)]
    aging: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Checker threads (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Turn the state reductions off (sorting VM threads, renaming initial notifiers).
    #[arg(long)]
    no_symmetry: bool,
    /// Stop after generating this many states (exit 3).
    #[arg(long, default_value_t = 2_000_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_states: u64,
    /// Stop after this many seconds (exit 3).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    timeout: u64,
    /// Stop when resident memory exceeds this many MiB (exit 3).
    #[arg(long, default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(16..))]
    max_memory: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The steps, as actor names separated by commas (`vm0,reg0,reg0,...`).
    #[arg(long)]
    path: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args, Debug)]
struct ExploreArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to serve on (loopback only).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
}

/// Where the command's output goes, and how progress is shown.
struct Io<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    progress: Progress,
}

// Output errors (a closed pipe) are ignored: the exit status still tells the result.
macro_rules! say {
    ($w:expr) => {{ let _ = writeln!($w); }};
    ($w:expr, $($arg:tt)*) => {{ let _ = writeln!($w, $($arg)*); }};
}

impl ModelArgs {
    fn parse(&self) -> Result<(Variant, Config), String> {
        let variant: Variant = self.variant.parse().map_err(|e| format!("{e}"))?;
        let unregistrations = self.unregistrations.unwrap_or(self.notifiers.min(1));
        let targets = match &self.targets {
            None => None,
            Some(names) => {
                if names.len() != unregistrations {
                    return Err(format!(
                        "--targets names {} notifiers but there are {} unregistrations",
                        names.len(),
                        unregistrations
                    ));
                }
                let mut t = [u8::MAX; crate::config::MAX_UNREGISTRATIONS];
                for (slot, name) in t.iter_mut().zip(names) {
                    *slot = name
                        .trim()
                        .trim_start_matches('n')
                        .parse::<u8>()
                        .map_err(|_| {
                            format!("--targets: '{name}' is not a notifier (n0, n1, ...)")
                        })?;
                }
                Some(t)
            }
        };
        let config = Config {
            invalidators: self.invalidators,
            nested: self.nested,
            notifiers: self.notifiers,
            registrations: self.registrations,
            unregistrations,
            targets,
            teardown: self.teardown,
            aging: self.aging,
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok((variant, config))
    }
}

fn usage_error(io: &mut Io<'_>, msg: &str) -> i32 {
    say!(io.err, "emm-check: error: {msg}");
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

fn limit_text(limit: Limit) -> &'static str {
    match limit {
        Limit::MaxStates => "--max-states",
        Limit::Timeout => "--timeout",
        Limit::MaxMemory => "--max-memory",
    }
}

fn stats_json(s: &Stats) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or_default()
}

fn trace_json(trace: &Trace) -> serde_json::Value {
    serde_json::to_value(&trace.steps).unwrap_or_default()
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
                "status": p.status.as_str(),
            });
            if let Some(t) = &p.trace {
                v["trace"] = trace_json(t);
                v["shortest"] = json!(p.shortest);
                v["replay"] = json!(replay_line(&r.model, t));
                if p.status == Status::Violated {
                    if let Some((_, viol)) = t.first_violation(&r.model, p.name) {
                        v["reason"] = json!(t.explain(&r.model, &viol));
                    }
                }
            }
            v
        })
        .collect();
    json!({
        "variant": r.model.variant.name(),
        "config": {
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
        },
        "verdict": r.verdict.as_str(),
        "limit": r.limit.map(limit_text),
        "properties": properties,
        "stats": stats_json(&r.stats),
    })
}

fn print_text(io: &mut Io<'_>, r: &CheckReport) {
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
    if let Some(l) = r.limit {
        say!(
            out,
            "INCOMPLETE: {} stopped the search after {} unique states ({} generated, depth {}); \
             the statuses below cover only that part",
            limit_text(l),
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
        if let Some((_, v)) = t.first_violation(m, p.name) {
            say!(out);
            say!(out, "{}", t.explain(m, &v));
        }
        say!(out, "replay: {}", replay_line(m, t));
    }
    say!(out);
    say!(out, "verdict: {}", r.verdict.as_str());
}

fn run_check(io: &mut Io<'_>, args: &CheckArgs) -> i32 {
    let (variant, config) = match args.model.parse() {
        Ok(x) => x,
        Err(e) => return usage_error(io, &e),
    };
    let opts = CheckOptions {
        threads: args
            .threads
            .map(usize::from)
            .unwrap_or(CheckOptions::default().threads),
        symmetry: !args.no_symmetry,
        max_states: Some(usize::try_from(args.max_states).unwrap_or(usize::MAX)),
        timeout: Some(Duration::from_secs(args.timeout)),
        max_memory: Some(args.max_memory.saturating_mul(1024 * 1024)),
        shortest: true,
        progress: io.progress,
    };
    if config.aging && !variant.has_aging() {
        say!(
            io.err,
            "note: interval notifiers have no clear_young; --aging adds no actor to {variant}"
        );
    }
    let report = check(variant, config, &opts);
    match args.format {
        Format::Text => print_text(io, &report),
        Format::Json => {
            let mut doc = report_json(&report);
            let c = &mut doc["config"];
            c["threads"] = json!(opts.threads);
            c["symmetry"] = json!(opts.symmetry);
            c["max_states"] = json!(args.max_states);
            c["timeout"] = json!(args.timeout);
            c["max_memory"] = json!(args.max_memory);
            say!(
                io.out,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            );
        }
    }
    report.verdict.exit_code()
}

fn run_default(io: &mut Io<'_>) -> i32 {
    let config = Config::default();
    say!(
        io.out,
        "emm-check: every variant on the default configuration ({})",
        config.to_flags()
    );
    say!(io.out);
    say!(
        io.out,
        "{:<22} {:<10} {:<48} {:>8} {:>8}",
        "variant",
        "verdict",
        "violated properties",
        "states",
        "seconds"
    );
    let opts = CheckOptions {
        shortest: false,
        timeout: Some(Duration::from_secs(600)),
        max_memory: Some(16 << 30),
        progress: io.progress,
        ..CheckOptions::default()
    };
    let mut warnings = Vec::new();
    let mut complete = true;
    for variant in Variant::ALL {
        let r = check(variant, config, &opts);
        complete &= r.limit.is_none();
        let violated = r.violated();
        // One violated property per line, so the table stays narrow.
        let mut lines = violated.iter().map(|s| s.to_string());
        say!(
            io.out,
            "{:<22} {:<10} {:<48} {:>8} {:>8.3}",
            variant.name(),
            r.verdict.as_str(),
            lines.next().unwrap_or_else(|| "-".into()),
            r.stats.unique_states,
            r.stats.seconds
        );
        for more in lines {
            say!(io.out, "{:<22} {:<10} {more}", "", "");
        }
        for g in r.unreached() {
            warnings.push(format!(
                "warning: {variant}: goal {g} was never reached (vacuous there)"
            ));
        }
    }
    for w in &warnings {
        say!(io.err, "{w}");
    }
    say!(io.out);
    say!(
        io.out,
        "shortest counterexamples: emm-check check --variant NAME; variants and properties: \
         emm-check list"
    );
    // The run completed unless a limit stopped one of its searches.
    if complete {
        0
    } else {
        3
    }
}

fn run_list(io: &mut Io<'_>) -> i32 {
    say!(io.out, "variants:");
    for v in Variant::ALL {
        say!(io.out, "  {:<22} {}", v.name(), v.summary());
    }
    say!(io.out);
    say!(io.out, "properties:");
    for p in PROPERTIES {
        say!(
            io.out,
            "  {:<36} {:<10} {}",
            p.name,
            p.expectation.as_str(),
            p.summary
        );
    }
    0
}

fn run_replay(io: &mut Io<'_>, args: &ReplayArgs) -> i32 {
    let (variant, config) = match args.model.parse() {
        Ok(x) => x,
        Err(e) => return usage_error(io, &e),
    };
    let model = EmmModel::new(variant, config);
    let trace = match Trace::from_path(&model, &args.path) {
        Ok(t) => t,
        Err(e) => return usage_error(io, &format!("--path does not replay: {e}")),
    };
    let last = trace.states.last().expect("a trace has an initial state");
    let violations = model.violations(last);
    match args.format {
        Format::Json => {
            let v: Vec<_> = violations
                .iter()
                .map(|v| json!({"property": v.property, "reason": trace.explain(&model, v)}))
                .collect();
            say!(
                io.out,
                "{}",
                serde_json::to_string_pretty(&json!({
                    "variant": variant.name(),
                    "trace": trace_json(&trace),
                    "violations": v,
                }))
                .unwrap_or_default()
            );
        }
        Format::Text => {
            say!(io.out, "replaying {variant}  {}", config.to_flags());
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
    }
    0
}

fn run_explore(io: &mut Io<'_>, args: &ExploreArgs) -> i32 {
    let (variant, config) = match args.model.parse() {
        Ok(x) => x,
        Err(e) => return usage_error(io, &e),
    };
    let addr: std::net::SocketAddr = match args.addr.parse() {
        Ok(a) => a,
        Err(e) => return usage_error(io, &format!("--addr {}: {e}", args.addr)),
    };
    if !addr.ip().is_loopback() {
        return usage_error(
            io,
            &format!("--addr {addr}: serve on a loopback address only"),
        );
    }
    use stateright::Model;
    say!(
        io.err,
        "emm-check: Explorer for {variant} on http://{addr}/ (Ctrl-C to stop)"
    );
    EmmModel::new(variant, config).checker().serve(addr);
    0
}

/// Runs `emm-check` with `args` (the program name first), writing to `out` and `err`, and
/// returns the exit status.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, progress: Progress) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // --help and --version are not errors.
        Err(e) if !e.use_stderr() => {
            let _ = write!(out, "{}", e.render());
            return 0;
        }
        Err(e) => {
            // One line: clap's message without its usage block.
            let text = e.render().to_string();
            let reason: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                })
                .collect();
            say!(
                err,
                "emm-check: {} (see emm-check --help)",
                reason.join(" ")
            );
            return 2;
        }
    };
    let mut io = Io { out, err, progress };
    match &cli.command {
        None => run_default(&mut io),
        Some(Command::List) => run_list(&mut io),
        Some(Command::Check(a)) => run_check(&mut io, a),
        Some(Command::Replay(a)) => run_replay(&mut io, a),
        Some(Command::Explore(a)) => run_explore(&mut io, a),
    }
}
