//! Running the checker: an exhaustive depth-first search for the verdict, then one
//! breadth-first search for a shortest path to each violated property and reached goal, all
//! within state, time and memory limits.
//!
//! Two facts of stateright 0.31 shape this. Its symmetry reduction applies only to DFS, so the
//! verdict comes from DFS (with symmetry, on all threads). Its BFS records a property's path
//! again at every later state that violates it, overwriting the first (shortest) one with longer
//! ones; the model checked here reports each property once per run
//! ([`EmmModel::reporting_once`]), so a single-threaded BFS, which checks states in order of
//! depth, keeps the first discovery, and that one is a shortest path. The tests confirm each
//! printed counterexample against [`violated_within`], a depth-bounded BFS that does not rely
//! on this.

use crate::config::{Config, Variant};
use crate::model::{EmmModel, Step};
use crate::state::State;
use crate::trace::Trace;
use emm_proofs::{Expectation, Prop, Standing};
use stateright::{Checker, HasDiscoveries, Model};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Limits and knobs of one check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Checker threads.
    pub threads: usize,
    /// Reduce each stored state to its representative (`State::representative`).
    pub symmetry: bool,
    /// Stop after this many generated states (stateright's state count).
    pub max_states: Option<usize>,
    /// Stop after this long (the whole check, shortest searches included).
    pub timeout: Option<Duration>,
    /// Stop when the process's resident memory exceeds this many bytes.
    pub max_memory: Option<u64>,
    /// Search a shortest counterexample for each violated property.
    pub shortest: bool,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            symmetry: true,
            max_states: None,
            timeout: None,
            max_memory: None,
            shortest: true,
            progress: Arc::new(Silent),
        }
    }
}

/// Where a running check reports how far it has got: the CLI draws a live line on a terminal
/// or prints one every few seconds to a log. Every method defaults to doing nothing.
pub trait Progress: Send + Sync + fmt::Debug {
    /// The search of `label` has stored `unique` states, at `rate` unique states a second, the
    /// deepest `depth` steps from an initial state. Called every few milliseconds.
    fn update(&self, label: &str, unique: usize, rate: f64, depth: usize) {
        let _ = (label, unique, rate, depth);
    }

    /// The check of `label` goes on with `what` (the shortest-path search).
    fn note(&self, label: &str, what: &str) {
        let _ = (label, what);
    }

    /// The check of `label` is over.
    fn finish(&self, label: &str) {
        let _ = label;
    }
}

impl CheckOptions {
    /// Options whose counts do not vary from run to run: one checker thread (stateright's DFS
    /// with symmetry on two threads can count a few states more or less from run to run), no
    /// limits, no progress.
    pub fn deterministic(symmetry: bool, shortest: bool) -> CheckOptions {
        CheckOptions {
            threads: 1,
            symmetry,
            shortest,
            ..CheckOptions::default()
        }
    }
}

/// Checks every variant on `config`, in the order of [`Variant::ALL`].
pub fn every_variant(config: Config, opts: &CheckOptions) -> Vec<CheckReport> {
    Variant::ALL
        .into_iter()
        .map(|v| check(v, config, opts))
        .collect()
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// What a property's check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A safety property held in every reachable state.
    Holds,
    /// A safety property was broken.
    Violated,
    /// A goal was reached.
    Reached,
    /// A goal that the configuration could exercise was never reached: vacuous there.
    Unreached,
    /// The configuration cannot exercise it.
    NotApplicable,
    /// A limit stopped the search before it could tell.
    Unknown,
}

impl Status {
    /// The status as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Violated => "violated",
            Status::Reached => "reached",
            Status::Unreached => "unreached",
            Status::NotApplicable => "n/a",
            Status::Unknown => "unknown",
        }
    }
}

/// The outcome of the whole check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every safety property the kernel guarantees holds over the whole state space (an
    /// advisory one may be reported violated).
    Holds,
    /// Some guaranteed safety property is broken.
    Violated,
    /// A limit stopped the search first and nothing was found broken.
    Incomplete,
}

impl Verdict {
    /// The verdict as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "violated",
            Verdict::Incomplete => "incomplete",
        }
    }
    /// The CLI's exit status for it.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Holds => 0,
            Verdict::Violated => 1,
            Verdict::Incomplete => 3,
        }
    }
}

/// The limit that stopped a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `--max-states`.
    MaxStates,
    /// `--timeout`.
    Timeout,
    /// `--max-memory`.
    MaxMemory,
}

impl Limit {
    /// The command-line flag that sets the limit.
    pub fn flag(self) -> &'static str {
        match self {
            Limit::MaxStates => "--max-states",
            Limit::Timeout => "--timeout",
            Limit::MaxMemory => "--max-memory",
        }
    }
}

/// One property's result.
#[derive(Clone, Debug)]
pub struct PropertyResult {
    /// The property.
    pub prop: Prop,
    /// The spec's name.
    pub name: &'static str,
    /// Always or sometimes.
    pub expectation: Expectation,
    /// What the check found.
    pub status: Status,
    /// For a violation, its shortest counterexample (when searched); for a reached goal, a
    /// path to it.
    pub trace: Option<Trace>,
    /// Whether `trace` is known to be a shortest one.
    pub shortest: bool,
}

/// Counts and timings of one check.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Distinct states (up to symmetry) the DFS stored.
    pub unique_states: usize,
    /// States generated, duplicates included.
    pub states: usize,
    /// Deepest path, in states.
    pub max_depth: usize,
    /// Wall time of the whole check.
    pub seconds: f64,
    /// Wall time of the exhaustive search alone.
    pub search_seconds: f64,
    /// Unique states per second of the exhaustive search.
    pub states_per_second: f64,
    /// Growth of resident memory during the exhaustive search, in bytes.
    pub memory_bytes: u64,
    /// `memory_bytes` per unique state.
    pub bytes_per_state: f64,
    /// Wall time of the shortest-counterexample searches.
    pub shortest_seconds: f64,
    /// Peak resident memory of the whole process so far (`VmHWM`), in bytes.
    pub peak_rss_bytes: u64,
    /// Under lkmm, some weak location's history reached the cap and lost stores a thread
    /// could still have read ([`EmmModel::histories_capped`]).
    pub histories_capped: bool,
}

/// Everything one check found.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The model that was checked.
    pub model: EmmModel,
    /// The verdict.
    pub verdict: Verdict,
    /// Each property of the spec's table ([`emm_proofs::PROPERTIES`]), in that order.
    pub properties: Vec<PropertyResult>,
    /// Counts and timings.
    pub stats: Stats,
    /// The limit that stopped the search, if one did.
    pub limit: Option<Limit>,
}

impl CheckReport {
    /// The safety properties found broken.
    pub fn violated(&self) -> Vec<Prop> {
        self.properties
            .iter()
            .filter(|p| p.status == Status::Violated)
            .map(|p| p.prop)
            .collect()
    }

    /// Goals the configuration could exercise but never reached: the model is vacuous there.
    pub fn unreached(&self) -> Vec<Prop> {
        self.properties
            .iter()
            .filter(|p| p.status == Status::Unreached)
            .map(|p| p.prop)
            .collect()
    }

    /// The result of `prop`.
    pub fn property(&self, prop: Prop) -> &PropertyResult {
        &self.properties[prop as usize]
    }
}

/// Peak resident memory of this process (`VmHWM`), in bytes (0 where `/proc` is missing).
pub fn peak_resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Resident memory of this process, in bytes (0 where `/proc` is missing).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// A search's progress, reported at most every few milliseconds to the options' [`Progress`].
struct Watch {
    progress: Arc<dyn Progress>,
    label: String,
}

impl Watch {
    fn new(progress: Arc<dyn Progress>, label: String) -> Watch {
        Watch { progress, label }
    }

    fn update(&mut self, unique: usize, rate: f64, depth: usize) {
        self.progress.update(&self.label, unique, rate, depth);
    }

    fn note(&mut self, msg: &str) {
        self.progress.note(&self.label, msg);
    }

    fn finish(&mut self) {
        self.progress.finish(&self.label);
    }
}

/// Waits for `checker`, reporting progress and enforcing the limits. Returns the limit that
/// stopped it, if one did.
fn supervise<C: Checker<EmmModel>>(
    checker: &C,
    model: &EmmModel,
    opts: &CheckOptions,
    deadline: Option<Instant>,
    watch: &mut Watch,
) -> Option<Limit> {
    let started = Instant::now();
    let halt = model.halt_switch();
    let mut limit = None;
    let mut nap = Duration::from_millis(1);
    while !checker.is_done() {
        // Short naps while the search is young, so that a small search is not rounded up to
        // the poll interval (its time is measured when this loop sees it done).
        std::thread::sleep(nap);
        let cap = if started.elapsed() < Duration::from_secs(1) {
            2
        } else {
            100
        };
        nap = (nap * 2).min(Duration::from_millis(cap));
        let unique = checker.unique_state_count();
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        watch.update(unique, unique as f64 / secs, checker.max_depth());
        if limit.is_some() {
            continue;
        }
        if let Some(max) = opts.max_memory {
            if resident_bytes() > max {
                limit = Some(Limit::MaxMemory);
                halt.store(true, Ordering::Relaxed);
            }
        }
        if let Some(max) = opts.max_states {
            if checker.state_count() >= max {
                limit = Some(Limit::MaxStates);
                halt.store(true, Ordering::Relaxed);
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            limit = Some(Limit::Timeout);
            halt.store(true, Ordering::Relaxed);
        }
    }
    limit
}

/// Checks `variant` on `config`.
pub fn check(variant: Variant, config: Config, opts: &CheckOptions) -> CheckReport {
    check_model(EmmModel::new(variant, config), opts)
}

/// Checks `model` (built with [`EmmModel::new`] or [`EmmModel::with_programs`]).
pub fn check_model(model: EmmModel, opts: &CheckOptions) -> CheckReport {
    let (variant, config) = (model.variant, model.config);
    let t0 = Instant::now();
    let deadline = opts.timeout.map(|t| t0 + t);
    let mut watch = Watch::new(Arc::clone(&opts.progress), variant.name().to_string());

    let rss_before = resident_bytes();
    let searched = model.reporting_once();
    let mut builder = searched.clone().checker().threads(opts.threads.max(1));
    // With one VM thread and one initial notifier there is nothing to permute: skip the
    // representative's extra copy and hash of every state.
    if opts.symmetry && (config.invalidators > 1 || config.notifiers > 1) {
        builder = builder.symmetry();
    }
    if let Some(max) = opts.max_states {
        builder = builder.target_state_count(max);
    }
    let checker = builder.spawn_dfs();
    let mut limit = supervise(&checker, &searched, opts, deadline, &mut watch);
    let checker = checker.join();
    let search_seconds = t0.elapsed().as_secs_f64();
    let memory_bytes = resident_bytes().saturating_sub(rss_before);
    // stateright's own target count can stop the search between two polls.
    if limit.is_none() && opts.max_states.is_some_and(|m| checker.state_count() >= m) {
        limit = Some(Limit::MaxStates);
    }
    let unique = checker.unique_state_count();
    let mut stats = Stats {
        unique_states: unique,
        states: checker.state_count(),
        max_depth: checker.max_depth(),
        search_seconds,
        states_per_second: unique as f64 / search_seconds.max(1e-9),
        memory_bytes,
        bytes_per_state: memory_bytes as f64 / unique.max(1) as f64,
        ..Stats::default()
    };
    // Paths are rebuilt by replaying the model's actions, so the halt switch must be off
    // again (the search threads have finished).
    searched.halt_switch().store(false, Ordering::Relaxed);
    let discoveries = checker.discoveries();
    drop(checker);
    let complete = limit.is_none();

    let mut properties = Vec::new();
    for p in emm_proofs::PROPERTIES {
        let found = discoveries.get(p.name);
        let applies = model.applies(p.prop);
        let status = match (p.expectation, found.is_some()) {
            (Expectation::Always, true) => Status::Violated,
            (Expectation::Sometimes, true) => Status::Reached,
            (_, false) if !applies => Status::NotApplicable,
            (_, false) if !complete => Status::Unknown,
            (Expectation::Always, false) => Status::Holds,
            (Expectation::Sometimes, false) => Status::Unreached,
        };
        let trace = found.map(|path| {
            let (init, steps) = path_steps(path.clone());
            Trace::from_steps(&model, init, &steps).expect("a checker path replays")
        });
        properties.push(PropertyResult {
            prop: p.prop,
            name: p.name,
            expectation: p.expectation,
            status,
            trace,
            shortest: false,
        });
    }

    let t_short = Instant::now();
    if opts.shortest {
        let wanted: BTreeSet<&'static str> = properties
            .iter()
            .filter(|p| matches!(p.status, Status::Violated | Status::Reached))
            .map(|p| p.name)
            .collect();
        if !wanted.is_empty() && deadline.is_none_or(|d| Instant::now() < d) {
            watch.note("shortest paths (breadth-first)");
            let found = shortest_paths(&model, wanted, deadline, opts.max_memory);
            for p in properties.iter_mut() {
                if let Some((init, threads)) = found.get(p.name) {
                    p.trace = Some(
                        Trace::from_steps(&model, init.clone(), threads)
                            .expect("a checker path replays"),
                    );
                    p.shortest = true;
                }
            }
        }
    }
    watch.finish();
    stats.shortest_seconds = t_short.elapsed().as_secs_f64();
    stats.seconds = t0.elapsed().as_secs_f64();
    stats.peak_rss_bytes = peak_resident_bytes();
    stats.histories_capped = model.histories_capped();

    // An advisory property is reported under its name but does not make the verdict.
    let verdict = if properties
        .iter()
        .any(|p| p.status == Status::Violated && p.prop.info().standing == Standing::Guarantee)
    {
        Verdict::Violated
    } else if complete {
        Verdict::Holds
    } else {
        Verdict::Incomplete
    };
    CheckReport {
        model,
        verdict,
        properties,
        stats,
        limit,
    }
}

/// Paths found by a search, by property: each an initial state and its steps.
pub type Paths = BTreeMap<&'static str, (State, Vec<Step>)>;

/// A checker path as its initial state and its steps.
fn path_steps(path: stateright::Path<State, Step>) -> (State, Vec<Step>) {
    let steps = path.into_vec();
    let init = steps[0].0.clone();
    let taken = steps.iter().filter_map(|(_, a)| *a).collect();
    (init, taken)
}

/// A path to each property in `wanted`, as its initial state and thread steps, from one
/// single-threaded BFS that stops as soon as all are found. With `max_steps`, only states
/// within that many steps are checked. A property missing from the result was not found
/// before the search ended (or a limit, returned too, stopped it).
fn bfs(
    model: &EmmModel,
    wanted: BTreeSet<&'static str>,
    max_steps: Option<usize>,
    deadline: Option<Instant>,
    max_memory: Option<u64>,
) -> (Paths, Option<Limit>) {
    let searched = model.reporting_once();
    let mut builder = searched
        .clone()
        .checker()
        .threads(1)
        .finish_when(HasDiscoveries::AllOf(wanted.clone()));
    if let Some(steps) = max_steps {
        // stateright counts the initial state as depth 1 and skips states whose depth reaches
        // the target before checking them, so `steps + 2` checks every state within `steps`.
        builder = builder.target_max_depth(steps + 2);
    }
    let checker = builder.spawn_bfs();
    let opts = CheckOptions {
        max_memory,
        ..CheckOptions::default()
    };
    let mut watch = Watch::new(Arc::new(Silent), String::new());
    let limit = supervise(&checker, &searched, &opts, deadline, &mut watch);
    let checker = checker.join();
    searched.halt_switch().store(false, Ordering::Relaxed);
    let found = wanted
        .into_iter()
        .filter_map(|name| Some((name, path_steps(checker.discovery(name)?))))
        .collect();
    (found, limit)
}

/// A shortest path to each property in `wanted` (its initial state and thread steps). The BFS
/// checks states in order of depth and the model reports each property once, so the first
/// path found to each is a shortest one.
pub fn shortest_paths(
    model: &EmmModel,
    wanted: BTreeSet<&'static str>,
    deadline: Option<Instant>,
    max_memory: Option<u64>,
) -> Paths {
    bfs(model, wanted, None, deadline, max_memory).0
}

/// Whether any state within `steps` steps violates `name`: a BFS bounded in depth, whose answer
/// does not depend on which discovery it keeps (the tests check printed counterexamples
/// against it).
pub fn violated_within(model: &EmmModel, name: &'static str, steps: usize) -> bool {
    let (found, _) = bfs(model, BTreeSet::from([name]), Some(steps), None, None);
    found.contains_key(name)
}

/// Every property's name as the model declares it to stateright (to compare with
/// [`emm_proofs::PROPERTIES`]).
pub fn model_property_names(model: &EmmModel) -> Vec<&'static str> {
    model.properties().iter().map(|p| p.name).collect()
}
