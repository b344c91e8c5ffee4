//! The `emm-check` command line: parsing, the subcommands, and their output.
//!
//! The binary is a thin wrapper around [`run`], so that tests drive the same code with
//! their own output buffers. [`parse`] checks a command line without running anything: every
//! bad input (an unknown name, a count out of range, a configuration with nothing to check,
//! flags that conflict) is refused there or, for what only a file can show, when `replay FILE`
//! reads the file, always as one line on stderr and exit status 2. Exit status: 0 every
//! `always` property holds (or the default run completed), 1 one is violated, 2 bad usage, 3 a
//! limit stopped the search first.

use crate::check::{CheckOptions, CheckReport, Limit, Progress, PropertyResult, Stats, Status};
use crate::estimate::{self, Estimate};
use crate::explorer::{self, ExplorerModel};
use crate::picture::{self, Panel};
use crate::{check, tracefile, Config, EmmModel, Trace, Variant, PROPERTIES};
use clap::{Args, Parser, Subcommand, ValueEnum};
use emm_proofs::Expectation;
use serde_json::json;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    #[command(long_about = CHECK_LONG_ABOUT)]
    Check(CheckArgs),
    /// Replay a path (from a counterexample's replay line) or a trace file and print its
    /// trace.
    Replay(ReplayArgs),
    /// Serve stateright's Explorer web UI for the model on localhost, optionally opening on a
    /// counterexample.
    Explore(ExploreArgs),
}

const CHECK_LONG_ABOUT: &str = "\
Exhaustively check one variant and print each violated property's shortest counterexample \
(as a table, JSON, an SVG sequence diagram or Mermaid text).

Exit status: 0 every always property holds, 1 one is violated, 2 bad usage, 3 a limit \
(--max-states, --timeout, --max-memory) stopped the search before anything was found \
violated; the output then says what was covered.

Before searching, the state space is estimated from the programs of the actors: each thread \
has one position per step of its program (a walk over N notifiers has 1 + 2N, or 1 + 3N when \
it delivers emm_stop), and the estimate counts the ways the threads can stand at once that \
mmap_sem, the notifier lock, the reverse-map locks and the drain allow, divided by \
invalidators! (the checker sorts the VM threads) and times the choices of unregistered \
notifiers. Measured on every variant, the stored states are 0.17 to 23 times that count. \
If even a tenth of it is more than the limits allow (--max-states, --timeout at 4 M states/s \
per thread, --max-memory at 8 bytes a state), the check is refused with the estimate (exit \
2); --force searches anyway.";

#[derive(Args, Debug, Clone, Default)]
struct ModelArgs {
    /// The protocol variant (see `emm-check list`); required except when replaying a FILE.
    #[arg(long)]
    variant: Option<String>,
    /// VM threads, each running one invalidation [default: 1].
    #[arg(long)]
    invalidators: Option<usize>,
    /// Notifiers registered at the start (0: the chain starts empty) [default: 1].
    #[arg(long)]
    notifiers: Option<usize>,
    /// Notifiers registered concurrently; each driver faults once register returns
    /// [default: 1].
    #[arg(long)]
    registrations: Option<usize>,
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A table per counterexample.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// An SVG sequence diagram per counterexample, stacked in one self-contained document.
    Svg,
    /// A Mermaid `sequenceDiagram` per counterexample, separated by blank lines.
    Mermaid,
}

impl Format {
    fn is_picture(self) -> bool {
        matches!(self, Format::Svg | Format::Mermaid)
    }
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
    #[arg(long, default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(16..=1 << 40))]
    max_memory: u64,
    /// Search even when the estimate says the limits will stop the search first.
    #[arg(long)]
    force: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// With --format svg or mermaid: draw only this property's counterexample (or, for a
    /// goal, the path that reaches it); default: every violated property's.
    #[arg(long)]
    property: Option<String>,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// A trace file: the JSON document that `check --format json` or `replay --format json`
    /// writes. Model flags given with it must agree with the file.
    #[arg(value_name = "FILE", conflicts_with = "path")]
    file: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// The steps, as actor names separated by commas (`vm0,reg0,reg0,...`).
    #[arg(long)]
    path: Option<String>,
    /// With a FILE from `check`: replay this property's trace (default: the first violated
    /// one). With --format svg or mermaid: highlight where this property breaks.
    #[arg(long)]
    property: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also replay the trace on the real implementation of PROTOCOL (default: the trace's own
    /// variant), one thread per actor released one step at a time, and print both side by
    /// side. Implemented: take-all-locks, emm-stop-start, rcu-publish.
    #[arg(long, value_name = "PROTOCOL", num_args = 0..=1, default_missing_value = "")]
    on_impl: Option<String>,
    /// With --on-impl: how long to wait for a thread to take its step before reporting it
    /// blocked, in milliseconds.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    patience_ms: u64,
}

/// Replays a model trace on a real implementation: what `emm-check replay --on-impl` calls.
/// The `emm-check` binary (package `emm-cli`) links the implementation and provides it; this
/// crate does not depend on the implementation.
pub trait OnImplementation {
    /// The protocols it implements, as the model's variant names.
    fn protocols(&self) -> &[&'static str];

    /// Replays `trace` (of `model`) on `protocol`, writing the side-by-side report to `out`;
    /// returns the exit status (0 the implementation followed the trace and broke nothing, 1
    /// it broke a property or refused a step).
    fn replay(
        &self,
        protocol: &str,
        model: &EmmModel,
        trace: &Trace,
        patience: Duration,
        out: &mut dyn Write,
    ) -> i32;
}

#[derive(Args, Debug)]
struct ExploreArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to serve on (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    /// Open on the shortest counterexample of this property (or the shortest path to this
    /// goal): prints the Explorer's URL of its last state.
    #[arg(long, conflicts_with = "path")]
    counterexample: Option<String>,
    /// Open on this path (actor names separated by commas, as `replay --path` takes).
    #[arg(long)]
    path: Option<String>,
}

/// What a command line asks for, checked and ready to [`execute`].
#[derive(Debug)]
pub struct Plan(Job);

#[derive(Debug)]
enum Job {
    Default,
    List,
    Check(CheckJob),
    Replay(ReplayJob),
    Explore(ExploreJob),
}

#[derive(Debug)]
struct CheckJob {
    variant: Variant,
    config: Config,
    threads: usize,
    symmetry: bool,
    max_states: u64,
    timeout: u64,
    max_memory: u64,
    force: bool,
    format: Format,
    property: Option<&'static str>,
}

#[derive(Debug)]
enum ReplaySource {
    /// `--path`, on the variant and configuration of the flags.
    Path(Variant, Config, String),
    /// A trace file, and the model flags given with it (they must agree with the file).
    File(PathBuf, ModelArgs),
}

#[derive(Debug)]
struct ReplayJob {
    source: ReplaySource,
    format: Format,
    property: Option<&'static str>,
    /// `--on-impl`: the protocol to replay on ("" for the trace's own).
    on_impl: Option<String>,
    /// `--patience-ms`.
    patience: Duration,
}

#[derive(Debug)]
enum Start {
    Counterexample(&'static str),
    Path(String),
}

#[derive(Debug)]
struct ExploreJob {
    variant: Variant,
    config: Config,
    addr: SocketAddr,
    start: Option<Start>,
}

/// The outcome of [`parse`].
#[derive(Debug)]
pub enum Parsed {
    /// Print this and exit 0 (`--help`, `--version`).
    Print(String),
    /// Bad usage: the reason, one line (exit 2).
    Usage(String),
    /// A command to run.
    Run(Plan),
}

impl Plan {
    /// The subcommand (`check`, `replay`, `explore`, `list`), or `default` for none.
    pub fn subcommand(&self) -> &'static str {
        match &self.0 {
            Job::Default => "default",
            Job::List => "list",
            Job::Check(_) => "check",
            Job::Replay(_) => "replay",
            Job::Explore(_) => "explore",
        }
    }

    /// For `check`, the estimate of the state space it searches ([`Estimate::count`]).
    pub fn estimated_states(&self) -> Option<f64> {
        match &self.0 {
            Job::Check(c) => Some(
                Estimate::of(
                    &EmmModel::new(c.variant, c.config),
                    c.symmetry && c.config.invalidators > 1,
                )
                .count,
            ),
            _ => None,
        }
    }
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

/// The names of the variants, for error messages.
fn variant_names() -> String {
    let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
    names.join(", ")
}

/// The spec's property called `name`.
fn property_name(name: &str) -> Result<&'static str, String> {
    emm_proofs::property(name).map(|p| p.name).ok_or_else(|| {
        let names: Vec<_> = PROPERTIES.iter().map(|p| p.name).collect();
        format!(
            "unknown property '{name}' (expected one of: {})",
            names.join(", ")
        )
    })
}

/// Parses `--targets` names (`n0`, `n1`) for `unregistrations` unregistrations.
fn parse_targets(
    names: &[String],
    unregistrations: usize,
) -> Result<[u8; crate::config::MAX_UNREGISTRATIONS], String> {
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
            .strip_prefix('n')
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|&n| n != u8::MAX)
            .ok_or_else(|| format!("--targets: '{name}' is not a notifier (n0, n1, ...)"))?;
    }
    Ok(t)
}

impl ModelArgs {
    /// The variant, which the subcommand `what` needs.
    fn variant(&self, what: &str) -> Result<Variant, String> {
        match &self.variant {
            None => Err(format!(
                "{what} needs --variant (one of: {})",
                variant_names()
            )),
            Some(name) => name.parse().map_err(|e| format!("{e}")),
        }
    }

    /// The configuration of the flags, checked.
    fn config(&self) -> Result<Config, String> {
        let notifiers = self.notifiers.unwrap_or(1);
        let unregistrations = self.unregistrations.unwrap_or(notifiers.min(1));
        let targets = match &self.targets {
            None => None,
            Some(names) => Some(parse_targets(names, unregistrations)?),
        };
        let config = Config {
            invalidators: self.invalidators.unwrap_or(1),
            nested: self.nested,
            notifiers,
            registrations: self.registrations.unwrap_or(1),
            unregistrations,
            targets,
            teardown: self.teardown,
            aging: self.aging,
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    fn parse(&self, what: &str) -> Result<(Variant, Config), String> {
        Ok((self.variant(what)?, self.config()?))
    }

    /// The file's variant and configuration, with the flags given here checked against them
    /// (`--targets` may fix what the file left open).
    fn agree(&self, file: &tracefile::TraceFile) -> Result<Config, String> {
        if let Some(name) = &self.variant {
            let v: Variant = name.parse().map_err(|e| format!("{e}"))?;
            if v != file.variant {
                return Err(format!(
                    "wrong variant: the file holds a trace of {}, not {v}",
                    file.variant
                ));
            }
        }
        let c = file.config;
        let counts = [
            ("--invalidators", self.invalidators, c.invalidators),
            ("--notifiers", self.notifiers, c.notifiers),
            ("--registrations", self.registrations, c.registrations),
            ("--unregistrations", self.unregistrations, c.unregistrations),
        ];
        for (flag, given, theirs) in counts {
            if given.is_some_and(|g| g != theirs) {
                return Err(format!(
                    "wrong configuration: the file's trace was made with {flag} {theirs}, not {}",
                    given.unwrap_or_default()
                ));
            }
        }
        for (flag, given, theirs) in [
            ("--nested", self.nested, c.nested),
            ("--teardown", self.teardown, c.teardown),
            ("--aging", self.aging, c.aging),
        ] {
            if given && !theirs {
                return Err(format!(
                    "wrong configuration: the file's trace was made without {flag}"
                ));
            }
        }
        let mut config = c;
        if let Some(names) = &self.targets {
            let t = parse_targets(names, c.unregistrations)?;
            if c.targets.is_some_and(|theirs| theirs != t) {
                return Err(format!(
                    "wrong configuration: the file's trace was made with {}",
                    c.to_flags()
                ));
            }
            config.targets = Some(t);
            config.validate().map_err(|e| e.to_string())?;
        }
        Ok(config)
    }
}

fn check_job(a: &CheckArgs) -> Result<Job, String> {
    let (variant, config) = a.model.parse("check")?;
    let property = match &a.property {
        None => None,
        Some(_) if !a.format.is_picture() => {
            return Err(
                "--property picks the counterexample to draw: use it with --format svg or \
                 --format mermaid"
                    .into(),
            )
        }
        Some(name) => Some(property_name(name)?),
    };
    Ok(Job::Check(CheckJob {
        variant,
        config,
        threads: a
            .threads
            .map(usize::from)
            .unwrap_or(CheckOptions::default().threads),
        symmetry: !a.no_symmetry,
        max_states: a.max_states,
        timeout: a.timeout,
        max_memory: a.max_memory,
        force: a.force,
        format: a.format,
        property,
    }))
}

fn replay_job(a: &ReplayArgs) -> Result<Job, String> {
    let property = match &a.property {
        None => None,
        Some(_) if a.file.is_none() && !a.format.is_picture() => {
            return Err(
                "--property picks a trace of a FILE or what to highlight in a picture: use \
                 it with FILE or with --format svg or mermaid"
                    .into(),
            )
        }
        Some(name) => Some(property_name(name)?),
    };
    let source = match (&a.file, &a.path) {
        (Some(file), None) => ReplaySource::File(file.clone(), a.model.clone()),
        (None, Some(path)) => {
            let (variant, config) = a.model.parse("replay --path")?;
            ReplaySource::Path(variant, config, path.clone())
        }
        (None, None) => {
            return Err("replay needs a FILE (from check or replay --format json) or --path".into())
        }
        (Some(_), Some(_)) => return Err("replay takes a FILE or --path, not both".into()),
    };
    if a.on_impl.is_some() && a.format != Format::Text {
        return Err("--on-impl prints text only (not with --format)".into());
    }
    Ok(Job::Replay(ReplayJob {
        source,
        format: a.format,
        property,
        on_impl: a.on_impl.clone(),
        patience: Duration::from_millis(a.patience_ms),
    }))
}

fn explore_job(a: &ExploreArgs) -> Result<Job, String> {
    let (variant, config) = a.model.parse("explore")?;
    let addr: SocketAddr = a
        .addr
        .parse()
        .map_err(|e| format!("--addr {}: {e}", a.addr))?;
    if !addr.ip().is_loopback() {
        return Err(format!("--addr {addr}: serve on a loopback address only"));
    }
    let start = match (&a.counterexample, &a.path) {
        (Some(name), _) => Some(Start::Counterexample(property_name(name)?)),
        (None, Some(path)) => Some(Start::Path(path.clone())),
        (None, None) => None,
    };
    Ok(Job::Explore(ExploreJob {
        variant,
        config,
        addr,
        start,
    }))
}

/// Checks a command line (the program name first) without running anything.
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // --help and --version are not errors.
        Err(e) if !e.use_stderr() => return Parsed::Print(e.render().to_string()),
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
            let reason = reason.join(" ");
            let reason = reason.strip_prefix("error: ").unwrap_or(&reason);
            return Parsed::Usage(format!("{reason} (see emm-check --help)"));
        }
    };
    let job = match &cli.command {
        None => Ok(Job::Default),
        Some(Command::List) => Ok(Job::List),
        Some(Command::Check(a)) => check_job(a),
        Some(Command::Replay(a)) => replay_job(a),
        Some(Command::Explore(a)) => explore_job(a),
    };
    match job {
        Ok(job) => Parsed::Run(Plan(job)),
        Err(e) => Parsed::Usage(e),
    }
}

/// `msg` on one line: control characters (a newline from a file or an argument) are escaped.
fn one_line(msg: &str) -> String {
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

fn usage_error(io: &mut Io<'_>, msg: &str) -> i32 {
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
        "config": config_json(c),
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

/// A panel for one property of a check: its counterexample with the breaking step highlighted,
/// or, for a goal, the path that reaches it.
fn property_panel<'a>(model: &'a EmmModel, p: &PropertyResult, trace: &'a Trace) -> Panel<'a> {
    match p.status {
        Status::Violated => explorer::trace_panel(model, trace, Some(p.name)),
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
                emm_proofs::property(p.name).map_or("", |i| i.summary)
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

fn print_panels(io: &mut Io<'_>, format: Format, panels: &[Panel<'_>]) {
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

fn print_pictures(io: &mut Io<'_>, r: &CheckReport, format: Format, only: Option<&str>) {
    let m = &r.model;
    let chosen: Vec<(&PropertyResult, &Trace)> = r
        .properties
        .iter()
        .filter(|p| match only {
            Some(name) => p.name == name,
            None => p.status == Status::Violated,
        })
        .filter_map(|p| Some((p, p.trace.as_ref()?)))
        .collect();
    let empty = Trace::from_threads(m, m.initial_state(), &[]).expect("the empty path replays");
    let panels: Vec<Panel<'_>> = if chosen.is_empty() {
        let message = match only.and_then(|n| r.property(n)) {
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

fn run_check(io: &mut Io<'_>, job: &CheckJob) -> i32 {
    let (variant, config) = (job.variant, job.config);
    let opts = CheckOptions {
        threads: job.threads,
        symmetry: job.symmetry,
        max_states: Some(usize::try_from(job.max_states).unwrap_or(usize::MAX)),
        timeout: Some(Duration::from_secs(job.timeout)),
        max_memory: Some(job.max_memory.saturating_mul(1024 * 1024)),
        shortest: true,
        progress: io.progress,
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
    if config.aging && !variant.has_aging() {
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

/// Reads at most [`tracefile::MAX_FILE_BYTES`] of `path`.
fn read_trace_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(tracefile::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > tracefile::MAX_FILE_BYTES {
        return Err(format!(
            "{shown} is larger than {} MiB: not a trace file",
            tracefile::MAX_FILE_BYTES >> 20
        ));
    }
    Ok(bytes)
}

/// The model and trace a replay job names, or why there are none.
fn replay_trace(job: &ReplayJob) -> Result<(EmmModel, Trace, Option<&'static str>), String> {
    match &job.source {
        ReplaySource::Path(variant, config, path) => {
            let model = EmmModel::new(*variant, *config);
            let trace = Trace::from_path(&model, path)
                .map_err(|e| format!("--path does not replay: {e}"))?;
            Ok((model, trace, job.property))
        }
        ReplaySource::File(path, flags) => {
            let bytes = read_trace_file(path)?;
            let shown = path.display();
            let file =
                tracefile::parse(&bytes, job.property).map_err(|e| format!("{shown}: {e}"))?;
            let config = flags.agree(&file).map_err(|e| format!("{shown}: {e}"))?;
            let model = EmmModel::new(file.variant, config);
            let trace = tracefile::replay(&model, &file).map_err(|e| format!("{shown}: {e}"))?;
            // Only a property of the spec can be highlighted.
            let property = file.property.as_deref().and_then(|n| property_name(n).ok());
            Ok((model, trace, job.property.or(property)))
        }
    }
}

fn run_replay(io: &mut Io<'_>, job: &ReplayJob, on_impl: Option<&dyn OnImplementation>) -> i32 {
    let (model, trace, property) = match replay_trace(job) {
        Ok(x) => x,
        Err(e) => return usage_error(io, &e),
    };
    if let Some(protocol) = &job.on_impl {
        let protocol = if protocol.is_empty() {
            model.variant.name()
        } else {
            protocol.as_str()
        };
        let Some(on_impl) = on_impl else {
            return usage_error(
                io,
                "--on-impl: this build has no implementation linked (use the emm-check binary: \
                 cargo run --release --bin emm-check -- replay ...)",
            );
        };
        if !on_impl.protocols().contains(&protocol) {
            return usage_error(
                io,
                &format!(
                    "--on-impl {protocol}: no implementation of that protocol (implemented: {})",
                    on_impl.protocols().join(", ")
                ),
            );
        }
        return on_impl.replay(protocol, &model, &trace, job.patience, io.out);
    }
    let last = trace.states.last().expect("a trace has an initial state");
    let violations = model.violations(last);
    match job.format {
        Format::Json => {
            let v: Vec<_> = violations
                .iter()
                .map(|v| json!({"property": v.property, "reason": trace.explain(&model, v)}))
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
        Start::Counterexample(name) => {
            if !model.applies(name) {
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
                std::collections::BTreeSet::from([*name]),
                Some(deadline),
                None,
            );
            let (init, threads) = found.get(name).ok_or_else(|| {
                let goal = emm_proofs::property(name)
                    .is_some_and(|p| p.expectation == Expectation::Sometimes);
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
            Trace::from_threads(model, init.clone(), threads).map_err(|e| e.to_string())?
        }
    };
    let what = match start {
        Start::Counterexample(name) => format!(
            "shortest {} {name} ({} steps)",
            match emm_proofs::property(name).map(|p| p.expectation) {
                Some(Expectation::Sometimes) => "path to",
                _ => "counterexample of",
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

/// Runs a checked command line.
pub fn execute(plan: &Plan, out: &mut dyn Write, err: &mut dyn Write, progress: Progress) -> i32 {
    execute_with(plan, out, err, progress, None)
}

/// [`execute`], with the implementation that `replay --on-impl` replays traces on.
pub fn execute_with(
    plan: &Plan,
    out: &mut dyn Write,
    err: &mut dyn Write,
    progress: Progress,
    on_impl: Option<&dyn OnImplementation>,
) -> i32 {
    let mut io = Io { out, err, progress };
    match &plan.0 {
        Job::Default => run_default(&mut io),
        Job::List => run_list(&mut io),
        Job::Check(job) => run_check(&mut io, job),
        Job::Replay(job) => run_replay(&mut io, job, on_impl),
        Job::Explore(job) => run_explore(&mut io, job),
    }
}

/// Runs `emm-check` with `args` (the program name first), writing to `out` and `err`, and
/// returns the exit status. Without an implementation linked: `replay --on-impl` is refused.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, progress: Progress) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_with(args, out, err, progress, None)
}

/// [`run`], with the implementation that `replay --on-impl` replays traces on.
pub fn run_with<I, T>(
    args: I,
    out: &mut dyn Write,
    err: &mut dyn Write,
    progress: Progress,
    on_impl: Option<&dyn OnImplementation>,
) -> i32
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
            let mut io = Io { out, err, progress };
            usage_error(&mut io, &reason)
        }
        Parsed::Run(plan) => execute_with(&plan, out, err, progress, on_impl),
    }
}
