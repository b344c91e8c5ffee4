//! The timeline: every version of every family checked on the smallest configurations that
//! exercise each property, and for every violation the next version of the family where that
//! property holds, with the commit that made that version.
//!
//! The probes are fixed configurations, each the smallest that puts one race on the table
//! ([`PROBES`]); a version is checked on every probe whose actors it has. A property's status in
//! a version is `violated` if some probe breaks it (the first such probe, in table order, gives
//! its shortest trace), `holds` if every probe that can exercise it ran to completion without
//! breaking it, `n/a` if none can. Nothing here knows a version's expected verdict: each cell is
//! what the checker found.

use crate::check::{check, CheckOptions, CheckReport, Status};
use crate::config::{Config, Memory, Variant};
use crate::program::Programs;
use crate::trace::Trace;
use emm_proofs::{Expectation, Family, Prop};
use std::time::Instant;

/// A configuration of the timeline, and what it is there for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Its name in the table.
    pub name: &'static str,
    /// The actors.
    pub config: Config,
    /// The race it puts on the table.
    pub exercises: &'static str,
}

/// The extra actors of a probe.
#[derive(Clone, Copy)]
struct Extra {
    teardown: bool,
    aging: bool,
    vma_faults: usize,
    oom_reaper: bool,
}

const NONE: Extra = Extra {
    teardown: false,
    aging: false,
    vma_faults: 0,
    oom_reaper: false,
};

/// A probe of `invalidators`, `notifiers`, `registrations` and `unregistrations`, and `extra`.
const fn probe(
    name: &'static str,
    exercises: &'static str,
    counts: [usize; 4],
    extra: Extra,
) -> Probe {
    Probe {
        name,
        exercises,
        config: Config {
            invalidators: counts[0],
            nested: false,
            notifiers: counts[1],
            registrations: counts[2],
            unregistrations: counts[3],
            targets: None,
            teardown: extra.teardown,
            aging: extra.aging,
            vma_faults: extra.vma_faults,
            oom_reaper: extra.oom_reaper,
            memory: Memory::Sc,
        },
    }
}

/// The probes, one per race: `[invalidators, notifiers, registrations, unregistrations]`.
pub const PROBES: &[Probe] = &[
    probe(
        "registration",
        "a register racing one reclaim invalidation",
        [1, 1, 1, 0],
        NONE,
    ),
    probe(
        "unregistration",
        "an unregister of either of two notifiers racing one reclaim invalidation",
        [1, 2, 0, 1],
        NONE,
    ),
    probe(
        "teardown",
        "exit_mmap racing one reclaim invalidation (race A)",
        [1, 1, 0, 0],
        Extra {
            teardown: true,
            ..NONE
        },
    ),
    probe(
        "teardown-unregister",
        "exit_mmap racing an unregister of the same notifier",
        [0, 1, 0, 1],
        Extra {
            teardown: true,
            ..NONE
        },
    ),
    probe(
        "aging",
        "an aging walk over two notifiers that both see the page young",
        [1, 2, 0, 0],
        Extra {
            aging: true,
            ..NONE
        },
    ),
    probe(
        "oom-reaper",
        "the OOM reaper's non-blocking start, n0 failing it, n1 counting (race B)",
        [0, 2, 0, 0],
        Extra {
            oom_reaper: true,
            ..NONE
        },
    ),
    probe(
        "vma-fault",
        "a COW fault under the VMA lock racing a register (race C)",
        [0, 0, 1, 0],
        Extra {
            vma_faults: 1,
            ..NONE
        },
    ),
];

/// Whether `probe` can run on `variant`: the version has its actors, and the actor the probe
/// is about exists there (interval notifiers have no aging walk).
pub fn runs_on(probe: &Probe, variant: Variant) -> bool {
    if Programs::supports(variant, &probe.config).is_err() {
        return false;
    }
    !(probe.config.aging && Programs::new(variant, &probe.config).aging.is_empty())
}

/// One property of one version.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The property.
    pub prop: Prop,
    /// Violated, holds, n/a, or unknown (a limit stopped a probe that could exercise it).
    pub status: Status,
    /// For a violation: the probe that found it first (in table order), and its shortest trace.
    pub found: Option<(Probe, Trace)>,
    /// For a violation: the later probes that break it too.
    pub also: Vec<Probe>,
    /// For a violation: the next version of the family where the property holds.
    pub fixed_in: Option<Variant>,
}

/// One version's row of the timeline.
#[derive(Clone, Debug)]
pub struct Row {
    /// The version.
    pub variant: Variant,
    /// Each property of the table, in table order (goals omitted: they show a probe is not
    /// vacuous, which [`Row::unreached`] reports).
    pub cells: Vec<Cell>,
    /// The probes it ran on, with the states each stored.
    pub probes: Vec<(Probe, usize)>,
    /// Goals a probe could reach but did not: the probe is vacuous there.
    pub unreached: Vec<(Probe, Prop)>,
    /// Seconds for the row.
    pub seconds: f64,
}

/// The whole timeline.
#[derive(Clone, Debug)]
pub struct History {
    /// One row per version, families in order, oldest first.
    pub rows: Vec<Row>,
    /// The memory model its checks ran under.
    pub memory: Memory,
    /// Seconds in all.
    pub seconds: f64,
}

impl History {
    /// The row of `variant`.
    pub fn row(&self, variant: Variant) -> Option<&Row> {
        self.rows.iter().find(|r| r.variant == variant)
    }

    /// The status of `prop` in `variant`.
    pub fn status(&self, variant: Variant, prop: Prop) -> Option<Status> {
        self.row(variant)?
            .cells
            .iter()
            .find(|c| c.prop == prop)
            .map(|c| c.status)
    }
}

/// The safety properties of the timeline, in table order.
pub fn columns() -> impl Iterator<Item = Prop> {
    Prop::ALL
        .iter()
        .copied()
        .filter(|p| p.expectation() == Expectation::Always && *p != Prop::InductiveInvariant)
}

fn row(variant: Variant, memory: Memory, opts: &CheckOptions) -> Row {
    let t0 = Instant::now();
    let mut reports: Vec<(Probe, CheckReport)> = Vec::new();
    for probe in PROBES.iter().filter(|p| runs_on(p, variant)) {
        let config = Config {
            memory,
            ..probe.config
        };
        reports.push((*probe, check(variant, config, opts)));
    }
    let mut cells = Vec::new();
    for prop in columns() {
        let mut status = Status::NotApplicable;
        let mut found = None;
        let mut also = Vec::new();
        for (probe, r) in &reports {
            let p = r.property(prop);
            match p.status {
                Status::Violated if status == Status::Violated => also.push(*probe),
                Status::Violated => {
                    status = Status::Violated;
                    found = p.trace.clone().map(|t| (*probe, t));
                }
                Status::Unknown if status != Status::Violated => status = Status::Unknown,
                Status::Holds if status == Status::NotApplicable => status = Status::Holds,
                _ => {}
            }
        }
        cells.push(Cell {
            prop,
            status,
            found,
            also,
            fixed_in: None,
        });
    }
    let unreached = reports
        .iter()
        .flat_map(|(probe, r)| r.unreached().into_iter().map(move |g| (*probe, g)))
        .collect();
    Row {
        variant,
        cells,
        probes: reports
            .iter()
            .map(|(p, r)| (*p, r.stats.unique_states))
            .collect(),
        unreached,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// Checks every version of `families` on every probe it can run (with `opts`, whose
/// shortest-path search gives each violation's trace), and links each violation to the next
/// version that holds.
pub fn history(families: &[Family], opts: &CheckOptions) -> History {
    history_under(families, Memory::Sc, opts)
}

/// [`history`] under `memory`: every probe's configuration run under that memory model.
pub fn history_under(families: &[Family], memory: Memory, opts: &CheckOptions) -> History {
    let t0 = Instant::now();
    let mut rows: Vec<Row> = Variant::ALL
        .into_iter()
        .filter(|v| families.contains(&v.family()))
        .map(|v| row(v, memory, opts))
        .collect();
    let status = |rows: &[Row], v: Variant, prop: Prop| {
        rows.iter()
            .find(|r| r.variant == v)
            .and_then(|r| r.cells.iter().find(|c| c.prop == prop))
            .map(|c| c.status)
    };
    let fixes: Vec<Vec<Option<Variant>>> = rows
        .iter()
        .map(|r| {
            r.cells
                .iter()
                .map(|c| {
                    (c.status == Status::Violated)
                        .then(|| {
                            r.variant
                                .later()
                                .find(|&w| status(&rows, w, c.prop) == Some(Status::Holds))
                        })
                        .flatten()
                })
                .collect()
        })
        .collect();
    for (r, fix) in rows.iter_mut().zip(fixes) {
        for (c, f) in r.cells.iter_mut().zip(fix) {
            c.fixed_in = f;
        }
    }
    History {
        rows,
        memory,
        seconds: t0.elapsed().as_secs_f64(),
    }
}
