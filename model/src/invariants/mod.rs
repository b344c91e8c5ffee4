//! The inductive invariants of the correct variants, one function per variant.
//!
//! An inductive invariant `I` holds in every initial state, is kept by every step (if `I(s)`
//! and `s -> s'` then `I(s')`), and implies every safety property of the spec. The proof
//! documents in `proofs/proofs/` ([`emm_proofs::proofs`]) state each invariant as
//! a list of conjuncts and argue the three facts for any number of threads and notifiers; the
//! functions here are those conjuncts, in the same order and under the same names. The model
//! checks the invariant of its own variant on every state as the `always` property
//! [`Prop::InductiveInvariant`](emm_proofs::Prop::InductiveInvariant), and the model's suite
//! (`model/tests/model/inductive.rs`) checks that it is inductive: every step from a state that
//! satisfies it, reachable or not, leads to a state that does.
//!
//! Each function returns the name of the first conjunct that is false. Conjuncts are written
//! over the thread program counters through a layout of the programs that records, for each
//! pc, what a thread there holds (locks, SRCU read sides, the drain gate, interval
//! windows) and which walk may be under way there. A count "held at pc" is the number of
//! acquiring ops minus releasing ops on the program's paths to `pc` (every path agrees: a test
//! checks every version's programs). No pc is written as a number:
//! every position a conjunct names is a mark found in the program (module `layout`).
//!
//! One file per invariant, named like its proof document: [`mmu_notifier_v5_12`] (which
//! `mmu-notifier@v6.4` shares), [`interval_v5_18`], [`emm_stop_drain_start`],
//! [`ours_rcu_window`]; module `layout`
//! holds what a program's positions hold, module `context` the conjuncts every correct variant
//! shares.

use crate::config::Variant;
use crate::model::EmmModel;
use crate::state::State;

pub(crate) mod context;
pub(crate) mod layout;

mod emm_stop_drain_start;
mod interval_v5_18;
mod mmu_notifier_v5_12;
mod ours_rcu_window;

pub use emm_stop_drain_start::emm_stop_drain_start;
pub use interval_v5_18::interval_v5_18;
pub(crate) use layout::Layout;
pub use mmu_notifier_v5_12::mmu_notifier_v5_12;
pub use ours_rcu_window::ours_rcu_window;

/// The result of checking an invariant: `Err` names the first false conjunct.
pub type Check = Result<(), &'static str>;

/// An invariant: a predicate over the states of one model.
pub type Invariant = fn(&EmmModel, &State) -> Check;

/// The inductive invariant of `variant`; `None` for the versions without a proof (the broken
/// ones, and the correct ones the checker covers alone: v3.10, whose reclaim sends one
/// `invalidate_page` after the zap and has no start..end window for v5.12's argument, and
/// v4.19, which differs from v5.12 only where that argument does not look).
/// `mmu-notifier@v6.4` shares v5.12's: its register only adds the VMA write locks, which no
/// actor the proofs cover contends for.
pub fn of(variant: Variant) -> Option<Invariant> {
    match variant {
        Variant::MmuNotifierV5_12 | Variant::MmuNotifierV6_4 => Some(mmu_notifier_v5_12),
        Variant::IntervalV5_18 => Some(interval_v5_18),
        Variant::OursEmmStopDrainStart => Some(emm_stop_drain_start),
        Variant::OursRcuWindow => Some(ours_rcu_window),
        _ => None,
    }
}

/// Whether the proofs cover `config`'s actors: the page faults under the VMA lock and the OOM
/// reaper are checked by the model, not proved.
pub fn covers(config: &crate::config::Config) -> bool {
    config.vma_faults == 0 && !config.oom_reaper
}

/// `ensure!(cond, "conjunct")`: the invariant fails with `conjunct` unless `cond`.
macro_rules! ensure {
    ($cond:expr, $conjunct:expr) => {
        if !$cond {
            return Err($conjunct);
        }
    };
}

pub(crate) use ensure;

/// The bit of notifier `n` in a mask; none for `NIL` or another value that names no notifier
/// (the conjuncts are evaluated on arbitrary states, and the one that checks the field rejects
/// it).
pub(crate) fn bit(n: u8) -> u8 {
    1u8.checked_shl(u32::from(n)).unwrap_or(0)
}
