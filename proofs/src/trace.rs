//! The trace vocabulary: what an actor did, one event per step of the model.
//!
//! The implementation records one [`Event`] at each point of its code that corresponds to a
//! step of the model (`emm::trace`, under the `trace` feature and always under loom and
//! shuttle); the model checks a recorded trace step by step (`emm_model::conformance`), and
//! replays its own counterexamples on the implementation by the same events. An event carries
//! what the step saw (the node a walk loaded, the frame a fault read, whether a check passed),
//! so that the model can tell not only that the actor could take the step, but that it took it
//! with the same outcome.
//!
//! Each event is recorded at the step's linearization point: inside the lock that makes the
//! step indivisible (the pointer's, the page table's, the driver's), so that the order of a
//! trace is an order in which the steps really happened.

use crate::{ActorId, Callback, FrameId, NotifierId, Op};
use std::fmt;

/// One step of an actor, as the implementation saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A walk delivering `callback` loaded the chain's head: the first node, or none.
    LoadHead {
        /// What the walk delivers.
        callback: Callback,
        /// The node loaded (`None`: the chain was empty).
        node: Option<NotifierId>,
    },
    /// A walk loaded `cursor->next`: the next node, or none (the walk ends).
    LoadNext {
        /// What the walk delivers.
        callback: Callback,
        /// The node loaded.
        node: Option<NotifierId>,
    },
    /// `callback` was delivered to `notifier`: recorded by the notifier, under its driver's
    /// lock, where the callback takes effect. A walk's call and a call on the actor's own
    /// notifier ([`Op::CallOwn`]) alike.
    Deliver {
        /// The callback.
        callback: Callback,
        /// The notifier that ran it.
        notifier: NotifierId,
    },
    /// `emm_stop(notifier)` finished waiting for the notifier's open `invalidate_start`s.
    StopWaited {
        /// The stopped notifier.
        notifier: NotifierId,
    },
    /// A step whose only outcome is that it happened: a lock taken or dropped, a pointer
    /// stored, a grace period flipped or waited for. Never one of the ops that have their own
    /// event ([`Op::Walk`], [`Op::CallOwn`], [`Op::Zap`], [`Op::Free`], [`Op::CheckHashed`],
    /// [`Op::UnlinkAll`], [`Op::Snapshot`], [`Op::ReadPte`], [`Op::CheckInstall`]).
    Step(Op),
    /// `hlist_unhashed()` in unregister: whether the notifier was still linked.
    CheckHashed {
        /// Still linked: unregister goes on to `release` and the unlink.
        linked: bool,
    },
    /// Teardown unlinked the first node (`None`: the list was empty, the loop ends).
    UnlinkAll {
        /// The node unlinked.
        node: Option<NotifierId>,
    },
    /// The PTE of invalidation `level` (0 outer, 1 nested) was zapped.
    Zap {
        /// The invalidation's nesting level.
        level: u8,
        /// The frame the PTE maps afterwards (`None`: it was already cleared).
        frame: Option<FrameId>,
    },
    /// Invalidation `level` freed the frame it zapped.
    Free {
        /// The invalidation's nesting level.
        level: u8,
        /// The frame freed (`None`: the zap found the PTE cleared).
        frame: Option<FrameId>,
    },
    /// Teardown freed the address space's frame: the PTE is cleared.
    FreeFrames,
    /// A fault's snapshot of its driver's `seq` (taken with no invalidation open).
    Snapshot {
        /// The driver was released: the fault gives up instead.
        released: bool,
    },
    /// A fault read the primary PTE.
    ReadPte {
        /// The frame it maps.
        frame: Option<FrameId>,
    },
    /// A fault's check under its driver's lock, and what it did.
    CheckInstall {
        /// Retry, install, or give up.
        outcome: FaultOutcome,
    },
}

/// What a fault did at its check under the driver's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultOutcome {
    /// An invalidation is open or ended since the snapshot: read again.
    Retry,
    /// The check passed: the mirror now maps the frame read (`None`: the PTE was empty, so
    /// nothing is mapped).
    Installed(Option<FrameId>),
    /// The driver was released meanwhile: give up.
    Released,
}

/// One event of a trace and the actor that took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceEntry {
    /// Who took the step.
    pub actor: ActorId,
    /// The step.
    pub event: Event,
}

fn node(n: Option<NotifierId>) -> String {
    n.map_or_else(|| "NULL".to_owned(), |n| format!("n{n}"))
}

fn frame(f: Option<FrameId>) -> String {
    f.map_or_else(|| "none".to_owned(), |f| format!("f{f}"))
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Event::LoadHead { callback, node: n } => {
                write!(f, "{}: load head -> {}", callback.kernel_name(), node(n))
            }
            Event::LoadNext { callback, node: n } => {
                write!(f, "{}: load next -> {}", callback.kernel_name(), node(n))
            }
            Event::Deliver { callback, notifier } => {
                write!(f, "{}(n{notifier})", callback.kernel_name())
            }
            Event::StopWaited { notifier } => write!(f, "emm_stop(n{notifier}): wait"),
            Event::Step(op) => f.write_str(op.kernel_text()),
            Event::CheckHashed { linked: true } => f.write_str("hlist_unhashed: no"),
            Event::CheckHashed { linked: false } => f.write_str("hlist_unhashed: yes, skip"),
            Event::UnlinkAll { node: None } => f.write_str("list empty"),
            Event::UnlinkAll { node: Some(n) } => write!(f, "hlist_del_init_rcu(first = n{n})"),
            Event::Zap { frame: None, .. } => f.write_str("zap PTE (already cleared)"),
            Event::Zap { frame: fr, .. } => write!(f, "zap PTE -> {}", frame(fr)),
            Event::Free { frame: fr, .. } => write!(f, "free {}", frame(fr)),
            Event::FreeFrames => f.write_str("exit_mmap: free the frames"),
            Event::Snapshot { released: true } => f.write_str("fault: released, give up"),
            Event::Snapshot { released: false } => f.write_str("fault: s = seq"),
            Event::ReadPte { frame: fr } => write!(f, "fault: read PTE -> {}", frame(fr)),
            Event::CheckInstall { outcome } => match outcome {
                FaultOutcome::Retry => f.write_str("fault: lock; check fails, retry"),
                FaultOutcome::Installed(None) => f.write_str("fault: lock; PTE was empty"),
                FaultOutcome::Installed(fr) => {
                    write!(f, "fault: lock; check ok, install {}", frame(fr))
                }
                FaultOutcome::Released => f.write_str("fault: lock; released, give up"),
            },
        }
    }
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.actor, self.event)
    }
}
