//! Recording the implementation's steps as the model's trace events.
//!
//! Compiled with the `trace` feature, and always under loom and shuttle. An address space made
//! by [`AddressSpace::with_tracer`](crate::AddressSpace::with_tracer) calls its [`Tracer`] at
//! every point of the protocol's code that corresponds to a step of the model (see
//! [`emm_proofs::trace`] for the vocabulary and `emm_model::conformance` for the check):
//!
//! ```text
//!  step of the model                       where the implementation records it
//!  ---------------------------------       ------------------------------------------------
//!  walk: load head / load next             under the pointer's lock (historical lists), or
//!                                          under the shard's read lock (TakeAllLocks)
//!  callback delivered                      by the notifier, under its driver's lock
//!  down_write(mmap_sem), spin_lock, ...    once the lock is held
//!  mm_take_all_locks .. up_write           with every shard write-locked (one record)
//!  rmap lock (read) / srcu_read_lock       once the shard's read lock is held: it is both
//!  link, publish, unlink                   under the stored pointer's lock
//!  zap, free, fault steps                  by the caller (the harness), under the page
//!                                          table's or the driver's lock
//! ```
//!
//! A step the implementation merges with its neighbours (the production protocol's read
//! lock is the reverse-map lock and the SRCU read side at once) is recorded as the model's
//! steps, in the model's order, in one [`Tracer::record`] call, at the point where the merged
//! step happens. [`Tracer::point`] marks where a thread is about to take its next step, with no
//! lock held that the model does not hold there: a replay parks threads at these points.

use crate::space::RegistrationId;
use emm_proofs::NotifierId;
pub use emm_proofs::{Event, FaultOutcome, TraceEntry};
use std::fmt;
use std::sync::Arc;

/// Receives the steps of the threads that use one address space.
pub trait Tracer: Send + Sync + fmt::Debug {
    /// The calling thread is about to take its next step. A replay parks it here until it is
    /// its turn; otherwise nothing happens.
    fn point(&self) {}

    /// Records `events`, in order and with nothing recorded between them, as steps of the
    /// calling thread's actor.
    fn record(&self, events: &[Event]);

    /// The notifier number that events use for registration `id`.
    fn node(&self, id: RegistrationId) -> NotifierId;

    /// The calling thread's registration was given `id` (called before any event names it).
    fn registering(&self, id: RegistrationId);
}

/// A protocol's optional tracer.
pub(crate) type Hook = Option<Arc<dyn Tracer>>;
