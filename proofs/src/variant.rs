//! The protocols of the family, by name: what the model checks and the implementation runs.
//!
//! Both `emm-model` (which transcribes each variant's programs) and `emm` (whose protocols
//! name the variant they implement, `Chain::VARIANT`) use this one enum.

use std::fmt;
use std::str::FromStr;

/// A protocol of the family: how register and unregister exclude in-flight walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// EMM as first posted: `e->next = head; rcu_assign_pointer(head, e)`; walks take no lock;
    /// unregister unlinks with plain stores and returns.
    RcuPublish,
    /// The seed patch: `emm_stop` over the chain, link, `emm_start` over the chain, under
    /// `mmap_sem`; unregister unlinks, sets `e->next = head`, restarts, then calls `release`.
    EmmStopStart,
    /// The seed with one addition: an mm-wide drain. Every walk window (an invalidation from
    /// its start walk to its end walk, an aging walk, the teardown release walk) counts itself
    /// in `emm_active` and waits at its entry while `emm_stopping` is set; register and
    /// unregister set `emm_stopping`, wait for `emm_active == 0`, then run the seed's code
    /// (which also stops the new notifier before linking it), then clear `emm_stopping`.
    EmmStopDrainStart,
    /// `mmu_notifier` as merged in 2.6.27 with the later SRCU: invalidations hold a
    /// reverse-map lock from start to end, register takes them all (`mm_take_all_locks`),
    /// walks run under SRCU, unregister calls `release`, `hlist_del_init_rcu`, then
    /// `synchronize_srcu`.
    TakeAllLocks,
    /// Today's `mmu_interval_notifier`: `invalidate_seq` (odd while invalidating) and a count
    /// of active invalidations; inserts and removes during an invalidation are deferred to
    /// its end; the driver's `read_begin`/`read_retry` collision-retry.
    IntervalSeq,
}

impl Variant {
    /// Every variant, in the order the CLI lists them.
    pub const ALL: [Variant; 5] = [
        Variant::RcuPublish,
        Variant::EmmStopStart,
        Variant::EmmStopDrainStart,
        Variant::TakeAllLocks,
        Variant::IntervalSeq,
    ];

    /// The variant's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::RcuPublish => "rcu-publish",
            Variant::EmmStopStart => "emm-stop-start",
            Variant::EmmStopDrainStart => "emm-stop-drain-start",
            Variant::TakeAllLocks => "take-all-locks",
            Variant::IntervalSeq => "interval-seq",
        }
    }

    /// One line on what the variant is.
    pub fn summary(self) -> &'static str {
        match self {
            Variant::RcuPublish => "EMM as first posted: rcu_assign_pointer publish, plain-store unlink, no grace period",
            Variant::EmmStopStart => "the seed patch: emm_stop/emm_start over the chain around register and unregister",
            Variant::EmmStopDrainStart => "the seed plus a drain: register/unregister wait until no walk window is open",
            Variant::TakeAllLocks => "mmu_notifier (2.6.27 + SRCU): mm_take_all_locks in register, synchronize_srcu in unregister",
            Variant::IntervalSeq => "mmu_interval_notifier: invalidate_seq collision-retry, deferred insert/remove",
        }
    }

    /// Whether the variant sends `emm_stop`/`emm_start`.
    pub fn has_stop_start(self) -> bool {
        matches!(self, Variant::EmmStopStart | Variant::EmmStopDrainStart)
    }

    /// Whether the variant's notifiers have a `clear_young` callback (interval notifiers only
    /// have `invalidate`).
    pub fn has_aging(self) -> bool {
        !matches!(self, Variant::IntervalSeq)
    }

    /// Whether the variant's notifiers receive `invalidate_end` (interval notifiers do not).
    pub fn has_end_callback(self) -> bool {
        !matches!(self, Variant::IntervalSeq)
    }

    /// Whether the variant's notifiers receive `release` (interval notifiers get an
    /// `MMU_NOTIFY_RELEASE` invalidation instead).
    pub fn has_release(self) -> bool {
        !matches!(self, Variant::IntervalSeq)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no variant's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownVariant(pub String);

impl fmt::Display for UnknownVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
        write!(
            f,
            "unknown variant '{}' (expected one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownVariant {}

impl FromStr for Variant {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}
