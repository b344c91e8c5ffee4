//! `emm-check`: the model checker of the MMU/EMM notifier registration protocols.
//!
//! With no arguments it checks every variant on the built-in default configuration and prints
//! one row per variant. `emm-check --help` lists the subcommands.

use clap::{Args, Parser, Subcommand, ValueEnum};
use emm_model::check::{CheckOptions, CheckReport, Limit, Progress, Status, Stats};
use emm_model::{check, Config, EmmModel, Trace, Variant};
use emm_proofs::PROPERTIES;
use serde_json::json;
use std::io::IsTerminal;
use std::process::ExitCode;
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
    /// Unregistrations of notifiers registered at the start.
    #[arg(long, default_value_t = 1)]
    unregistrations: usize,
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
    /// Turn symmetry reduction (over interchangeable VM threads) off.
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

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("emm-check: error: {msg}");
    ExitCode::from(2)
}

impl ModelArgs {
    fn parse(&self) -> Result<(Variant, Config), String> {
        let variant: Variant = self.variant.parse().map_err(|e| format!("{e}"))?;
        let config = Config {
            invalidators: self.invalidators,
            nested: self.nested,
            notifiers: self.notifiers,
            registrations: self.registrations,
            unregistrations: self.unregistrations,
            teardown: self.teardown,
            aging: self.aging,
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok((variant, config))
    }
}

fn progress() -> Progress {
    if std::io::stderr().is_terminal() {
        Progress::Bar
    } else {
        Progress::Lines
    }
}

fn replay_line(model: &EmmModel, trace: &Trace) -> String {
    format!(
        "emm-check replay --variant {} {} --path {}",
        model.variant,
        model.config.to_flags(),
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

fn report_json(r: &CheckReport) -> serde_json::Value {
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
                    if let Some(viol) = t.first_violation(&r.model, p.name).map(|(_, v)| v) {
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

fn print_text(r: &CheckReport) {
    let m = &r.model;
    println!("checking {}  {}", m.variant, m.config.to_flags());
    let s = &r.stats;
    println!(
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
        println!(
            "INCOMPLETE: {} stopped the search after {} unique states; statuses below cover \
             only that part",
            limit_text(l),
            s.unique_states
        );
    }
    println!();
    println!("{:<36} {:<10} status", "property", "expect");
    for p in &r.properties {
        println!("{:<36} {:<10} {}", p.name, p.expectation.as_str(), p.status.as_str());
    }
    for p in r.properties.iter().filter(|p| p.status == Status::Unreached) {
        eprintln!(
            "warning: goal {} was never reached: the model is vacuous there for this \
             configuration",
            p.name
        );
    }
    for p in r.properties.iter().filter(|p| p.status == Status::Violated) {
        let Some(t) = &p.trace else { continue };
        println!();
        println!(
            "VIOLATED always {}  ({} steps{})",
            p.name,
            t.steps.len(),
            if p.shortest { ", shortest" } else { "" }
        );
        println!();
        print!("{}", t.render(m));
        if let Some((_, v)) = t.first_violation(m, p.name) {
            println!();
            println!("{}", t.explain(m, &v));
        }
        println!("replay: {}", replay_line(m, t));
    }
    println!();
    println!("verdict: {}", r.verdict.as_str());
}

fn run_check(args: &CheckArgs) -> ExitCode {
    let (variant, config) = match args.model.parse() {
        Ok(x) => x,
        Err(e) => return usage_error(&e),
    };
    let opts = CheckOptions {
        threads: args
            .threads
            .map(usize::from)
            .unwrap_or(CheckOptions::default().threads),
        symmetry: !args.no_symmetry,
        max_states: Some(usize::try_from(args.max_states).unwrap_or(usize::MAX)),
        timeout: Some(Duration::from_secs(args.timeout)),
        max_memory: Some(args.max_memory * 1024 * 1024),
        shortest: true,
        progress: progress(),
    };
    let report = check(variant, config, &opts);
    match args.format {
        Format::Text => print_text(&report),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&report)).unwrap_or_default()
        ),
    }
    ExitCode::from(report.verdict.exit_code() as u8)
}

fn run_default() -> ExitCode {
    let config = Config::default();
    println!("emm-check: every variant on the default configuration ({})", config.to_flags());
    println!();
    println!(
        "{:<22} {:<10} {:<58} {:>10} {:>8}",
        "variant", "verdict", "violated properties", "states", "seconds"
    );
    let opts = CheckOptions {
        shortest: false,
        timeout: Some(Duration::from_secs(600)),
        max_memory: Some(16 << 30),
        progress: progress(),
        ..CheckOptions::default()
    };
    let mut warnings = Vec::new();
    for variant in Variant::ALL {
        let r = check(variant, config, &opts);
        let violated = r.violated();
        println!(
            "{:<22} {:<10} {:<58} {:>10} {:>8.2}",
            variant.name(),
            r.verdict.as_str(),
            if violated.is_empty() {
                "-".to_string()
            } else {
                violated.join(", ")
            },
            r.stats.unique_states,
            r.stats.seconds
        );
        for g in r.unreached() {
            warnings.push(format!(
                "warning: {variant}: goal {g} was never reached (vacuous there)"
            ));
        }
    }
    for w in &warnings {
        eprintln!("{w}");
    }
    println!();
    println!(
        "details and shortest counterexamples: emm-check check --variant NAME; all variants \
         and properties: emm-check list"
    );
    ExitCode::SUCCESS
}

fn run_list() -> ExitCode {
    println!("variants:");
    for v in Variant::ALL {
        println!("  {:<22} {}", v.name(), v.summary());
    }
    println!();
    println!("properties:");
    for p in PROPERTIES {
        println!("  {:<36} {:<10} {}", p.name, p.expectation.as_str(), p.summary);
    }
    ExitCode::SUCCESS
}

fn run_replay(args: &ReplayArgs) -> ExitCode {
    let (variant, config) = match args.model.parse() {
        Ok(x) => x,
        Err(e) => return usage_error(&e),
    };
    let model = EmmModel::new(variant, config);
    let trace = match Trace::from_path(&model, &args.path) {
        Ok(t) => t,
        Err(e) => return usage_error(&format!("--path does not replay: {e}")),
    };
    let violations = trace.final_violations(&model);
    match args.format {
        Format::Json => {
            let v: Vec<_> = violations
                .iter()
                .map(|v| json!({"property": v.property, "reason": trace.explain(&model, v)}))
                .collect();
            println!(
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
            println!("replaying {variant}  {}", config.to_flags());
            println!();
            print!("{}", trace.render(&model));
            println!();
            if violations.is_empty() {
                println!("no property is violated in the last state");
            }
            for v in &violations {
                println!("{}", trace.explain(&model, v));
            }
        }
    }
    ExitCode::SUCCESS
}

fn run_explore(args: &ExploreArgs) -> ExitCode {
    let (variant, config) = match args.model.parse() {
        Ok(x) => x,
        Err(e) => return usage_error(&e),
    };
    let addr: std::net::SocketAddr = match args.addr.parse() {
        Ok(a) => a,
        Err(e) => return usage_error(&format!("--addr {}: {e}", args.addr)),
    };
    if !addr.ip().is_loopback() {
        return usage_error(&format!("--addr {addr}: serve on a loopback address only"));
    }
    use stateright::Model;
    eprintln!("emm-check: Explorer for {variant} on http://{addr}/ (Ctrl-C to stop)");
    EmmModel::new(variant, config).checker().serve(addr);
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        None => run_default(),
        Some(Command::List) => run_list(),
        Some(Command::Check(a)) => run_check(a),
        Some(Command::Replay(a)) => run_replay(a),
        Some(Command::Explore(a)) => run_explore(a),
    }
}
