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
//! acquiring ops minus releasing ops before `pc` in the program. No pc is written as a number:
//! every position a conjunct names is a mark found in the program (module `layout`).
//!
//! One file per invariant, named like its proof document: [`take_all_locks`],
//! [`interval_seq`], [`emm_stop_drain_start`]; module `layout` holds what a program's positions
//! hold, module `context` the conjuncts every correct variant shares.

use crate::config::Variant;
use crate::model::EmmModel;
use crate::state::State;

pub(crate) mod layout;

pub(crate) use layout::Layout;

/// The result of checking an invariant: `Err` names the first false conjunct.
pub type Check = Result<(), &'static str>;

/// An invariant: a predicate over the states of one model.
pub type Invariant = fn(&EmmModel, &State) -> Check;

/// The inductive invariant of `variant`; `None` for the variants without a proof.
pub fn of(variant: Variant) -> Option<Invariant> {
    let _ = variant;
    None
}

/// Whether the proofs cover `config`'s actors.
pub fn covers(config: &crate::config::Config) -> bool {
    let _ = config;
    false
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

/// The bit of notifier `n` in a mask.
pub(crate) fn bit(n: u8) -> u8 {
    1 << n
}
