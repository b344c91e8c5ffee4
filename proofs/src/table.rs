//! The property table: every property and goal of the spec, declared once.
//!
//! [`property_table!`](crate::property_table) holds, for each property, its name (the function
//! that checks it), its kind (`always` or `sometimes`), what evaluates it (the observation every
//! crate produces, or the model's own state), whether the kernel guarantees it or it is advisory,
//! when it applies, and its meaning, source and enforcing mechanism. Everything else is derived
//! from that one table: [`Prop`], [`PROPERTIES`], [`evaluate`], the model's stateright
//! properties (the model expands the table with a macro of its own) and the CLI's listing. No
//! index is typed anywhere: a property's index is its [`Prop`] discriminant.

use crate::{goals, properties, Observe, Outcome, Violation};

/// The property table as an x-macro: `property_table!(m)` expands to `m! { entries }`, one entry
/// per property in report order (the spec's safety properties, its goals, then the one property
/// the model evaluates over its own state), each of the form
///
/// ```text
/// KIND EVALUATED_BY STANDING Variant function {
///     applies: |scope| EXPR,
///     summary: "one line",
///     meaning: "...",
///     source: "...",
///     mechanism: "...",
/// }
/// ```
///
/// `KIND` is `always` or `sometimes`; `EVALUATED_BY` is `observation` (a function of
/// [`properties`](crate::properties) or [`goals`](crate::goals) over an [`Observe`]) or `model`
/// (a method of the model over its own state); `STANDING` is `guarantee` or `advisory` (reported,
/// not counted in a verdict).
#[macro_export]
macro_rules! property_table {
    ($m:ident) => {
        $m! {
            always observation guarantee NoStaleSecondary no_stale_secondary {
                applies: |_s| true,
                summary: "no secondary MMU ever maps a frame that has been freed",
                meaning: "Once the VM has freed a frame (after the invalidate_end walk of the \
                          invalidation that zapped it, or at teardown), no driver's mirror may \
                          still point at it: the device would read or write memory that the \
                          allocator has handed to someone else.",
                source: "include/linux/mmu_notifier.h on invalidate_range_start/end: the \
                         establishment of sptes is forbidden in the range for the whole \
                         duration of the start/end critical section; the KVM side is \
                         mmu_invalidate_retry() in include/linux/kvm_host.h.",
                mechanism: "The driver's fault check (in_progress > 0 || seq != s retries, or \
                            mmu_interval_read_retry()), sound only if the driver receives every \
                            invalidate_start of every invalidation whose zap happens while it is \
                            registered: mm_take_all_locks() in register, the collision-retry \
                            sequence of interval notifiers, or the drain of the corrected \
                            stop/start variant.",
            }
            always observation guarantee StartEndBalanced start_end_balanced {
                applies: |s| s.end_callback,
                summary: "no notifier gets an invalidate_end without its invalidate_start (in_progress >= 0)",
                meaning: "The driver counts open invalidations; an unmatched end drives the count \
                          below zero, after which its fault check lets a mapping through during a \
                          later invalidation. Like KVM, the check counts rather than matches.",
                source: "virt/kvm/kvm_main.c, kvm_mmu_invalidate_end(): \
                         BUG_ON(mmu_invalidate_in_progress < 0); mmu_notifier.h: \
                         invalidate_range_start() and invalidate_range_end() must be paired.",
                mechanism: "The same exclusion as no_stale_secondary: a notifier that joins the \
                            chain while an invalidation is between its two walks must not be \
                            reached by that invalidation's end walk.",
            }
            always observation guarantee NoCallbackAfterUnregister no_callback_after_unregister {
                applies: |s| s.unregistrations,
                summary: "once unregister(n) has returned, no callback of n runs or starts, no walk holds n",
                meaning: "The owner frees the notifier as soon as unregister returns. A callback \
                          that runs, or a walk that holds a pointer to it (to call it or to load \
                          its next), uses freed memory.",
                source: "mm/mmu_notifier.c, mmu_notifier_unregister(): only after it returned \
                         are we guaranteed that ->release or any other method can't run anymore.",
                mechanism: "synchronize_srcu() at the end of unregister; for interval notifiers, \
                            the wait in mmu_interval_notifier_remove() for the invalidation \
                            sequence to move on; in the corrected stop/start variant, the drain \
                            of all walks before the unlink.",
            }
            always observation guarantee WalkIntegrity walk_integrity {
                applies: |_s| true,
                summary: "a walk calls each notifier at most once, and every notifier linked throughout it",
                meaning: "A walk that calls a notifier twice sends it an extra invalidate_start or \
                          a second emm_stop; a walk that skips a notifier that was in the chain \
                          from its first to its last step withholds an invalidate_start. A walk \
                          that starts from its window's snapshot (ours@rcu-window) must call \
                          every notifier linked from the snapshot to its own last step: one \
                          published after the snapshot is not its to call.",
                source: "hlist_for_each_entry_rcu() and its contract in include/linux/rculist.h: \
                         a reader concurrent with hlist_del_init_rcu()/hlist_add_head_rcu() sees \
                         each element that stays in the list exactly once.",
                mechanism: "Unlinking with hlist_del_init_rcu() (the removed node's next still \
                            leads forward) and freeing it only after a grace period. The EMM \
                            seed's unregister instead sets e->next = mm->emm_notifier.",
            }
            always observation guarantee StopStartPaired stop_start_paired {
                applies: |s| s.stop_start,
                summary: "emm_stop and emm_start alternate, stop first; none stays stopped after register/unregister",
                meaning: "A driver implements emm_stop by blocking its callbacks and faults; a \
                          start without a stop, or a second stop, breaks its bookkeeping, and a \
                          notifier left stopped blocks every later invalidation that reaches it.",
                source: "The seed patch (shared/seed): emm_stop stops the notifier operations, \
                         emm_start restarts them; subsystems are restarted after the lists have \
                         been updated.",
                mechanism: "emm_notifier_register()/_unregister() sending emm_stop and then \
                            emm_start to the same set of notifiers while holding mmap_sem.",
            }
            always observation guarantee ReleaseBeforeFree release_before_free {
                applies: |s| s.teardown && s.release_callback,
                summary: "at teardown every registered notifier gets release before the frames are freed",
                meaning: "release is the driver's last chance to drop every mirror entry and stop \
                          faulting before the pages go away.",
                source: "mm/mmu_notifier.c, __mmu_notifier_release(); mmu_notifier.h: release may \
                         be called more than once (at least once, not exactly once).",
                mechanism: "exit_mmap() calling mmu_notifier_release() before unmap_vmas().",
            }
            always observation guarantee DeadlockFree deadlock_free {
                applies: |_s| true,
                summary: "every state that is not final has an enabled step",
                meaning: "No set of threads waits on each other forever: a stopped notifier that \
                          nobody will restart, a lock nobody will release, a grace period a \
                          blocked reader holds open. A fault that can only retry waits instead \
                          of spinning, so a count that never drops shows up here.",
                source: "Lockdep's annotations in mm/mmu_notifier.c \
                         (__mmu_notifier_invalidate_range_start_map); the seed's rule that \
                         emm_stop must wait for open invalidate_starts.",
                mechanism: "Lock ordering (mmap_sem, then the reverse-map locks, then the \
                            notifier lock), SRCU read sides that never block on the writer, and \
                            in stop/start variants restarting exactly the notifiers stopped.",
            }
            always observation guarantee MemorySafe memory_safe {
                applies: |_s| true,
                summary: "no step dereferences a freed notifier or subscription, a NULL or a poisoned pointer",
                meaning: "A walk that loads the next pointer of a notifier its owner has freed, a \
                          callback on one, an hlist deletion through a NULL or LIST_POISON2 pprev, \
                          an interval tree update of a freed subscription: the kernel oopses or \
                          corrupts memory there.",
                source: "mmu_notifier_unregister(): the owner may free the notifier once it \
                         returns; include/linux/list.h: __hlist_del() writes *pprev; \
                         hlist_del_rcu() poisons pprev (LIST_POISON2); 751efd8610d3 and \
                         319561669a59 fix two such faults.",
                mechanism: "hlist_del_init_rcu(), idempotent on an unhashed node (d34883d4e35c); \
                            the grace period before unregister returns; reading the interval \
                            seq under the lock in remove (319561669a59).",
            }
            always observation guarantee NoStartLeftOpen no_start_left_open {
                applies: |s| s.end_callback,
                summary: "in every final state no registered, unreleased driver counts an invalidation open",
                meaning: "Every invalidate_start a counting driver received is matched by its \
                          invalidate_end: otherwise its fault path (in_progress > 0: retry) spins \
                          forever, and KVM's memslot updates wait on it.",
                source: "include/linux/mmu_notifier.h: invalidate_range_start() and \
                         invalidate_range_end() must be paired; c2655835fd8c (v5.12): ensure \
                         range_end() is paired with range_start().",
                mechanism: "Every invalidation that starts a notifier ends it; since v5.12 a \
                            failed non-blocking start is unwound by an end walk over every \
                            notifier that has an end.",
            }
            always observation advisory ReleaseAtMostOnce release_at_most_once {
                applies: |s| s.release_callback && s.teardown && s.unregistrations,
                summary: "no notifier receives release twice (advisory: the kernel promises at least once)",
                meaning: "A driver that frees its state in release must cope with a second call: \
                          unregister and exit_mmap can both send it.",
                source: "include/linux/mmu_notifier.h: release may be called more than once; \
                         d34883d4e35c (v3.10) accepts the double ->release.",
                mechanism: "None since v3.10: reported for information, not counted in a verdict.",
            }
            sometimes observation guarantee RegistrationOverlapsInvalidation registration_overlaps_invalidation {
                applies: |s| s.registrations,
                summary: "a register runs while an invalidation is in flight",
                meaning: "The race of the seed patch, and the reason mm_take_all_locks() exists: \
                          without it, no registration verdict means anything.",
                source: "Andrea Arcangeli, linux-mm, April 2008: missing an _end is ok, missing a \
                         _begin is never ok.",
                mechanism: "A reachability goal: it shows the bounded run is not vacuous.",
            }
            sometimes observation guarantee SecondaryMappingInstalled secondary_mapping_installed {
                applies: |s| s.registrations,
                summary: "a driver installs a mirror entry through its fault path",
                meaning: "A driver maps a frame by its own fault (snapshot, read the PTE, check \
                          and install), so that no_stale_secondary has a mapping to judge.",
                source: "The KVM fault path: mmu_invalidate_seq snapshot, gfn_to_pfn, \
                         mmu_invalidate_retry under mmu_lock.",
                mechanism: "A reachability goal: it shows the bounded run is not vacuous.",
            }
            sometimes observation guarantee UnregisterOverlapsWalk unregister_overlaps_walk {
                applies: |s| s.unregistrations && s.walks,
                summary: "an unregister runs while a walk is under way",
                meaning: "The race that synchronize_srcu() in unregister closes (the walks of \
                          register and unregister themselves do not count).",
                source: "mm/mmu_notifier.c, mmu_notifier_unregister().",
                mechanism: "A reachability goal: it shows the bounded run is not vacuous.",
            }
            sometimes observation guarantee TeardownOverlapsUnregister teardown_overlaps_unregister {
                applies: |s| s.teardown && s.unregistrations,
                summary: "teardown runs while an unregister is under way",
                meaning: "The race between __mmu_notifier_release() and mmu_notifier_unregister().",
                source: "mm/mmu_notifier.c, the comments of __mmu_notifier_release().",
                mechanism: "A reachability goal: it shows the bounded run is not vacuous.",
            }
            always model guarantee InductiveInvariant inductive_invariant {
                applies: |s| s.inductive_invariant,
                summary: "the correct variant's inductive invariant holds (proofs/proofs/VARIANT.md)",
                meaning: "The predicate the proof of a correct variant is built on: it holds \
                          initially, every step keeps it, and it implies every safety property.",
                source: "proofs/proofs/*.md, one document per correct variant.",
                mechanism: "Whatever the proof document names for each conjunct.",
            }
        }
    };
}

/// Whether a property must hold in every state or be reached in some state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expectation {
    /// A safety property: it holds in every reachable state.
    Always,
    /// A reachability goal: some reachable state satisfies it.
    Sometimes,
}

impl Expectation {
    /// `always` or `sometimes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Expectation::Always => "always",
            Expectation::Sometimes => "sometimes",
        }
    }
}

/// What evaluates a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EvaluatedBy {
    /// A function of this crate over an [`Observe`]: the model, the implementation's ghost and
    /// every test check it by the same function.
    Observation,
    /// The model, over its own full state (the inductive invariants of `emm-model`).
    Model,
}

/// Whether a property is a promise the kernel makes, or a fact reported for information.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Standing {
    /// A guarantee: a violation makes the verdict "violated".
    Guarantee,
    /// Advisory: reported under its name, not counted in a verdict.
    Advisory,
}

impl Standing {
    /// The standing as printed (`guarantee`, `advisory`).
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Guarantee => "guarantee",
            Standing::Advisory => "advisory",
        }
    }
}

/// What the system under check has, which decides whether a property can be exercised there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Some notifier registers concurrently.
    pub registrations: bool,
    /// Some notifier unregisters.
    pub unregistrations: bool,
    /// Some actor walks the chain besides register and unregister: an invalidation, an aging
    /// pass, or a teardown whose release is a walk.
    pub walks: bool,
    /// `exit_mmap` runs.
    pub teardown: bool,
    /// The protocol sends `emm_stop`/`emm_start`.
    pub stop_start: bool,
    /// Notifiers receive `invalidate_end` (interval notifiers have only `invalidate`).
    pub end_callback: bool,
    /// Notifiers receive `release`.
    pub release_callback: bool,
    /// The model checks a proved variant on its own programs, so its inductive invariant applies.
    pub inductive_invariant: bool,
}

/// A property or goal of the spec: its entry in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PropertyInfo {
    /// Which property.
    pub prop: Prop,
    /// The property's name, as used everywhere.
    pub name: &'static str,
    /// Always (safety) or sometimes (reachability).
    pub expectation: Expectation,
    /// What evaluates it.
    pub evaluated_by: EvaluatedBy,
    /// Guarantee or advisory.
    pub standing: Standing,
    /// One line saying what it means.
    pub summary: &'static str,
    /// What it means, at length.
    pub meaning: &'static str,
    /// Where the kernel states it.
    pub source: &'static str,
    /// The mechanism that enforces it in the protocols that are correct.
    pub mechanism: &'static str,
}

macro_rules! expectation {
    (always) => {
        Expectation::Always
    };
    (sometimes) => {
        Expectation::Sometimes
    };
}

macro_rules! evaluated_by {
    (observation) => {
        EvaluatedBy::Observation
    };
    (model) => {
        EvaluatedBy::Model
    };
}

macro_rules! standing {
    (guarantee) => {
        Standing::Guarantee
    };
    (advisory) => {
        Standing::Advisory
    };
}

/// The outcome of an observation-evaluated property: `None` for a model-evaluated one.
macro_rules! outcome {
    (always observation $func:ident, $o:expr) => {
        Some(match properties::$func($o) {
            Ok(()) => Outcome::Holds,
            Err(v) => Outcome::Violated(v),
        })
    };
    (sometimes observation $func:ident, $o:expr) => {
        Some(if goals::$func($o) {
            Outcome::Reached
        } else {
            Outcome::NotReached
        })
    };
    ($kind:ident model $func:ident, $o:expr) => {{
        let _ = $o;
        None
    }};
}

macro_rules! define_table {
    ($(
        $kind:ident $by:ident $standing:ident $variant:ident $func:ident {
            applies: |$s:ident| $applies:expr,
            summary: $summary:literal,
            meaning: $meaning:literal,
            source: $source:literal,
            mechanism: $mechanism:literal $(,)?
        }
    )*) => {
        /// A property or goal of the spec. Its discriminant is its index in [`PROPERTIES`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Prop {
            $(
                #[doc = $summary]
                #[doc = ""]
                #[doc = concat!("**Meaning.** ", $meaning)]
                #[doc = ""]
                #[doc = concat!("**Source.** ", $source)]
                #[doc = ""]
                #[doc = concat!("**Enforced by.** ", $mechanism)]
                $variant,
            )*
        }

        /// Every property and goal of the spec, in report order.
        pub const PROPERTIES: &[PropertyInfo] = &[
            $(PropertyInfo {
                prop: Prop::$variant,
                name: stringify!($func),
                expectation: expectation!($kind),
                evaluated_by: evaluated_by!($by),
                standing: standing!($standing),
                summary: $summary,
                meaning: $meaning,
                source: $source,
                mechanism: $mechanism,
            },)*
        ];

        impl Prop {
            /// Every property, in report order.
            pub const ALL: &[Prop] = &[$(Prop::$variant,)*];

            /// Whether the property can be exercised on a system with `scope`.
            pub fn applies(self, scope: &Scope) -> bool {
                match self {
                    $(Prop::$variant => {
                        let $s = scope;
                        $applies
                    })*
                }
            }

            /// Checks the property on `o`; `None` for a property that the model evaluates over
            /// its own state.
            pub fn check<O: Observe + ?Sized>(self, o: &O) -> Option<Outcome> {
                match self {
                    $(Prop::$variant => outcome!($kind $by $func, o),)*
                }
            }
        }
    };
}

property_table!(define_table);

impl Prop {
    /// The property's entry in the table.
    pub const fn info(self) -> &'static PropertyInfo {
        &PROPERTIES[self as usize]
    }

    /// The property's name.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// The property called `name`.
    pub fn from_name(name: &str) -> Option<Prop> {
        PROPERTIES.iter().find(|p| p.name == name).map(|p| p.prop)
    }

    /// Always or sometimes.
    pub fn expectation(self) -> Expectation {
        self.info().expectation
    }

    /// Its bit in a set of properties (`1 << index`).
    pub fn bit(self) -> u64 {
        1 << self as u32
    }
}

impl std::fmt::Display for Prop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Looks up a property or goal by name.
pub fn property(name: &str) -> Option<&'static PropertyInfo> {
    Prop::from_name(name).map(Prop::info)
}

/// Checks the property or goal called `name` on `o`; `None` for an unknown name or one the model
/// evaluates over its own state.
pub fn evaluate<O: Observe + ?Sized>(name: &str, o: &O) -> Option<Outcome> {
    Prop::from_name(name)?.check(o)
}

/// Checks every observation-evaluated safety property on `o` and returns the broken ones.
pub fn violations<O: Observe + ?Sized>(o: &O) -> Vec<Violation> {
    Prop::ALL
        .iter()
        .filter_map(|p| match p.check(o) {
            Some(Outcome::Violated(v)) => Some(v),
            _ => None,
        })
        .collect()
}
