//! A stateright model of the MMU/EMM notifier registration protocols, checked against the
//! properties of [`emm_proofs`].
//!
//! # States
//!
//! * The chain: `head`, each notifier's `next` and `pprev` (`&h->first`, a predecessor's
//!   `&next`, `NULL` once `hlist_del_init_rcu()` unhashed it, `LIST_POISON2` after
//!   `hlist_del_rcu()`), the notifiers freed by their owners; for interval notifiers, the
//!   interval tree, which is only modified under its lock while no invalidation is active, so
//!   a list is an exact stand-in for one page.
//! * One page: its PTE maps a frame. A zap maps a fresh frame and the invalidation frees the
//!   old one after its end walk, so a frame number is never reused and "maps a freed frame"
//!   is exact.
//! * Locks, as the version's kernel has them: `mmap_sem` (writer, readers, queued writers),
//!   the reverse-map lock (a spinlock, a mutex or an rwsem with its queue; all of them taken by
//!   `mm_take_all_locks()`), the VMA locks (v6.4), the notifier spinlock, the RCU or SRCU read
//!   sides (each thread's depth, and one grace-period bit per synchronizer on each reader it
//!   must wait for), the drain counters, the interval `invalidate_seq`, `active` count and
//!   deferred lists.
//! * Each driver (KVM's contract): `in_progress`, `seq`, its mirror, stop/start/release counts.
//! * Each thread: program counter, walk position, flags (queued on a lock, oopsed, its
//!   non-blocking start failed), and a few locals.
//!
//! # Operations
//!
//! Each actor runs a fixed program ([`program`]); a step is "thread `t` takes its next step",
//! enabled unless that step must block (a lock held, a stopped notifier's `invalidate_start`,
//! `emm_stop` waiting for open starts, a grace period, a drain). Races live in the walks, so a
//! walk is one step per pointer load and one per callback:
//!
//! ```text
//!  vm0 (reclaim)                         reg0 (emm@stop-start register)
//!  invalidate_start: load head -> n0
//!                                        emm_stop(n0); emm_stop(n0): wait
//!                                        n1->next = head; rcu_assign_pointer(head, n1)
//!                                        emm_start(n1); emm_start(n0); return
//!  invalidate_start(n0)                  drv1 fault: s = seq; read PTE -> f0; install f0
//!  invalidate_start: load n0->next -> NULL
//!  zap PTE: f0 -> f1
//!  invalidate_end: load head -> n1       <- n1 never saw invalidate_start
//!  free f0                               drv1 still maps f0: no_stale_secondary broken
//! ```
//!
//! Each version's programs transcribe its code statement by statement, every step citing the
//! kernel function and the commit or mail it comes from ([`program`]). Nothing in the model
//! knows which verdict a version should get: [`check::check`] finds it, and [`history`] lays
//! the versions of each family side by side.
//!
//! # Properties
//!
//! The model checks every property of the spec's table ([`emm_proofs::PROPERTIES`]) on every
//! state: the observation properties through [`model::View`], and the one the model evaluates
//! over its own state, each correct variant's inductive invariant ([`invariants`]), the
//! predicate the proofs of `proofs/proofs/` are built on.
//!
//! # The model and the implementation
//!
//! [`conformance`] checks that a trace recorded by the implementation (crate `emm`, feature
//! `trace`) is a behaviour of the model: each event the enabled next step of its actor, with the
//! same outcome. The other way, `emm-check replay --on-impl` (crate `emm-cli`) replays the
//! model's traces on the implementation.

pub mod check;
pub mod config;
pub mod conformance;
pub mod estimate;
pub mod history;
mod interp;
pub mod invariants;
pub mod litmus;
pub mod lkmm;
pub mod model;
pub mod program;
pub mod state;
pub mod trace;

pub use check::{check, CheckOptions, CheckReport, Progress, Silent, Status, Verdict};
pub use config::{Config, ConfigError, Memory, Variant};
pub use interp::weak;
pub use model::{EmmModel, Step};
pub use trace::Trace;
