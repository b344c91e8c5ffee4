//! The protocols of the family, by version: what the model checks and the implementation runs.
//!
//! A variant is `FAMILY@VERSION`: one version of one family's code, as the kernel (or the mail
//! that posted it) had it. The model (`emm_model::program`) transcribes each one statement by
//! statement, every step citing its source; this module holds only what names a version and
//! where it comes from. Nothing here says how a version should fare: the checker finds that.
//! Both `emm-model` and `emm` (whose protocols name the variant they implement,
//! `Chain::VARIANT`) use this one enum.

use std::fmt;
use std::str::FromStr;

/// A family of protocols: the code lineage a version belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Christoph Lameter's EMM notifier, posted to linux-mm in March and April 2008.
    Emm,
    /// Andrea Arcangeli's `mmu_notifier`, merged in v2.6.27, and its later versions.
    MmuNotifier,
    /// `mmu_interval_notifier`, merged in v5.5.
    Interval,
    /// Ours: protocols of this project, not of the kernel.
    Ours,
}

impl Family {
    /// Every family, in the order the CLI lists them.
    pub const ALL: [Family; 4] = [
        Family::Emm,
        Family::MmuNotifier,
        Family::Interval,
        Family::Ours,
    ];

    /// The family's name, as variant names spell it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Emm => "emm",
            Family::MmuNotifier => "mmu-notifier",
            Family::Interval => "interval",
            Family::Ours => "ours",
        }
    }
}

/// One version of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// EMM V2 (1 Apr 2008): RCU publish, the walker returns at the first nonzero callback,
    /// no unregister.
    EmmV2,
    /// The seed (2 Apr 2008, 18:24): `emm_stop`/`emm_start` around register and unregister, on
    /// the accumulating walker of the 12:03 fixup.
    EmmStopStart,
    /// `mmu_notifier` as merged in v2.6.27.
    MmuNotifierV2_6_27,
    /// v3.6: release and unregister call `->release` before unlinking (3ad3d901bbcf).
    MmuNotifierV3_6,
    /// v3.9: release and unregister reworked (751efd8610d3).
    MmuNotifierV3_9,
    /// v3.10: release and unregister reworked again (d34883d4e35c).
    MmuNotifierV3_10,
    /// v4.19: non-blocking starts for the OOM reaper (93065ac753e4).
    MmuNotifierV4_19,
    /// v5.12: an unwind walk when a non-blocking start fails (c2655835fd8c).
    MmuNotifierV5_12,
    /// The per-VMA-lock series without eeff9a5d47f8: a state no release shipped.
    MmuNotifierV6_4WithoutEeff9a5d47f8,
    /// v6.4: `mm_take_all_locks()` write-locks every VMA (eeff9a5d47f8).
    MmuNotifierV6_4,
    /// `mmu_interval_notifier` as merged in v5.5 (99cb252f5e68).
    IntervalV5_5,
    /// v5.18: remove's wait reads the seq under the lock (319561669a59).
    IntervalV5_18,
    /// Ours: the seed plus a drain of every walk window around register and unregister.
    OursEmmStopDrainStart,
    /// Ours: each invalidation window is one SRCU read-side section that walks one snapshot of
    /// the chain; register and unregister publish, then wait for a grace period.
    OursRcuWindow,
}

/// Where a variant comes from, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VariantInfo {
    /// The variant.
    pub variant: Variant,
    /// Its family.
    pub family: Family,
    /// The version within the family (`v3.10`, `stop-start`).
    pub version: &'static str,
    /// When it was posted or released (`2013-06-30`), or why it has no date.
    pub date: &'static str,
    /// The commit id or mail Message-ID of the change that made this version.
    pub source: &'static str,
    /// The change, in a line.
    pub summary: &'static str,
    /// Older names that still select it.
    pub aliases: &'static [&'static str],
}

/// Every variant's metadata, families in order, versions oldest first.
pub const VARIANTS: &[VariantInfo] = &[
    VariantInfo {
        variant: Variant::EmmV2,
        family: Family::Emm,
        version: "v2",
        date: "2008-04-01",
        source: "<20080401205635.793766935@sgi.com>",
        summary: "EMM notifier V2: rcu_assign_pointer publish, walker returns at the first nonzero callback, no unregister",
        aliases: &["rcu-publish"],
    },
    VariantInfo {
        variant: Variant::EmmStopStart,
        family: Family::Emm,
        version: "stop-start",
        date: "2008-04-02",
        source: "<Pine.LNX.4.64.0804021821230.639@schroedinger.engr.sgi.com>",
        summary: "the seed: emm_stop/emm_start over the chain around register and unregister, accumulating walker",
        aliases: &["emm-stop-start"],
    },
    VariantInfo {
        variant: Variant::MmuNotifierV2_6_27,
        family: Family::MmuNotifier,
        version: "v2.6.27",
        date: "2008-10-09",
        source: "cddb8a5c14aa",
        summary: "mmu_notifier merged: mm_take_all_locks in register, RCU walks, reclaim sends invalidate_page",
        aliases: &[],
    },
    VariantInfo {
        variant: Variant::MmuNotifierV3_6,
        family: Family::MmuNotifier,
        version: "v3.6",
        date: "2012-09-30",
        source: "3ad3d901bbcf",
        summary: "release and unregister call ->release before unlinking",
        aliases: &[],
    },
    VariantInfo {
        variant: Variant::MmuNotifierV3_9,
        family: Family::MmuNotifier,
        version: "v3.9",
        date: "2013-04-28",
        source: "751efd8610d3",
        summary: "SRCU (v3.7); release and unregister unlink under the lock, then ->release",
        aliases: &[],
    },
    VariantInfo {
        variant: Variant::MmuNotifierV3_10,
        family: Family::MmuNotifier,
        version: "v3.10",
        date: "2013-06-30",
        source: "d34883d4e35c",
        summary: "->release first, then hlist_del_init_rcu; a second ->release accepted",
        aliases: &[],
    },
    VariantInfo {
        variant: Variant::MmuNotifierV4_19,
        family: Family::MmuNotifier,
        version: "v4.19",
        date: "2018-10-22",
        source: "93065ac753e4",
        summary: "reclaim brackets with start/end (v4.13); non-blocking starts for the OOM reaper",
        aliases: &[],
    },
    VariantInfo {
        variant: Variant::MmuNotifierV5_12,
        family: Family::MmuNotifier,
        version: "v5.12",
        date: "2021-04-25",
        source: "c2655835fd8c",
        summary: "hlist_add_head_rcu (v5.3); an unwind walk when a non-blocking start fails",
        aliases: &[],
    },
    VariantInfo {
        variant: Variant::MmuNotifierV6_4WithoutEeff9a5d47f8,
        family: Family::MmuNotifier,
        version: "v6.4-without-eeff9a5d47f8",
        date: "never released",
        source: "50ee32537206",
        summary: "the per-VMA-lock series (lock_vma_under_rcu, page faults under the VMA read \
                  lock) without eeff9a5d47f8: mm_take_all_locks does not write-lock the VMAs",
        aliases: &[],
    },
    VariantInfo {
        variant: Variant::MmuNotifierV6_4,
        family: Family::MmuNotifier,
        version: "v6.4",
        date: "2023-06-25",
        source: "eeff9a5d47f8",
        summary: "mm_take_all_locks write-locks every VMA (vma_start_write) before the rmap locks",
        aliases: &["take-all-locks"],
    },
    VariantInfo {
        variant: Variant::IntervalV5_5,
        family: Family::Interval,
        version: "v5.5",
        date: "2020-01-26",
        source: "99cb252f5e68",
        summary: "mmu_interval_notifier: invalidate_seq collision-retry, deferred insert/remove",
        aliases: &[],
    },
    VariantInfo {
        variant: Variant::IntervalV5_18,
        family: Family::Interval,
        version: "v5.18",
        date: "2022-05-22",
        source: "319561669a59",
        summary: "remove waits for the seq to move reading it under the lock",
        aliases: &["interval-seq"],
    },
    VariantInfo {
        variant: Variant::OursEmmStopDrainStart,
        family: Family::Ours,
        version: "emm-stop-drain-start",
        date: "this project",
        source: "proofs/proofs/emm-stop-drain-start.md",
        summary: "the seed plus a drain: register/unregister wait until no walk window is open",
        aliases: &["emm-stop-drain-start"],
    },
    VariantInfo {
        variant: Variant::OursRcuWindow,
        family: Family::Ours,
        version: "rcu-window",
        date: "this project",
        source: "proofs/proofs/rcu-window.md",
        summary: "each invalidation window one SRCU read side walking one snapshot; register and \
                  unregister publish, then wait for a grace period; walkers take no lock",
        aliases: &["rcu-window"],
    },
];

impl Variant {
    /// Every variant, families in order, versions oldest first.
    pub const ALL: [Variant; 14] = [
        Variant::EmmV2,
        Variant::EmmStopStart,
        Variant::MmuNotifierV2_6_27,
        Variant::MmuNotifierV3_6,
        Variant::MmuNotifierV3_9,
        Variant::MmuNotifierV3_10,
        Variant::MmuNotifierV4_19,
        Variant::MmuNotifierV5_12,
        Variant::MmuNotifierV6_4WithoutEeff9a5d47f8,
        Variant::MmuNotifierV6_4,
        Variant::IntervalV5_5,
        Variant::IntervalV5_18,
        Variant::OursEmmStopDrainStart,
        Variant::OursRcuWindow,
    ];

    /// Its metadata.
    pub fn info(self) -> &'static VariantInfo {
        &VARIANTS[self as usize]
    }

    /// Its family.
    pub fn family(self) -> Family {
        self.info().family
    }

    /// The variant's name on the command line and in reports: `FAMILY@VERSION`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::EmmV2 => "emm@v2",
            Variant::EmmStopStart => "emm@stop-start",
            Variant::MmuNotifierV2_6_27 => "mmu-notifier@v2.6.27",
            Variant::MmuNotifierV3_6 => "mmu-notifier@v3.6",
            Variant::MmuNotifierV3_9 => "mmu-notifier@v3.9",
            Variant::MmuNotifierV3_10 => "mmu-notifier@v3.10",
            Variant::MmuNotifierV4_19 => "mmu-notifier@v4.19",
            Variant::MmuNotifierV5_12 => "mmu-notifier@v5.12",
            Variant::MmuNotifierV6_4WithoutEeff9a5d47f8 => "mmu-notifier@v6.4-without-eeff9a5d47f8",
            Variant::MmuNotifierV6_4 => "mmu-notifier@v6.4",
            Variant::IntervalV5_5 => "interval@v5.5",
            Variant::IntervalV5_18 => "interval@v5.18",
            Variant::OursEmmStopDrainStart => "ours@emm-stop-drain-start",
            Variant::OursRcuWindow => "ours@rcu-window",
        }
    }

    /// One line on what the version changed.
    pub fn summary(self) -> &'static str {
        self.info().summary
    }

    /// The versions of the same family that come after this one, oldest first.
    pub fn later(self) -> impl Iterator<Item = Variant> {
        Variant::ALL
            .into_iter()
            .filter(move |v| v.family() == self.family() && *v > self)
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
            "unknown variant '{}' (expected one of: {}; or an older name: {})",
            self.0,
            names.join(", "),
            VARIANTS
                .iter()
                .flat_map(|i| i.aliases)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl std::error::Error for UnknownVariant {}

impl FromStr for Variant {
    type Err = UnknownVariant;
    /// A variant by its name or by one of its older names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VARIANTS
            .iter()
            .find(|i| i.variant.name() == s || i.aliases.contains(&s))
            .map(|i| i.variant)
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}
