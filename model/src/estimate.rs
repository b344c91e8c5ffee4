//! A cheap estimate of a configuration's state space, made before any search, so that a
//! configuration far beyond the limits is refused up front instead of running until a limit
//! stops it.
//!
//! # The estimate
//!
//! A state is mostly the position of each thread: its program counter and, inside a walk, the
//! node it stands on and whether it is about to call, wait on or leave that node. A thread's
//! program has one position per single-step op, `1 + 2N` per walk over a chain of `N`
//! notifiers (its first step, then a call and a `next` load per node; `1 + 3N` for a walk that
//! delivers `emm_stop`, which also waits at each node), and one for "finished".
//!
//! The estimate counts the ways the threads can stand at once, leaving out those that the
//! locks forbid: at most one thread inside `mmap_sem` or the notifier spinlock, no VM thread
//! inside its reverse-map read lock while a registrar holds them all (`mm_take_all_locks`), and
//! no walk window open while a drained register or unregister runs. It counts them exactly, by
//! a sum over the threads, one at a time, keyed by which locks are held (a handful of keys), so
//! it costs microseconds whatever the configuration. The VM threads run the same program and
//! the checker sorts them, which divides the count by `invalidators!`; each choice of the
//! notifiers that the unregistrations take is a separate initial state, which multiplies it.
//!
//! What it leaves out, the shared data (the chain's shape, the frames, each driver's counters)
//! and the waits, moves the real count both ways. Measured against complete checks of every
//! version on 11 small configurations (the 114 pairs a version supports, from 50 to 0.75 M
//! stored states), and of five versions on two bigger ones (up to 1.5 M), the stored states
//! were between 0.13 and 12 times the estimate; the test `estimate_brackets_the_real_count` in
//! `cli/tests/cli/limits.rs` repeats it on the small ones. [`LOW`] and [`HIGH`] widen that
//! range, the high end most. The refusal uses the low end, so it refuses only a
//! configuration that even the smallest plausible state space puts beyond the limits.

use crate::model::EmmModel;
use crate::program::Op;
use emm_proofs::Callback;
use std::collections::BTreeMap;

/// The low end of the plausible ratio of stored states to [`Estimate::count`].
pub const LOW: f64 = 0.1;
/// The high end of the plausible ratio of stored states to [`Estimate::count`].
pub const HIGH: f64 = 50.0;

/// Generous speeds, so that the refusal errs towards searching: stored states per second per
/// checker thread (measured: 0.5-0.8 M), and bytes per stored state (measured: 14-60; a bare
/// fingerprint is 8).
pub const STATES_PER_SECOND_PER_THREAD: f64 = 4e6;
/// See [`STATES_PER_SECOND_PER_THREAD`].
pub const BYTES_PER_STATE: f64 = 8.0;

/// The locks a thread holds at one position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    /// `mmap_sem`: 0 none, 1 for read, 2 for write.
    mmap_sem: u8,
    /// The notifier spinlock (exclusive).
    spin: bool,
    /// The reverse-map locks: 0 none, 1 one for read, 2 all of them (`mm_take_all_locks`).
    rmap: u8,
    /// The drain: 0 none, 1 inside a walk window, 2 a register or unregister past its drain.
    gate: u8,
}

impl Held {
    /// Both at once, or `None` if the locks forbid it.
    fn with(self, other: Held) -> Option<Held> {
        // A shared/exclusive pair: any number of sharers (1), or one exclusive holder (2).
        let shared = |a: u8, b: u8| match (a, b) {
            (0, x) | (x, 0) => Some(x),
            (1, 1) => Some(1),
            _ => None,
        };
        if self.spin && other.spin {
            return None;
        }
        Some(Held {
            mmap_sem: shared(self.mmap_sem, other.mmap_sem)?,
            spin: self.spin || other.spin,
            rmap: shared(self.rmap, other.rmap)?,
            gate: shared(self.gate, other.gate)?,
        })
    }
}

/// The positions of a thread running `program` over `n` notifiers: for each op, the locks held
/// before it and how many positions it has, then "finished".
///
/// Branches and loops are counted as if the program ran straight through: the positions are
/// the same, the locks held at a branch target may be misjudged by one lock, which the
/// measured bracket absorbs.
fn positions(program: &[Op], n: u64) -> Vec<(Held, u64)> {
    let mut held = Held::default();
    let mut out = Vec::with_capacity(program.len() + 1);
    for op in program {
        let count = match op {
            Op::Walk {
                callback: Callback::Stop,
                ..
            } => 1 + 3 * n,
            Op::Walk { .. } => 1 + 2 * n,
            _ => 1,
        };
        out.push((held, count));
        match op {
            Op::MmapSemLock => held.mmap_sem = 2,
            Op::MmapReadLock | Op::MmapReadTrylock => held.mmap_sem = 1,
            Op::MmapSemUnlock | Op::MmapReadUnlock | Op::FaultUnlock => held.mmap_sem = 0,
            Op::SpinLock => held.spin = true,
            Op::SpinUnlock => held.spin = false,
            Op::RmapReadLock => held.rmap = 1,
            Op::TakeAllLocks => held.rmap = 2,
            Op::RmapReadUnlock | Op::DropAllLocks => held.rmap = 0,
            Op::GateEnter | Op::GateCheck => held.gate = 1,
            Op::GateBackoff | Op::GateExit | Op::GateResume => held.gate = 0,
            Op::GateDrain => held.gate = 2,
            _ => {}
        }
    }
    out.push((held, 1));
    out
}

/// The estimate of one model's state space.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Each thread's positions, in thread order.
    pub positions: Vec<u64>,
    /// The ways the threads can stand at once that the locks allow, divided by
    /// `invalidators!` (with symmetry), times the initial states.
    pub count: f64,
}

impl Estimate {
    /// The estimate for `model`; `symmetry` says whether the checker sorts the VM threads.
    pub fn of(model: &EmmModel, symmetry: bool) -> Estimate {
        let n = model.config.total_notifiers() as u64;
        let programs: Vec<Vec<(Held, u64)>> = (0..model.actors().len())
            .map(|t| positions(model.program(t), n))
            .collect();
        // Ways for the threads so far to stand, by the locks they hold together.
        let mut ways: BTreeMap<Held, f64> = BTreeMap::from([(Held::default(), 1.0)]);
        for program in &programs {
            let mut next: BTreeMap<Held, f64> = BTreeMap::new();
            for (&held, &w) in &ways {
                for &(h, count) in program {
                    if let Some(both) = held.with(h) {
                        *next.entry(both).or_default() += w * count as f64;
                    }
                }
            }
            ways = next;
        }
        let mut count: f64 = ways.values().sum();
        if symmetry {
            count /= factorial(model.config.invalidators);
        }
        count *= model.config.target_choices().len() as f64;
        Estimate {
            positions: programs
                .iter()
                .map(|p| p.iter().map(|&(_, c)| c).sum())
                .collect(),
            count,
        }
    }

    /// The fewest states the search plausibly stores.
    pub fn low(&self) -> f64 {
        self.count * LOW
    }

    /// The most states the search plausibly stores.
    pub fn high(&self) -> f64 {
        self.count * HIGH
    }
}

fn factorial(k: usize) -> f64 {
    (1..=k).map(|i| i as f64).product()
}

/// How many stored states the limits let a search reach at most, and which limit is tightest:
/// `max_states` counts generated states (each stored state is generated at least once), the
/// timeout at [`STATES_PER_SECOND_PER_THREAD`], the memory at [`BYTES_PER_STATE`].
pub fn capacity(
    max_states: Option<u64>,
    timeout_secs: Option<u64>,
    max_memory_bytes: Option<u64>,
    threads: usize,
) -> Option<(f64, &'static str)> {
    let mut best: Option<(f64, &'static str)> = None;
    let mut consider = |cap: f64, flag: &'static str| {
        if best.is_none_or(|(b, _)| cap < b) {
            best = Some((cap, flag));
        }
    };
    if let Some(m) = max_states {
        consider(m as f64, "--max-states");
    }
    if let Some(t) = timeout_secs {
        consider(
            t as f64 * STATES_PER_SECOND_PER_THREAD * threads.max(1) as f64,
            "--timeout",
        );
    }
    if let Some(m) = max_memory_bytes {
        consider(m as f64 / BYTES_PER_STATE, "--max-memory");
    }
    best
}

/// Why `model` is refused, if even the low end of its estimate is beyond what `limits` (from
/// [`capacity`]) allow.
pub fn refusal(
    model: &EmmModel,
    symmetry: bool,
    limits: Option<(f64, &'static str)>,
) -> Option<String> {
    let (cap, flag) = limits?;
    let e = Estimate::of(model, symmetry);
    if e.low() <= cap {
        return None;
    }
    Some(format!(
        "this configuration has an estimated {} to {} states, beyond the at most {} that \
         {flag} allows; shrink the configuration, raise {flag}, or pass --force to search anyway",
        sci(e.low()),
        sci(e.high()),
        sci(cap)
    ))
}

/// A count in a short form: `3170`, `3.1e9`.
pub fn sci(x: f64) -> String {
    if x < 1e4 {
        format!("{x:.0}")
    } else {
        format!("{x:.1e}")
    }
}
