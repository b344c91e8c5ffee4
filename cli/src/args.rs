//! The command line: clap's definitions, and [`parse`], which turns a command line into a
//! checked [`Plan`] or the one-line reason it is refused (exit status 2). Every bad input (an
//! unknown name, a count out of range, a configuration with nothing to check, flags that
//! conflict) is refused here, before anything runs.

use crate::tracefile;
use clap::{Args, Parser, Subcommand, ValueEnum};
use emm_model::check::CheckOptions;
use emm_model::config::MAX_UNREGISTRATIONS;
use emm_model::estimate::Estimate;
use emm_model::{Config, EmmModel, Memory, Variant};
use emm_proofs::{Prop, PROPERTIES};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "emm-check",
    version,
    about = "Model-check the MMU/EMM notifier registration protocols",
    long_about = "Model-check the MMU/EMM notifier registration protocols.\n\nWith no \
                  subcommand, checks every variant on the default configuration (1 invalidator, \
                  1 notifier, 1 registration, 1 unregistration) and prints a verdict table.\n\n\
                  emm-check help lists the manual's topics (traces, pictures, replay, explorer, \
                  json, limits, input, memory).",
    disable_help_subcommand = true
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
    /// The timeline: every version of every family on the smallest configurations that
    /// exercise each property, each violation with its shortest trace's replay line and the
    /// version and commit that fixed it.
    History(HistoryArgs),
    /// Run C litmus tests (the kernel's format) under the model's LKMM semantics and print
    /// herd7's verdict for each. Exit status: 0 every test agrees with its `Result:` line, 1
    /// one does not, 2 a file does not parse or run.
    #[command(long_about = LITMUS_LONG_ABOUT)]
    Litmus(LitmusArgs),
    /// Print a topic of the manual (without one: the list of topics).
    Help {
        /// The topic (traces, pictures, replay, explorer, json, limits, input, memory).
        topic: Option<String>,
    },
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
notifiers. Measured on every version, the stored states are 0.13 to 12 times that count. \
If even a tenth of it is more than the limits allow (--max-states, --timeout at 4 M states/s \
per thread, --max-memory at 8 bytes a state), the check is refused with the estimate (exit \
2); --force searches anyway.";

#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ModelArgs {
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
    /// starts empty or the version has no unregister).
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
    /// Copy-on-write page faults that invalidate the page under the VMA read lock (versions
    /// with per-VMA locks: mmu-notifier@v6.4*) [default: 0].
    #[arg(long)]
    vma_faults: Option<usize>,
    /// Add the OOM reaper: one non-blocking invalidation, against which notifier n0 cannot
    /// start without sleeping (-EAGAIN) (versions with non-blocking starts: v4.19 on).
    #[arg(long)]
    oom_reaper: bool,
    /// The memory model: sequential consistency, or the kernel's (LKMM: lock-free loads may
    /// read older stores; see `emm-check help memory`) [default: sc].
    #[arg(long, value_enum)]
    memory: Option<MemoryArg>,
}

/// `--memory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum MemoryArg {
    /// Sequential consistency.
    Sc,
    /// The Linux kernel memory model, operationally.
    Lkmm,
}

impl From<MemoryArg> for Memory {
    fn from(m: MemoryArg) -> Memory {
        match m {
            MemoryArg::Sc => Memory::Sc,
            MemoryArg::Lkmm => Memory::Lkmm,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
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
    pub(crate) fn is_picture(self) -> bool {
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
    /// side. Implemented: mmu-notifier@v5.12, emm@stop-start, emm@v2 (aliases: rcu-publish, emm-stop-start).
    #[arg(long, value_name = "PROTOCOL", num_args = 0..=1, default_missing_value = "")]
    on_impl: Option<String>,
    /// With --on-impl: how long to wait for a thread to take its step before reporting it
    /// blocked, in milliseconds.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    patience_ms: u64,
}

#[derive(Args, Debug)]
pub(crate) struct HistoryArgs {
    /// Only these families (emm, mmu-notifier, interval, ours); default: all.
    #[arg(long, value_delimiter = ',')]
    family: Option<Vec<String>>,
    /// Checker threads (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Output format (text, json or svg).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The memory model every probe runs under [default: sc].
    #[arg(long, value_enum)]
    memory: Option<MemoryArg>,
}

const LITMUS_LONG_ABOUT: &str = "\
Run C litmus tests in the kernel's format (tools/memory-model/litmus-tests/) under the model's \
LKMM semantics (emm-check help memory) and print, for each, what herd7 prints: the final \
states, Ok/No, and the observation Never/Sometimes/Always with the final states that satisfy \
the condition's proposition and those that do not (distinct final states, where herd7 counts \
executions). A test whose comment states `Result: ...` is compared with the observation.

Exit status: 0 every test agrees with its stated result (or states none), 1 one disagrees, \
2 a file cannot be read, does not parse (line and column given) or cannot run, or passes \
--max-states.";

#[derive(Args, Debug)]
pub(crate) struct LitmusArgs {
    /// The litmus test files.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Stop a test's exploration after this many states (exit 2).
    #[arg(long, default_value_t = emm_model::litmus::MAX_STATES)]
    pub(crate) max_states: usize,
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

/// What a command line asks for, checked and ready to [`execute`](crate::execute).
#[derive(Debug)]
pub struct Plan(pub(crate) Job);

#[derive(Debug)]
pub(crate) enum Job {
    Default,
    List,
    History(HistoryJob),
    Help(&'static str),
    Check(CheckJob),
    Replay(ReplayJob),
    Explore(ExploreJob),
    Litmus(LitmusJob),
}

#[derive(Debug)]
pub(crate) struct LitmusJob {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) max_states: usize,
}

#[derive(Debug)]
pub(crate) struct HistoryJob {
    pub(crate) families: Vec<emm_proofs::Family>,
    pub(crate) threads: usize,
    pub(crate) format: Format,
    pub(crate) memory: Memory,
}

#[derive(Debug)]
pub(crate) struct CheckJob {
    pub(crate) variant: Variant,
    pub(crate) config: Config,
    pub(crate) threads: usize,
    pub(crate) symmetry: bool,
    pub(crate) max_states: u64,
    pub(crate) timeout: u64,
    pub(crate) max_memory: u64,
    pub(crate) force: bool,
    pub(crate) format: Format,
    pub(crate) property: Option<Prop>,
}

#[derive(Debug)]
pub(crate) enum ReplaySource {
    /// `--path`, on the variant and configuration of the flags.
    Path(Variant, Config, String),
    /// A trace file, and the model flags given with it (they must agree with the file).
    File(PathBuf, ModelArgs),
}

#[derive(Debug)]
pub(crate) struct ReplayJob {
    pub(crate) source: ReplaySource,
    pub(crate) format: Format,
    pub(crate) property: Option<Prop>,
    /// `--on-impl`: the protocol to replay on ("" for the trace's own).
    pub(crate) on_impl: Option<String>,
    /// `--patience-ms`.
    pub(crate) patience: Duration,
}

#[derive(Debug)]
pub(crate) enum Start {
    Counterexample(Prop),
    Path(String),
}

#[derive(Debug)]
pub(crate) struct ExploreJob {
    pub(crate) variant: Variant,
    pub(crate) config: Config,
    pub(crate) addr: SocketAddr,
    pub(crate) start: Option<Start>,
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
            Job::History(_) => "history",
            Job::Help(_) => "help",
            Job::Check(_) => "check",
            Job::Replay(_) => "replay",
            Job::Explore(_) => "explore",
            Job::Litmus(_) => "litmus",
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

/// The names of the variants, for error messages.
pub(crate) fn variant_names() -> String {
    let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
    names.join(", ")
}

/// The spec's property called `name`.
pub(crate) fn property_name(name: &str) -> Result<Prop, String> {
    Prop::from_name(name).ok_or_else(|| {
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
) -> Result<[u8; MAX_UNREGISTRATIONS], String> {
    if names.len() != unregistrations {
        return Err(format!(
            "--targets names {} notifiers but there are {} unregistrations",
            names.len(),
            unregistrations
        ));
    }
    let mut t = [u8::MAX; MAX_UNREGISTRATIONS];
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
    /// The configuration of the flags for `variant`, checked (also against what the version
    /// has: an unregister, per-VMA-lock faults, non-blocking starts).
    fn config(&self, variant: Option<Variant>) -> Result<Config, String> {
        let notifiers = self.notifiers.unwrap_or(1);
        let has_unregister = variant.is_none_or(|v| emm_model::program::Traits::of(v).unregister);
        let unregistrations =
            self.unregistrations
                .unwrap_or(if has_unregister { notifiers.min(1) } else { 0 });
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
            vma_faults: self.vma_faults.unwrap_or(0),
            oom_reaper: self.oom_reaper,
            memory: self.memory.map_or(Memory::Sc, Memory::from),
        };
        config.validate().map_err(|e| e.to_string())?;
        if let Some(v) = variant {
            emm_model::program::Programs::supports(v, &config).map_err(|e| e.0)?;
        }
        Ok(config)
    }

    fn parse(&self, what: &str) -> Result<(Variant, Config), String> {
        let variant = self.variant(what)?;
        Ok((variant, self.config(Some(variant))?))
    }

    /// The file's variant and configuration, with the flags given here checked against them
    /// (`--targets` may fix what the file left open).
    pub(crate) fn agree(&self, file: &tracefile::TraceFile) -> Result<Config, String> {
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
        if self.vma_faults.is_some_and(|g| g != c.vma_faults) {
            return Err(format!(
                "wrong configuration: the file's trace was made with --vma-faults {}",
                c.vma_faults
            ));
        }
        for (flag, given, theirs) in [
            ("--nested", self.nested, c.nested),
            ("--teardown", self.teardown, c.teardown),
            ("--aging", self.aging, c.aging),
            ("--oom-reaper", self.oom_reaper, c.oom_reaper),
        ] {
            if given && !theirs {
                return Err(format!(
                    "wrong configuration: the file's trace was made without {flag}"
                ));
            }
        }
        if let Some(m) = self.memory.map(Memory::from).filter(|&m| m != c.memory) {
            return Err(format!(
                "wrong configuration: the file's trace was made with --memory {}, not {m}",
                c.memory
            ));
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
    // `--on-impl` takes an optional PROTOCOL, so in `replay --on-impl trace.json` it swallows
    // the FILE: a value that names no protocol, given without a FILE or --path, is the FILE.
    let (file, on_impl) = match (&a.file, &a.path, &a.on_impl) {
        (None, None, Some(value)) if !value.is_empty() && value.parse::<Variant>().is_err() => {
            (Some(PathBuf::from(value)), Some(String::new()))
        }
        _ => (a.file.clone(), a.on_impl.clone()),
    };
    let property = match &a.property {
        None => None,
        Some(_) if file.is_none() && !a.format.is_picture() => {
            return Err(
                "--property picks a trace of a FILE or what to highlight in a picture: use \
                 it with FILE or with --format svg or mermaid"
                    .into(),
            )
        }
        Some(name) => Some(property_name(name)?),
    };
    let source = match (&file, &a.path) {
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
    if on_impl.is_some() && a.format != Format::Text {
        return Err("--on-impl prints text only (not with --format)".into());
    }
    Ok(Job::Replay(ReplayJob {
        source,
        format: a.format,
        property,
        on_impl,
        patience: Duration::from_millis(a.patience_ms),
    }))
}

fn history_job(a: &HistoryArgs) -> Result<Job, String> {
    use emm_proofs::Family;
    let families = match &a.family {
        None => Family::ALL.to_vec(),
        Some(names) => names
            .iter()
            .map(|n| {
                Family::ALL
                    .into_iter()
                    .find(|f| f.name() == n.trim())
                    .ok_or_else(|| {
                        format!(
                            "--family: no family '{n}' (expected one of: {})",
                            Family::ALL.map(Family::name).join(", ")
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if a.format == Format::Mermaid {
        return Err("history draws text, json or svg, not mermaid".into());
    }
    Ok(Job::History(HistoryJob {
        families,
        threads: a
            .threads
            .map(usize::from)
            .unwrap_or(CheckOptions::default().threads),
        format: a.format,
        memory: a.memory.map_or(Memory::Sc, Memory::from),
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
        Some(Command::History(a)) => history_job(a),
        Some(Command::Help { topic: None }) => Ok(Job::Help("")),
        Some(Command::Help { topic: Some(name) }) => match crate::help::topic(name) {
            Some(t) => Ok(Job::Help(t.name)),
            None => Err(format!(
                "no help topic '{name}' (topics: {})",
                crate::help::TOPICS
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        Some(Command::Check(a)) => check_job(a),
        Some(Command::Replay(a)) => replay_job(a),
        Some(Command::Explore(a)) => explore_job(a),
        Some(Command::Litmus(a)) => Ok(Job::Litmus(LitmusJob {
            files: a.files.clone(),
            max_states: a.max_states,
        })),
    };
    match job {
        Ok(job) => Parsed::Run(Plan(job)),
        Err(e) => Parsed::Usage(e),
    }
}
