//! A test harness that checks the spec's properties on real executions of the registry.
//!
//! It provides what the loom, shuttle and thread tests share, and what a user needs to check
//! a notifier-based driver of their own:
//!
//! * [`PageTable`]: a primary page table of one page, whose zap maps a fresh frame and whose
//!   frames are freed by the VM after the invalidation. A freed frame is only marked, never
//!   reused, so a secondary MMU that still maps it is *detected*, not crashed on.
//! * [`TestDriver`]: a secondary MMU that follows the contract with [`Secondary`](crate::Secondary): drop the
//!   mirror on `invalidate_start`, fault with `read_begin`/`read_retry`.
//! * [`Scenario`] and [`run`]: the actors of the model's configuration (VM threads, with a
//!   nested invalidation; registrars, whose driver then faults; unregistrars; teardown; aging)
//!   as real threads of the backend in use (std, loom or shuttle).
//! * [`Sequential`]: the same operations one at a time, for the state-machine test against the
//!   model's step semantics.
//! * The execution's trace ([`Execution::trace`]): every step as the model's event, recorded
//!   by the page table, the drivers and (with the `trace` feature, and under loom and shuttle)
//!   the protocol itself, for `emm_model::conformance` to validate.
//! * [`replay`]: a model trace replayed on real threads, released one step at a time in the
//!   trace's order ([`ReplayStep`], [`Replayed`]); it needs the std backend and the `trace`
//!   feature, and says so ([`ReplayUnavailable`]) where either is missing.
//!
//! One file per concern: [`ghost`](Ghost) (the observed state and its checks), the page table,
//! the test driver, the scenario runner, the sequential API and the replay.
//!
//! Every step that changes what the spec observes (a callback entered or left, a driver's
//! mirror or count changed, a registration or unregistration returned, a walk begun or ended,
//! a frame freed) updates a *ghost* copy of the [`Observe`](emm_proofs::Observe) state and checks every safety
//! property of [`emm_proofs::PROPERTIES`] on it, by name, through [`emm_proofs::evaluate`]. The
//! first violation of each property is recorded and the execution goes on (so that one run
//! shows, say, the missed `invalidate_start` both as `start_end_balanced` and, a few steps
//! later, as `no_stale_secondary`); at its end [`run`] panics naming each one, which fails the
//! loom or shuttle execution, and [`observe`] returns them. The ghost sits behind a `std` mutex that is never held across an operation of the
//! backend, so it adds no synchronisation and no scheduling point that loom or shuttle could
//! see: it observes the execution without ordering it.
//!
//! The historical chains tell a notifier when they stop and start it
//! ([`Notifier::emm_stop`](crate::Notifier::emm_stop)), so `stop_start_paired` is checked on their real runs too.
//! `deadlock_free` is the one property the ghost cannot decide (it would need to know whether
//! a blocked thread can ever step); loom and shuttle report a deadlock themselves.

use crate::notifier::Range;

mod driver;
mod ghost;
mod page_table;
mod replay;
mod scenario;
mod sequential;

pub use driver::TestDriver;
pub use ghost::Ghost;
pub use page_table::PageTable;
pub use replay::{replay, Refusal, ReplayStep, ReplayUnavailable, Replayed};
pub use scenario::{observe, run, Execution, FailOn, Scenario, TRACED};
pub use sequential::Sequential;

/// The one page of the harness's address space.
pub const PAGE: Range = Range {
    start: 0x1000,
    end: 0x2000,
};
