//! The one spec of the emm project: what a secondary MMU may rely on when it registers a
//! notifier on an address space, stated as plain functions over an observable state.
//!
//! # The protocol, as states and operations
//!
//! An address space (mm) has a primary page table and a chain of notifiers. Each notifier
//! belongs to a secondary MMU (a *driver*: KVM, an RDMA or GPU driver, a userspace cache of
//! translations) that mirrors primary page-table entries.
//!
//! ```text
//!  VM thread (invalidation)            driver (secondary MMU), under its own lock
//!  ------------------------            ------------------------------------------
//!  invalidate_start walk  ---------->  in_progress += 1; drop mirror entries in range
//!  zap the PTE (fresh frame mapped)
//!  invalidate_end walk    ---------->  seq += 1; in_progress -= 1
//!  free the old frame
//!                                      fault: s = seq; read PTE (no lock held);
//!                                             lock; if in_progress > 0 || seq != s: retry
//!                                             else install the mirror entry; unlock
//! ```
//!
//! The fault's check is only sound if the driver receives **every** `invalidate_start` of
//! an invalidation whose zap happens while it is registered: "Missing an end is ok, missing a
//! begin is never ok" (Andrea Arcangeli, linux-mm, April 2008). Register and unregister race
//! with invalidations that are already walking the chain; the protocols of the model crate
//! differ in how (and whether) they close that race.
//!
//! # What this crate holds
//!
//! * [`Observe`]: the observable state that both the model and the implementation produce:
//!   each notifier as its driver sees it ([`NotifierView`]), each walk over the chain
//!   ([`WalkView`]), each callback in flight ([`CallbackView`]), the frames, and which
//!   register, unregister, invalidation and teardown operations are under way.
//! * The safety properties ([`properties`]), each `fn(&impl Observe) -> Result<(), Violation>`,
//!   and the reachability goals ([`goals`]) that show a bounded run is not vacuous.
//! * The property table ([`table`], [`property_table!`]): every property declared once, with its
//!   kind, when it applies, meaning, source and mechanism; [`Prop`], [`PROPERTIES`] and
//!   [`evaluate`] are derived from it, and so are the model's stateright properties. One
//!   property, each correct variant's inductive invariant, is evaluated by the model over its own
//!   state rather than over an observation.
//! * [`Variant`]: the protocols of the family, named once for the model and the implementation.
//! * [`proofs`]: why the correct variants are correct for any number of threads and notifiers,
//!   and where that argument fails for the broken ones.
//! * The steps the actors take ([`Op`], named after the kernel statements they model) and the
//!   trace vocabulary ([`Event`]) by which the implementation's runs are checked against the
//!   model and the model's counterexamples are replayed on the implementation.
//!
//! Property names are fixed: the model, the implementation's tests and the `emm-check` CLI all
//! use these exact strings.

pub mod goals;
pub mod properties;
pub mod steps;
pub mod table;
pub mod trace;
pub mod variant;

/// Why the correct variants are correct for any number of threads and notifiers, and where
/// the argument breaks for the broken ones: one document per variant, from `proofs/proofs/`.
pub mod proofs {
    #![doc = include_str!("../proofs/README.md")]

    #[doc = include_str!("../proofs/mmu-notifier-v5.12.md")]
    pub mod mmu_notifier_v5_12 {}

    #[doc = include_str!("../proofs/interval-v5.18.md")]
    pub mod interval_v5_18 {}

    #[doc = include_str!("../proofs/emm-stop-drain-start.md")]
    pub mod ours_emm_stop_drain_start {}

    #[doc = include_str!("../proofs/rcu-window.md")]
    pub mod ours_rcu_window {}

    #[doc = include_str!("../proofs/emm-v2.md")]
    pub mod emm_v2 {}

    #[doc = include_str!("../proofs/emm-stop-start.md")]
    pub mod emm_stop_start {}
}

use std::fmt;

pub use steps::{Access, Barrier, Op};
pub use table::{
    evaluate, property, violations, EvaluatedBy, Expectation, Prop, PropertyInfo, Scope, Standing,
    PROPERTIES,
};
pub use trace::{Event, FaultOutcome, TraceEntry};
pub use variant::{Family, UnknownVariant, Variant, VariantInfo, VARIANTS};

/// Index of a notifier (and of its driver) in an observation.
pub type NotifierId = usize;

/// A physical frame. Frames are never reused: once freed, a frame number stays freed.
pub type FrameId = usize;

/// The role of an actor: one thread of the system under check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A VM thread that invalidates a range (reclaim, munmap, COW, migration).
    Vm,
    /// A thread that registers a new notifier, whose driver then faults.
    Reg,
    /// A thread that unregisters a notifier, after which its owner frees it.
    Unreg,
    /// A driver's own thread: the secondary MMU's fault path.
    Drv,
    /// `exit_mmap`: `release` over the chain, then the frames are freed.
    Teardown,
    /// An aging walk: `clear_young` / `referenced` over the chain.
    Aging,
    /// A page fault that copies on write (`wp_page_copy()`) and invalidates the old page:
    /// under the VMA read lock where the version has per-VMA locks, else under `mmap_sem`.
    Fault,
    /// The OOM reaper: a non-blocking invalidation under `mmap_read_trylock()`.
    Oom,
}

/// One actor: a role and its index among the actors of that role (for drivers, the notifier).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId {
    /// What the actor does.
    pub role: Role,
    /// Which one of its role (for a driver: the notifier it serves).
    pub index: usize,
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.role {
            Role::Vm => write!(f, "vm{}", self.index),
            Role::Reg => write!(f, "reg{}", self.index),
            Role::Unreg => write!(f, "unreg{}", self.index),
            Role::Drv => write!(f, "drv{}", self.index),
            Role::Teardown => f.write_str("teardown"),
            Role::Aging => f.write_str("aging"),
            Role::Fault => write!(f, "pf{}", self.index),
            Role::Oom => f.write_str("oom"),
        }
    }
}

/// The callbacks a notifier can receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Callback {
    /// `invalidate_start(range)` (`invalidate_range_start`).
    InvalidateStart,
    /// `invalidate_end(range)` (`invalidate_range_end`).
    InvalidateEnd,
    /// `invalidate_page(address)`: reclaim's one call after the PTE is cleared, before v4.13.
    InvalidatePage,
    /// An interval notifier's `invalidate(range, cur_seq)`; `MMU_NOTIFY_RELEASE` at teardown.
    Invalidate,
    /// `clear_young(range)`, EMM's `emm_referenced`.
    ClearYoung,
    /// `release(mm)`: the address space is going away (or the notifier is unregistered).
    Release,
    /// EMM's `emm_stop`: block `invalidate_start` and `referenced` until `emm_start`.
    Stop,
    /// EMM's `emm_start`: resume.
    Start,
}

impl Callback {
    /// The callback's kernel name.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Callback::InvalidateStart => "invalidate_start",
            Callback::InvalidateEnd => "invalidate_end",
            Callback::InvalidatePage => "invalidate_page",
            Callback::Invalidate => "invalidate",
            Callback::ClearYoung => "clear_young",
            Callback::Release => "release",
            Callback::Stop => "emm_stop",
            Callback::Start => "emm_start",
        }
    }
}

/// A set of notifiers, as a bit mask (bit `n` for notifier `n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NotifierSet(pub u64);

impl NotifierSet {
    /// Whether notifier `n` is in the set.
    pub fn contains(self, n: NotifierId) -> bool {
        n < 64 && self.0 & (1 << n) != 0
    }
    /// The notifiers of `self` that are not in `other`, lowest first.
    pub fn difference(self, other: NotifierSet) -> impl Iterator<Item = NotifierId> {
        let rest = self.0 & !other.0;
        (0..64).filter(move |n| rest & (1 << n) != 0)
    }
}

/// One notifier, as its driver (the secondary MMU) and the registry see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifierView {
    /// Reachable from the chain's head: a walk that starts now finds it.
    pub linked: bool,
    /// Published by its `register` (or registered from the start), and not yet unlinked by
    /// its `unregister`. Teardown unlinking it does not unregister it.
    pub registered: bool,
    /// Its `unregister` has returned: the owner may have freed it.
    pub unregistered: bool,
    /// The driver's count of `invalidate_start`s not yet matched by an `invalidate_end`
    /// (KVM's `mmu_invalidate_in_progress`). Negative is a bug.
    pub in_progress: i32,
    /// The frame the driver's mirror maps, if any.
    pub mirror: Option<FrameId>,
    /// Whether the driver installed `mirror` itself, through its fault path (as opposed to
    /// a mapping it held from the start).
    pub installed_by_fault: bool,
    /// `emm_stop` callbacks received.
    pub stops: u32,
    /// `emm_start` callbacks received.
    pub starts: u32,
    /// `release` callbacks received.
    pub releases: u32,
}

/// One walk over the chain: a sequence of callbacks of one kind, one per notifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkView {
    /// Who walks.
    pub actor: ActorId,
    /// The callback this walk delivers.
    pub callback: Callback,
    /// Notifiers this walk has called so far.
    pub called: NotifierSet,
    /// Notifiers that were linked when the walk read the head and have stayed linked since:
    /// a finished walk must have called each of them. "Linked" rather than "registered":
    /// teardown unlinks notifiers without unregistering them, and walks after that rightly
    /// skip them.
    pub must_call: NotifierSet,
    /// The notifier whose callback the walk has committed to run next (it holds a pointer to
    /// it and its next step is the call).
    pub next_call: Option<NotifierId>,
    /// The notifier the walk holds a pointer to: to call it, inside its callback, or to load
    /// its `next`.
    pub holding: Option<NotifierId>,
    /// The walk has reached the end of the chain.
    pub finished: bool,
    /// The walk stopped early because a non-blocking start failed (`-EAGAIN`): its
    /// invalidation is abandoned and zaps nothing, so the notifiers after the failing one
    /// rightly miss it.
    pub abandoned: bool,
}

/// A callback running, or committed to run, on a notifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackView {
    /// Who calls.
    pub actor: ActorId,
    /// On which notifier.
    pub notifier: NotifierId,
    /// Which callback.
    pub callback: Callback,
}

/// The observable state of an address space, its notifiers, their drivers and the threads
/// acting on them. The model implements it over each model state; the implementation's tests
/// implement it over a snapshot of the real registry.
pub trait Observe {
    /// Number of notifiers (registered at the start, or by a registration under check).
    fn notifier_count(&self) -> usize;
    /// Notifier `n`, `n < notifier_count()`.
    fn notifier(&self, n: NotifierId) -> NotifierView;
    /// Whether frame `f` has been freed.
    fn frame_freed(&self, f: FrameId) -> bool;
    /// Number of walks under way or just finished.
    fn walk_count(&self) -> usize;
    /// Walk `i`, `i < walk_count()`.
    fn walk(&self, i: usize) -> WalkView;
    /// Number of callbacks running or committed to run.
    fn callback_count(&self) -> usize;
    /// Callback `i`, `i < callback_count()`.
    fn callback(&self, i: usize) -> CallbackView;
    /// Some `register` has started and not yet returned.
    fn registration_in_progress(&self) -> bool;
    /// Some `unregister` has started and not yet returned.
    fn unregistration_in_progress(&self) -> bool;
    /// Some invalidation is between the start of its `invalidate_start` walk and the end of
    /// its `invalidate_end` walk (for interval notifiers: between `mn_itree_inv_start_range()`
    /// and `mn_itree_inv_end()`).
    fn invalidation_in_progress(&self) -> bool;
    /// Teardown (`exit_mmap`) has started and not finished.
    fn teardown_in_progress(&self) -> bool;
    /// Teardown has freed the address space's frames.
    fn teardown_freed_frames(&self) -> bool;
    /// Every actor has finished.
    fn is_final(&self) -> bool;
    /// The first dereference of freed, `NULL` or poisoned memory that some step made, if any.
    fn memory_fault(&self) -> Option<MemoryFault>;
    /// Some actor can take a step now.
    fn can_step(&self) -> bool;
}

/// What a faulting step dereferenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// A `NULL` pointer: `*pprev = next` on an unhashed hlist node, or the seed's unlink
    /// searching past the end of the list.
    Null,
    /// `LIST_POISON2`: `__hlist_del()` of a node that `hlist_del_rcu()` already poisoned.
    Poison,
    /// A notifier (or interval subscription) its owner has freed.
    Freed(NotifierId),
}

/// A step that dereferenced memory it must not have: the kernel oopses there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryFault {
    /// The actor whose step faulted.
    pub actor: ActorId,
    /// The step, as the kernel writes it.
    pub op: Op,
    /// What it dereferenced.
    pub kind: FaultKind,
}

/// A broken property: its name and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property.
    pub property: Prop,
    /// What the observation shows, naming the notifier, the frame or the actor.
    pub reason: Reason,
}

/// Why a property is broken. Kept as data and formatted only when shown, so that checking a
/// property on millions of states allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A driver's mirror maps a freed frame.
    StaleMirror {
        /// The notifier whose driver maps it.
        notifier: NotifierId,
        /// The freed frame.
        frame: FrameId,
    },
    /// A driver's `in_progress` is negative.
    EndWithoutStart {
        /// The notifier.
        notifier: NotifierId,
        /// Its count.
        in_progress: i32,
    },
    /// A callback runs on a notifier whose unregister returned.
    CallbackAfterUnregister(CallbackView),
    /// A walk holds a pointer to a notifier whose unregister returned.
    WalkHoldsUnregistered {
        /// The walk's actor.
        actor: ActorId,
        /// What the walk delivers.
        callback: Callback,
        /// The notifier it holds.
        notifier: NotifierId,
    },
    /// A walk is about to call a notifier it already called.
    WalkRevisits {
        /// The walk's actor.
        actor: ActorId,
        /// What the walk delivers.
        callback: Callback,
        /// The notifier reached twice.
        notifier: NotifierId,
    },
    /// A finished walk skipped a notifier that stayed linked throughout.
    WalkSkips {
        /// The walk's actor.
        actor: ActorId,
        /// What the walk delivers.
        callback: Callback,
        /// The notifier skipped.
        notifier: NotifierId,
    },
    /// More `emm_start`s than `emm_stop`s.
    StartWithoutStop {
        /// The notifier.
        notifier: NotifierId,
        /// Stops received.
        stops: u32,
        /// Starts received.
        starts: u32,
    },
    /// Two `emm_stop`s without an `emm_start` between them.
    DoubleStop {
        /// The notifier.
        notifier: NotifierId,
    },
    /// A registered notifier is stopped while no register or unregister runs.
    LeftStopped {
        /// The notifier.
        notifier: NotifierId,
    },
    /// Teardown freed the frames before a registered notifier got `release`.
    NoRelease {
        /// The notifier.
        notifier: NotifierId,
    },
    /// A step dereferenced freed, `NULL` or poisoned memory.
    MemoryFault(MemoryFault),
    /// Every thread has finished, and a registered, unreleased notifier's driver still counts
    /// an invalidation open: its faults retry forever.
    StartLeftOpen {
        /// The notifier.
        notifier: NotifierId,
        /// Its count.
        in_progress: i32,
    },
    /// A notifier received `release` more than once.
    ReleasedTwice {
        /// The notifier.
        notifier: NotifierId,
        /// How many it received.
        releases: u32,
    },
    /// No thread can step and some have not finished.
    Deadlock {
        /// The callbacks the blocked threads are in.
        blocked: Vec<CallbackView>,
    },
    /// A conjunct of a correct variant's inductive invariant is false. Only the model checks
    /// these (they read its state); the proof documents ([`proofs`]) define each conjunct.
    Invariant {
        /// The variant whose invariant it is.
        variant: Variant,
        /// The conjunct's name in the variant's proof document.
        conjunct: &'static str,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::StaleMirror { notifier, frame } => write!(
                f,
                "the secondary MMU of notifier n{notifier} maps frame f{frame}, which has been freed"
            ),
            Reason::EndWithoutStart {
                notifier,
                in_progress,
            } => write!(
                f,
                "notifier n{notifier} received an invalidate_end without its invalidate_start \
                 (in_progress = {in_progress})"
            ),
            Reason::CallbackAfterUnregister(c) => write!(
                f,
                "{} runs {} on notifier n{} after unregister(n{}) returned",
                c.actor,
                c.callback.kernel_name(),
                c.notifier,
                c.notifier
            ),
            Reason::WalkHoldsUnregistered {
                actor,
                callback,
                notifier,
            } => write!(
                f,
                "{actor}'s {} walk holds a pointer to notifier n{notifier} after \
                 unregister(n{notifier}) returned",
                callback.kernel_name()
            ),
            Reason::WalkRevisits {
                actor,
                callback,
                notifier,
            } => write!(
                f,
                "{actor}'s {} walk reaches notifier n{notifier} a second time",
                callback.kernel_name()
            ),
            Reason::WalkSkips {
                actor,
                callback,
                notifier,
            } => write!(
                f,
                "{actor}'s {} walk finished without calling notifier n{notifier}, which stayed \
                 linked for the whole walk",
                callback.kernel_name()
            ),
            Reason::StartWithoutStop {
                notifier,
                stops,
                starts,
            } => write!(
                f,
                "notifier n{notifier} received emm_start without a preceding emm_stop \
                 ({stops} stops, {starts} starts)"
            ),
            Reason::DoubleStop { notifier } => write!(
                f,
                "notifier n{notifier} received emm_stop twice without emm_start in between"
            ),
            Reason::LeftStopped { notifier } => write!(
                f,
                "notifier n{notifier} is still stopped although no register or unregister is running"
            ),
            Reason::NoRelease { notifier } => write!(
                f,
                "teardown freed the frames but registered notifier n{notifier} never received release"
            ),
            Reason::MemoryFault(m) => {
                write!(f, "{}'s step {} dereferences ", m.actor, m.op.kernel_text())?;
                match m.kind {
                    FaultKind::Null => f.write_str("a NULL pointer"),
                    FaultKind::Poison => f.write_str("LIST_POISON2"),
                    FaultKind::Freed(n) => {
                        write!(f, "notifier n{n}, which its owner has freed")
                    }
                }
            }
            Reason::StartLeftOpen {
                notifier,
                in_progress,
            } if *in_progress > 0 => write!(
                f,
                "every thread has finished and notifier n{notifier} still counts an invalidation \
                 open (in_progress = {in_progress}): its driver's faults retry forever"
            ),
            Reason::StartLeftOpen {
                notifier,
                in_progress,
            } => write!(
                f,
                "every thread has finished and notifier n{notifier}'s count never came back to 0 \
                 (in_progress = {in_progress}, an end without its start): its driver's faults \
                 retry forever"
            ),
            Reason::ReleasedTwice { notifier, releases } => write!(
                f,
                "notifier n{notifier} received release {releases} times"
            ),
            Reason::Deadlock { blocked } => {
                f.write_str("no thread can take a step and not every thread has finished")?;
                for (i, c) in blocked.iter().enumerate() {
                    let sep = if i == 0 { " (blocked: " } else { ", " };
                    write!(
                        f,
                        "{sep}{} in {} of n{}",
                        c.actor,
                        c.callback.kernel_name(),
                        c.notifier
                    )?;
                }
                if !blocked.is_empty() {
                    f.write_str(")")?;
                }
                Ok(())
            }
            Reason::Invariant { variant, conjunct } => write!(
                f,
                "conjunct `{conjunct}` of the {variant} inductive invariant is false (see its \
                 proof document in proofs/proofs/)"
            ),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.reason)
    }
}

impl std::error::Error for Violation {}

/// The outcome of one property on one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A safety property holds here.
    Holds,
    /// A safety property is broken here.
    Violated(Violation),
    /// A goal is satisfied here.
    Reached,
    /// A goal is not satisfied here.
    NotReached,
}
